//! `/v1/payments/webhook`: the payment provider tells us an order was paid (or not).

use super::{json, ApiRequest, ApiResponse};
use crate::api::input::{header_text, integer, json_body, string, Checker};
use crate::auth::webhook::verify_signature;
use crate::metrics::{self, WebhookRejection};
use crate::services::payments::{self, PaymentEvent, PaymentOutcome};
use crate::{App, Error};
use http::StatusCode;
use serde::Serialize;

const MAX_TEXT: usize = 255;

/// 1–255 characters, counted as openapi.yaml's `maxLength` counts them (code points), not bytes:
/// a client validating against the document must never be refused here.
fn bounded(value: &serde_json::Value) -> Result<String, String> {
    let text = string(value)?;
    if text.is_empty() || text.chars().count() > MAX_TEXT {
        return Err(format!("must be 1 to {MAX_TEXT} characters"));
    }
    Ok(text.to_string())
}

/// [`webhook`], with each refusal counted by its reason (`webhook_rejections`). A failure of ours
/// (503, 500) is not a refusal: the request metrics count it.
pub async fn counted_webhook(app: &App, request: &ApiRequest) -> Result<ApiResponse, Error> {
    let answer = webhook(app, request).await;
    if let Some(reason) = answer.as_ref().err().and_then(rejection) {
        metrics::webhook_rejected(reason);
    }
    answer
}

fn rejection(error: &Error) -> Option<WebhookRejection> {
    match error {
        Error::InvalidSignature(_) => Some(WebhookRejection::InvalidSignature),
        Error::Validation(_) | Error::UnsupportedMediaType => Some(WebhookRejection::Validation),
        Error::NotFound(_) => Some(WebhookRejection::NotFound),
        Error::AmountMismatch(_) => Some(WebhookRejection::AmountMismatch),
        _ => None,
    }
}

pub async fn webhook(app: &App, request: &ApiRequest) -> Result<ApiResponse, Error> {
    // The signature is this route's authentication, so it is checked before anything else.
    let signature = header_text(request, "Webhook-Signature").unwrap_or(None);
    verify_signature(app.webhook_secret()?, signature, &request.body, app.now()).map_err(|e| {
        let reason = signature_reason(e);
        // The reason only: never the header's value or the body.
        tracing::info!(reason, "webhook rejected");
        Error::InvalidSignature(reason)
    })?;

    let body = json_body(request)?;
    let mut checker = Checker::new();
    // Unknown fields are allowed: the provider may add some.
    let event = checker.object(&body, "$").and_then(|object| {
        let id = checker.required(object, "", "id", bounded);
        let outcome = checker.required(object, "", "type", |v| match string(v)? {
            "payment.succeeded" => Ok(PaymentOutcome::Succeeded),
            "payment.failed" => Ok(PaymentOutcome::Failed),
            _ => Err("must be payment.succeeded or payment.failed".to_string()),
        });
        let order_id = checker.required(object, "", "order_id", bounded);
        let amount_cents = checker.required(object, "", "amount_cents", integer);
        let currency = checker.required(object, "", "currency", bounded);
        Some(PaymentEvent {
            id: id?,
            outcome: outcome?,
            order_id: order_id?,
            amount_cents: amount_cents?,
            currency: currency?,
        })
    });
    checker
        .finish()
        .inspect_err(|_| tracing::info!(reason = "not a payment event", "webhook rejected"))?;
    let event = event.ok_or_else(|| Error::invalid("$", "is not a payment event"))?;
    payments::receive_payment(app, &event).await.inspect_err(|error| {
        if let Error::AmountMismatch(_) | Error::NotFound(_) = error {
            tracing::info!(payment_event_id = %event.id, order_id = %event.order_id, reason = %error, "webhook rejected");
        }
    })?;

    #[derive(Serialize)]
    struct Received {
        received: bool,
    }
    json(StatusCode::OK, &Received { received: true })
}

fn signature_reason(error: crate::auth::webhook::SignatureError) -> &'static str {
    use crate::auth::webhook::SignatureError::*;
    match error {
        Missing => "the Webhook-Signature header is missing",
        Malformed => "the Webhook-Signature header is malformed",
        Stale => "the signature's timestamp is more than 300 s from now",
        Mismatch => "the signature does not match",
    }
}
