//! The process around the API: configuration read once at start-up, secrets generated on the
//! first run, the `token` and `webhook` tools, and graceful shutdown.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_orderly");

fn orderly(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_remove("ORDERLY_JWT_SECRET")
        .env_remove("PAYMENT_WEBHOOK_SECRET")
        .env_remove("ORDERLY_CURSOR_KEY")
        .env_remove("ORDER_TTL_SECONDS")
        .env_remove("CURRENCY")
        .env_remove("ORDERLY_JWT_ISSUER")
        .env_remove("ORDERLY_JWT_AUDIENCE")
        .env_remove("ORDERLY_JWT_MAX_LIFETIME_SECONDS")
        .env_remove("TABLE_NAME")
        .env("RUST_LOG", "info")
        .current_dir(dir);
    command
}

/// Waits for the process to exit, killing it (and failing) after `limit`.
fn wait_with_limit(mut child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    while child.try_wait().expect("poll child").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("orderly did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect output")
}

/// Starts `orderly serve` on a free port; returns the child, its address, and its stdout lines.
fn serve(dir: &Path) -> (Child, String, mpsc::Receiver<String>) {
    let mut child = orderly(dir)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn orderly serve");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("orderly serve printed no 'listening on' line within 30 s");
        };
        if let Some((_, rest)) = line.split_once("listening on http://") {
            let addr: String = rest.chars().take_while(|c| *c != '"' && !c.is_whitespace()).collect();
            return (child, addr, lines);
        }
    }
}

#[test]
fn an_invalid_setting_stops_the_process_at_once_naming_the_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let cases = [
        ("ORDER_TTL_SECONDS", "15m"),
        ("ORDER_TTL_SECONDS", "0"),
        ("ORDER_TTL_SECONDS", "99999999999"),
        ("CURRENCY", "usd"),
        ("CURRENCY", "EURO"),
        ("ORDERLY_JWT_SECRET", ""),
        ("PAYMENT_WEBHOOK_SECRET", ""),
        ("ORDERLY_CURSOR_KEY", ""),
        ("ORDERLY_JWT_ISSUER", ""),
        ("ORDERLY_JWT_ISSUER", "https://issuer.example "),
        ("ORDERLY_JWT_AUDIENCE", ""),
        ("ORDERLY_JWT_MAX_LIFETIME_SECONDS", "0"),
        ("ORDERLY_JWT_MAX_LIFETIME_SECONDS", "1d"),
        ("ORDERLY_JWT_MAX_LIFETIME_SECONDS", "31536001"),
        ("ORDERLY_RELAY_INTERVAL_MS", "5"),
    ];
    let serve = |variable: &str, value: &str, store: &str| {
        let child = orderly(dir.path())
            .args(["serve", "--addr", "127.0.0.1:0", "--store", store, "--data-dir"])
            .arg(&data)
            .env(variable, value)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn orderly serve");
        wait_with_limit(child, Duration::from_secs(10))
    };
    let mut runs: Vec<(&str, &str, Output)> = cases
        .iter()
        .map(|&(variable, value)| (variable, value, serve(variable, value, "embedded")))
        .collect();
    // The store's own setting is checked with the rest: a table name DynamoDB would refuse.
    runs.push(("TABLE_NAME", "x", serve("TABLE_NAME", "x", "dynamodb")));
    for (variable, value, output) in runs {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{variable}={value:?} must stop the server");
        assert!(
            stderr.contains(variable),
            "{variable}={value:?}: the message must name it, got {stderr:?}"
        );
        // Checked before anything is written: no secret, no database, not even the data dir.
        assert!(
            !data.exists(),
            "{variable}={value:?}: the data dir was written before the configuration was checked: {:?}",
            std::fs::read_dir(&data).map(|d| d.map(|e| e.map(|e| e.file_name())).collect::<Vec<_>>())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_run_needs_no_setup_and_the_tools_use_its_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, addr, _lines) = serve(dir.path());
    let data = dir.path().join("data");
    for file in ["jwt-secret", "webhook-secret", "cursor-key"] {
        let meta = std::fs::metadata(data.join(file)).unwrap_or_else(|e| panic!("{file} was not generated: {e}"));
        #[cfg(unix)]
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o600,
            "{file}"
        );
        assert!(meta.len() >= 32, "{file} is too short to be a real secret");
    }
    // The database beside them holds every order and profile: owner-only too, with the files
    // SQLite keeps next to it while it runs (WAL mode).
    #[cfg(unix)]
    for file in ["orderly.db", "orderly.db-wal", "orderly.db-shm"] {
        let meta = std::fs::metadata(data.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o600,
            "{file}"
        );
    }

    let token = |args: &[&str]| {
        let output = orderly(dir.path())
            .arg("token")
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .expect("token");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    // A token the server would refuse is not minted: a day is the longest lifetime by default.
    let too_long = orderly(dir.path())
        .args(["token", "--sub", "x", "--ttl-seconds", "86401", "--data-dir"])
        .arg(&data)
        .output()
        .expect("token");
    assert!(!too_long.status.success());
    assert!(String::from_utf8_lossy(&too_long.stderr).contains("ORDERLY_JWT_MAX_LIFETIME_SECONDS"));
    let admin = token(&["--sub", "tour-admin", "--admin"]);
    let buyer = token(&["--sub", "tour-buyer", "--email", "buyer@example.com"]);

    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let base = format!("http://{addr}/v1");
    let product: Value = http
        .post(format!("{base}/products"))
        .bearer_auth(&admin)
        .json(&json!({"sku": "TOUR-1", "name": "Tour tea", "price_cents": 1250, "stock": 5}))
        .send()
        .await
        .expect("create product")
        .json()
        .await
        .expect("product JSON");
    let order = http
        .post(format!("{base}/orders"))
        .bearer_auth(&buyer)
        .json(&json!({"items": [{"product_id": product["id"], "quantity": 2}]}))
        .send()
        .await
        .expect("place order");
    assert_eq!(order.status(), 201);
    let order: Value = order.json().await.expect("order JSON");
    let order_id = order["id"].as_str().expect("order id").to_string();

    let paid = orderly(dir.path())
        .args(["webhook", "pay", &order_id, "--addr", &addr, "--data-dir"])
        .arg(&data)
        .output()
        .expect("orderly webhook pay");
    assert!(paid.status.success(), "{}", String::from_utf8_lossy(&paid.stderr));
    assert!(
        String::from_utf8_lossy(&paid.stdout).starts_with("200"),
        "{}",
        String::from_utf8_lossy(&paid.stdout)
    );
    let order: Value = http
        .get(format!("{base}/orders/{order_id}"))
        .bearer_auth(&buyer)
        .send()
        .await
        .expect("read order")
        .json()
        .await
        .expect("order JSON");
    assert_eq!(order["status"], "paid");
    assert!(order["paid_at"].is_string());
    let _ = child.kill();
    let _ = child.wait();
}

/// A data dir from before the cursors had their own key: its first start under this version
/// generates the key beside the other secrets, owner-only and unlike the webhook secret, and
/// leaves those as they were; a restart keeps it, so a cursor handed out before still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_data_dir_gets_its_own_cursor_key_once_and_keeps_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let (jwt, webhook) = ("a".repeat(64), "b".repeat(64));
    for (file, secret) in [("jwt-secret", &jwt), ("webhook-secret", &webhook)] {
        std::fs::write(data.join(file), secret).expect("an older run's secret");
    }

    let (mut child, addr, _lines) = serve(dir.path());
    let key = std::fs::read_to_string(data.join("cursor-key")).expect("cursor-key was not generated");
    #[cfg(unix)]
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(data.join("cursor-key")).expect("meta").permissions()
        ) & 0o777,
        0o600
    );
    assert!(key.trim().len() >= 64, "too short to be a real key: {key:?}");
    assert_ne!(key.trim(), webhook);
    assert_eq!(
        std::fs::read_to_string(data.join("webhook-secret")).expect("read"),
        webhook
    );
    assert_eq!(std::fs::read_to_string(data.join("jwt-secret")).expect("read"), jwt);

    let admin = orderly(dir.path())
        .args(["token", "--sub", "cursor-admin", "--admin", "--data-dir"])
        .arg(&data)
        .output()
        .expect("token");
    let admin = String::from_utf8_lossy(&admin.stdout).trim().to_string();
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    for sku in ["CURSOR-1", "CURSOR-2"] {
        let created = http
            .post(format!("http://{addr}/v1/products"))
            .bearer_auth(&admin)
            .json(&json!({"sku": sku, "name": "Tea", "price_cents": 100, "stock": 1}))
            .send()
            .await
            .expect("create product");
        assert_eq!(created.status(), 201);
    }
    let page: Value = http
        .get(format!("http://{addr}/v1/products?limit=1"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("list JSON");
    let cursor = page["next_cursor"].as_str().expect("a next page").to_string();
    let _ = child.kill();
    let _ = child.wait();

    let (mut child, addr, _lines) = serve(dir.path());
    assert_eq!(
        std::fs::read_to_string(data.join("cursor-key")).expect("read"),
        key,
        "the key is kept"
    );
    let next = http
        .get(format!("http://{addr}/v1/products?limit=1&cursor={cursor}"))
        .send()
        .await
        .expect("list");
    assert_eq!(next.status(), 200, "a cursor of the previous run");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sigterm_stops_accepting_and_exits_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, addr, lines) = serve(dir.path());
    let signalled = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(signalled.success());
    let output = wait_with_limit(child, Duration::from_secs(10));
    assert!(
        output.status.success(),
        "exit status after SIGTERM: {:?}",
        output.status
    );
    let logged: Vec<String> = lines.try_iter().collect();
    assert!(logged.iter().any(|l| l.contains("shutting down")), "{logged:?}");
    assert!(logged.iter().any(|l| l.contains("stopped")), "{logged:?}");
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "the port must be closed after shutdown"
    );
}
