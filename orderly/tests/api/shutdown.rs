//! SIGTERM under load: the server stops taking connections, lets in-flight requests finish, and
//! exits cleanly; every order it acknowledged is there after a restart, every request got an
//! answer or a closed connection, and no order is half-written (stock and reservations add up).

use std::sync::Arc;
use std::time::Duration;

use crate::support::*;

const INITIAL_STOCK: i64 = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_drains_and_loses_no_acknowledged_order() {
    // Each buyer holds dozens of unpaid orders: the reservation limit is raised out of the way.
    let mut srv = TestServer::start_with(&[
        ("MAX_UNPAID_ORDERS_PER_USER", "1000"),
        ("MAX_RESERVED_UNITS_PER_USER", "1000000"),
    ]);
    let admin = admin_token("admin");
    let p = id_of(&srv.create_product(&admin, "DRAIN-1", 100, INITIAL_STOCK).await);
    let base = srv.base.clone();
    let client = srv.client.clone();

    // Eight buyers keep ordering until their connection is refused or closed.
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<(String, String, i64)>::new()));
    let mut buyers = Vec::new();
    for n in 0..8 {
        let (base, client, p, acknowledged) = (base.clone(), client.clone(), p.clone(), acknowledged.clone());
        buyers.push(tokio::spawn(async move {
            let token = user_token(&format!("drain-buyer-{n}"));
            let mut answered = 0;
            for i in 0.. {
                let quantity = 1 + (i % 3);
                let sent = client
                    .post(format!("{base}/v1/orders"))
                    .bearer_auth(&token)
                    .json(&order_body(&[(&p, quantity)]))
                    .send()
                    .await;
                let Ok(response) = sent else {
                    // Refused or closed: the server is going away. A request cut off here may
                    // or may not have been committed; it was never acknowledged.
                    return answered;
                };
                let status = response.status().as_u16();
                let body: serde_json::Value = match response.json().await {
                    Ok(body) => body,
                    Err(_) => return answered,
                };
                assert_eq!(status, 201, "every answer is a real one, never a 5xx: {body}");
                acknowledged
                    .lock()
                    .unwrap()
                    .push((token.clone(), id_of(&body), quantity));
                answered += 1;
            }
            answered
        }));
    }
    // Let the load run, then ask the server to stop while requests are in flight.
    let started = std::time::Instant::now();
    while acknowledged.lock().unwrap().len() < 200 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = srv.terminate(Duration::from_secs(30));
    assert!(status.success(), "a clean exit after SIGTERM: {status}");
    for buyer in buyers {
        buyer.await.expect("a buyer");
    }
    let logs = srv.log_lines().join("\n");
    assert!(logs.contains("shutting down"), "{logs}");
    assert!(
        logs.contains("\"stopped\""),
        "the server reached its orderly end: {logs}"
    );

    srv.restart(); // on the same data
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 200, "the load ran: {}", acknowledged.len());
    let mut reserved_by_acknowledged = 0;
    for (token, id, quantity) in &acknowledged {
        let order = srv.order(token, id).await;
        assert_eq!(
            order["items"][0]["quantity"], *quantity,
            "acknowledged order {id} is whole"
        );
        reserved_by_acknowledged += quantity;
    }
    // Orders committed but cut off before their answer are there too, whole: everything the
    // stock lost is held by some stored order.
    let mut reserved_by_all = 0;
    for n in 0..8 {
        let token = user_token(&format!("drain-buyer-{n}"));
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => "/v1/orders?limit=100".to_string(),
                Some(c) => format!("/v1/orders?limit=100&cursor={c}"),
            };
            let page = srv.get(&path).token(&token).send().await;
            page.assert_json(200);
            for order in page.body["items"].as_array().unwrap() {
                assert_eq!(order["items"].as_array().map(Vec::len), Some(1), "{order}");
                reserved_by_all += order["items"][0]["quantity"].as_i64().unwrap();
            }
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
    }
    assert!(reserved_by_all >= reserved_by_acknowledged);
    assert!(
        reserved_by_all - reserved_by_acknowledged <= 8 * 3,
        "at most one unanswered order per buyer"
    );
    assert_eq!(
        srv.stock_of(&p).await,
        INITIAL_STOCK - reserved_by_all,
        "stock and reservations add up"
    );
}

/// A stop asked for while the server is still starting (here: waiting on a DynamoDB that accepts
/// connections and never answers) ends it cleanly at once, rather than by the signal's default.
#[test]
fn sigterm_during_start_up_stops_cleanly() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", black_hole.local_addr().expect("address"));
    let data = tempfile::tempdir().expect("tempdir");
    let mut server = Command::new(env!("CARGO_BIN_EXE_orderly"))
        .args(["serve", "--store", "dynamodb", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env_clear()
        .envs([
            ("TABLE_NAME", "orderly-start-up"),
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("ORDERLY_JWT_SECRET", "start-up-test-jwt-secret-0123456789abcdef"),
            ("PAYMENT_WEBHOOK_SECRET", "whsec_start_up_test_0123456789"),
            ("RUST_LOG", "info"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn orderly serve");
    // Start-up has reached DynamoDB once the black hole is called; hold the call unanswered.
    let (_held, _) = black_hole.accept().expect("start-up calls DynamoDB");
    let sent = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still starting 30 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut logs = String::new();
    server
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut logs)
        .expect("logs");
    server
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut logs)
        .expect("logs");
    assert!(
        status.success(),
        "a clean exit, not death by the signal: {status}\n{logs}"
    );
    assert!(logs.contains("stopped during start-up"), "{logs}");
    assert!(!logs.contains("listening on"), "it never served: {logs}");
}
