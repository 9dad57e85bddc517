//! The ports: what the core needs from the outside world, as traits. Adapters in other crates
//! implement them (the embedded SQLite store, DynamoDB, the system clock); tests plug in fixed ones.

pub mod clock;
pub mod ids;
pub mod store;

pub use clock::{Clock, FixedClock, SystemClock};
pub use ids::{IdGenerator, UlidGenerator};
pub use store::{Conflict, OrderPlacement, Store, StoreError};
