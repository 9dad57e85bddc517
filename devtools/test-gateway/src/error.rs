//! Why a request got no answer from a function, and the one place that turns each reason into
//! API Gateway's own answer: a status and `{"message": ...}`, never the function's words.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};
use orderly_core::auth::JwtError;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("no token in the Authorization header")]
    NoToken,
    #[error("the token is refused: {0}")]
    TokenRefused(#[from] JwtError),
    #[error("the request body is larger than {} bytes", crate::MAX_BODY_BYTES)]
    BodyTooLarge,
    #[error("the request body could not be read")]
    UnreadableBody,
    #[error("the Lambda endpoint cannot be reached")]
    LambdaUnreachable(#[source] reqwest::Error),
    #[error("the Invoke API refused the invocation ({status}): {detail}")]
    InvokeRefused { status: StatusCode, detail: String },
    #[error("the function failed: {0}")]
    FunctionFailed(String),
    #[error("the function's answer is not a valid response: {0}")]
    InvalidAnswer(String),
}

impl GatewayError {
    /// The status API Gateway answers with, and its message.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::NoToken | GatewayError::TokenRefused(_) => StatusCode::UNAUTHORIZED,
            GatewayError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::UnreadableBody => StatusCode::BAD_REQUEST,
            GatewayError::LambdaUnreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::InvokeRefused { .. } | GatewayError::FunctionFailed(_) | GatewayError::InvalidAnswer(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    pub fn to_response(&self) -> Response<Bytes> {
        let status = self.status();
        let message = match status {
            // API Gateway's wording, which is not always the status's canonical reason.
            StatusCode::PAYLOAD_TOO_LARGE => "Request Entity Too Large",
            other => other.canonical_reason().unwrap_or("Error"),
        };
        let mut response = Response::new(Bytes::from(serde_json::json!({ "message": message }).to_string()));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_gets_api_gateways_answer() {
        for (error, status, body) in [
            (GatewayError::NoToken, 401, r#"{"message":"Unauthorized"}"#),
            (
                GatewayError::TokenRefused(JwtError::Expired),
                401,
                r#"{"message":"Unauthorized"}"#,
            ),
            (
                GatewayError::BodyTooLarge,
                413,
                r#"{"message":"Request Entity Too Large"}"#,
            ),
            (GatewayError::UnreadableBody, 400, r#"{"message":"Bad Request"}"#),
            (
                GatewayError::FunctionFailed("boom".into()),
                500,
                r#"{"message":"Internal Server Error"}"#,
            ),
            (
                GatewayError::InvalidAnswer("no".into()),
                500,
                r#"{"message":"Internal Server Error"}"#,
            ),
            (
                GatewayError::InvokeRefused {
                    status: StatusCode::NOT_FOUND,
                    detail: "no such function".into(),
                },
                500,
                r#"{"message":"Internal Server Error"}"#,
            ),
        ] {
            let response = error.to_response();
            assert_eq!(response.status().as_u16(), status, "{error}");
            assert_eq!(response.body(), body.as_bytes(), "{error}");
            assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        }
    }
}
