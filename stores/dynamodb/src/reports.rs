//! Reports on the table: paid orders found day by day through `GSI2` (partitioned by the day they
//! were paid, sorted by the instant), and the daily reports computed from them.

use crate::attributes::s;
use crate::errors::sdk;
use crate::expression::{Compare, Expression};
use crate::{items, keys, DynamoStore};
use async_trait::async_trait;
use orderly_core::domain::{DailyReport, Date, Order, OrderStatus, Timestamp};
use orderly_core::ports::{ReportStore, StoreError};

#[async_trait]
impl ReportStore for DynamoStore {
    async fn paid_orders_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Order>, StoreError> {
        if to <= from {
            return Ok(vec![]);
        }
        let last = Timestamp::from_millis(to.as_millis() - 1);
        let mut orders = Vec::new();
        let mut day = from.date();
        loop {
            let mut key = Expression::default();
            key.require(keys::GSI2PK, Compare::Equal, s(keys::paid_on(day)))
                .require_between(
                    keys::GSI2SK,
                    s(keys::pad13(from)),
                    // '$' sorts just after '#', so every order paid at `last` is inside the bound.
                    s(format!("{}$", keys::pad13(last))),
                );
            for item in &self.unbounded_query(keys::GSI2, &key).await? {
                let order = items::order(item)?;
                if order.status == OrderStatus::Paid {
                    orders.push(order);
                }
            }
            if day >= last.date() {
                return Ok(orders);
            }
            let (_, next) = day.bounds();
            day = next.date();
        }
    }

    async fn save_report(&self, report: &DailyReport) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::report_item(report)))
            .send()
            .await
            .map_err(|e| sdk("PutItem", e))?;
        Ok(())
    }

    async fn report(&self, date: Date) -> Result<Option<DailyReport>, StoreError> {
        self.get(keys::report(date))
            .await?
            .as_ref()
            .map(items::report)
            .transpose()
    }
}
