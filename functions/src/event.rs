//! API Gateway HTTP API (payload format 2.0) events in and out, read and written here rather than
//! through lambda_http: a function needs a few of the event's fields, and lambda_http buffered the
//! whole event to try each event type it knows, built a URL and an `http::Request` from it, and
//! re-decoded every text answer by its charset (about a tenth of a warm invocation's instructions,
//! and encoding tables in every binary: docs/BENCHMARKS.md). The event is read in one pass into
//! what the core takes: the path as API Gateway delivered it (`rawPath`, which for a named stage
//! still starts with it, `/prod/v1/...`), the raw query string, the headers, the decoded body, the
//! verified claims and the route's path parameter.
//!
//! Nothing in an event makes this panic or fail the invocation once it is JSON of this shape: a
//! header field no HTTP request could carry gets the contract's 400 on the request's head, as the
//! local server answers it (never dropped: a dropped `If-Match` would make a conditional update
//! unconditional), and a body marked base64 that is not base64 is handed on as it came, for the
//! core to refuse like any malformed body.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use orderly_core::api::{self, ApiRequest, ApiResponse, Route};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// The fields of an HTTP API request event that a function reads; the rest are skipped unread.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayRequest {
    #[serde(default)]
    raw_path: Option<String>,
    #[serde(default)]
    raw_query_string: Option<String>,
    #[serde(default)]
    headers: EventHeaders,
    /// The `Cookie` header, which payload 2.0 moves here.
    #[serde(default)]
    cookies: Option<Vec<String>>,
    #[serde(default)]
    path_parameters: Option<HashMap<String, String>>,
    request_context: RequestContext,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: bool,
}

#[derive(Debug, Deserialize)]
struct RequestContext {
    http: HttpDescription,
    #[serde(default)]
    stage: Option<String>,
    #[serde(default)]
    authorizer: Option<Authorizer>,
}

#[derive(Debug, Deserialize)]
struct HttpDescription {
    #[serde(deserialize_with = "method")]
    method: Method,
}

#[derive(Debug, Deserialize)]
struct Authorizer {
    #[serde(default)]
    jwt: Option<JwtAuthorizer>,
}

#[derive(Debug, Deserialize)]
struct JwtAuthorizer {
    #[serde(default)]
    claims: Option<Map<String, Value>>,
}

impl GatewayRequest {
    /// The core's request, and the route's one path parameter (`{id}` or `{date}`), if it has one.
    pub fn into_routed(mut self, route: &Route) -> Result<(ApiRequest, Option<String>), MalformedHead> {
        let path_parameter = route
            .path_parameter
            .and_then(|name| self.path_parameters.as_mut()?.remove(name));
        Ok((self.into_core_request()?, path_parameter))
    }

    /// The core's request for the `$default` route, whose answer depends on the whole path: without
    /// the stage that API Gateway puts in front of it (`/prod/v1/...`) when the stage is not
    /// `$default`. The routed functions need not do this: their path parameter comes from
    /// `pathParameters`.
    pub fn into_unrouted(mut self) -> Result<ApiRequest, MalformedHead> {
        let stage = self.request_context.stage.take();
        let mut core = self.into_core_request()?;
        if let Some(path) = stage.and_then(|stage| path_without_stage(&core.path, &stage)) {
            core.path = path;
        }
        Ok(core)
    }

    /// Method, path, query, headers, the decoded body and the verified claims.
    fn into_core_request(self) -> Result<ApiRequest, MalformedHead> {
        if let Some(refused) = self.headers.refused {
            return Err(MalformedHead(refused));
        }
        let verified_claims = self
            .request_context
            .authorizer
            .and_then(|authorizer| authorizer.jwt?.claims)
            .filter(|claims| !claims.is_empty())
            .map(claims_as_strings);
        let mut headers = self.headers.map;
        if let Some(cookies) = self.cookies.filter(|cookies| !cookies.is_empty()) {
            if let Ok(cookie) = HeaderValue::from_str(&cookies.join("; ")) {
                headers.insert(http::header::COOKIE, cookie);
            }
        }
        let body = match self.body {
            None => Bytes::new(),
            Some(text) if self.is_base64_encoded => match STANDARD.decode(&text) {
                Ok(bytes) => Bytes::from(bytes),
                Err(_) => Bytes::from(text),
            },
            Some(text) => Bytes::from(text),
        };
        Ok(ApiRequest {
            verified_claims,
            ..ApiRequest::new(
                self.request_context.http.method,
                self.raw_path.unwrap_or_default(),
                self.raw_query_string.unwrap_or_default(),
                headers,
                body,
            )
        })
    }
}

/// An event carrying a header field no HTTP request could: what is wrong with it.
#[derive(Debug, PartialEq, Eq)]
pub struct MalformedHead(String);

impl MalformedHead {
    /// The contract's answer, as the local server gives it to a head its HTTP library refuses:
    /// 400 `validation` on the field `head`, with a fresh request id (the head was not read).
    pub fn answer(&self) -> ApiResponse {
        api::refuse_unread(orderly_core::Error::invalid("head", self.0.clone()))
    }
}

/// The claims API Gateway's JWT authorizer verified. HTTP APIs deliver every claim as a string (a
/// groups array arrives as `"[admin staff]"`, which the core understands); a claim that arrives as
/// anything else is taken as its JSON text, as API Gateway would have written it.
fn claims_as_strings(claims: Map<String, Value>) -> Map<String, Value> {
    claims
        .into_iter()
        .map(|(name, value)| match value {
            Value::String(_) => (name, value),
            other => (name, Value::String(other.to_string())),
        })
        .collect()
}

/// `path` without `stage` as its first segment; `None` when it has no such segment (or the stage
/// is `$default`, which is never in the path).
fn path_without_stage(path: &str, stage: &str) -> Option<String> {
    if stage == "$default" {
        return None;
    }
    match path.strip_prefix('/')?.strip_prefix(stage)? {
        "" => Some("/".to_string()),
        rest if rest.starts_with('/') => Some(rest.to_string()),
        _ => None,
    }
}

fn method<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Method, D::Error> {
    let text = Text::deserialize(deserializer)?;
    Method::from_bytes(text.0.as_bytes()).map_err(serde::de::Error::custom)
}

/// The most header fields an event may carry (API Gateway's own limit on a request's headers is
/// 10 KB, far below this); `HeaderMap` itself panics past 32,768.
const MOST_HEADERS: usize = 1_000;

/// The event's `headers` object, read straight into a `HeaderMap` (`null` or absent: none), and
/// the first field no HTTP request could carry, if there is one.
#[derive(Debug, Default)]
struct EventHeaders {
    map: HeaderMap,
    refused: Option<String>,
}

impl<'de> Deserialize<'de> for EventHeaders {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadersVisitor;
        impl<'de> Visitor<'de> for HeadersVisitor {
            type Value = EventHeaders;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("an object of header names and values")
            }

            fn visit_unit<E>(self) -> Result<EventHeaders, E> {
                Ok(EventHeaders::default())
            }

            fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<EventHeaders, A::Error> {
                let mut headers = EventHeaders {
                    map: HeaderMap::with_capacity(entries.size_hint().unwrap_or(16).min(64)),
                    refused: None,
                };
                while let Some((name, value)) = entries.next_entry::<Text<'de>, Text<'de>>()? {
                    if headers.refused.is_some() {
                        continue;
                    }
                    let field = (
                        HeaderName::from_bytes(name.0.as_bytes()),
                        HeaderValue::from_str(&value.0),
                    );
                    headers.refused = match field {
                        _ if headers.map.len() >= MOST_HEADERS => {
                            Some(format!("more than {MOST_HEADERS} header fields"))
                        }
                        (Ok(name), Ok(value)) => headers.map.try_append(name, value).err().map(|_| {
                            format!("more than {MOST_HEADERS} header fields")
                        }),
                        _ => Some(format!(
                            "the header field {:?} is malformed (a name no field may have, or a control character in its value)",
                            name.0.chars().take(64).collect::<String>()
                        )),
                    };
                }
                Ok(headers)
            }
        }
        deserializer.deserialize_any(HeadersVisitor)
    }
}

/// A string borrowed from the event where it has no escapes, so that reading a header copies it
/// once, into the `HeaderMap`.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }

            fn visit_str<E>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_string())))
            }

            fn visit_string<E>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// The core's response as API Gateway takes it (payload format 2.0): the status, the headers (a
/// name given twice once, its values joined by commas, as HTTP allows; `Set-Cookie` in `cookies`),
/// and the body as text, or base64 when it is not UTF-8. JSON bodies go back as text, so API
/// Gateway passes them through without decoding.
#[derive(Debug)]
pub struct GatewayResponse(pub ApiResponse);

impl Serialize for GatewayResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let response = &self.0;
        let cookies: Vec<&str> = response
            .headers()
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        let body = response.body();
        let text = std::str::from_utf8(body).ok();
        let mut out = serializer.serialize_struct("GatewayResponse", 5)?;
        out.serialize_field("statusCode", &response.status().as_u16())?;
        out.serialize_field("headers", &Headers(response.headers()))?;
        if !cookies.is_empty() {
            out.serialize_field("cookies", &cookies)?;
        }
        match text {
            Some("") => {}
            Some(text) => out.serialize_field("body", text)?,
            None => out.serialize_field("body", &STANDARD.encode(body))?,
        }
        out.serialize_field("isBase64Encoded", &text.is_none())?;
        out.end()
    }
}

/// Response headers as one JSON object, `Set-Cookie` left to `cookies`.
struct Headers<'a>(&'a HeaderMap);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(Some(self.0.keys_len()))?;
        for name in self.0.keys() {
            if name == http::header::SET_COOKIE {
                continue;
            }
            let mut values = self
                .0
                .get_all(name)
                .iter()
                .map(|value| String::from_utf8_lossy(value.as_bytes()));
            match (values.next(), values.next()) {
                (Some(only), None) => out.serialize_entry(name.as_str(), &only)?,
                (Some(first), Some(second)) => {
                    let mut joined = format!("{first},{second}");
                    for more in values {
                        joined.push(',');
                        joined.push_str(&more);
                    }
                    out.serialize_entry(name.as_str(), &joined)?;
                }
                (None, _) => {}
            }
        }
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(overrides: Value) -> GatewayRequest {
        let mut event = json!({
            "version": "2.0",
            "routeKey": "GET /v1/products/{id}",
            "rawPath": "/v1/products/01JDQ7Z8X3K4M5N6P7Q8R9S0T1",
            "rawQueryString": "a=1&b=%20",
            "headers": {"accept": "application/json", "x-request-id": "req-1", "x-multi": "a,b"},
            "pathParameters": {"id": "01JDQ7Z8X3K4M5N6P7Q8R9S0T1"},
            "requestContext": {
                "http": {"method": "GET", "path": "/v1/products/01JDQ7Z8X3K4M5N6P7Q8R9S0T1"},
                "stage": "$default",
                "authorizer": {"jwt": {"claims": {"sub": "ana", "cognito:groups": "[admin]"}, "scopes": null}}
            },
            "isBase64Encoded": false
        });
        if let (Value::Object(event), Value::Object(overrides)) = (&mut event, overrides) {
            event.extend(overrides);
        }
        serde_json::from_value(event).unwrap_or_else(|e| panic!("{e}"))
    }

    fn product_route() -> &'static Route {
        orderly_core::api::ROUTES
            .iter()
            .find(|route| route.function == "get-product")
            .unwrap_or_else(|| panic!("get-product"))
    }

    fn routed(request: GatewayRequest) -> (ApiRequest, Option<String>) {
        request.into_routed(product_route()).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn unrouted(request: GatewayRequest) -> ApiRequest {
        request.into_unrouted().unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn an_event_becomes_the_core_s_request_with_its_path_parameter() {
        let (request, parameter) = routed(event(json!({})));
        assert_eq!(parameter.as_deref(), Some("01JDQ7Z8X3K4M5N6P7Q8R9S0T1"));
        assert_eq!(request.method, Method::GET);
        assert_eq!(request.path, "/v1/products/01JDQ7Z8X3K4M5N6P7Q8R9S0T1");
        assert_eq!(request.query, "a=1&b=%20", "the raw query, still encoded");
        assert_eq!(request.id, "req-1", "the caller's request id");
        assert_eq!(request.headers["accept"], "application/json");
        assert_eq!(request.headers["x-multi"], "a,b");
        assert!(request.body.is_empty());
        let claims = request.verified_claims.unwrap_or_else(|| panic!("claims"));
        assert_eq!(claims["sub"], "ana");
        assert_eq!(claims["cognito:groups"], "[admin]");
    }

    #[test]
    fn bodies_are_decoded_when_base64_and_taken_as_they_are_otherwise() {
        let text = routed(event(json!({"body": "{\"a\":1}"}))).0;
        assert_eq!(&text.body[..], br#"{"a":1}"#);
        let binary = routed(event(json!({"body": "AP8=", "isBase64Encoded": true}))).0;
        assert_eq!(&binary.body[..], [0x00, 0xFF]);
        // Not base64 after all: handed on as it came, for the core to refuse as it would any body.
        let broken = routed(event(json!({"body": "not base64!", "isBase64Encoded": true}))).0;
        assert_eq!(&broken.body[..], b"not base64!");
    }

    #[test]
    fn what_api_gateway_may_leave_out_or_send_as_null_is_nothing() {
        let request = event(json!({
            "rawQueryString": null, "headers": null, "pathParameters": null, "cookies": null, "body": null,
            "requestContext": {"http": {"method": "POST"}, "authorizer": {"jwt": {"claims": {}}}}
        }));
        let (request, parameter) = routed(request);
        assert_eq!(parameter, None);
        assert_eq!(request.query, "");
        assert!(request.headers.is_empty());
        assert_eq!(request.verified_claims, None, "no claims is no caller");
        assert!(!request.id.is_empty(), "a fresh request id");
        let bare: GatewayRequest = serde_json::from_value(json!({"requestContext": {"http": {"method": "GET"}}}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(unrouted(bare).path, "");
    }

    #[test]
    fn cookies_come_back_as_one_header() {
        let request = routed(event(json!({"cookies": ["a=1", "b=2"]}))).0;
        assert_eq!(request.headers["cookie"], "a=1; b=2");
        assert_eq!(request.headers["accept"], "application/json", "beside the event's own");
    }

    /// Never dropped: a dropped `If-Match` would make a conditional update unconditional, a
    /// dropped `Idempotency-Key` a retried order a second order.
    #[test]
    fn a_header_field_no_request_could_carry_is_the_contract_s_400_on_the_head() {
        for headers in [
            json!({"x-ok": "fine", "if-match": "\"3\u{7f}\""}),
            json!({"bad name": "x"}),
            json!({"idempotency-key": "a\u{1}b"}),
        ] {
            let refused = match event(json!({"headers": headers.clone()})).into_routed(product_route()) {
                Err(refused) => refused,
                Ok(_) => panic!("{headers}: refused"),
            };
            let answer = refused.answer();
            assert_eq!(answer.status(), 400, "{headers}");
            let problem: Value = serde_json::from_slice(answer.body()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(problem["errors"][0]["field"], "head", "{problem}");
            assert!(answer.headers().contains_key("x-request-id"));
        }
        let too_many: Map<String, Value> = (0..=MOST_HEADERS).map(|i| (format!("x-{i}"), json!("v"))).collect();
        assert!(event(json!({"headers": too_many})).into_unrouted().is_err());
    }

    #[test]
    fn claims_that_are_not_strings_are_taken_as_their_json_text() {
        let request = event(json!({"requestContext": {
            "http": {"method": "GET"},
            "authorizer": {"jwt": {"claims": {"sub": "ana", "exp": 1795000000, "groups": ["admin"]}}}
        }}));
        let claims = routed(request).0.verified_claims.unwrap_or_else(|| panic!("claims"));
        assert_eq!(claims["exp"], "1795000000");
        assert_eq!(claims["groups"], r#"["admin"]"#);
    }

    #[test]
    fn an_event_that_is_not_an_http_api_request_is_an_error_not_a_panic() {
        for text in [
            "",
            "null",
            "{}",
            r#"{"requestContext": {}}"#,
            r#"{"requestContext": {"http": {"method": "G E T"}}}"#,
            r#"{"requestContext": {"http": {"method": "GET"}}, "headers": [1]}"#,
        ] {
            assert!(serde_json::from_str::<GatewayRequest>(text).is_err(), "{text}");
        }
    }

    #[test]
    fn the_unrouted_function_sees_the_path_without_a_named_stage() {
        let named = event(json!({
            "rawPath": "/prod/v1/nowhere",
            "requestContext": {"http": {"method": "GET"}, "stage": "prod"}
        }));
        assert_eq!(unrouted(named).path, "/v1/nowhere");
        let default = event(json!({"rawPath": "/v1/nowhere"}));
        assert_eq!(unrouted(default).path, "/v1/nowhere");
    }

    #[test]
    fn a_named_stage_is_taken_off_the_front_of_the_path() {
        let strip = |path, stage| path_without_stage(path, stage);
        assert_eq!(strip("/prod/v1/orders", "prod").as_deref(), Some("/v1/orders"));
        assert_eq!(strip("/prod", "prod").as_deref(), Some("/"));
        assert_eq!(strip("/prod/", "prod").as_deref(), Some("/"));
        // Only a whole first segment: not a prefix of one, not a later segment.
        assert_eq!(strip("/production/v1/orders", "prod"), None);
        assert_eq!(strip("/v1/prod/orders", "prod"), None);
        assert_eq!(strip("/v1/orders", "prod"), None);
        assert_eq!(strip("/v1/orders", "$default"), None);
        assert_eq!(strip("", "prod"), None);
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Value {
        let mut response = http::Response::builder().status(status);
        for (name, value) in headers {
            response = response.header(*name, *value);
        }
        let response = response
            .body(Bytes::copy_from_slice(body))
            .unwrap_or_else(|e| panic!("{e}"));
        serde_json::to_value(GatewayResponse(response)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_answer_is_written_as_api_gateway_takes_it() {
        assert_eq!(
            answer(
                201,
                &[
                    ("content-type", "application/json"),
                    ("etag", "\"1\""),
                    ("vary", "a"),
                    ("vary", "b")
                ],
                br#"{"id":"x"}"#
            ),
            json!({
                "statusCode": 201,
                "headers": {"content-type": "application/json", "etag": "\"1\"", "vary": "a,b"},
                "body": "{\"id\":\"x\"}",
                "isBase64Encoded": false
            })
        );
        assert_eq!(
            answer(204, &[], b""),
            json!({"statusCode": 204, "headers": {}, "isBase64Encoded": false}),
            "no body"
        );
        assert_eq!(
            answer(200, &[("set-cookie", "a=1"), ("set-cookie", "b=2")], &[0xFF, 0x00]),
            json!({
                "statusCode": 200,
                "headers": {},
                "cookies": ["a=1", "b=2"],
                "body": "/wA=",
                "isBase64Encoded": true
            }),
            "cookies apart, a body that is not UTF-8 in base64"
        );
    }
}
