//! DynamoDB Local as the test suites reach it: its endpoint from `ORDERLY_TEST_DYNAMODB_ENDPOINT`
//! (scripts/test starts it and sets the variable) and a client with the dummy credentials it
//! accepts. Shared by every crate whose tests run against it.

use crate::client::https_client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::Client;

pub const ENDPOINT_VARIABLE: &str = "ORDERLY_TEST_DYNAMODB_ENDPOINT";

/// The endpoint the tests use, or why there is none: unset, or not on 127.0.0.1 (the tests talk
/// to nothing else).
pub fn endpoint_from_environment() -> Result<String, String> {
    match std::env::var(ENDPOINT_VARIABLE) {
        Ok(endpoint) if endpoint.starts_with("http://127.0.0.1:") => Ok(endpoint),
        Ok(other) => Err(format!(
            "{ENDPOINT_VARIABLE}={other}: the tests only talk to DynamoDB Local on 127.0.0.1"
        )),
        Err(_) => Err(format!(
            "{ENDPOINT_VARIABLE} is not set: run the tests with scripts/test, which installs and starts \
             DynamoDB Local, or start it with `scripts/dynamodb-local start <dir>` and export the endpoint \
             it prints, e.g. `{ENDPOINT_VARIABLE}=http://127.0.0.1:8000 cargo nextest run ...`"
        )),
    }
}

/// A client for DynamoDB Local at `endpoint`, with the dummy credentials it accepts.
pub fn client_for(endpoint: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .http_client(https_client())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "dynamodb-local"))
        .build();
    Client::from_conf(config)
}
