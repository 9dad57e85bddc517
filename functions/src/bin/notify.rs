//! `notify`: order events from the events queue to users' notifications, as an AWS Lambda function triggered by SQS.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderly_functions::jobs::run_notify().await
}
