//! Payments in memory: what the provider's events do to orders, each event applied once.

use crate::{MemoryStore, State};
use async_trait::async_trait;
use orderly_core::domain::{Order, OrderEvent, OrderId, OrderStatus, Timestamp};
use orderly_core::ports::{Conflict, PaymentStore, StoreError};

impl State {
    fn payment_event_is_new(&self, payment_event_id: &str) -> Result<(), StoreError> {
        if self.payment_events.contains_key(payment_event_id) {
            return Err(Conflict::PaymentEventSeen.into());
        }
        Ok(())
    }

    /// The conditions are checked in SQLite's order: a seen event first, then the order.
    fn mark_order_paid(
        &mut self,
        id: &OrderId,
        payment_event_id: &str,
        now: Timestamp,
        event: &OrderEvent,
    ) -> Result<(), StoreError> {
        self.payment_event_is_new(payment_event_id)?;
        let order = self.orders.get(id).ok_or(Conflict::NotFound)?;
        if !order.is_open_at(now) {
            return Err(Conflict::OrderClosed.into());
        }
        self.event_is_new(event)?;

        if let Some(order) = self.orders.get_mut(id) {
            order.status = OrderStatus::Paid;
            order.paid_at = Some(now);
            order.updated_at = now;
            self.pending_by_expiry.remove(&(order.expires_at, id.clone()));
        }
        self.paid_orders.entry(now).or_default().insert(id.clone());
        self.payment_events.insert(payment_event_id.to_string(), now);
        self.record_event(event);
        Ok(())
    }

    fn flag_refund_due(&mut self, id: &OrderId, payment_event_id: &str, now: Timestamp) -> Result<(), StoreError> {
        self.payment_event_is_new(payment_event_id)?;
        let order = self.orders.get_mut(id).ok_or(Conflict::NotFound)?;
        order.refund_due = true;
        order.updated_at = now;
        self.payment_events.insert(payment_event_id.to_string(), now);
        Ok(())
    }

    fn remember_payment_event(&mut self, payment_event_id: &str, now: Timestamp) -> Result<(), StoreError> {
        self.payment_event_is_new(payment_event_id)?;
        self.payment_events.insert(payment_event_id.to_string(), now);
        Ok(())
    }
}

#[async_trait]
impl PaymentStore for MemoryStore {
    async fn payment_event_seen(&self, payment_event_id: &str) -> Result<bool, StoreError> {
        Ok(self.lock()?.payment_events.contains_key(payment_event_id))
    }

    async fn mark_order_paid(
        &self,
        order: &Order,
        payment_event_id: &str,
        now: Timestamp,
        event: &OrderEvent,
    ) -> Result<(), StoreError> {
        self.lock()?.mark_order_paid(&order.id, payment_event_id, now, event)
    }

    async fn flag_refund_due(&self, order: &Order, payment_event_id: &str, now: Timestamp) -> Result<(), StoreError> {
        self.lock()?.flag_refund_due(&order.id, payment_event_id, now)
    }

    async fn remember_payment_event(&self, payment_event_id: &str, now: Timestamp) -> Result<(), StoreError> {
        self.lock()?.remember_payment_event(payment_event_id, now)
    }
}
