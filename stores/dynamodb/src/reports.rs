//! Reports on the table: paid orders found day by day through `GSI2` (partitioned by the day they
//! were paid and sharded by order, sorted by the instant), and the daily reports computed from
//! them.

use crate::attributes::s;
use crate::errors::sdk;
use crate::expression::Expression;
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
            // The day's shards, and its one unsharded partition of orders paid before sharding.
            let partitions = std::iter::once(keys::unsharded_paid_on(day))
                .chain(self.order_shards.all().map(|shard| keys::paid_on(day, shard)));
            let range = |key: &mut Expression| {
                key.require_between(
                    keys::GSI2SK,
                    s(keys::pad13(from)),
                    // '$' sorts just after '#', so every order paid at `last` is inside the bound.
                    s(format!("{}$", keys::pad13(last))),
                );
            };
            let found = self.query_order_shards(partitions, range, usize::MAX).await?;
            for item in &found {
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
