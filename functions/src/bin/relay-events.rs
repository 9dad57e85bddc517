//! `relay-events`: the table's stream to the events queue, as an AWS Lambda function triggered by DynamoDB Streams.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), orderly_functions::Error> {
    orderly_functions::jobs::run_relay().await
}
