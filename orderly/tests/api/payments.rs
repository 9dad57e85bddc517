use serde_json::{json, Value};

use crate::support::*;

/// A server, a user token and one pending order of 2 × 450 cents.
async fn setup() -> (TestServer, String, Value) {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let u = user_token("payer");
    let p = id_of(&srv.create_product(&admin, "PAY-1", 450, 50).await);
    let o = srv.place_order(&u, &[(&p, 2)]).await;
    assert_eq!(o["total_cents"], 900);
    (srv, u, o)
}

async fn post_signed(srv: &TestServer, raw: &[u8], signature: Option<&str>) -> Resp {
    let mut req = srv.post("/v1/payments/webhook").label(format!(
        "signature {signature:?}, body {}",
        String::from_utf8_lossy(raw)
    ));
    if let Some(s) = signature {
        req = req.header("Webhook-Signature", s);
    }
    req.raw(raw.to_vec(), Some("application/json")).send().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn succeeded_payment_marks_the_order_paid() {
    let (srv, u, o) = setup().await;
    let oid = id_of(&o);
    let before = now() * 1000;
    let r = srv.pay(&o, "evt-1").await;
    r.assert_json(200);
    assert_eq!(r.body, json!({"received": true}));
    assert!(r.header("x-request-id").is_some());

    let paid = srv.order(&u, &oid).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["refund_due"], false);
    let paid_at = ts(&paid["paid_at"]);
    assert!((paid_at - before).abs() < 120_000, "paid_at is not now: {paid}");
    assert!(paid_at >= ts(&o["created_at"]));
    assert_eq!(paid["items"], o["items"]);
    assert_eq!(paid["total_cents"], o["total_cents"]);
    // Paying does not return the reserved stock.
    let pid = o["items"][0]["product_id"].as_str().unwrap();
    assert_eq!(srv.stock_of(pid).await, 48);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_missing_or_stale_signatures_are_401() {
    let (srv, u, o) = setup().await;
    let raw = serde_json::to_vec(&payment_event("evt-sig", "payment.succeeded", &o)).unwrap();
    let t = now();
    let other_body = serde_json::to_vec(&payment_event("evt-other", "payment.succeeded", &o)).unwrap();
    let good = sign(&raw, t);
    let v1 = good.split("v1=").nth(1).unwrap().to_string();
    let cases: Vec<Option<String>> = vec![
        None,
        Some(String::new()),
        Some("garbage".into()),
        Some(format!("t={t}")),
        Some(format!("v1={v1}")),
        Some(sign_with("not-the-secret", &raw, t)),
        Some(sign(&other_body, t)),
        Some(format!("t={},v1={v1}", t + 1)),
        Some(format!("t={t},v1={}", "0".repeat(64))),
        Some(format!("t={t},v1=zz{}", &v1[2..])),
        Some(format!("t=abc,v1={v1}")),
        Some(sign(&raw, t - 400)),
        Some(sign(&raw, t + 400)),
    ];
    for sig in cases {
        let r = post_signed(&srv, &raw, sig.as_deref()).await;
        assert_problem(&r, 401, "invalid-signature");
    }
    let r = srv
        .post("/v1/payments/webhook")
        .header_bytes("Webhook-Signature", b"t=1,v1=\xff\xfe")
        .raw(raw.clone(), Some("application/json"))
        .send()
        .await;
    assert_problem(&r, 401, "invalid-signature");
    // A bad signature wins over a bad body.
    let r = post_signed(&srv, b"not json", Some("t=1,v1=00")).await;
    assert_problem(&r, 401, "invalid-signature");
    let r = post_signed(&srv, b"not json", None).await;
    assert_problem(&r, 401, "invalid-signature");
    assert_eq!(srv.order(&u, &id_of(&o)).await["status"], "pending_payment");

    // Within 300 s either way is accepted (here 200 s in the future, then in the past).
    let fail = serde_json::to_vec(&payment_event("evt-future", "payment.failed", &o)).unwrap();
    let r = post_signed(&srv, &fail, Some(&sign(&fail, now() + 200))).await;
    r.assert_json(200);
    let r = post_signed(&srv, &raw, Some(&sign(&raw, now() - 200))).await;
    r.assert_json(200);
    assert_eq!(srv.order(&u, &id_of(&o)).await["status"], "paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_event_twice_has_one_effect_and_a_second_payment_sets_refund_due() {
    let (srv, u, o) = setup().await;
    let oid = id_of(&o);
    srv.pay(&o, "evt-dup").await.assert_json(200);
    let paid = srv.order(&u, &oid).await;
    let r = srv.pay(&o, "evt-dup").await;
    r.assert_json(200);
    assert_eq!(r.body, json!({"received": true}));
    let again = srv.order(&u, &oid).await;
    assert_eq!(again, paid, "a redelivered event has no second effect");
    assert_eq!(again["refund_due"], false);

    // Another event paying the already paid order: 200, still paid, refund due.
    let r = srv.pay(&o, "evt-second").await;
    r.assert_json(200);
    let twice = srv.order(&u, &oid).await;
    assert_eq!(twice["status"], "paid");
    assert_eq!(twice["refund_due"], true);
    assert_eq!(
        twice["paid_at"], paid["paid_at"],
        "paid_at is kept from the first payment"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_amount_or_currency_is_409_and_changes_nothing() {
    let (srv, u, o) = setup().await;
    let oid = id_of(&o);
    for (i, (field, value)) in [
        ("amount_cents", json!(899)),
        ("amount_cents", json!(901)),
        ("amount_cents", json!(0)),
        ("currency", json!("EUR")),
    ]
    .into_iter()
    .enumerate()
    {
        let mut ev = payment_event(&format!("evt-wrong-{i}"), "payment.succeeded", &o);
        ev[field] = value;
        let r = srv.webhook(&ev).await;
        assert_problem(&r, 409, "amount-mismatch");
    }
    // payment.failed with a wrong amount is a mismatch too.
    let mut ev = payment_event("evt-wrong-failed", "payment.failed", &o);
    ev["amount_cents"] = json!(1);
    let r = srv.webhook(&ev).await;
    assert_problem(&r, 409, "amount-mismatch");
    assert_eq!(srv.order(&u, &oid).await, o, "a mismatch leaves the order unchanged");

    // An event answered 409 is not remembered: the same id with the right amount now pays.
    let r = srv.pay(&o, "evt-wrong-0").await;
    r.assert_json(200);
    let paid = srv.order(&u, &oid).await;
    assert_eq!(paid["status"], "paid");

    // Whatever the state: a wrong amount on a paid order is still 409, nothing changes.
    let mut ev = payment_event("evt-wrong-late", "payment.succeeded", &o);
    ev["amount_cents"] = json!(5);
    let r = srv.webhook(&ev).await;
    assert_problem(&r, 409, "amount-mismatch");
    let after = srv.order(&u, &oid).await;
    assert_eq!(after, paid);
    assert_eq!(after["refund_due"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_payment_leaves_the_order_pending() {
    let (srv, u, o) = setup().await;
    let oid = id_of(&o);
    let r = srv.webhook(&payment_event("evt-fail", "payment.failed", &o)).await;
    r.assert_json(200);
    assert_eq!(r.body, json!({"received": true}));
    let after = srv.order(&u, &oid).await;
    assert_eq!(after["status"], "pending_payment");
    assert_eq!(after["paid_at"], Value::Null);
    assert_eq!(after["refund_due"], false);
    // It can still be paid afterwards, and cancelled before that would have worked too.
    srv.pay(&o, "evt-ok").await.assert_json(200);
    assert_eq!(srv.order(&u, &oid).await["status"], "paid");
    // A failure reported after success changes nothing.
    let r = srv.webhook(&payment_event("evt-fail-late", "payment.failed", &o)).await;
    r.assert_json(200);
    let last = srv.order(&u, &oid).await;
    assert_eq!(last["status"], "paid");
    assert_eq!(last["refund_due"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_order_is_404() {
    let (srv, _u, o) = setup().await;
    let mut ev = payment_event("evt-404", "payment.succeeded", &o);
    ev["order_id"] = json!("01ARZ3NDEKTSV4RRFFQ69G5FAV");
    let r = srv.webhook(&ev).await;
    assert_problem(&r, 404, "not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_event_bodies_are_400_and_extra_fields_are_ignored() {
    let (srv, u, o) = setup().await;
    let oid = id_of(&o);
    let full = payment_event("evt-body", "payment.succeeded", &o);
    let mut bad: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        b"".to_vec(),
        b"{".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
    ];
    for field in ["id", "type", "order_id", "amount_cents", "currency"] {
        let mut ev = full.clone();
        ev.as_object_mut().unwrap().remove(field);
        bad.push(serde_json::to_vec(&ev).unwrap());
    }
    for (field, value) in [
        ("type", json!("payment.refunded")),
        ("type", json!(1)),
        ("amount_cents", json!("900")),
        ("amount_cents", json!(9.5)),
        ("order_id", json!(null)),
        ("id", json!(7)),
    ] {
        let mut ev = full.clone();
        ev[field] = value;
        bad.push(serde_json::to_vec(&ev).unwrap());
    }
    for raw in bad {
        let r = post_signed(&srv, &raw, Some(&sign(&raw, now()))).await;
        assert_problem(&r, 400, "validation");
    }
    assert_eq!(srv.order(&u, &oid).await, o);

    let mut ev = full.clone();
    ev["created"] = json!(1_700_000_000);
    ev["data"] = json!({"object": {"nested": [1, 2, 3]}});
    ev["livemode"] = json!(false);
    let r = srv.webhook(&ev).await;
    r.assert_json(200);
    assert_eq!(srv.order(&u, &oid).await["status"], "paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_webhook_needs_no_token_and_ignores_one() {
    let (srv, u, o) = setup().await;
    let raw = serde_json::to_vec(&payment_event("evt-tok", "payment.succeeded", &o)).unwrap();
    // A valid signature with a bearer token attached still works; a token alone does not.
    let r = srv
        .post("/v1/payments/webhook")
        .token(&admin_token("admin"))
        .raw(raw.clone(), Some("application/json"))
        .send()
        .await;
    assert_problem(&r, 401, "invalid-signature");
    let r = srv
        .post("/v1/payments/webhook")
        .token(&u)
        .header("Webhook-Signature", &sign(&raw, now()))
        .raw(raw, Some("application/json"))
        .send()
        .await;
    r.assert_json(200);
    assert_eq!(srv.order(&u, &id_of(&o)).await["status"], "paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signed_event_that_is_not_declared_json_is_415() {
    let (srv, u, o) = setup().await;
    let raw = serde_json::to_vec(&payment_event("evt-ct", "payment.succeeded", &o)).unwrap();
    for ct in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let r = srv
            .post("/v1/payments/webhook")
            .header("Webhook-Signature", &sign(&raw, now()))
            .label(format!("Content-Type {ct:?}"))
            .raw(raw.clone(), ct)
            .send()
            .await;
        assert_problem(&r, 415, "unsupported-media-type");
    }
    // The signature is checked first.
    let r = srv
        .post("/v1/payments/webhook")
        .header("Webhook-Signature", "t=1,v1=00")
        .raw(raw.clone(), Some("text/plain"))
        .send()
        .await;
    assert_problem(&r, 401, "invalid-signature");
    assert_eq!(srv.order(&u, &id_of(&o)).await["status"], "pending_payment");
    // The refused deliveries were not remembered: the event still pays.
    let r = srv
        .post("/v1/payments/webhook")
        .header("Webhook-Signature", &sign(&raw, now()))
        .raw(raw, Some("application/json; charset=utf-8"))
        .send()
        .await;
    r.assert_json(200);
    assert_eq!(srv.order(&u, &id_of(&o)).await["status"], "paid");
}
