//! `get-daily-report`: `GET /v1/reports/daily/{date}` as an AWS Lambda function behind API Gateway.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), orderly_functions::Error> {
    orderly_functions::run(&orderly_core::api::routes::GET_DAILY_REPORT).await
}
