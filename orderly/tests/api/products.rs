use serde_json::{json, Value};

use crate::support::*;

fn product_body(sku: &str) -> Value {
    json!({"sku": sku, "name": "Widget", "description": "A widget", "price_cents": 1234, "stock": 10})
}

/// Replaces the character in the middle of `s` by another one of the same class, so that the
/// result stays in the same alphabet (base64url, hex, ...) but decodes to something else.
pub fn tamper(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let i = chars.len() / 2;
    let c = chars[i];
    chars[i] = match c {
        '0'..='8' | 'a'..='y' | 'A'..='Y' => ((c as u8) + 1) as char,
        '9' => '0',
        'z' => 'a',
        'Z' => 'A',
        '-' => '_',
        '_' => '-',
        _ => 'A',
    };
    chars.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_product_returns_201_with_location_version_1_and_get_carries_etag() {
    let srv = TestServer::start();
    let admin = admin_token("admin-1");
    let r = srv
        .post("/v1/products")
        .token(&admin)
        .json(&product_body("WID-001"))
        .send()
        .await;
    r.assert_json(201);
    let p = &r.body;
    assert_has_fields(p, PRODUCT_FIELDS);
    let id = id_of(p);
    assert_eq!(r.header("location"), Some(format!("/v1/products/{id}")));
    assert_eq!(p["sku"], "WID-001");
    assert_eq!(p["name"], "Widget");
    assert_eq!(p["description"], "A widget");
    assert_eq!(p["price_cents"], 1234);
    assert_eq!(p["currency"], "USD");
    assert_eq!(p["stock"], 10);
    assert_eq!(p["active"], true);
    assert_eq!(p["version"], 1);
    let created = ts(&p["created_at"]);
    let updated = ts(&p["updated_at"]);
    assert!(updated >= created);
    assert!(r.header("x-request-id").is_some(), "201 without X-Request-Id");

    // Public GET, no token needed, same representation, ETag "1".
    let g = srv.get(&format!("/v1/products/{id}")).send().await;
    g.assert_json(200);
    assert_eq!(g.header("etag").as_deref(), Some("\"1\""));
    assert_eq!(&g.body, p, "GET must return the product as created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_product_without_description_and_role_checks() {
    let srv = TestServer::start();
    let body = json!({"sku": "NODESC", "name": "Plain", "price_cents": 0, "stock": 0});

    let r = srv.post("/v1/products").json(&body).send().await;
    assert_problem(&r, 401, "unauthenticated");
    let r = srv
        .post("/v1/products")
        .token(&user_token("u1"))
        .json(&body)
        .send()
        .await;
    assert_problem(&r, 403, "forbidden");
    // Nothing was created by the refused calls.
    let list = srv.get("/v1/products").send().await;
    list.assert_json(200);
    assert_eq!(list.body["items"], json!([]));
    assert_eq!(list.body["next_cursor"], Value::Null);

    let r = srv
        .post("/v1/products")
        .token(&admin_token("a"))
        .json(&body)
        .send()
        .await;
    r.assert_json(201);
    assert!(
        r.body.get("description").is_some_and(Value::is_null),
        "an absent description must read as null: {}",
        r.text
    );
    assert_eq!(r.body["price_cents"], 0);
    assert_eq!(r.body["stock"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_sku_is_409_sku_taken() {
    let srv = TestServer::start();
    let admin = admin_token("admin-1");
    srv.create_product(&admin, "DUP-1", 100, 1).await;
    let mut other = product_body("DUP-1");
    other["name"] = json!("Another name");
    let r = srv.post("/v1/products").token(&admin).json(&other).send().await;
    assert_problem(&r, 409, "sku-taken");
    // A different admin hits the same SKU space.
    let r = srv
        .post("/v1/products")
        .token(&admin_token("admin-2"))
        .json(&other)
        .send()
        .await;
    assert_problem(&r, 409, "sku-taken");
    let list = srv.get("/v1/products").send().await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_product_field_validation_and_boundaries() {
    let srv = TestServer::start();
    let admin = admin_token("admin-1");
    let base = json!({"sku": "OK-1", "name": "n", "price_cents": 1, "stock": 1});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };

    let bad: Vec<(Value, &str)> = vec![
        (with("sku", json!("lower-case")), "sku"),
        (with("sku", json!("")), "sku"),
        (with("sku", json!("A".repeat(33))), "sku"),
        (with("sku", json!("HAS SPACE")), "sku"),
        (with("sku", json!("UNDER_SCORE")), "sku"),
        (with("sku", json!(12)), "sku"),
        (with("name", json!("")), "name"),
        (with("name", json!("x".repeat(201))), "name"),
        (with("name", json!(null)), "name"),
        (with("description", json!("d".repeat(2001))), "description"),
        (with("description", json!(5)), "description"),
        (with("price_cents", json!(-1)), "price_cents"),
        (with("price_cents", json!(1_000_000_001i64)), "price_cents"),
        (with("price_cents", json!("12")), "price_cents"),
        (with("price_cents", json!(1.5)), "price_cents"),
        (with("stock", json!(-1)), "stock"),
        (with("stock", json!(1_000_001)), "stock"),
        (with("stock", json!(true)), "stock"),
        (with("colour", json!("red")), "colour"),
        (without("sku"), "sku"),
        (without("name"), "name"),
        (without("price_cents"), "price_cents"),
        (without("stock"), "stock"),
    ];
    for (body, field) in bad {
        let r = srv
            .post("/v1/products")
            .token(&admin)
            .label(body.to_string())
            .json(&body)
            .send()
            .await;
        assert_validation(&r, field);
    }

    // Boundaries that are allowed; lengths are in characters, not bytes.
    let good = vec![
        json!({"sku": "A".repeat(32), "name": "x".repeat(200), "description": "d".repeat(2000), "price_cents": 1_000_000_000i64, "stock": 1_000_000}),
        json!({"sku": "0-9", "name": "é".repeat(200), "description": "ü".repeat(2000), "price_cents": 0, "stock": 0}),
        json!({"sku": "-", "name": "n", "description": null, "price_cents": 5, "stock": 5}),
    ];
    for body in good {
        let r = srv.post("/v1/products").token(&admin).json(&body).send().await;
        r.assert_json(201);
        assert_eq!(r.body["sku"], body["sku"]);
        assert_eq!(r.body["name"], body["name"]);
        assert_eq!(r.body["description"], body["description"]);
        assert_eq!(r.body["price_cents"], body["price_cents"]);
        assert_eq!(r.body["stock"], body["stock"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_product_reports_every_offending_field() {
    let srv = TestServer::start();
    let r = srv
        .post("/v1/products")
        .token(&admin_token("a"))
        .json(&json!({"sku": "bad sku", "name": "", "price_cents": -5, "stock": 2_000_000}))
        .send()
        .await;
    for f in ["sku", "name", "price_cents", "stock"] {
        assert_validation(&r, f);
    }
    let mut fields = r.error_fields();
    fields.sort();
    fields.dedup();
    assert_eq!(
        r.body["errors"].as_array().unwrap().len(),
        4,
        "one entry per offending field: {}",
        r.text
    );
    assert_eq!(fields.len(), 4);

    // A single offending field gets exactly one entry.
    let r = srv
        .post("/v1/products")
        .token(&admin_token("a"))
        .json(&json!({"sku": "OK", "name": "x".repeat(201), "price_cents": 1, "stock": 1}))
        .send()
        .await;
    assert_validation(&r, "name");
    assert_eq!(r.error_fields(), vec!["name".to_string()], "{}", r.text);
    for e in r.body["errors"].as_array().unwrap() {
        assert!(e["message"].is_string(), "every error has a message: {}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn product_cursor_is_a_position_not_an_offset() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(id_of(&srv.create_product(&admin, &format!("POS-{i}"), 1, 1).await));
    }
    let r = srv.get("/v1/products?limit=2").send().await;
    let cursor = encode_query(r.body["next_cursor"].as_str().unwrap());
    // Deactivating an item already seen must not make the next page skip one.
    srv.patch(&format!("/v1/products/{}", ids[0]))
        .token(&admin)
        .json(&json!({"active": false}))
        .send()
        .await
        .assert_json(200);
    let r = srv.get(&format!("/v1/products?limit=2&cursor={cursor}")).send().await;
    r.assert_json(200);
    let page2: Vec<String> = r.body["items"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(page2, ids[2..4].to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_pages_through_active_products_in_creation_order() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(id_of(
            &srv.create_product(&admin, &format!("LIST-{i}"), 100 + i, 5).await,
        ));
    }
    // Deactivate two of them: the public list only shows active products.
    for id in [&ids[1], &ids[4]] {
        let r = srv
            .patch(&format!("/v1/products/{id}"))
            .token(&admin)
            .json(&json!({"active": false}))
            .send()
            .await;
        r.assert_json(200);
        assert_eq!(r.body["active"], false);
    }
    let expected: Vec<String> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1 && *i != 4)
        .map(|(_, id)| id.clone())
        .collect();

    for limit in [1usize, 2, 3, 5, 100] {
        let items = collect_pages(&srv, None, "/v1/products", limit).await;
        let got: Vec<String> = items.iter().map(id_of).collect();
        assert_eq!(got, expected, "limit={limit}: wrong items or order");
        for it in &items {
            assert_has_fields(it, PRODUCT_FIELDS);
            assert_eq!(it["active"], true);
        }
    }

    // First page with limit=2: exactly 2 items and a cursor.
    let r = srv.get("/v1/products?limit=2").send().await;
    r.assert_json(200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    assert!(r.body["next_cursor"].is_string());

    // Everything on one page: next_cursor null.
    let r = srv.get("/v1/products?limit=5").send().await;
    r.assert_json(200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 5);
    let r = srv.get("/v1/products?limit=6").send().await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 5);
    assert_eq!(r.body["next_cursor"], Value::Null);

    // A product created after the first page was fetched still shows up on a later page.
    let r = srv.get("/v1/products?limit=4").send().await;
    let cursor = r.body["next_cursor"].as_str().unwrap().to_string();
    let late = id_of(&srv.create_product(&admin, "LIST-LATE", 1, 1).await);
    let r = srv
        .get(&format!("/v1/products?limit=4&cursor={}", encode_query(&cursor)))
        .send()
        .await;
    r.assert_json(200);
    let rest: Vec<String> = r.body["items"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(rest, vec![expected[4].clone(), late]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_default_limit_is_20_and_empty_cursor_counts_as_absent() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    let mut ids = Vec::new();
    for i in 0..22 {
        ids.push(id_of(&srv.create_product(&admin, &format!("DEF-{i:02}"), 1, 1).await));
    }
    let r = srv.get("/v1/products").send().await;
    r.assert_json(200);
    let got: Vec<String> = r.body["items"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(got, ids[..20].to_vec());
    let cursor = r.body["next_cursor"]
        .as_str()
        .expect("22 products, limit 20: there is a next page")
        .to_string();
    let r2 = srv
        .get(&format!("/v1/products?cursor={}", encode_query(&cursor)))
        .send()
        .await;
    r2.assert_json(200);
    let got2: Vec<String> = r2.body["items"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(got2, ids[20..].to_vec());
    assert_eq!(r2.body["next_cursor"], Value::Null);

    for path in [
        "/v1/products?cursor=",
        "/v1/products?cursor=&limit=20",
        "/v1/products?limit=20&cursor=",
    ] {
        let e = srv.get(path).send().await;
        e.assert_json(200);
        assert_eq!(
            e.body["items"], r.body["items"],
            "{path}: empty cursor must count as absent"
        );
    }
    let r = srv.get("/v1/products?limit=100").send().await;
    r.assert_json(200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 22);
    assert_eq!(r.body["next_cursor"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_rejects_bad_limit_values() {
    let srv = TestServer::start();
    for limit in ["0", "101", "abc", "-1", "1.5", "99999999999999999999"] {
        let r = srv.get(&format!("/v1/products?limit={limit}")).send().await;
        assert_validation(&r, "limit");
    }
    let r = srv.get("/v1/products?limit=1").send().await;
    r.assert_json(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_rejects_garbage_tampered_and_truncated_cursors() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    for i in 0..4 {
        srv.create_product(&admin, &format!("CUR-{i}"), 1, 1).await;
    }
    let r = srv.get("/v1/products?limit=1").send().await;
    let cursor = r.body["next_cursor"].as_str().unwrap().to_string();
    // The untouched cursor works.
    let ok = srv
        .get(&format!("/v1/products?limit=1&cursor={}", encode_query(&cursor)))
        .send()
        .await;
    ok.assert_json(200);

    let mut bad = vec![
        "garbage".to_string(),
        "%00%01".to_string(),
        "!!!!".to_string(),
        "eyJpZCI6IjEyMyJ9".to_string(), // base64 of {"id":"123"}
        encode_query(&tamper(&cursor)),
        encode_query(&cursor[..cursor.len() / 2]),
        encode_query(&format!("{cursor}x")),
        "A".repeat(5000),
    ];
    if cursor.len() > 4 {
        bad.push(encode_query(&cursor[1..]));
    }
    for c in bad {
        let r = srv.get(&format!("/v1/products?limit=1&cursor={c}")).send().await;
        assert_validation(&r, "cursor");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_product_is_404_and_inactive_product_is_still_readable() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    for id in [
        "01ARZ3NDEKTSV4RRFFQ69G5FAV".to_string(),
        "nope".to_string(),
        "x".repeat(300),
    ] {
        let r = srv.get(&format!("/v1/products/{id}")).send().await;
        assert_problem(&r, 404, "not-found");
    }
    let p = srv.create_product(&admin, "INACT", 10, 3).await;
    let id = id_of(&p);
    let r = srv
        .patch(&format!("/v1/products/{id}"))
        .token(&admin)
        .json(&json!({"active": false}))
        .send()
        .await;
    r.assert_json(200);
    let g = srv.get(&format!("/v1/products/{id}")).send().await;
    g.assert_json(200);
    assert_eq!(g.body["active"], false);
    assert_eq!(g.body["version"], 2);
    assert_eq!(g.header("etag").as_deref(), Some("\"2\""));
    // Reactivate: it is listed again.
    srv.patch(&format!("/v1/products/{id}"))
        .token(&admin)
        .json(&json!({"active": true}))
        .send()
        .await
        .assert_json(200);
    let list = srv.get("/v1/products").send().await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn patch_honours_if_match_forms_and_bumps_version() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    let p = srv.create_product(&admin, "PATCH-1", 100, 5).await;
    let id = id_of(&p);
    let path = format!("/v1/products/{id}");

    let r = srv
        .patch(&path)
        .token(&admin)
        .header("If-Match", "\"1\"")
        .json(&json!({"name": "Renamed"}))
        .send()
        .await;
    r.assert_json(200);
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.body["name"], "Renamed");
    assert_eq!(r.body["sku"], "PATCH-1");
    assert_eq!(r.body["price_cents"], 100);
    assert_eq!(r.body["created_at"], p["created_at"]);
    assert!(ts(&r.body["updated_at"]) >= ts(&p["updated_at"]));
    let g = srv.get(&path).send().await;
    assert_eq!(g.header("etag").as_deref(), Some("\"2\""));
    assert_eq!(g.body["name"], "Renamed");

    let r = srv
        .patch(&path)
        .token(&admin)
        .header("If-Match", "W/\"2\"")
        .json(&json!({"price_cents": 250}))
        .send()
        .await;
    r.assert_json(200);
    assert_eq!(r.body["version"], 3);
    assert_eq!(r.body["price_cents"], 250);

    let r = srv
        .patch(&path)
        .token(&admin)
        .header("If-Match", "*")
        .json(&json!({"description": null}))
        .send()
        .await;
    r.assert_json(200);
    assert_eq!(r.body["version"], 4);
    assert!(r.body.get("description").is_some_and(Value::is_null));

    // Stale version: 412, nothing changes.
    for stale in ["\"1\"", "W/\"3\"", "\"5\""] {
        let r = srv
            .patch(&path)
            .token(&admin)
            .header("If-Match", stale)
            .json(&json!({"name": "Lost update"}))
            .send()
            .await;
        assert_problem(&r, 412, "version-mismatch");
    }
    let g = srv.get(&path).send().await;
    assert_eq!(g.body["name"], "Renamed");
    assert_eq!(g.body["version"], 4);
    assert_eq!(g.header("etag").as_deref(), Some("\"4\""));

    // No If-Match: unconditional.
    let r = srv
        .patch(&path)
        .token(&admin)
        .json(&json!({"name": "N", "description": "back", "price_cents": 7, "active": true}))
        .send()
        .await;
    r.assert_json(200);
    assert_eq!(r.body["version"], 5);
    assert_eq!(r.body["description"], "back");
    assert_eq!(r.body["price_cents"], 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn patch_validation_lookup_and_role_order() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    let p = srv.create_product(&admin, "PV-1", 100, 5).await;
    let path = format!("/v1/products/{}", id_of(&p));

    let r = srv.patch(&path).token(&admin).json(&json!({})).send().await;
    assert_problem(&r, 400, "validation");
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"name": null}), "name"),
        (json!({"description": "d".repeat(2001)}), "description"),
        (json!({"price_cents": -1}), "price_cents"),
        (json!({"price_cents": 1_000_000_001i64}), "price_cents"),
        (json!({"active": "yes"}), "active"),
        (json!({"active": null}), "active"),
        (json!({"stock": 3}), "stock"),
        (json!({"sku": "NEW-SKU"}), "sku"),
        (json!({"name": "ok", "nmae": "typo"}), "nmae"),
    ];
    for (body, field) in cases {
        let r = srv
            .patch(&path)
            .token(&admin)
            .label(body.to_string())
            .json(&body)
            .send()
            .await;
        assert_validation(&r, field);
    }
    for bad in [&b"garbage"[..], b"1", b"\"1", b"W/1", b"\"\xc3\xa9\""] {
        let r = srv
            .patch(&path)
            .token(&admin)
            .header_bytes("If-Match", bad)
            .label(format!("If-Match: {}", String::from_utf8_lossy(bad)))
            .json(&json!({"name": "x"}))
            .send()
            .await;
        assert_validation(&r, "If-Match");
    }
    // Validation (400) comes before the version check (412).
    let r = srv
        .patch(&path)
        .token(&admin)
        .header("If-Match", "\"9\"")
        .json(&json!({"name": ""}))
        .send()
        .await;
    assert_validation(&r, "name");
    // Nothing above changed the product.
    let g = srv.get(&path).send().await;
    assert_eq!(g.body["version"], 1);
    assert_eq!(g.body["name"], p["name"]);

    let unknown = "/v1/products/01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let r = srv
        .patch(unknown)
        .token(&admin)
        .json(&json!({"name": "x"}))
        .send()
        .await;
    assert_problem(&r, 404, "not-found");
    // Validation (400) comes before lookup (404), lookup before version (412).
    let r = srv.patch(unknown).token(&admin).json(&json!({})).send().await;
    assert_problem(&r, 400, "validation");
    let r = srv
        .patch(unknown)
        .token(&admin)
        .header("If-Match", "\"9\"")
        .json(&json!({"name": "x"}))
        .send()
        .await;
    assert_problem(&r, 404, "not-found");
    // Role (403) and authentication (401) come before validation.
    let r = srv.patch(&path).token(&user_token("u")).json(&json!({})).send().await;
    assert_problem(&r, 403, "forbidden");
    let r = srv.patch(&path).json(&json!({"name": "x"})).send().await;
    assert_problem(&r, 401, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stock_adjustments_respect_bounds_and_leave_version_alone() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    let p = srv.create_product(&admin, "STK-1", 100, 10).await;
    let id = id_of(&p);
    let path = format!("/v1/products/{id}/stock");
    let adjust = |delta: Value| {
        let srv = &srv;
        let admin = admin.clone();
        let path = path.clone();
        async move {
            srv.post(&path)
                .token(&admin)
                .json(&json!({"delta": delta}))
                .send()
                .await
        }
    };

    let r = adjust(json!(5)).await;
    r.assert_json(200);
    assert_eq!(r.body["stock"], 15);
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["id"], json!(id));
    let r = adjust(json!(-15)).await;
    r.assert_json(200);
    assert_eq!(r.body["stock"], 0);

    let r = adjust(json!(-1)).await;
    assert_problem(&r, 409, "insufficient-stock");
    assert_eq!(srv.stock_of(&id).await, 0);

    let r = adjust(json!(1_000_000)).await;
    r.assert_json(200);
    assert_eq!(r.body["stock"], 1_000_000);
    let r = adjust(json!(1)).await;
    assert_problem(&r, 409, "stock-limit");
    assert_eq!(srv.stock_of(&id).await, 1_000_000);
    let r = adjust(json!(-1_000_000)).await;
    r.assert_json(200);
    assert_eq!(r.body["stock"], 0);

    for bad in [
        json!(0),
        json!(1_000_001),
        json!(-1_000_001),
        json!(1.5),
        json!("5"),
        json!(null),
        json!(1e12),
    ] {
        let r = adjust(bad).await;
        assert_validation(&r, "delta");
    }
    let r = srv.post(&path).token(&admin).json(&json!({})).send().await;
    assert_validation(&r, "delta");
    let r = srv
        .post(&path)
        .token(&admin)
        .json(&json!({"delta": 1, "reason": "x"}))
        .send()
        .await;
    assert_validation(&r, "reason");

    let g = srv.get(&format!("/v1/products/{id}")).send().await;
    assert_eq!(g.body["version"], 1, "stock changes must not touch version");
    assert_eq!(g.header("etag").as_deref(), Some("\"1\""));
    assert_eq!(g.body["stock"], 0);

    let r = srv
        .post("/v1/products/01ARZ3NDEKTSV4RRFFQ69G5FAV/stock")
        .token(&admin)
        .json(&json!({"delta": 1}))
        .send()
        .await;
    assert_problem(&r, 404, "not-found");
    // Validation (400) before lookup (404); role (403) before validation.
    let r = srv
        .post("/v1/products/01ARZ3NDEKTSV4RRFFQ69G5FAV/stock")
        .token(&admin)
        .json(&json!({"delta": 0}))
        .send()
        .await;
    assert_validation(&r, "delta");
    let r = srv
        .post("/v1/products/01ARZ3NDEKTSV4RRFFQ69G5FAV/stock")
        .token(&user_token("u"))
        .json(&json!({"delta": 0}))
        .send()
        .await;
    assert_problem(&r, 403, "forbidden");
    let r = srv
        .post(&path)
        .token(&user_token("u"))
        .json(&json!({"delta": 1}))
        .send()
        .await;
    assert_problem(&r, 403, "forbidden");
    let r = srv.post(&path).json(&json!({"delta": 1})).send().await;
    assert_problem(&r, 401, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reservations_change_stock_but_not_version_or_etag() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    let p = srv.create_product(&admin, "RSV-1", 100, 10).await;
    let id = id_of(&p);
    let o = srv.place_order(&user_token("u"), &[(&id, 4)]).await;
    let g = srv.get(&format!("/v1/products/{id}")).send().await;
    assert_eq!(g.body["stock"], 6);
    assert_eq!(g.body["version"], 1);
    assert_eq!(g.header("etag").as_deref(), Some("\"1\""));
    let c = srv
        .post(&format!("/v1/orders/{}/cancel", id_of(&o)))
        .token(&user_token("u"))
        .send()
        .await;
    c.assert_json(200);
    let g = srv.get(&format!("/v1/products/{id}")).send().await;
    assert_eq!(g.body["stock"], 10);
    assert_eq!(g.body["version"], 1);
    // The version a client saw before the reservation still matches.
    let r = srv
        .patch(&format!("/v1/products/{id}"))
        .token(&admin)
        .header("If-Match", "\"1\"")
        .json(&json!({"price_cents": 150}))
        .send()
        .await;
    r.assert_json(200);
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.body["stock"], 10, "a PATCH does not touch stock");
}
