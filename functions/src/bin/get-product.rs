//! `get-product`: `GET /v1/products/{id}` as an AWS Lambda function behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderly_functions::run(&orderly_core::api::routes::GET_PRODUCT).await
}
