use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

const LIMIT: usize = 64 * 1024;

fn product_json(sku: &str) -> Value {
    json!({"sku": sku, "name": "n", "price_cents": 1, "stock": 1})
}

/// A valid product body padded with trailing whitespace to exactly `len` bytes.
fn padded_product(sku: &str, len: usize) -> Vec<u8> {
    let mut b = serde_json::to_vec(&product_json(sku)).unwrap();
    assert!(b.len() <= len);
    b.resize(len, b' ');
    b
}

// ---------------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_is_public_and_ok() {
    let srv = TestServer::start();
    let r = srv.get("/v1/health").send().await;
    r.assert_json(200);
    assert_eq!(r.body, json!({"status": "ok"}));
    assert!(r.header("x-request-id").is_some_and(|v| !v.is_empty()));
    // A token is not needed and an admin token changes nothing.
    let r = srv.get("/v1/health").token(&admin_token("a")).send().await;
    r.assert_json(200);
    assert_eq!(r.body["status"], "ok");
}

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_tokens_are_401_unauthenticated() {
    let srv = TestServer::start();
    let t = now();
    let good_claims = json!({"sub": "eve", "exp": t + 3600, "groups": ["admin"]});
    let secret = JWT_SECRET.as_bytes();
    let valid_user = user_token("eve");
    let parts: Vec<&str> = valid_user.split('.').collect();
    let admin_payload = b64url(serde_json::to_string(&good_claims).unwrap().as_bytes());

    let tokens: Vec<(&str, String)> = vec![
        ("garbage", "garbage".into()),
        ("two parts", format!("{}.{}", parts[0], parts[1])),
        ("empty signature", format!("{}.{}.", parts[0], parts[1])),
        ("not base64", "@@@.@@@.@@@".into()),
        (
            "wrong secret",
            mint(&hs256_header(), &good_claims, b"some-other-secret"),
        ),
        ("swapped payload", format!("{}.{admin_payload}.{}", parts[0], parts[2])),
        ("alg none", mint_none(&good_claims)),
        (
            "alg none, HS256 signature",
            mint(&json!({"alg": "none", "typ": "JWT"}), &good_claims, secret),
        ),
        ("alg None", mint(&json!({"alg": "None"}), &good_claims, secret)),
        ("alg HS512", mint_hs512(&good_claims, secret)),
        (
            "alg RS256",
            mint(&json!({"alg": "RS256", "typ": "JWT"}), &good_claims, secret),
        ),
        ("no alg", mint(&json!({"typ": "JWT"}), &good_claims, secret)),
        (
            "expired",
            token_with_claims(&json!({"sub": "eve", "exp": t - 120, "groups": ["admin"]})),
        ),
        (
            "expired 62 s ago (beyond the 60 s leeway)",
            token_with_claims(&json!({"sub": "eve", "exp": t - 62, "groups": ["admin"]})),
        ),
        (
            "nbf in 90 s (beyond the 60 s leeway)",
            token_with_claims(&json!({"sub": "eve", "exp": t + 3600, "nbf": t + 90})),
        ),
        (
            "long expired",
            token_with_claims(&json!({"sub": "eve", "exp": t - 86_400})),
        ),
        ("no exp", token_with_claims(&json!({"sub": "eve", "groups": ["admin"]}))),
        (
            "exp as string",
            token_with_claims(&json!({"sub": "eve", "exp": "tomorrow"})),
        ),
        (
            "nbf in 10 min",
            token_with_claims(&json!({"sub": "eve", "exp": t + 3600, "nbf": t + 600, "groups": ["admin"]})),
        ),
        (
            "no sub",
            token_with_claims(&json!({"exp": t + 3600, "email": "x@example.com", "groups": ["admin"]})),
        ),
        ("claims not an object", mint(&hs256_header(), &json!("sub"), secret)),
        // An absurd exp once passed every check (read as a float, saturated to the largest i64).
        ("exp 1e300", token_with_claims(&json!({"sub": "eve", "exp": 1e300}))),
        (
            "exp beyond 64 bits",
            token_with_claims(&json!({"sub": "eve", "exp": u64::MAX})),
        ),
        (
            "exp a day and more than the 60 s leeway ahead (the longest lifetime by default)",
            token_with_claims(&json!({"sub": "eve", "exp": t + 86_400 + 120})),
        ),
        (
            "exp with a fraction",
            token_with_claims(&json!({"sub": "eve", "exp": t as f64 + 3600.5})),
        ),
        (
            "nbf 1e300",
            token_with_claims(&json!({"sub": "eve", "exp": t + 3600, "nbf": 1e300})),
        ),
        (
            "nbf as string",
            token_with_claims(&json!({"sub": "eve", "exp": t + 3600, "nbf": "now"})),
        ),
    ];
    for (what, tok) in &tokens {
        for (method, path) in [(Method::GET, "/v1/me"), (Method::GET, "/v1/orders")] {
            let r = srv.req(method, path).token(tok).send().await;
            assert_eq!(r.status, 401, "{what}: {} -> {} {}", r.what, r.status, r.text);
            assert_problem(&r, 401, "unauthenticated");
        }
        // On an admin route too: 401, not 403 and certainly not success.
        let r = srv
            .post("/v1/products")
            .token(tok)
            .json(&product_json("NOPE"))
            .send()
            .await;
        assert_eq!(r.status, 401, "{what}: POST /v1/products -> {} {}", r.status, r.text);
        assert_problem(&r, 401, "unauthenticated");
    }

    for header in [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        valid_user.as_str(),
    ] {
        let r = srv.get("/v1/me").header("Authorization", header).send().await;
        if against_deployed_shape() && header == valid_user {
            // API Gateway's JWT authorizer takes a bare token as well as one after "Bearer ".
            r.assert_json(200);
            continue;
        }
        assert_problem(&r, 401, "unauthenticated");
    }
    let r = srv
        .get("/v1/me")
        .header_bytes("Authorization", b"Bearer \xff\xfe.\xc3\xa9")
        .send()
        .await;
    assert_problem(&r, 401, "unauthenticated");
    // No product was created by any of the above.
    let list = srv.get("/v1/products").send().await;
    assert_eq!(list.body["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn valid_tokens_are_accepted() {
    let srv = TestServer::start();
    let t = now();
    let accepted = [
        json!({"sub": "v1", "exp": t + 60}),
        json!({"sub": "v2", "exp": t + 3600, "nbf": t - 10, "iat": t - 10}),
        json!({"sub": "v3", "exp": t + 3600, "iss": "whoever", "aud": "x", "custom": {"a": 1}}),
        // Unconfigured, iss and aud are not looked at, whatever their shape.
        json!({"sub": "v5", "exp": t + 3600, "iss": 7, "aud": ["x", "y"]}),
        // Up to the longest lifetime (a day by default) ahead.
        json!({"sub": "v6", "exp": t + 86_400}),
    ];
    for claims in accepted {
        let r = srv.get("/v1/me").token(&token_with_claims(&claims)).send().await;
        r.assert_json(200);
        assert_eq!(r.body["id"], claims["sub"]);
    }
    // A header without "typ" is fine.
    let tok = mint(
        &json!({"alg": "HS256"}),
        &json!({"sub": "v4", "exp": t + 3600}),
        JWT_SECRET.as_bytes(),
    );
    let r = srv.get("/v1/me").token(&tok).send().await;
    r.assert_json(200);
    assert_eq!(r.body["id"], "v4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_bearer_scheme_is_case_insensitive() {
    let srv = TestServer::start();
    let token = user_token("case");
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = srv
            .get("/v1/me")
            .header("Authorization", &format!("{scheme} {token}"))
            .label(scheme)
            .send()
            .await;
        r.assert_json(200);
        assert_eq!(r.body["id"], "case");
    }
    for header in [
        format!("Bearer{token}"),
        format!("Basic {token}"),
        format!("BEARERS {token}"),
    ] {
        let r = srv.get("/v1/me").header("Authorization", &header).send().await;
        assert_problem(&r, 401, "unauthenticated");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issuer_audience_and_lifetime_are_checked_as_configured() {
    let srv = TestServer::start_with(&[
        ("ORDERLY_JWT_ISSUER", "https://issuer.example"),
        ("ORDERLY_JWT_AUDIENCE", "orderly-api"),
        ("ORDERLY_JWT_MAX_LIFETIME_SECONDS", "600"),
    ]);
    let t = now();
    let claims = |extra: Value| {
        let mut c = json!({"sub": "conf", "exp": t + 300, "iss": "https://issuer.example", "aud": "orderly-api"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        token_with_claims(&c)
    };
    for (what, extra) in [
        ("iss and aud as configured", json!({})),
        ("aud as an array holding it", json!({"aud": ["billing", "orderly-api"]})),
        ("exp at the longest lifetime", json!({"exp": t + 600})),
    ] {
        let r = srv.get("/v1/me").token(&claims(extra)).label(what).send().await;
        r.assert_json(200);
    }
    for (what, extra) in [
        ("no iss", json!({"iss": null})),
        ("another iss", json!({"iss": "https://other.example"})),
        ("iss with a trailing slash", json!({"iss": "https://issuer.example/"})),
        ("no aud", json!({"aud": null})),
        ("another aud", json!({"aud": "billing"})),
        ("an array without the aud", json!({"aud": ["billing"]})),
        ("aud not a string", json!({"aud": 1})),
        ("exp beyond the configured lifetime", json!({"exp": t + 3600})),
    ] {
        let r = srv.get("/v1/me").token(&claims(extra)).label(what).send().await;
        assert_problem(&r, 401, "unauthenticated");
    }
    // The dev token tool reads the same configuration and mints what the server accepts.
    let minted = std::process::Command::new(env!("CARGO_BIN_EXE_orderly"))
        .args(["token", "--sub", "tool", "--ttl-seconds", "600"])
        .env("ORDERLY_JWT_SECRET", JWT_SECRET)
        .env("ORDERLY_JWT_ISSUER", "https://issuer.example")
        .env("ORDERLY_JWT_AUDIENCE", "orderly-api")
        .env("ORDERLY_JWT_MAX_LIFETIME_SECONDS", "600")
        .output()
        .expect("run orderly token");
    assert!(minted.status.success(), "{}", String::from_utf8_lossy(&minted.stderr));
    let minted = String::from_utf8(minted.stdout).unwrap();
    let r = srv.get("/v1/me").token(minted.trim()).send().await;
    r.assert_json(200);
    assert_eq!(r.body["id"], "tool");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_403_names_the_role_it_needs() {
    let srv = TestServer::start();
    let user = user_token("not-an-admin");
    let product = "/v1/products/01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let admin_routes = [
        (Method::POST, "/v1/products".to_string()),
        (Method::PATCH, product.to_string()),
        (Method::POST, format!("{product}/stock")),
        (Method::GET, "/v1/reports/daily/2024-01-01".to_string()),
        (Method::POST, "/v1/reports/daily/2024-01-01".to_string()),
    ];
    for (method, path) in admin_routes {
        let r = srv.req(method, &path).token(&user).send().await;
        assert_problem(&r, 403, "forbidden");
        assert_eq!(
            r.detail(),
            "this operation needs the admin role (the group admin in the token's cognito:groups or groups claim)",
            "{}",
            r.what
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn groups_claim_in_array_and_bracket_string_forms() {
    let srv = TestServer::start();
    let t = now();
    let cases: Vec<(Value, bool)> = vec![
        (json!({"groups": ["admin"]}), true),
        (json!({"groups": ["staff", "admin"]}), true),
        (json!({"groups": "[admin staff]"}), true),
        (json!({"groups": "[staff admin]"}), true),
        (json!({"groups": "[admin]"}), true),
        (json!({"groups": "[staff  admin]"}), true),
        (json!({"groups": "[ admin ]"}), true),
        (json!({"cognito:groups": ["admin"]}), true),
        (json!({"cognito:groups": "[staff admin]"}), true),
        (json!({"groups": "[staff]"}), false),
        (json!({"groups": "[administrator]"}), false),
        (json!({"groups": ["Admin"]}), false),
        (json!({"groups": ["admins", "staff"]}), false),
        (json!({"groups": []}), false),
        (json!({"cognito:groups": "[]"}), false),
        (json!({}), false),
    ];
    for (i, (groups, is_admin)) in cases.into_iter().enumerate() {
        let mut claims = json!({"sub": format!("g{i}"), "exp": t + 3600});
        for (k, v) in groups.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let r = srv
            .post("/v1/products")
            .token(&token_with_claims(&claims))
            .json(&product_json(&format!("GRP-{i}")))
            .send()
            .await;
        if is_admin {
            assert_eq!(r.status, 201, "{claims} must be an admin: {}", r.text);
        } else {
            assert_eq!(r.status, 403, "{claims} must not be an admin: {}", r.text);
            assert_problem(&r, 403, "forbidden");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Routing: 404 and 405
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_routes_are_404_problems_before_auth() {
    let srv = TestServer::start();
    let paths = [
        "/",
        "/nope",
        "/v1",
        "/v1/nope",
        "/v2/products",
        "/v1/healthz",
        "/v1/products/x/y",
        "/v1/orders/x/refund",
        "/v1/reports/daily",
        "/v1/reports/weekly/2024-01-01",
        "/v1/payments",
        "/V1/HEALTH",
    ];
    for path in paths {
        for method in [Method::GET, Method::POST, Method::DELETE] {
            let r = srv.req(method, path).send().await;
            assert_problem(&r, 404, "not-found");
        }
        let r = srv.get(path).token(&admin_token("a")).send().await;
        assert_problem(&r, 404, "not-found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_methods_are_405_with_allow_before_auth() {
    let srv = TestServer::start();
    let pid = id_of(&srv.create_product(&admin_token("a"), "M-1", 1, 1).await);
    let cases: Vec<(Method, String, Vec<&str>)> = vec![
        (Method::DELETE, "/v1/products".into(), vec!["GET", "POST"]),
        (Method::PUT, "/v1/products".into(), vec!["GET", "POST"]),
        (Method::PUT, format!("/v1/products/{pid}"), vec!["GET", "PATCH"]),
        (Method::DELETE, format!("/v1/products/{pid}"), vec!["GET", "PATCH"]),
        (Method::POST, format!("/v1/products/{pid}"), vec!["GET", "PATCH"]),
        (Method::GET, format!("/v1/products/{pid}/stock"), vec!["POST"]),
        (Method::PUT, "/v1/orders".into(), vec!["GET", "POST"]),
        (
            Method::DELETE,
            "/v1/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            vec!["GET"],
        ),
        (
            Method::GET,
            "/v1/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV/cancel".into(),
            vec!["POST"],
        ),
        (Method::GET, "/v1/payments/webhook".into(), vec!["POST"]),
        (
            Method::DELETE,
            "/v1/reports/daily/2024-01-01".into(),
            vec!["GET", "POST"],
        ),
        (Method::DELETE, "/v1/me".into(), vec!["GET", "PATCH"]),
        (Method::POST, "/v1/me".into(), vec!["GET", "PATCH"]),
        (Method::POST, "/v1/health".into(), vec!["GET"]),
        (Method::DELETE, "/v1/health".into(), vec!["GET"]),
    ];
    for (method, path, allowed) in cases {
        for token in [None, Some(user_token("u"))] {
            let mut req = srv.req(method.clone(), &path);
            if let Some(t) = &token {
                req = req.token(t);
            }
            let r = req.send().await;
            assert_problem(&r, 405, "method-not-allowed");
            let allow = r.allow();
            for m in &allowed {
                assert!(
                    allow.iter().any(|a| a == m),
                    "{}: Allow {allow:?} must list {m}",
                    r.what
                );
            }
            assert!(
                !allow.iter().any(|a| a == method.as_str()),
                "{}: Allow {allow:?} must not list the refused method",
                r.what
            );
            for m in ["GET", "POST", "PATCH", "PUT", "DELETE"] {
                if !allowed.contains(&m) {
                    assert!(
                        !allow.iter().any(|a| a == m),
                        "{}: Allow {allow:?} lists {m}, which the route does not have",
                        r.what
                    );
                }
            }
        }
    }
    // A wrong method with a bad body and a bad content type is still 405.
    let r = srv
        .req(Method::PUT, "/v1/orders")
        .raw("garbage", Some("text/plain"))
        .send()
        .await;
    assert_problem(&r, 405, "method-not-allowed");
}

// ---------------------------------------------------------------------------------------------
// 413, 415 and the order of checks
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bodies_over_64_kib_are_413_before_anything_else() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    let big = padded_product("BIG-1", LIMIT + 1);
    let cases: Vec<(Method, &str, Option<String>, Option<&str>)> = vec![
        (
            Method::POST,
            "/v1/products",
            Some(admin.clone()),
            Some("application/json"),
        ),
        (Method::POST, "/v1/products", None, Some("application/json")),
        (
            Method::POST,
            "/v1/products",
            Some(user_token("u")),
            Some("application/json"),
        ),
        (Method::POST, "/v1/products", Some(admin.clone()), Some("text/plain")),
        (Method::POST, "/v1/products", Some(admin.clone()), None),
        (Method::POST, "/v1/nope", None, Some("application/json")),
        (Method::PUT, "/v1/nope/deeper", None, Some("application/json")),
        (Method::DELETE, "/v1/products", None, Some("application/json")),
        (Method::POST, "/v1/orders", None, Some("application/json")),
        (Method::PATCH, "/v1/me", Some(user_token("u")), Some("application/json")),
        (Method::POST, "/v1/payments/webhook", None, Some("application/json")),
    ];
    for (method, path, token, ct) in cases {
        let refused_by_authorizer = token.is_none() && against_deployed_shape() && guarded_by_authorizer(&method, path);
        let mut req = srv.req(method, path);
        if let Some(t) = &token {
            req = req.token(t);
        }
        let r = req.raw(big.clone(), ct).send().await;
        if refused_by_authorizer {
            // Deployed, the authorizer refuses a tokenless request before any function reads it.
            assert_refused_by_authorizer(&r);
            continue;
        }
        assert_problem(&r, 413, "payload-too-large");
    }
    assert_eq!(srv.get("/v1/products").send().await.body["items"], json!([]));

    // Exactly 64 KiB is not over the limit.
    let r = srv
        .post("/v1/products")
        .token(&admin)
        .raw(padded_product("EXACT-64K", LIMIT), Some("application/json"))
        .send()
        .await;
    r.assert_json(201);
    assert_eq!(r.body["sku"], "EXACT-64K");
    // And the server is fine afterwards.
    srv.get("/v1/health").send().await.assert_json(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn non_json_bodies_are_415_after_auth_and_before_validation() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    let pid = id_of(&srv.create_product(&admin, "MT-1", 1, 5).await);
    let valid = serde_json::to_vec(&product_json("MT-2")).unwrap();
    for ct in [
        Some("text/plain"),
        Some("application/xml"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonl"),
        None,
    ] {
        let r = srv
            .post("/v1/products")
            .token(&admin)
            .label(format!("Content-Type {ct:?}"))
            .raw(valid.clone(), ct)
            .send()
            .await;
        assert_problem(&r, 415, "unsupported-media-type");
        // 415 comes before validation.
        let r = srv
            .post("/v1/products")
            .token(&admin)
            .label(format!("Content-Type {ct:?}"))
            .raw("{\"sku\": 1}", ct)
            .send()
            .await;
        assert_problem(&r, 415, "unsupported-media-type");
    }
    let other_routes: Vec<(Method, String, String)> = vec![
        (Method::PATCH, format!("/v1/products/{pid}"), admin.clone()),
        (Method::POST, format!("/v1/products/{pid}/stock"), admin.clone()),
        (Method::POST, "/v1/orders".into(), user_token("u")),
        (Method::PATCH, "/v1/me".into(), user_token("u")),
    ];
    for (method, path, token) in other_routes {
        let r = srv
            .req(method, &path)
            .token(&token)
            .raw("{}", Some("text/plain"))
            .send()
            .await;
        assert_problem(&r, 415, "unsupported-media-type");
    }

    // Auth (401) and role (403) come before the media type.
    let r = srv
        .post("/v1/products")
        .raw(valid.clone(), Some("text/plain"))
        .send()
        .await;
    assert_problem(&r, 401, "unauthenticated");
    let r = srv
        .post("/v1/products")
        .token(&user_token("u"))
        .raw(valid.clone(), Some("text/plain"))
        .send()
        .await;
    assert_problem(&r, 403, "forbidden");
    // Unknown route before the media type.
    let r = srv.post("/v1/nope").raw("x", Some("text/plain")).send().await;
    assert_problem(&r, 404, "not-found");

    // Nothing was created.
    assert_eq!(
        srv.get("/v1/products").send().await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A charset parameter is fine, and media types are case-insensitive.
    for (i, ct) in [
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "APPLICATION/JSON",
    ]
    .into_iter()
    .enumerate()
    {
        let sku = format!("MT-OK-{i}");
        let r = srv
            .post("/v1/products")
            .token(&admin)
            .raw(serde_json::to_vec(&product_json(&sku)).unwrap(), Some(ct))
            .send()
            .await;
        r.assert_json(201);
        assert_eq!(r.body["sku"], json!(sku));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn empty_and_malformed_bodies_are_400_for_the_whole_body() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    let u = user_token("u");
    let pid = id_of(&srv.create_product(&admin, "EMPTY-1", 1, 5).await);
    let routes: Vec<(Method, String, String)> = vec![
        (Method::POST, "/v1/products".into(), admin.clone()),
        (Method::PATCH, format!("/v1/products/{pid}"), admin.clone()),
        (Method::POST, format!("/v1/products/{pid}/stock"), admin.clone()),
        (Method::POST, "/v1/orders".into(), u.clone()),
        (Method::PATCH, "/v1/me".into(), u.clone()),
    ];
    for (method, path, token) in &routes {
        // No body and no content type at all.
        let r = srv.req(method.clone(), path).token(token).send().await;
        assert_validation(&r, "$");
        // An empty body declared as JSON.
        let r = srv
            .req(method.clone(), path)
            .token(token)
            .raw(Vec::new(), Some("application/json"))
            .send()
            .await;
        assert_validation(&r, "$");
        for raw in [
            &b"{"[..],
            b"{\"sku\":",
            b"{} trailing",
            b"{\"a\":1,}",
            b"[]",
            b"null",
            b"42",
            b"\"string\"",
            b"\xff\xfe{}",
            b"{\"name\": \"\xc3\x28\"}",
        ] {
            let r = srv
                .req(method.clone(), path)
                .token(token)
                .label(String::from_utf8_lossy(raw).to_string())
                .raw(raw.to_vec(), Some("application/json"))
                .send()
                .await;
            assert_problem(&r, 400, "validation");
        }
    }
    // Nothing changed.
    let p = srv.product(&pid).await;
    assert_eq!(p["version"], 1);
    assert_eq!(p["stock"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn huge_numbers_and_deep_nesting_are_400_not_5xx() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    let u = user_token("u");
    let pid = id_of(&srv.create_product(&admin, "HUGE-1", 1, 5).await);
    let product_with = |field: &str, raw_number: &str| {
        let mut parts = [
            ("sku", "\"HUGE-2\"".to_string()),
            ("name", "\"n\"".to_string()),
            ("price_cents", "1".to_string()),
            ("stock", "1".to_string()),
        ];
        for p in parts.iter_mut() {
            if p.0 == field {
                p.1 = raw_number.to_string();
            }
        }
        let inner: Vec<String> = parts.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", inner.join(","))
    };
    for n in [
        "1e400",
        "-1e400",
        "99999999999999999999",
        "-99999999999999999999",
        "18446744073709551616",
        "9223372036854775808",
        "1e10",
        "NaN",
        "Infinity",
    ] {
        for field in ["price_cents", "stock"] {
            let r = srv
                .post("/v1/products")
                .token(&admin)
                .label(format!("{field}: {n}"))
                .raw(product_with(field, n), Some("application/json"))
                .send()
                .await;
            assert_problem(&r, 400, "validation");
        }
        let r = srv
            .post(&format!("/v1/products/{pid}/stock"))
            .token(&admin)
            .label(format!("delta: {n}"))
            .raw(format!("{{\"delta\":{n}}}"), Some("application/json"))
            .send()
            .await;
        assert_problem(&r, 400, "validation");
        let r = srv
            .post("/v1/orders")
            .token(&u)
            .raw(
                format!("{{\"items\":[{{\"product_id\":\"{pid}\",\"quantity\":{n}}}]}}"),
                Some("application/json"),
            )
            .send()
            .await;
        assert_problem(&r, 400, "validation");
        let r = srv
            .patch(&format!("/v1/products/{pid}"))
            .token(&admin)
            .raw(format!("{{\"price_cents\":{n}}}"), Some("application/json"))
            .send()
            .await;
        assert_problem(&r, 400, "validation");
    }

    let depth = 20_000;
    let deep_array = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let deep_in_field = format!(
        "{{\"sku\":{}{},\"name\":\"n\",\"price_cents\":1,\"stock\":1}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(5_000), "}".repeat(5_000));
    let unclosed = "[".repeat(60_000);
    for body in [&deep_array, &deep_in_field, &deep_objects, &unclosed] {
        assert!(body.len() <= LIMIT);
        for (method, path, token) in [
            (Method::POST, "/v1/products".to_string(), admin.clone()),
            (Method::POST, "/v1/orders".to_string(), u.clone()),
            (Method::PATCH, "/v1/me".to_string(), u.clone()),
        ] {
            let r = srv
                .req(method, &path)
                .token(&token)
                .raw(body.clone(), Some("application/json"))
                .send()
                .await;
            assert_problem(&r, 400, "validation");
        }
        let raw = body.as_bytes();
        let r = srv
            .post("/v1/payments/webhook")
            .header("Webhook-Signature", &sign(raw, now()))
            .raw(raw.to_vec(), Some("application/json"))
            .send()
            .await;
        assert_problem(&r, 400, "validation");
    }
    srv.get("/v1/health").send().await.assert_json(200);
    assert_eq!(srv.product(&pid).await["stock"], 5);
    assert_eq!(
        srv.get("/v1/products").send().await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn out_of_range_values_name_their_range() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    let u = user_token("u");
    let pid = id_of(&srv.create_product(&admin, "RANGE-1", 1, 5).await);
    let message_for = |r: &Resp, field: &str| -> String {
        assert_validation(r, field);
        r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["field"] == field)
            .and_then(|e| e["message"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    // Within 64 bits or far beyond them, an out-of-range number gets the same message: the range.
    for n in ["-1", "99999999999999999999", "-99999999999999999999", "1e300"] {
        let body = format!("{{\"sku\":\"RANGE-2\",\"name\":\"n\",\"price_cents\":{n},\"stock\":{n}}}");
        let r = srv
            .post("/v1/products")
            .token(&admin)
            .label(n)
            .raw(body, Some("application/json"))
            .send()
            .await;
        assert_eq!(
            message_for(&r, "price_cents"),
            "must be an integer from 0 to 1000000000",
            "{n}"
        );
        assert_eq!(message_for(&r, "stock"), "must be an integer from 0 to 1000000", "{n}");

        let r = srv
            .patch(&format!("/v1/products/{pid}"))
            .token(&admin)
            .raw(format!("{{\"price_cents\":{n}}}"), Some("application/json"))
            .send()
            .await;
        assert_eq!(
            message_for(&r, "price_cents"),
            "must be an integer from 0 to 1000000000",
            "{n}"
        );

        let r = srv
            .post("/v1/orders")
            .token(&u)
            .raw(
                format!("{{\"items\":[{{\"product_id\":\"{pid}\",\"quantity\":{n}}}]}}"),
                Some("application/json"),
            )
            .send()
            .await;
        assert_eq!(
            message_for(&r, "items[0].quantity"),
            "must be an integer from 1 to 100",
            "{n}"
        );
    }
    for n in ["0", "1000001", "99999999999999999999", "-1e300"] {
        let r = srv
            .post(&format!("/v1/products/{pid}/stock"))
            .token(&admin)
            .raw(format!("{{\"delta\":{n}}}"), Some("application/json"))
            .send()
            .await;
        assert_eq!(
            message_for(&r, "delta"),
            "must be a non-zero integer from -1000000 to 1000000",
            "{n}"
        );
    }
    // No range of its own: the webhook's amount must fit 64 bits, and says so.
    let raw = r#"{"id":"evt-range","type":"payment.succeeded","order_id":"o","amount_cents":99999999999999999999,"currency":"USD"}"#;
    let r = srv
        .post("/v1/payments/webhook")
        .header("Webhook-Signature", &sign(raw.as_bytes(), now()))
        .raw(raw.as_bytes().to_vec(), Some("application/json"))
        .send()
        .await;
    assert_eq!(
        message_for(&r, "amount_cents"),
        "must be an integer from -9223372036854775808 to 9223372036854775807"
    );
    // Lengths and counts name theirs too.
    let r = srv.get("/v1/products?limit=101").send().await;
    assert_eq!(message_for(&r, "limit"), "must be an integer from 1 to 100");
    let r = srv
        .patch("/v1/me")
        .token(&u)
        .json(&json!({"display_name": "x".repeat(81)}))
        .send()
        .await;
    assert_eq!(message_for(&r, "display_name"), "must be 1 to 80 characters long");
    let r = srv
        .post("/v1/orders")
        .token(&u)
        .json(&json!({"items": []}))
        .send()
        .await;
    assert_eq!(message_for(&r, "items"), "must have 1 to 25 lines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_fields_are_named_in_the_errors() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    let mut body = product_json("UNK-1");
    body["colour"] = json!("red");
    let r = srv.post("/v1/products").token(&admin).json(&body).send().await;
    assert_validation(&r, "colour");
    let mut body = product_json("UNK-1");
    body["priceCents"] = json!(5);
    let r = srv.post("/v1/products").token(&admin).json(&body).send().await;
    assert_validation(&r, "priceCents");
    assert!(srv.get("/v1/products").send().await.body["items"]
        .as_array()
        .unwrap()
        .is_empty());
}

// ---------------------------------------------------------------------------------------------
// X-Request-Id
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn request_id_is_echoed_when_valid_and_replaced_otherwise() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    let valid_ids = ["abc-123._X".to_string(), "a".to_string(), "Z".repeat(128)];
    for rid in &valid_ids {
        let checks = vec![
            srv.get("/v1/health").header("X-Request-Id", rid).send().await,
            srv.get("/v1/nope").header("X-Request-Id", rid).send().await,
            srv.get("/v1/me").header("X-Request-Id", rid).send().await,
            srv.req(Method::DELETE, "/v1/products")
                .header("X-Request-Id", rid)
                .send()
                .await,
            srv.post("/v1/products")
                .token(&admin)
                .header("X-Request-Id", rid)
                .json(&json!({}))
                .send()
                .await,
            srv.post("/v1/products")
                .header("X-Request-Id", rid)
                .raw(vec![b' '; LIMIT + 10], Some("application/json"))
                .send()
                .await,
        ];
        for r in checks {
            if against_deployed_shape() && r.status == 401 && r.header("x-request-id").is_none() {
                // Deployed, API Gateway answers a tokenless protected request itself, with its own id.
                assert_refused_by_authorizer(&r);
                continue;
            }
            assert_eq!(
                r.header("x-request-id").as_deref(),
                Some(rid.as_str()),
                "{} ({}) must echo a valid X-Request-Id",
                r.what,
                r.status
            );
        }
    }
    let r = srv
        .post("/v1/products")
        .token(&admin)
        .header("X-Request-Id", "abc-123._X")
        .json(&product_json("RID-1"))
        .send()
        .await;
    r.assert_json(201);
    assert_eq!(r.header("x-request-id").as_deref(), Some("abc-123._X"));

    let invalid: Vec<Vec<u8>> = vec![
        "Z".repeat(129).into_bytes(),
        "x".repeat(200).into_bytes(),
        b"has space".to_vec(),
        b"slash/inside".to_vec(),
        b"semi;colon".to_vec(),
        b"".to_vec(),
        b"tab\tinside".to_vec(),
        "caf\u{e9}".as_bytes().to_vec(),
    ];
    let mut fresh = Vec::new();
    for rid in invalid {
        for r in [
            srv.get("/v1/health").header_bytes("X-Request-Id", &rid).send().await,
            srv.get("/v1/nope").header_bytes("X-Request-Id", &rid).send().await,
        ] {
            let got = r.header("x-request-id").unwrap_or_default();
            assert!(!got.is_empty(), "{}: a fresh X-Request-Id is required", r.what);
            assert_ne!(
                got.as_bytes(),
                &rid[..],
                "{}: an invalid X-Request-Id must be replaced",
                r.what
            );
            fresh.push(got);
        }
    }
    // Fresh ids are fresh: no two alike.
    let a = srv.get("/v1/health").send().await.header("x-request-id").unwrap();
    let b = srv.get("/v1/health").send().await.header("x-request-id").unwrap();
    assert_ne!(a, b);
    fresh.push(a);
    fresh.push(b);
    let mut dedup = fresh.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), fresh.len(), "generated request ids repeat: {fresh:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chunked_bodies_are_limited_too() {
    let srv = TestServer::start();
    let admin = admin_token("a");
    let request = |path: &str, body: &[u8]| {
        let mut r = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {admin}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
             Connection: close\r\n\r\n"
        )
        .into_bytes();
        r.extend_from_slice(&chunked(body, 4096));
        r
    };
    // A small chunked body is an ordinary body.
    let small = serde_json::to_vec(&product_json("CHUNK-1")).unwrap();
    let r = srv
        .raw_http("POST /v1/products (chunked)", request("/v1/products", &small))
        .await;
    r.assert_json(201);
    assert_eq!(r.body["sku"], "CHUNK-1");
    // Without a Content-Length the limit still holds.
    let big = padded_product("CHUNK-2", LIMIT + 1);
    let r = srv
        .raw_http("POST /v1/products (chunked, 64 KiB + 1)", request("/v1/products", &big))
        .await;
    assert_problem(&r, 413, "payload-too-large");
    let list = srv.get("/v1/products").send().await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}
