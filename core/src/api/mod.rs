//! HTTP in, HTTP out: the contract's mapping around the services. Both shapes enter here: the
//! local server through [`handle`] (which routes), a Lambda function through [`handle_routed`]
//! (API Gateway already routed), and what API Gateway routed nowhere through [`answer_unrouted`];
//! what the local server answers before routing (overload, an unreadable request) goes through
//! [`refuse`] and [`refuse_unread`].
//! Every failure becomes a response; nothing here returns `Err`.

pub mod cursor;
mod endpoints;
pub mod input;
pub mod problem;
pub mod routes;
pub mod views;

pub use routes::{Access, Route, SecretUse, ROUTES};

use crate::auth::{Authenticator, Caller};
use crate::{App, Error};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method};
use serde_json::{Map, Value};
use std::time::Instant;
use tracing::Instrument;

/// Request bodies over this many bytes get 413 before anything else is looked at.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub const REQUEST_ID: &str = "x-request-id";

/// A request as the core sees it, whichever runtime delivered it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// The caller's `X-Request-Id` when it is a usable one, else a fresh id: settled once, when
    /// the request is made, and carried by every log line and the answer.
    pub id: String,
    pub method: Method,
    pub path: String,
    /// The raw query string, without the `?`.
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Claims API Gateway's JWT authorizer verified (deployed shape only).
    pub verified_claims: Option<Map<String, Value>>,
}

impl ApiRequest {
    /// A request with its id settled from its headers, and no verified claims.
    pub fn new(method: Method, path: String, query: String, headers: HeaderMap, body: Bytes) -> Self {
        ApiRequest {
            id: request_id(&headers),
            method,
            path,
            query,
            headers,
            body,
            verified_claims: None,
        }
    }

    /// A request from an HTTP request's head and its (already read) body.
    pub fn from_parts(parts: http::request::Parts, body: Bytes) -> Self {
        let path = parts.uri.path().to_string();
        let query = parts.uri.query().unwrap_or("").to_string();
        ApiRequest::new(parts.method, path, query, parts.headers, body)
    }
}

pub type ApiResponse = http::Response<Bytes>;

/// Routes and answers a request (the local server).
pub async fn handle(app: &App, request: ApiRequest) -> ApiResponse {
    let resolved = routes::resolve(&request.method, &request.path);
    respond(app, &request, resolved).await
}

/// The answer when a request cannot finish in time (a Lambda near its deadline): 503 with
/// `Retry-After` and the request's id, instead of the platform's opaque timeout error.
pub fn out_of_time_response(request: &ApiRequest) -> ApiResponse {
    tracing::warn!(request_id = %request.id, "answering 503: the request would outlive the function's deadline");
    let mut response = problem::problem_response(&Error::Unavailable("out of time".into()));
    if let Ok(value) = HeaderValue::from_str(&request.id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Answers a request API Gateway already routed to `route`, with its path parameter (a Lambda).
pub async fn handle_routed(
    app: &App,
    route: &'static Route,
    path_param: Option<&str>,
    request: &ApiRequest,
) -> ApiResponse {
    respond(app, request, Ok((route, path_param))).await
}

async fn respond(
    app: &App,
    request: &ApiRequest,
    resolved: Result<(&'static Route, Option<&str>), Error>,
) -> ApiResponse {
    let started = Instant::now();
    let route = resolved.as_ref().ok().map(|(route, _)| *route);
    async {
        // Checks run in the contract's order: size, route, method, then the operation's own.
        let outcome = if request.body.len() > MAX_BODY_BYTES {
            Err(Error::PayloadTooLarge)
        } else {
            match resolved {
                Ok((route, param)) => run(app, route, param, request).await,
                Err(error) => Err(error),
            }
        };
        finish(&request.id, Some(&request.method), route, started, outcome)
    }
    .instrument(request_span(request))
    .await
}

/// The span of one request: every line logged while answering it carries its `request_id`.
fn request_span(request: &ApiRequest) -> tracing::Span {
    tracing::info_span!("request", request_id = %request.id)
}

/// Answers a request the deployed API matched to none of its routes (API Gateway's `$default`
/// route): 413, 404, or 405 with `Allow`, exactly as [`handle`] answers it, without a store. It
/// never runs an operation: a request that reaches it is one the gateway did not route, so even
/// one whose method and path the route table knows (which API Gateway's own matching rules out)
/// gets 404 rather than being served without the gateway's authorizer.
pub fn answer_unrouted(request: &ApiRequest) -> ApiResponse {
    let _request = request_span(request).entered();
    let started = Instant::now();
    let outcome = if request.body.len() > MAX_BODY_BYTES {
        Err(Error::PayloadTooLarge)
    } else {
        match routes::resolve_key(&request.method, &request.path) {
            Ok(_) => Err(Error::NotFound(format!("there is no route {}", request.path))),
            Err(error) => Err(error),
        }
    };
    finish(&request.id, Some(&request.method), None, started, outcome)
}

/// Answers with `error` a request the local server does not route: one it turns away (it is
/// serving as many connections as it may), or one whose body it could not read. Logged and
/// counted like every other answer.
pub fn refuse(request: &ApiRequest, error: Error) -> ApiResponse {
    let _request = request_span(request).entered();
    finish(&request.id, Some(&request.method), None, Instant::now(), Err(error))
}

/// Answers with `error` a request whose head the local server's HTTP library refused (malformed,
/// or over its limits) before any of it could be read: no method, path or `X-Request-Id` is
/// known, so the answer carries a fresh id.
pub fn refuse_unread(error: Error) -> ApiResponse {
    let id = ulid::Ulid::new().to_string();
    let _request = tracing::info_span!("request", request_id = %id).entered();
    finish(&id, None, None, Instant::now(), Err(error))
}

/// Every answer's last step: failures become problem+json (logged when they are ours), the
/// request id goes on the response, and one log line records the request.
fn finish(
    request_id: &str,
    method: Option<&Method>,
    route: Option<&Route>,
    started: Instant,
    outcome: Result<ApiResponse, Error>,
) -> ApiResponse {
    let (operation, route) = route.map_or(("none", "unmatched"), |r| (r.function, r.path));
    let mut problem = None;
    let mut response = match outcome {
        Ok(response) => response,
        Err(error) => {
            match &error {
                Error::Internal(cause) => {
                    tracing::error!(operation, route, cause = %cause, "request failed")
                }
                Error::Unavailable(cause) => {
                    tracing::warn!(operation, route, cause = %cause, "service unavailable")
                }
                _ => {}
            }
            problem = Some(problem::problem_type(&error));
            problem::problem_response(&error)
        }
    };
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    crate::metrics::request_answered(operation, response.status().as_u16(), started.elapsed());
    // Milliseconds with microseconds in the fraction: what dashboards and the runbook read.
    let latency_ms = started.elapsed().as_secs_f64() * 1_000.0;
    tracing::info!(
        method = method.map(Method::as_str),
        operation,
        route,
        status = response.status().as_u16(),
        problem,
        latency_ms,
        "request"
    );
    response
}

/// The caller's `X-Request-Id` when it is 1–128 characters of `[A-Za-z0-9._-]`, else a fresh one.
fn request_id(headers: &HeaderMap) -> String {
    let given = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).filter(|id| {
        (1..=128).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    });
    match given {
        Some(id) => id.to_string(),
        None => ulid::Ulid::new().to_string(),
    }
}

async fn run(app: &App, route: &Route, param: Option<&str>, request: &ApiRequest) -> Result<ApiResponse, Error> {
    let caller = match route.access {
        Access::Public => None,
        access => {
            let caller = authenticate(app, request)?;
            if access == Access::Admin && !caller.is_admin {
                return Err(Error::Forbidden {
                    needs: routes::ADMIN_ROLE,
                });
            }
            Some(caller)
        }
    };
    let call = endpoints::Call {
        request,
        caller: caller.as_ref(),
        param,
    };
    (route.handler)(app, call).await
}

fn authenticate(app: &App, request: &ApiRequest) -> Result<Caller, Error> {
    let unauthenticated = |reason: &str| Error::Unauthenticated(reason.to_string());
    let verified;
    let claims = match &app.authenticator {
        Authenticator::GatewayClaims => request
            .verified_claims
            .as_ref()
            .ok_or_else(|| unauthenticated("no verified claims"))?,
        Authenticator::Hs256(key) => {
            let value = request
                .headers
                .get(header::AUTHORIZATION)
                .ok_or_else(|| unauthenticated("the Authorization header is missing"))?;
            let token = value
                .to_str()
                .ok()
                .and_then(bearer_token)
                .ok_or_else(|| unauthenticated("the Authorization header is not a Bearer token"))?;
            verified = key
                .verify(token, app.now())
                .map_err(|e| Error::Unauthenticated(e.to_string()))?;
            &verified
        }
    };
    Caller::from_claims(claims).map_err(|e| Error::Unauthenticated(e.to_string()))
}

/// The token of an `Authorization: Bearer <token>` value. The scheme's name is case-insensitive
/// (RFC 7235, 2.1: `bearer` and `BEARER` are `Bearer`), and one or more spaces follow it.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("Bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_with(method: Method, path: &str, body_len: usize, id: Option<&'static str>) -> ApiRequest {
        let mut builder = http::Request::builder().method(method).uri(path);
        if let Some(id) = id {
            builder = builder.header(REQUEST_ID, id);
        }
        let (parts, ()) = builder.body(()).unwrap_or_else(|e| panic!("{e}")).into_parts();
        ApiRequest::from_parts(parts, Bytes::from(vec![b'x'; body_len]))
    }

    fn request(method: Method, path: &str, body_len: usize) -> ApiRequest {
        request_with(method, path, body_len, None)
    }

    fn problem_type(response: &ApiResponse) -> String {
        let body: Value = serde_json::from_slice(response.body()).unwrap_or_else(|e| panic!("not JSON: {e}"));
        match body["type"].as_str() {
            Some(slug) => slug.to_string(),
            None => panic!("a problem without a type: {body}"),
        }
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in [
            "Bearer t.o.k",
            "bearer t.o.k",
            "BEARER t.o.k",
            "bEaReR t.o.k",
            "Bearer   t.o.k ",
        ] {
            assert_eq!(bearer_token(value), Some("t.o.k"), "{value:?}");
        }
        for value in ["Basic t.o.k", "Bearer", "Bearert.o.k", "Token t.o.k", "t.o.k", ""] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
        assert_eq!(
            bearer_token("Bearer "),
            Some(""),
            "an empty token is the verifier's to refuse"
        );
    }

    #[test]
    fn unrouted_requests_get_the_routers_404_and_405() {
        let response = answer_unrouted(&request(Method::DELETE, "/v1/products/01ABC", 0));
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()[header::ALLOW], "GET, PATCH");
        assert!(problem_type(&response).ends_with("/method-not-allowed"));
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json");

        let response = answer_unrouted(&request(Method::GET, "/v2/anything", 0));
        assert_eq!(response.status(), 404);
        assert!(problem_type(&response).ends_with("/not-found"));
        assert!(response.headers().contains_key(REQUEST_ID));
    }

    #[test]
    fn unrouted_requests_check_the_body_size_first() {
        let response = answer_unrouted(&request(Method::POST, "/v2/anything", MAX_BODY_BYTES + 1));
        assert_eq!(response.status(), 413);
        let response = answer_unrouted(&request(Method::POST, "/v2/anything", MAX_BODY_BYTES));
        assert_eq!(response.status(), 404);
    }

    #[test]
    fn the_request_id_is_the_callers_when_usable_and_carried_by_the_answer() {
        let given = request_with(Method::GET, "/v2/anything", 0, Some("caller-7"));
        assert_eq!(given.id, "caller-7");
        assert_eq!(answer_unrouted(&given).headers()[REQUEST_ID], "caller-7");

        let fresh = request_with(Method::GET, "/v2/anything", 0, Some("not valid!"));
        assert_ne!(fresh.id, "not valid!");
        assert_eq!(fresh.id.len(), 26, "a ULID");
        assert_eq!(answer_unrouted(&fresh).headers()[REQUEST_ID], fresh.id.as_str());
    }

    #[test]
    fn refusals_are_problems_with_a_request_id() {
        let known = request_with(Method::POST, "/v1/orders", 0, Some("caller-8"));
        let response = refuse(&known, Error::Unavailable("at the connection limit".into()));
        assert_eq!(response.status(), 503);
        assert!(problem_type(&response).ends_with("/unavailable"));
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        assert_eq!(response.headers()[REQUEST_ID], "caller-8");

        let first = refuse_unread(Error::invalid("head", "malformed"));
        let second = refuse_unread(Error::invalid("head", "malformed"));
        assert_eq!(first.status(), 400);
        assert!(problem_type(&first).ends_with("/validation"));
        assert_eq!(first.headers()[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(first.headers()[REQUEST_ID].len(), 26, "a ULID");
        assert_ne!(first.headers()[REQUEST_ID], second.headers()[REQUEST_ID]);
    }

    #[test]
    fn a_known_route_that_reaches_the_catch_all_is_not_served() {
        // Protected or not, it is never run without the gateway's authorizer in front of it.
        for (method, path) in [(Method::GET, "/v1/health"), (Method::POST, "/v1/orders")] {
            let response = answer_unrouted(&request(method, path, 0));
            assert_eq!(response.status(), 404, "{path}");
        }
    }
}
