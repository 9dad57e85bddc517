//! Warm per-invocation CPU cost of a function, excluding the database: parse the API Gateway
//! event (`events/`) into the core's request, run the operation, write the answer's JSON.
//! The store is an in-memory stub that answers at once, so the figure is the function's own work.
//!
//! The same for `notify`: its sample SQS batch parsed and every message turned into a notification.
//!
//! get-product and create-order traced and sampled, their X-Ray subsegment sent to a daemon on
//! 127.0.0.1 (`... (traced, sampled)`).
//!
//! And both again with the metrics recorded and flushed as EMF after each invocation, as deployed
//! (`... (metrics recorded, EMF flushed)`, last: installing the recorder is once per process).
//!
//! `cargo bench -p orderly-functions --bench warm_invocation`; figures in docs/BENCHMARKS.md.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, Criterion};
use orderly_core::api::{routes, Route};
use orderly_core::auth::Authenticator;
use orderly_core::config::{Secret, Secrets};
use orderly_core::domain::{
    DailyReport, Date, Description, DisplayName, IdempotencyKey, IdempotencyRecord, Notification, Order, OrderEvent,
    OrderId, Price, Product, ProductChange, ProductId, ProductName, Profile, Sku, Stock, StockDelta, Timestamp, UserId,
};
use orderly_core::ports::{
    CatalogStore, NotificationStore, OrderPlacement, OrderStore, PaymentStore, ProfileStore, ReportStore, Store,
    StoreError, SystemClock, UlidGenerator,
};
use orderly_core::{App, Settings};
use orderly_functions::xray::XrayDaemon;
use orderly_functions::{Context, Function, GatewayRequest, GatewayResponse};
use std::collections::HashMap;
use std::sync::Arc;

/// Answers the catalog reads and accepts orders; everything else is not part of the benchmark.
struct StubStore {
    products: HashMap<ProductId, Product>,
}

fn unused() -> StoreError {
    StoreError::Internal("not used by this benchmark".into())
}

#[async_trait]
impl Store for StubStore {
    async fn check_health(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl CatalogStore for StubStore {
    async fn insert_product(&self, _: &Product) -> Result<(), StoreError> {
        Ok(())
    }
    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        Ok(self.products.get(id).cloned())
    }
    async fn products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        Ok(ids.iter().filter_map(|id| self.products.get(id).cloned()).collect())
    }
    async fn active_products(&self, _: Option<&ProductId>, _: usize) -> Result<Vec<Product>, StoreError> {
        Ok(self.products.values().cloned().collect())
    }
    async fn update_product(
        &self,
        _: &ProductId,
        _: &ProductChange,
        _: Option<u64>,
        _: Timestamp,
    ) -> Result<Product, StoreError> {
        Err(unused())
    }
    async fn adjust_stock(&self, _: &ProductId, _: StockDelta, _: Timestamp) -> Result<Product, StoreError> {
        Err(unused())
    }
}

#[async_trait]
impl OrderStore for StubStore {
    async fn place_order(&self, _: &OrderPlacement) -> Result<(), StoreError> {
        Ok(())
    }
    async fn order(&self, _: &OrderId) -> Result<Option<Order>, StoreError> {
        Ok(None)
    }
    async fn orders_of(&self, _: &UserId, _: Option<&OrderId>, _: usize) -> Result<Vec<Order>, StoreError> {
        Ok(vec![])
    }
    async fn cancel_order(&self, _: &Order, _: Timestamp, _: &OrderEvent) -> Result<Order, StoreError> {
        Err(unused())
    }
    async fn overdue_orders(&self, _: Timestamp, _: Option<&Order>, _: usize) -> Result<Vec<Order>, StoreError> {
        Err(unused())
    }
    async fn expire_order(&self, _: &Order, _: Timestamp, _: &OrderEvent) -> Result<Order, StoreError> {
        Err(unused())
    }
    async fn idempotency_record(
        &self,
        _: &UserId,
        _: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(None)
    }
}

#[async_trait]
impl PaymentStore for StubStore {
    async fn payment_event_seen(&self, _: &str) -> Result<bool, StoreError> {
        Err(unused())
    }
    async fn mark_order_paid(&self, _: &Order, _: &str, _: Timestamp, _: &OrderEvent) -> Result<(), StoreError> {
        Err(unused())
    }
    async fn flag_refund_due(&self, _: &Order, _: &str, _: Timestamp) -> Result<(), StoreError> {
        Err(unused())
    }
    async fn remember_payment_event(&self, _: &str, _: Timestamp) -> Result<(), StoreError> {
        Err(unused())
    }
}

#[async_trait]
impl ProfileStore for StubStore {
    async fn profile(&self, _: &UserId) -> Result<Option<Profile>, StoreError> {
        Err(unused())
    }
    async fn insert_profile(&self, _: &Profile) -> Result<Profile, StoreError> {
        Err(unused())
    }
    async fn set_display_name(&self, _: &Profile, _: &DisplayName) -> Result<Profile, StoreError> {
        Err(unused())
    }
}

#[async_trait]
impl ReportStore for StubStore {
    async fn paid_orders_between(&self, _: Timestamp, _: Timestamp) -> Result<Vec<Order>, StoreError> {
        Err(unused())
    }
    async fn save_report(&self, _: &DailyReport) -> Result<(), StoreError> {
        Err(unused())
    }
    async fn report(&self, _: Date) -> Result<Option<DailyReport>, StoreError> {
        Err(unused())
    }
}

#[async_trait]
impl NotificationStore for StubStore {
    async fn insert_notification(&self, _: &Notification) -> Result<bool, StoreError> {
        Ok(true)
    }
    async fn notifications_of(&self, _: &UserId, _: Option<&str>, _: usize) -> Result<Vec<Notification>, StoreError> {
        Err(unused())
    }
}

fn event(name: &str) -> String {
    let path = format!("{}/../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ok<T>(parsed: Result<T, String>) -> T {
    parsed.expect("a valid value")
}

/// The product the events name, so the reads find it.
fn product_in(event: &str) -> Product {
    let json: serde_json::Value = serde_json::from_str(event).expect("event JSON");
    let id = json["pathParameters"]["id"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            let body: serde_json::Value = serde_json::from_str(json["body"].as_str()?).ok()?;
            body["items"][0]["product_id"].as_str().map(str::to_string)
        })
        .expect("the event names a product");
    Product {
        id: ProductId::parse(&id).expect("a product id"),
        sku: ok(Sku::parse("TEA-1")),
        name: ok(ProductName::parse("Green tea")),
        description: Some(ok(Description::parse("Loose leaf, 100 g"))),
        price: ok(Price::parse(1250)),
        stock: ok(Stock::parse(1_000_000)),
        active: true,
        version: 1,
        created_at: Timestamp::from_millis(1_700_000_000_000),
        updated_at: Timestamp::from_millis(1_700_000_000_000),
    }
}

fn function(route: &'static Route, products: Vec<Product>) -> Function {
    Function::new(route, app(products))
}

fn app(products: Vec<Product>) -> App {
    let clock = Arc::new(SystemClock);
    let settings = Settings::from_vars(
        &HashMap::new(),
        Secrets::both(Secret::new("bench-webhook-secret"), Secret::new("bench-cursor-key")),
    )
    .expect("settings");
    let store = StubStore {
        products: products.into_iter().map(|p| (p.id.clone(), p)).collect(),
    };
    App::new(
        Arc::new(store),
        clock.clone(),
        Arc::new(UlidGenerator::new(clock)),
        settings,
        Authenticator::GatewayClaims,
    )
}

fn warm_invocation(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for (name, route, status) in [
        ("get-product", &routes::GET_PRODUCT, 200),
        ("create-order", &routes::CREATE_ORDER, 201),
        ("list-products", &routes::LIST_PRODUCTS, 200),
    ] {
        let raw = event(name);
        // list-products names no product; it lists the one get-product's event names.
        let naming_a_product = if name == "list-products" {
            event("get-product")
        } else {
            raw.clone()
        };
        let function = function(route, vec![product_in(&naming_a_product)]);
        let check: serde_json::Value =
            serde_json::from_slice(&invoke(&runtime, &function, &raw, &Context::default())).expect("JSON");
        assert_eq!(check["statusCode"], status, "{name} must succeed in the benchmark");
        c.bench_function(name, |b| {
            b.iter(|| invoke(&runtime, &function, &raw, &Context::default()))
        });
    }
}

/// One invocation as the runtime makes it: the event's JSON read, the function run, its answer
/// written as the JSON API Gateway is given.
fn invoke(runtime: &tokio::runtime::Runtime, function: &Function, raw: &str, context: &Context) -> Vec<u8> {
    let request: GatewayRequest = serde_json::from_str(raw).expect("event");
    let response = runtime.block_on(function.handle(request, context));
    serde_json::to_vec(&GatewayResponse(response)).expect("an answer")
}

fn warm_notify(c: &mut Criterion) {
    use aws_lambda_events::event::sqs::SqsEvent;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let raw = event("notify");
    let app = Arc::new(app(vec![]));
    let batch: SqsEvent = serde_json::from_str(&raw).expect("an SQS event");
    let answer = runtime.block_on(orderly_functions::jobs::notify::notify_batch(&app, &batch));
    assert!(answer.expect("a batch answer").batch_item_failures.is_empty());
    c.bench_function("notify (sample batch)", |b| {
        b.iter(|| {
            let batch: SqsEvent = serde_json::from_str(&raw).expect("an SQS event");
            runtime.block_on(orderly_functions::jobs::notify::notify_batch(&app, &batch))
        })
    });
}

/// The same invocations traced and sampled, as deployed with `Tracing: Active`: the invocation's
/// X-Ray subsegment built and sent as a UDP datagram to a daemon on 127.0.0.1 (a thread drains it,
/// as the daemon would). The stub store makes no AWS calls, so this is the invocation's own
/// subsegment; each DynamoDB call adds one document and one datagram more.
fn warm_invocation_traced(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let daemon = std::net::UdpSocket::bind("127.0.0.1:0").expect("the daemon's socket");
    let daemon_address = daemon.local_addr().expect("address");
    let sender = Arc::new(XrayDaemon::at(daemon_address).expect("a sender"));
    std::thread::spawn(move || {
        let mut buffer = [0u8; 65_536];
        while daemon.recv(&mut buffer).is_ok() {}
    });
    // The floor: one datagram of a typical invocation's size, sent on its own.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a socket");
    let datagram = vec![b'x'; 420];
    c.bench_function("X-Ray datagram alone", |b| {
        b.iter(|| socket.send_to(&datagram, daemon_address))
    });
    let mut context = Context::default();
    context.xray_trace_id = Some("Root=1-6948c0de-5b1c0a3e8d2f4a6b7c9e0d1f;Parent=53995c3f42cd8ad8;Sampled=1".into());
    for (name, route) in [
        ("get-product", &routes::GET_PRODUCT),
        ("create-order", &routes::CREATE_ORDER),
    ] {
        let raw = event(name);
        let function = function(route, vec![product_in(&raw)]).traced(Arc::clone(&sender));
        c.bench_function(&format!("{name} (traced, sampled)"), |b| {
            b.iter(|| invoke(&runtime, &function, &raw, &context))
        });
    }
}

/// The same invocations with their metrics recorded and flushed as deployed: the EMF collector
/// installed (a process has one recorder, so this runs last) and the invocation's documents
/// written after each one, as the runtime's metrics layer does; to a sink here, to stdout there.
/// The difference to `warm_invocation` is what the metrics cost a warm invocation.
fn warm_invocation_with_emf(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // What a cold start adds, measured once (a process installs one recorder).
    let started = std::time::Instant::now();
    let collector = orderly_functions::metrics::install(routes::GET_PRODUCT.function).expect("the EMF recorder");
    eprintln!("installing the EMF recorder (cold start): {:?}", started.elapsed());
    for (name, route) in [
        ("get-product", &routes::GET_PRODUCT),
        ("create-order", &routes::CREATE_ORDER),
    ] {
        let raw = event(name);
        let function = function(route, vec![product_in(&raw)]);
        c.bench_function(&format!("{name} (metrics recorded, EMF flushed)"), |b| {
            b.iter(|| {
                let response = invoke(&runtime, &function, &raw, &Context::default());
                collector.flush(std::io::sink()).expect("flushed");
                response
            })
        });
    }
}

criterion_group!(
    benches,
    warm_invocation,
    warm_notify,
    warm_invocation_traced,
    warm_invocation_with_emf
);
criterion_main!(benches);
