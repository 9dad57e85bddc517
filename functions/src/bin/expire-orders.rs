//! `expire-orders`: the every-minute expiry sweep, as an AWS Lambda function triggered by EventBridge Scheduler.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderly_functions::jobs::run_expire_orders().await
}
