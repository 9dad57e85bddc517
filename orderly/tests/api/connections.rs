//! What a client may hold of the server, over raw TCP: a head, a body or an idle connection that
//! stalls is closed once its limit has passed (and not before), connections over the bound get
//! 503 `unavailable`, a SIGTERM is not held up by stalled clients beyond the shutdown deadline,
//! and what the HTTP library refuses by itself is answered as the contract's problem+json.
//!
//! Limits are set to 1 s and the others to a minute, so that only the one under test can close
//! the connection; a close is asserted to come after its limit and within 15 s, which holds on a
//! slow, busy machine.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(1);
const WITHIN: Duration = Duration::from_secs(15);

const HEADER_TIMEOUT_MS: &str = "ORDERLY_HEADER_TIMEOUT_MS";
const BODY_TIMEOUT_MS: &str = "ORDERLY_BODY_TIMEOUT_MS";
const KEEP_ALIVE_TIMEOUT_MS: &str = "ORDERLY_KEEP_ALIVE_TIMEOUT_MS";
const MAX_CONNECTIONS: &str = "ORDERLY_MAX_CONNECTIONS";
const SHUTDOWN_TIMEOUT_MS: &str = "ORDERLY_SHUTDOWN_TIMEOUT_MS";

/// Every time limit a minute long except `only`'s, which is 1 s.
fn limits_except(only: &'static str) -> Vec<(&'static str, &'static str)> {
    [
        HEADER_TIMEOUT_MS,
        BODY_TIMEOUT_MS,
        KEEP_ALIVE_TIMEOUT_MS,
        SHUTDOWN_TIMEOUT_MS,
    ]
    .into_iter()
    .map(|variable| (variable, if variable == only { "1000" } else { "60000" }))
    .collect()
}

fn connect(srv: &TestServer) -> TcpStream {
    let addr = srv.base.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream
}

fn health_request(request_id: &str) -> Vec<u8> {
    format!("GET /v1/health HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: {request_id}\r\n\r\n").into_bytes()
}

/// Reads until the server closes the connection, for at most `WITHIN`; returns how long it took
/// from `since` and what arrived meanwhile.
#[track_caller]
fn wait_closed(stream: &mut TcpStream, since: Instant) -> (Duration, Vec<u8>) {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = WITHIN.saturating_sub(since.elapsed()).max(Duration::from_millis(1));
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => break,
            Err(e) => panic!(
                "the connection was not closed within {WITHIN:?} ({e}); received {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
        assert!(
            since.elapsed() <= WITHIN,
            "the connection was not closed within {WITHIN:?}; received {:?}",
            String::from_utf8_lossy(&received)
        );
    }
    (since.elapsed(), received)
}

/// Reads one response (its head and `Content-Length` bytes of body), leaving the connection open.
#[track_caller]
fn read_response(stream: &mut TcpStream, what: &str) -> Resp {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (end, length) = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or_else(|| panic!("{what}: no content-length in {head:?}"));
            if buf.len() >= end + 4 + length {
                break (end, length);
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => panic!(
                "{what}: closed before a whole response: {:?}",
                String::from_utf8_lossy(&buf)
            ),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!(
                "{what}: reading the response failed ({e}): {:?}",
                String::from_utf8_lossy(&buf)
            ),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no status line in {head:?}"));
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            headers.append(
                HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                HeaderValue::from_str(value.trim()).unwrap(),
            );
        }
    }
    let body = &buf[end + 4..end + 4 + length];
    Resp {
        status,
        headers,
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(body).to_string(),
        what: what.to_string(),
    }
}

/// Sends `request` on a fresh connection and reads its answer; the connection is left open.
#[track_caller]
fn exchange(srv: &TestServer, what: &str, request: &[u8]) -> (TcpStream, Resp) {
    let mut stream = connect(srv);
    stream.write_all(request).unwrap();
    let response = read_response(&mut stream, what);
    (stream, response)
}

/// The parsed log lines, once one of them satisfies `found` (the log pipe may lag a moment).
#[track_caller]
fn log_line(srv: &TestServer, what: &str, found: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let line = srv
            .log_lines()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|line| found(line));
        if let Some(line) = line {
            return line;
        }
        assert!(
            started.elapsed() < WITHIN,
            "no log line {what}:\n{}",
            srv.log_lines().join("\n")
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_request_head_that_stalls_is_closed_unanswered_after_the_header_timeout() {
    let srv = TestServer::start_with(&limits_except(HEADER_TIMEOUT_MS));
    let mut stalled = connect(&srv);
    let since = Instant::now();
    stalled
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: half")
        .unwrap();
    let (took, received) = wait_closed(&mut stalled, since);
    assert!(took >= LIMIT, "closed after {took:?}, before the header timeout");
    // The contract has no status for it (no 408), so the connection is closed unanswered.
    assert!(received.is_empty(), "{:?}", String::from_utf8_lossy(&received));
    log_line(&srv, "about the stalled head", |l| {
        l["message"] == "closed a connection whose request head did not arrive in time"
    });

    let (_, health) = exchange(&srv, "health afterwards", &health_request("after-head"));
    health.assert_json(200);
}

#[test]
fn a_request_body_that_stalls_is_closed_unanswered_after_the_body_timeout() {
    let srv = TestServer::start_with(&limits_except(BODY_TIMEOUT_MS));
    let admin = admin_token("stalling-admin");
    let mut stalled = connect(&srv);
    let since = Instant::now();
    // A body of 1,000 bytes is announced and 6 are sent.
    stalled
        .write_all(
            format!(
                "POST /v1/products HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {admin}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\nX-Request-Id: stalled-body\r\n\r\n\
                 {{\"sku\""
            )
            .as_bytes(),
        )
        .unwrap();
    let (took, received) = wait_closed(&mut stalled, since);
    assert!(took >= LIMIT, "closed after {took:?}, before the body timeout");
    assert!(received.is_empty(), "{:?}", String::from_utf8_lossy(&received));
    let line = log_line(&srv, "about the stalled body", |l| {
        l["message"] == "closed a connection whose request body did not arrive in time"
    });
    assert_eq!(line["request_id"], "stalled-body", "{line}");

    let (_, products) = exchange(
        &srv,
        "products afterwards",
        b"GET /v1/products HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    products.assert_json(200);
    assert_eq!(products.body["items"], serde_json::json!([]), "nothing was created");
}

#[test]
fn idle_connections_are_closed_after_the_keep_alive_timeout() {
    let srv = TestServer::start_with(&limits_except(KEEP_ALIVE_TIMEOUT_MS));
    // A connection that never sends anything.
    let since = Instant::now();
    let mut silent = connect(&srv);
    let (took, received) = wait_closed(&mut silent, since);
    assert!(took >= LIMIT, "a silent connection closed after {took:?}");
    assert!(received.is_empty(), "{:?}", String::from_utf8_lossy(&received));

    // A kept-alive connection after its answer: the idle time counts from the answer.
    let mut kept = connect(&srv);
    let since = Instant::now();
    kept.write_all(&health_request("kept-alive")).unwrap();
    let answer = read_response(&mut kept, "health on a kept-alive connection");
    answer.assert_json(200);
    assert_eq!(answer.header("x-request-id").as_deref(), Some("kept-alive"));
    let (took, received) = wait_closed(&mut kept, since);
    assert!(took >= LIMIT, "an idle kept-alive connection closed after {took:?}");
    assert!(received.is_empty(), "{:?}", String::from_utf8_lossy(&received));
}

#[test]
fn connections_over_the_bound_are_answered_503_with_retry_after() {
    let mut env = limits_except("none");
    env.push((MAX_CONNECTIONS, "2"));
    let srv = TestServer::start_with(&env);
    // Two connections, served and kept open: the bound is reached.
    let (mut first, answer) = exchange(&srv, "first connection", &health_request("first"));
    answer.assert_json(200);
    let (_second, answer) = exchange(&srv, "second connection", &health_request("second"));
    answer.assert_json(200);

    let (mut third, answer) = exchange(&srv, "over the bound", &health_request("over-the-bound"));
    assert_problem(&answer, 503, "unavailable");
    assert_eq!(answer.header("x-request-id").as_deref(), Some("over-the-bound"));
    let retry_after = answer.header("retry-after").unwrap_or_default();
    assert!(
        retry_after.parse::<u64>().is_ok_and(|s| s > 0),
        "Retry-After: {retry_after:?}"
    );
    assert_eq!(answer.header("connection").as_deref(), Some("close"));
    let (_, more) = wait_closed(&mut third, Instant::now());
    assert!(more.is_empty(), "one answer, then the connection closes");

    // The connections within the bound are served as before.
    first.write_all(&health_request("first-again")).unwrap();
    read_response(&mut first, "the first connection again").assert_json(200);

    // Once one of them closes, a new connection is served again.
    drop(first);
    let started = Instant::now();
    loop {
        let (_stream, answer) = exchange(&srv, "after a place freed up", &health_request("freed"));
        if answer.status == 200 {
            break;
        }
        assert_problem(&answer, 503, "unavailable");
        assert!(started.elapsed() < WITHIN, "no place freed up within {WITHIN:?}");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_with_stalled_clients_attached_exits_within_the_shutdown_deadline() {
    let mut srv = TestServer::start_with(&limits_except(SHUTDOWN_TIMEOUT_MS));
    let admin = admin_token("stopping-admin");
    // A request in flight whose body stalls: `100 Continue` says the server is reading it.
    let mut in_flight = connect(&srv);
    in_flight
        .write_all(
            format!(
                "POST /v1/products HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {admin}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    let mut interim = [0u8; 25];
    in_flight.read_exact(&mut interim).unwrap();
    assert!(
        interim.starts_with(b"HTTP/1.1 100 Continue\r\n"),
        "{:?}",
        String::from_utf8_lossy(&interim)
    );
    in_flight.write_all(b"{\"sku\"").unwrap();
    // A head that stalls, and a connection that sends nothing.
    let mut half_head = connect(&srv);
    half_head.write_all(b"GET /v1/health HTTP/1.1\r\nHost: loc").unwrap();
    let _silent = connect(&srv);

    let asked = Instant::now();
    let status = srv.terminate(WITHIN);
    let took = asked.elapsed();
    assert!(status.success(), "a clean exit after SIGTERM: {status}");
    assert!(
        took >= LIMIT,
        "the request in flight was given its time: exited after {took:?}"
    );
    let (_, received) = wait_closed(&mut in_flight, asked);
    assert!(received.is_empty(), "{:?}", String::from_utf8_lossy(&received));
    let logs = srv.log_lines().join("\n");
    assert!(logs.contains("connections outlived the shutdown deadline"), "{logs}");
    assert!(
        logs.contains("\"stopped\""),
        "the server reached its orderly end: {logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn heads_the_http_library_refuses_are_problems_with_a_request_id() {
    let srv = TestServer::start();
    let many_headers: String = (0..101).map(|n| format!("X-Header-{n}: {n}\r\n")).collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a control byte in a header value",
            b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\nX-Note: a\x01b\r\n\r\n".to_vec(),
        ),
        (
            "a malformed request line",
            b"GET /v1/health HTTP/1.1 extra\r\nHost: localhost\r\n\r\n".to_vec(),
        ),
        (
            "a URI of 70,000 bytes",
            format!(
                "GET /v1/products?pad={} HTTP/1.1\r\nHost: localhost\r\n\r\n",
                "a".repeat(70_000)
            )
            .into_bytes(),
        ),
        (
            "101 header fields",
            format!("GET /v1/health HTTP/1.1\r\nHost: localhost\r\n{many_headers}\r\n").into_bytes(),
        ),
        (
            "a header section of 500 KB, most of it never read",
            format!(
                "GET /v1/health HTTP/1.1\r\nHost: localhost\r\nX-Pad: {}\r\n\r\n",
                "p".repeat(500_000)
            )
            .into_bytes(),
        ),
    ];
    let mut ids = Vec::new();
    for (what, request) in cases {
        let r = srv.raw_http(what, request).await;
        assert_problem(&r, 400, "validation");
        assert_eq!(r.error_fields(), ["head"], "{what}: {}", r.text);
        assert_eq!(r.header("connection").as_deref(), Some("close"), "{what}");
        ids.push(r.header("x-request-id").unwrap());
    }
    // Each answer's id is its own, and is the one its log line carries.
    for id in &ids {
        let line = log_line(&srv, &format!("for request {id}"), |l| {
            l["message"] == "request" && l["request_id"] == id.as_str()
        });
        assert_eq!(line["status"], 400, "{line}");
        assert_eq!(line["problem"], "validation", "{line}");
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "fresh ids: {ids:?}");

    srv.get("/v1/health").send().await.assert_json(200);
}
