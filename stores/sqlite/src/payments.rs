//! Payments: each provider event is remembered in `payment_events` in the same transaction as its
//! effect on the order, so an event applies at most once.

use crate::connection::{is_constraint_violation, sql};
use crate::holdings::give_back_share;
use crate::orders::{insert_event, query_order};
use crate::EmbeddedStore;
use async_trait::async_trait;
use orderly_core::domain::{Order, OrderEvent, OrderStatus, Timestamp};
use orderly_core::ports::{Conflict, PaymentStore, StoreError};
use rusqlite::{params, Connection, Transaction};

fn payment_event_exists(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM payment_events WHERE id = ?1")
        .and_then(|mut stmt| stmt.exists([id]))
        .map_err(sql)
}

fn insert_payment_event(tx: &Transaction<'_>, id: &str, now: Timestamp) -> Result<(), StoreError> {
    match tx.execute(
        "INSERT INTO payment_events (id, received_at) VALUES (?1, ?2)",
        params![id, now.as_millis()],
    ) {
        Ok(_) => Ok(()),
        Err(e) if is_constraint_violation(&e) => Err(Conflict::PaymentEventSeen.into()),
        Err(e) => Err(sql(e)),
    }
}

#[async_trait]
impl PaymentStore for EmbeddedStore {
    async fn payment_event_seen(&self, payment_event_id: &str) -> Result<bool, StoreError> {
        let id = payment_event_id.to_string();
        self.read(move |conn| payment_event_exists(conn, &id)).await
    }

    async fn mark_order_paid(
        &self,
        order: &Order,
        payment_event_id: &str,
        now: Timestamp,
        event: &OrderEvent,
    ) -> Result<(), StoreError> {
        let (id, payment_event_id, event) = (order.id.to_string(), payment_event_id.to_string(), event.clone());
        self.write(move |tx| {
            if payment_event_exists(tx, &payment_event_id)? {
                return Err(Conflict::PaymentEventSeen.into());
            }
            let order = query_order(tx, &id)?.ok_or(Conflict::NotFound)?;
            if !order.is_open_at(now) {
                return Err(Conflict::OrderClosed.into());
            }
            tx.execute(
                "UPDATE orders SET status = ?2, paid_at = ?3, updated_at = ?3 WHERE id = ?1",
                params![id, OrderStatus::Paid.as_str(), now.as_millis()],
            )
            .map_err(sql)?;
            // Paid, the order holds nothing for later any more: the reservation limit frees its share.
            give_back_share(tx, &order)?;
            insert_payment_event(tx, &payment_event_id, now)?;
            insert_event(tx, &event)
        })
        .await
    }

    async fn flag_refund_due(&self, order: &Order, payment_event_id: &str, now: Timestamp) -> Result<(), StoreError> {
        let (id, payment_event_id) = (order.id.to_string(), payment_event_id.to_string());
        self.write(move |tx| {
            if payment_event_exists(tx, &payment_event_id)? {
                return Err(Conflict::PaymentEventSeen.into());
            }
            query_order(tx, &id)?.ok_or(Conflict::NotFound)?;
            tx.execute(
                "UPDATE orders SET refund_due = 1, updated_at = ?2 WHERE id = ?1",
                params![id, now.as_millis()],
            )
            .map_err(sql)?;
            insert_payment_event(tx, &payment_event_id, now)
        })
        .await
    }

    async fn remember_payment_event(&self, payment_event_id: &str, now: Timestamp) -> Result<(), StoreError> {
        let id = payment_event_id.to_string();
        self.write(move |tx| insert_payment_event(tx, &id, now)).await
    }
}
