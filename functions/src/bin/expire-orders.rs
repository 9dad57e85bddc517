//! `expire-orders`: the every-minute expiry sweep, as an AWS Lambda function triggered by EventBridge Scheduler.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), orderly_functions::Error> {
    orderly_functions::jobs::run_expire_orders().await
}
