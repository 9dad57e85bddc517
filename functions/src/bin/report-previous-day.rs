//! `report-previous-day`: the previous UTC day's sales report at 00:05 UTC, as an AWS Lambda function triggered by EventBridge Scheduler.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), orderly_functions::Error> {
    orderly_functions::jobs::run_report_previous_day().await
}
