use std::time::Duration;

use serde_json::{json, Value};

use crate::support::*;

const UNKNOWN_ID: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";

fn item<'a>(order: &'a Value, product_id: &str) -> &'a Value {
    order["items"]
        .as_array()
        .unwrap_or_else(|| panic!("order without items array: {order}"))
        .iter()
        .find(|i| i["product_id"] == json!(product_id))
        .unwrap_or_else(|| panic!("no line for {product_id} in {order}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn place_order_captures_prices_reserves_stock_and_sets_ttl() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let alice = user_token("alice");
    let p1 = srv.create_product(&admin, "ORD-1", 250, 10).await;
    let p2 = srv.create_product(&admin, "ORD-2", 1000, 5).await;
    let (id1, id2) = (id_of(&p1), id_of(&p2));

    let before = now() * 1000;
    let r = srv
        .post("/v1/orders")
        .token(&alice)
        .json(&order_body(&[(&id1, 2), (&id2, 1)]))
        .send()
        .await;
    r.assert_json(201);
    let o = r.body.clone();
    assert_has_fields(&o, ORDER_FIELDS);
    let oid = id_of(&o);
    assert_eq!(r.header("location"), Some(format!("/v1/orders/{oid}")));
    assert_ne!(
        r.header("idempotent-replayed").as_deref(),
        Some("true"),
        "an original response is not a replay"
    );
    assert_eq!(o["status"], "pending_payment");
    assert_eq!(o["user_id"], "alice");
    assert_eq!(o["total_cents"], 1500);
    assert_eq!(o["currency"], "USD");
    assert_eq!(o["paid_at"], Value::Null);
    assert_eq!(o["refund_due"], false);
    assert_eq!(o["items"].as_array().unwrap().len(), 2);
    let l1 = item(&o, &id1);
    assert_eq!(l1["sku"], "ORD-1");
    assert_eq!(l1["name"], p1["name"]);
    assert_eq!(l1["unit_price_cents"], 250);
    assert_eq!(l1["quantity"], 2);
    assert_eq!(l1["line_total_cents"], 500);
    let l2 = item(&o, &id2);
    assert_eq!(l2["sku"], "ORD-2");
    assert_eq!(l2["unit_price_cents"], 1000);
    assert_eq!(l2["quantity"], 1);
    assert_eq!(l2["line_total_cents"], 1000);

    let created = ts(&o["created_at"]);
    assert!(
        (created - before).abs() < 120_000,
        "created_at {} is far from now",
        o["created_at"]
    );
    ts(&o["updated_at"]);
    let ttl_ms = ts(&o["expires_at"]) - created;
    assert!(
        (899_000..=901_000).contains(&ttl_ms),
        "expires_at must be created_at + 900 s by default, got {ttl_ms} ms"
    );

    assert_eq!(srv.stock_of(&id1).await, 8);
    assert_eq!(srv.stock_of(&id2).await, 4);

    // The order reads back identically.
    assert_eq!(srv.order(&alice, &oid).await, o);

    // Later price and name changes do not touch the order.
    srv.patch(&format!("/v1/products/{id1}"))
        .token(&admin)
        .json(&json!({"price_cents": 999, "name": "Changed name"}))
        .send()
        .await
        .assert_json(200);
    let again = srv.order(&alice, &oid).await;
    assert_eq!(again["items"], o["items"]);
    assert_eq!(again["total_cents"], 1500);
    // A new order uses the new price.
    let o2 = srv.place_order(&alice, &[(&id1, 1)]).await;
    assert_eq!(item(&o2, &id1)["unit_price_cents"], 999);
    assert_eq!(item(&o2, &id1)["name"], "Changed name");
    assert_eq!(o2["total_cents"], 999);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn configured_ttl_and_currency_are_used() {
    let srv = TestServer::start_with(&[("ORDER_TTL_SECONDS", "120"), ("CURRENCY", "EUR")]);
    let admin = admin_token("admin");
    let p = srv.create_product(&admin, "EUR-1", 500, 5).await;
    assert_eq!(p["currency"], "EUR");
    let o = srv.place_order(&user_token("u"), &[(&id_of(&p), 1)]).await;
    assert_eq!(o["currency"], "EUR");
    let ttl_ms = ts(&o["expires_at"]) - ts(&o["created_at"]);
    assert!(
        (119_000..=121_000).contains(&ttl_ms),
        "ORDER_TTL_SECONDS=120 must give a 120 s TTL, got {ttl_ms} ms"
    );
    // A payment in the wrong currency does not match.
    let mut ev = payment_event("evt-usd", "payment.succeeded", &o);
    ev["currency"] = json!("USD");
    let r = srv.webhook(&ev).await;
    assert_problem(&r, 409, "amount-mismatch");
    let r = srv.pay(&o, "evt-eur").await;
    r.assert_json(200);
    assert_eq!(srv.order(&user_token("u"), &id_of(&o)).await["status"], "paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_or_inactive_product_is_404_naming_it_and_reserves_nothing() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let u = user_token("u");
    let good = id_of(&srv.create_product(&admin, "GOOD", 100, 5).await);
    let inactive = id_of(&srv.create_product(&admin, "GONE", 100, 5).await);
    srv.patch(&format!("/v1/products/{inactive}"))
        .token(&admin)
        .json(&json!({"active": false}))
        .send()
        .await
        .assert_json(200);

    let r = srv
        .post("/v1/orders")
        .token(&u)
        .json(&order_body(&[(&good, 1), (UNKNOWN_ID, 1)]))
        .send()
        .await;
    assert_problem(&r, 404, "not-found");
    assert!(
        r.detail().contains(UNKNOWN_ID),
        "the detail must name the unknown product: {}",
        r.text
    );
    let r = srv
        .post("/v1/orders")
        .token(&u)
        .json(&order_body(&[(&good, 1), (&inactive, 1)]))
        .send()
        .await;
    assert_problem(&r, 404, "not-found");
    assert!(
        r.detail().contains(&inactive),
        "the detail must name the inactive product: {}",
        r.text
    );
    assert_eq!(srv.stock_of(&good).await, 5);
    assert_eq!(srv.stock_of(&inactive).await, 5);
    let list = srv.get("/v1/orders").token(&u).send().await;
    list.assert_json(200);
    assert_eq!(list.body["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn insufficient_stock_is_409_and_reservation_is_all_or_nothing() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let u = user_token("u");
    let a = srv.create_product(&admin, "STOCK-A", 100, 5).await;
    let b = srv.create_product(&admin, "STOCK-B", 100, 1).await;
    let (ida, idb) = (id_of(&a), id_of(&b));

    let r = srv
        .post("/v1/orders")
        .token(&u)
        .json(&order_body(&[(&ida, 3), (&idb, 2)]))
        .send()
        .await;
    assert_problem(&r, 409, "insufficient-stock");
    let d = r.detail();
    assert!(
        d.contains(&idb) || d.contains("STOCK-B"),
        "the detail must name the product short of stock: {}",
        r.text
    );
    assert_eq!(srv.stock_of(&ida).await, 5, "no line may be reserved when one fails");
    assert_eq!(srv.stock_of(&idb).await, 1);

    // Exactly the remaining stock works, one more does not.
    let o = srv.place_order(&u, &[(&ida, 5), (&idb, 1)]).await;
    assert_eq!(o["total_cents"], 600);
    assert_eq!(srv.stock_of(&ida).await, 0);
    assert_eq!(srv.stock_of(&idb).await, 0);
    let r = srv
        .post("/v1/orders")
        .token(&u)
        .json(&order_body(&[(&ida, 1)]))
        .send()
        .await;
    assert_problem(&r, 409, "insufficient-stock");
    assert_eq!(srv.stock_of(&ida).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn order_body_validation_names_the_fields() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let u = user_token("u");
    let p = id_of(&srv.create_product(&admin, "VAL-1", 100, 1000).await);
    let q = id_of(&srv.create_product(&admin, "VAL-2", 100, 1000).await);
    let distinct: Vec<String> = (0..26).map(|i| format!("01ARZ3NDEKTSV4RRFFQ69G5F{i:02}")).collect();

    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "items"),
        (json!({"items": []}), "items"),
        (json!({"items": null}), "items"),
        (json!({"items": "nope"}), "items"),
        (
            json!({"items": distinct.iter().map(|id| json!({"product_id": id, "quantity": 1})).collect::<Vec<_>>()}),
            "items",
        ),
        (order_body(&[(&p, 0)]), "items[0].quantity"),
        (order_body(&[(&p, 101)]), "items[0].quantity"),
        (order_body(&[(&p, -1)]), "items[0].quantity"),
        (order_body(&[(&p, 1), (&q, 101)]), "items[1].quantity"),
        (
            json!({"items": [{"product_id": p, "quantity": "1"}]}),
            "items[0].quantity",
        ),
        (
            json!({"items": [{"product_id": p, "quantity": 1.5}]}),
            "items[0].quantity",
        ),
        (json!({"items": [{"product_id": p}]}), "items[0].quantity"),
        (json!({"items": [{"quantity": 1}]}), "items[0].product_id"),
        (
            json!({"items": [{"product_id": 5, "quantity": 1}]}),
            "items[0].product_id",
        ),
        (
            json!({"items": [{"product_id": p, "quantity": 1, "color": "red"}]}),
            "items[0].color",
        ),
        (
            json!({"items": [{"product_id": p, "quantity": 1}], "note": "hi"}),
            "note",
        ),
    ];
    for (body, field) in cases {
        let r = srv
            .post("/v1/orders")
            .token(&u)
            .label(body.to_string())
            .json(&body)
            .send()
            .await;
        assert_validation(&r, field);
    }
    // The same product twice.
    let r = srv
        .post("/v1/orders")
        .token(&u)
        .json(&order_body(&[(&p, 1), (&q, 1), (&p, 2)]))
        .send()
        .await;
    assert_problem(&r, 400, "validation");
    // Validation (400) comes before lookup (404).
    let r = srv
        .post("/v1/orders")
        .token(&u)
        .json(&order_body(&[(UNKNOWN_ID, 0)]))
        .send()
        .await;
    assert_validation(&r, "items[0].quantity");
    // Authentication comes first.
    let r = srv.post("/v1/orders").json(&json!({})).send().await;
    assert_problem(&r, 401, "unauthenticated");

    // Nothing was reserved or created.
    assert_eq!(srv.stock_of(&p).await, 1000);
    assert_eq!(srv.stock_of(&q).await, 1000);
    let list = srv.get("/v1/orders").token(&u).send().await;
    assert_eq!(list.body["items"], json!([]));

    // Upper bounds are inclusive: quantity 100, 25 lines.
    let o = srv.place_order(&u, &[(&p, 100)]).await;
    assert_eq!(o["total_cents"], 10_000);
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(id_of(&srv.create_product(&admin, &format!("MANY-{i}"), 10, 1).await));
    }
    let lines: Vec<(&str, i64)> = ids.iter().map(|id| (id.as_str(), 1)).collect();
    let o = srv.place_order(&u, &lines).await;
    assert_eq!(o["items"].as_array().unwrap().len(), 25);
    assert_eq!(o["total_cents"], 250);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_key_replays_the_stored_response_once() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let u = user_token("u");
    let a = id_of(&srv.create_product(&admin, "IDEM-A", 100, 10).await);
    let b = id_of(&srv.create_product(&admin, "IDEM-B", 300, 10).await);

    let body1 = format!(r#"{{"items":[{{"product_id":"{a}","quantity":2}},{{"product_id":"{b}","quantity":1}}]}}"#);
    // Semantically equal: other key order and whitespace.
    let body2 = format!(
        "{{ \"items\" : [ {{ \"quantity\" : 2, \"product_id\" : \"{a}\" }},\n {{\"quantity\":1,\"product_id\":\"{b}\"}} ] }}"
    );
    let first = srv
        .post("/v1/orders")
        .token(&u)
        .header("Idempotency-Key", "key-1")
        .raw(body1.clone(), Some("application/json"))
        .send()
        .await;
    first.assert_json(201);
    assert_ne!(first.header("idempotent-replayed").as_deref(), Some("true"));

    for body in [&body1, &body2] {
        let replay = srv
            .post("/v1/orders")
            .token(&u)
            .header("Idempotency-Key", "key-1")
            .raw(body.clone(), Some("application/json"))
            .send()
            .await;
        replay.assert_status(201);
        assert_eq!(replay.header("idempotent-replayed").as_deref(), Some("true"));
        assert_eq!(replay.body, first.body, "a replay returns the stored body");
        assert_eq!(replay.header("location"), first.header("location"));
    }
    assert_eq!(srv.stock_of(&a).await, 8, "a replay reserves nothing again");
    assert_eq!(srv.stock_of(&b).await, 9);
    let list = srv.get("/v1/orders").token(&u).send().await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);

    // The stored response is replayed even after the order moved on.
    let oid = id_of(&first.body);
    srv.post(&format!("/v1/orders/{oid}/cancel"))
        .token(&u)
        .send()
        .await
        .assert_json(200);
    let replay = srv
        .post("/v1/orders")
        .token(&u)
        .header("Idempotency-Key", "key-1")
        .raw(body1.clone(), Some("application/json"))
        .send()
        .await;
    replay.assert_status(201);
    assert_eq!(replay.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(replay.body, first.body);
    assert_eq!(srv.stock_of(&a).await, 10);

    // Without a key the same body creates a new order.
    let o = srv.place_order(&u, &[(&a, 2), (&b, 1)]).await;
    assert_ne!(id_of(&o), oid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_key_with_a_different_body_is_422() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let u = user_token("u");
    let a = id_of(&srv.create_product(&admin, "REUSE-A", 100, 10).await);
    let b = id_of(&srv.create_product(&admin, "REUSE-B", 100, 10).await);
    let first = srv
        .post("/v1/orders")
        .token(&u)
        .header("Idempotency-Key", "reuse")
        .json(&order_body(&[(&a, 1)]))
        .send()
        .await;
    first.assert_json(201);
    for other in [
        order_body(&[(&a, 2)]),
        order_body(&[(&b, 1)]),
        order_body(&[(&a, 1), (&b, 1)]),
    ] {
        let r = srv
            .post("/v1/orders")
            .token(&u)
            .header("Idempotency-Key", "reuse")
            .json(&other)
            .send()
            .await;
        assert_problem(&r, 422, "idempotency-key-reused");
    }
    // Validation (400) and lookup (404) come before the idempotency conflict (422).
    let r = srv
        .post("/v1/orders")
        .token(&u)
        .header("Idempotency-Key", "reuse")
        .json(&order_body(&[(&a, 0)]))
        .send()
        .await;
    assert_validation(&r, "items[0].quantity");
    let r = srv
        .post("/v1/orders")
        .token(&u)
        .header("Idempotency-Key", "reuse")
        .json(&order_body(&[(UNKNOWN_ID, 1)]))
        .send()
        .await;
    assert_problem(&r, 404, "not-found");
    assert_eq!(srv.stock_of(&a).await, 9);
    assert_eq!(srv.stock_of(&b).await, 10);
    let list = srv.get("/v1/orders").token(&u).send().await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    // The original still replays.
    let r = srv
        .post("/v1/orders")
        .token(&u)
        .header("Idempotency-Key", "reuse")
        .json(&order_body(&[(&a, 1)]))
        .send()
        .await;
    r.assert_status(201);
    assert_eq!(r.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(r.body, first.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_idempotency_keys_are_400() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let u = user_token("u");
    let a = id_of(&srv.create_product(&admin, "KEY-A", 100, 10).await);
    let body = order_body(&[(&a, 1)]);
    let bad: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        "k".repeat(256).into_bytes(),
        b"tab\there".to_vec(),
        "caf\u{e9}".as_bytes().to_vec(),
        vec![b'a', 0x80, b'b'],
    ];
    for key in bad {
        let r = srv
            .post("/v1/orders")
            .token(&u)
            .header_bytes("Idempotency-Key", &key)
            .label(format!("Idempotency-Key: {:?}", String::from_utf8_lossy(&key)))
            .json(&body)
            .send()
            .await;
        assert_validation(&r, "Idempotency-Key");
    }
    assert_eq!(srv.stock_of(&a).await, 10);

    // 255 printable characters, including spaces and punctuation, are fine.
    let long = format!("{}{}", "a b~!{}\"", "z".repeat(247));
    assert_eq!(long.len(), 255);
    for key in [long.as_str(), "x"] {
        let r = srv
            .post("/v1/orders")
            .token(&u)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await;
        r.assert_json(201);
        let replay = srv
            .post("/v1/orders")
            .token(&u)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await;
        replay.assert_status(201);
        assert_eq!(replay.header("idempotent-replayed").as_deref(), Some("true"));
        assert_eq!(replay.body["id"], r.body["id"]);
    }
    assert_eq!(srv.stock_of(&a).await, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_keys_are_scoped_per_user() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let a = id_of(&srv.create_product(&admin, "SCOPE-A", 100, 10).await);
    let body = order_body(&[(&a, 1)]);
    let mut ids = Vec::new();
    for user in ["alice", "bob"] {
        let r = srv
            .post("/v1/orders")
            .token(&user_token(user))
            .header("Idempotency-Key", "shared-key")
            .json(&body)
            .send()
            .await;
        r.assert_json(201);
        assert_ne!(r.header("idempotent-replayed").as_deref(), Some("true"));
        assert_eq!(r.body["user_id"], user);
        ids.push(id_of(&r.body));
    }
    assert_ne!(ids[0], ids[1]);
    assert_eq!(srv.stock_of(&a).await, 8);
    // A different body under bob's key is still 422 for bob only.
    let r = srv
        .post("/v1/orders")
        .token(&user_token("bob"))
        .header("Idempotency-Key", "shared-key")
        .json(&order_body(&[(&a, 3)]))
        .send()
        .await;
    assert_problem(&r, 422, "idempotency-key-reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_error_stores_nothing_under_the_key() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let u = user_token("u");
    let a = id_of(&srv.create_product(&admin, "RETRY-A", 100, 1).await);
    let body = order_body(&[(&a, 3)]);
    let send = || {
        srv.post("/v1/orders")
            .token(&u)
            .header("Idempotency-Key", "retry-me")
            .json(&body)
            .send()
    };
    let r = send().await;
    assert_problem(&r, 409, "insufficient-stock");
    let r = send().await;
    assert_problem(&r, 409, "insufficient-stock");
    assert_ne!(r.header("idempotent-replayed").as_deref(), Some("true"));
    // A failed request with a different body under the same key is not "reused" either.
    let r = srv
        .post("/v1/orders")
        .token(&u)
        .header("Idempotency-Key", "retry-me")
        .json(&order_body(&[(UNKNOWN_ID, 1)]))
        .send()
        .await;
    assert_problem(&r, 404, "not-found");

    srv.post(&format!("/v1/products/{a}/stock"))
        .token(&admin)
        .json(&json!({"delta": 5}))
        .send()
        .await
        .assert_json(200);
    let r = send().await;
    r.assert_json(201);
    assert_ne!(r.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(srv.stock_of(&a).await, 3);
    let again = send().await;
    again.assert_status(201);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.body, r.body);
    assert_eq!(srv.stock_of(&a).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_orders_is_newest_first_per_user_and_pages() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let alice = user_token("alice");
    let bob = user_token("bob");
    let p = id_of(&srv.create_product(&admin, "LO-1", 100, 100).await);
    let mut alice_ids = Vec::new();
    for i in 0..5 {
        alice_ids.push(id_of(&srv.place_order(&alice, &[(&p, i + 1)]).await));
        if i == 2 {
            srv.place_order(&bob, &[(&p, 1)]).await;
        }
    }
    alice_ids.reverse();

    for limit in [1usize, 2, 5, 20] {
        let items = collect_pages(&srv, Some(&alice), "/v1/orders", limit).await;
        let got: Vec<String> = items.iter().map(id_of).collect();
        assert_eq!(got, alice_ids, "limit={limit}: alice's orders newest first");
        for it in &items {
            assert_eq!(it["user_id"], "alice");
            assert_has_fields(it, ORDER_FIELDS);
        }
    }
    let r = srv.get("/v1/orders").token(&bob).send().await;
    r.assert_json(200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["items"][0]["user_id"], "bob");
    assert_eq!(r.body["next_cursor"], Value::Null);
    let r = srv.get("/v1/orders").token(&user_token("carol")).send().await;
    r.assert_json(200);
    assert_eq!(r.body["items"], json!([]));

    let r = srv.get("/v1/orders").send().await;
    assert_problem(&r, 401, "unauthenticated");
    for limit in ["0", "101", "abc"] {
        let r = srv.get(&format!("/v1/orders?limit={limit}")).token(&alice).send().await;
        assert_validation(&r, "limit");
    }
    let r = srv.get("/v1/orders?cursor=").token(&alice).send().await;
    r.assert_json(200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 5);

    // A cursor marks a position, not an offset: orders placed after page 1 was read neither
    // repeat nor hide anything on page 2.
    let r = srv.get("/v1/orders?limit=2").token(&alice).send().await;
    let page1: Vec<String> = r.body["items"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(page1, alice_ids[..2].to_vec());
    let cursor = encode_query(r.body["next_cursor"].as_str().unwrap());
    srv.place_order(&alice, &[(&p, 1)]).await;
    srv.place_order(&alice, &[(&p, 1)]).await;
    let r = srv
        .get(&format!("/v1/orders?limit=2&cursor={cursor}"))
        .token(&alice)
        .send()
        .await;
    r.assert_json(200);
    let page2: Vec<String> = r.body["items"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(page2, alice_ids[2..4].to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cursors_from_another_list_or_user_are_400() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let alice = user_token("alice");
    let bob = user_token("bob");
    let p = id_of(&srv.create_product(&admin, "CX-1", 100, 100).await);
    srv.create_product(&admin, "CX-2", 100, 100).await;
    srv.create_product(&admin, "CX-3", 100, 100).await;
    for _ in 0..3 {
        srv.place_order(&alice, &[(&p, 1)]).await;
        srv.place_order(&bob, &[(&p, 1)]).await;
    }
    let r = srv.get("/v1/orders?limit=1").token(&alice).send().await;
    let alice_cursor = encode_query(r.body["next_cursor"].as_str().unwrap());
    let r = srv.get("/v1/products?limit=1").send().await;
    let product_cursor = encode_query(r.body["next_cursor"].as_str().unwrap());

    // Sanity: each cursor works where it was issued.
    srv.get(&format!("/v1/orders?limit=1&cursor={alice_cursor}"))
        .token(&alice)
        .send()
        .await
        .assert_json(200);
    srv.get(&format!("/v1/products?limit=1&cursor={product_cursor}"))
        .send()
        .await
        .assert_json(200);

    let r = srv
        .get(&format!("/v1/orders?limit=1&cursor={alice_cursor}"))
        .token(&bob)
        .send()
        .await;
    assert_validation(&r, "cursor");
    let r = srv
        .get(&format!("/v1/orders?limit=1&cursor={product_cursor}"))
        .token(&alice)
        .send()
        .await;
    assert_validation(&r, "cursor");
    let r = srv
        .get(&format!("/v1/products?limit=1&cursor={alice_cursor}"))
        .send()
        .await;
    assert_validation(&r, "cursor");
    let r = srv.get("/v1/orders?cursor=garbage").token(&alice).send().await;
    assert_validation(&r, "cursor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_owner_or_an_admin_sees_or_cancels_an_order() {
    let srv = TestServer::start();
    let admin = admin_token("boss");
    let alice = user_token("alice");
    let mallory = user_token("mallory");
    let p = id_of(&srv.create_product(&admin, "ACL-1", 100, 10).await);
    let o = srv.place_order(&alice, &[(&p, 2)]).await;
    let oid = id_of(&o);

    let r = srv.get(&format!("/v1/orders/{oid}")).token(&mallory).send().await;
    assert_problem(&r, 404, "not-found");
    let r = srv
        .post(&format!("/v1/orders/{oid}/cancel"))
        .token(&mallory)
        .send()
        .await;
    assert_problem(&r, 404, "not-found");
    assert_eq!(srv.order(&alice, &oid).await["status"], "pending_payment");
    let r = srv.get(&format!("/v1/orders/{oid}")).send().await;
    assert_problem(&r, 401, "unauthenticated");

    let r = srv.get(&format!("/v1/orders/{oid}")).token(&admin).send().await;
    r.assert_json(200);
    assert_eq!(r.body, o);
    // The admin's own list does not include alice's order.
    let r = srv.get("/v1/orders").token(&admin).send().await;
    r.assert_json(200);
    assert_eq!(r.body["items"], json!([]));

    let r = srv.post(&format!("/v1/orders/{oid}/cancel")).token(&admin).send().await;
    r.assert_json(200);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(srv.stock_of(&p).await, 10);

    for path in [format!("/v1/orders/{UNKNOWN_ID}"), "/v1/orders/not-an-id".to_string()] {
        let r = srv.get(&path).token(&alice).send().await;
        assert_problem(&r, 404, "not-found");
        let r = srv.get(&path).token(&admin).send().await;
        assert_problem(&r, 404, "not-found");
        let r = srv.post(&format!("{path}/cancel")).token(&alice).send().await;
        assert_problem(&r, 404, "not-found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_returns_stock_is_idempotent_and_refuses_paid_orders() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let u = user_token("u");
    let a = id_of(&srv.create_product(&admin, "CAN-A", 100, 10).await);
    let b = id_of(&srv.create_product(&admin, "CAN-B", 50, 10).await);
    let o = srv.place_order(&u, &[(&a, 3), (&b, 4)]).await;
    let oid = id_of(&o);
    assert_eq!(srv.stock_of(&a).await, 7);
    assert_eq!(srv.stock_of(&b).await, 6);

    let c = srv.post(&format!("/v1/orders/{oid}/cancel")).token(&u).send().await;
    c.assert_json(200);
    assert_eq!(c.body["status"], "cancelled");
    assert_eq!(c.body["id"], json!(oid));
    assert_eq!(c.body["items"], o["items"]);
    assert_eq!(c.body["paid_at"], Value::Null);
    assert!(ts(&c.body["updated_at"]) >= ts(&o["updated_at"]));
    assert_eq!(srv.stock_of(&a).await, 10);
    assert_eq!(srv.stock_of(&b).await, 10);

    // Twice: 200, unchanged, stock not returned twice.
    let c2 = srv.post(&format!("/v1/orders/{oid}/cancel")).token(&u).send().await;
    c2.assert_json(200);
    assert_eq!(c2.body, c.body);
    assert_eq!(srv.stock_of(&a).await, 10);
    assert_eq!(srv.order(&u, &oid).await, c.body);

    // A cancelled order cannot be paid: 200 from the webhook, refund due, still cancelled.
    let r = srv.pay(&o, "evt-after-cancel").await;
    r.assert_json(200);
    let after = srv.order(&u, &oid).await;
    assert_eq!(after["status"], "cancelled");
    assert_eq!(after["refund_due"], true);

    // Paid orders cannot be cancelled.
    let o2 = srv.place_order(&u, &[(&a, 1)]).await;
    srv.pay(&o2, "evt-paid").await.assert_json(200);
    let r = srv
        .post(&format!("/v1/orders/{}/cancel", id_of(&o2)))
        .token(&u)
        .send()
        .await;
    assert_problem(&r, 409, "invalid-state");
    let r = srv
        .post(&format!("/v1/orders/{}/cancel", id_of(&o2)))
        .token(&admin)
        .send()
        .await;
    assert_problem(&r, 409, "invalid-state");
    assert_eq!(srv.order(&u, &id_of(&o2)).await["status"], "paid");
    assert_eq!(srv.stock_of(&a).await, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_past_their_ttl_read_as_expired() {
    let srv = TestServer::start_with(&[("ORDER_TTL_SECONDS", "1")]);
    let admin = admin_token("admin");
    let u = user_token("u");
    let p = id_of(&srv.create_product(&admin, "EXP-1", 100, 10).await);
    // Paid and cancelled right away, well within the 1 s TTL.
    let paid = srv.place_order(&u, &[(&p, 2)]).await;
    srv.pay(&paid, "evt-in-time").await.assert_json(200);
    let cancelled = srv.place_order(&u, &[(&p, 3)]).await;
    srv.post(&format!("/v1/orders/{}/cancel", id_of(&cancelled)))
        .token(&u)
        .send()
        .await
        .assert_json(200);
    let pending = srv.place_order(&u, &[(&p, 1)]).await;
    let ttl_ms = ts(&pending["expires_at"]) - ts(&pending["created_at"]);
    assert!(
        (900..=1100).contains(&ttl_ms),
        "ORDER_TTL_SECONDS=1 must give a 1 s TTL, got {ttl_ms} ms"
    );

    tokio::time::sleep(Duration::from_millis(2500)).await;

    let pid = id_of(&pending);
    let o = srv.order(&u, &pid).await;
    assert_eq!(o["status"], "expired");
    assert_eq!(o["paid_at"], Value::Null);
    assert_eq!(srv.order(&admin, &pid).await["status"], "expired");
    let list = srv.get("/v1/orders").token(&u).send().await;
    let row = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == json!(pid))
        .cloned()
        .expect("expired order is still listed");
    assert_eq!(row["status"], "expired");
    // Only pending orders expire.
    assert_eq!(srv.order(&u, &id_of(&paid)).await["status"], "paid");
    assert_eq!(srv.order(&u, &id_of(&cancelled)).await["status"], "cancelled");

    let r = srv.post(&format!("/v1/orders/{pid}/cancel")).token(&u).send().await;
    assert_problem(&r, 409, "invalid-state");

    let r = srv.pay(&pending, "evt-too-late").await;
    r.assert_json(200);
    let o = srv.order(&u, &pid).await;
    assert_eq!(o["status"], "expired", "a late payment does not revive the order");
    assert_eq!(o["refund_due"], true);
}
