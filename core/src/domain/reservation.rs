//! The reservation limit: how much stock one user may hold in unpaid orders at once, so that no one
//! (a bot re-ordering every 15 minutes above all) can keep a product sold out without paying. Every
//! store checks it inside the same write that reserves the stock, so no burst of concurrent orders
//! gets past it.

use super::Order;

/// The most one user may hold at once in orders waiting for payment. Both are at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservationLimit {
    pub unpaid_orders: u32,
    pub reserved_units: u32,
}

/// What one user holds: the orders stored as `pending_payment`, and the units their lines reserve.
/// A past-due order still counts until the expiry job expires it, because until then it still
/// holds its stock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holdings {
    pub unpaid_orders: u64,
    pub reserved_units: u64,
}

/// Which of the two limits refused an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldingLimit {
    UnpaidOrders,
    ReservedUnits,
}

impl HoldingLimit {
    /// The limit's name, as metrics label it.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldingLimit::UnpaidOrders => "unpaid_orders",
            HoldingLimit::ReservedUnits => "reserved_units",
        }
    }
}

impl ReservationLimit {
    /// The limit that placing `order` on top of `held` would break, if any. The number of orders is
    /// looked at first, so a user at both limits hears about the one that paying any order frees.
    pub fn refuses(&self, held: Holdings, order: &Order) -> Option<HoldingLimit> {
        if held.unpaid_orders >= u64::from(self.unpaid_orders) {
            return Some(HoldingLimit::UnpaidOrders);
        }
        if held.reserved_units.saturating_add(order.units()) > u64::from(self.reserved_units) {
            return Some(HoldingLimit::ReservedUnits);
        }
        None
    }

    /// The most `limit` allows.
    pub fn most(&self, limit: HoldingLimit) -> u32 {
        match limit {
            HoldingLimit::UnpaidOrders => self.unpaid_orders,
            HoldingLimit::ReservedUnits => self.reserved_units,
        }
    }
}

impl Holdings {
    /// Sums what `orders` hold: those still stored as `pending_payment`, whoever placed them.
    pub fn of<'a>(orders: impl IntoIterator<Item = &'a Order>) -> Holdings {
        orders
            .into_iter()
            .filter(|order| order.status == super::OrderStatus::PendingPayment)
            .fold(Holdings::default(), |held, order| Holdings {
                unpaid_orders: held.unpaid_orders + 1,
                reserved_units: held.reserved_units.saturating_add(order.units()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Cents, Currency, OrderId, OrderLine, OrderStatus, ProductId, ProductName, Quantity, Sku};
    use crate::domain::{Timestamp, UserId};

    fn ok<T>(parsed: Result<T, String>) -> T {
        parsed.unwrap_or_else(|e| panic!("{e}"))
    }

    fn order(status: OrderStatus, quantities: &[i64]) -> Order {
        Order {
            id: OrderId::from_ulid(ulid::Ulid::new()),
            user_id: ok(UserId::parse("ada")),
            status,
            lines: quantities
                .iter()
                .map(|&units| OrderLine {
                    product_id: ProductId::from_ulid(ulid::Ulid::new()),
                    sku: ok(Sku::parse("TEA-1")),
                    name: ok(ProductName::parse("Tea")),
                    unit_price_cents: Cents::new(100),
                    quantity: ok(Quantity::parse(units)),
                    line_total_cents: Cents::new(100 * units),
                })
                .collect(),
            total_cents: Cents::ZERO,
            currency: ok(Currency::parse("USD")),
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
            expires_at: Timestamp::from_millis(900_000),
            paid_at: None,
            refund_due: false,
        }
    }

    const LIMIT: ReservationLimit = ReservationLimit {
        unpaid_orders: 3,
        reserved_units: 10,
    };

    #[test]
    fn only_pending_orders_count() {
        let orders = [
            order(OrderStatus::PendingPayment, &[2, 3]),
            order(OrderStatus::Paid, &[50]),
            order(OrderStatus::Cancelled, &[50]),
            order(OrderStatus::Expired, &[50]),
            order(OrderStatus::PendingPayment, &[1]),
        ];
        assert_eq!(
            Holdings::of(&orders),
            Holdings {
                unpaid_orders: 2,
                reserved_units: 6
            }
        );
    }

    #[test]
    fn the_limits_are_inclusive_and_orders_are_looked_at_first() {
        let held = |orders, units| Holdings {
            unpaid_orders: orders,
            reserved_units: units,
        };
        let four_units = order(OrderStatus::PendingPayment, &[4]);
        assert_eq!(LIMIT.refuses(held(2, 6), &four_units), None, "exactly at both limits");
        assert_eq!(
            LIMIT.refuses(held(2, 7), &four_units),
            Some(HoldingLimit::ReservedUnits)
        );
        assert_eq!(LIMIT.refuses(held(3, 0), &four_units), Some(HoldingLimit::UnpaidOrders));
        assert_eq!(
            LIMIT.refuses(held(3, 10), &four_units),
            Some(HoldingLimit::UnpaidOrders),
            "at both, the number of orders is named"
        );
        let eleven_units = order(OrderStatus::PendingPayment, &[5, 6]);
        assert_eq!(
            LIMIT.refuses(Holdings::default(), &eleven_units),
            Some(HoldingLimit::ReservedUnits),
            "an order larger than the limit on its own"
        );
        assert_eq!(LIMIT.most(HoldingLimit::UnpaidOrders), 3);
        assert_eq!(LIMIT.most(HoldingLimit::ReservedUnits), 10);
    }
}
