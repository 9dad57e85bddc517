//! Where the server and openapi.yaml disagreed (found by scripts/schemathesis, which holds the
//! document to the server), the server now does what the document's JSON Schema says: these
//! tests pin each of those answers down.

use serde_json::{json, Value};

use crate::support::*;

/// Sends `body` exactly as written (a JSON number's spelling matters here).
async fn post_raw(srv: &TestServer, path: &str, token: &str, body: &str) -> Resp {
    srv.post(path)
        .token(token)
        .label(format!("POST {path} {body}"))
        .raw(body.to_string(), Some("application/json"))
        .send()
        .await
}

/// The message of the `errors` entry for `field`.
fn message_for(r: &Resp, field: &str) -> String {
    assert_validation(r, field);
    r.body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["field"] == field)
        .and_then(|e| e["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

// JSON Schema's `integer` is a number whose value is whole, however it is written: `926.0`, `1e2`
// and `-0` are integers the document admits, so the server takes them as 926, 100 and 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn integers_are_whole_numbers_however_written() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let buyer = user_token("buyer");

    let r = post_raw(
        &srv,
        "/v1/products",
        &admin,
        r#"{"sku":"WHOLE-1","name":"n","price_cents":1.25e3,"stock":926.0}"#,
    )
    .await;
    r.assert_json(201);
    assert_eq!(
        (r.body["price_cents"].clone(), r.body["stock"].clone()),
        (json!(1250), json!(926))
    );
    let p = id_of(&r.body);

    let r = post_raw(
        &srv,
        "/v1/products",
        &admin,
        r#"{"sku":"WHOLE-2","name":"n","price_cents":-0,"stock":-0.0}"#,
    )
    .await;
    r.assert_json(201);
    assert_eq!(
        (r.body["price_cents"].clone(), r.body["stock"].clone()),
        (json!(0), json!(0))
    );

    let r = post_raw(&srv, &format!("/v1/products/{p}/stock"), &admin, r#"{"delta":-6.0}"#).await;
    r.assert_json(200);
    assert_eq!(r.body["stock"], 920);
    // `-0` is zero, which a stock adjustment may not be: refused for its value, naming the range.
    let r = post_raw(&srv, &format!("/v1/products/{p}/stock"), &admin, r#"{"delta":-0}"#).await;
    assert_eq!(
        message_for(&r, "delta"),
        "must be a non-zero integer from -1000000 to 1000000"
    );

    let r = srv
        .patch(&format!("/v1/products/{p}"))
        .token(&admin)
        .raw(r#"{"price_cents":1e3}"#, Some("application/json"))
        .send()
        .await;
    r.assert_json(200);
    assert_eq!(r.body["price_cents"], 1000);

    let order = post_raw(
        &srv,
        "/v1/orders",
        &buyer,
        &format!(r#"{{"items":[{{"product_id":"{p}","quantity":2.0}}]}}"#),
    )
    .await;
    order.assert_json(201);
    assert_eq!(order.body["items"][0]["quantity"], 2);
    assert_eq!(order.body["total_cents"], 2000);
    assert_eq!(srv.stock_of(&p).await, 918);

    // The webhook's amount too: 2000.0 is the order's total of 2000.
    let raw = format!(
        r#"{{"id":"evt-whole","type":"payment.succeeded","order_id":"{}","amount_cents":2000.0,"currency":"USD"}}"#,
        id_of(&order.body)
    );
    let r = srv
        .post("/v1/payments/webhook")
        .header("Webhook-Signature", &sign(raw.as_bytes(), now()))
        .raw(raw.into_bytes(), Some("application/json"))
        .send()
        .await;
    r.assert_json(200);
    assert_eq!(srv.order(&buyer, &id_of(&order.body)).await["status"], "paid");

    // A fractional part is what makes a number no integer; the message says so.
    for (path, body, field) in [
        (
            "/v1/products".to_string(),
            r#"{"sku":"FRAC-1","name":"n","price_cents":1,"stock":0.5}"#.to_string(),
            "stock",
        ),
        (
            format!("/v1/products/{p}/stock"),
            r#"{"delta":1.000001}"#.to_string(),
            "delta",
        ),
    ] {
        let r = post_raw(&srv, &path, &admin, &body).await;
        assert_eq!(
            message_for(&r, field),
            "must be an integer, a number with no fractional part"
        );
    }
    let r = post_raw(
        &srv,
        "/v1/orders",
        &buyer,
        &format!(r#"{{"items":[{{"product_id":"{p}","quantity":-0.5}}]}}"#),
    )
    .await;
    assert_eq!(
        message_for(&r, "items[0].quantity"),
        "must be an integer, a number with no fractional part"
    );
    // Whole but out of range, however written: the range.
    let r = post_raw(
        &srv,
        "/v1/orders",
        &buyer,
        &format!(r#"{{"items":[{{"product_id":"{p}","quantity":1e3}}]}}"#),
    )
    .await;
    assert_eq!(message_for(&r, "items[0].quantity"), "must be an integer from 1 to 100");
}

// The document's If-Match pattern admits any run of digits, and promises 412 for a well-formed
// tag naming none of the current version. A number too large for any version is such a tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn if_match_beyond_64_bits_is_a_stale_version() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let p = id_of(&srv.create_product(&admin, "HUGE-TAG", 100, 5).await);
    let path = format!("/v1/products/{p}");
    let patch = |if_match: &'static str| {
        srv.patch(&path)
            .token(&admin)
            .header("If-Match", if_match)
            .label(format!("If-Match: {if_match}"))
            .json(&json!({"price_cents": 101}))
    };

    for stale in [
        "\"99999999999999999999\"",
        "W/\"18446744073709551616\"",
        "\"99999999999999999999\", W/\"123456789012345678901234567890\"",
    ] {
        let r = patch(stale).send().await;
        assert_problem(&r, 412, "version-mismatch");
    }
    let g = srv.product(&p).await;
    assert_eq!((g["version"].clone(), g["price_cents"].clone()), (json!(1), json!(100)));

    // One huge tag beside the current version still matches it.
    let r = patch("\"99999999999999999999\", \"1\"").send().await;
    r.assert_json(200);
    assert_eq!(r.body["version"], 2);

    // Lookup (404) still comes before the version check.
    let r = srv
        .patch("/v1/products/01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .token(&admin)
        .header("If-Match", "\"99999999999999999999\"")
        .json(&json!({"price_cents": 1}))
        .send()
        .await;
    assert_problem(&r, 404, "not-found");

    // What the pattern does not admit stays a 400: digits only, no sign.
    for bad in ["\"+2\"", "\"-2\"", "\" 2\"", "\"\""] {
        let r = patch(bad).send().await;
        assert_validation(&r, "If-Match");
    }
}

// openapi.yaml's `maxLength: 255` on the webhook's `id`, `order_id` and `currency` counts
// characters (code points), as JSON Schema does; so does the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_text_lengths_count_characters() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let buyer = user_token("buyer");
    let p = id_of(&srv.create_product(&admin, "CHARS-1", 300, 5).await);
    let order = srv.place_order(&buyer, &[(&p, 1)]).await;

    // 255 characters, 510 bytes: within the limit.
    let event_id = "é".repeat(255);
    let r = srv.pay(&order, &event_id).await;
    r.assert_json(200);
    assert_eq!(srv.order(&buyer, &id_of(&order)).await["status"], "paid");
    // The same event again is a duplicate delivery, found by that long id.
    let r = srv.pay(&order, &event_id).await;
    r.assert_json(200);
    assert_eq!(srv.order(&buyer, &id_of(&order)).await["refund_due"], false);

    // 256 characters: one too many, in each of the three fields.
    let mut event: Value = payment_event(&"é".repeat(256), "payment.succeeded", &order);
    event["order_id"] = json!("é".repeat(256));
    event["currency"] = json!("€".repeat(256));
    let r = srv.webhook(&event).await;
    assert_problem(&r, 400, "validation");
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["currency", "id", "order_id"]);
    assert_eq!(message_for(&r, "id"), "must be 1 to 255 characters");
}

// openapi.yaml's `maxLength: 64` on an order line's `product_id` counts characters, so 64 of
// them, whatever their UTF-8 length, are a well-formed reference (to no product: 404), and 65
// are a client mistake (400).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn product_id_length_counts_characters() {
    let srv = TestServer::start();
    let buyer = user_token("buyer");
    let r = srv
        .post("/v1/orders")
        .token(&buyer)
        .json(&order_body(&[(&"é".repeat(64), 1)]))
        .send()
        .await;
    assert_problem(&r, 404, "not-found");
    let r = srv
        .post("/v1/orders")
        .token(&buyer)
        .json(&order_body(&[(&"é".repeat(65), 1)]))
        .send()
        .await;
    assert_validation(&r, "items[0].product_id");
}
