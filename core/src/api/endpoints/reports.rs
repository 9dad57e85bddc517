//! `/v1/reports/daily/{date}`: the daily sales report.

use super::{json, ApiResponse};
use crate::domain::Date;
use crate::services::reports;
use crate::{App, Error};
use http::StatusCode;

fn date(param: &str) -> Result<Date, Error> {
    Date::parse(param).map_err(|message| Error::invalid("date", message))
}

pub async fn get(app: &App, param: &str) -> Result<ApiResponse, Error> {
    let report = reports::daily_report(app, date(param)?).await?;
    json(StatusCode::OK, &report)
}

pub async fn compute(app: &App, param: &str) -> Result<ApiResponse, Error> {
    let report = reports::compute_daily_report(app, date(param)?).await?;
    json(StatusCode::OK, &report)
}
