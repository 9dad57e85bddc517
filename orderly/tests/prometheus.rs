//! The local server's metrics, scraped by a real Prometheus: `orderly serve --metrics-addr
//! 127.0.0.1:0` takes a few orders, Debian's `prometheus` (started here on 127.0.0.1, a free port,
//! a temporary configuration and storage) scrapes `GET /metrics` every second, and its query API
//! must answer the number of orders placed. Both processes are stopped at the end, even when the
//! test fails.
//!
//! Needs the `prometheus` binary at `ORDERLY_TEST_PROMETHEUS_BIN` (scripts/test installs Debian's
//! package and sets it); without it the test fails, saying how to fix it. Behind the `prometheus`
//! feature, which scripts/test enables.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_orderly");
const PROMETHEUS_BIN: &str = "ORDERLY_TEST_PROMETHEUS_BIN";
const JWT_SECRET: &str = "prometheus-test-jwt-secret-0123456789";
const WEBHOOK_SECRET: &str = "prometheus-test-webhook-secret-012345";
const API_MARKER: &str = "listening on http://";
const METRICS_MARKER: &str = "serving metrics on http://";
const ORDERS: usize = 3;
/// How long Prometheus may take to scrape the orders and answer them (it scrapes every second).
const QUERY_DEADLINE: Duration = Duration::from_secs(60);

/// A child process killed (and reaped) when the test ends, however it ends.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn prometheus_scrapes_the_local_server_and_answers_how_many_orders_were_placed() {
    let prometheus_bin = std::env::var(PROMETHEUS_BIN).unwrap_or_else(|_| {
        panic!(
            "{PROMETHEUS_BIN} is not set: run the tests with scripts/test, which installs Debian's prometheus \
             and sets it; or `apt-get install --no-install-recommends prometheus` and \
             `export {PROMETHEUS_BIN}=$(command -v prometheus)`"
        )
    });
    let dir = tempfile::Builder::new()
        .prefix("orderly-prometheus-test-")
        .tempdir()
        .unwrap();

    let (_server, api, metrics) = start_orderly(&dir.path().join("data"));
    assert!(
        metrics.starts_with("127.0.0.1:"),
        "the metrics listener is on loopback: {metrics}"
    );
    assert_ne!(api, metrics, "the metrics have a listener of their own");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // A few orders through the API.
    let admin = token(&dir.path().join("data"), &["--sub", "admin-1", "--admin"]);
    let buyer = token(&dir.path().join("data"), &["--sub", "buyer-1"]);
    let product: Value = client
        .post(format!("http://{api}/v1/products"))
        .bearer_auth(&admin)
        .json(&json!({"sku": "PROM-1", "name": "Scraped tea", "price_cents": 1250, "stock": 100}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let product_id = product["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no product: {product}"));
    for _ in 0..ORDERS {
        let placed = client
            .post(format!("http://{api}/v1/orders"))
            .bearer_auth(&buyer)
            .json(&json!({"items": [{"product_id": product_id, "quantity": 1}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(placed.status(), 201);
    }

    // The exposition itself: Prometheus's text format, on the metrics listener only.
    let exposed = client.get(format!("http://{metrics}/metrics")).send().await.unwrap();
    assert_eq!(exposed.status(), 200);
    let content_type = exposed.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = exposed.text().await.unwrap();
    assert!(
        text.lines().any(|l| l == format!("orderly_orders_placed {ORDERS}")),
        "{text}"
    );
    assert!(text.contains("# TYPE orderly_latency_ms histogram"), "{text}");
    let on_the_api = client.get(format!("http://{api}/metrics")).send().await.unwrap();
    assert_eq!(on_the_api.status(), 404, "the API does not serve the metrics");

    // The real Prometheus, scraping that listener every second.
    let port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: orderly\n    static_configs:\n      - targets: ['{metrics}']\n"
        ),
    )
    .unwrap();
    let log_path = dir.path().join("prometheus.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(&prometheus_bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {prometheus_bin}: {e}"));
    let mut prometheus = Stopped(child);

    let base = format!("http://127.0.0.1:{port}");
    let query = format!("orderly_orders_placed{{job=\"orderly\",instance=\"{metrics}\"}}");
    let deadline = Instant::now() + QUERY_DEADLINE;
    loop {
        if let Ok(Some(status)) = prometheus.0.try_wait() {
            panic!("prometheus exited ({status}):\n{}", read(&log_path));
        }
        let last = match client
            .get(format!("{base}/api/v1/query"))
            .query(&[("query", &query)])
            .send()
            .await
        {
            Ok(answer) => {
                let body: Value = answer.json().await.unwrap_or(Value::Null);
                if body["data"]["result"][0]["value"][1] == json!(ORDERS.to_string()) {
                    break;
                }
                body.to_string()
            }
            Err(error) => format!("not answering yet: {error}"),
        };
        if Instant::now() > deadline {
            let targets = match client.get(format!("{base}/api/v1/targets")).send().await {
                Ok(answer) => answer.text().await.unwrap_or_default(),
                Err(error) => error.to_string(),
            };
            panic!(
                "prometheus did not answer {query} = {ORDERS} within {QUERY_DEADLINE:?}; its last answer: {last}\n\
                 targets: {targets}\nits log:\n{}",
                read(&log_path)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Its view of the requests, by the labels the core gives them.
    let answer: Value = client
        .get(format!("{base}/api/v1/query"))
        .query(&[(
            "query",
            r#"sum(orderly_requests{operation="create-order",status_class="2xx"})"#,
        )])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["data"]["result"][0]["value"][1],
        json!(ORDERS.to_string()),
        "{answer}"
    );
}

/// `orderly serve` on free loopback ports for the API and the metrics; both addresses.
fn start_orderly(data_dir: &Path) -> (Stopped, String, String) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .env("ORDERLY_JWT_SECRET", JWT_SECRET)
        .env("PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env_remove("RUST_LOG")
        .env_remove("TABLE_NAME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let server = Stopped(child);
    let (found, addresses) = mpsc::channel();
    std::thread::spawn(move || {
        // Keeps reading after the addresses are found, so the pipe never fills up.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            for marker in [API_MARKER, METRICS_MARKER] {
                if let Some(addr) = address_after(&line, marker) {
                    let _ = found.send((marker, addr));
                }
            }
        }
    });
    let (mut api, mut metrics) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.is_none() || metrics.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match addresses.recv_timeout(left) {
            Ok((API_MARKER, addr)) => api = Some(addr),
            Ok((_, addr)) => metrics = Some(addr),
            Err(_) => {
                panic!("orderly serve did not print both addresses within 30 s (api {api:?}, metrics {metrics:?})")
            }
        }
    }
    (server, api.unwrap(), metrics.unwrap())
}

/// `...serving metrics on http://127.0.0.1:40123/metrics"` → `127.0.0.1:40123`.
fn address_after(line: &str, marker: &str) -> Option<String> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let end = rest
        .find(|c: char| c == '/' || c == '"' || c.is_whitespace())
        .unwrap_or(rest.len());
    Some(rest[..end].to_string()).filter(|addr| !addr.is_empty())
}

fn token(data_dir: &Path, args: &[&str]) -> String {
    let output = Command::new(BIN)
        .arg("token")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("ORDERLY_JWT_SECRET", JWT_SECRET)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
