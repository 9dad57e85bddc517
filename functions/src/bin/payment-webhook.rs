//! `payment-webhook`: `POST /v1/payments/webhook` as an AWS Lambda function behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderly_functions::run_with_secrets(&orderly_core::api::routes::PAYMENT_WEBHOOK).await
}
