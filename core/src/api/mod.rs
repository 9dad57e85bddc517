//! HTTP in, HTTP out: the contract's mapping around the services. Both shapes enter here: the
//! local server through [`handle`] (which routes), a Lambda function through [`handle_operation`]
//! (API Gateway already routed). Every failure becomes a response; nothing here returns `Err`.

pub mod cursor;
mod endpoints;
pub mod input;
pub mod problem;
pub mod routes;

pub use routes::{Access, Operation, ROUTES};

use crate::auth::{Authenticator, Caller};
use crate::{App, Error};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method};
use serde_json::{Map, Value};
use std::time::Instant;

/// Request bodies over this many bytes get 413 before anything else is looked at.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub const REQUEST_ID: &str = "x-request-id";

/// A request as the core sees it, whichever runtime delivered it.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
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
    /// A request from an HTTP request's head and its (already read) body.
    pub fn from_parts(parts: http::request::Parts, body: Bytes) -> Self {
        ApiRequest {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
            headers: parts.headers,
            body,
            verified_claims: None,
        }
    }
}

pub type ApiResponse = http::Response<Bytes>;

/// Routes and answers a request (the local server).
pub async fn handle(app: &App, request: ApiRequest) -> ApiResponse {
    let resolved = routes::resolve(&request.method, &request.path).map(|(op, param)| (op, param.map(str::to_string)));
    respond(app, &request, resolved).await
}

/// The answer when a request cannot finish in time (a Lambda near its deadline): 503 with
/// `Retry-After` and the request's id, instead of the platform's opaque timeout error.
pub fn out_of_time_response(request: &ApiRequest) -> ApiResponse {
    let request_id = request_id(request);
    tracing::warn!(request_id = %request_id, "answering 503: the request would outlive the function's deadline");
    let mut response = problem::problem_response(&Error::Unavailable("out of time".into()));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Answers a request for an operation already routed, with its path parameter (a Lambda).
pub async fn handle_operation(
    app: &App,
    operation: Operation,
    path_param: Option<String>,
    request: ApiRequest,
) -> ApiResponse {
    respond(app, &request, Ok((operation, path_param))).await
}

async fn respond(app: &App, request: &ApiRequest, resolved: Result<(Operation, Option<String>), Error>) -> ApiResponse {
    let started = Instant::now();
    let request_id = request_id(request);
    let route = resolved.as_ref().map(|(op, _)| op.route()).unwrap_or("unmatched");
    // Checks run in the contract's order: size, route, method, then the operation's own.
    let outcome = if request.body.len() > MAX_BODY_BYTES {
        Err(Error::PayloadTooLarge)
    } else {
        match resolved {
            Ok((operation, param)) => run(app, operation, param.as_deref(), request).await,
            Err(error) => Err(error),
        }
    };
    let mut response = match outcome {
        Ok(response) => response,
        Err(error) => {
            match &error {
                Error::Internal(cause) => {
                    tracing::error!(request_id = %request_id, route, cause = %cause, "request failed")
                }
                Error::Unavailable(cause) => {
                    tracing::warn!(request_id = %request_id, route, cause = %cause, "store unavailable")
                }
                _ => {}
            }
            problem::problem_response(&error)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    tracing::info!(
        request_id = %request_id,
        method = %request.method,
        route,
        status = response.status().as_u16(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    response
}

/// The caller's `X-Request-Id` when it is 1–128 characters of `[A-Za-z0-9._-]`, else a fresh one.
fn request_id(request: &ApiRequest) -> String {
    let given = request
        .headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
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

async fn run(app: &App, operation: Operation, param: Option<&str>, request: &ApiRequest) -> Result<ApiResponse, Error> {
    match operation.access() {
        Access::Public => endpoints::public(app, operation, param, request).await,
        access => {
            let caller = authenticate(app, request)?;
            if access == Access::Admin && !caller.is_admin {
                return Err(Error::Forbidden);
            }
            endpoints::protected(app, operation, &caller, param, request).await
        }
    }
}

fn authenticate(app: &App, request: &ApiRequest) -> Result<Caller, Error> {
    let claims = match &app.authenticator {
        Authenticator::GatewayClaims => request
            .verified_claims
            .clone()
            .ok_or(Error::Unauthenticated("no verified claims"))?,
        Authenticator::Hs256(key) => {
            let value = request
                .headers
                .get(header::AUTHORIZATION)
                .ok_or(Error::Unauthenticated("the Authorization header is missing"))?;
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                .map(str::trim)
                .ok_or(Error::Unauthenticated("the Authorization header is not a Bearer token"))?;
            key.verify(token, app.now())
                .map_err(|e| Error::Unauthenticated(jwt_reason(&e)))?
        }
    };
    Caller::from_claims(&claims).map_err(|_| Error::Unauthenticated("the token has no usable sub claim"))
}

fn jwt_reason(error: &crate::auth::JwtError) -> &'static str {
    use crate::auth::JwtError::*;
    match error {
        Malformed => "the token is not a well-formed JWT",
        WrongAlgorithm => "the token's algorithm is not HS256",
        BadSignature => "the token's signature is wrong",
        MissingExpiry => "the token has no exp claim",
        Expired => "the token has expired",
        NotYetValid => "the token is not valid yet",
    }
}
