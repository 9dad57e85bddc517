//! The store port in memory: every aggregate's data in plain maps behind one mutex, for tests of
//! the business rules that run in milliseconds and for anything else that needs a store without
//! a file or a network.
//!
//! The semantics are the SQLite store's (`orderly-store-sqlite`), held to the same conformance
//! suite: each method takes the lock once, checks every condition of its write first and only
//! then changes anything, so a refused write leaves no trace and no other caller ever sees half of
//! one. Nothing survives the process.

mod catalog;
mod notifications;
mod orders;
mod outbox;
mod payments;
mod profiles;
mod reports;

use async_trait::async_trait;
use orderly_core::domain::{
    DailyReport, Date, IdempotencyKey, IdempotencyRecord, Notification, Order, OrderEvent, OrderId, Product, ProductId,
    Profile, Sku, Timestamp, UserId,
};
use orderly_core::ports::{Store, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// An empty store; clones share the same data.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

/// Everything the store holds. The ordered maps are the SQLite store's indexes: they give each
/// listing its order without sorting on every read.
#[derive(Default)]
struct State {
    /// In id (creation) order, which is the order `active_products` lists them in.
    products: BTreeMap<ProductId, Product>,
    /// The SKUs in use: SQLite's unique index.
    skus: HashSet<Sku>,
    orders: HashMap<OrderId, Order>,
    /// Each user's order ids, ascending; read backwards for newest first.
    orders_by_user: HashMap<UserId, BTreeSet<OrderId>>,
    /// Paid orders by `paid_at`. Paid is final, so an entry never has to move.
    paid_orders: BTreeMap<Timestamp, BTreeSet<OrderId>>,
    /// Pending orders by deadline, then id: SQLite's `orders_pending_by_expiry`. An order enters
    /// when placed and leaves when it is paid, cancelled or expired.
    pending_by_expiry: BTreeSet<(Timestamp, OrderId)>,
    /// The transactional outbox, kept like the SQLite store keeps `order_events`: every event
    /// written with its state change, in id (time) order, for a relay to read.
    order_events: BTreeMap<String, OrderEvent>,
    /// The ids of the events not yet published, in id order: SQLite's `order_events_unpublished`.
    unpublished_events: BTreeSet<String>,
    idempotency: HashMap<UserId, HashMap<IdempotencyKey, IdempotencyRecord>>,
    /// Payment event id → when it was received.
    payment_events: HashMap<String, Timestamp>,
    profiles: HashMap<UserId, Profile>,
    reports: BTreeMap<Date, DailyReport>,
    /// Notifications by id (their event's), which is unique across users as SQLite's primary key is.
    notifications: HashMap<String, Notification>,
    /// Each user's notification ids, ascending; read backwards for newest first.
    notifications_by_user: HashMap<UserId, BTreeSet<String>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// Every order event written so far, oldest first: what a relay would publish.
    pub fn order_events(&self) -> Result<Vec<OrderEvent>, StoreError> {
        Ok(self.lock()?.order_events.values().cloned().collect())
    }

    /// The state, for one atomic unit of work. Every method checks before it writes, so only a
    /// panic in the middle of applying a write can poison the lock; the data may then be half
    /// changed, and reporting an internal error on every later call is safer than reading it.
    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Internal("the in-memory store was poisoned by a panic during a write".into()))
    }
}

impl State {
    /// An index entry whose item is missing means the store itself is broken, not the caller.
    fn indexed_order(&self, id: &OrderId) -> Result<Order, StoreError> {
        self.orders
            .get(id)
            .cloned()
            .ok_or_else(|| StoreError::Internal(format!("order {id} is indexed but not stored")))
    }

    /// Adds an event to the outbox. Callers check [`State::event_is_new`] before changing
    /// anything, so this cannot fail halfway through a write.
    fn record_event(&mut self, event: &OrderEvent) {
        self.order_events.insert(event.id.clone(), event.clone());
        self.unpublished_events.insert(event.id.clone());
    }

    /// Event ids are fresh ULIDs; a repeated one is a bug in the caller, refused like SQLite's
    /// primary key refuses it, before anything of the write happens.
    fn event_is_new(&self, event: &OrderEvent) -> Result<(), StoreError> {
        if self.order_events.contains_key(&event.id) {
            return Err(StoreError::Internal(format!(
                "order event {} is already stored",
                event.id
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn check_health(&self) -> Result<(), StoreError> {
        self.lock().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderly_core::ports::CatalogStore;

    #[tokio::test]
    async fn a_poisoned_lock_is_an_internal_error_not_a_panic() {
        let store = MemoryStore::new();
        let shared = store.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = shared.state.lock().expect("the lock is free");
            panic!("a write panics while holding the lock");
        })
        .join();
        assert!(panicked.is_err(), "the thread must have panicked");

        assert!(matches!(store.check_health().await, Err(StoreError::Internal(_))));
        assert!(matches!(
            store.active_products(None, 10).await,
            Err(StoreError::Internal(_))
        ));
        assert!(matches!(store.order_events(), Err(StoreError::Internal(_))));
    }
}
