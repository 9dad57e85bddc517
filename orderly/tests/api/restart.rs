use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn state_and_idempotency_survive_a_crash() {
    let mut srv = TestServer::start();
    let admin = admin_token("admin");
    let u = user_token("survivor");
    let p = srv.create_product(&admin, "DURABLE-1", 700, 10).await;
    let pid = id_of(&p);
    let body = order_body(&[(&pid, 3)]);
    let first = srv
        .post("/v1/orders")
        .token(&u)
        .header("Idempotency-Key", "crash-key")
        .json(&body)
        .send()
        .await;
    first.assert_json(201);
    let oid = id_of(&first.body);
    let paid_order = srv.place_order(&u, &[(&pid, 1)]).await;
    srv.pay(&paid_order, "evt-before-crash").await.assert_json(200);
    let paid_before = srv.order(&u, &id_of(&paid_order)).await;
    let me = srv
        .patch("/v1/me")
        .token(&u)
        .json(&json!({"display_name": "Still here"}))
        .send()
        .await;
    me.assert_json(200);
    let product_before = srv.product(&pid).await;
    assert_eq!(product_before["stock"], 6);

    srv.restart(); // SIGKILL, then a new process on the same data dir

    srv.get("/v1/health").send().await.assert_json(200);
    assert_eq!(srv.product(&pid).await, product_before);
    let g = srv.get(&format!("/v1/products/{pid}")).send().await;
    assert_eq!(g.header("etag").as_deref(), Some("\"1\""));
    let list = srv.get("/v1/products").send().await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);

    assert_eq!(srv.order(&u, &oid).await, first.body);
    assert_eq!(srv.order(&u, &id_of(&paid_order)).await, paid_before);
    let mine = srv.get("/v1/orders").token(&u).send().await;
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 2);

    let g = srv.get("/v1/me").token(&u).send().await;
    g.assert_json(200);
    assert_eq!(g.body, me.body);

    // The idempotency key still replays, and reserves nothing.
    let replay = srv
        .post("/v1/orders")
        .token(&u)
        .header("Idempotency-Key", "crash-key")
        .json(&body)
        .send()
        .await;
    replay.assert_status(201);
    assert_eq!(replay.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.header("location"), first.header("location"));
    let r = srv
        .post("/v1/orders")
        .token(&u)
        .header("Idempotency-Key", "crash-key")
        .json(&order_body(&[(&pid, 4)]))
        .send()
        .await;
    assert_problem(&r, 422, "idempotency-key-reused");
    assert_eq!(srv.stock_of(&pid).await, 6);

    // The processed webhook event is remembered: no second effect.
    srv.pay(&paid_order, "evt-before-crash").await.assert_json(200);
    assert_eq!(srv.order(&u, &id_of(&paid_order)).await["refund_due"], false);

    // The SKU is still taken.
    let r = srv
        .post("/v1/products")
        .token(&admin)
        .json(&json!({"sku": "DURABLE-1", "name": "again", "price_cents": 1, "stock": 1}))
        .send()
        .await;
    assert_problem(&r, 409, "sku-taken");

    // And the new process works normally; a second crash loses nothing either.
    let o2 = srv.place_order(&u, &[(&pid, 2)]).await;
    srv.restart();
    assert_eq!(srv.order(&u, &id_of(&o2)).await, o2);
    assert_eq!(srv.stock_of(&pid).await, 4);
}
