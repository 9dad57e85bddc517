//! The whole HTTP contract on any request: each route's body, path parameter, query (cursor,
//! limit), headers (Authorization, If-Match, Idempotency-Key, content type) taken from the input,
//! run through the core as the local server runs it, on the in-memory store. Whatever arrives,
//! the answer is never a 5xx (the store cannot fail here) and every error is problem+json.
//!
//! The input: one byte choosing the route, one choosing the caller (admin, buyer, nobody, or the
//! input's own Authorization header), then the path parameter, the query, header lines
//! (`name: value`) and the body, separated by 0xFF bytes. A path parameter of `@` gives the
//! input's store one product, created by the admin, and names it, so that what is checked
//! against an existing product (its version against `If-Match`, 412; stock; orders of it) is
//! reached too, not only the 404 of an empty store.
#![no_main]
// A test harness: its set-up failing is the run failing, with the message.
#![allow(clippy::expect_used)]

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use orderly_core::api::{self, ApiRequest, ROUTES};
use orderly_core::auth::{Authenticator, Hs256Key};
use orderly_core::config::{Secret, Secrets};
use orderly_core::domain::Timestamp;
use orderly_core::ports::{FixedClock, UlidGenerator};
use orderly_core::{App, Settings};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

const NOW_MILLIS: i64 = 1_795_000_000_000;

/// What every input shares: the runtime and the callers' tokens. Each input gets a fresh app and
/// store, so that a failure depends on its own input alone and reproduces from it.
struct Harness {
    runtime: tokio::runtime::Runtime,
    settings: Settings,
    key: Hs256Key,
    admin: String,
    buyer: String,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let key = Hs256Key::new(Secret::new("fuzz-jwt-secret-0123456789abcdef"));
        let token = |sub: &str, admin: bool| {
            let mut claims = serde_json::Map::new();
            claims.insert("sub".into(), sub.into());
            claims.insert("exp".into(), (NOW_MILLIS / 1000 + 3600).into());
            if admin {
                claims.insert("groups".into(), serde_json::json!(["admin"]));
            }
            key.sign(&claims)
        };
        let (admin, buyer) = (token("fuzz-admin", true), token("fuzz-buyer", false));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let secrets = Secrets::both(Secret::new("whsec_fuzz_0123456789"), Secret::new("fuzz-cursor-key"));
        let settings = Settings::from_vars(&HashMap::new(), secrets).expect("the default settings");
        Harness {
            runtime,
            settings,
            key,
            admin,
            buyer,
        }
    })
}

/// The path parameter that names the product an input's store then starts with.
const EXISTING_PRODUCT: &str = "@";

/// A fresh app and store; with `product`, holding one product (version 1), whose id it returns.
fn fresh_app(h: &Harness, product: bool) -> (App, Option<String>) {
    let clock = Arc::new(FixedClock::at(Timestamp::from_millis(NOW_MILLIS)));
    let app = App::new(
        Arc::new(orderly_store_memory::MemoryStore::new()),
        clock.clone(),
        Arc::new(UlidGenerator::new(clock)),
        h.settings.clone(),
        Authenticator::Hs256(h.key.clone()),
    );
    if !product {
        return (app, None);
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {}", h.admin)).expect("a token is a header value"),
    );
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let create = ApiRequest {
        id: "fuzz-set-up".into(),
        method: http::Method::POST,
        path: "/v1/products".into(),
        query: String::new(),
        headers,
        body: Bytes::from_static(br#"{"sku":"FUZZ-1","name":"Fuzz","price_cents":1299,"stock":40}"#),
        verified_claims: None,
    };
    let created = h.runtime.block_on(api::handle(&app, create));
    assert_eq!(created.status(), 201, "the set-up's product");
    let product: serde_json::Value = serde_json::from_slice(created.body()).expect("a product");
    let id = product["id"].as_str().expect("the product's id").to_string();
    (app, Some(id))
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let [route, caller, rest @ ..] = data else {
        return;
    };
    let route = &ROUTES[usize::from(*route) % ROUTES.len()];
    let mut parts = rest.split(|b| *b == 0xFF);
    let text = |part: Option<&[u8]>| String::from_utf8_lossy(part.unwrap_or_default()).into_owned();
    let (parameter, query, header_lines) = (text(parts.next()), text(parts.next()), text(parts.next()));
    let body = Bytes::copy_from_slice(parts.next().unwrap_or_default());

    // The set-up's product only when the input names it: creating it costs each input a request.
    let (app, existing) = fresh_app(h, parameter == EXISTING_PRODUCT);
    let parameter = existing.unwrap_or(parameter);
    let path = match route.path_parameter {
        Some(name) => route.path.replace(&format!("{{{name}}}"), &parameter),
        None => route.path.to_string(),
    };
    let mut headers = HeaderMap::new();
    for line in header_lines.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) {
            headers.append(name, value);
        }
    }
    let token = match caller % 4 {
        0 => Some(&h.admin),
        1 => Some(&h.buyer),
        _ => None,
    };
    if let Some(token) = token {
        if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
            headers.insert(http::header::AUTHORIZATION, value);
        }
    }
    if caller % 4 == 2 {
        headers.remove(http::header::AUTHORIZATION);
    }
    let request = ApiRequest {
        id: "fuzz-request".into(),
        method: route.method.clone(),
        path,
        query,
        headers,
        body,
        verified_claims: None,
    };
    let response = h.runtime.block_on(api::handle(&app, request));
    let status = response.status().as_u16();
    assert!(
        status < 500,
        "{status} for {route:?}: {:?}",
        String::from_utf8_lossy(response.body())
    );
    if status >= 400 {
        let content_type = response.headers().get(http::header::CONTENT_TYPE);
        assert_eq!(
            content_type.and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{status} for {route:?}"
        );
    }
});
