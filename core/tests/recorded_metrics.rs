//! The business metrics are recorded where their events happen: requests through the core's HTTP
//! entry, orders placed with their value, stock-outs, idempotent replays, refusals by the
//! reservation limit and each kind of webhook refusal. Recorded into a Prometheus recorder local
//! to the test (`metrics::with_local_recorder`), so tests running at once never see each other's
//! counts, and read back from its text.

use bytes::Bytes;
use http::{header, Method};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use orderly_core::api::{self, ApiRequest};
use orderly_core::auth::webhook::sign;
use orderly_core::auth::Authenticator;
use orderly_core::config::{Secret, Secrets};
use orderly_core::domain::{Price, ProductName, Sku, Stock, Timestamp, UserId};
use orderly_core::ports::{FixedClock, UlidGenerator};
use orderly_core::services::catalog::{self, NewProduct};
use orderly_core::{App, Settings};
use orderly_store_memory::MemoryStore;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

const WEBHOOK_SECRET: &str = "metrics-test-webhook-secret";
const NOW: Timestamp = Timestamp::from_millis(1_795_000_000_000);

/// Runs `scenario` against a fresh shop with its own recorder; what the recorder then renders.
fn recorded<F, Fut>(scenario: F) -> String
where
    F: FnOnce(App) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle: PrometheusHandle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    // A current-thread runtime polls on this thread, where the local recorder is in force.
    metrics::with_local_recorder(&recorder, || runtime.block_on(scenario(shop())));
    handle.render()
}

fn shop() -> App {
    let clock = Arc::new(FixedClock::at(NOW));
    let settings = Settings::from_vars(
        &HashMap::new(),
        Secrets::both(Secret::new(WEBHOOK_SECRET), Secret::new("cursor-key")),
    )
    .unwrap_or_else(|e| panic!("settings: {e}"));
    App::new(
        Arc::new(MemoryStore::new()),
        clock.clone(),
        Arc::new(UlidGenerator::new(clock)),
        settings,
        Authenticator::GatewayClaims,
    )
}

/// A product of `units` at 12.50; its id.
async fn product(app: &App, sku: &str, units: i64) -> String {
    let new = NewProduct {
        sku: Sku::parse(sku).unwrap_or_else(|e| panic!("{e}")),
        name: ProductName::parse("Teapot").unwrap_or_else(|e| panic!("{e}")),
        description: None,
        price: Price::parse(1_250).unwrap_or_else(|e| panic!("{e}")),
        stock: Stock::parse(units).unwrap_or_else(|e| panic!("{e}")),
    };
    let product = catalog::create_product(app, new)
        .await
        .unwrap_or_else(|e| panic!("create_product: {e:?}"));
    product.id.to_string()
}

fn request(method: Method, path: &str, headers: &[(&str, &str)], body: &Value) -> ApiRequest {
    let mut builder = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let (parts, ()) = builder.body(()).unwrap_or_else(|e| panic!("{e}")).into_parts();
    let body = if body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(body.to_string())
    };
    ApiRequest::from_parts(parts, body)
}

/// `POST /v1/orders` by a buyer, as API Gateway's authorizer would hand it over; the status.
async fn order(app: &App, product: &str, quantity: i64, key: Option<&str>) -> u16 {
    let mut headers = vec![(header::CONTENT_TYPE.as_str(), "application/json")];
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    let body = json!({"items": [{"product_id": product, "quantity": quantity}]});
    let mut request = request(Method::POST, "/v1/orders", &headers, &body);
    let mut claims = Map::new();
    claims.insert("sub".into(), Value::from("buyer-1"));
    request.verified_claims = Some(claims);
    api::handle(app, request).await.status().as_u16()
}

/// `POST /v1/payments/webhook` with `body`, signed (or not); the status.
async fn webhook(app: &App, body: &Value, signed: bool) -> u16 {
    let raw = body.to_string();
    let signature = sign(&Secret::new(WEBHOOK_SECRET), raw.as_bytes(), NOW);
    let mut headers = vec![(header::CONTENT_TYPE.as_str(), "application/json")];
    if signed {
        headers.push(("webhook-signature", signature.as_str()));
    }
    api::handle(app, request(Method::POST, "/v1/payments/webhook", &headers, body))
        .await
        .status()
        .as_u16()
}

fn line<'a>(text: &'a str, series: &str) -> Option<&'a str> {
    text.lines()
        .find(|line| line.strip_prefix(series).is_some_and(|rest| rest.starts_with(' ')))
}

fn assert_count(text: &str, series: &str, count: u64) {
    match line(text, series) {
        Some(found) => assert_eq!(found, format!("{series} {count}"), "{text}"),
        None => panic!("no {series} in:\n{text}"),
    }
}

#[test]
fn every_answer_is_counted_by_operation_and_status_class_with_its_latency() {
    let text = recorded(|app| async move {
        let health = api::handle(&app, request(Method::GET, "/v1/health", &[], &Value::Null)).await;
        assert_eq!(health.status(), 200);
        let nowhere = api::handle(&app, request(Method::GET, "/v2/nowhere", &[], &Value::Null)).await;
        assert_eq!(nowhere.status(), 404);
    });
    assert_count(&text, r#"requests{operation="check-health",status_class="2xx"}"#, 1);
    assert_count(&text, r#"requests{operation="none",status_class="4xx"}"#, 1);
    assert_count(&text, r#"latency_ms_count{operation="check-health"}"#, 1);
}

#[test]
fn orders_placed_stock_outs_and_replays_are_counted_once_each() {
    let text = recorded(|app| async move {
        let plenty = product(&app, "TEA-1", 10).await;
        let scarce = product(&app, "TEA-2", 1).await;
        assert_eq!(order(&app, &plenty, 2, Some("key-1")).await, 201);
        assert_eq!(order(&app, &plenty, 2, Some("key-1")).await, 201, "a replay");
        assert_eq!(order(&app, &plenty, 1, None).await, 201);
        assert_eq!(order(&app, &scarce, 2, None).await, 409, "a stock-out");
    });
    assert_count(&text, "orders_placed", 2);
    assert_count(&text, "order_value_cents_count", 2);
    assert_count(&text, "order_value_cents_sum", 2_500 + 1_250);
    assert_count(&text, "idempotent_replays", 1);
    assert_count(&text, "stock_outs", 1);
    assert_count(&text, r#"requests{operation="create-order",status_class="2xx"}"#, 3);
    assert_count(&text, r#"requests{operation="create-order",status_class="4xx"}"#, 1);
}

#[test]
fn webhook_refusals_are_counted_by_reason() {
    let text = recorded(|app| async move {
        let event = |order_id: &str, amount: i64| {
            json!({"id": "evt-1", "type": "payment.succeeded", "order_id": order_id,
                   "amount_cents": amount, "currency": "USD"})
        };
        assert_eq!(
            webhook(&app, &event("01KABMF1NBBCP9WGEGF9HZ33H4", 100), false).await,
            401
        );
        assert_eq!(webhook(&app, &json!({"id": "evt-2"}), true).await, 400);
        assert_eq!(
            webhook(&app, &event("01KABMF1NBBCP9WGEGF9HZ33H4", 100), true).await,
            404
        );
        let teapot = product(&app, "TEA-1", 10).await;
        assert_eq!(order(&app, &teapot, 1, None).await, 201);
        let buyer = UserId::parse("buyer-1").unwrap_or_else(|e| panic!("{e:?}"));
        let placed = app
            .store
            .orders_of(&buyer, None, 1)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(webhook(&app, &event(placed[0].id.as_str(), 1), true).await, 409);
        assert_eq!(webhook(&app, &event(placed[0].id.as_str(), 1_250), true).await, 200);
    });
    for reason in ["invalid-signature", "validation", "not-found", "amount-mismatch"] {
        assert_count(&text, &format!(r#"webhook_rejections{{reason="{reason}"}}"#), 1);
    }
    assert_eq!(text.matches("webhook_rejections{").count(), 4, "{text}");
}

#[test]
fn reservation_limit_refusals_are_counted_by_limit_and_a_replay_is_never_refused() {
    let text = recorded(|app| async move {
        let teapot = product(&app, "TEA-1", 1_000).await;
        for n in 0..5 {
            assert_eq!(order(&app, &teapot, 100, Some(&format!("key-{n}"))).await, 201);
        }
        assert_eq!(
            order(&app, &teapot, 1, None).await,
            409,
            "500 units held: the default limit on reserved units"
        );
        assert_eq!(
            order(&app, &teapot, 100, Some("key-0")).await,
            201,
            "a replay at the limit"
        );
    });
    assert_count(&text, r#"reservation_limits{limit="reserved_units"}"#, 1);
    assert_eq!(text.matches("reservation_limits{").count(), 1, "{text}");
    assert_count(&text, "orders_placed", 5);
    assert_count(&text, "idempotent_replays", 1);
    assert!(
        !text.contains("stock_outs"),
        "a refusal by the limit is no stock-out: {text}"
    );
}
