//! `relay-events`: the table's stream to the events queue, as an AWS Lambda function triggered by DynamoDB Streams.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderly_functions::jobs::run_relay().await
}
