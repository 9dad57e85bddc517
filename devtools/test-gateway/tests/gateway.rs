//! The gateway binary end to end, against a fake Invoke API that stands in for start-lambda: it
//! records every invocation and answers as a function does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::extract::{Path, State};
use axum::Router;
use orderly_core::auth::Hs256Key;
use orderly_core::config::Secret;
use serde_json::{json, Map, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

const SECRET: &str = "gateway-test-secret-0123456789abcdef";
const ISSUER: &str = "https://issuer.example";

type Invocations = Arc<Mutex<Vec<(String, Value)>>>;

/// Records the invocation and answers 200 with the function's name, as a function
/// writes its response.
async fn invoke(
    State(invocations): State<Invocations>,
    Path(function): Path<String>,
    body: bytes::Bytes,
) -> axum::response::Response {
    let event: Value = serde_json::from_slice(&body).unwrap();
    invocations.lock().unwrap().push((function.clone(), event));
    let result = json!({
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {},
        "body": json!({"function": function}).to_string(),
        "isBase64Encoded": false,
        "cookies": [],
    });
    axum::response::Response::new(axum::body::Body::from(result.to_string()))
}

async fn fake_start_lambda(invocations: Invocations) -> String {
    let app = Router::new()
        .route(
            "/2015-03-31/functions/{function}/invocations",
            axum::routing::post(invoke),
        )
        .with_state(invocations);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// The gateway process, stopped when the test ends however it ends.
struct Gateway {
    child: Child,
    url: String,
    _routes: tempfile::NamedTempFile,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_gateway(lambda_endpoint: &str) -> Gateway {
    let routes = tempfile::NamedTempFile::new().unwrap();
    let table = json!({
        "routes": [
            {"method": "GET", "path": "/v1/products/{id}", "function": "GetProductFunction", "authorizer": false},
            {"method": "GET", "path": "/v1/orders/{id}", "function": "GetOrderFunction", "authorizer": true},
        ],
        "default_function": "RejectUnknownRouteFunction",
    });
    std::fs::write(routes.path(), table.to_string()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_test-gateway"))
        .arg("--routes")
        .arg(routes.path())
        .args(["--lambda-endpoint", lambda_endpoint])
        .env("ORDERLY_JWT_SECRET", SECRET)
        .env("ORDERLY_JWT_ISSUER", ISSUER)
        .env_remove("ORDERLY_JWT_AUDIENCE")
        .env_remove("ORDERLY_JWT_MAX_LIFETIME_SECONDS")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    Gateway {
        child,
        url,
        _routes: routes,
    }
}

fn token(secret: &str, extra: Value) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let mut claims: Map<String, Value> = serde_json::from_value(json!({
        "sub": "ada",
        "iss": ISSUER,
        "exp": now + 600,
        "email": "ada@example.com",
        "email_verified": true,
        "cognito:groups": ["admin", "staff"],
    }))
    .unwrap();
    claims.extend(serde_json::from_value::<Map<String, Value>>(extra).unwrap());
    Hs256Key::new(Secret::new(secret)).sign(&claims)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_routes_authorizes_and_builds_events_as_api_gateway_does() {
    let invocations: Invocations = Arc::default();
    let endpoint = fake_start_lambda(invocations.clone()).await;
    let gateway = start_gateway(&endpoint).await;
    let client = reqwest::Client::new();
    let taken = || std::mem::take(&mut *invocations.lock().unwrap());

    // A public route reaches its function with the event API Gateway would build.
    let response = client
        .get(format!("{}/v1/products/tea%20green?size=100&size=200", gateway.url))
        .header("X-Trace", "one")
        .header("Cookie", "a=1; b=2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["apigw-requestid"].to_str().unwrap().to_string();
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.text().await.unwrap(), r#"{"function":"GetProductFunction"}"#);
    let calls = taken();
    assert_eq!(calls.len(), 1);
    let (function, event) = &calls[0];
    assert_eq!(function, "GetProductFunction");
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /v1/products/{id}");
    assert_eq!(event["rawPath"], "/v1/products/tea%20green");
    assert_eq!(event["rawQueryString"], "size=100&size=200");
    assert_eq!(event["queryStringParameters"], json!({"size": "100,200"}));
    assert_eq!(event["pathParameters"], json!({"id": "tea green"}));
    assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
    assert_eq!(event["headers"]["x-trace"], "one");
    assert!(event["headers"].get("cookie").is_none());
    assert_eq!(event["requestContext"]["requestId"], request_id.as_str());
    assert_eq!(event["requestContext"]["http"]["method"], "GET");
    assert_eq!(event["requestContext"]["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(event["requestContext"]["stage"], "$default");
    assert!(event["requestContext"].get("authorizer").is_none());
    assert!(event.get("body").is_none());

    // A protected route without a valid token is API Gateway's 401; the function never runs.
    let orders = format!("{}/v1/orders/o1", gateway.url);
    for authorization in [
        None,
        Some("Bearer".to_string()),
        Some("Bearer not.a.token".to_string()),
        Some(format!("Bearer {}", token("another-secret", json!({})))),
        Some(format!(
            "Bearer {}",
            token(SECRET, json!({"iss": "https://other.example"}))
        )),
        Some(format!("Bearer {}", token(SECRET, json!({"exp": 1_000_000_000})))),
    ] {
        let mut request = client.get(&orders);
        if let Some(value) = &authorization {
            request = request.header("Authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{authorization:?}");
        assert!(response.headers().contains_key("apigw-requestid"));
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.text().await.unwrap(), r#"{"message":"Unauthorized"}"#);
    }
    assert!(taken().is_empty(), "a function ran without a valid token");

    // A valid token passes, bare or after Bearer, and the claims arrive flattened to strings.
    let valid = token(SECRET, json!({}));
    for authorization in [format!("Bearer {valid}"), format!("bearer {valid}"), valid.clone()] {
        let response = client
            .post(&orders)
            .header("Authorization", &authorization)
            .body("ignored")
            .send()
            .await
            .unwrap();
        // POST is not a route here: the $default route, which is public.
        assert_eq!(response.status(), 200);
        let response = client
            .get(&orders)
            .header("Authorization", &authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let calls = taken();
    assert_eq!(calls.len(), 6);
    for (function, event) in calls.iter().filter(|(_, event)| event["routeKey"] != "$default") {
        assert_eq!(function, "GetOrderFunction");
        let claims = &event["requestContext"]["authorizer"]["jwt"]["claims"];
        assert_eq!(claims["sub"], "ada");
        assert_eq!(claims["email_verified"], "true");
        assert_eq!(claims["cognito:groups"], "[admin staff]");
        assert!(claims["exp"].as_str().unwrap().parse::<u64>().is_ok(), "{claims}");
        assert_eq!(event["requestContext"]["authorizer"]["jwt"]["scopes"], Value::Null);
    }

    // An unknown path goes to the default function, as the $default route, with no authorizer.
    let response = client
        .delete(format!("{}/v1/nowhere", gateway.url))
        .header("Authorization", format!("Bearer {valid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"function":"RejectUnknownRouteFunction"}"#
    );
    let calls = taken();
    let (function, event) = &calls[0];
    assert_eq!(function, "RejectUnknownRouteFunction");
    assert_eq!(event["routeKey"], "$default");
    assert_eq!(event["requestContext"]["routeKey"], "$default");
    assert_eq!(event["rawPath"], "/v1/nowhere");
    assert!(event.get("pathParameters").is_none());
    assert!(event["requestContext"].get("authorizer").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_lambda_endpoint_is_a_503() {
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gateway = start_gateway(&format!("http://{closed}")).await;
    let response = reqwest::get(format!("{}/v1/products/p1", gateway.url)).await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("apigw-requestid"));
    assert_eq!(response.text().await.unwrap(), r#"{"message":"Service Unavailable"}"#);

    // Over API Gateway's payload limit: refused before any invocation (which would be a 503).
    let too_large = vec![b'x'; 10 * 1024 * 1024 + 1];
    let response = reqwest::Client::new()
        .post(format!("{}/v1/products/p1", gateway.url))
        .body(too_large)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"message":"Request Entity Too Large"}"#
    );
}
