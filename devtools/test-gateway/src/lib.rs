//! For tests only: API Gateway (an HTTP API with payload format 2.0 and a JWT authorizer) in
//! front of the Lambda functions that `sam local start-lambda` runs, so the black-box HTTP suite
//! can run against the functions as deployed. SAM's own `start-api` has no JWT authorizer, and
//! the functions rightly trust only the claims a gateway verified; this one verifies tokens as
//! the local server does (the same variables, `TokenRules::from_vars`) and hands the claims on as
//! API Gateway does. Nothing here is deployed.
//!
//! `routes` says which function a request goes to, `event` builds what the function receives,
//! `answer` turns its result into the HTTP answer, and `error` maps every failure to API
//! Gateway's own answer.

pub mod answer;
pub mod error;
pub mod event;
pub mod routes;

use crate::answer::Invoked;
use crate::error::GatewayError;
use crate::event::Received;
use crate::routes::RouteTable;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::Router;
use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use orderly_core::auth::jwt::ORDERLY_JWT_SECRET;
use orderly_core::auth::{Hs256Key, TokenRules};
use orderly_core::config::Secret;
use orderly_core::domain::Timestamp;
use orderly_core::ports::{Clock, SystemClock};
use orderly_core::ConfigError;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// API Gateway's limit on a request's payload.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Well above API Gateway's own 30 s: start-lambda may start a container first, and runs one
/// invocation at a time.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot read the routes file {path}: {source}")]
    RoutesFileUnreadable { path: PathBuf, source: std::io::Error },
    #[error("the routes file {path}: {source}")]
    Routes { path: PathBuf, source: routes::RoutesError },
    #[error("--lambda-endpoint must be an http:// URL such as http://127.0.0.1:3001, got {0}")]
    LambdaEndpoint(String),
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("serving failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// The key tokens are verified with, from the variables the local server reads: the secret is
/// required here, since the gateway keeps no data dir to generate one into.
pub fn token_key_from(vars: &HashMap<String, String>) -> Result<Hs256Key, ConfigError> {
    let secret = match vars.get(ORDERLY_JWT_SECRET) {
        None => return Err(ConfigError::new(ORDERLY_JWT_SECRET, "must be set")),
        Some(value) if value.is_empty() => return Err(ConfigError::new(ORDERLY_JWT_SECRET, "must not be empty")),
        Some(value) => Secret::new(value.as_bytes()),
    };
    Ok(Hs256Key::with_rules(secret, TokenRules::from_vars(vars)?))
}

/// The token in an `Authorization` header, bare or after a `Bearer` scheme (in any case).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let token = match value.split_once(char::is_whitespace) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => value,
    };
    (!token.is_empty()).then_some(token)
}

pub struct Gateway {
    routes: RouteTable,
    key: Hs256Key,
    lambda: reqwest::Client,
    /// Without a trailing slash.
    lambda_endpoint: String,
}

impl Gateway {
    pub fn new(routes: RouteTable, key: Hs256Key, lambda_endpoint: &str) -> Result<Self, StartError> {
        let endpoint = reqwest::Url::parse(lambda_endpoint)
            .ok()
            .filter(|url| url.scheme() == "http" && url.query().is_none())
            .ok_or_else(|| StartError::LambdaEndpoint(lambda_endpoint.to_string()))?;
        let lambda = reqwest::Client::builder()
            .timeout(INVOKE_TIMEOUT)
            .build()
            .map_err(StartError::Client)?;
        Ok(Gateway {
            routes,
            key,
            lambda,
            lambda_endpoint: endpoint.as_str().trim_end_matches('/').to_string(),
        })
    }

    /// Every request, whatever its method and path, comes to the gateway's one handler.
    pub fn into_router(self) -> Router {
        Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(Arc::new(self))
    }

    /// The answer to one request, which always names the request's id as API Gateway does.
    async fn respond(&self, parts: Parts, body: Result<Bytes, GatewayError>, source_ip: IpAddr) -> Response<Bytes> {
        let request_id = ulid::Ulid::new().to_string();
        let mut response = match self.route(&parts, body, source_ip, &request_id).await {
            Ok(response) => response,
            Err(error) => {
                if error.status() != StatusCode::UNAUTHORIZED {
                    eprintln!(
                        "test-gateway: {request_id} {} {}: {}",
                        parts.method,
                        parts.uri.path(),
                        with_causes(&error)
                    );
                }
                error.to_response()
            }
        };
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("apigw-requestid", value);
        }
        response
    }

    async fn route(
        &self,
        parts: &Parts,
        body: Result<Bytes, GatewayError>,
        source_ip: IpAddr,
        request_id: &str,
    ) -> Result<Response<Bytes>, GatewayError> {
        let body = body?;
        let destination = self.routes.find(parts.method.as_str(), parts.uri.path());
        let now = SystemClock.now();
        let claims = if destination.protected {
            Some(self.verified_claims(&parts.headers, now)?)
        } else {
            None
        };
        let received = Received {
            parts,
            body: &body,
            source_ip,
            request_id,
            at: now,
        };
        let event = event::build(received, &destination, claims.as_ref());
        let invoked = self.invoke(destination.function, &event).await?;
        answer::response_from(&invoked)
    }

    /// What API Gateway's JWT authorizer does before the function is even invoked.
    fn verified_claims(&self, headers: &HeaderMap, now: Timestamp) -> Result<Map<String, Value>, GatewayError> {
        let token = bearer_token(headers).ok_or(GatewayError::NoToken)?;
        Ok(self.key.verify(token, now)?)
    }

    /// Lambda's Invoke API, as start-lambda serves it.
    async fn invoke(&self, function: &str, event: &Value) -> Result<Invoked, GatewayError> {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.lambda_endpoint);
        let response = self
            .lambda
            .post(url)
            .json(event)
            .send()
            .await
            .map_err(GatewayError::LambdaUnreachable)?;
        let status = response.status();
        let function_error = response.headers().contains_key("x-amz-function-error");
        let payload = response.bytes().await.map_err(GatewayError::LambdaUnreachable)?;
        if !status.is_success() {
            return Err(GatewayError::InvokeRefused {
                status,
                detail: String::from_utf8_lossy(&payload).chars().take(500).collect(),
            });
        }
        Ok(Invoked {
            function_error,
            payload,
        })
    }
}

/// The error and what caused it: a client error's own message rarely says why.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

async fn handle(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Response<axum::body::Body> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => GatewayError::BodyTooLarge,
        _ => GatewayError::UnreadableBody,
    });
    gateway
        .respond(parts, body, peer.ip())
        .await
        .map(axum::body::Body::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_secret_is_required_and_the_rules_read_as_the_server_reads_them() {
        assert!(token_key_from(&vars(&[])).is_err());
        assert!(token_key_from(&vars(&[(ORDERLY_JWT_SECRET, "")])).is_err());
        let key = token_key_from(&vars(&[(ORDERLY_JWT_SECRET, "s"), ("ORDERLY_JWT_AUDIENCE", "orderly")])).unwrap();
        assert_eq!(key.rules().audience.as_deref(), Some("orderly"));
        let bad_rule = token_key_from(&vars(&[(ORDERLY_JWT_SECRET, "s"), ("ORDERLY_JWT_ISSUER", " x")]));
        assert_eq!(bad_rule.map(|_| ()).map_err(|e| e.variable), Err("ORDERLY_JWT_ISSUER"));
    }

    #[test]
    fn the_token_may_come_bare_or_after_bearer_in_any_case() {
        let token_in = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            bearer_token(&headers).map(str::to_string)
        };
        assert_eq!(token_in("Bearer a.b.c").as_deref(), Some("a.b.c"));
        assert_eq!(token_in("bearer  a.b.c ").as_deref(), Some("a.b.c"));
        assert_eq!(token_in("BEARER a.b.c").as_deref(), Some("a.b.c"));
        assert_eq!(token_in("a.b.c").as_deref(), Some("a.b.c"));
        assert_eq!(token_in("Bearer").as_deref(), Some("Bearer"));
        assert_eq!(token_in("Bearer   ").as_deref(), Some("Bearer"));
        assert_eq!(token_in("").as_deref(), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn the_endpoint_must_be_plain_http() {
        let routes = || RouteTable::from_json(r#"{"routes": [], "default_function": "F"}"#).unwrap();
        let key = || Hs256Key::new(Secret::new("s"));
        assert!(Gateway::new(routes(), key(), "http://127.0.0.1:3001/").is_ok());
        for bad in ["https://127.0.0.1:3001", "127.0.0.1:3001", "", "http://h/?x=1"] {
            assert!(Gateway::new(routes(), key(), bad).is_err(), "{bad}");
        }
    }
}
