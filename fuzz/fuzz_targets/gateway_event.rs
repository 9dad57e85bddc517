//! API Gateway's side: HTTP API (payload 2.0) events as API Gateway builds them, with everything a
//! client controls taken from the input (the path parameter, the query string, header values, the
//! body, base64 or not) and the JWT authorizer's claims too, read and mapped to the core's request
//! as the deployed functions do (`GatewayRequest`), answered on the in-memory store, and the answer
//! written as API Gateway is given it (`GatewayResponse`). The answer is never a 5xx, every error
//! is problem+json, and the written answer carries the response's status, as text.
//!
//! The input: one byte choosing the function, one of flags (base64 body, admin, raw event), then
//! the path parameter, the query string, header lines (`name: value`), the body and the caller's
//! `sub`, separated by 0xFF bytes. API Gateway percent-encodes the path and passes only header
//! values a client could send (visible ASCII), so the event is built that way. With the raw-event
//! flag, the rest of the input is the event's text itself: whatever it is, reading it is an error
//! or a request, never a panic. (lambda_http, which read the events before, panicked on an event
//! whose path is no URI or whose Host is no domain, and on a base64 body that is not base64.)
#![no_main]
// A test harness: its set-up failing is the run failing, with the message.
#![allow(clippy::expect_used)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use orderly_core::api::{Route, ROUTES};
use orderly_core::auth::Authenticator;
use orderly_core::config::{Secret, Secrets};
use orderly_core::domain::Timestamp;
use orderly_core::ports::{FixedClock, UlidGenerator};
use orderly_core::{App, Settings};
use orderly_functions::{Context, Function, GatewayRequest, GatewayResponse};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// What every input shares: the runtime and the settings. Each input gets a fresh app and store.
fn harness() -> &'static (tokio::runtime::Runtime, Settings) {
    static HARNESS: OnceLock<(tokio::runtime::Runtime, Settings)> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let secrets = Secrets::both(Secret::new("whsec_fuzz_0123456789"), Secret::new("fuzz-cursor-key"));
        (
            runtime,
            Settings::from_vars(&HashMap::new(), secrets).expect("the default settings"),
        )
    })
}

/// Percent-encodes all but RFC 3986's unreserved characters (and, in a query, `=` and `&`).
fn percent_encoded(text: &str, query: bool) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            b'=' | b'&' if query => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let (runtime, settings) = harness();
    let [route, flags, rest @ ..] = data else {
        return;
    };
    let route = &ROUTES[usize::from(*route) % ROUTES.len()];
    if flags & 4 != 0 {
        if let Ok(request) = serde_json::from_slice::<GatewayRequest>(rest) {
            answer_checked(runtime, settings, route, request);
        }
        return;
    }
    let mut parts = rest.split(|b| *b == 0xFF);
    let mut text = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (parameter, query, header_lines, body, sub) = (text(), text(), text(), text(), text());

    let raw_path = match route.path_parameter {
        Some(name) => route
            .path
            .replace(&format!("{{{name}}}"), &percent_encoded(&parameter, false)),
        None => route.path.to_string(),
    };
    let mut headers = Map::new();
    for line in header_lines.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        // API Gateway sets these itself: the API's own domain and https.
        if name == "host" || name.starts_with("x-forwarded-") {
            continue;
        }
        let visible = |c: char| c == ' ' || c.is_ascii_graphic();
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_graphic() && c != ':') && value.chars().all(visible) {
            headers.insert(name, Value::from(value.trim()));
        }
    }
    headers.insert("host".into(), Value::from("fuzz.execute-api.us-east-1.amazonaws.com"));
    headers.insert("x-forwarded-proto".into(), Value::from("https"));
    let mut claims = Map::new();
    claims.insert("sub".into(), Value::from(sub));
    if flags & 2 != 0 {
        claims.insert("cognito:groups".into(), Value::from("[admin]"));
    }
    let mut path_parameters = Map::new();
    if let Some(name) = route.path_parameter {
        path_parameters.insert(name.into(), Value::from(parameter));
    }
    let base64_body = flags & 1 != 0;
    let event = json!({
        "version": "2.0",
        "routeKey": format!("{} {}", route.method, route.path),
        "rawPath": raw_path,
        "rawQueryString": percent_encoded(&query, true),
        "headers": headers,
        "pathParameters": path_parameters,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "fuzz",
            "authorizer": {"jwt": {"claims": claims, "scopes": null}},
            "domainName": "fuzz.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "fuzz",
            "http": {"method": route.method.as_str(), "path": raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "fuzz"},
            "requestId": "fuzz-request",
            "routeKey": format!("{} {}", route.method, route.path),
            "stage": "$default",
            "time": "28/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1_795_000_000_000_i64
        },
        "body": if base64_body { STANDARD.encode(body.as_bytes()) } else { body },
        "isBase64Encoded": base64_body
    });
    let Ok(request) = serde_json::from_value::<GatewayRequest>(event) else {
        panic!("an event as API Gateway builds it must read");
    };
    answer_checked(runtime, settings, route, request);
});

/// Runs `request` through `route`'s function and checks the answer, as written for API Gateway.
fn answer_checked(
    runtime: &tokio::runtime::Runtime,
    settings: &Settings,
    route: &'static Route,
    request: GatewayRequest,
) {
    let clock = Arc::new(FixedClock::at(Timestamp::from_millis(1_795_000_000_000)));
    let app = App::new(
        Arc::new(orderly_store_memory::MemoryStore::new()),
        clock.clone(),
        Arc::new(UlidGenerator::new(clock)),
        settings.clone(),
        Authenticator::GatewayClaims,
    );
    let function = Function::new(route, app);
    let response = runtime.block_on(function.handle(request, &Context::default()));
    let status = response.status().as_u16();
    assert!(status < 500, "{status} from {}", route.function);
    if status >= 400 {
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok());
        assert_eq!(
            content_type,
            Some("application/problem+json"),
            "{status} from {}",
            route.function
        );
    }
    let written = serde_json::to_value(GatewayResponse(response)).expect("an answer writes as JSON");
    assert_eq!(written["statusCode"], status, "{written}");
    assert_eq!(
        written["isBase64Encoded"], false,
        "the contract's answers are text: {written}"
    );
}
