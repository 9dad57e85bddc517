//! The daily sales report: what was paid for on one UTC day.

use super::{Cents, Date, Order, OrderStatus, ProductId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductUnits {
    pub product_id: ProductId,
    pub units: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyReport {
    pub date: Date,
    pub orders_paid: u64,
    pub revenue_cents: Cents,
    pub units_sold: u64,
    pub top_products: Vec<ProductUnits>,
    #[serde(skip)]
    pub computed_at: Timestamp,
}

impl DailyReport {
    pub const TOP: usize = 5;

    /// Counts the orders whose `paid_at` falls on `date` and whose status is `paid`; others
    /// passed in are ignored, so a caller's wider query cannot skew the figures.
    pub fn compute(date: Date, orders: &[Order], computed_at: Timestamp) -> Option<Self> {
        let (start, end) = date.bounds();
        let mut units_by_product: BTreeMap<&ProductId, u64> = BTreeMap::new();
        let mut report = DailyReport {
            date,
            orders_paid: 0,
            revenue_cents: Cents::ZERO,
            units_sold: 0,
            top_products: vec![],
            computed_at,
        };
        let paid_that_day = orders
            .iter()
            .filter(|o| o.status == OrderStatus::Paid && o.paid_at.is_some_and(|at| at >= start && at < end));
        for order in paid_that_day {
            report.orders_paid += 1;
            report.revenue_cents = report.revenue_cents.checked_add(order.total_cents)?;
            for line in &order.lines {
                let units = u64::from(line.quantity.get());
                report.units_sold += units;
                *units_by_product.entry(&line.product_id).or_default() += units;
            }
        }
        let mut ranked: Vec<_> = units_by_product.into_iter().collect();
        // Most units first; ties by product id, ascending (the map already iterates in that order
        // and the sort is stable).
        ranked.sort_by_key(|(_, units)| std::cmp::Reverse(*units));
        report.top_products = ranked
            .into_iter()
            .take(Self::TOP)
            .map(|(id, units)| ProductUnits {
                product_id: id.clone(),
                units,
            })
            .collect();
        Some(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, OrderId, OrderLine, ProductName, Quantity, Sku, UserId};

    fn pid(n: u128) -> ProductId {
        ProductId::from_ulid(ulid::Ulid(n))
    }

    fn parse<T>(result: Result<T, String>) -> T {
        result.unwrap_or_else(|e| panic!("{e}"))
    }

    fn paid_order(status: OrderStatus, paid_at: Option<i64>, lines: &[(u128, u32)]) -> Order {
        let lines: Vec<OrderLine> = lines
            .iter()
            .map(|&(product, units)| OrderLine {
                product_id: pid(product),
                sku: parse(Sku::parse("SKU")),
                name: parse(ProductName::parse("name")),
                unit_price_cents: Cents::new(100),
                quantity: parse(Quantity::parse(i64::from(units))),
                line_total_cents: Cents::new(100 * i64::from(units)),
            })
            .collect();
        Order {
            id: OrderId::from_ulid(ulid::Ulid::new()),
            user_id: parse(UserId::parse("u")),
            status,
            total_cents: crate::domain::order::order_total(&lines).unwrap_or_default(),
            lines,
            currency: parse(Currency::parse("USD")),
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
            expires_at: Timestamp::from_millis(0),
            paid_at: paid_at.map(Timestamp::from_millis),
            refund_due: false,
        }
    }

    #[test]
    fn counts_only_orders_paid_that_day_and_ranks_the_top_five() {
        let date = Date::parse("2026-11-21").unwrap_or_else(|e| panic!("{e}"));
        let (start, end) = date.bounds();
        let (start, end) = (start.as_millis(), end.as_millis());
        let orders = vec![
            paid_order(OrderStatus::Paid, Some(start), &[(1, 3), (2, 5)]),
            paid_order(
                OrderStatus::Paid,
                Some(end - 1),
                &[(3, 5), (4, 1), (5, 2), (6, 2), (7, 1)],
            ),
            paid_order(OrderStatus::Paid, Some(end), &[(1, 100)]), // the next day
            paid_order(OrderStatus::Paid, Some(start - 1), &[(1, 100)]), // the day before
            paid_order(OrderStatus::Cancelled, Some(start + 5), &[(1, 100)]), // not paid any more
            paid_order(OrderStatus::PendingPayment, None, &[(1, 100)]),
        ];
        let report = DailyReport::compute(date, &orders, Timestamp::from_millis(end))
            .unwrap_or_else(|| panic!("no overflow expected"));
        assert_eq!(report.orders_paid, 2);
        assert_eq!(report.units_sold, 19);
        assert_eq!(report.revenue_cents, Cents::new(1900));
        let top: Vec<(ProductId, u64)> = report
            .top_products
            .into_iter()
            .map(|p| (p.product_id, p.units))
            .collect();
        // 2 and 3 tie on 5 units, 5 and 6 on 2: ties go to the smaller product id; 4 and 7 miss the cut.
        assert_eq!(
            top,
            vec![(pid(2), 5), (pid(3), 5), (pid(1), 3), (pid(5), 2), (pid(6), 2)]
        );
    }
}
