//! `/v1/payments/webhook`: the payment provider tells us an order was paid (or not).

use super::{json, ApiRequest, ApiResponse};
use crate::api::input::{header_text, integer, json_body, string, Checker};
use crate::auth::webhook::verify_signature;
use crate::services::payments::{self, PaymentEvent, PaymentOutcome};
use crate::{App, Error};
use http::StatusCode;
use serde::Serialize;

const MAX_TEXT: usize = 255;

fn bounded(value: &serde_json::Value) -> Result<String, String> {
    let text = string(value)?;
    if text.is_empty() || text.len() > MAX_TEXT {
        return Err(format!("must be 1 to {MAX_TEXT} characters"));
    }
    Ok(text.to_string())
}

pub async fn webhook(app: &App, request: &ApiRequest) -> Result<ApiResponse, Error> {
    // The signature is this route's authentication, so it is checked before anything else.
    let signature = header_text(request, "Webhook-Signature").unwrap_or(None);
    verify_signature(&app.settings.webhook_secret, signature, &request.body, app.now())
        .map_err(|e| Error::InvalidSignature(signature_reason(e)))?;

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
    checker.finish()?;
    let event = event.ok_or_else(|| Error::invalid("$", "is not a payment event"))?;
    payments::receive_payment(app, &event).await?;

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
