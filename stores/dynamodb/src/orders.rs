//! Orders on the table: placing one is a single transaction of every line's stock reservation, the
//! order, its event, the idempotency record and the user's holdings (the reservation limit's
//! condition); cancelling or expiring one returns the stock and the holdings' share in the same
//! way. A user's orders are listed newest first through `GSI1`, overdue orders earliest deadline
//! first through the shards of `GSI2`'s pending orders, read together.

use crate::attributes::{b, n, s, Item};
use crate::expression::{Compare, Expression};
use crate::holdings::{uncounted, Share, IN_HOLDINGS};
use crate::table_io::{conflict, failed, old_item, unexpected, Cancelled, NOT_EXISTS};
use crate::{items, keys, DynamoStore};
use async_trait::async_trait;
use orderly_core::domain::{
    Closing, IdempotencyKey, IdempotencyRecord, Order, OrderEvent, OrderId, OrderStatus, Product, ProductId, Timestamp,
    UserId,
};
use orderly_core::ports::{Conflict, OrderPlacement, OrderStore, StoreError};

#[async_trait]
impl OrderStore for DynamoStore {
    async fn order_inputs(
        &self,
        ids: &[ProductId],
        key: Option<(&UserId, &IdempotencyKey)>,
    ) -> Result<(Vec<Product>, Option<IdempotencyRecord>), StoreError> {
        // DynamoDB refuses a batch that names one key twice.
        let mut unique: Vec<&ProductId> = ids.iter().collect();
        unique.sort();
        unique.dedup();
        let mut wanted: Vec<Item> = unique.into_iter().map(keys::product).collect();
        if let Some((user, key)) = key {
            wanted.push(keys::idempotency(user, key));
        }
        let mut products = Vec::new();
        let mut record = None;
        for item in self.batch_get(wanted).await? {
            match item.get("type").and_then(|t| t.as_s().ok()).map(String::as_str) {
                Some("idempotency") => record = Some(items::idempotency_record(&item)?),
                _ => products.push(items::product(&item)?),
            }
        }
        Ok((products, record))
    }

    async fn place_order(&self, placement: &OrderPlacement) -> Result<(), StoreError> {
        let order = &placement.order;
        let mut actions = Vec::with_capacity(order.lines.len() + 3);
        for line in &order.lines {
            let quantity = n(line.quantity.get());
            let mut reserve = Expression::default();
            reserve
                .decrement("stock", quantity.clone())
                .require_exists(keys::PK)
                .require("active", Compare::Equal, b(true))
                .require("stock", Compare::AtLeast, quantity);
            actions.push(self.update(keys::product(&line.product_id), &reserve)?);
        }
        let order_index = actions.len();
        let mut order_item = items::order_item(order, self.order_shards);
        order_item.insert(IN_HOLDINGS.into(), b(true));
        actions.push(self.put(order_item, Some(NOT_EXISTS))?);
        actions.push(self.put(items::event_item(&placement.event), Some(NOT_EXISTS))?);
        let idempotency_index = actions.len();
        if let Some(record) = &placement.idempotency {
            actions.push(self.put(items::idempotency_item(record), Some(NOT_EXISTS))?);
        }
        let holdings_index = actions.len();
        actions.push(self.take_share(order, placement.limit)?);
        let reasons = match self.transact(actions).await {
            Ok(()) => return Ok(()),
            Err(Cancelled::Store(error)) => return Err(error),
            Err(Cancelled::Reasons(reasons)) => reasons,
        };
        // The order id is fresh: if it exists, our own earlier attempt committed and only its
        // answer was lost. Everything else in this transaction committed with it.
        if failed(&reasons, order_index) {
            return Ok(());
        }
        if let Some(record) = placement
            .idempotency
            .as_ref()
            .filter(|_| failed(&reasons, idempotency_index))
        {
            let winner = match old_item(&reasons, idempotency_index) {
                Some(item) => Some(items::idempotency_record(item)?),
                // The cancellation should carry the record that holds the key; read it if not.
                None => self.idempotency_record(&record.user_id, &record.key).await?,
            };
            return Err(conflict(match winner {
                Some(winner) => Conflict::IdempotencyKeyTaken(Box::new(winner)),
                None => Conflict::RequestInProgress,
            }));
        }
        let short = (0..order.lines.len()).find(|&i| failed(&reasons, i));
        let over_limit = failed(&reasons, holdings_index);
        if short.is_none() && !over_limit {
            return Err(unexpected("place_order", &reasons));
        }
        // DynamoDB need not report every failed condition; a key taken outranks short stock and the
        // reservation limit, as in the embedded store, so look once more.
        if let Some(record) = &placement.idempotency {
            if let Some(stored) = self.idempotency_record(&record.user_id, &record.key).await? {
                return Err(conflict(Conflict::IdempotencyKeyTaken(Box::new(stored))));
            }
        }
        let Some(short) = short else {
            let limit = self.limit_hit(order, placement.limit, &reasons, holdings_index).await?;
            return Err(conflict(Conflict::ReservationLimit(limit)));
        };
        let product_id = order.lines[short].product_id.clone();
        let for_sale = old_item(&reasons, short).is_some_and(|item| item.get("active") == Some(&b(true)));
        Err(conflict(if for_sale {
            Conflict::InsufficientStock(product_id)
        } else {
            Conflict::ProductUnavailable(product_id)
        }))
    }

    async fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.get(keys::order(id)).await?.as_ref().map(items::order).transpose()
    }

    async fn orders_of(&self, user: &UserId, before: Option<&OrderId>, limit: usize) -> Result<Vec<Order>, StoreError> {
        let mut key = Expression::default();
        key.require(keys::GSI1PK, Compare::Equal, s(keys::user_orders(user)));
        match before {
            None => key.require_begins_with(keys::GSI1SK, s("ORDER#")),
            Some(before) => key.require(keys::GSI1SK, Compare::Less, s(keys::order_sort(before))),
        };
        let found = self.query(keys::GSI1, &key, false, limit).await?;
        found.iter().map(items::order).collect()
    }

    async fn cancel_order(&self, order: &Order, now: Timestamp, event: &OrderEvent) -> Result<Order, StoreError> {
        self.close_order(order, now, event, Closing::Cancel).await
    }

    /// One `Query` per shard of `GSI2`'s pending orders (and of the unsharded `PENDING` of
    /// orders placed before the sharding) per page, all at once, merged earliest deadline first.
    /// The index projects every attribute, so its items are whole orders. They may lag the table
    /// by a moment: an order paid or cancelled a moment ago may still be listed, and
    /// `expire_order`'s condition then refuses it.
    async fn overdue_orders(
        &self,
        cutoff: Timestamp,
        after: Option<&Order>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        // '$' sorts just after '#', so every order due exactly at `cutoff` is below the bound.
        let below = s(format!("{}$", keys::pad13(cutoff)));
        // A sort key condition is one comparison or an inclusive BETWEEN: from `after`'s own place
        // (it is read again if still pending, and dropped) to the bound, which no order's key
        // equals.
        let from = after.map(|after| keys::timed(after.expires_at, &after.id));
        let partitions = std::iter::once(keys::UNSHARDED_PENDING_ORDERS.to_string())
            .chain(self.order_shards.all().map(keys::pending_orders));
        let range = |key: &mut Expression| {
            match &from {
                None => key.require(keys::GSI2SK, Compare::Less, below.clone()),
                Some(from) => key.require_between(keys::GSI2SK, s(from.as_str()), below.clone()),
            };
        };
        // Each shard's first `limit` after `after` (one more, for `after` itself) hold the
        // merged page's first `limit`.
        let mut found = self
            .query_order_shards(partitions, range, limit.saturating_add(1))
            .await?;
        if let Some(from) = &from {
            found.retain(|item| item.get(keys::GSI2SK).and_then(|v| v.as_s().ok()) != Some(from));
        }
        found.truncate(limit);
        found.iter().map(items::order).collect()
    }

    async fn expire_order(&self, order: &Order, now: Timestamp, event: &OrderEvent) -> Result<Order, StoreError> {
        self.close_order(order, now, event, Closing::Expire).await
    }

    async fn idempotency_record(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get(keys::idempotency(user, key))
            .await?
            .as_ref()
            .map(items::idempotency_record)
            .transpose()
    }
}

/// How the deadline must compare with `now` for `closing` to apply (see [`Closing::applies_to`]).
fn deadline_condition(closing: Closing) -> Compare {
    match closing {
        Closing::Cancel => Compare::Greater,
        Closing::Expire => Compare::AtMost,
    }
}

fn operation(closing: Closing) -> &'static str {
    match closing {
        Closing::Cancel => "cancel_order",
        Closing::Expire => "expire_order",
    }
}

impl DynamoStore {
    /// Closes `order` (as the caller read it: its lines say what stock goes back) in one
    /// transaction: the order's status under the closing's condition, leaving `GSI2`, every line's
    /// stock, the event, and the order's share of its user's holdings. An order placed before the
    /// holdings existed takes a second call, without them.
    async fn close_order(
        &self,
        order: &Order,
        now: Timestamp,
        event: &OrderEvent,
        closing: Closing,
    ) -> Result<Order, StoreError> {
        let mut share = Share::Counted;
        loop {
            let mut close = Expression::default();
            close
                .set("status", s(closing.status().as_str()))
                .set("updated_at", n(now.as_millis()))
                .remove(keys::GSI2PK)
                .remove(keys::GSI2SK)
                .require_exists(keys::PK)
                .require("status", Compare::Equal, s(OrderStatus::PendingPayment.as_str()))
                .require("expires_at", deadline_condition(closing), n(now.as_millis()));
            if share == Share::Counted {
                close.require(IN_HOLDINGS, Compare::Equal, b(true));
            }
            let mut actions = vec![self.update(keys::order(&order.id), &close)?];
            for line in &order.lines {
                let mut restock = Expression::default();
                restock.add("stock", n(line.quantity.get())).require_exists(keys::PK);
                actions.push(self.update(keys::product(&line.product_id), &restock)?);
            }
            actions.push(self.put(items::event_item(event), Some(NOT_EXISTS))?);
            let holdings_index = actions.len();
            if share == Share::Counted {
                actions.push(self.give_back_share(order)?);
            }
            match self.transact(actions).await {
                Ok(()) => {
                    let mut closed = order.clone();
                    closed.status = closing.status();
                    closed.updated_at = now;
                    return Ok(closed);
                }
                Err(Cancelled::Reasons(reasons))
                    if share == Share::Counted && uncounted(&reasons, 0, holdings_index) =>
                {
                    share = Share::Uncounted
                }
                Err(Cancelled::Reasons(reasons)) if failed(&reasons, 0) => {
                    return match old_item(&reasons, 0) {
                        Some(_) => Err(conflict(Conflict::OrderClosed)),
                        None => Err(conflict(Conflict::NotFound)),
                    }
                }
                Err(Cancelled::Reasons(reasons)) => return Err(unexpected(operation(closing), &reasons)),
                Err(Cancelled::Store(error)) => return Err(error),
            }
        }
    }
}
