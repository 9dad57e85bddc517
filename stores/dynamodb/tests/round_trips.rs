//! How many DynamoDB calls each API operation makes, counted by an SDK interceptor while every
//! operation runs through the core's real HTTP entry point on DynamoDB Local. Asserts the targets
//! of docs/data-model.md (get by id 1, a catalog page 2, placing an order 2, never a Scan; the
//! expiry sweep one query per shard per page and one transaction per expired order) and prints
//! the table recorded in docs/BENCHMARKS.md (`cargo nextest run --features dynamodb-local --test round_trips --no-capture`).

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use http::Method;
use orderly_core::api;
use orderly_core::auth::{Authenticator, Hs256Key};
use orderly_core::config::{Secret, Secrets};
use orderly_core::domain::{OrderEvent, OrderEventType, OrderId, Timestamp, UserId};
use orderly_core::ports::{Clock, SystemClock, UlidGenerator};
use orderly_core::services::{expiry, notifications};
use orderly_core::{App, Settings};
use orderly_store_dynamodb::{table, DynamoStore, OrderShards};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// Records the operation of every HTTP request the client sends (an SDK retry is a request too).
#[derive(Debug, Default, Clone)]
struct CallLog(Arc<Mutex<Vec<String>>>);

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // "DynamoDB_20120810.GetItem" → "GetItem"
        let target = context.request().headers().get("x-amz-target").unwrap_or("?");
        let name = target.rsplit('.').next().unwrap_or(target).to_string();
        self.0.lock().map_err(|_| "poisoned")?.push(name);
        Ok(())
    }
}

impl CallLog {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("call log"))
    }
}

struct Harness {
    app: App,
    calls: CallLog,
    key: Hs256Key,
    rows: Vec<(String, Vec<String>)>,
}

impl Harness {
    fn token(&self, sub: &str, admin: bool) -> String {
        local::token(&self.key, self.app.now(), sub, admin)
    }

    /// Sends one request and records the DynamoDB calls it made under `label`.
    async fn call(
        &mut self,
        label: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> (u16, Value) {
        let request = local::api_request(method, path, token, body, extra);
        self.calls.take();
        let response = api::handle(&self.app, request).await;
        self.rows.push((label.to_string(), self.calls.take()));
        let value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        (response.status().as_u16(), value)
    }

    fn count(&self, label: &str) -> usize {
        self.rows
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, c)| c.len())
            .unwrap_or_else(|| panic!("no row {label}"))
    }
}

/// The machine's clock, moved on by hand: lets a test reach an order's deadline without waiting.
#[derive(Debug, Default)]
struct AdvancedClock(AtomicI64);

impl AdvancedClock {
    fn advance_seconds(&self, seconds: i64) {
        self.0.fetch_add(seconds * 1000, Ordering::SeqCst);
    }
}

impl Clock for AdvancedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(SystemClock.now().as_millis() + self.0.load(Ordering::SeqCst))
    }
}

/// A harness on a fresh table, whose every DynamoDB call is logged, and its settings.
async fn harness(clock: Arc<dyn Clock>) -> (Harness, Settings) {
    let calls = CallLog::default();
    let config = local::client_for(&local::endpoint())
        .config()
        .to_builder()
        .interceptor(calls.clone())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let name = format!("orderly-trips-{}", ulid::Ulid::new().to_string().to_lowercase());
    table::create_table(&client, &name).await.expect("create table");
    let settings = Settings::from_vars(
        &HashMap::new(),
        Secrets::both(Secret::new("round-trip-webhook"), Secret::new("round-trip-cursors")),
    )
    .expect("settings");
    let key = Hs256Key::new(Secret::new("round-trip-jwt"));
    let app = App::new(
        Arc::new(DynamoStore::new(client, name)),
        clock.clone(),
        Arc::new(UlidGenerator::new(clock)),
        settings.clone(),
        Authenticator::Hs256(key.clone()),
    );
    let harness = Harness {
        app,
        calls,
        key,
        rows: vec![],
    };
    (harness, settings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_meets_its_round_trip_target() {
    let (mut h, settings) = harness(Arc::new(SystemClock)).await;
    let (admin, buyer) = (h.token("admin", true), h.token("buyer", false));

    h.call("GET /v1/health", Method::GET, "/v1/health", None, None, &[])
        .await;
    h.call(
        "GET /v1/me (first time)",
        Method::GET,
        "/v1/me",
        Some(&buyer),
        None,
        &[],
    )
    .await;
    h.call("GET /v1/me", Method::GET, "/v1/me", Some(&buyer), None, &[])
        .await;
    h.call(
        "PATCH /v1/me",
        Method::PATCH,
        "/v1/me",
        Some(&buyer),
        Some(json!({"display_name": "Bo"})),
        &[],
    )
    .await;
    let (status, product) = h
        .call(
            "POST /v1/products",
            Method::POST,
            "/v1/products",
            Some(&admin),
            Some(json!({"sku": "RT-1", "name": "Tea", "price_cents": 250, "stock": 50})),
            &[],
        )
        .await;
    assert_eq!(status, 201);
    let id = product["id"].as_str().expect("id").to_string();
    h.call("GET /v1/products", Method::GET, "/v1/products", None, None, &[])
        .await;
    h.call(
        "GET /v1/products/{id}",
        Method::GET,
        &format!("/v1/products/{id}"),
        None,
        None,
        &[],
    )
    .await;
    h.call(
        "PATCH /v1/products/{id}",
        Method::PATCH,
        &format!("/v1/products/{id}"),
        Some(&admin),
        Some(json!({"price_cents": 300})),
        &[("if-match", "\"1\"")],
    )
    .await;
    h.call(
        "POST /v1/products/{id}/stock",
        Method::POST,
        &format!("/v1/products/{id}/stock"),
        Some(&admin),
        Some(json!({"delta": 10})),
        &[],
    )
    .await;
    let order_body = json!({"items": [{"product_id": id, "quantity": 2}]});
    let (status, order) = h
        .call(
            "POST /v1/orders",
            Method::POST,
            "/v1/orders",
            Some(&buyer),
            Some(order_body.clone()),
            &[],
        )
        .await;
    assert_eq!(status, 201);
    let (status, keyed) = h
        .call(
            "POST /v1/orders (Idempotency-Key)",
            Method::POST,
            "/v1/orders",
            Some(&buyer),
            Some(order_body.clone()),
            &[("idempotency-key", "rt-1")],
        )
        .await;
    assert_eq!(status, 201);
    h.call(
        "POST /v1/orders (replay)",
        Method::POST,
        "/v1/orders",
        Some(&buyer),
        Some(order_body),
        &[("idempotency-key", "rt-1")],
    )
    .await;
    let order_id = order["id"].as_str().expect("order id").to_string();
    h.call(
        "GET /v1/orders/{id}",
        Method::GET,
        &format!("/v1/orders/{order_id}"),
        Some(&buyer),
        None,
        &[],
    )
    .await;
    h.call(
        "GET /v1/orders",
        Method::GET,
        "/v1/orders?limit=1",
        Some(&buyer),
        None,
        &[],
    )
    .await;
    h.call(
        "POST /v1/orders/{id}/cancel",
        Method::POST,
        &format!("/v1/orders/{order_id}/cancel"),
        Some(&buyer),
        None,
        &[],
    )
    .await;

    let keyed_id = keyed["id"].as_str().expect("keyed id");
    let event = json!({"id": "evt-rt", "type": "payment.succeeded", "order_id": keyed_id, "amount_cents": keyed["total_cents"], "currency": "USD"});
    let now = orderly_core::ports::Clock::now(&SystemClock);
    let signature = orderly_core::auth::webhook::sign(
        settings.secrets.webhook_secret.as_ref().expect("webhook secret"),
        event.to_string().as_bytes(),
        now,
    );
    let (status, _) = h
        .call(
            "POST /v1/payments/webhook",
            Method::POST,
            "/v1/payments/webhook",
            None,
            Some(event.clone()),
            &[("webhook-signature", &signature)],
        )
        .await;
    assert_eq!(status, 200);
    h.call(
        "POST /v1/payments/webhook (same event)",
        Method::POST,
        "/v1/payments/webhook",
        None,
        Some(event),
        &[("webhook-signature", &signature)],
    )
    .await;
    let today = now.date().to_string();
    h.call(
        "POST /v1/reports/daily/{date}",
        Method::POST,
        &format!("/v1/reports/daily/{today}"),
        Some(&admin),
        None,
        &[],
    )
    .await;
    h.call(
        "GET /v1/reports/daily/{date}",
        Method::GET,
        &format!("/v1/reports/daily/{today}"),
        Some(&admin),
        None,
        &[],
    )
    .await;

    eprintln!("| operation | DynamoDB calls | round trips |\n|---|---|---|");
    for (label, calls) in &h.rows {
        eprintln!("| `{label}` | {} | {} |", calls.join(", "), calls.len());
    }
    assert!(
        h.rows.iter().all(|(_, calls)| !calls.iter().any(|c| c == "Scan")),
        "no Scan on any request path"
    );
    for (label, target) in [
        ("GET /v1/health", 1),
        ("GET /v1/me", 1),
        ("GET /v1/products/{id}", 1),
        ("GET /v1/orders/{id}", 1),
        // The keys-only catalog index, then the page's products in one batch.
        ("GET /v1/products", 2),
        ("GET /v1/orders", 1),
        ("POST /v1/orders", 2),
        ("POST /v1/orders (Idempotency-Key)", 2),
        ("POST /v1/orders (replay)", 1),
        ("POST /v1/orders/{id}/cancel", 2),
        ("POST /v1/products/{id}/stock", 1),
        ("PATCH /v1/products/{id}", 1),
        ("POST /v1/payments/webhook", 3),
        ("POST /v1/payments/webhook (same event)", 1),
    ] {
        assert_eq!(h.count(label), target, "{label}");
    }
}

/// The jobs' store calls: an expiry sweep is one `Query` of each `GSI2 PENDING#<n>` per page and one
/// `TransactWriteItems` per expired order (nothing due: the query alone); a notification is one
/// `PutItem` (also when the event comes again), and the user's list one `Query`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_meet_their_round_trip_targets() {
    let clock = Arc::new(AdvancedClock::default());
    let (mut h, _) = harness(clock.clone()).await;
    let (admin, buyer) = (h.token("admin", true), h.token("buyer", false));
    let (status, product) = h
        .call(
            "POST /v1/products",
            Method::POST,
            "/v1/products",
            Some(&admin),
            Some(json!({"sku": "RT-2", "name": "Tea", "price_cents": 250, "stock": 50})),
            &[],
        )
        .await;
    assert_eq!(status, 201);
    let order_body = json!({"items": [{"product_id": product["id"], "quantity": 2}]});
    let mut orders = Vec::new();
    for _ in 0..3 {
        let (status, order) = h
            .call(
                "POST /v1/orders",
                Method::POST,
                "/v1/orders",
                Some(&buyer),
                Some(order_body.clone()),
                &[],
            )
            .await;
        assert_eq!(status, 201);
        orders.push(order["id"].as_str().expect("order id").to_string());
    }

    h.calls.take();
    let sweep = expiry::expire_overdue_orders(&h.app, h.app.now())
        .await
        .expect("a sweep");
    assert_eq!(sweep.expired, 0, "nothing is due yet");
    // Every shard of the pending orders, and the partition from before the sharding.
    let page_queries = vec!["Query"; usize::from(OrderShards::DEFAULT.count()) + 1];
    assert_eq!(
        h.calls.take(),
        page_queries,
        "a sweep with nothing due: one query per shard"
    );

    clock.advance_seconds(16 * 60);
    let sweep = expiry::expire_overdue_orders(&h.app, h.app.now())
        .await
        .expect("a sweep");
    assert_eq!(sweep.expired, 3, "all three orders are past due");
    let calls = h.calls.take();
    let mut expected = page_queries.clone();
    expected.extend(["TransactWriteItems"; 3]);
    assert_eq!(
        calls, expected,
        "one query per shard for the page, one transaction per expired order"
    );

    let event = OrderEvent {
        id: ulid::Ulid::new().to_string(),
        kind: OrderEventType::OrderExpired,
        order_id: OrderId::parse(&orders[0]).expect("an order id"),
        user_id: UserId::parse("buyer").expect("a user id"),
        occurred_at: h.app.now(),
    };
    assert!(notifications::notify_user(&h.app, &event).await.expect("notify"));
    assert_eq!(h.calls.take(), ["PutItem"], "a notification: one conditional put");
    assert!(!notifications::notify_user(&h.app, &event).await.expect("notify again"));
    assert_eq!(h.calls.take(), ["PutItem"], "the same event again: one refused put");
    let (status, listed) = h
        .call(
            "GET /v1/me/notifications",
            Method::GET,
            "/v1/me/notifications",
            Some(&buyer),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(h.count("GET /v1/me/notifications"), 1, "the list: one query");
}
