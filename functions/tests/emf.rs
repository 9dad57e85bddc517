//! The functions' metrics, as CloudWatch receives them: a function's collector is installed exactly
//! as its `main` installs it (`orderly_functions::metrics::install`), the function answers its
//! sample event (`events/create-order.json`), and what the collector flushes after the invocation
//! (the runtime's metrics layer writes the same to stdout) must be valid Embedded Metric Format:
//! `_aws.Timestamp`, one directive in the namespace `Orderly` with its dimension set and metric
//! names, and every dimension and value at the top level. The next invocations' documents carry
//! only their own counts.
//!
//! On the in-memory store, so it needs no DynamoDB Local. A process has one metrics recorder, so
//! this binary holds this one test.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use metrics_cloudwatch_embedded::Collector;
use orderly_core::api::routes;
use orderly_core::auth::Authenticator;
use orderly_core::config::{Secret, Secrets};
use orderly_core::domain::{Price, Product, ProductId, ProductName, Sku, Stock, Timestamp};
use orderly_core::ports::{CatalogStore, SystemClock, UlidGenerator};
use orderly_core::{App, Settings};
use orderly_functions::metrics::{install, FUNCTION_DIMENSION, NAMESPACE};
use orderly_functions::Function;
use orderly_store_memory::MemoryStore;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

const PRICE_CENTS: i64 = 1_250;

/// One metric as a document carries it: its dimensions (name → value) and its value(s).
#[derive(Debug)]
struct Datum {
    dimensions: BTreeMap<String, String>,
    unit: Option<String>,
    values: Vec<f64>,
}

#[tokio::test]
async fn an_invocation_flushes_valid_emf_with_the_request_and_business_metrics() {
    let collector = install(routes::CREATE_ORDER.function).expect("the EMF recorder installs");
    let store = MemoryStore::new();
    let raw = sample_event("create-order");
    let event: Value = serde_json::from_str(&raw).unwrap();
    let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let ordered = body["items"][0]["product_id"].as_str().unwrap();
    let quantity = body["items"][0]["quantity"].as_i64().unwrap();
    store.insert_product(&product(ordered, "TEA-1", 100)).await.unwrap();
    let function = Function::new(&routes::CREATE_ORDER, app(store.clone()));

    // A fresh order.
    assert_eq!(invoke(&function, &raw).await, 201);
    let data = flush(collector);
    let requests = one(&data, "requests");
    assert_eq!(requests.values, [1.0], "{data:#?}");
    assert_eq!(requests.dimensions["operation"], "create-order");
    assert_eq!(requests.dimensions["status_class"], "2xx");
    let latency = one(&data, "latency_ms");
    assert_eq!(latency.values.len(), 1, "{data:#?}");
    assert!(latency.values[0] > 0.0 && latency.values[0] < 60_000.0, "{data:#?}");
    assert_eq!(latency.unit.as_deref(), Some("Milliseconds"));
    assert_eq!(latency.dimensions.keys().collect::<Vec<_>>(), ["function", "operation"]);
    assert_eq!(one(&data, "orders_placed").values, [1.0], "{data:#?}");
    let value = one(&data, "order_value_cents");
    assert_eq!(value.values, [(PRICE_CENTS * quantity) as f64], "{data:#?}");
    assert_eq!(
        value.dimensions.keys().collect::<Vec<_>>(),
        ["function"],
        "no id, no label"
    );
    assert_eq!(value.unit, None, "cents have no CloudWatch unit");
    for datum in data.values().flatten() {
        assert_eq!(datum.dimensions[FUNCTION_DIMENSION], "create-order", "{datum:?}");
    }

    // The same request again: a replay, counted as such and as one more request, no new order.
    assert_eq!(invoke(&function, &raw).await, 201);
    let data = flush(collector);
    assert_eq!(
        one(&data, "requests").values,
        [1.0],
        "this invocation's count only: {data:#?}"
    );
    assert_eq!(one(&data, "idempotent_replays").values, [1.0], "{data:#?}");
    assert!(!data.contains_key("orders_placed"), "{data:#?}");

    // More than the stock: a stock-out, and a 4xx.
    let scarce = ulid::Ulid::new().to_string();
    store.insert_product(&product(&scarce, "TEA-2", 1)).await.unwrap();
    let mut short = event.clone();
    short["headers"].as_object_mut().unwrap().remove("idempotency-key");
    short["body"] = Value::from(format!(r#"{{"items":[{{"product_id":"{scarce}","quantity":2}}]}}"#));
    assert_eq!(invoke(&function, &short.to_string()).await, 409);
    let data = flush(collector);
    assert_eq!(one(&data, "stock_outs").values, [1.0], "{data:#?}");
    assert_eq!(one(&data, "requests").dimensions["status_class"], "4xx", "{data:#?}");
}

async fn invoke(function: &Function, raw: &str) -> u16 {
    let request = serde_json::from_str(raw).expect("an API Gateway event");
    let response = function.handle(request, &orderly_functions::Context::default()).await;
    response.status().as_u16()
}

/// What the collector writes now, each line checked as an EMF document; every metric by name.
fn flush(collector: &Collector) -> BTreeMap<String, Vec<Datum>> {
    let mut out = Vec::new();
    collector.flush(&mut out).expect("flushing to memory");
    let text = String::from_utf8(out).expect("UTF-8");
    println!("{text}"); // shown with --nocapture
    let mut data: BTreeMap<String, Vec<Datum>> = BTreeMap::new();
    for line in text.lines() {
        let document: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for (name, datum) in emf_data(&document) {
            data.entry(name).or_default().push(datum);
        }
    }
    assert!(!data.is_empty(), "nothing flushed");
    data
}

fn one<'a>(data: &'a BTreeMap<String, Vec<Datum>>, name: &str) -> &'a Datum {
    match data.get(name).map(Vec::as_slice) {
        Some([datum]) => datum,
        other => panic!("expected one {name}, got {other:?} in {data:#?}"),
    }
}

/// Checks one document against the EMF specification and returns its metrics.
fn emf_data(document: &Value) -> Vec<(String, Datum)> {
    let root = document
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {document}"));
    let aws = root["_aws"]
        .as_object()
        .unwrap_or_else(|| panic!("no _aws: {document}"));
    let timestamp = aws["Timestamp"]
        .as_u64()
        .unwrap_or_else(|| panic!("no Timestamp: {document}"));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(
        now.abs_diff(timestamp) < 60_000,
        "Timestamp {timestamp} is not now ({now})"
    );
    let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics");
    assert_eq!(directives.len(), 1, "{document}");
    let directive = &directives[0];
    assert_eq!(directive["Namespace"], NAMESPACE, "{document}");
    let sets = directive["Dimensions"].as_array().expect("Dimensions");
    assert!(!sets.is_empty(), "{document}");
    let mut dimensions = BTreeMap::new();
    for set in sets {
        let set = set.as_array().expect("a dimension set is an array");
        assert!((1..=30).contains(&set.len()), "{document}");
        for name in set {
            let name = name.as_str().expect("a dimension's name");
            let value = text(root, name, document);
            dimensions.insert(name.to_string(), value);
        }
    }
    assert!(dimensions.contains_key(FUNCTION_DIMENSION), "{document}");
    let metrics = directive["Metrics"].as_array().expect("Metrics");
    assert!(!metrics.is_empty() && metrics.len() <= 100, "{document}");
    metrics
        .iter()
        .map(|metric| {
            let name = metric["Name"].as_str().expect("a metric's Name").to_string();
            let unit = metric
                .get("Unit")
                .map(|u| u.as_str().expect("a Unit is a string").to_string());
            let values = match &root[&name] {
                Value::Number(n) => vec![n.as_f64().unwrap()],
                Value::Array(values) => {
                    assert!(!values.is_empty() && values.len() <= 100, "{document}");
                    values.iter().map(|v| v.as_f64().expect("a number")).collect()
                }
                other => panic!("{name}'s value at the top level is {other}: {document}"),
            };
            let datum = Datum {
                dimensions: dimensions.clone(),
                unit,
                values,
            };
            (name, datum)
        })
        .collect()
}

fn text(root: &Map<String, Value>, name: &str, document: &Value) -> String {
    match root.get(name) {
        Some(Value::String(value)) => value.clone(),
        other => panic!("dimension {name} is {other:?} at the top level: {document}"),
    }
}

fn sample_event(name: &str) -> String {
    let path = format!("{}/../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn product(id: &str, sku: &str, stock: i64) -> Product {
    Product {
        id: ProductId::parse(id).unwrap(),
        sku: Sku::parse(sku).unwrap(),
        name: ProductName::parse("Green tea").unwrap(),
        description: None,
        price: Price::parse(PRICE_CENTS).unwrap(),
        stock: Stock::parse(stock).unwrap(),
        active: true,
        version: 1,
        created_at: Timestamp::from_millis(1_700_000_000_000),
        updated_at: Timestamp::from_millis(1_700_000_000_000),
    }
}

fn app(store: MemoryStore) -> App {
    let clock = Arc::new(SystemClock);
    let settings = Settings::from_vars(
        &HashMap::new(),
        Secrets::both(
            Secret::new("emf-test-webhook-secret"),
            Secret::new("emf-test-cursor-key"),
        ),
    )
    .unwrap();
    App::new(
        Arc::new(store),
        clock.clone(),
        Arc::new(UlidGenerator::new(clock)),
        settings,
        Authenticator::GatewayClaims,
    )
}
