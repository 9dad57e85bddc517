//! The store port: every read and atomic write the business needs, named in its words.
//!
//! Each method is one atomic unit. Conditions that guard the business's promises (stock never
//! below zero, one payment per order, one order per idempotency key) are part of the write, never
//! a read followed by a write, so an adapter must enforce them inside its transaction: SQLite's
//! write transaction for the embedded store, conditional writes and `TransactWriteItems` for
//! DynamoDB. Methods that list take `limit` and return at most that many items.

use crate::domain::{
    DailyReport, Date, DisplayName, HoldingLimit, IdempotencyKey, IdempotencyRecord, Notification, Order, OrderEvent,
    OrderId, Product, ProductChange, ProductId, Profile, ReservationLimit, StockDelta, Timestamp, UserId,
};
use async_trait::async_trait;

/// Why a conditional write did not happen. Each is an expected business outcome that the
/// services turn into an answer, not a failure of the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("the SKU is taken")]
    SkuTaken,
    #[error("no such item")]
    NotFound,
    #[error("the version does not match")]
    VersionMismatch,
    #[error("not enough stock of product {0}")]
    InsufficientStock(ProductId),
    #[error("stock would exceed its limit")]
    StockLimit,
    #[error("product {0} is unknown or inactive")]
    ProductUnavailable(ProductId),
    /// The user already holds as much in unpaid orders as the reservation limit allows.
    #[error("the reservation limit on {} is reached", .0.as_str())]
    ReservationLimit(HoldingLimit),
    /// Carries the record that holds the key, so the loser of a race replays without reading again.
    #[error("the idempotency key is already recorded")]
    IdempotencyKeyTaken(Box<IdempotencyRecord>),
    /// The key is taken, but the record holding it cannot be read yet (a store whose failed write
    /// did not say what blocked it, and whose read does not see the winner's write yet).
    #[error("a request with this idempotency key is still in progress")]
    RequestInProgress,
    #[error("the order is no longer open")]
    OrderClosed,
    #[error("this payment event was already processed")]
    PaymentEventSeen,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// The store cannot be reached or is overloaded: worth retrying later (503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or corrupt data (500).
    #[error("store failure: {0}")]
    Internal(String),
}

/// Everything placing an order writes, all or nothing: each line's stock reservation (under the
/// condition that the product is active and has the stock), the order, its `order_placed` event,
/// and the idempotency record when the client sent a key; all under the condition that the user's
/// unpaid orders, this one included, stay within `limit`.
#[derive(Debug, Clone)]
pub struct OrderPlacement {
    pub order: Order,
    pub event: OrderEvent,
    pub idempotency: Option<IdempotencyRecord>,
    pub limit: ReservationLimit,
}

/// The whole store: every aggregate's reads and writes, and a health check. Business code holds an
/// `Arc<dyn Store>`; an adapter implements each aggregate's trait, one file each.
#[async_trait]
pub trait Store: CatalogStore + OrderStore + PaymentStore + ProfileStore + ReportStore + NotificationStore {
    /// Cheap round trip proving the store answers.
    async fn check_health(&self) -> Result<(), StoreError>;
}

/// The catalog: products and their stock.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Conflict: `SkuTaken`.
    async fn insert_product(&self, product: &Product) -> Result<(), StoreError>;
    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError>;
    /// The products that exist among `ids`, in any order.
    async fn products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError>;
    /// Active products in creation (id) order, starting after `after`.
    async fn active_products(&self, after: Option<&ProductId>, limit: usize) -> Result<Vec<Product>, StoreError>;
    /// Applies `change` and bumps the version. Conflicts: `NotFound`, `VersionMismatch` when
    /// `expected_version` is given and differs.
    async fn update_product(
        &self,
        id: &ProductId,
        change: &ProductChange,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> Result<Product, StoreError>;
    /// Conflicts: `NotFound`, `InsufficientStock` (would go below 0), `StockLimit` (above the max).
    async fn adjust_stock(&self, id: &ProductId, delta: StockDelta, now: Timestamp) -> Result<Product, StoreError>;
}

/// Orders: placing them (with their stock reservations and idempotency records), reading and
/// cancelling them.
#[async_trait]
pub trait OrderStore: CatalogStore {
    /// Everything placing an order reads, in one round trip where the store allows: the products
    /// that exist among `ids`, and the idempotency record of `key` when one was sent.
    async fn order_inputs(
        &self,
        ids: &[ProductId],
        key: Option<(&UserId, &IdempotencyKey)>,
    ) -> Result<(Vec<Product>, Option<IdempotencyRecord>), StoreError> {
        let record = match key {
            Some((user, key)) => self.idempotency_record(user, key).await?,
            None => None,
        };
        Ok((self.products(ids).await?, record))
    }
    /// Conflicts, the first that applies: `IdempotencyKeyTaken` with the stored record; the first
    /// line's `InsufficientStock(id)` or `ProductUnavailable(id)`; `ReservationLimit` when the
    /// user's orders stored as `pending_payment` ([`crate::domain::Holdings`]) and this one would
    /// exceed `placement.limit`, checked inside the same write.
    async fn place_order(&self, placement: &OrderPlacement) -> Result<(), StoreError>;
    async fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError>;
    /// The user's orders, newest first, starting after (older than) `before`.
    async fn orders_of(&self, user: &UserId, before: Option<&OrderId>, limit: usize) -> Result<Vec<Order>, StoreError>;
    /// Cancels `order` (as the caller just read it) if it is still open (pending and not past due
    /// at `now`, checked inside the write), returns its stock and writes its `order_cancelled`
    /// event. Returns the cancelled order. Conflicts: `NotFound`, `OrderClosed`.
    async fn cancel_order(&self, order: &Order, now: Timestamp, event: &OrderEvent) -> Result<Order, StoreError>;
    /// Pending orders whose deadline is at or before `cutoff`, earliest deadline first (ties by
    /// id), starting after `after`'s place in that order when given: read through an index of
    /// pending orders, never a scan of every order.
    async fn overdue_orders(
        &self,
        cutoff: Timestamp,
        after: Option<&Order>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError>;
    /// Expires `order` if it is still pending and past due at `now` (checked inside the write),
    /// returns its stock and writes its `order_expired` event. Returns the expired order.
    /// Conflicts: `NotFound`, `OrderClosed` (paid, cancelled or expired by someone else first).
    async fn expire_order(&self, order: &Order, now: Timestamp, event: &OrderEvent) -> Result<Order, StoreError>;
    async fn idempotency_record(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
}

/// Payments: what the provider's webhook events do to orders, each event applied once.
#[async_trait]
pub trait PaymentStore: Send + Sync {
    async fn payment_event_seen(&self, payment_event_id: &str) -> Result<bool, StoreError>;
    /// Marks `order` paid if it is still open at `now` (checked inside the write), remembers the
    /// payment event and writes `order_paid`. Conflicts: `NotFound`, `OrderClosed`, `PaymentEventSeen`.
    async fn mark_order_paid(
        &self,
        order: &Order,
        payment_event_id: &str,
        now: Timestamp,
        event: &OrderEvent,
    ) -> Result<(), StoreError>;
    /// Flags a payment that arrived for `order` when it can no longer take it, and remembers the
    /// event. Conflicts: `NotFound`, `PaymentEventSeen`.
    async fn flag_refund_due(&self, order: &Order, payment_event_id: &str, now: Timestamp) -> Result<(), StoreError>;
    /// Remembers a payment event that changes nothing (a failed payment). Conflict: `PaymentEventSeen`.
    async fn remember_payment_event(&self, payment_event_id: &str, now: Timestamp) -> Result<(), StoreError>;
}

/// Profiles: what a user keeps about themselves.
#[async_trait]
pub trait ProfileStore: Send + Sync {
    async fn profile(&self, user: &UserId) -> Result<Option<Profile>, StoreError>;
    /// Stores `profile` unless one exists; returns the stored one either way.
    async fn insert_profile(&self, profile: &Profile) -> Result<Profile, StoreError>;
    /// Sets the display name, creating the profile from `fresh` if there is none yet.
    async fn set_display_name(&self, fresh: &Profile, name: &DisplayName) -> Result<Profile, StoreError>;
}

/// Reports: the paid orders of a period and the daily reports computed from them.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Orders with status `paid` and `paid_at` in `[from, to)`.
    async fn paid_orders_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Order>, StoreError>;
    async fn save_report(&self, report: &DailyReport) -> Result<(), StoreError>;
    async fn report(&self, date: Date) -> Result<Option<DailyReport>, StoreError>;
}

/// Notifications: one per order event, told to the event's user.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Stores `notification` unless one with its id (its event's id) exists, which the same
    /// condition decides. Returns whether it was stored now.
    async fn insert_notification(&self, notification: &Notification) -> Result<bool, StoreError>;
    /// The user's notifications, newest (highest event id) first, starting after (older than) `before`.
    async fn notifications_of(
        &self,
        user: &UserId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError>;
}

/// The outbox, read by a relay that polls it: the events every state change wrote, until the relay
/// has handed them on. A store whose own change feed carries them (DynamoDB's stream) needs none.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Events not yet marked published, oldest first.
    async fn unpublished_events(&self, limit: usize) -> Result<Vec<OrderEvent>, StoreError>;
    /// Marks these events published. Unknown ids and events already published are left alone.
    async fn mark_published(&self, event_ids: &[String], at: Timestamp) -> Result<(), StoreError>;
}
