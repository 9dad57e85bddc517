//! The reservation limit of `POST /v1/orders`: a user may hold only so many unpaid orders, and so
//! many units in them, at once (`MAX_UNPAID_ORDERS_PER_USER`, `MAX_RESERVED_UNITS_PER_USER`).
//! Beyond it the order is refused with 409 `reservation-limit`, whose detail names the limit and
//! its value; nothing is reserved, a retry of an order already placed is still replayed, paying
//! or cancelling frees a share, and other users never notice.

use std::sync::Arc;

use tokio::sync::Barrier;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn beyond_the_limit_an_order_gets_a_problem_naming_the_limit() {
    let srv = TestServer::start_with(&[
        ("MAX_UNPAID_ORDERS_PER_USER", "2"),
        ("MAX_RESERVED_UNITS_PER_USER", "10"),
    ]);
    let admin = admin_token("admin");
    let (alice, bob) = (user_token("alice"), user_token("bob"));
    let p = id_of(&srv.create_product(&admin, "HOARD-1", 100, 100).await);

    let keyed = srv
        .post("/v1/orders")
        .token(&alice)
        .header("Idempotency-Key", "first")
        .json(&order_body(&[(&p, 4)]))
        .send()
        .await;
    keyed.assert_json(201);
    let second = srv.place_order(&alice, &[(&p, 4)]).await;

    let third = srv
        .post("/v1/orders")
        .token(&alice)
        .json(&order_body(&[(&p, 1)]))
        .send()
        .await;
    assert_problem(&third, 409, "reservation-limit");
    assert_eq!(
        third.body["detail"],
        "you already hold 2 unpaid orders, the most a user may hold at once; \
         pay or cancel one before placing another"
    );
    assert!(third.body.get("errors").is_none(), "{}", third.text);
    assert_eq!(srv.stock_of(&p).await, 92, "nothing was reserved for the refused order");

    // A retry of the order already placed is replayed, not refused, and reserves nothing again.
    let replay = srv
        .post("/v1/orders")
        .token(&alice)
        .header("Idempotency-Key", "first")
        .json(&order_body(&[(&p, 4)]))
        .send()
        .await;
    replay.assert_json(201);
    assert_eq!(replay.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(id_of(&replay.body), id_of(&keyed.body));
    assert_eq!(srv.stock_of(&p).await, 92);

    // Bob is not held back by Alice.
    srv.place_order(&bob, &[(&p, 5)]).await;
    srv.place_order(&bob, &[(&p, 5)]).await;

    // Cancelling frees an order's place and units; the units then bind.
    srv.post(&format!("/v1/orders/{}/cancel", id_of(&second)))
        .token(&alice)
        .send()
        .await
        .assert_json(200);
    let too_many = srv
        .post("/v1/orders")
        .token(&alice)
        .json(&order_body(&[(&p, 7)]))
        .send()
        .await;
    assert_problem(&too_many, 409, "reservation-limit");
    assert_eq!(
        too_many.body["detail"],
        "this order's 7 units would take the units held by your unpaid orders above 10, \
         the most a user may hold at once; pay or cancel an order, or order fewer units"
    );
    let alone = srv
        .post("/v1/orders")
        .token(&user_token("carol"))
        .json(&order_body(&[(&p, 11)]))
        .send()
        .await;
    assert_problem(&alone, 409, "reservation-limit");
    assert!(
        alone.body["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("this order reserves 11 units, more than the 10 units a user may hold"),
        "{}",
        alone.text
    );
    srv.place_order(&alice, &[(&p, 6)]).await;

    // Paying frees a share too.
    srv.pay(&keyed.body, "evt-hoard-1").await.assert_json(200);
    srv.place_order(&alice, &[(&p, 4)]).await;
    assert_eq!(srv.stock_of(&p).await, 100 - 4 - 10 - 6 - 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn by_default_a_user_holds_at_most_ten_unpaid_orders() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let buyer = user_token("collector");
    let p = id_of(&srv.create_product(&admin, "HOARD-2", 100, 1000).await);
    for _ in 0..10 {
        srv.place_order(&buyer, &[(&p, 1)]).await;
    }
    let eleventh = srv
        .post("/v1/orders")
        .token(&buyer)
        .json(&order_body(&[(&p, 1)]))
        .send()
        .await;
    assert_problem(&eleventh, 409, "reservation-limit");
    assert!(
        eleventh.detail().starts_with("you already hold 10 unpaid orders"),
        "{}",
        eleventh.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_orders_of_one_user_leave_exactly_the_limit_open() {
    let srv = Arc::new(TestServer::start_with(&[("MAX_UNPAID_ORDERS_PER_USER", "5")]));
    let admin = admin_token("admin");
    let p = id_of(&srv.create_product(&admin, "HOARD-3", 100, 1000).await);
    let barrier = Arc::new(Barrier::new(20));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (srv, barrier, p) = (srv.clone(), barrier.clone(), p.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            srv.post("/v1/orders")
                .token(&user_token("bot"))
                .json(&order_body(&[(&p, 1)]))
                .send()
                .await
        }));
    }
    let mut placed = 0;
    for task in tasks {
        let answer = task.await.expect("a request task");
        match answer.status {
            201 => placed += 1,
            _ => assert_problem(&answer, 409, "reservation-limit"),
        }
    }
    assert_eq!(placed, 5, "exactly the limit's worth of orders is placed");
    assert_eq!(srv.stock_of(&p).await, 995);
    let listed = srv.get("/v1/orders").token(&user_token("bot")).send().await;
    listed.assert_json(200);
    let open = listed.body["items"]
        .as_array()
        .map(|items| items.iter().filter(|o| o["status"] == "pending_payment").count());
    assert_eq!(open, Some(5));
}
