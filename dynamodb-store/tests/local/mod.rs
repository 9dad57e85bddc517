//! Test support: a DynamoDB client on DynamoDB Local and a fresh table per test. Without the
//! endpoint the tests fail, loudly and with the fix; they never skip.

use aws_sdk_dynamodb::config::{Credentials, Region};
use orderly_core::ports::Store;
use orderly_dynamodb_store::{table, DynamoStore};
use std::sync::Arc;

pub const ENDPOINT_VARIABLE: &str = "ORDERLY_TEST_DYNAMODB_ENDPOINT";

pub fn endpoint() -> String {
    match std::env::var(ENDPOINT_VARIABLE) {
        Ok(endpoint) if endpoint.starts_with("http://127.0.0.1:") => endpoint,
        Ok(other) => panic!("{ENDPOINT_VARIABLE}={other}: tests only talk to DynamoDB Local on 127.0.0.1"),
        Err(_) => panic!(
            "{ENDPOINT_VARIABLE} is not set: run the tests with scripts/test, which installs and starts DynamoDB \
             Local, or start it with `scripts/dynamodb-local start` and export the endpoint it prints"
        ),
    }
}

pub fn client_for(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .http_client(orderly_dynamodb_store::client::https_client())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "orderly-tests"))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A store on a brand-new table of its own.
#[allow(dead_code)] // used by the conformance tests, not by every test binary that includes this module
pub async fn fresh_store() -> Arc<dyn Store> {
    let client = client_for(&endpoint());
    let name = format!("orderly-test-{}", ulid::Ulid::new().to_string().to_lowercase());
    table::create_table(&client, &name)
        .await
        .unwrap_or_else(|e| panic!("creating table {name} on DynamoDB Local failed: {e}"));
    Arc::new(DynamoStore::new(client, name))
}
