//! `cancel-order`: `POST /v1/orders/{id}/cancel` as an AWS Lambda function behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderly_functions::run(&orderly_core::api::routes::CANCEL_ORDER).await
}
