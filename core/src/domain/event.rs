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

/// An event as it travels on the queue: the contract's `{"id", "type", "order_id", "user_id",
/// "occurred_at"}`. The relay writes it; the notification job reads it back.
#[derive(Serialize, Deserialize)]
struct EventMessage<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(rename = "type")]
    kind: OrderEventType,
    #[serde(borrow)]
    order_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    user_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    occurred_at: std::borrow::Cow<'a, str>,
}

impl OrderEvent {
    /// The event's message body on the queue.
    pub fn to_message(&self) -> String {
        let message = EventMessage {
            id: self.id.as_str().into(),
            kind: self.kind,
            order_id: self.order_id.as_str().into(),
            user_id: self.user_id.as_str().into(),
            occurred_at: self.occurred_at.to_rfc3339().into(),
        };
        // Strings and a unit enum always serialize.
        serde_json::to_string(&message).unwrap_or_default()
    }

    /// Parses a message body from the queue. Anything may arrive there (a hand-sent message, another
    /// producer's), so every field is checked as if it came from a client.
    pub fn from_message(body: &str) -> Result<Self, String> {
        let message: EventMessage<'_> =
            serde_json::from_str(body).map_err(|e| format!("the message is not an order event: {e}"))?;
        if !super::ids::is_ulid(&message.id) {
            return Err("the event id is not a ULID".into());
        }
        Ok(OrderEvent {
            id: message.id.into_owned(),
            kind: message.kind,
            order_id: OrderId::parse(&message.order_id).map_err(|e| format!("order_id {e}"))?,
            user_id: UserId::parse(&message.user_id).map_err(|e| format!("user_id {e}"))?,
            occurred_at: Timestamp::parse_rfc3339(&message.occurred_at).map_err(|e| format!("occurred_at {e}"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> OrderEvent {
        OrderEvent {
            id: "01JDB3Z6V4M0Q7YQ6V6X4W1T2S".into(),
            kind: OrderEventType::OrderPaid,
            order_id: OrderId::parse("01JDB3Z6V4M0Q7YQ6V6X4W1T2A").unwrap_or_else(|e| panic!("{e}")),
            user_id: UserId::parse("user-1").unwrap_or_else(|e| panic!("{e}")),
            occurred_at: Timestamp::from_millis(1_795_000_000_123),
        }
    }

    #[test]
    fn a_message_reads_back_as_the_event_it_was_written_from() {
        let message = event().to_message();
        assert_eq!(
            message,
            r#"{"id":"01JDB3Z6V4M0Q7YQ6V6X4W1T2S","type":"order_paid","order_id":"01JDB3Z6V4M0Q7YQ6V6X4W1T2A","user_id":"user-1","occurred_at":"2026-11-18T11:06:40.123Z"}"#
        );
        assert_eq!(OrderEvent::from_message(&message), Ok(event()));
    }

    #[test]
    fn hostile_messages_are_refused_with_a_reason() {
        let good = event().to_message();
        for bad in [
            String::new(),
            "null".into(),
            "[]".into(),
            good.replace("order_paid", "order_shipped"),
            good.replace("01JDB3Z6V4M0Q7YQ6V6X4W1T2S", ""),
            good.replace("01JDB3Z6V4M0Q7YQ6V6X4W1T2A", "../../etc"),
            good.replace("user-1", ""),
            good.replace("2026-11-18T11:06:40.123Z", "yesterday"),
            good.replace(r#","user_id":"user-1""#, ""),
        ] {
            assert!(OrderEvent::from_message(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_fields_are_ignored_so_producers_may_add_some() {
        let message = event().to_message().replace(r#"{"id""#, r#"{"extra":{"a":1},"id""#);
        assert_eq!(OrderEvent::from_message(&message), Ok(event()));
    }

    // `notify` parses every queue message with this, in a function built with `panic = "abort"`:
    // a panic would end the sandbox and put the whole batch back on the queue. Whatever arrives,
    // the answer is an event or a reason.
    proptest::proptest! {
        #[test]
        fn any_body_is_an_event_or_a_reason_never_a_panic(body in "\\PC{0,200}") {
            let _ = OrderEvent::from_message(&body);
        }

        #[test]
        fn any_field_values_are_an_event_that_round_trips_or_a_reason(
            // Each field valid half the time, so that both answers are reached.
            id in proptest::prop_oneof![proptest::strategy::Just("01JDB3Z6V4M0Q7YQ6V6X4W1T2S".to_string()), "\\PC{0,40}"],
            kind in proptest::prop_oneof![proptest::strategy::Just("order_placed".to_string()), "\\PC{0,20}"],
            order_id in proptest::prop_oneof![proptest::strategy::Just("01JDB3Z6V4M0Q7YQ6V6X4W1T2A".to_string()), "\\PC{0,40}"],
            user_id in "\\PC{0,80}",
            occurred_at in proptest::prop_oneof![proptest::strategy::Just("2026-11-18T11:06:40.123Z".to_string()), "\\PC{0,40}"],
        ) {
            let body = serde_json::json!({
                "id": id, "type": kind, "order_id": order_id, "user_id": user_id, "occurred_at": occurred_at,
            })
            .to_string();
            if let Ok(event) = OrderEvent::from_message(&body) {
                proptest::prop_assert_eq!(OrderEvent::from_message(&event.to_message()), Ok(event));
            }
        }
    }
}
