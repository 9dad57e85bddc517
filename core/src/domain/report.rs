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
