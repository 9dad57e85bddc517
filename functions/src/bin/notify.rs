//! `notify`: order events from the events queue to users' notifications, as an AWS Lambda function triggered by SQS.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), orderly_functions::Error> {
    orderly_functions::jobs::run_notify().await
}
