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

/// A request for the core's entry point, as a shape hands it over: the bearer `token`, a JSON
/// `body`, and `extra` headers.
#[allow(dead_code)] // used by the tests that drive the API, not by every test binary
pub fn api_request(
    method: http::Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
    extra: &[(&str, &str)],
) -> orderly_core::api::ApiRequest {
    use http::{HeaderMap, HeaderName, HeaderValue};
    let valid = |value: &str| HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{value:?}: {e}"));
    let mut headers = HeaderMap::new();
    if let Some(token) = token {
        headers.insert("authorization", valid(&format!("Bearer {token}")));
    }
    if body.is_some() {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    for (name, value) in extra {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|e| panic!("{name:?}: {e}"));
        headers.insert(name, valid(value));
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    orderly_core::api::ApiRequest {
        id: ulid::Ulid::new().to_string(),
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: body.map(|b| bytes::Bytes::from(b.to_string())).unwrap_or_default(),
        verified_claims: None,
    }
}

/// A token `key` signs for `sub` (an admin when `admin`), valid for an hour from `now`: within
/// the verifier's longest lifetime, and still valid after a test moves its clock past a deadline.
#[allow(dead_code)]
pub fn token(
    key: &orderly_core::auth::Hs256Key,
    now: orderly_core::domain::Timestamp,
    sub: &str,
    admin: bool,
) -> String {
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), serde_json::json!(sub));
    claims.insert("exp".into(), serde_json::json!(now.as_unix_seconds() + 3600));
    if admin {
        claims.insert("groups".into(), serde_json::json!(["admin"]));
    }
    key.sign(&claims)
}
