//! Domain types and rules. Every value here was parsed from untrusted input exactly once; holding
//! one means it is valid, so the rest of the code never re-checks.

pub mod event;
pub mod ids;
pub mod money;
pub mod notification;
pub mod order;
pub mod product;
pub mod profile;
pub mod report;
pub mod reservation;
pub mod time;

pub use event::{OrderEvent, OrderEventType};
pub use ids::{OrderId, ProductId, UserId};
pub use money::{Cents, Currency};
pub use notification::Notification;
pub use order::{Closing, IdempotencyKey, IdempotencyRecord, Order, OrderLine, OrderStatus, Quantity};
pub use product::{Description, Price, Product, ProductChange, ProductName, Sku, Stock, StockDelta};
pub use profile::{DisplayName, Profile};
pub use report::{DailyReport, ProductUnits};
pub use reservation::{HoldingLimit, Holdings, ReservationLimit};
pub use time::{Date, Timestamp};
