//! `report-previous-day`: the previous UTC day's sales report at 00:05 UTC, as an AWS Lambda function triggered by EventBridge Scheduler.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderly_functions::jobs::run_report_previous_day().await
}
