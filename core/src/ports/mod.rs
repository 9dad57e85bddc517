//! The ports: what the core needs from the outside world, as traits. Adapters in other crates
//! implement them (the embedded SQLite store, DynamoDB, the system clock); tests plug in fixed ones.

pub mod clock;
pub mod ids;
pub mod publisher;
pub mod store;

#[cfg(any(test, feature = "test-support"))]
pub use clock::FixedClock;
pub use clock::{Clock, SystemClock};
pub use ids::{IdGenerator, UlidGenerator};
pub use publisher::{EventPublisher, PublishFailure};
pub use store::{
    CatalogStore, Conflict, NotificationStore, OrderPlacement, OrderStore, OutboxStore, PaymentStore, ProfileStore,
    ReportStore, Store, StoreError,
};
