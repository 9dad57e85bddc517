//! Orders in memory: placing them (stock reservations, the order, its event and its idempotency
//! record, all or nothing, within the user's reservation limit), listing them, cancelling them
//! and expiring the overdue ones.

use crate::{MemoryStore, State};
use async_trait::async_trait;
use orderly_core::domain::{
    Closing, Holdings, IdempotencyKey, IdempotencyRecord, Order, OrderEvent, OrderId, OrderStatus, Product, ProductId,
    Stock, Timestamp, UserId,
};
use orderly_core::ports::{Conflict, OrderPlacement, OrderStore, StoreError};
use std::collections::BTreeMap;
use std::ops::Bound;

impl State {
    fn idempotency_record(&self, user: &UserId, key: &IdempotencyKey) -> Option<IdempotencyRecord> {
        self.idempotency.get(user).and_then(|keys| keys.get(key)).cloned()
    }

    fn place_order(&mut self, placement: &OrderPlacement) -> Result<(), StoreError> {
        let order = &placement.order;
        // A taken key outranks every other refusal, as in SQLite: the loser of a race replays the
        // winner's answer even when the winner took the last units.
        if let Some(record) = &placement.idempotency {
            if let Some(stored) = self.idempotency_record(&record.user_id, &record.key) {
                return Err(Conflict::IdempotencyKeyTaken(Box::new(stored)).into());
            }
        }
        // Each line's reservation is worked out before any is applied, so a short line leaves
        // every stock as it was. Lines naming one product twice take from what the earlier left.
        let mut left: BTreeMap<&ProductId, i64> = BTreeMap::new();
        for line in &order.lines {
            let id = &line.product_id;
            let product = self
                .products
                .get(id)
                .filter(|product| product.active)
                .ok_or_else(|| Conflict::ProductUnavailable(id.clone()))?;
            let available = left.get(id).copied().unwrap_or_else(|| product.stock.units());
            let remaining = available.saturating_sub(i64::from(line.quantity.get()));
            if remaining < 0 {
                return Err(Conflict::InsufficientStock(id.clone()).into());
            }
            left.insert(id, remaining);
        }
        // The limit comes after the lines, as in SQLite: an order that could never be filled is
        // refused for its stock first.
        let held = Holdings::of(
            self.orders_by_user
                .get(&order.user_id)
                .into_iter()
                .flatten()
                .filter_map(|id| self.orders.get(id)),
        );
        if let Some(limit) = placement.limit.refuses(held, order) {
            return Err(Conflict::ReservationLimit(limit).into());
        }
        // Order ids are freshly minted ULIDs: a repeated one is a bug, refused before any change.
        if self.orders.contains_key(&order.id) {
            return Err(StoreError::Internal(format!("order {} is already stored", order.id)));
        }
        self.event_is_new(&placement.event)?;

        for (id, units) in left {
            if let Some(product) = self.products.get_mut(id) {
                product.stock = Stock::from_stored(units);
            }
        }
        self.orders.insert(order.id.clone(), order.clone());
        if order.status == OrderStatus::PendingPayment {
            self.pending_by_expiry.insert((order.expires_at, order.id.clone()));
        }
        self.orders_by_user
            .entry(order.user_id.clone())
            .or_default()
            .insert(order.id.clone());
        self.record_event(&placement.event);
        if let Some(record) = &placement.idempotency {
            self.idempotency
                .entry(record.user_id.clone())
                .or_default()
                .insert(record.key.clone(), record.clone());
        }
        Ok(())
    }

    fn orders_of(&self, user: &UserId, before: Option<&OrderId>, limit: usize) -> Result<Vec<Order>, StoreError> {
        let Some(ids) = self.orders_by_user.get(user) else {
            return Ok(Vec::new());
        };
        let end = before.map_or(Bound::Unbounded, Bound::Excluded);
        ids.range((Bound::Unbounded, end))
            .rev()
            .take(limit)
            .map(|id| self.indexed_order(id))
            .collect()
    }

    /// Closes the order the way `closing` says: the stored order decides, not the caller's copy,
    /// which may have been paid, cancelled or expired since the caller read it.
    fn close_order(
        &mut self,
        id: &OrderId,
        now: Timestamp,
        event: &OrderEvent,
        closing: Closing,
    ) -> Result<Order, StoreError> {
        let stored = self.orders.get(id).ok_or(Conflict::NotFound)?;
        if !closing.applies_to(stored, now) {
            return Err(Conflict::OrderClosed.into());
        }
        self.event_is_new(event)?;

        let mut closed = stored.clone();
        closed.status = closing.status();
        closed.updated_at = now;
        for line in &closed.lines {
            if let Some(product) = self.products.get_mut(&line.product_id) {
                let units = product.stock.units().saturating_add(i64::from(line.quantity.get()));
                product.stock = Stock::from_stored(units);
            }
        }
        self.pending_by_expiry.remove(&(closed.expires_at, id.clone()));
        self.orders.insert(id.clone(), closed.clone());
        self.record_event(event);
        Ok(closed)
    }

    /// Pending orders due at or before `cutoff`, earliest deadline first, then by id, after
    /// `after`'s place.
    fn overdue_orders(&self, cutoff: Timestamp, after: Option<&Order>, limit: usize) -> Result<Vec<Order>, StoreError> {
        let start = match after {
            Some(order) => Bound::Excluded((order.expires_at, order.id.clone())),
            None => Bound::Unbounded,
        };
        self.pending_by_expiry
            .range((start, Bound::Unbounded))
            .take_while(|(expires_at, _)| *expires_at <= cutoff)
            .take(limit)
            .map(|(_, id)| self.indexed_order(id))
            .collect()
    }
}

#[async_trait]
impl OrderStore for MemoryStore {
    /// One lock for both reads, so the products and the record are seen at the same instant.
    async fn order_inputs(
        &self,
        ids: &[ProductId],
        key: Option<(&UserId, &IdempotencyKey)>,
    ) -> Result<(Vec<Product>, Option<IdempotencyRecord>), StoreError> {
        let state = self.lock()?;
        let products = ids.iter().filter_map(|id| state.products.get(id).cloned()).collect();
        let record = key.and_then(|(user, key)| state.idempotency_record(user, key));
        Ok((products, record))
    }

    async fn place_order(&self, placement: &OrderPlacement) -> Result<(), StoreError> {
        self.lock()?.place_order(placement)
    }

    async fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        Ok(self.lock()?.orders.get(id).cloned())
    }

    async fn orders_of(&self, user: &UserId, before: Option<&OrderId>, limit: usize) -> Result<Vec<Order>, StoreError> {
        self.lock()?.orders_of(user, before, limit)
    }

    async fn cancel_order(&self, order: &Order, now: Timestamp, event: &OrderEvent) -> Result<Order, StoreError> {
        self.lock()?.close_order(&order.id, now, event, Closing::Cancel)
    }

    async fn overdue_orders(
        &self,
        cutoff: Timestamp,
        after: Option<&Order>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        self.lock()?.overdue_orders(cutoff, after, limit)
    }

    async fn expire_order(&self, order: &Order, now: Timestamp, event: &OrderEvent) -> Result<Order, StoreError> {
        self.lock()?.close_order(&order.id, now, event, Closing::Expire)
    }

    async fn idempotency_record(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self.lock()?.idempotency_record(user, key))
    }
}
