//! `list-notifications`: `GET /v1/me/notifications` as an AWS Lambda function behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderly_functions::run_with_secrets(&orderly_core::api::routes::LIST_NOTIFICATIONS).await
}
