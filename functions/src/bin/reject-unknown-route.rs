//! `reject-unknown-route`: the API's `$default` route as an AWS Lambda function behind API Gateway,
//! answering every request that matches no route of the contract with its 404 or 405.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderly_functions::run_unrouted().await
}
