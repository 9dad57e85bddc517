//! X-Ray, deployed: the functions' subsegments as the X-Ray daemon receives them. A UDP socket on
//! 127.0.0.1 plays the daemon Lambda runs beside a traced function; the functions run on DynamoDB
//! Local with their traced client, and each invocation carries Lambda's trace header.
//!
//! Needs DynamoDB Local (`ORDERLY_TEST_DYNAMODB_ENDPOINT`): scripts/test starts it. Never skipped.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aws_lambda_events::event::sqs::SqsEvent;
use orderly_core::api::routes::GET_PRODUCT;
use orderly_functions::jobs::notify;
use orderly_functions::xray::{self, AwsCalls, XrayDaemon};
use orderly_functions::{Function, FunctionConfig};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::Arc;
use support::*;

const ROOT: &str = "1-6948c0de-5b1c0a3e8d2f4a6b7c9e0d1f";
const LAMBDA_SEGMENT: &str = "53995c3f42cd8ad8";

fn sampled() -> String {
    format!("Root={ROOT};Parent={LAMBDA_SEGMENT};Sampled=1;Lineage=a87bd80c:0")
}

/// A UDP socket on 127.0.0.1 that plays the X-Ray daemon.
struct Daemon {
    socket: UdpSocket,
}

impl Daemon {
    fn start() -> (Daemon, Arc<XrayDaemon>) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the daemon's socket");
        let address = socket.local_addr().expect("its address");
        let sender = XrayDaemon::at(address).expect("a sender to it");
        (Daemon { socket }, Arc::new(sender))
    }

    /// Every document received so far. Subsegments are sent before an invocation returns, and a
    /// datagram on loopback is in the socket's buffer once sent, so nothing is waited for.
    fn received(&self) -> Vec<Value> {
        self.socket.set_nonblocking(true).expect("nonblocking");
        let mut documents = Vec::new();
        let mut buffer = [0u8; 65_536];
        while let Ok(length) = self.socket.recv(&mut buffer) {
            let datagram = std::str::from_utf8(&buffer[..length]).expect("a datagram is UTF-8");
            let (header, document) = datagram.split_once('\n').expect("a header line, then the document");
            assert_eq!(
                serde_json::from_str::<Value>(header).expect("the header is JSON"),
                json!({"format": "json", "version": 1}),
                "{datagram}"
            );
            documents.push(serde_json::from_str(document).unwrap_or_else(|e| panic!("not JSON ({e}): {document}")));
        }
        documents
    }
}

fn named<'d>(documents: &'d [Value], name: &str) -> Vec<&'d Value> {
    documents.iter().filter(|d| d["name"] == name).collect()
}

fn is_segment_id(id: &Value) -> bool {
    id.as_str()
        .is_some_and(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An invocation's subsegment: sent on its own, in Lambda's trace under Lambda's segment.
fn assert_invocation(document: &Value) {
    assert_eq!(document["type"], "subsegment", "{document}");
    assert_eq!(document["trace_id"], ROOT, "{document}");
    assert_eq!(document["parent_id"], LAMBDA_SEGMENT, "{document}");
    assert!(is_segment_id(&document["id"]), "{document}");
    let (start, end) = (
        document["start_time"].as_f64().unwrap(),
        document["end_time"].as_f64().unwrap(),
    );
    assert!(start > 1.7e9 && start <= end, "{document}");
}

/// The AWS calls nested in `invocation`, each checked as a DynamoDB call on `table` within the
/// invocation's time; their operations, in order of start.
fn dynamodb_calls<'i>(invocation: &'i Value, table: &str) -> Vec<&'i Value> {
    let calls: Vec<&Value> = invocation["subsegments"]
        .as_array()
        .map(|calls| calls.iter().collect())
        .unwrap_or_default();
    for call in &calls {
        assert_eq!(call["name"], "DynamoDB", "{call}");
        assert!(is_segment_id(&call["id"]) && call["id"] != invocation["id"], "{call}");
        assert_eq!(call["namespace"], "aws", "{call}");
        assert_eq!(call["aws"]["table_name"], table, "{call}");
        assert_eq!(call["aws"]["region"], "us-east-1", "{call}");
        // Inside the invocation's own time (X-Ray draws it so).
        let (start, end) = (call["start_time"].as_f64().unwrap(), call["end_time"].as_f64().unwrap());
        assert!(start <= end, "{call}");
        assert!(
            start >= invocation["start_time"].as_f64().unwrap(),
            "{call} in {invocation}"
        );
        assert!(
            end <= invocation["end_time"].as_f64().unwrap(),
            "{call} in {invocation}"
        );
    }
    calls
}

fn operations(calls: &[&Value]) -> Vec<String> {
    calls
        .iter()
        .map(|c| c["aws"]["operation"].as_str().unwrap().to_string())
        .collect()
}

/// A call DynamoDB answered: its status and request id, and no retry.
fn assert_answered(call: &Value) {
    assert_eq!(call["http"]["response"]["status"], 200, "{call}");
    assert!(
        call["aws"]["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{call}"
    );
    assert_eq!(call["aws"]["retries"], 0, "{call}");
}

#[tokio::test]
async fn a_sampled_invocation_and_its_dynamodb_calls_reach_the_daemon_linked_to_lambdas_segment() {
    let (daemon, sender) = Daemon::start();
    let h = Harness::traced(sender).await;
    let product = h.create_product(10).await;
    daemon.received(); // the product's own invocation, untraced: nothing, as checked below

    let mut order = event("create-order");
    set_body(
        &mut order,
        &json!({"items": [{"product_id": product["id"], "quantity": 2}]}),
    );
    set_header(&mut order, "idempotency-key", &fresh_ulid());
    let reply = h.call_traced("create-order", &order, &sampled()).await;
    reply.assert_status(201);

    let documents = daemon.received();
    assert_eq!(documents.len(), 1, "one datagram per invocation: {documents:#?}");
    let invocation = &documents[0];
    assert_eq!(invocation["name"], "create-order", "{invocation}");
    assert_invocation(invocation);
    assert_eq!(invocation["http"]["response"]["status"], 201, "{invocation}");
    assert_eq!(
        invocation["annotations"]["request_id"],
        reply.header("x-request-id").unwrap(),
        "found by our request id: {invocation}"
    );
    assert!(
        invocation.get("error").is_none() && invocation.get("fault").is_none(),
        "{invocation}"
    );

    let calls = dynamodb_calls(invocation, &h.table);
    let operations = operations(&calls);
    assert!(
        operations.iter().any(|o| o == "TransactWriteItems"),
        "placing an order is a transaction: {operations:?}"
    );
    calls.iter().for_each(|call| assert_answered(call));
}

#[tokio::test]
async fn unsampled_and_headerless_invocations_send_nothing() {
    let (daemon, sender) = Daemon::start();
    let h = Harness::traced(sender).await;
    let product = h.create_product(5).await;
    let mut get = event("get-product");
    set_path_parameter(&mut get, product["id"].as_str().unwrap());
    let unsampled = format!("Root={ROOT};Parent={LAMBDA_SEGMENT};Sampled=0");
    h.call_traced("get-product", &get, &unsampled).await.assert_status(200);
    h.call_traced("get-product", &get, "garbage").await.assert_status(200);
    h.call("get-product", &get).await.assert_status(200);
    assert_eq!(daemon.received(), Vec::<Value>::new());

    // The same call sampled does send: the silence above is the sampling decision.
    h.call_traced("get-product", &get, &sampled()).await.assert_status(200);
    let documents = daemon.received();
    assert_eq!(named(&documents, "get-product").len(), 1, "{documents:#?}");
}

#[tokio::test]
async fn a_client_error_is_an_error_and_a_lost_store_a_fault_with_its_retries() {
    let (daemon, sender) = Daemon::start();
    let h = Harness::traced(Arc::clone(&sender)).await;
    let mut missing = event("get-product");
    set_path_parameter(&mut missing, &fresh_ulid());
    h.call_traced("get-product", &missing, &sampled())
        .await
        .assert_status(404);
    let documents = daemon.received();
    let invocation = named(&documents, "get-product")[0];
    assert_invocation(invocation);
    assert_eq!(invocation["error"], true, "{invocation}");
    assert_eq!(invocation["http"]["response"]["status"], 404, "{invocation}");
    let calls = dynamodb_calls(invocation, &h.table);
    assert_eq!(operations(&calls), ["GetItem"]);
    assert_answered(calls[0]);

    // No DynamoDB at all: a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let client = client_for(&format!("http://{closed}"));
    let calls = AwsCalls::new(Some("us-east-1".into()), Some("orderly-gone".into()));
    let client = orderly_store_dynamodb::Client::from_conf(client.config().to_builder().interceptor(calls).build());
    let vars: HashMap<String, String> = [("TABLE_NAME", "orderly-gone")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // get-product holds no secret, as deployed.
    let app = FunctionConfig::from_vars(&vars, Default::default())
        .unwrap()
        .app_with(client);
    let function = Function::new(&GET_PRODUCT, app).traced(sender);
    let request = serde_json::from_value(missing.clone()).unwrap();
    let mut context = orderly_functions::Context::default();
    context.xray_trace_id = Some(sampled());
    let response = function.handle(request, &context).await;
    assert_eq!(response.status(), 503);

    let documents = daemon.received();
    let invocation = named(&documents, "get-product")[0];
    assert_eq!(invocation["fault"], true, "{invocation}");
    let calls = dynamodb_calls(invocation, "orderly-gone");
    assert_eq!(calls.len(), 1, "{invocation}");
    let call = calls[0];
    assert_eq!(call["fault"], true, "no answer is a fault: {call}");
    assert!(call.get("http").is_none(), "no answer, no status: {call}");
    assert_eq!(call["aws"]["retries"], 2, "three attempts: {call}");
}

#[tokio::test]
async fn notify_s_writes_from_its_concurrent_tasks_hang_from_its_subsegment() {
    let (daemon, sender) = Daemon::start();
    let h = Harness::traced(Arc::clone(&sender)).await;
    let sample = event("notify");
    let batch: SqsEvent = serde_json::from_value(sample.clone()).unwrap();
    let messages = batch.records.len();
    let header = sampled();
    let answer = xray::trace_invocation(
        Some(&sender),
        Some(&header),
        "notify",
        notify::notify_batch(&h.app, &batch),
        |answer| xray::Outcome {
            failed: answer.is_err(),
            ..xray::Outcome::default()
        },
    )
    .await
    .expect("a batch answer");
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");

    let documents = daemon.received();
    assert_eq!(documents.len(), 1, "{documents:#?}");
    let invocation = &documents[0];
    assert_eq!(invocation["name"], "notify", "{invocation}");
    assert_invocation(invocation);
    let calls = dynamodb_calls(invocation, &h.table);
    assert!(
        calls.len() >= messages,
        "at least one write per message, each under notify: {:?}",
        operations(&calls)
    );
    calls.iter().for_each(|call| assert_answered(call));
}
