//! `list-orders`: `GET /v1/orders` as an AWS Lambda function behind API Gateway.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), orderly_functions::Error> {
    orderly_functions::run_with_secrets(&orderly_core::api::routes::LIST_ORDERS).await
}
