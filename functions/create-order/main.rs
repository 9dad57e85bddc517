//! `create-order`: `POST /v1/orders` as an AWS Lambda function behind API Gateway.

use orderly_core::api::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderly_functions::run(Operation::PlaceOrder).await
}
