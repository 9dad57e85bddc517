use std::future::Future;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::Barrier;

use crate::support::*;

/// Runs `n` tasks concurrently (released together by a barrier) and returns their responses in
/// task order.
async fn race<F, Fut>(srv: &Arc<TestServer>, n: usize, f: F) -> Vec<Resp>
where
    F: Fn(Arc<TestServer>, usize) -> Fut,
    Fut: Future<Output = Resp> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let fut = f(srv.clone(), i);
        let barrier = barrier.clone();
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut out = Vec::with_capacity(n);
    for h in handles {
        out.push(h.await.expect("request task panicked"));
    }
    out
}

fn count(rs: &[Resp], status: u16) -> usize {
    rs.iter().filter(|r| r.status == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_buyers_race_for_twenty_units() {
    let srv = Arc::new(TestServer::start());
    let admin = admin_token("admin");
    let pid = id_of(&srv.create_product(&admin, "RACE-1", 100, 20).await);
    let rs = race(&srv, 60, |srv, i| {
        let pid = pid.clone();
        async move {
            srv.post("/v1/orders")
                .token(&user_token(&format!("buyer-{i}")))
                .json(&order_body(&[(&pid, 1)]))
                .send()
                .await
        }
    })
    .await;
    assert_eq!(count(&rs, 201), 20, "exactly the stock is sold");
    assert_eq!(count(&rs, 409), 40);
    for r in &rs {
        match r.status {
            201 => assert_eq!(r.body["status"], "pending_payment"),
            409 => assert_problem(r, 409, "insufficient-stock"),
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    let p = srv.product(&pid).await;
    assert_eq!(p["stock"], 0);
    assert_eq!(p["version"], 1);
    // Each winner really has its order.
    let mut winners = 0;
    for i in 0..60 {
        let r = srv
            .get("/v1/orders")
            .token(&user_token(&format!("buyer-{i}")))
            .send()
            .await;
        r.assert_json(200);
        let n = r.body["items"].as_array().unwrap().len();
        assert!(n <= 1);
        winners += n;
    }
    assert_eq!(winners, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_requests_with_one_idempotency_key_make_one_order() {
    let srv = Arc::new(TestServer::start());
    let admin = admin_token("admin");
    let pid = id_of(&srv.create_product(&admin, "IDEM-RACE", 100, 50).await);
    let body = order_body(&[(&pid, 3)]);
    let rs = race(&srv, 10, |srv, _| {
        let body = body.clone();
        async move {
            srv.post("/v1/orders")
                .token(&user_token("same-user"))
                .header("Idempotency-Key", "race-key")
                .json(&body)
                .send()
                .await
        }
    })
    .await;
    let mut originals = 0;
    let mut order_ids = Vec::new();
    for r in &rs {
        match r.status {
            201 => {
                if r.header("idempotent-replayed").as_deref() == Some("true") {
                    // a replay
                } else {
                    originals += 1;
                }
                order_ids.push(id_of(&r.body));
            }
            409 => assert_problem(r, 409, "request-in-progress"),
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(originals, 1, "exactly one original 201");
    order_ids.dedup();
    assert_eq!(order_ids.len(), 1, "all 201s describe the same order");
    let list = srv.get("/v1/orders").token(&user_token("same-user")).send().await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "exactly one order exists");
    assert_eq!(items[0]["id"], json!(order_ids[0]));
    assert_eq!(srv.stock_of(&pid).await, 47, "stock reserved exactly once");

    // Afterwards the key replays.
    let r = srv
        .post("/v1/orders")
        .token(&user_token("same-user"))
        .header("Idempotency-Key", "race-key")
        .json(&body)
        .send()
        .await;
    r.assert_status(201);
    assert_eq!(r.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(r.body["id"], json!(order_ids[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_key_with_two_bodies_concurrently_makes_one_order() {
    let srv = Arc::new(TestServer::start());
    let admin = admin_token("admin");
    let pid = id_of(&srv.create_product(&admin, "IDEM-TWO", 100, 50).await);
    let body_for = |i: usize| order_body(&[(&pid, 1 + (i % 2) as i64)]);
    let rs = race(&srv, 10, |srv, i| {
        let body = body_for(i);
        async move {
            srv.post("/v1/orders")
                .token(&user_token("two-bodies"))
                .header("Idempotency-Key", "two-bodies-key")
                .json(&body)
                .send()
                .await
        }
    })
    .await;
    let originals: Vec<usize> = (0..10)
        .filter(|&i| rs[i].status == 201 && rs[i].header("idempotent-replayed").as_deref() != Some("true"))
        .collect();
    assert_eq!(originals.len(), 1, "exactly one original 201");
    let winner_parity = originals[0] % 2;
    let qty = if winner_parity == 0 { 1 } else { 2 };
    for (i, r) in rs.iter().enumerate() {
        if i % 2 == winner_parity {
            if r.status != 201 {
                assert_problem(r, 409, "request-in-progress");
            } else {
                assert_eq!(r.body["id"], rs[originals[0]].body["id"]);
            }
        } else {
            assert_problem(r, 422, "idempotency-key-reused");
        }
    }
    let list = srv.get("/v1/orders").token(&user_token("two-bodies")).send().await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(srv.stock_of(&pid).await, 50 - qty);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_stock_adjustments_and_orders_never_lose_an_update() {
    let srv = Arc::new(TestServer::start());
    let admin = admin_token("admin");
    let pid = id_of(&srv.create_product(&admin, "ADJ-1", 100, 0).await);

    let rs = race(&srv, 40, |srv, _| {
        let (pid, admin) = (pid.clone(), admin.clone());
        async move {
            srv.post(&format!("/v1/products/{pid}/stock"))
                .token(&admin)
                .json(&json!({"delta": 1}))
                .send()
                .await
        }
    })
    .await;
    assert_eq!(count(&rs, 200), 40, "every +1 succeeds");
    assert_eq!(srv.stock_of(&pid).await, 40);

    // Mixed: 20 × +3, 10 × −1 and 10 orders of 2 units. Stock never gets near 0, so all succeed.
    let rs = race(&srv, 40, |srv, i| {
        let (pid, admin) = (pid.clone(), admin.clone());
        async move {
            if i < 30 {
                let delta = if i < 20 { 3 } else { -1 };
                srv.post(&format!("/v1/products/{pid}/stock"))
                    .token(&admin)
                    .json(&json!({"delta": delta}))
                    .send()
                    .await
            } else {
                srv.post("/v1/orders")
                    .token(&user_token(&format!("mixed-{i}")))
                    .json(&order_body(&[(&pid, 2)]))
                    .send()
                    .await
            }
        }
    })
    .await;
    assert_eq!(
        count(&rs, 200),
        30,
        "{:?}",
        rs.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(count(&rs, 201), 10);
    let p = srv.product(&pid).await;
    assert_eq!(p["stock"], 40 + 60 - 10 - 20);
    assert_eq!(p["version"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stock_never_goes_below_zero_under_concurrent_decrements() {
    let srv = Arc::new(TestServer::start());
    let admin = admin_token("admin");
    let pid = id_of(&srv.create_product(&admin, "DEC-1", 100, 10).await);
    // 15 × −1 by admins and 15 orders of 1 unit compete for 10 units.
    let rs = race(&srv, 30, |srv, i| {
        let (pid, admin) = (pid.clone(), admin.clone());
        async move {
            if i % 2 == 0 {
                srv.post(&format!("/v1/products/{pid}/stock"))
                    .token(&admin)
                    .json(&json!({"delta": -1}))
                    .send()
                    .await
            } else {
                srv.post("/v1/orders")
                    .token(&user_token(&format!("dec-{i}")))
                    .json(&order_body(&[(&pid, 1)]))
                    .send()
                    .await
            }
        }
    })
    .await;
    let ok = count(&rs, 200) + count(&rs, 201);
    assert_eq!(ok, 10, "exactly 10 units can be taken");
    for r in rs.iter().filter(|r| r.status == 409) {
        assert_problem(r, 409, "insufficient-stock");
    }
    assert_eq!(count(&rs, 409), 20);
    assert_eq!(srv.stock_of(&pid).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_with_the_same_if_match_let_exactly_one_win() {
    let srv = Arc::new(TestServer::start());
    let admin = admin_token("admin");
    let pid = id_of(&srv.create_product(&admin, "OCC-1", 100, 1).await);
    let rs = race(&srv, 10, |srv, i| {
        let (pid, admin) = (pid.clone(), admin.clone());
        async move {
            srv.patch(&format!("/v1/products/{pid}"))
                .token(&admin)
                .header("If-Match", "\"1\"")
                .json(&json!({"name": format!("writer-{i}")}))
                .send()
                .await
        }
    })
    .await;
    assert_eq!(count(&rs, 200), 1, "exactly one conditional write wins");
    for r in rs.iter().filter(|r| r.status != 200) {
        assert_problem(r, 412, "version-mismatch");
    }
    let winner = rs.iter().find(|r| r.status == 200).unwrap();
    let p = srv.product(&pid).await;
    assert_eq!(p["version"], 2);
    assert_eq!(p["name"], winner.body["name"]);

    // Unconditional concurrent patches all apply: version counts every one of them.
    let rs = race(&srv, 10, |srv, i| {
        let (pid, admin) = (pid.clone(), admin.clone());
        async move {
            srv.patch(&format!("/v1/products/{pid}"))
                .token(&admin)
                .json(&json!({"price_cents": 1000 + i}))
                .send()
                .await
        }
    })
    .await;
    assert_eq!(count(&rs, 200), 10);
    let mut versions: Vec<i64> = rs.iter().map(|r| r.body["version"].as_i64().unwrap()).collect();
    versions.sort();
    assert_eq!(versions, (3..=12).collect::<Vec<_>>());
    assert_eq!(srv.product(&pid).await["version"], 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_sku_make_one_product() {
    let srv = Arc::new(TestServer::start());
    let rs = race(&srv, 10, |srv, i| async move {
        srv.post("/v1/products")
            .token(&admin_token(&format!("admin-{i}")))
            .json(&json!({"sku": "ONE-SKU", "name": format!("n{i}"), "price_cents": 1, "stock": 1}))
            .send()
            .await
    })
    .await;
    assert_eq!(count(&rs, 201), 1);
    for r in rs.iter().filter(|r| r.status != 201) {
        assert_problem(r, 409, "sku-taken");
    }
    let list = srv.get("/v1/products").send().await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_calls_to_me_create_one_profile() {
    let srv = Arc::new(TestServer::start());
    let rs = race(&srv, 10, |srv, _| async move {
        srv.get("/v1/me").token(&user_token("racer")).send().await
    })
    .await;
    assert_eq!(count(&rs, 200), 10);
    let first: &Value = &rs[0].body;
    for r in &rs {
        assert_eq!(&r.body, first, "every caller sees the same profile");
    }
    let again = srv.get("/v1/me").token(&user_token("racer")).send().await;
    assert_eq!(&again.body, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_event_delivered_concurrently_has_one_effect() {
    let srv = Arc::new(TestServer::start());
    let admin = admin_token("admin");
    let pid = id_of(&srv.create_product(&admin, "WH-RACE", 100, 10).await);
    let u = user_token("u");
    let o = srv.place_order(&u, &[(&pid, 1)]).await;
    let ev = payment_event("evt-race", "payment.succeeded", &o);
    let rs = race(&srv, 10, |srv, _| {
        let ev = ev.clone();
        async move { srv.webhook(&ev).await }
    })
    .await;
    assert_eq!(
        count(&rs, 200),
        10,
        "{:?}",
        rs.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    let paid = srv.order(&u, &id_of(&o)).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["refund_due"], false, "one event, one effect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_and_payment_races_end_in_one_consistent_state() {
    let srv = Arc::new(TestServer::start());
    let admin = admin_token("admin");
    let pid = id_of(&srv.create_product(&admin, "CP-RACE", 100, 100).await);
    let u = user_token("u");
    let mut orders = Vec::new();
    for _ in 0..10 {
        orders.push(srv.place_order(&u, &[(&pid, 2)]).await);
    }
    assert_eq!(srv.stock_of(&pid).await, 80);
    let rs = race(&srv, 20, |srv, i| {
        let o = orders[i / 2].clone();
        let u = u.clone();
        async move {
            if i % 2 == 0 {
                srv.post(&format!("/v1/orders/{}/cancel", id_of(&o)))
                    .token(&u)
                    .send()
                    .await
            } else {
                srv.pay(&o, &format!("evt-{}", id_of(&o))).await
            }
        }
    })
    .await;
    let mut cancelled = 0;
    for (k, o) in orders.iter().enumerate() {
        let (cancel, pay) = (&rs[2 * k], &rs[2 * k + 1]);
        pay.assert_json(200);
        let now = srv.order(&u, &id_of(o)).await;
        match now["status"].as_str().unwrap() {
            "cancelled" => {
                cancel.assert_json(200);
                assert_eq!(now["refund_due"], true, "paid after cancel: refund due");
                cancelled += 1;
            }
            "paid" => {
                assert_problem(cancel, 409, "invalid-state");
                assert_eq!(now["refund_due"], false);
                ts(&now["paid_at"]);
            }
            other => panic!("order ended {other}: {now}"),
        }
    }
    assert_eq!(
        srv.stock_of(&pid).await,
        80 + 2 * cancelled,
        "exactly the cancelled orders returned their stock"
    );
}
