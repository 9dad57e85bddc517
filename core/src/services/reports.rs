//! Daily sales reports: computed on request (and, later, by a scheduled job), then kept.

use super::App;
use crate::domain::{DailyReport, Date};
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
