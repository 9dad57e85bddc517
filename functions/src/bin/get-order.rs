//! `get-order`: `GET /v1/orders/{id}` as an AWS Lambda function behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderly_functions::run(&orderly_core::api::routes::GET_ORDER).await
}
