//! API Gateway HTTP API (payload 2.0) events in and out. `lambda_http` has already decoded a
//! base64 body and taken the path as API Gateway delivered it (`rawPath`: with
//! `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true` it adds no stage of its own, but a named stage is
//! still in front, `/prod/v1/...`). What is left is to hand the core the verified claims and the
//! route's path parameter, or, for the `$default` route, the path without its stage.

use bytes::Bytes;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use orderly_core::api::{ApiRequest, ApiResponse, Route};
use serde_json::{Map, Value};

/// The core's request, and the route's one path parameter (`{id}` or `{date}`), if it has one.
pub fn api_request(request: Request, route: &Route) -> (ApiRequest, Option<String>) {
    let path_parameter = route.path_parameter.and_then(|name| {
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
    if let Some(path) = stage.and_then(|stage| path_without_stage(&core.path, &stage)) {
        core.path = path;
    }
    core
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

#[cfg(test)]
mod tests {
    use super::path_without_stage;

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
}
