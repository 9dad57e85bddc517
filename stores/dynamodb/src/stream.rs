//! The table's change stream as the relay reads it: which new items are order events, and the
//! event each one holds. The stream is the DynamoDB store's outbox feed: every state change wrote
//! its event item in the same transaction, so every event reaches the stream exactly when its
//! change is committed.

use orderly_core::domain::{OrderEvent, OrderEventType, OrderId, Timestamp, UserId};

/// The item type of event items (`type`), which the relay's trigger filters on.
pub const EVENT_ITEM_TYPE: &str = "order_event";

/// The event a new item holds, read through `attribute` (an attribute's string or number text,
/// whatever form the stream record came in: the Lambda event or the Streams API). `None` when the
/// item is not an event item; `Some(Err)` when it is one but cannot be read.
pub fn order_event_in<'a>(attribute: impl Fn(&str) -> Option<&'a str>) -> Option<Result<OrderEvent, String>> {
    if attribute("type") != Some(EVENT_ITEM_TYPE) {
        return None;
    }
    let field = |name: &str| attribute(name).ok_or_else(|| format!("the event item has no {name}"));
    Some((|| {
        let kind = field("kind")?;
        let occurred_at = field("occurred_at")?;
        Ok(OrderEvent {
            id: field("id")?.to_string(),
            kind: OrderEventType::parse(kind).ok_or_else(|| format!("unknown event kind {kind:?}"))?,
            order_id: OrderId::parse(field("order_id")?).map_err(|e| format!("order_id {e}"))?,
            user_id: UserId::parse(field("user_id")?).map_err(|e| format!("user_id {e}"))?,
            occurred_at: Timestamp::from_millis(
                occurred_at
                    .parse()
                    .map_err(|_| format!("occurred_at {occurred_at:?} is not milliseconds"))?,
            ),
        })
    })())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::Item;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn text(item: &Item, name: &str) -> Option<String> {
        match item.get(name)? {
            AttributeValue::S(s) | AttributeValue::N(s) => Some(s.clone()),
            _ => None,
        }
    }

    #[test]
    fn an_event_item_reads_back_as_its_event() {
        let event = OrderEvent {
            id: "01JDB3Z6V4M0Q7YQ6V6X4W1T2S".into(),
            kind: OrderEventType::OrderExpired,
            order_id: OrderId::parse("01JDB3Z6V4M0Q7YQ6V6X4W1T2A").unwrap(),
            user_id: UserId::parse("user#1").unwrap(),
            occurred_at: Timestamp::from_millis(1_795_000_000_123),
        };
        let item = crate::items::event_item(&event);
        let values: std::collections::HashMap<String, String> = item
            .keys()
            .filter_map(|name| Some((name.clone(), text(&item, name)?)))
            .collect();
        let read = order_event_in(|name| values.get(name).map(String::as_str));
        assert_eq!(read, Some(Ok(event)));
    }

    #[test]
    fn other_items_are_not_events_and_broken_events_say_why() {
        assert_eq!(order_event_in(|name| (name == "type").then_some("order")), None);
        let broken = order_event_in(|name| match name {
            "type" => Some(EVENT_ITEM_TYPE),
            "kind" => Some("order_shipped"),
            _ => Some("x"),
        });
        assert!(matches!(broken, Some(Err(reason)) if reason.contains("order_shipped")));
    }
}
