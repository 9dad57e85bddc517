//! Every Lambda function of the route table, driven by its sample event from `events/` (the API Gateway
//! HTTP API payload 2.0 events `sam local invoke` also uses), adapted to live data on a fresh
//! DynamoDB Local table and invoked through `Function::handle` exactly as the runtime invokes it.
//! Then the shell's pitfalls: missing claims, the flattened groups claim, base64 bodies, stage
//! prefixes in the path, malformed bodies and the request id.
//!
//! Needs DynamoDB Local: `ORDERLY_TEST_DYNAMODB_ENDPOINT` (scripts/test sets it). Never skipped.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use orderly_core::api::routes::UNROUTED_FUNCTION;
use orderly_core::api::{Access, ROUTES};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use support::*;

// ---- one test per function of the route table ----

macro_rules! function_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        /// The functions that have a test below; checked against the route table.
        const TESTED: &[&str] = &[$($name),*];
        $(
            #[tokio::test]
            async fn $test() {
                exercise($name).await;
            }
        )*
    };
}

function_tests! {
    check_health_answers_its_event => "check-health",
    get_profile_answers_its_event => "get-profile",
    update_profile_answers_its_event => "update-profile",
    list_notifications_answers_its_event => "list-notifications",
    list_products_answers_its_event => "list-products",
    create_product_answers_its_event => "create-product",
    get_product_answers_its_event => "get-product",
    update_product_answers_its_event => "update-product",
    adjust_stock_answers_its_event => "adjust-stock",
    list_orders_answers_its_event => "list-orders",
    create_order_answers_its_event => "create-order",
    get_order_answers_its_event => "get-order",
    cancel_order_answers_its_event => "cancel-order",
    payment_webhook_answers_its_event => "payment-webhook",
    get_daily_report_answers_its_event => "get-daily-report",
    compute_daily_report_answers_its_event => "compute-daily-report",
}

#[test]
fn every_route_has_an_event_test() {
    let routes: BTreeSet<&str> = ROUTES.iter().map(|route| route.function).collect();
    let tested: BTreeSet<&str> = TESTED.iter().copied().collect();
    assert_eq!(
        routes, tested,
        "add a `function_tests!` entry and an `exercise` arm for every route of orderly_core::api::ROUTES"
    );
}

/// Loads `events/<name>.json`, adapts it to live data, invokes the function and checks its answer.
async fn exercise(name: &str) {
    let h = Harness::new().await;
    let ev = event(name);
    match name {
        "check-health" => {
            let reply = h.expect(name, &ev, 200).await;
            assert_eq!(reply.body, json!({"status": "ok"}), "{reply}");
            assert_eq!(reply.header("content-type"), Some("application/json"), "{reply}");
        }
        "get-profile" => {
            let reply = h.expect(name, &ev, 200).await;
            assert_eq!(reply.body["id"], json!(sub(&ev)), "{reply}");
            assert_eq!(reply.body["email"], claims(&ev)["email"], "{reply}");
            assert_eq!(reply.body["display_name"], Value::Null, "{reply}");
            assert!(reply.body["created_at"].is_string(), "{reply}");
            // The event carries a valid X-Request-Id: it comes back unchanged.
            assert_eq!(
                reply.header("x-request-id"),
                ev["headers"]["x-request-id"].as_str(),
                "{reply}"
            );
        }
        "update-profile" => {
            let reply = h.expect(name, &ev, 200).await;
            assert_eq!(reply.body["id"], json!(sub(&ev)), "{reply}");
            assert_eq!(reply.body["display_name"], body_json(&ev)["display_name"], "{reply}");
        }
        "list-products" => {
            let product = h.create_product(5).await;
            let reply = h.expect(name, &ev, 200).await;
            let items = reply.body["items"]
                .as_array()
                .unwrap_or_else(|| panic!("no items: {reply}"));
            assert_eq!(items.len(), 1, "{reply}");
            assert_eq!(items[0]["id"], product["id"], "{reply}");
            assert_eq!(items[0]["sku"], product["sku"], "{reply}");
            assert_eq!(reply.body["next_cursor"], Value::Null, "{reply}");
        }
        "create-product" => {
            let input = body_json(&ev);
            let reply = h.expect(name, &ev, 201).await;
            let product = &reply.body;
            for field in ["sku", "name", "description", "price_cents", "stock"] {
                assert_eq!(product[field], input[field], "{field}: {reply}");
            }
            assert_eq!(product["version"], 1, "{reply}");
            assert_eq!(product["active"], true, "{reply}");
            assert_eq!(product["currency"], "USD", "{reply}");
            let id = product["id"].as_str().unwrap_or_else(|| panic!("no id: {reply}"));
            assert_eq!(
                reply.header("location"),
                Some(format!("/v1/products/{id}").as_str()),
                "{reply}"
            );
        }
        "get-product" => {
            let product = h.create_product(7).await;
            let mut ev = ev;
            set_path_parameter(&mut ev, str_of(&product["id"]));
            let reply = h.expect(name, &ev, 200).await;
            assert_eq!(reply.body, product, "{reply}");
            assert_eq!(reply.header("etag"), Some("\"1\""), "{reply}");
        }
        "update-product" => {
            let product = h.create_product(7).await;
            let mut ev = ev;
            set_path_parameter(&mut ev, str_of(&product["id"]));
            let change = body_json(&ev);
            assert_eq!(ev["headers"]["if-match"], "\"1\"", "the sample event sends If-Match");
            let reply = h.expect(name, &ev, 200).await;
            assert_eq!(reply.body["id"], product["id"], "{reply}");
            assert_eq!(reply.body["version"], 2, "{reply}");
            for (field, value) in change.as_object().into_iter().flatten() {
                assert_eq!(&reply.body[field], value, "{field}: {reply}");
            }
        }
        "adjust-stock" => {
            let product = h.create_product(40).await;
            let mut ev = ev;
            set_path_parameter(&mut ev, str_of(&product["id"]));
            let delta = int_of(&body_json(&ev)["delta"]);
            let reply = h.expect(name, &ev, 200).await;
            assert_eq!(reply.body["id"], product["id"], "{reply}");
            assert_eq!(reply.body["stock"], 40 + delta, "{reply}");
            assert_eq!(
                reply.body["version"], 1,
                "stock adjustments leave the version alone: {reply}"
            );
        }
        "list-notifications" => {
            // Notifications are written by the notify job; here it is given the caller's events.
            let product = h.create_product(10).await;
            let order = h.place_order(&ev, str_of(&product["id"]), 1).await;
            let user = orderly_core::domain::UserId::parse(&sub(&ev)).unwrap();
            let placed = orderly_core::domain::OrderEvent {
                id: fresh_ulid(),
                kind: orderly_core::domain::OrderEventType::OrderPlaced,
                order_id: orderly_core::domain::OrderId::parse(str_of(&order["id"])).unwrap(),
                user_id: user,
                occurred_at: now(),
            };
            orderly_core::services::notifications::notify_user(&h.app, &placed)
                .await
                .unwrap();
            let reply = h.expect(name, &ev, 200).await;
            let items = reply.body["items"]
                .as_array()
                .unwrap_or_else(|| panic!("no items: {reply}"));
            assert_eq!(items.len(), 1, "{reply}");
            assert_eq!(items[0]["id"], json!(placed.id), "{reply}");
            assert_eq!(items[0]["kind"], "order_placed", "{reply}");
            assert_eq!(items[0]["order_id"], order["id"], "{reply}");
            assert_eq!(reply.body["next_cursor"], Value::Null, "{reply}");
        }
        "list-orders" => {
            let product = h.create_product(10).await;
            let first = h.place_order(&ev, str_of(&product["id"]), 1).await;
            let second = h.place_order(&ev, str_of(&product["id"]), 2).await;
            let reply = h.expect(name, &ev, 200).await;
            let items = reply.body["items"]
                .as_array()
                .unwrap_or_else(|| panic!("no items: {reply}"));
            let ids: Vec<&Value> = items.iter().map(|order| &order["id"]).collect();
            assert_eq!(ids, [&second["id"], &first["id"]], "newest first: {reply}");
            assert!(items.iter().all(|order| order["user_id"] == json!(sub(&ev))), "{reply}");
        }
        "create-order" => {
            let product = h.create_product(10).await;
            let mut ev = ev;
            let mut body = body_json(&ev);
            let lines = body["items"]
                .as_array_mut()
                .unwrap_or_else(|| panic!("no items in the sample event"));
            assert_eq!(lines.len(), 1, "the sample event orders one product");
            lines[0]["product_id"] = product["id"].clone();
            let quantity = int_of(&lines[0]["quantity"]);
            set_body(&mut ev, &body);
            let reply = h.expect(name, &ev, 201).await;
            let order = &reply.body;
            assert_eq!(order["status"], "pending_payment", "{reply}");
            assert_eq!(order["user_id"], json!(sub(&ev)), "{reply}");
            assert_eq!(order["items"].as_array().map(Vec::len), Some(1), "{reply}");
            assert_eq!(order["items"][0]["product_id"], product["id"], "{reply}");
            assert_eq!(order["items"][0]["sku"], product["sku"], "{reply}");
            assert_eq!(order["items"][0]["quantity"], quantity, "{reply}");
            let price = int_of(&product["price_cents"]);
            assert_eq!(order["items"][0]["unit_price_cents"], price, "{reply}");
            assert_eq!(order["total_cents"], price * quantity, "{reply}");
            let id = str_of(&order["id"]);
            assert_eq!(
                reply.header("location"),
                Some(format!("/v1/orders/{id}").as_str()),
                "{reply}"
            );
            assert_eq!(
                reply.header("x-request-id"),
                ev["headers"]["x-request-id"].as_str(),
                "{reply}"
            );
            let after = h.product(str_of(&product["id"])).await;
            assert_eq!(after["stock"], 10 - quantity, "stock is reserved: {after}");
            // The same Idempotency-Key and body replays the order and reserves nothing again.
            let replay = h.expect(name, &ev, 201).await;
            assert_eq!(replay.body, reply.body, "{replay}");
            assert_eq!(replay.header("idempotent-replayed"), Some("true"), "{replay}");
            assert_eq!(h.product(str_of(&product["id"])).await["stock"], 10 - quantity);
        }
        "get-order" => {
            let product = h.create_product(10).await;
            let order = h.place_order(&ev, str_of(&product["id"]), 3).await;
            let mut ev = ev;
            set_path_parameter(&mut ev, str_of(&order["id"]));
            let reply = h.expect(name, &ev, 200).await;
            assert_eq!(reply.body, order, "{reply}");
            assert_eq!(reply.body["status"], "pending_payment", "{reply}");
        }
        "cancel-order" => {
            let product = h.create_product(10).await;
            let order = h.place_order(&ev, str_of(&product["id"]), 4).await;
            assert_eq!(h.product(str_of(&product["id"])).await["stock"], 6);
            let mut ev = ev;
            set_path_parameter(&mut ev, str_of(&order["id"]));
            let reply = h.expect(name, &ev, 200).await;
            assert_eq!(reply.body["id"], order["id"], "{reply}");
            assert_eq!(reply.body["status"], "cancelled", "{reply}");
            assert_eq!(
                h.product(str_of(&product["id"])).await["stock"],
                10,
                "stock is returned"
            );
        }
        "payment-webhook" => {
            let owner = event("get-order");
            let product = h.create_product(10).await;
            let order = h.place_order(&owner, str_of(&product["id"]), 2).await;
            // The sample event, with the live order's id and amount, re-signed with the test's secret.
            let mut ev = ev;
            let mut body = body_json(&ev);
            body["order_id"] = order["id"].clone();
            body["amount_cents"] = order["total_cents"].clone();
            body["currency"] = order["currency"].clone();
            set_body(&mut ev, &body);
            sign_webhook(&mut ev);
            let reply = h.expect(name, &ev, 200).await;
            assert_eq!(reply.body, json!({"received": true}), "{reply}");
            let mut get = event("get-order");
            act_as(&mut get, &owner);
            set_path_parameter(&mut get, str_of(&order["id"]));
            let paid = h.expect("get-order", &get, 200).await.body;
            assert_eq!(paid["status"], "paid", "{paid}");
            assert!(paid["paid_at"].is_string(), "{paid}");
            // The sample event's own signature was made with another secret: refused.
            let refused = h.call(name, &event(name)).await;
            refused.assert_problem(401, "invalid-signature");
        }
        "get-daily-report" => {
            // Nothing computed yet for the sample event's date.
            h.call(name, &ev).await.assert_problem(404, "not-found");
            let (date, order) = paid_order_and_report_date(&h).await;
            let mut compute = event("compute-daily-report");
            set_path_parameter(&mut compute, &date);
            h.expect("compute-daily-report", &compute, 200).await;
            let mut ev = ev;
            set_path_parameter(&mut ev, &date);
            let reply = h.expect(name, &ev, 200).await;
            assert_eq!(reply.body["date"], json!(date), "{reply}");
            assert_eq!(reply.body["orders_paid"], 1, "{reply}");
            assert_eq!(reply.body["revenue_cents"], order["total_cents"], "{reply}");
        }
        "compute-daily-report" => {
            let (date, order) = paid_order_and_report_date(&h).await;
            let mut ev = ev;
            set_path_parameter(&mut ev, &date);
            let reply = h.expect(name, &ev, 200).await;
            let report = &reply.body;
            assert_eq!(report["date"], json!(date), "{reply}");
            assert_eq!(report["orders_paid"], 1, "{reply}");
            assert_eq!(report["revenue_cents"], order["total_cents"], "{reply}");
            assert_eq!(report["units_sold"], 2, "{reply}");
            assert_eq!(
                report["top_products"],
                json!([{"product_id": order["items"][0]["product_id"], "units": 2}]),
                "{reply}"
            );
        }
        other => panic!("no scenario for function {other}: add an arm to `exercise`"),
    }
}

/// A product, an order of 2 units placed by get-order's caller and paid; the UTC day it was paid.
async fn paid_order_and_report_date(h: &Harness) -> (String, Value) {
    let owner = event("get-order");
    let product = h.create_product(10).await;
    let order = h.place_order(&owner, str_of(&product["id"]), 2).await;
    let paid = h.pay(&owner, &order).await;
    let paid_at = str_of(&paid["paid_at"]);
    (paid_at[..10].to_string(), paid)
}

fn str_of(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}"))
}

fn int_of(value: &Value) -> i64 {
    value.as_i64().unwrap_or_else(|| panic!("not an integer: {value}"))
}

// ---- the events directory ----

#[test]
fn events_directory_has_exactly_one_event_per_function() {
    let dir = events_dir();
    let found: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("{e}"))
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let expected: BTreeSet<String> = ROUTES
        .iter()
        .map(|route| route.function)
        .chain([UNROUTED_FUNCTION])
        .chain(orderly_core::jobs::JOBS.iter().map(|job| job.function))
        .map(|name| format!("{name}.json"))
        // Other shapes the same triggers may deliver, each read by the jobs' tests.
        .chain(["variants".to_string()])
        .collect();
    assert_eq!(
        found,
        expected,
        "{} must hold exactly one <function>.json per route of ROUTES, UNROUTED_FUNCTION's and each job's (and variants/)",
        dir.display()
    );
}

fn is_ulid(text: &str) -> bool {
    ulid::Ulid::from_string(text).is_ok_and(|u| u.to_string() == text)
}

#[test]
fn every_event_is_an_http_api_v2_event_for_its_route() {
    for route in ROUTES {
        let name = route.function;
        let ev = event(name);
        let route_key = format!("{} {}", route.method, route.path);
        let context = &ev["requestContext"];
        let at = |what: &str| format!("events/{name}.json: {what}");
        assert_eq!(ev["version"], "2.0", "{}", at("version"));
        assert_eq!(ev["routeKey"], json!(route_key), "{}", at("routeKey"));
        assert_eq!(
            context["routeKey"],
            json!(route_key),
            "{}",
            at("requestContext.routeKey")
        );
        assert_eq!(context["stage"], "$default", "{}", at("requestContext.stage"));
        assert_eq!(
            context["http"]["method"],
            route.method.as_str(),
            "{}",
            at("http.method")
        );
        assert_eq!(context["http"]["path"], ev["rawPath"], "{}", at("http.path is rawPath"));
        for field in ["accountId", "apiId", "domainName", "domainPrefix", "requestId", "time"] {
            assert!(context[field].is_string(), "{}", at(field));
        }
        assert!(context["timeEpoch"].is_i64(), "{}", at("timeEpoch"));
        for field in ["protocol", "sourceIp", "userAgent"] {
            assert!(context["http"][field].is_string(), "{}", at(field));
        }
        assert_eq!(ev["isBase64Encoded"], false, "{}", at("isBase64Encoded"));

        // Headers: lower-case names, string values, user-agent; content-type with a body.
        let headers = ev["headers"].as_object().unwrap_or_else(|| panic!("{}", at("headers")));
        for (header, value) in headers {
            assert_eq!(
                header,
                &header.to_ascii_lowercase(),
                "{}",
                at("header names are lower-case")
            );
            assert!(value.is_string(), "{}", at(header));
        }
        assert_eq!(
            headers.get("user-agent"),
            Some(&context["http"]["userAgent"]),
            "{}",
            at("user-agent")
        );
        match ev.get("body") {
            Some(body) => {
                let text = body.as_str().unwrap_or_else(|| panic!("{}", at("body is a string")));
                assert_eq!(
                    headers.get("content-type"),
                    Some(&json!("application/json")),
                    "{}",
                    at("content-type")
                );
                assert_eq!(
                    headers.get("content-length"),
                    Some(&json!(text.len().to_string())),
                    "{}",
                    at("length")
                );
                serde_json::from_str::<Value>(text).unwrap_or_else(|e| panic!("{}: {e}", at("body is JSON")));
            }
            None => assert!(
                !headers.contains_key("content-type"),
                "{}",
                at("content-type without body")
            ),
        }

        // Query: rawQueryString always, queryStringParameters when there is one.
        let query = ev["rawQueryString"]
            .as_str()
            .unwrap_or_else(|| panic!("{}", at("rawQueryString")));
        assert_eq!(
            ev.get("queryStringParameters").is_some(),
            !query.is_empty(),
            "{}",
            at("query")
        );

        // Path: the template with its parameter filled in, the parameter a ULID or a real date.
        let template = route.path;
        match template.find('{') {
            None => {
                assert_eq!(ev["rawPath"], template, "{}", at("rawPath"));
                assert!(ev.get("pathParameters").is_none(), "{}", at("no pathParameters"));
            }
            Some(start) => {
                let end = start + template[start..].find('}').unwrap_or(0);
                let param = &template[start + 1..end];
                let parameters = ev["pathParameters"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{}", at("params")));
                assert_eq!(parameters.len(), 1, "{}", at("pathParameters"));
                let value = parameters[param].as_str().unwrap_or_else(|| panic!("{}", at(param)));
                let path = format!("{}{value}{}", &template[..start], &template[end + 1..]);
                assert_eq!(ev["rawPath"], json!(path), "{}", at("rawPath"));
                match param {
                    "id" => assert!(is_ulid(value), "{}", at("the id is a ULID")),
                    "date" => assert!(
                        orderly_core::domain::Date::parse(value).is_ok(),
                        "{}",
                        at("a real date")
                    ),
                    other => panic!("{}", at(&format!("unknown path parameter {other}"))),
                }
            }
        }

        // Authorizer: none on public routes; on protected ones, JWT claims, every value a string.
        let authorizer = context.get("authorizer");
        match route.access {
            Access::Public => assert!(authorizer.is_none(), "{}", at("a public route has no authorizer")),
            access => {
                assert_eq!(
                    ev["requestContext"]["authorizer"]["jwt"]["scopes"],
                    Value::Null,
                    "{}",
                    at("scopes")
                );
                let claims = claims(&ev);
                assert!(
                    claims.values().all(Value::is_string),
                    "{}",
                    at("every claim is a string")
                );
                for claim in ["sub", "email", "iss", "aud", "exp", "iat"] {
                    assert!(claims.contains_key(claim), "{}", at(claim));
                }
                assert!(
                    claims["exp"].as_str().is_some_and(|exp| exp.parse::<u64>().is_ok()),
                    "{}",
                    at("exp")
                );
                let groups = claims.get("cognito:groups").and_then(Value::as_str);
                if access == Access::Admin {
                    assert_eq!(
                        groups,
                        Some("[admin staff]"),
                        "{}",
                        at("an admin route's caller is an admin")
                    );
                } else {
                    assert_eq!(groups, None, "{}", at("a user route's caller is an ordinary user"));
                }
                assert!(headers.contains_key("authorization"), "{}", at("authorization"));
            }
        }
    }
    // The ids in the bodies are ULIDs too.
    let order = body_json(&event("create-order"));
    assert!(
        is_ulid(str_of(&order["items"][0]["product_id"])),
        "create-order's product_id"
    );
    let payment = body_json(&event("payment-webhook"));
    assert!(is_ulid(str_of(&payment["order_id"])), "payment-webhook's order_id");
    assert!(event("payment-webhook")["headers"]["webhook-signature"]
        .as_str()
        .is_some_and(|s| s.starts_with("t=") && s.contains(",v1=")));
}

// ---- the $default route ----

#[tokio::test]
async fn the_default_route_answers_with_the_contracts_problems() {
    // Its event: a DELETE on a product, which the contract does not have (API Gateway routes it
    // to $default, without running the JWT authorizer).
    let ev = event(UNROUTED_FUNCTION);
    assert_eq!(ev["routeKey"], "$default");
    assert_eq!(ev["requestContext"]["routeKey"], "$default");
    assert!(
        ev["requestContext"].get("authorizer").is_none(),
        "$default has no authorizer"
    );
    let reply = call_unrouted(&ev).await;
    reply.assert_problem(405, "method-not-allowed");
    assert_eq!(reply.header("allow"), Some("GET, PATCH"), "{reply}");
    assert_eq!(
        reply.header("x-request-id"),
        ev["headers"]["x-request-id"].as_str(),
        "{reply}"
    );

    // A wrong method on a path with no parameter, and a body (not base64, then base64).
    let mut wrong_method = ev.clone();
    set_path_and_stage(&mut wrong_method, "/v1/health", "$default");
    wrong_method["requestContext"]["http"]["method"] = json!("POST");
    set_header(&mut wrong_method, "content-type", "application/json");
    set_raw_body(&mut wrong_method, r#"{"status":"down"}"#);
    let reply = call_unrouted(&wrong_method).await;
    reply.assert_problem(405, "method-not-allowed");
    assert_eq!(reply.header("allow"), Some("GET"), "{reply}");
    encode_body_base64(&mut wrong_method);
    call_unrouted(&wrong_method)
        .await
        .assert_problem(405, "method-not-allowed");

    // Paths with a named stage in front (which is not part of the route), and paths the contract
    // does not have: 405 with the path's methods, or 404.
    for (path, stage, allow) in [
        (
            "/prod/v1/products/01KABMF1NBBCP9WGEGF9HZ33H4",
            "prod",
            Some("GET, PATCH"),
        ),
        ("/v1/v1/products/01KABMF1NBBCP9WGEGF9HZ33H4", "v1", Some("GET, PATCH")),
        ("/v2/products", "$default", None),
        ("/v1/products/01KABMF1NBBCP9WGEGF9HZ33H4/reviews", "$default", None),
        ("/", "$default", None),
        ("/prod", "prod", None),
        ("/prod/v1/nothing-here", "prod", None),
        ("/production/v1/products", "prod", None),
    ] {
        let mut staged = ev.clone();
        set_path_and_stage(&mut staged, path, stage);
        let reply = call_unrouted(&staged).await;
        match allow {
            Some(methods) => {
                reply.assert_problem(405, "method-not-allowed");
                assert_eq!(reply.header("allow"), Some(methods), "{reply}");
            }
            None => reply.assert_problem(404, "not-found"),
        }
    }

    // The size limit comes first, as everywhere, and counts the decoded body: 60 KiB is within
    // it even base64-encoded (80 KiB on the wire), one byte over 64 KiB is not, either way.
    let mut upload = wrong_method.clone();
    set_path_and_stage(&mut upload, "/v2/upload", "$default");
    set_raw_body(&mut upload, &"x".repeat(60 * 1024));
    encode_body_base64(&mut upload);
    call_unrouted(&upload).await.assert_problem(404, "not-found");
    for encoded in [false, true] {
        set_raw_body(&mut upload, &"x".repeat(64 * 1024 + 1));
        if encoded {
            encode_body_base64(&mut upload);
        }
        call_unrouted(&upload).await.assert_problem(413, "payload-too-large");
    }

    // What API Gateway would route elsewhere is never served here, even a public route.
    let mut health = ev.clone();
    set_path_and_stage(&mut health, "/v1/health", "$default");
    health["requestContext"]["http"]["method"] = json!("GET");
    call_unrouted(&health).await.assert_problem(404, "not-found");
}

// ---- pitfalls ----

fn protected_functions() -> impl Iterator<Item = &'static str> {
    ROUTES
        .iter()
        .filter(|route| route.access != Access::Public)
        .map(|route| route.function)
}

fn admin_functions() -> impl Iterator<Item = &'static str> {
    ROUTES
        .iter()
        .filter(|route| route.access == Access::Admin)
        .map(|route| route.function)
}

/// (a) Deployed, the JWT authorizer guards the route; the function still refuses a request that
/// reaches it without verified claims.
#[tokio::test]
async fn protected_functions_without_verified_claims_answer_401() {
    let h = Harness::new().await;
    for name in protected_functions() {
        let mut without_authorizer = event(name);
        without_authorizer["requestContext"]
            .as_object_mut()
            .map(|context| context.remove("authorizer"));
        h.call(name, &without_authorizer)
            .await
            .assert_problem(401, "unauthenticated");

        let mut empty_claims = event(name);
        empty_claims["requestContext"]["authorizer"]["jwt"]["claims"] = json!({});
        h.call(name, &empty_claims).await.assert_problem(401, "unauthenticated");

        let mut null_claims = event(name);
        null_claims["requestContext"]["authorizer"] = json!({"jwt": {"claims": null, "scopes": null}});
        h.call(name, &null_claims).await.assert_problem(401, "unauthenticated");

        let mut without_sub = event(name);
        remove_claim(&mut without_sub, "sub");
        h.call(name, &without_sub).await.assert_problem(401, "unauthenticated");
    }
}

/// (b) API Gateway flattens the groups array into the string `"[admin staff]"`.
#[tokio::test]
async fn the_flattened_groups_claim_decides_who_is_admin() {
    let h = Harness::new().await;
    for (groups, status) in [
        (Some("[admin staff]"), 201),
        (Some("[staff admin]"), 201),
        (Some("[admin]"), 201),
        (Some("[staff]"), 403),
        (Some("[administrators staff]"), 403),
        (Some("[]"), 403),
        (None, 403),
    ] {
        let mut ev = event("create-product");
        let mut body = body_json(&ev);
        body["sku"] = json!(fresh_sku());
        set_body(&mut ev, &body);
        match groups {
            Some(groups) => set_claim(&mut ev, "cognito:groups", groups),
            None => remove_claim(&mut ev, "cognito:groups"),
        }
        let reply = h.call("create-product", &ev).await;
        if status == 201 {
            reply.assert_status(201);
            assert_eq!(reply.body["sku"], body["sku"], "{reply}");
        } else {
            reply.assert_problem(403, "forbidden");
        }
    }
    // The `groups` claim name works as well as `cognito:groups`.
    let mut ev = event("create-product");
    remove_claim(&mut ev, "cognito:groups");
    set_claim(&mut ev, "groups", "[admin]");
    set_body(
        &mut ev,
        &json!({"sku": fresh_sku(), "name": "Tea towel", "price_cents": 500, "stock": 3}),
    );
    h.expect("create-product", &ev, 201).await;

    // Every admin route refuses a staff-only caller, before looking at its input.
    for name in admin_functions() {
        let mut ev = event(name);
        set_claim(&mut ev, "cognito:groups", "[staff]");
        h.call(name, &ev).await.assert_problem(403, "forbidden");
    }
}

/// (c) API Gateway base64-encodes bodies of binary media types; the function decodes them.
#[tokio::test]
async fn base64_encoded_bodies_are_decoded() {
    let h = Harness::new().await;
    let mut ev = event("create-product");
    let mut body = body_json(&ev);
    body["sku"] = json!(fresh_sku());
    set_body(&mut ev, &body);
    encode_body_base64(&mut ev);
    let reply = h.expect("create-product", &ev, 201).await;
    assert_eq!(reply.body["sku"], body["sku"], "{reply}");
    assert_eq!(reply.body["name"], body["name"], "{reply}");

    let mut ev = event("update-profile");
    encode_body_base64(&mut ev);
    let reply = h.expect("update-profile", &ev, 200).await;
    assert_eq!(
        reply.body["display_name"],
        body_json(&event("update-profile"))["display_name"]
    );

    // The webhook's signature covers the decoded bytes.
    let owner = event("get-order");
    let product = h.create_product(5).await;
    let order = h.place_order(&owner, str_of(&product["id"]), 1).await;
    let mut ev = Harness::payment_event(&order);
    encode_body_base64(&mut ev);
    sign_webhook(&mut ev);
    let reply = h.expect("payment-webhook", &ev, 200).await;
    assert_eq!(reply.body, json!({"received": true}), "{reply}");
}

/// (d) The function reads its parameter from `pathParameters`, so a stage or a custom domain's base
/// path in the raw path changes nothing.
#[tokio::test]
async fn a_stage_or_base_path_prefix_in_the_path_changes_nothing() {
    let h = Harness::new().await;
    let owner = event("get-order");
    let product = h.create_product(10).await;
    let product_id = str_of(&product["id"]).to_string();
    let order = h.place_order(&owner, &product_id, 1).await;
    let order_id = str_of(&order["id"]).to_string();
    for (stage, prefix) in [("prod", "/prod"), ("prod", ""), ("$default", "/shop"), ("v1", "/v1")] {
        let mut ev = event("get-order");
        set_path_parameter(&mut ev, &order_id);
        set_path_and_stage(&mut ev, &format!("{prefix}/v1/orders/{order_id}"), stage);
        let reply = h.expect("get-order", &ev, 200).await;
        assert_eq!(reply.body["id"], json!(order_id), "{reply}");

        let mut ev = event("get-product");
        set_path_parameter(&mut ev, &product_id);
        set_path_and_stage(&mut ev, &format!("{prefix}/v1/products/{product_id}"), stage);
        let reply = h.expect("get-product", &ev, 200).await;
        assert_eq!(reply.body["id"], json!(product_id), "{reply}");

        let mut ev = event("list-products");
        set_path_and_stage(&mut ev, &format!("{prefix}/v1/products"), stage);
        h.expect("list-products", &ev, 200).await;
    }
    let mut ev = event("cancel-order");
    set_path_parameter(&mut ev, &order_id);
    set_path_and_stage(&mut ev, &format!("/prod/v1/orders/{order_id}/cancel"), "prod");
    let reply = h.expect("cancel-order", &ev, 200).await;
    assert_eq!(reply.body["status"], "cancelled", "{reply}");
}

/// (e) A malformed body is the client's mistake: 400 problem, never a panic, never a 5xx.
#[tokio::test]
async fn malformed_bodies_answer_400() {
    let h = Harness::new().await;
    let product = h.create_product(10).await;
    let product_id = str_of(&product["id"]).to_string();
    let malformed = [
        "{",
        "{\"sku\": ",
        "not json",
        "\"a string\"",
        "[]",
        "null",
        "42",
        "",
        "{\"items\": [}",
        "\u{feff}{}",
    ];
    let body_functions = ROUTES
        .iter()
        .map(|route| route.function)
        .filter(|name| event(name).get("body").is_some());
    let mut count = 0;
    for name in body_functions {
        count += 1;
        for text in malformed {
            let mut ev = event(name);
            if ev.get("pathParameters").is_some() {
                set_path_parameter(&mut ev, &product_id);
            }
            set_raw_body(&mut ev, text);
            if name == "payment-webhook" {
                sign_webhook(&mut ev);
            }
            let reply = h.call(name, &ev).await;
            reply.assert_problem(400, "validation");
            assert!(
                reply.body["errors"].as_array().is_some_and(|errors| !errors.is_empty()),
                "a 400 validation carries errors: {reply}"
            );
        }
        // Bytes that are not UTF-8, delivered base64-encoded as API Gateway does.
        let mut ev = event(name);
        if ev.get("pathParameters").is_some() {
            set_path_parameter(&mut ev, &product_id);
        }
        ev["body"] = json!("//79/A==");
        ev["isBase64Encoded"] = json!(true);
        if name == "payment-webhook" {
            sign_webhook(&mut ev);
        }
        h.call(name, &ev).await.assert_problem(400, "validation");
    }
    assert_eq!(
        count, 6,
        "update-profile, create-product, update-product, adjust-stock, create-order, webhook"
    );
}

/// (f) Every response carries `x-request-id` (checked on every call by the harness): the caller's
/// when it is valid, a fresh one otherwise, on errors too.
#[tokio::test]
async fn every_response_carries_a_request_id() {
    let h = Harness::new().await;
    for name in ROUTES.iter().map(|route| route.function) {
        let mut ev = event(name);
        set_header(&mut ev, "x-request-id", "trace.ABC-123_xyz");
        let reply = h.call(name, &ev).await;
        assert_eq!(reply.header("x-request-id"), Some("trace.ABC-123_xyz"), "{reply}");

        for invalid in ["has spaces", "semi;colon", &"x".repeat(129), ""] {
            let mut ev = event(name);
            set_header(&mut ev, "x-request-id", invalid);
            let reply = h.call(name, &ev).await;
            let id = reply.header("x-request-id").unwrap_or_default();
            assert_ne!(id, invalid, "{reply}");
            assert!(is_ulid(id), "a fresh id replaces {invalid:?}: {reply}");
        }

        let mut ev = event(name);
        remove_header(&mut ev, "x-request-id");
        let first = h.call(name, &ev).await;
        let second = h.call(name, &ev).await;
        let (a, b) = (first.header("x-request-id"), second.header("x-request-id"));
        assert!(a.is_some_and(is_ulid) && b.is_some_and(is_ulid), "{first}\n{second}");
        assert_ne!(a, b, "each request gets its own id");
    }
    // On an error answer too.
    let mut ev = event("get-profile");
    ev["requestContext"]
        .as_object_mut()
        .map(|context| context.remove("authorizer"));
    let reply = h.call("get-profile", &ev).await;
    reply.assert_problem(401, "unauthenticated");
    assert_eq!(
        reply.header("x-request-id"),
        ev["headers"]["x-request-id"].as_str(),
        "{reply}"
    );
}

/// The configuration a cold start reads: the table required, named in the error; no secret needed
/// by the functions that use none (the secrets' own tests are in tests/secrets.rs).
#[test]
fn configuration_names_the_missing_variable() {
    use orderly_core::config::Secrets;
    use orderly_functions::FunctionConfig;
    use std::collections::HashMap;
    let vars = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let error = |pairs: &[(&str, &str)]| {
        FunctionConfig::from_vars(&vars(pairs), Secrets::default())
            .err()
            .map(|e| e.to_string())
    };
    let missing_table = error(&[]).unwrap_or_default();
    assert!(missing_table.contains("TABLE_NAME"), "{missing_table}");
    assert!(error(&[("TABLE_NAME", "orders")]).is_none());
}

/// The query string reaches the core as API Gateway sends it (`rawQueryString`): a list pages
/// through its cursor, and a tampered cursor is the client's mistake.
#[tokio::test]
async fn list_queries_page_through_the_cursor() {
    let h = Harness::new().await;
    let first = h.create_product(1).await;
    let second = h.create_product(1).await;
    let page = |query: String| with_query(event("list-products"), &query);
    let reply = h.expect("list-products", &page("limit=1".into()), 200).await;
    assert_eq!(reply.body["items"][0]["id"], first["id"], "{reply}");
    let cursor = str_of(&reply.body["next_cursor"]).to_string();
    let reply = h
        .expect("list-products", &page(format!("limit=1&cursor={cursor}")), 200)
        .await;
    assert_eq!(reply.body["items"][0]["id"], second["id"], "{reply}");
    assert_eq!(reply.body["next_cursor"], Value::Null, "{reply}");

    for query in [
        "limit=0".to_string(),
        "limit=abc".into(),
        format!("cursor={cursor}x"),
        "cursor=%%%".into(),
    ] {
        h.call("list-products", &page(query))
            .await
            .assert_problem(400, "validation");
    }
}

/// The route's parameter comes from `pathParameters`; a path that disagrees is ignored, and an
/// event without the parameter is a 404, not a panic.
#[tokio::test]
async fn the_path_parameter_comes_from_path_parameters() {
    let h = Harness::new().await;
    let product = h.create_product(3).await;
    let product_id = str_of(&product["id"]).to_string();

    let mut ev = event("get-product");
    set_path_parameter(&mut ev, &product_id);
    set_path_and_stage(&mut ev, &format!("/v1/products/{}", fresh_ulid()), "$default");
    let reply = h.expect("get-product", &ev, 200).await;
    assert_eq!(reply.body["id"], json!(product_id), "{reply}");

    for name in ROUTES.iter().map(|route| route.function) {
        let mut ev = event(name);
        if ev.get("pathParameters").is_some() {
            ev.as_object_mut().map(|event| event.remove("pathParameters"));
            h.call(name, &ev).await.assert_problem(404, "not-found");
        }
    }

    let mut ev = event("get-product");
    set_path_parameter(&mut ev, "not-a-ulid");
    h.call("get-product", &ev).await.assert_problem(404, "not-found");
    // API Gateway decodes path parameters; the raw path stays percent-encoded.
    let mut ev = event("get-order");
    set_path_parameter(&mut ev, "café ☕");
    set_path_and_stage(&mut ev, "/v1/orders/caf%C3%A9%20%E2%98%95", "$default");
    h.call("get-order", &ev).await.assert_problem(404, "not-found");
    let mut ev = event("get-daily-report");
    set_path_parameter(&mut ev, "2025-02-30");
    h.call("get-daily-report", &ev).await.assert_problem(400, "validation");
}

/// Bodies over 64 KiB get 413 before anything else, base64-encoded or not.
#[tokio::test]
async fn oversized_bodies_answer_413() {
    let h = Harness::new().await;
    let description = "x".repeat(70 * 1024);
    let mut ev = event("create-product");
    set_body(
        &mut ev,
        &json!({"sku": fresh_sku(), "name": "Big", "description": description}),
    );
    h.call("create-product", &ev)
        .await
        .assert_problem(413, "payload-too-large");
    encode_body_base64(&mut ev);
    h.call("create-product", &ev)
        .await
        .assert_problem(413, "payload-too-large");
}

/// An invocation that would outlive Lambda's deadline answers the contract's 503 itself, in time,
/// instead of being killed into API Gateway's opaque 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_out_of_time_answers_503_with_retry_after() {
    let client = support::client_for(&support::endpoint());
    let table = format!("orderly-deadline-{}", support::fresh_ulid().to_lowercase());
    orderly_store_dynamodb::table::create_table(&client, &table)
        .await
        .expect("create table");
    let vars = [("TABLE_NAME", table.as_str())]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let function_for = |name: &str| {
        let route = support::route_named(name);
        let config =
            orderly_functions::FunctionConfig::from_vars(&vars, support::secrets_for(route)).expect("configuration");
        orderly_functions::Function::new(route, config.app_with(client.clone()))
    };
    let function = function_for("get-product");
    let request = |name: &str| -> orderly_functions::GatewayRequest {
        serde_json::from_value(support::event(name)).expect("an HTTP API event")
    };
    // The deadline is already here: no time is left for DynamoDB.
    let out_of_time = || {
        let mut context = orderly_functions::Context::default();
        context.deadline = u64::try_from(support::now().as_millis()).expect("now");
        context
    };
    // No bound on how long it takes (a busy machine is slow): that nothing is begun is shown
    // below, by a write that is not made.
    let response = function.handle(request("get-product"), &out_of_time()).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(response.headers().contains_key("x-request-id"));
    let body = String::from_utf8_lossy(response.body()).into_owned();
    assert!(body.contains("/problems/unavailable"), "{body}");

    // Out of time, a write is not even begun: the product is not created.
    let response = function_for("create-product")
        .handle(request("create-product"), &out_of_time())
        .await;
    assert_eq!(response.status(), 503);
    let listed = function_for("list-products")
        .handle(request("list-products"), &orderly_functions::Context::default())
        .await;
    let body = String::from_utf8_lossy(listed.body()).into_owned();
    assert_eq!(listed.status(), 200, "{body}");
    assert!(body.contains(r#""items":[]"#), "nothing may have been created: {body}");
}

// ---- log lines ----

/// What a function writes to stdout, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}")))
            .collect()
    }
}

/// One Logs Insights filter on any id finds the whole story: every line an invocation writes
/// carries, at the top level, the function, Lambda's request id, the X-Ray trace id and our
/// request id; the business event and the request line are among them; no secret ever is.
#[tokio::test(flavor = "current_thread")]
async fn every_log_line_of_an_invocation_carries_its_ids_and_no_secret() {
    use tracing_subscriber::layer::SubscriberExt;
    let h = Harness::new().await;
    let buyer = event("create-order");
    let product = h.create_product(10).await;
    let captured = Captured::default();
    // At `info`, as deployed (`AWS_LAMBDA_LOG_LEVEL` unset).
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(orderly_functions::logging::json_lines("create-order", captured.clone()));
    let _logging = tracing::subscriber::set_default(subscriber);

    let mut ev = buyer.clone();
    set_body(
        &mut ev,
        &json!({"items": [{"product_id": product["id"], "quantity": 2}]}),
    );
    set_header(&mut ev, "x-request-id", "story-of-an-order-1");
    let mut context = orderly_functions::Context::default();
    context.request_id = "8f5a1c2e-5b7e-4d1a-9a57-3c1f0d2b9e41".into();
    context.xray_trace_id = Some("Root=1-67a1b2c3-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1".into());
    let request = serde_json::from_value(ev.clone()).unwrap();
    let response = h.function("create-order").handle(request, &context).await;
    assert_eq!(response.status(), 201);

    let lines = captured.lines();
    assert!(lines.len() >= 2, "{lines:#?}");
    for line in &lines {
        assert_eq!(line["function"], "create-order", "{line}");
        assert_eq!(line["aws_request_id"], json!(context.request_id), "{line}");
        assert_eq!(line["trace_id"], json!(context.xray_trace_id), "{line}");
        assert_eq!(line["request_id"], "story-of-an-order-1", "{line}");
        assert!(line["level"].is_string(), "{line}");
    }
    let placed: Vec<&Value> = lines.iter().filter(|l| l["message"] == "order placed").collect();
    assert_eq!(placed.len(), 1, "the business event, once: {lines:#?}");
    assert!(
        placed[0]["order_id"].is_string() && placed[0]["total_cents"].is_number(),
        "{}",
        placed[0]
    );
    let answered: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request").collect();
    assert_eq!(answered.len(), 1, "{lines:#?}");
    assert_eq!(answered[0]["operation"], "create-order");
    assert_eq!(answered[0]["status"], 201);
    assert!(
        answered[0]["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{}",
        answered[0]
    );

    // A refused webhook is logged with its reason and its problem type, never the signature,
    // the body's secret or the caller's token.
    let mut forged = support::Harness::payment_event(
        &json!({"id": "01JDB3Z6V4M0Q7YQ6V6X4W1T2A", "total_cents": 1, "currency": "USD"}),
    );
    set_header(&mut forged, "webhook-signature", "t=1,v1=deadbeefdeadbeef");
    let reply = h.call("payment-webhook", &forged).await;
    reply.assert_problem(401, "invalid-signature");
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let rejected: Vec<Value> = captured
        .lines()
        .into_iter()
        .filter(|l| l["message"] == "webhook rejected")
        .collect();
    assert_eq!(rejected.len(), 1, "{text}");
    assert!(
        rejected[0]["reason"].as_str().is_some_and(|r| r.contains("signature")),
        "{}",
        rejected[0]
    );
    let refused: Vec<Value> = captured
        .lines()
        .into_iter()
        .filter(|l| l["message"] == "request" && l["status"] == 401)
        .collect();
    assert_eq!(
        refused[0]["problem"], "invalid-signature",
        "every 4xx names its problem type"
    );
    let token = buyer["headers"]["authorization"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("Bearer ");
    for secret in [WEBHOOK_SECRET, "deadbeefdeadbeef", "t=1,v1="]
        .into_iter()
        .chain((!token.is_empty()).then_some(token))
    {
        assert!(!text.contains(secret), "a log line holds {secret:?}:\n{text}");
    }
}
