//! `list-products`: `GET /v1/products` as an AWS Lambda function behind API Gateway.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), orderly_functions::Error> {
    orderly_functions::run_with_secrets(&orderly_core::api::routes::LIST_PRODUCTS).await
}
