//! `check-health`: `GET /v1/health` as an AWS Lambda function behind API Gateway.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), orderly_functions::Error> {
    orderly_functions::run(&orderly_core::api::routes::CHECK_HEALTH).await
}
