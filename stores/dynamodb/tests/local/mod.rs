//! Test support: a DynamoDB client on DynamoDB Local and a fresh table per test. Without the
//! endpoint the tests fail, loudly and with the fix; they never skip.

use orderly_core::ports::Store;
use orderly_store_dynamodb::{table, DynamoStore};
use std::sync::Arc;

pub use orderly_store_dynamodb::local::client_for;

pub fn endpoint() -> String {
    orderly_store_dynamodb::local::endpoint_from_environment().unwrap_or_else(|why| panic!("{why}"))
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
