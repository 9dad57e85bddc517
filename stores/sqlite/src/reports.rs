//! Reports: the paid orders of a period, read from `orders`, and the daily reports computed from
//! them (`daily_reports`).

use crate::connection::sql;
use crate::orders::query_orders;
use crate::{order_columns, rows, EmbeddedStore};
use async_trait::async_trait;
use orderly_core::domain::{DailyReport, Date, Order, Timestamp};
use orderly_core::ports::{ReportStore, StoreError};
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl ReportStore for EmbeddedStore {
    async fn paid_orders_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Order>, StoreError> {
        self.read(move |conn| {
            let sql_text: &str = concat!(
                "SELECT ",
                order_columns!(),
                " FROM orders WHERE paid_at >= ?1 AND paid_at < ?2 AND status = 'paid'"
            );
            query_orders(conn, sql_text, params![from.as_millis(), to.as_millis()])
        })
        .await
    }

    async fn save_report(&self, report: &DailyReport) -> Result<(), StoreError> {
        let report = report.clone();
        let top = serde_json::to_string(&report.top_products).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.write(move |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO daily_reports (date, orders_paid, revenue_cents, units_sold, top_products, computed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    report.date.to_string(),
                    i64::try_from(report.orders_paid).unwrap_or(i64::MAX),
                    report.revenue_cents.get(),
                    i64::try_from(report.units_sold).unwrap_or(i64::MAX),
                    top,
                    report.computed_at.as_millis()
                ],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await
    }

    async fn report(&self, date: Date) -> Result<Option<DailyReport>, StoreError> {
        self.read(move |conn| {
            conn.query_row(
                "SELECT date, orders_paid, revenue_cents, units_sold, top_products, computed_at
                 FROM daily_reports WHERE date = ?1",
                [date.to_string()],
                rows::report,
            )
            .optional()
            .map_err(sql)?
            .transpose()
        })
        .await
    }
}
