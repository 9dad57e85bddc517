//! `update-product`: `PATCH /v1/products/{id}` as an AWS Lambda function behind API Gateway.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), orderly_functions::Error> {
    orderly_functions::run(&orderly_core::api::routes::UPDATE_PRODUCT).await
}
