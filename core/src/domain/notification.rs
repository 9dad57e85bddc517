//! Notifications: what a user is told about their orders, one for each order event. A
//! notification takes its event's id, so a second delivery of the event finds it already there.

use super::{OrderEvent, OrderEventType, OrderId, Timestamp, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The id of the event it tells of.
    pub id: String,
    pub kind: OrderEventType,
    pub order_id: OrderId,
    pub user_id: UserId,
    pub message: String,
    pub created_at: Timestamp,
}

impl Notification {
    pub fn of(event: &OrderEvent, now: Timestamp) -> Self {
        let order = &event.order_id;
        let message = match event.kind {
            OrderEventType::OrderPlaced => format!("Order {order} is placed and awaits payment."),
            OrderEventType::OrderPaid => format!("Order {order} is paid. Thank you!"),
            OrderEventType::OrderCancelled => format!("Order {order} is cancelled."),
            OrderEventType::OrderExpired => {
                format!("Order {order} expired before it was paid; its items are back on sale.")
            }
        };
        Notification {
            id: event.id.clone(),
            kind: event.kind,
            order_id: event.order_id.clone(),
            user_id: event.user_id.clone(),
            message,
            created_at: now,
        }
    }
}
