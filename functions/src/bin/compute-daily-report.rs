//! `compute-daily-report`: `POST /v1/reports/daily/{date}` as an AWS Lambda function behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderly_functions::run(&orderly_core::api::routes::COMPUTE_DAILY_REPORT).await
}
