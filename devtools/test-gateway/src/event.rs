//! The event a function receives, built as API Gateway HTTP APIs build payload format 2.0: the
//! request as received (raw path and query), headers lower-cased with repeats joined by commas,
//! cookies apart, and, on a protected route, the verified claims flattened to strings.

use crate::routes::{percent_decode, Destination};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::{COOKIE, HOST, USER_AGENT};
use http::request::Parts;
use orderly_core::domain::Timestamp;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

/// `requestContext.time`, as in `29/Nov/2026:05:01:02 +0000`.
const REQUEST_TIME: &[FormatItem<'static>] =
    format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");

/// Stand-ins for the deployment's identifiers, which nothing reads.
const ACCOUNT_ID: &str = "123456789012";
const API_ID: &str = "local";
const STAGE: &str = "$default";

/// A request as the gateway received it.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub parts: &'a Parts,
    pub body: &'a [u8],
    pub source_ip: IpAddr,
    pub request_id: &'a str,
    pub at: Timestamp,
}

/// The payload 2.0 event for `request` on its route, with the verified `claims` on a protected
/// route.
pub fn build(request: Received<'_>, destination: &Destination<'_>, claims: Option<&Map<String, Value>>) -> Value {
    let parts = request.parts;
    let header = |name| {
        parts
            .headers
            .get(name)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    let domain_name = header(HOST).unwrap_or_default();
    let raw_path = parts.uri.path();
    let raw_query = parts.uri.query().unwrap_or_default();

    let mut context = json!({
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainPrefix": domain_name.split('.').next().unwrap_or_default(),
        "domainName": domain_name,
        "http": {
            "method": parts.method.as_str(),
            "path": percent_decode(raw_path, false),
            "protocol": format!("{:?}", parts.version),
            "sourceIp": request.source_ip.to_string(),
            "userAgent": header(USER_AGENT).unwrap_or_default(),
        },
        "requestId": request.request_id,
        "routeKey": destination.route_key,
        "stage": STAGE,
        "time": request_time(request.at),
        "timeEpoch": request.at.as_millis(),
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({"jwt": {"claims": flatten_claims(claims), "scopes": null}});
    }

    let mut event = json!({
        "version": "2.0",
        "routeKey": destination.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers(parts, request.source_ip),
        "requestContext": context,
        "isBase64Encoded": false,
    });
    let cookies = cookies(parts);
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    let query = query_parameters(raw_query);
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    if !destination.path_parameters.is_empty() {
        event["pathParameters"] = json!(destination.path_parameters);
    }
    if !request.body.is_empty() {
        match std::str::from_utf8(request.body) {
            Ok(text) => event["body"] = json!(text),
            Err(_) => {
                event["body"] = json!(STANDARD.encode(request.body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

/// Names lower-cased (the `http` crate keeps them so), repeats joined with commas, the cookies
/// left out (they travel in `cookies`), and the forwarding headers API Gateway adds.
fn headers(parts: &Parts, source_ip: IpAddr) -> BTreeMap<String, String> {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        if name == COOKIE {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes());
        headers
            .entry(name.as_str().to_string())
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let forwarded_for = match headers.get("x-forwarded-for") {
        Some(earlier) => format!("{earlier}, {source_ip}"),
        None => source_ip.to_string(),
    };
    headers.insert("x-forwarded-for".to_string(), forwarded_for);
    headers.insert("x-forwarded-proto".to_string(), "http".to_string());
    headers
}

/// Every `Cookie` header's pairs, in order.
fn cookies(parts: &Parts) -> Vec<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|value| {
            String::from_utf8_lossy(value.as_bytes())
                .split("; ")
                .filter(|cookie| !cookie.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The query's parameters decoded, a repeated key's values joined with commas.
fn query_parameters(raw_query: &str) -> BTreeMap<String, String> {
    let mut parameters: BTreeMap<String, String> = BTreeMap::new();
    for pair in raw_query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value, true);
        parameters
            .entry(percent_decode(key, true))
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    parameters
}

/// The claims as API Gateway hands them to a function: every value a string.
pub fn flatten_claims(claims: &Map<String, Value>) -> BTreeMap<String, String> {
    claims
        .iter()
        // A null claim carries nothing; left out rather than sent as the text "null".
        .filter(|(_, value)| !value.is_null())
        .map(|(name, value)| (name.clone(), claim_text(value)))
        .collect()
}

/// Strings as they are, arrays as `[a b c]` (their items likewise), anything else as its JSON.
fn claim_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(claim_text).collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    }
}

fn request_time(at: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.as_millis()) * 1_000_000)
        .ok()
        .and_then(|instant| instant.format(REQUEST_TIME).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::RouteTable;

    const AT: Timestamp = Timestamp::from_millis(1_795_928_462_345); // 2026-11-29T05:01:02.345Z

    fn routes() -> RouteTable {
        RouteTable::from_json(
            &json!({
                "routes": [
                    {"method": "GET", "path": "/v1/products/{id}", "function": "GetProductFunction", "authorizer": false},
                    {"method": "POST", "path": "/v1/orders", "function": "CreateOrderFunction", "authorizer": true},
                ],
                "default_function": "RejectUnknownRouteFunction",
            })
            .to_string(),
        )
        .unwrap()
    }

    fn event_for(request: http::request::Builder, body: &[u8], claims: Option<&Map<String, Value>>) -> Value {
        let (parts, ()) = request.body(()).unwrap().into_parts();
        let routes = routes();
        let destination = routes.find(parts.method.as_str(), parts.uri.path());
        let received = Received {
            parts: &parts,
            body,
            source_ip: IpAddr::from([192, 0, 2, 7]),
            request_id: "req-1",
            at: AT,
        };
        build(received, &destination, claims)
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn a_public_route_gets_the_request_as_received() {
        let request = http::Request::get("/v1/products/caf%C3%A9?b=2&a=x%20y+z&b=3&flag")
            .header("Host", "127.0.0.1:4000")
            .header("User-Agent", "tests/1")
            .header("Accept", "text/plain")
            .header("accept", "application/json")
            .header("X-Request-Id", "r-1");
        let event = event_for(request, b"", None);
        assert_eq!(
            event,
            json!({
                "version": "2.0",
                "routeKey": "GET /v1/products/{id}",
                "rawPath": "/v1/products/caf%C3%A9",
                "rawQueryString": "b=2&a=x%20y+z&b=3&flag",
                "headers": {
                    "host": "127.0.0.1:4000",
                    "user-agent": "tests/1",
                    "accept": "text/plain,application/json",
                    "x-request-id": "r-1",
                    "x-forwarded-for": "192.0.2.7",
                    "x-forwarded-proto": "http",
                },
                "queryStringParameters": {"a": "x y z", "b": "2,3", "flag": ""},
                "pathParameters": {"id": "café"},
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": "local",
                    "domainName": "127.0.0.1:4000",
                    "domainPrefix": "127",
                    "http": {
                        "method": "GET",
                        "path": "/v1/products/café",
                        "protocol": "HTTP/1.1",
                        "sourceIp": "192.0.2.7",
                        "userAgent": "tests/1",
                    },
                    "requestId": "req-1",
                    "routeKey": "GET /v1/products/{id}",
                    "stage": "$default",
                    "time": "29/Nov/2026:05:01:02 +0000",
                    "timeEpoch": 1_795_928_462_345_i64,
                },
                "isBase64Encoded": false,
            })
        );
    }

    #[test]
    fn cookies_travel_apart_from_the_headers() {
        let request = http::Request::get("/v1/products/p1")
            .header("Cookie", "a=1; b=2")
            .header("cookie", "c=3");
        let event = event_for(request, b"", None);
        assert_eq!(event["cookies"], json!(["a=1", "b=2", "c=3"]));
        assert!(event["headers"].get("cookie").is_none());

        let without = event_for(http::Request::get("/v1/products/p1"), b"", None);
        assert!(without.get("cookies").is_none());
        assert!(without.get("queryStringParameters").is_none());
        assert_eq!(without["rawQueryString"], "");
    }

    #[test]
    fn a_text_body_goes_as_is_and_any_other_in_base64() {
        let post = || http::Request::post("/v1/orders");
        let text = event_for(post(), "{\"items\":[\"thé\"]}".as_bytes(), Some(&Map::new()));
        assert_eq!(text["body"], "{\"items\":[\"thé\"]}");
        assert_eq!(text["isBase64Encoded"], false);

        let binary = event_for(post(), &[0xff, 0x00, 0xfe], Some(&Map::new()));
        assert_eq!(binary["body"], "/wD+");
        assert_eq!(binary["isBase64Encoded"], true);

        let empty = event_for(post(), b"", Some(&Map::new()));
        assert!(empty.get("body").is_none());
        assert_eq!(empty["isBase64Encoded"], false);
    }

    #[test]
    fn a_protected_route_gets_the_claims_flattened() {
        let claims = object(json!({"sub": "ada", "exp": 1_795_842_662_i64}));
        let event = event_for(http::Request::post("/v1/orders"), b"", Some(&claims));
        assert_eq!(
            event["requestContext"]["authorizer"],
            json!({"jwt": {"claims": {"sub": "ada", "exp": "1795842662"}, "scopes": null}})
        );
        assert_eq!(event["routeKey"], "POST /v1/orders");
        assert!(event.get("pathParameters").is_none());

        let public = event_for(http::Request::get("/v1/products/p1"), b"", None);
        assert!(public["requestContext"].get("authorizer").is_none());
    }

    #[test]
    fn an_unknown_route_is_the_default_route() {
        let event = event_for(http::Request::delete("/v1/nothing/here"), b"", None);
        assert_eq!(event["routeKey"], "$default");
        assert_eq!(event["requestContext"]["routeKey"], "$default");
        assert_eq!(event["rawPath"], "/v1/nothing/here");
        assert!(event.get("pathParameters").is_none());
    }

    #[test]
    fn the_client_address_is_added_to_x_forwarded_for() {
        let request = http::Request::get("/v1/products/p1").header("X-Forwarded-For", "203.0.113.1");
        let event = event_for(request, b"", None);
        assert_eq!(event["headers"]["x-forwarded-for"], "203.0.113.1, 192.0.2.7");
    }

    #[test]
    fn claims_become_strings_as_api_gateway_writes_them() {
        let claims = object(json!({
            "sub": "ada",
            "exp": 1_795_842_662_i64,
            "ratio": 0.5,
            "email_verified": true,
            "cognito:groups": ["admin", "staff"],
            "nested": [["a", 1], {"k": "v"}, false],
            "address": {"city": "Paris", "zip": 75001},
            "empty": [],
            "gone": null,
        }));
        assert_eq!(
            flatten_claims(&claims),
            BTreeMap::from(
                [
                    ("sub", "ada"),
                    ("exp", "1795842662"),
                    ("ratio", "0.5"),
                    ("email_verified", "true"),
                    ("cognito:groups", "[admin staff]"),
                    ("nested", r#"[[a 1] {"k":"v"} false]"#),
                    ("address", r#"{"city":"Paris","zip":75001}"#),
                    ("empty", "[]"),
                ]
                .map(|(name, value)| (name.to_string(), value.to_string()))
            )
        );
    }
}
