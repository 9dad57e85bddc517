//! Daily sales reports: computed on request or by the daily schedule, then kept.

use super::App;
use crate::domain::{DailyReport, Date, Timestamp};
use crate::Error;

pub async fn compute_daily_report(app: &App, date: Date) -> Result<DailyReport, Error> {
    let (from, to) = date.bounds();
    let orders = app.store.paid_orders_between(from, to).await?;
    let report = DailyReport::compute(date, &orders, app.now())
        .ok_or_else(|| Error::Internal(format!("revenue of {date} overflows")))?;
    app.store.save_report(&report).await?;
    Ok(report)
}

pub async fn daily_report(app: &App, date: Date) -> Result<DailyReport, Error> {
    app.store
        .report(date)
        .await?
        .ok_or_else(|| Error::NotFound(format!("the report for {date} has not been computed yet")))
}

/// The scheduled report: the UTC day before the one the schedule fired in (00:05 on the 28th
/// reports the 27th). Re-running it recomputes the same day, from the same paid orders.
pub async fn report_previous_day(app: &App, scheduled_at: Timestamp) -> Result<DailyReport, Error> {
    compute_daily_report(app, scheduled_at.date().previous()).await
}
