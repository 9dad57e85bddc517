//! `get-order`: `GET /v1/orders/{id}` as an AWS Lambda function behind API Gateway.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), orderly_functions::Error> {
    orderly_functions::run(&orderly_core::api::routes::GET_ORDER).await
}
