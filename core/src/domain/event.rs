//! Order events: one per state change, written in the same atomic write as the change itself
//! (a transactional outbox), so no event is lost when a process dies in between.

use super::{OrderId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderEventType {
    OrderPlaced,
    OrderPaid,
    OrderCancelled,
    OrderExpired,
}

impl OrderEventType {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderEventType::OrderPlaced => "order_placed",
            OrderEventType::OrderPaid => "order_paid",
            OrderEventType::OrderCancelled => "order_cancelled",
            OrderEventType::OrderExpired => "order_expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::OrderPlaced,
            Self::OrderPaid,
            Self::OrderCancelled,
            Self::OrderExpired,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    /// A ULID, so events sort in the order they happened.
    pub id: String,
    pub kind: OrderEventType,
    pub order_id: OrderId,
    pub user_id: UserId,
    pub occurred_at: Timestamp,
}
