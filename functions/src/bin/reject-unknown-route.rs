//! `reject-unknown-route`: the API's `$default` route as an AWS Lambda function behind API Gateway,
//! answering every request that matches no route of the contract with its 404 or 405.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), orderly_functions::Error> {
    orderly_functions::run_unrouted().await
}
