//! `cancel-order`: `POST /v1/orders/{id}/cancel` as an AWS Lambda function behind API Gateway.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), orderly_functions::Error> {
    orderly_functions::run(&orderly_core::api::routes::CANCEL_ORDER).await
}
