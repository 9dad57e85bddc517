//! API Gateway HTTP API (payload 2.0) events in and out. `lambda_http` has already decoded a
//! base64 body and, with `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true`, removed the stage from the
//! path; what is left is to hand the core the verified claims and the route's path parameter.

use bytes::Bytes;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use orderly_core::api::{ApiRequest, ApiResponse, Operation};
use serde_json::{Map, Value};

/// The core's request, and the route's one path parameter (`{id}` or `{date}`), if it has one.
pub fn api_request(request: Request, operation: Operation) -> (ApiRequest, Option<String>) {
    let path_parameter = parameter_name(operation).and_then(|name| {
        request
            .path_parameters_ref()
            .and_then(|params| params.first(name))
            .map(str::to_string)
    });
    (core_request(request), path_parameter)
}

/// The core's request: method, path, query, headers, the decoded body and the verified claims.
pub fn core_request(request: Request) -> ApiRequest {
    let verified_claims = verified_claims(&request);
    let (parts, body) = request.into_parts();
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    ApiRequest {
        verified_claims,
        ..ApiRequest::from_parts(parts, body)
    }
}

/// The core's request for the `$default` route, whose answer depends on the whole path: without the
/// stage that API Gateway puts in front of it (`/prod/v1/...`) when the stage is not `$default`.
/// The routed functions need not do this: their path parameter comes from `pathParameters`.
pub fn unrouted_request(request: Request) -> ApiRequest {
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.stage.clone(),
        _ => None,
    };
    let mut core = core_request(request);
    if let Some(stage) = stage.filter(|stage| stage != "$default") {
        let rest = core
            .path
            .strip_prefix('/')
            .and_then(|path| path.strip_prefix(stage.as_str()));
        match rest {
            Some("") => core.path = "/".to_string(),
            Some(rest) if rest.starts_with('/') => core.path = rest.to_string(),
            _ => {}
        }
    }
    core
}

/// `{id}` or `{date}`, as the route template names it.
fn parameter_name(operation: Operation) -> Option<&'static str> {
    let route = operation.route();
    let start = route.find('{')?;
    let end = route[start..].find('}')?;
    Some(&route[start + 1..start + end])
}

/// The claims API Gateway's JWT authorizer verified. HTTP APIs deliver every claim as a string
/// (a groups array arrives as `"[admin staff]"`, which the core understands).
fn verified_claims(request: &Request) -> Option<Map<String, Value>> {
    let RequestContext::ApiGatewayV2(context) = request.request_context_ref()? else {
        return None;
    };
    let jwt = context.authorizer.as_ref()?.jwt.as_ref()?;
    if jwt.claims.is_empty() {
        return None;
    }
    Some(
        jwt.claims
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect(),
    )
}

/// JSON bodies go back as text, so API Gateway passes them through without base64.
pub fn lambda_response(response: ApiResponse) -> Response<Body> {
    response.map(|bytes| match String::from_utf8(bytes.to_vec()) {
        Ok(text) if text.is_empty() => Body::Empty,
        Ok(text) => Body::Text(text),
        Err(binary) => Body::Binary(binary.into_bytes()),
    })
}
