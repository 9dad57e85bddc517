//! `adjust-stock`: `POST /v1/products/{id}/stock` as an AWS Lambda function behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderly_functions::run(&orderly_core::api::routes::ADJUST_STOCK).await
}
