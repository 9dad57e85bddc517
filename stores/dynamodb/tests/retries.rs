//! The adapter's own retries, and their metrics. DynamoDB Local never provokes them: it runs
//! transactions one at a time (12 writers × 100 transactions on one item: none cancelled) and
//! answers every key of a `BatchGetItem`. So DynamoDB's answers for them are injected at the
//! client's HTTP layer, in DynamoDB's own wire format, for the first calls of a kind, while every
//! other call goes to DynamoDB Local:
//! - a transaction cancelled by a `TransactionConflict` is sent again, with a new client token, and
//!   commits once; each conflict is counted in `dynamodb_conflicts`, each new attempt in
//!   `dynamodb_retries`;
//! - one refused as `TransactionInProgress` (its own earlier attempt, still running) is sent again
//!   by the SDK with the same token, so it cannot apply twice, and is not ours to count;
//! - a conflict that never ends gives up as `Unavailable` (a 503) with nothing written;
//! - a `BatchGetItem` that leaves keys unprocessed is asked again for them (`dynamodb_retries`).
//!
//! Needs DynamoDB Local (`ORDERLY_TEST_DYNAMODB_ENDPOINT`): scripts/test starts it. Never skipped.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use orderly_core::ports::{Store, StoreError};
use orderly_store_conformance::fixtures::{at, insert, order, placement, product, stock_of, unique_user};
use orderly_store_dynamodb::{table, DynamoStore};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// DynamoDB's answer for a call, injected instead of sending it.
#[derive(Debug, Clone, Copy)]
enum Injected {
    /// `TransactionCanceledException`, the first item's reason `TransactionConflict`.
    Conflict,
    /// `TransactionInProgressException`.
    InProgress,
    /// A `BatchGetItem` answer with no items and every requested key unprocessed.
    Unprocessed,
}

impl Injected {
    fn operation(self) -> &'static str {
        match self {
            Injected::Conflict | Injected::InProgress => "TransactWriteItems",
            Injected::Unprocessed => "BatchGetItem",
        }
    }

    fn answer(self, request: &Value) -> HttpResponse {
        let (status, body) = match self {
            Injected::Conflict => {
                let items = request["TransactItems"].as_array().map_or(1, Vec::len);
                let reasons: Vec<Value> = (0..items)
                    .map(|i| match i {
                        0 => json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}),
                        _ => json!({"Code": "None"}),
                    })
                    .collect();
                (
                    400,
                    json!({
                        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                        "CancellationReasons": reasons,
                        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
                    }),
                )
            }
            Injected::InProgress => (
                400,
                json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#TransactionInProgressException",
                    "Message": "Transaction is in progress",
                }),
            ),
            Injected::Unprocessed => {
                let tables = request["RequestItems"].as_object().cloned().unwrap_or_default();
                let empty: serde_json::Map<String, Value> = tables.keys().map(|t| (t.clone(), json!([]))).collect();
                (200, json!({"Responses": empty, "UnprocessedKeys": tables}))
            }
        };
        let mut response = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body.to_string()));
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        response
    }
}

/// The client's HTTP layer with answers injected for the first calls of their operation.
#[derive(Debug, Clone)]
struct Injector {
    inner: SharedHttpClient,
    pending: Arc<Mutex<VecDeque<Injected>>>,
    /// Every call's operation, in order, injected or sent.
    calls: Arc<Mutex<Vec<String>>>,
    /// The `ClientRequestToken` of every `TransactWriteItems`, in order.
    tokens: Arc<Mutex<Vec<String>>>,
}

impl Injector {
    fn new() -> Self {
        Injector {
            inner: orderly_store_dynamodb::client::https_client(),
            pending: Arc::default(),
            calls: Arc::default(),
            tokens: Arc::default(),
        }
    }

    fn inject(&self, answers: impl IntoIterator<Item = Injected>) {
        self.pending.lock().unwrap().extend(answers);
    }

    fn calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    fn tokens(&self) -> Vec<String> {
        std::mem::take(&mut *self.tokens.lock().unwrap())
    }
}

#[derive(Debug)]
struct InjectingConnector {
    inner: SharedHttpConnector,
    injector: Injector,
}

impl HttpClient for Injector {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(InjectingConnector {
            inner: self.inner.http_connector(settings, components),
            injector: self.clone(),
        })
    }
}

impl HttpConnector for InjectingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let operation = target.rsplit('.').next().unwrap_or_default().to_string();
        self.injector.calls.lock().unwrap().push(operation.clone());
        let body: Value = request
            .body()
            .bytes()
            .and_then(|bytes| serde_json::from_slice(bytes).ok())
            .unwrap_or(Value::Null);
        if let Some(token) = body["ClientRequestToken"].as_str() {
            self.injector.tokens.lock().unwrap().push(token.to_string());
        }
        let mut pending = self.injector.pending.lock().unwrap();
        if pending.front().is_some_and(|next| next.operation() == operation) {
            let injected = pending.pop_front().unwrap();
            return HttpConnectorFuture::ready(Ok(injected.answer(&body)));
        }
        drop(pending);
        self.inner.call(request)
    }
}

/// A store on a fresh table whose client's HTTP goes through an injector.
async fn store_with_injector() -> (Arc<dyn Store>, Injector) {
    let plain = local::client_for(&local::endpoint());
    let name = format!("orderly-retries-{}", ulid::Ulid::new().to_string().to_lowercase());
    table::create_table(&plain, &name).await.expect("create the table");
    let injector = Injector::new();
    let config = plain.config().to_builder().http_client(injector.clone()).build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), name);
    (Arc::new(store), injector)
}

/// Runs `work` on a runtime of this thread with a metrics recorder local to it (tests running at
/// once never see each other's counts); what it returned and the metrics, as Prometheus text.
fn counted<T>(work: impl std::future::Future<Output = T>) -> (T, String) {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = metrics::with_local_recorder(&recorder, || runtime.block_on(work));
    (result, handle.render())
}

fn count(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_transaction_that_lost_a_race_is_sent_again_commits_once_and_is_counted() {
    let ((tokens, stock, stored), metrics) = counted(async {
        let (store, injector) = store_with_injector().await;
        let teapot = insert(&*store, product(10)).await;
        let placed = order(&unique_user(), &[(&teapot, 3)], at(1_000));
        injector.tokens();
        injector.inject([Injected::Conflict, Injected::Conflict]);
        store
            .place_order(&placement(&placed))
            .await
            .expect("placed after the races");
        let tokens = injector.tokens();
        let stored = store.order(&placed.id).await.expect("read the order");
        (
            tokens,
            stock_of(&*store, &teapot.id).await,
            stored.map(|o| o.id == placed.id),
        )
    });
    assert_eq!(tokens.len(), 3, "two lost races, then the commit: {tokens:?}");
    assert!(
        tokens[0] != tokens[1] && tokens[1] != tokens[2],
        "each attempt is a new transaction: {tokens:?}"
    );
    assert_eq!(stock, 7, "the 3 units are reserved once");
    assert_eq!(stored, Some(true));
    assert_eq!(count(&metrics, "dynamodb_conflicts"), 2, "{metrics}");
    assert_eq!(count(&metrics, "dynamodb_retries"), 2, "{metrics}");
}

#[test]
fn a_transaction_still_in_progress_is_resent_by_the_sdk_with_its_token() {
    let ((tokens, stock), metrics) = counted(async {
        let (store, injector) = store_with_injector().await;
        let teapot = insert(&*store, product(10)).await;
        let placed = order(&unique_user(), &[(&teapot, 3)], at(1_000));
        injector.tokens();
        injector.inject([Injected::InProgress]);
        store.place_order(&placement(&placed)).await.expect("placed");
        (injector.tokens(), stock_of(&*store, &teapot.id).await)
    });
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    assert_eq!(tokens[0], tokens[1], "the same transaction again: applied at most once");
    assert_eq!(stock, 7);
    assert_eq!(count(&metrics, "dynamodb_conflicts"), 0, "the SDK's retry: {metrics}");
    assert_eq!(count(&metrics, "dynamodb_retries"), 0, "{metrics}");
}

#[test]
fn a_conflict_that_never_ends_is_unavailable_and_writes_nothing() {
    let ((answer, stock, stored, attempts), metrics) = counted(async {
        let (store, injector) = store_with_injector().await;
        let teapot = insert(&*store, product(10)).await;
        let placed = order(&unique_user(), &[(&teapot, 3)], at(1_000));
        injector.calls();
        injector.inject([Injected::Conflict; 50]);
        let answer = store.place_order(&placement(&placed)).await;
        let attempts = injector.calls().len();
        let stored = store.order(&placed.id).await.expect("read the order");
        (answer, stock_of(&*store, &teapot.id).await, stored, attempts)
    });
    assert!(matches!(answer, Err(StoreError::Unavailable(_))), "{answer:?}");
    assert_eq!((stock, stored), (10, None), "nothing reserved, no order");
    assert!(
        (2..50).contains(&attempts),
        "retried, then gave up within its budget: {attempts} attempts"
    );
    assert_eq!(count(&metrics, "dynamodb_conflicts") as usize, attempts, "{metrics}");
    assert_eq!(count(&metrics, "dynamodb_retries") as usize, attempts - 1, "{metrics}");
}

#[test]
fn keys_a_batch_read_left_unprocessed_are_asked_for_again_and_counted() {
    let ((calls, found), metrics) = counted(async {
        let (store, injector) = store_with_injector().await;
        let teapot = insert(&*store, product(10)).await;
        let cups = insert(&*store, product(5)).await;
        injector.calls();
        injector.inject([Injected::Unprocessed]);
        let found = store
            .products(&[teapot.id.clone(), cups.id.clone()])
            .await
            .expect("both products");
        let mut found: Vec<_> = found.into_iter().map(|p| p.id).collect();
        found.sort();
        let mut wanted = vec![teapot.id, cups.id];
        wanted.sort();
        (injector.calls(), found == wanted)
    });
    assert_eq!(calls, ["BatchGetItem", "BatchGetItem"]);
    assert!(found, "every product, though the first answer had none");
    assert_eq!(count(&metrics, "dynamodb_retries"), 1, "{metrics}");
    assert_eq!(count(&metrics, "dynamodb_conflicts"), 0, "{metrics}");
}
