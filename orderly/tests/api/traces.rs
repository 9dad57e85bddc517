//! Traces over OTLP: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the server exports a span per
//! request (carrying its request id) and, inside it, a span per store call, to a collector. The
//! collector here is a minimal OTLP/HTTP receiver that keeps what it is sent.

use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::support::*;

/// Accepts OTLP/HTTP JSON posts on 127.0.0.1 and keeps their bodies.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    // The request line and headers, up to the blank line.
                    loop {
                        line.clear();
                        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if stream.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    if let Ok(json) = serde_json::from_slice(&body) {
                        kept.lock().unwrap().push(json);
                    }
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                    if stream.get_mut().write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (endpoint, received)
}

/// A span as received: its trace id, name, and attributes as key → string value.
type ReceivedSpan = (String, String, Vec<(String, String)>);

/// Every span received.
fn spans(received: &[Value]) -> Vec<ReceivedSpan> {
    let mut found = Vec::new();
    for export in received {
        for resource in export["resourceSpans"].as_array().into_iter().flatten() {
            for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                for span in scope["spans"].as_array().into_iter().flatten() {
                    let attributes = span["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            let value = &a["value"];
                            let text = value["stringValue"]
                                .as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| value.to_string());
                            (a["key"].as_str().unwrap_or("").to_string(), text)
                        })
                        .collect();
                    found.push((
                        span["traceId"].as_str().unwrap_or("").to_string(),
                        span["name"].as_str().unwrap_or("").to_string(),
                        attributes,
                    ));
                }
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_and_its_store_calls_reach_the_collector_as_one_trace() {
    let (endpoint, received) = receiver().await;
    let srv = TestServer::start_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]);
    let admin = admin_token("admin");
    let p = id_of(&srv.create_product(&admin, "TRACE-1", 100, 5).await);
    let placed = srv
        .post("/v1/orders")
        .token(&user_token("traced-buyer"))
        .header("X-Request-Id", "trace-story-1")
        .json(&order_body(&[(&p, 1)]))
        .send()
        .await;
    placed.assert_json(201);

    let store_call = if srv.is_embedded() {
        "store.write"
    } else {
        "DynamoDB.TransactWriteItems"
    };
    let (request_trace, spans) = eventually(
        "the order's trace at the collector",
        Duration::from_secs(30),
        || async {
            let spans = spans(&received.lock().unwrap());
            let request = spans.iter().find(|(_, name, attributes)| {
                name == "request"
                    && attributes
                        .iter()
                        .any(|(k, v)| k == "request_id" && v == "trace-story-1")
            })?;
            let trace = request.0.clone();
            spans
                .iter()
                .any(|(t, name, _)| *t == trace && name == store_call)
                .then_some((trace, spans))
        },
    )
    .await;
    assert_eq!(request_trace.len(), 32, "a W3C trace id");
    let in_trace: Vec<&str> = spans
        .iter()
        .filter(|(t, _, _)| *t == request_trace)
        .map(|(_, name, _)| name.as_str())
        .collect();
    assert!(
        in_trace.contains(&"request") && in_trace.contains(&store_call),
        "{in_trace:?}"
    );
    let exports = received.lock().unwrap().clone();
    let service = exports[0]["resourceSpans"][0]["resource"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "service.name")
        .map(|a| a["value"]["stringValue"].clone());
    assert_eq!(service, Some(Value::from("orderly")));
}
