//! Fault test: DynamoDB Local, on a data directory, is killed in the middle of a burst of concurrent
//! orders and started again. The API must answer 503 and never another 5xx; every order it
//! acknowledged with 201 must still be there; and for every product, stock plus the units of its
//! live orders must equal the initial stock (nothing oversold, nothing half-written).
//!
//! Needs the jar and native libraries the test command installs (`ORDERLY_TEST_DYNAMODB_LOCAL_JAR`,
//! `ORDERLY_TEST_DYNAMODB_LOCAL_LIB`); without them it fails, saying how to fix it.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_orderly");
const JWT_SECRET: &str = "fault-test-jwt-secret-0123456789abcdef";
const INITIAL_STOCK: i64 = 100_000;
const PRODUCTS: usize = 3;
const BUYERS: usize = 24;

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test, which installs DynamoDB Local and sets it")
    })
}

/// A DynamoDB Local process on a data directory, on a fixed port so it can be restarted in place.
struct DynamoDbLocal {
    child: Option<Child>,
    port: u16,
}

impl DynamoDbLocal {
    fn start(data_dir: &Path, port: u16) -> Self {
        let (jar, lib) = (
            required_env("ORDERLY_TEST_DYNAMODB_LOCAL_JAR"),
            required_env("ORDERLY_TEST_DYNAMODB_LOCAL_LIB"),
        );
        let child = Command::new("java")
            .arg(format!("-Djava.library.path={lib}"))
            .args(["-jar", &jar, "-dbPath"])
            .arg(data_dir)
            .args(["-port", &port.to_string(), "-disableTelemetry"])
            .env("DDB_LOCAL_TELEMETRY", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start java for DynamoDB Local (is Java 17 installed?): {e}"));
        let mut local = DynamoDbLocal {
            child: Some(child),
            port,
        };
        local.wait_until_listening();
        local
    }

    /// Until it answers HTTP: it accepts connections a little before it can serve them.
    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !answers_http(self.port) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("DynamoDB Local exited at start-up: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "DynamoDB Local did not listen on {} within 90 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL: a crash, not a shutdown.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        self.kill();
    }
}

fn answers_http(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut answer = [0u8; 12];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && answer.starts_with(b"HTTP/1.1 ")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn aws_env(port: u16, table: &str) -> Vec<(&'static str, String)> {
    vec![
        ("TABLE_NAME", table.to_string()),
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("ORDERLY_JWT_SECRET", JWT_SECRET.into()),
        ("PAYMENT_WEBHOOK_SECRET", "fault-test-webhook-secret".into()),
        ("RUST_LOG", "warn".into()),
    ]
}

fn token(sub: &str, admin: bool) -> String {
    let mut command = Command::new(BIN);
    command
        .args(["token", "--sub", sub])
        .env("ORDERLY_JWT_SECRET", JWT_SECRET);
    if admin {
        command.arg("--admin");
    }
    let output = command.output().expect("orderly token");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// One answer of the burst.
struct Outcome {
    /// When the request was sent: 0 before the kill, 1 during the outage, 2 after the restart.
    phase: u8,
    /// When its answer arrived, on the same scale.
    answered_in: u8,
    status: u16,
    order_id: Option<String>,
    retry_after: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_survive_dynamodb_dying_mid_burst() {
    let data = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut dynamodb = DynamoDbLocal::start(data.path(), port);
    let env = aws_env(port, "orderly-fault");
    let created = Command::new(BIN)
        .args(["table", "create"])
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .output();
    let created = created.expect("orderly table create");
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));

    let app_port = free_port();
    let _server = Server(
        Command::new(BIN)
            .args([
                "serve",
                "--store",
                "dynamodb",
                "--addr",
                &format!("127.0.0.1:{app_port}"),
                "--data-dir",
            ])
            .arg(data.path().join("orderly"))
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn orderly serve"),
    );
    let base = format!("http://127.0.0.1:{app_port}/v1");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("{base}/health"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "the server did not become healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let admin = token("fault-admin", true);
    let mut products = Vec::new();
    for n in 0..PRODUCTS {
        let created = http
            .post(format!("{base}/products"))
            .bearer_auth(&admin)
            .json(
                &json!({"sku": format!("FAULT-{n}"), "name": "Fault tea", "price_cents": 100, "stock": INITIAL_STOCK}),
            )
            .send()
            .await
            .expect("create product");
        assert_eq!(created.status(), 201);
        let product: Value = created.json().await.expect("product");
        products.push(product["id"].as_str().expect("id").to_string());
    }

    let buyers: Vec<String> = (0..BUYERS).map(|n| format!("fault-buyer-{n}")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let phase = Arc::new(AtomicU8::new(0));
    let recovered = Arc::new(AtomicUsize::new(0));
    let mut burst = Vec::new();
    for (n, buyer) in buyers.iter().enumerate() {
        let (http, base, stop, phase) = (http.clone(), base.clone(), Arc::clone(&stop), Arc::clone(&phase));
        let recovered = Arc::clone(&recovered);
        let (token, product) = (token(buyer, false), products[n % PRODUCTS].clone());
        burst.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let quantity = 1 + (outcomes.len() % 3);
                let sent_in = phase.load(Ordering::SeqCst);
                let answer = http
                    .post(format!("{base}/orders"))
                    .bearer_auth(&token)
                    .json(&json!({"items": [{"product_id": product, "quantity": quantity}]}))
                    .send()
                    .await
                    .expect("the local server itself must keep answering");
                let status = answer.status().as_u16();
                let retry_after = answer.headers().contains_key("retry-after");
                let body: Value = answer.json().await.unwrap_or(Value::Null);
                let order_id = (status == 201).then(|| body["id"].as_str().unwrap_or_default().to_string());
                let answered_in = phase.load(Ordering::SeqCst);
                if sent_in == 2 && status == 201 {
                    recovered.fetch_add(1, Ordering::SeqCst);
                }
                outcomes.push(Outcome {
                    phase: sent_in,
                    answered_in,
                    status,
                    order_id,
                    retry_after,
                });
            }
            outcomes
        }));
    }

    tokio::time::sleep(Duration::from_millis(2000)).await;
    phase.store(1, Ordering::SeqCst);
    dynamodb.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let health = http
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health during the outage");
    assert_eq!(health.status(), 503, "health must say the store is unavailable");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut dynamodb = DynamoDbLocal::start(data.path(), port);
    phase.store(2, Ordering::SeqCst);
    // Keep ordering until every buyer's orders go through again: a cold JVM on a busy machine can
    // take a while, so wait for the outcome rather than for a fixed time.
    let recovery_deadline = Instant::now() + Duration::from_secs(90);
    while recovered.load(Ordering::SeqCst) < BUYERS && Instant::now() < recovery_deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);

    let mut outcomes = Vec::new();
    for task in burst {
        outcomes.extend(task.await.expect("a buyer task"));
    }
    let count = |status: u16| outcomes.iter().filter(|o| o.status == status).count();
    let server_errors: Vec<u16> = outcomes
        .iter()
        .map(|o| o.status)
        .filter(|s| *s >= 500 && *s != 503)
        .collect();
    assert!(server_errors.is_empty(), "only 503 may be a 5xx, got {server_errors:?}");
    assert!(
        outcomes.iter().filter(|o| o.status == 503).all(|o| o.retry_after),
        "every 503 carries Retry-After"
    );
    let unexpected: Vec<u16> = outcomes
        .iter()
        .map(|o| o.status)
        .filter(|s| ![201, 503].contains(s))
        .collect();
    assert!(
        unexpected.is_empty(),
        "stock is plentiful, so only 201 or 503: {unexpected:?}"
    );
    assert!(count(503) > 0, "the outage must have been seen by some orders");
    let in_phase = |p: u8, status: u16| outcomes.iter().filter(|o| o.phase == p && o.status == status).count();
    let failed_before = outcomes
        .iter()
        .filter(|o| o.answered_in == 0 && o.status == 503)
        .count();
    assert_eq!(
        failed_before, 0,
        "no order answered before the outage may fail (a conflict is retried, not a failure)"
    );
    assert!(in_phase(0, 201) > 0, "orders succeed before the outage");
    assert!(count(201) > 0, "orders must have succeeded around the outage");
    assert!(in_phase(2, 201) > 0, "orders must succeed again once DynamoDB is back");

    // Every acknowledged order is there.
    for outcome in &outcomes {
        let Some(id) = outcome.order_id.as_deref() else {
            continue;
        };
        let answer = http
            .get(format!("{base}/orders/{id}"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("read order");
        assert_eq!(
            answer.status(),
            200,
            "acknowledged order {id} is missing (sent in phase {}, answered in phase {})",
            outcome.phase,
            outcome.answered_in
        );
    }

    // Stock plus the units of live orders (including any that committed but whose answer was a
    // 503) equals the initial stock, for every product.
    let mut reserved: HashMap<String, i64> = HashMap::new();
    for buyer in &buyers {
        let token = token(buyer, false);
        let mut cursor = String::new();
        loop {
            let page: Value = http
                .get(format!("{base}/orders?limit=100&cursor={cursor}"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("list orders")
                .json()
                .await
                .expect("orders page");
            for order in page["items"].as_array().expect("items") {
                if ["pending_payment", "paid", "expired"].contains(&order["status"].as_str().unwrap_or_default()) {
                    for line in order["items"].as_array().expect("lines") {
                        *reserved
                            .entry(line["product_id"].as_str().unwrap_or_default().to_string())
                            .or_default() += line["quantity"].as_i64().unwrap_or_default();
                    }
                }
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_string(),
                None => break,
            }
        }
    }
    for product in &products {
        let stock = http
            .get(format!("{base}/products/{product}"))
            .send()
            .await
            .expect("read product");
        let stock: Value = stock.json().await.expect("product");
        let stock = stock["stock"].as_i64().expect("stock");
        let held = reserved.get(product).copied().unwrap_or_default();
        assert_eq!(
            stock + held,
            INITIAL_STOCK,
            "product {product}: stock {stock} + reserved {held}"
        );
    }
    eprintln!(
        "fault test: before the kill {} × 201; during the outage {} × 201, {} × 503; after the restart {} × 201, {} × 503",
        in_phase(0, 201),
        in_phase(1, 201),
        in_phase(1, 503),
        in_phase(2, 201),
        in_phase(2, 503)
    );
    dynamodb.kill();
}
