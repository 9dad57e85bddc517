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
pub const GSI3: &str = "GSI3";
pub const GSI3PK: &str = "GSI3PK";
pub const GSI3SK: &str = "GSI3SK";
pub const TTL: &str = "ttl";
/// The item-format version written by this code; readers accept every version up to theirs.
pub const SCHEMA: u32 = 1;

/// The catalog's partition of `GSI3` (keys only), and of `GSI1` for products written before it.
pub const ACTIVE_PRODUCTS: &str = "PRODUCTS#ACTIVE";
/// The one partition of `GSI2` that pending orders were written to before it was sharded; the
/// expiry job still reads it, so orders placed before the change expire too.
pub const UNSHARDED_PENDING_ORDERS: &str = "PENDING";
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

/// Pending orders' partition of `GSI2` in one shard.
pub fn pending_orders(shard: u16) -> String {
    format!("PENDING#{shard}")
}

/// The orders paid on `date`, in one shard of `GSI2`.
pub fn paid_on(date: Date, shard: u16) -> String {
    format!("PAID#{date}#{shard}")
}

/// The one partition of the orders paid on `date` before `GSI2` was sharded; the report still
/// reads it.
pub fn unsharded_paid_on(date: Date) -> String {
    format!("PAID#{date}")
}

/// How many partitions of `GSI2` pending orders and each day's paid orders are spread over, so
/// that no single partition key takes every order (docs/data-model.md §6). An order's shard is a
/// fixed hash of its id; readers query every shard. The number may grow and never shrink: readers
/// look at shards `0..N`, and an order in a higher shard would be missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderShards(u16);

impl OrderShards {
    pub const DEFAULT: OrderShards = OrderShards(32);
    pub const MOST: u16 = 256;

    /// `count` shards, 1 to [`OrderShards::MOST`].
    pub fn new(count: u16) -> Option<Self> {
        (1..=Self::MOST).contains(&count).then_some(OrderShards(count))
    }

    pub fn count(self) -> u16 {
        self.0
    }

    /// The order's shard: FNV-1a of its id, a hash that is the same on every build and platform
    /// (std's hasher promises neither), and spreads ULIDs' random tails evenly.
    pub fn of(self, order: &OrderId) -> u16 {
        let hash = order.as_str().bytes().fold(0x811c_9dc5_u32, |hash, byte| {
            (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
        });
        // The remainder is below `self.0`, a u16.
        (hash % u32::from(self.0)) as u16
    }

    pub fn all(self) -> std::ops::Range<u16> {
        0..self.0
    }
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

    #[test]
    fn orders_spread_evenly_and_stably_over_the_shards() {
        let shards = OrderShards::new(32).unwrap_or_else(|| panic!("32 shards"));
        // The hash is part of the data: a stored order must be found in the shard it was put in,
        // by every later build. 28 is FNV-1a's answer computed apart from this code (in Python).
        let fixed = OrderId::parse("01JDQZ3Q4W8X9Y0Z1A2B3C4D5E").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(shards.of(&fixed), 28);
        let mut counts = [0u32; 32];
        let mut generator = ulid::Generator::new();
        for _ in 0..32_000 {
            let id = generator.generate().unwrap_or_else(|e| panic!("{e}")).to_string();
            let id = OrderId::parse(&id).unwrap_or_else(|e| panic!("{e}"));
            counts[usize::from(shards.of(&id))] += 1;
        }
        // 1,000 expected per shard; a fair hash stays well within ±20 %.
        assert!(counts.iter().all(|c| (800..1200).contains(c)), "{counts:?}");
        assert_eq!(OrderShards::new(0), None);
        assert_eq!(OrderShards::new(257), None);
        assert_eq!(OrderShards::new(1).map(|s| s.of(&fixed)), Some(0));
    }
}
