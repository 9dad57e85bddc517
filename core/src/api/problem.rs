//! The one place where errors become answers: RFC 9457 problem+json with the contract's slugs.
//! A 5xx says nothing about its cause; the cause goes to the log with the request id.

use super::ApiResponse;
use crate::domain::HoldingLimit;
use crate::{Error, FieldError};
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

/// Seconds a client should wait before retrying when the store is unavailable.
pub const RETRY_AFTER_SECONDS: &str = "5";

/// Status, slug and title of each error.
fn classify(error: &Error) -> (StatusCode, &'static str, &'static str) {
    match error {
        Error::Validation(_) => (StatusCode::BAD_REQUEST, "validation", "The request is not valid"),
        Error::Unauthenticated(_) => (
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Authentication is required",
        ),
        Error::InvalidSignature(_) => (
            StatusCode::UNAUTHORIZED,
            "invalid-signature",
            "The webhook signature is not valid",
        ),
        Error::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden", "You are not allowed to do this"),
        Error::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
        Error::MethodNotAllowed { .. } => (
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
        ),
        Error::SkuTaken(_) => (StatusCode::CONFLICT, "sku-taken", "The SKU is taken"),
        Error::InsufficientStock(_) => (StatusCode::CONFLICT, "insufficient-stock", "Not enough stock"),
        Error::StockLimit => (StatusCode::CONFLICT, "stock-limit", "Stock limit exceeded"),
        // 409, not 429: the answer depends on what the user holds, not on how fast they ask, and
        // waiting alone does not change it (docs/decisions.md, 11).
        Error::ReservationLimit { .. } => (StatusCode::CONFLICT, "reservation-limit", "Reservation limit reached"),
        Error::InvalidState(_) => (
            StatusCode::CONFLICT,
            "invalid-state",
            "The order cannot change this way",
        ),
        Error::RequestInProgress => (
            StatusCode::CONFLICT,
            "request-in-progress",
            "The request is still in progress",
        ),
        Error::AmountMismatch(_) => (
            StatusCode::CONFLICT,
            "amount-mismatch",
            "The payment does not match the order",
        ),
        Error::VersionMismatch { .. } => (
            StatusCode::PRECONDITION_FAILED,
            "version-mismatch",
            "The version does not match",
        ),
        Error::PayloadTooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "The request body is too large",
        ),
        Error::UnsupportedMediaType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        ),
        Error::IdempotencyKeyReused => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "The Idempotency-Key was reused",
        ),
        Error::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The service is unavailable",
        ),
        Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
    }
}

/// What the client may read about the error.
fn public_detail(error: &Error) -> String {
    match error {
        Error::Validation(errors) if errors.len() == 1 => format!("{}: {}", errors[0].field, errors[0].message),
        Error::Validation(errors) => format!("{} fields are not valid", errors.len()),
        Error::Unavailable(_) => "the service is temporarily unavailable; retry later".into(),
        Error::Internal(_) => "an internal error occurred".into(),
        Error::InsufficientStock(id) => format!("product {id} does not have enough stock"),
        Error::ReservationLimit {
            limit,
            most,
            order_units,
        } => reservation_limit_detail(*limit, *most, *order_units),
        other => other.to_string(),
    }
}

/// Names the limit that refused the order and its value, and what the user can do about it.
fn reservation_limit_detail(limit: HoldingLimit, most: u32, order_units: u64) -> String {
    match limit {
        HoldingLimit::UnpaidOrders => format!(
            "you already hold {most} unpaid orders, the most a user may hold at once; \
             pay or cancel one before placing another"
        ),
        HoldingLimit::ReservedUnits if order_units > u64::from(most) => format!(
            "this order reserves {order_units} units, more than the {most} units a user may hold \
             in unpaid orders at once; order fewer units"
        ),
        HoldingLimit::ReservedUnits => format!(
            "this order's {order_units} units would take the units held by your unpaid orders above \
             {most}, the most a user may hold at once; pay or cancel an order, or order fewer units"
        ),
    }
}

/// The error's problem type, as its answer names it (`insufficient-stock`): what the request log
/// line records for every answer that is a problem.
pub fn problem_type(error: &Error) -> &'static str {
    classify(error).1
}

pub fn problem_response(error: &Error) -> ApiResponse {
    let (status, slug, title) = classify(error);
    let problem = Problem {
        kind: format!("/problems/{slug}"),
        title,
        status: status.as_u16(),
        detail: public_detail(error),
        errors: match error {
            Error::Validation(errors) => Some(errors),
            _ => None,
        },
    };
    let body = serde_json::to_vec(&problem).unwrap_or_else(|_| br#"{"type":"/problems/internal"}"#.to_vec());
    let mut response = http::Response::new(Bytes::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    match error {
        Error::MethodNotAllowed { allow } => {
            if let Ok(value) = HeaderValue::from_str(allow) {
                headers.insert(header::ALLOW, value);
            }
        }
        Error::Unavailable(_) => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        _ => {}
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_keep_their_cause_out_of_the_body() {
        for error in [
            Error::Internal("db path /secret/x".into()),
            Error::Unavailable("dial tcp 10.0.0.1".into()),
        ] {
            let response = problem_response(&error);
            let body = String::from_utf8_lossy(response.body()).to_string();
            assert!(!body.contains("secret") && !body.contains("10.0.0.1"), "{body}");
        }
        let unavailable = problem_response(&Error::Unavailable("x".into()));
        assert_eq!(unavailable.status(), 503);
        assert!(unavailable.headers().contains_key(header::RETRY_AFTER));
    }

    #[test]
    fn a_forbidden_answer_names_what_is_missing() {
        let response = problem_response(&Error::Forbidden {
            needs: crate::api::routes::ADMIN_ROLE,
        });
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap_or_default();
        assert_eq!(response.status(), 403);
        assert_eq!(body["type"], "/problems/forbidden");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with("this operation needs the admin role"), "{detail}");
    }

    #[test]
    fn a_reservation_limit_answer_names_the_limit_and_its_value() {
        let answer = |limit, most, order_units| {
            let response = problem_response(&Error::ReservationLimit {
                limit,
                most,
                order_units,
            });
            let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap_or_default();
            assert_eq!(response.status(), 409);
            assert_eq!(body["type"], "/problems/reservation-limit");
            assert_eq!(body["status"], 409);
            assert!(body.get("errors").is_none());
            body["detail"].as_str().unwrap_or_default().to_string()
        };
        assert_eq!(
            answer(HoldingLimit::UnpaidOrders, 10, 1),
            "you already hold 10 unpaid orders, the most a user may hold at once; \
             pay or cancel one before placing another"
        );
        let units = answer(HoldingLimit::ReservedUnits, 500, 40);
        assert!(
            units.starts_with("this order's 40 units would take the units held by your unpaid orders above 500,"),
            "{units}"
        );
        let alone = answer(HoldingLimit::ReservedUnits, 500, 501);
        assert!(
            alone.starts_with("this order reserves 501 units, more than the 500 units"),
            "{alone}"
        );
    }

    #[test]
    fn validation_problems_list_their_fields() {
        let response = problem_response(&Error::invalid("items[0].quantity", "must be an integer from 1 to 100"));
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap_or_default();
        assert_eq!(body["type"], "/problems/validation");
        assert_eq!(body["status"], 400);
        assert_eq!(body["errors"][0]["field"], "items[0].quantity");
    }
}
