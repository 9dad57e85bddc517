//! The table's keys (docs/data-model.md §2). Every partition key starts with its own fixed prefix,
//! so items of different types can never share a key, whatever the ids contain.

use crate::attributes::{s, Item};
use orderly_core::domain::{Date, IdempotencyKey, OrderId, ProductId, Timestamp, UserId};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
pub const TTL: &str = "ttl";
/// The item-format version written by this code; readers accept every version up to theirs.
pub const SCHEMA: u32 = 1;

pub const ACTIVE_PRODUCTS: &str = "PRODUCTS#ACTIVE";
pub const PENDING_ORDERS: &str = "PENDING";
/// The sort key prefix of a user's notifications, in the user's partition beside the profile.
pub const NOTIFICATIONS: &str = "NOTE#";

fn key(pk: String, sk: &str) -> Item {
    Item::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

pub fn product(id: &ProductId) -> Item {
    key(format!("PRODUCT#{id}"), "PRODUCT")
}

pub fn sku(sku: &str) -> Item {
    key(format!("SKU#{sku}"), "SKU")
}

pub fn order(id: &OrderId) -> Item {
    key(format!("ORDER#{id}"), "ORDER")
}

pub fn order_event(order: &OrderId, event_id: &str) -> Item {
    key(format!("ORDER#{order}"), &format!("EVENT#{event_id}"))
}

/// Length-prefixed, because user ids and keys may both contain `#`: the user id's byte length
/// says where it ends, so no two (user, key) pairs can share a record.
pub fn idempotency(user: &UserId, key: &IdempotencyKey) -> Item {
    let user = user.as_str();
    self::key(format!("IDEM#{}#{user}#{}", user.len(), key.as_str()), "IDEM")
}

pub fn payment_event(id: &str) -> Item {
    key(format!("PAYMENT#{id}"), "PAYMENT")
}

/// A user's partition: the profile, the holdings and the notifications.
pub fn user(user: &UserId) -> String {
    format!("USER#{user}")
}

pub fn profile(user: &UserId) -> Item {
    key(self::user(user), "PROFILE")
}

/// What the user holds in unpaid orders, counted for the reservation limit; in the user's partition.
pub fn holdings(user: &UserId) -> Item {
    key(self::user(user), "HOLDINGS")
}

/// A notification's sort key: its event's id after the prefix, so the partition's notifications
/// sort by event id, that is, by time.
pub fn notification_sort(event_id: &str) -> String {
    format!("{NOTIFICATIONS}{event_id}")
}

pub fn notification(user: &UserId, event_id: &str) -> Item {
    key(self::user(user), &notification_sort(event_id))
}

pub fn report(date: Date) -> Item {
    key(format!("REPORT#{date}"), "REPORT")
}

pub fn health() -> Item {
    key("HEALTH".to_string(), "HEALTH")
}

pub fn user_orders(user: &UserId) -> String {
    format!("USER#{user}")
}

pub fn order_sort(id: &OrderId) -> String {
    format!("ORDER#{id}")
}

pub fn paid_on(date: Date) -> String {
    format!("PAID#{date}")
}

/// Instants as 13-digit, zero-padded milliseconds, so string order is time order.
pub fn pad13(at: Timestamp) -> String {
    format!("{:013}", at.as_millis().max(0))
}

pub fn timed(at: Timestamp, id: &OrderId) -> String {
    format!("{}#{id}", pad13(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::get_s;

    #[test]
    fn idempotency_keys_are_unambiguous_when_ids_contain_the_separator() {
        let key = |user: &str, key: &str| {
            let k = idempotency(
                &UserId::parse(user).unwrap_or_else(|e| panic!("{e}")),
                &IdempotencyKey::parse(key).unwrap_or_else(|e| panic!("{e}")),
            );
            get_s(&k, "PK").map(str::to_string).unwrap_or_default()
        };
        assert_ne!(key("a#b", "c"), key("a", "b#c"));
        assert_eq!(key("a#b", "c"), "IDEM#3#a#b#c");
    }
}
