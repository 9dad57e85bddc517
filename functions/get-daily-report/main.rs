//! `get-daily-report`: `GET /v1/reports/daily/{date}` as an AWS Lambda function behind API Gateway.

use orderly_core::api::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderly_functions::run(Operation::GetDailyReport).await
}
