//! Orders in the `orders` table, with their events (`order_events`) and idempotency records
//! (`idempotency_records`): placing one reserves every line's stock in the same transaction, and
//! within it checks and adds to the user's `holdings` (the reservation limit); cancelling or
//! expiring one returns its stock and its share of the holdings. Overdue orders are found through
//! the partial index `orders_pending_by_expiry`.

use crate::catalog::query_product;
use crate::connection::{sql, stored};
use crate::holdings::{give_back_share, holdings_of, take_share};
use crate::{order_columns, rows, EmbeddedStore};
use async_trait::async_trait;
use orderly_core::domain::{Closing, IdempotencyKey, IdempotencyRecord, Order, OrderEvent, OrderId, Timestamp, UserId};
use orderly_core::ports::{Conflict, OrderPlacement, OrderStore, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

pub(crate) fn query_order(conn: &Connection, id: &str) -> Result<Option<Order>, StoreError> {
    conn.prepare_cached(concat!("SELECT ", order_columns!(), " FROM orders WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id], rows::order).optional())
        .map_err(sql)?
        .transpose()
}

pub(crate) fn query_orders(
    conn: &Connection,
    sql_text: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Order>, StoreError> {
    let mut stmt = conn.prepare_cached(sql_text).map_err(sql)?;
    let rows = stmt.query_map(params, rows::order).map_err(sql)?;
    rows.map(|row| row.map_err(sql).and_then(|parsed| parsed)).collect()
}

pub(crate) fn insert_event(tx: &Transaction<'_>, event: &OrderEvent) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO order_events (id, kind, order_id, user_id, occurred_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            event.id,
            event.kind.as_str(),
            event.order_id.as_str(),
            event.user_id.as_str(),
            event.occurred_at.as_millis()
        ])
    })
    .map_err(sql)?;
    Ok(())
}

pub(crate) fn query_idempotency_record(
    conn: &Connection,
    user: &UserId,
    key: &IdempotencyKey,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    conn.prepare_cached(
        "SELECT user_id, key, fingerprint, status, location, body, created_at
         FROM idempotency_records WHERE user_id = ?1 AND key = ?2",
    )
    .and_then(|mut stmt| {
        stmt.query_row(params![user.as_str(), key.as_str()], rows::idempotency_record)
            .optional()
    })
    .map_err(sql)?
    .transpose()
}

/// Pending orders due at or before `?1`, earliest deadline first, at most `?2`. The literal
/// `status = 'pending_payment'` lets SQLite use the partial index `orders_pending_by_expiry`
/// (a bound parameter would not); ties on the deadline are sorted by id.
pub(crate) const OVERDUE_ORDERS: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE status = 'pending_payment' AND expires_at <= ?1 ORDER BY expires_at, id LIMIT ?2"
);
/// [`OVERDUE_ORDERS`] after a place in the index: (deadline, id) above ?3, ?4.
pub(crate) const OVERDUE_ORDERS_AFTER: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE status = 'pending_payment' AND expires_at <= ?1 AND (expires_at, id) > (?3, ?4)",
    " ORDER BY expires_at, id LIMIT ?2"
);

impl EmbeddedStore {
    /// Closes `order` the way `closing` says, in one transaction: the stored order, not the
    /// caller's copy, decides whether it may; then its status, its share of the user's holdings,
    /// every line's stock and the event.
    async fn close_order(
        &self,
        order: &Order,
        now: Timestamp,
        event: &OrderEvent,
        closing: Closing,
    ) -> Result<Order, StoreError> {
        let (id, event) = (order.id.to_string(), event.clone());
        self.write(move |tx| {
            let order = query_order(tx, &id)?.ok_or(Conflict::NotFound)?;
            if !closing.applies_to(&order, now) {
                return Err(Conflict::OrderClosed.into());
            }
            tx.execute(
                "UPDATE orders SET status = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, closing.status().as_str(), now.as_millis()],
            )
            .map_err(sql)?;
            give_back_share(tx, &order)?;
            for line in &order.lines {
                tx.prepare_cached("UPDATE products SET stock = stock + ?2 WHERE id = ?1")
                    .and_then(|mut stmt| {
                        stmt.execute(params![line.product_id.as_str(), i64::from(line.quantity.get())])
                    })
                    .map_err(sql)?;
            }
            insert_event(tx, &event)?;
            stored(query_order(tx, &id)?, "the closed order")
        })
        .await
    }
}

/// A placement's writes, in the caller's write transaction: the idempotency key still free, each
/// line's stock reserved under its condition, the reservation limit checked, the order, its
/// `order_placed` event and the key's record inserted. What [`OrderStore::place_order`] runs on
/// the writer; public so that the storage-limit benchmark (`examples/storage_limit.rs`) runs the
/// very same writes on a bare connection.
pub fn place_order_in(tx: &Transaction<'_>, placement: &OrderPlacement) -> Result<(), StoreError> {
    let order = &placement.order;
    if let Some(record) = &placement.idempotency {
        if let Some(stored) = query_idempotency_record(tx, &record.user_id, &record.key)? {
            return Err(Conflict::IdempotencyKeyTaken(Box::new(stored)).into());
        }
    }
    for line in &order.lines {
        let quantity = i64::from(line.quantity.get());
        let reserved = tx
            .prepare_cached("UPDATE products SET stock = stock - ?2 WHERE id = ?1 AND active = 1 AND stock >= ?2")
            .and_then(|mut stmt| stmt.execute(params![line.product_id.as_str(), quantity]))
            .map_err(sql)?;
        if reserved == 0 {
            // Returning Err rolls back the lines already reserved.
            let available = query_product(tx, line.product_id.as_str())?.is_some_and(|p| p.active);
            let id = line.product_id.clone();
            return Err(if available {
                Conflict::InsufficientStock(id)
            } else {
                Conflict::ProductUnavailable(id)
            }
            .into());
        }
    }
    // Inside the write transaction, which SQLite runs one at a time: no concurrent placement
    // can add to the holdings between this check and this placement's own count.
    if let Some(limit) = placement.limit.refuses(holdings_of(tx, &order.user_id)?, order) {
        return Err(Conflict::ReservationLimit(limit).into());
    }
    take_share(tx, order)?;
    tx.prepare_cached(concat!(
        "INSERT INTO orders (",
        order_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))
    .and_then(|mut stmt| {
        stmt.execute(params![
            order.id.as_str(),
            order.user_id.as_str(),
            order.status.as_str(),
            rows::lines_json(order).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
            order.total_cents.get(),
            order.currency.as_str(),
            order.created_at.as_millis(),
            order.updated_at.as_millis(),
            order.expires_at.as_millis(),
            order.paid_at.map(Timestamp::as_millis),
            order.refund_due
        ])
    })
    .map_err(sql)?;
    insert_event(tx, &placement.event)?;
    if let Some(record) = &placement.idempotency {
        tx.prepare_cached(
            "INSERT INTO idempotency_records (user_id, key, fingerprint, status, location, body, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                record.user_id.as_str(),
                record.key.as_str(),
                record.fingerprint,
                record.status,
                record.location,
                record.body,
                record.created_at.as_millis()
            ])
        })
        .map_err(sql)?;
    }
    Ok(())
}

#[async_trait]
impl OrderStore for EmbeddedStore {
    async fn place_order(&self, placement: &OrderPlacement) -> Result<(), StoreError> {
        let placement = placement.clone();
        self.write(move |tx| place_order_in(tx, &placement)).await
    }

    async fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| query_order(conn, &id)).await
    }

    async fn orders_of(&self, user: &UserId, before: Option<&OrderId>, limit: usize) -> Result<Vec<Order>, StoreError> {
        let user = user.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // "~" sorts after every ULID character, so it stands for "no upper bound".
        let before = before.map(ToString::to_string).unwrap_or_else(|| "~".into());
        self.read(move |conn| {
            let sql_text: &str = concat!(
                "SELECT ",
                order_columns!(),
                " FROM orders WHERE user_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
            );
            query_orders(conn, sql_text, params![user, before, limit])
        })
        .await
    }

    async fn cancel_order(&self, order: &Order, now: Timestamp, event: &OrderEvent) -> Result<Order, StoreError> {
        self.close_order(order, now, event, Closing::Cancel).await
    }

    async fn overdue_orders(
        &self,
        cutoff: Timestamp,
        after: Option<&Order>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let after = after.map(|order| (order.expires_at.as_millis(), order.id.to_string()));
        self.read(move |conn| match &after {
            None => query_orders(conn, OVERDUE_ORDERS, params![cutoff.as_millis(), limit]),
            Some((deadline, id)) => query_orders(
                conn,
                OVERDUE_ORDERS_AFTER,
                params![cutoff.as_millis(), limit, deadline, id],
            ),
        })
        .await
    }

    async fn expire_order(&self, order: &Order, now: Timestamp, event: &OrderEvent) -> Result<Order, StoreError> {
        self.close_order(order, now, event, Closing::Expire).await
    }

    async fn idempotency_record(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let (user, key) = (user.clone(), key.clone());
        self.read(move |conn| query_idempotency_record(conn, &user, &key)).await
    }
}
