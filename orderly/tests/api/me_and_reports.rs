use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::support::*;

// ---------------------------------------------------------------------------------------------
// /v1/me
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_me_creates_the_profile_from_the_token_claims() {
    let srv = TestServer::start();
    let ada = user_token("ada");
    let before = now() * 1000;
    let r = srv.get("/v1/me").token(&ada).send().await;
    r.assert_json(200);
    assert_has_fields(&r.body, &["id", "email", "display_name", "created_at"]);
    assert_eq!(r.body["id"], "ada");
    assert_eq!(r.body["email"], "ada@example.com");
    assert_eq!(r.body["display_name"], Value::Null);
    assert!((ts(&r.body["created_at"]) - before).abs() < 120_000);

    let again = srv.get("/v1/me").token(&ada).send().await;
    again.assert_json(200);
    assert_eq!(again.body, r.body, "the profile is created once");

    // Another user gets their own profile; no email claim → null email.
    let anon = token_with_claims(&json!({"sub": "no-mail", "exp": now() + 3600}));
    let r = srv.get("/v1/me").token(&anon).send().await;
    r.assert_json(200);
    assert_eq!(r.body["id"], "no-mail");
    assert_eq!(r.body["email"], Value::Null);
    assert_eq!(r.body["display_name"], Value::Null);

    let r = srv.get("/v1/me").send().await;
    assert_problem(&r, 401, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn patch_me_sets_display_name_within_bounds() {
    let srv = TestServer::start();
    let ada = user_token("ada");
    let created = srv.get("/v1/me").token(&ada).send().await;
    created.assert_json(200);

    let r = srv
        .patch("/v1/me")
        .token(&ada)
        .json(&json!({"display_name": "Ada Lovelace"}))
        .send()
        .await;
    r.assert_json(200);
    assert_eq!(r.body["display_name"], "Ada Lovelace");
    assert_eq!(r.body["id"], "ada");
    assert_eq!(r.body["email"], "ada@example.com");
    assert_eq!(r.body["created_at"], created.body["created_at"]);
    let g = srv.get("/v1/me").token(&ada).send().await;
    assert_eq!(g.body["display_name"], "Ada Lovelace");

    for name in ["x".repeat(80), "é".repeat(80), "A".to_string()] {
        let r = srv
            .patch("/v1/me")
            .token(&ada)
            .json(&json!({"display_name": name}))
            .send()
            .await;
        r.assert_json(200);
        assert_eq!(r.body["display_name"], json!(name));
    }

    let bad: Vec<(Value, &str)> = vec![
        (json!({"display_name": ""}), "display_name"),
        (json!({"display_name": "x".repeat(81)}), "display_name"),
        (json!({"display_name": "é".repeat(81)}), "display_name"),
        (json!({"display_name": 42}), "display_name"),
        (json!({"display_name": "ok", "nickname": "x"}), "nickname"),
        (json!({"email": "new@example.com"}), "email"),
    ];
    for (body, field) in bad {
        let r = srv
            .patch("/v1/me")
            .token(&ada)
            .label(body.to_string())
            .json(&body)
            .send()
            .await;
        assert_validation(&r, field);
    }
    let r = srv.patch("/v1/me").token(&ada).json(&json!({})).send().await;
    assert_problem(&r, 400, "validation");
    let g = srv.get("/v1/me").token(&ada).send().await;
    assert_eq!(g.body["display_name"], "A", "refused patches change nothing");

    let r = srv.patch("/v1/me").json(&json!({"display_name": "x"})).send().await;
    assert_problem(&r, 401, "unauthenticated");
    let r = srv
        .patch("/v1/me")
        .token(&ada)
        .raw("display_name=x", Some("text/plain"))
        .send()
        .await;
    assert_problem(&r, 415, "unsupported-media-type");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn patch_me_as_first_call_creates_the_profile() {
    let srv = TestServer::start();
    let grace = user_token("grace");
    let r = srv
        .patch("/v1/me")
        .token(&grace)
        .json(&json!({"display_name": "Grace"}))
        .send()
        .await;
    r.assert_json(200);
    assert_eq!(r.body["id"], "grace");
    assert_eq!(r.body["email"], "grace@example.com");
    assert_eq!(r.body["display_name"], "Grace");
    ts(&r.body["created_at"]);
    let g = srv.get("/v1/me").token(&grace).send().await;
    assert_eq!(g.body, r.body);
}

// ---------------------------------------------------------------------------------------------
// /v1/reports/daily/{date}
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn report_is_404_until_computed_then_post_computes_it() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let r = srv.get("/v1/reports/daily/2020-01-01").token(&admin).send().await;
    assert_problem(&r, 404, "not-found");

    let p = srv.post("/v1/reports/daily/2020-01-01").token(&admin).send().await;
    p.assert_json(200);
    assert_eq!(p.body["date"], "2020-01-01");
    assert_eq!(p.body["orders_paid"], 0);
    assert_eq!(p.body["revenue_cents"], 0);
    assert_eq!(p.body["units_sold"], 0);
    assert_eq!(p.body["top_products"], json!([]));

    let g = srv.get("/v1/reports/daily/2020-01-01").token(&admin).send().await;
    g.assert_json(200);
    assert_eq!(g.body, p.body);
    // Other days are still not computed.
    let r = srv.get("/v1/reports/daily/2020-01-02").token(&admin).send().await;
    assert_problem(&r, 404, "not-found");

    // A leap day is a real date.
    let r = srv.post("/v1/reports/daily/2024-02-29").token(&admin).send().await;
    r.assert_json(200);
    assert_eq!(r.body["date"], "2024-02-29");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn report_counts_only_paid_orders_and_ranks_top_products() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let u = user_token("buyer");
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(id_of(
            &srv.create_product(&admin, &format!("REP-{i}"), 100 * (i + 1), 1000)
                .await,
        ));
    }
    let line = |i: usize, q: i64| (ids[i].as_str(), q);

    // Paid: counted.
    let a = srv
        .place_order(
            &u,
            &[
                line(0, 3),
                line(1, 5),
                line(2, 3),
                line(3, 1),
                line(4, 5),
                line(5, 2),
                line(6, 3),
            ],
        )
        .await;
    let b = srv.place_order(&u, &[line(3, 2), line(5, 1)]).await;
    // Paid twice (refund due, still paid): counted once.
    let c = srv.place_order(&u, &[line(6, 1)]).await;
    // Pending, cancelled, and cancelled-then-paid: not counted.
    let _pending = srv.place_order(&u, &[line(0, 50)]).await;
    let cancelled = srv.place_order(&u, &[line(1, 40)]).await;
    let late = srv.place_order(&u, &[line(2, 30)]).await;
    for o in [&cancelled, &late] {
        srv.post(&format!("/v1/orders/{}/cancel", id_of(o)))
            .token(&u)
            .send()
            .await
            .assert_json(200);
    }
    srv.pay(&a, "evt-a").await.assert_json(200);
    srv.pay(&b, "evt-b").await.assert_json(200);
    srv.pay(&c, "evt-c1").await.assert_json(200);
    srv.pay(&c, "evt-c2").await.assert_json(200);
    srv.pay(&late, "evt-late").await.assert_json(200);
    // A failed payment changes nothing either.
    let failed = srv.place_order(&u, &[line(4, 20)]).await;
    srv.webhook(&payment_event("evt-f", "payment.failed", &failed))
        .await
        .assert_json(200);

    let paid: Vec<Value> = {
        let mut v = Vec::new();
        for o in [&a, &b, &c] {
            v.push(srv.order(&u, &id_of(o)).await);
        }
        v
    };
    let date = paid[0]["paid_at"].as_str().unwrap()[..10].to_string();
    let mut units: BTreeMap<String, i64> = BTreeMap::new();
    let mut revenue = 0;
    let mut units_sold = 0;
    for o in &paid {
        assert_eq!(o["status"], "paid");
        assert_eq!(
            &o["paid_at"].as_str().unwrap()[..10],
            date,
            "test ran across midnight UTC"
        );
        revenue += o["total_cents"].as_i64().unwrap();
        for it in o["items"].as_array().unwrap() {
            let q = it["quantity"].as_i64().unwrap();
            *units.entry(it["product_id"].as_str().unwrap().to_string()).or_default() += q;
            units_sold += q;
        }
    }
    let mut ranked: Vec<(String, i64)> = units.into_iter().collect();
    ranked.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    ranked.truncate(5);
    let expected_top: Vec<Value> = ranked
        .iter()
        .map(|(id, n)| json!({"product_id": id, "units": n}))
        .collect();
    // Sanity of the fixture: ties exist in the top 5 so the tie-break is exercised.
    assert_eq!(units_sold, 26);
    assert!(ranked.windows(2).any(|w| w[0].1 == w[1].1));

    let r = srv
        .post(&format!("/v1/reports/daily/{date}"))
        .token(&admin)
        .send()
        .await;
    r.assert_json(200);
    assert_eq!(r.body["date"], json!(date));
    assert_eq!(r.body["orders_paid"], 3);
    assert_eq!(r.body["revenue_cents"], json!(revenue));
    assert_eq!(r.body["units_sold"], json!(units_sold));
    let got_top: Vec<Value> = r.body["top_products"]
        .as_array()
        .unwrap_or_else(|| panic!("top_products must be an array: {}", r.text))
        .iter()
        .map(|t| json!({"product_id": t["product_id"], "units": t["units"]}))
        .collect();
    assert_eq!(got_top, expected_top, "top 5 by units, ties by product_id");

    let g = srv.get(&format!("/v1/reports/daily/{date}")).token(&admin).send().await;
    g.assert_json(200);
    assert_eq!(g.body, r.body);

    // Recomputing picks up a newly paid order.
    let d = srv.place_order(&u, &[line(5, 7)]).await;
    srv.pay(&d, "evt-d").await.assert_json(200);
    let r2 = srv
        .post(&format!("/v1/reports/daily/{date}"))
        .token(&admin)
        .send()
        .await;
    r2.assert_json(200);
    assert_eq!(r2.body["orders_paid"], 4);
    assert_eq!(r2.body["units_sold"], json!(units_sold + 7));
    assert_eq!(
        r2.body["revenue_cents"],
        json!(revenue + d["total_cents"].as_i64().unwrap())
    );
    assert_eq!(r2.body["top_products"][0]["product_id"], json!(ids[5]));
    assert_eq!(r2.body["top_products"][0]["units"], 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn report_dates_must_be_real_calendar_dates() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    for date in [
        "2026-02-30",
        "not-a-date",
        "2023-02-29",
        "2024-13-01",
        "2024-00-10",
        "2024-04-31",
        "2024-1-01",
        "20240101",
        "2024-01-01T00:00:00Z",
    ] {
        for method in ["GET", "POST"] {
            let req = if method == "GET" {
                srv.get(&format!("/v1/reports/daily/{date}"))
            } else {
                srv.post(&format!("/v1/reports/daily/{date}"))
            };
            let r = req.token(&admin).send().await;
            assert_problem(&r, 400, "validation");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reports_are_for_admins_only() {
    let srv = TestServer::start();
    let user = user_token("u");
    for path in ["/v1/reports/daily/2024-01-01", "/v1/reports/daily/2026-02-30"] {
        let r = srv.get(path).token(&user).send().await;
        assert_problem(&r, 403, "forbidden");
        let r = srv.post(path).token(&user).send().await;
        assert_problem(&r, 403, "forbidden");
        let r = srv.get(path).send().await;
        assert_problem(&r, 401, "unauthenticated");
        let r = srv.post(path).send().await;
        assert_problem(&r, 401, "unauthenticated");
    }
    // The refused POST computed nothing.
    let r = srv
        .get("/v1/reports/daily/2024-01-01")
        .token(&admin_token("admin"))
        .send()
        .await;
    assert_problem(&r, 404, "not-found");
}
