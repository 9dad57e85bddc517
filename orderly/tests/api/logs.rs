//! The local server's log lines: one JSON object each, with `function` and the request's
//! `request_id` on every line a request writes, the business events once, every problem's type,
//! and never a token, a signature or a secret.

use serde_json::{json, Value};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn log_lines_tell_a_requests_story_and_keep_no_secret() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let buyer = user_token("logged-buyer");
    let p = id_of(&srv.create_product(&admin, "LOG-1", 300, 5).await);
    let order = srv
        .post("/v1/orders")
        .token(&buyer)
        .header("X-Request-Id", "log-story-1")
        .json(&order_body(&[(&p, 2)]))
        .send()
        .await;
    order.assert_json(201);
    let paid = srv.pay(&order.body, "evt-logged").await;
    paid.assert_json(200);
    let forged_body = serde_json::to_vec(&payment_event("evt-forged", "payment.succeeded", &order.body)).unwrap();
    let forged_signature = "t=1700000000,v1=0123456789abcdef0123456789abcdef";
    let forged = srv
        .post("/v1/payments/webhook")
        .header("Webhook-Signature", forged_signature)
        .raw(forged_body, Some("application/json"))
        .send()
        .await;
    assert_problem(&forged, 401, "invalid-signature");
    let short = srv
        .post("/v1/orders")
        .token(&buyer)
        .json(&order_body(&[(&p, 4)]))
        .send()
        .await;
    assert_problem(&short, 409, "insufficient-stock");
    let bad_token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl";
    let r = srv.get("/v1/me").token(bad_token).send().await;
    assert_problem(&r, 401, "unauthenticated");

    // The server writes a request's lines before answering it, but a pipe may lag a moment.
    let lines: Vec<Value> = eventually(
        "the last request's log line",
        std::time::Duration::from_secs(10),
        || async {
            let lines: Vec<Value> = srv
                .log_lines()
                .iter()
                .filter(|line| !line.starts_with("[stderr]"))
                .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}")))
                .collect();
            lines.iter().any(|l| l["operation"] == "get-profile").then_some(lines)
        },
    )
    .await;
    let text = srv.log_lines().join("\n");

    for line in &lines {
        assert_eq!(line["function"], "local", "{line}");
        assert!(line["level"].is_string() && line["timestamp"].is_string(), "{line}");
    }
    let story: Vec<&Value> = lines.iter().filter(|l| l["request_id"] == "log-story-1").collect();
    let messages: Vec<&str> = story.iter().filter_map(|l| l["message"].as_str()).collect();
    assert_eq!(
        messages,
        ["order placed", "request"],
        "the order's request, told once: {story:#?}"
    );
    assert_eq!(story[0]["order_id"], order.body["id"]);
    assert_eq!(story[1]["status"], 201);
    assert!(
        story[1]["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{}",
        story[1]
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "order paid" && l["order_id"] == order.body["id"]),
        "{text}"
    );
    let problems: Vec<(&Value, &Value)> = lines
        .iter()
        .filter(|l| l["message"] == "request" && l["status"].as_u64().is_some_and(|s| s >= 400))
        .map(|l| (&l["status"], &l["problem"]))
        .collect();
    assert_eq!(
        problems,
        [
            (&json!(401), &json!("invalid-signature")),
            (&json!(409), &json!("insufficient-stock")),
            (&json!(401), &json!("unauthenticated")),
        ],
        "every 4xx names its problem type"
    );
    assert!(lines
        .iter()
        .any(|l| l["message"] == "webhook rejected" && l["reason"].is_string()));

    for secret in [
        JWT_SECRET,
        WEBHOOK_SECRET,
        &admin,
        &buyer,
        bad_token,
        forged_signature,
        "0123456789abcdef",
    ] {
        assert!(!text.contains(secret), "a log line holds {secret:?}:\n{text}");
    }
}
