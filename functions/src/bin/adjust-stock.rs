//! `adjust-stock`: `POST /v1/products/{id}/stock` as an AWS Lambda function behind API Gateway.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), orderly_functions::Error> {
    orderly_functions::run(&orderly_core::api::routes::ADJUST_STOCK).await
}
