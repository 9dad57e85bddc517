//! Orders: what a buyer reserved, at the prices of the moment, and where it stands.

use super::{Cents, Currency, OrderId, ProductId, ProductName, Sku, Timestamp, UserId};
use serde::{Deserialize, Serialize};

/// Units of one line: 1–100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    pub fn parse(units: i64) -> Result<Self, String> {
        match u32::try_from(units) {
            Ok(n @ 1..=100) => Ok(Quantity(n)),
            _ => Err("must be an integer from 1 to 100".into()),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Quantity {
    type Error = String;
    fn try_from(units: i64) -> Result<Self, String> {
        Quantity::parse(units)
    }
}

impl From<Quantity> for u32 {
    fn from(q: Quantity) -> u32 {
        q.0
    }
}

/// Status moves only `pending_payment` → `paid` | `cancelled` | `expired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Cancelled,
    Expired,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::PendingPayment, Self::Paid, Self::Cancelled, Self::Expired]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One line of an order, with the product's name and price captured when the order was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub sku: Sku,
    pub name: ProductName,
    pub unit_price_cents: Cents,
    pub quantity: Quantity,
    pub line_total_cents: Cents,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub user_id: UserId,
    /// The status as stored; read it through [`Order::status_at`].
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub total_cents: Cents,
    pub currency: Currency,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub expires_at: Timestamp,
    pub paid_at: Option<Timestamp>,
    pub refund_due: bool,
}

impl Order {
    /// The status a reader sees at `now`: an unpaid order past its deadline is expired at once,
    /// whether or not the expiry job has made that final yet.
    pub fn status_at(&self, now: Timestamp) -> OrderStatus {
        match self.status {
            OrderStatus::PendingPayment if now >= self.expires_at => OrderStatus::Expired,
            status => status,
        }
    }

    /// Whether a payment or a cancellation may still act on this order at `now`.
    pub fn is_open_at(&self, now: Timestamp) -> bool {
        self.status_at(now) == OrderStatus::PendingPayment
    }

    pub fn owned_by(&self, user: &UserId) -> bool {
        &self.user_id == user
    }

    /// The units its lines reserve, together.
    pub fn units(&self) -> u64 {
        self.lines.iter().map(|line| u64::from(line.quantity.get())).sum()
    }
}

/// The two ways a pending order closes and gives its stock back: the buyer cancels it before its
/// deadline, or the expiry job expires it at or after the deadline. At any instant at most one of
/// them applies, so the two can never both succeed. Every store checks [`Closing::applies_to`]
/// (or its equivalent condition) inside the write that closes the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    Cancel,
    Expire,
}

impl Closing {
    /// The order's status once closed this way.
    pub fn status(self) -> OrderStatus {
        match self {
            Closing::Cancel => OrderStatus::Cancelled,
            Closing::Expire => OrderStatus::Expired,
        }
    }

    /// Whether the stored `order` may be closed this way at `now`.
    pub fn applies_to(self, order: &Order, now: Timestamp) -> bool {
        order.status == OrderStatus::PendingPayment
            && match self {
                Closing::Cancel => order.expires_at > now,
                Closing::Expire => order.expires_at <= now,
            }
    }
}

/// Sums line totals; `None` on overflow, which the input bounds make impossible in practice
/// (25 lines × 100 units × 1e9 cents fits an i64 with room to spare).
pub fn order_total(lines: &[OrderLine]) -> Option<Cents> {
    lines
        .iter()
        .try_fold(Cents::ZERO, |sum, line| sum.checked_add(line.line_total_cents))
}

/// A client's `Idempotency-Key`: 1–255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(text: &str) -> Result<Self, String> {
        if (1..=255).contains(&text.len()) && text.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            Ok(IdempotencyKey(text.to_string()))
        } else {
            Err("must be 1 to 255 printable ASCII characters".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The stored outcome of a successful keyed order request, replayed to retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub user_id: UserId,
    pub key: IdempotencyKey,
    /// SHA-256 of the canonical JSON of the request body: equal for semantically equal bodies.
    pub fingerprint: String,
    pub status: u16,
    pub location: String,
    pub body: String,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn order(status: OrderStatus, expires_at: i64) -> Order {
        Order {
            id: OrderId::from_ulid(ulid::Ulid::nil()),
            user_id: UserId::parse("u").unwrap_or_else(|e| panic!("{e}")),
            status,
            lines: vec![],
            total_cents: Cents::ZERO,
            currency: Currency::parse("USD").unwrap_or_else(|e| panic!("{e}")),
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
            expires_at: Timestamp::from_millis(expires_at),
            paid_at: None,
            refund_due: false,
        }
    }

    #[test]
    fn a_past_due_unpaid_order_reads_as_expired() {
        let o = order(OrderStatus::PendingPayment, 1000);
        assert_eq!(o.status_at(Timestamp::from_millis(999)), OrderStatus::PendingPayment);
        assert_eq!(o.status_at(Timestamp::from_millis(1000)), OrderStatus::Expired);
        assert!(!o.is_open_at(Timestamp::from_millis(1000)));
    }

    #[test]
    fn final_states_never_change_with_time() {
        for status in [OrderStatus::Paid, OrderStatus::Cancelled, OrderStatus::Expired] {
            assert_eq!(order(status, 0).status_at(Timestamp::from_millis(i64::MAX)), status);
        }
    }

    proptest! {
        #[test]
        fn quantity_bounds(n in any::<i64>()) {
            prop_assert_eq!(Quantity::parse(n).is_ok(), (1..=100).contains(&n));
        }

        #[test]
        fn idempotency_key_is_printable_ascii(text in "\\PC{0,300}") {
            let expected = (1..=255).contains(&text.len()) && text.bytes().all(|b| (0x20..=0x7e).contains(&b));
            prop_assert_eq!(IdempotencyKey::parse(&text).is_ok(), expected);
        }
    }
}
