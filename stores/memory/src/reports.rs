//! Reports in memory: the paid orders of a period, and the daily reports computed from them.

use crate::MemoryStore;
use async_trait::async_trait;
use orderly_core::domain::{DailyReport, Date, Order, OrderStatus, Timestamp};
use orderly_core::ports::{ReportStore, StoreError};

#[async_trait]
impl ReportStore for MemoryStore {
    async fn paid_orders_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Order>, StoreError> {
        // `BTreeMap::range` panics on a reversed range; an empty or reversed period holds nothing.
        if from >= to {
            return Ok(Vec::new());
        }
        let state = self.lock()?;
        let mut paid = Vec::new();
        for ids in state.paid_orders.range(from..to).map(|(_, ids)| ids) {
            for id in ids {
                let order = state.indexed_order(id)?;
                // Paid is final today; the check keeps the answer right should that ever change.
                if order.status == OrderStatus::Paid {
                    paid.push(order);
                }
            }
        }
        Ok(paid)
    }

    async fn save_report(&self, report: &DailyReport) -> Result<(), StoreError> {
        self.lock()?.reports.insert(report.date, report.clone());
        Ok(())
    }

    async fn report(&self, date: Date) -> Result<Option<DailyReport>, StoreError> {
        Ok(self.lock()?.reports.get(&date).cloned())
    }
}
