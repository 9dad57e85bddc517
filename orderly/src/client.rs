//! Developer tools that talk to a running server: dev tokens and signed test webhooks.

use orderly_core::auth::webhook::sign;
use orderly_core::auth::Hs256Key;
use orderly_core::config::Secret;
use orderly_core::domain::Timestamp;
use orderly_core::ports::{Clock, SystemClock};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the server at {0}: {1}")]
    Http(SocketAddr, reqwest::Error),
    #[error("cannot read order {order_id}: the server answered {status}: {body}")]
    OrderLookup {
        order_id: String,
        status: u16,
        body: String,
    },
}

/// A token the server accepts: with the `iss` and `aud` its rules expect, when they name them.
pub fn mint_token(key: &Hs256Key, sub: &str, admin: bool, email: Option<&str>, ttl_seconds: i64) -> String {
    let now = SystemClock.now().as_unix_seconds();
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(sub));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now.saturating_add(ttl_seconds)));
    if let Some(issuer) = &key.rules().issuer {
        claims.insert("iss".into(), json!(issuer));
    }
    if let Some(audience) = &key.rules().audience {
        claims.insert("aud".into(), json!(audience));
    }
    if let Some(email) = email {
        claims.insert("email".into(), json!(email));
    }
    if admin {
        claims.insert("groups".into(), json!(["admin"]));
    }
    key.sign(&claims)
}

/// Looks the order up (as an admin) to learn its total, then sends a signed payment event for
/// exactly that amount. Returns the server's status line and body.
pub async fn send_webhook(
    addr: SocketAddr,
    jwt: &Hs256Key,
    webhook_secret: &Secret,
    order_id: &str,
    succeeded: bool,
    event_id: Option<String>,
) -> Result<String, ClientError> {
    let http = reqwest::Client::new();
    let base = format!("http://{addr}/v1");
    let fail = |e| ClientError::Http(addr, e);
    let token = mint_token(jwt, "orderly-webhook-tool", true, None, 60);
    let response = http
        .get(format!("{base}/orders/{order_id}"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(fail)?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(fail)?;
    let order: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status != 200 {
        return Err(ClientError::OrderLookup {
            order_id: order_id.into(),
            status,
            body: text,
        });
    }
    let event = json!({
        "id": event_id.unwrap_or_else(|| format!("evt_{}", ulid::Ulid::new())),
        "type": if succeeded { "payment.succeeded" } else { "payment.failed" },
        "order_id": order_id,
        "amount_cents": order["total_cents"],
        "currency": order["currency"],
    });
    let body = event.to_string();
    let signature = sign(
        webhook_secret,
        body.as_bytes(),
        Timestamp::from_millis(SystemClock.now().as_millis()),
    );
    let response = http
        .post(format!("{base}/payments/webhook"))
        .header("content-type", "application/json")
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(fail)?;
    let status = response.status();
    let text = response.text().await.map_err(fail)?;
    Ok(format!("{status}\n{text}"))
}
