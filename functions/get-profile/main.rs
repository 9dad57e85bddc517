//! `get-profile`: `GET /v1/me` as an AWS Lambda function behind API Gateway.

use orderly_core::api::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderly_functions::run(Operation::GetMe).await
}
