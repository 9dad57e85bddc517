//! The asynchronous half on the local server: the relay and the notification job, the expiry
//! sweep, the daily report, and `orderly jobs` run by hand. Limits are the contract's promises
//! (a notification within 10 s of its event, expiry within two minutes of the deadline).

use serde_json::{json, Value};
use std::time::Duration;

use crate::support::*;

const NOTIFIED_WITHIN: Duration = Duration::from_secs(10);
/// The order TTL of the test that pays one order before its deadline: ample for one local request.
const TTL_SECONDS: &str = "3";

const EXPIRED_WITHIN: Duration = Duration::from_secs(120);

fn kinds(notifications: &[Value]) -> Vec<&str> {
    notifications
        .iter()
        .map(|n| n["kind"].as_str().unwrap_or("?"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_placed_and_paid_order_tells_its_buyer_exactly_twice() {
    let srv = TestServer::start();
    let admin = admin_token("admin");
    let (buyer, other) = (user_token("notified-buyer"), user_token("someone-else"));
    let p = id_of(&srv.create_product(&admin, "NOTE-1", 250, 5).await);
    let order = srv.place_order(&buyer, &[(&p, 2)]).await;
    srv.pay(&order, "evt-notify-1").await.assert_json(200);
    // The same payment event again changes nothing, so it tells nothing.
    srv.pay(&order, "evt-notify-1").await.assert_json(200);

    let told = eventually("order_placed and order_paid notifications", NOTIFIED_WITHIN, || async {
        let told = srv.notifications(&buyer).await;
        (told.len() >= 2).then_some(told)
    })
    .await;
    assert_eq!(kinds(&told), ["order_paid", "order_placed"], "newest first: {told:#?}");
    for notification in &told {
        assert_eq!(notification["order_id"], order["id"], "{notification}");
        let keys: Vec<&str> = notification.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 5, "exactly the contract's fields: {notification}");
        for field in ["id", "kind", "order_id", "message", "created_at"] {
            assert!(notification.get(field).is_some(), "{field} missing: {notification}");
        }
        assert!(
            ts(&notification["created_at"]) >= ts(&order["created_at"]),
            "{notification}"
        );
    }
    assert!(told[0]["message"]
        .as_str()
        .unwrap()
        .contains(order["id"].as_str().unwrap()));
    assert_ne!(told[0]["id"], told[1]["id"]);
    assert!(srv.notifications(&other).await.is_empty(), "only the buyer is told");

    // Later passes of the relay add nothing: one notification per event.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(srv.notifications(&buyer).await, told);

    // Paging: one per page, newest first, and the cursor belongs to this list and this user.
    let first = srv.get("/v1/me/notifications?limit=1").token(&buyer).send().await;
    first.assert_json(200);
    assert_eq!(first.body["items"], json!([told[0]]));
    let cursor = first.body["next_cursor"].as_str().expect("a second page").to_string();
    let second = srv
        .get(&format!("/v1/me/notifications?limit=1&cursor={cursor}"))
        .token(&buyer)
        .send()
        .await;
    second.assert_json(200);
    assert_eq!(second.body["items"], json!([told[1]]));
    assert_eq!(second.body["next_cursor"], Value::Null);
    let stolen = srv
        .get(&format!("/v1/me/notifications?cursor={cursor}"))
        .token(&other)
        .send()
        .await;
    assert_validation(&stolen, "cursor");
    let r = srv.get("/v1/me/notifications?limit=0").token(&buyer).send().await;
    assert_validation(&r, "limit");
    let r = srv.get("/v1/me/notifications").send().await;
    assert_problem(&r, 401, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unpaid_order_expires_for_good_and_gives_its_stock_back() {
    let srv = TestServer::start_with(&[("ORDER_TTL_SECONDS", "1"), ("ORDERLY_EXPIRY_SWEEP_INTERVAL_MS", "100")]);
    let admin = admin_token("admin");
    let buyer = user_token("late-payer");
    let p = id_of(&srv.create_product(&admin, "EXPIRE-1", 400, 10).await);
    // That a paid order never expires is the conformance suite's race test, on every store; here a
    // payment would race a 1 s deadline on a busy machine.
    let unpaid = srv.place_order(&buyer, &[(&p, 3)]).await;

    eventually("the unpaid order's stock back", EXPIRED_WITHIN, || async {
        (srv.stock_of(&p).await == 10).then_some(())
    })
    .await;
    let expired = srv.order(&buyer, &id_of(&unpaid)).await;
    assert_eq!(expired["status"], "expired");
    let told = eventually("the order_expired notification", NOTIFIED_WITHIN, || async {
        let told = srv.notifications(&buyer).await;
        told.iter().any(|n| n["kind"] == "order_expired").then_some(told)
    })
    .await;
    let expired_notes: Vec<&Value> = told.iter().filter(|n| n["kind"] == "order_expired").collect();
    assert_eq!(expired_notes.len(), 1, "{told:#?}");
    assert_eq!(expired_notes[0]["order_id"], unpaid["id"]);

    // Many more sweeps later, the stock is returned once and only once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(srv.stock_of(&p).await, 10);
    // A payment that arrives now is flagged for a refund and revives nothing.
    srv.pay(&unpaid, "evt-too-late").await.assert_json(200);
    let after = srv.order(&buyer, &id_of(&unpaid)).await;
    assert_eq!(
        (after["status"].as_str(), after["refund_due"].as_bool()),
        (Some("expired"), Some(true))
    );
    assert_eq!(srv.stock_of(&p).await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_committed_before_a_crash_is_published_after_the_restart() {
    // The first process's relay never gets to run: the order's event is only in the outbox
    // when the process is killed.
    let mut srv = TestServer::start_with(&[("ORDERLY_RELAY_INTERVAL_MS", "86400000")]);
    let admin = admin_token("admin");
    let buyer = user_token("crash-buyer");
    let p = id_of(&srv.create_product(&admin, "CRASH-NOTE", 100, 3).await);
    let order = srv.place_order(&buyer, &[(&p, 1)]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        srv.notifications(&buyer).await.is_empty(),
        "the relay must not have run yet"
    );

    srv.restart_with(&[("ORDERLY_RELAY_INTERVAL_MS", "100")]); // SIGKILL, then a new process

    let told = eventually("the event committed before the crash", NOTIFIED_WITHIN, || async {
        let told = srv.notifications(&buyer).await;
        (!told.is_empty()).then_some(told)
    })
    .await;
    assert_eq!(kinds(&told), ["order_placed"]);
    assert_eq!(told[0]["order_id"], order["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_job_runs_once_by_hand_and_twice_is_the_same_as_once() {
    // Workers that never run on their own, so every effect below is the command's.
    let srv = TestServer::start_with(&[
        ("ORDER_TTL_SECONDS", TTL_SECONDS),
        ("ORDERLY_EXPIRY_SWEEP_INTERVAL_MS", "86400000"),
        ("ORDERLY_RELAY_INTERVAL_MS", "86400000"),
    ]);
    let admin = admin_token("admin");
    let buyer = user_token("by-hand");
    let p = id_of(&srv.create_product(&admin, "HAND-1", 1_000, 10).await);
    let paid = srv.place_order(&buyer, &[(&p, 4)]).await;
    srv.pay(&paid, "evt-by-hand").await.assert_json(200);
    let paid = srv.order(&buyer, &id_of(&paid)).await;
    assert_eq!(paid["status"], "paid", "paid within its {TTL_SECONDS} s: {paid}");
    let unpaid = srv.place_order(&buyer, &[(&p, 1)]).await;
    // Past the unpaid order's deadline, by the same clock the server reads.
    let deadline = ts(&unpaid["expires_at"]);
    while now_millis() <= deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let listed = srv.run_orderly(&["jobs", "list", "--json"]);
    let functions: Vec<String> = listed
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["function"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        functions,
        ["relay-events", "notify", "expire-orders", "report-previous-day"]
    );

    let at = unpaid["expires_at"].as_str().unwrap().to_string();
    let swept: Value = serde_json::from_str(&srv.run_orderly(&["jobs", "expire", "--at", &at])).unwrap();
    assert_eq!(swept["expired"], 1, "{swept}");
    let again: Value = serde_json::from_str(&srv.run_orderly(&["jobs", "expire", "--at", &at])).unwrap();
    assert_eq!(again["expired"], 0, "{again}");
    assert_eq!(srv.stock_of(&p).await, 6, "the unpaid unit is back, once");

    // The day it was paid (not "today", which may have turned since).
    let today = paid["paid_at"].as_str().unwrap()[..10].to_string();
    let tomorrow_0005 = next_day_at_0005(&today);
    let report: Value = serde_json::from_str(&srv.run_orderly(&["jobs", "report", "--at", &tomorrow_0005])).unwrap();
    assert_eq!(report["date"], json!(today));
    assert_eq!(
        (report["orders_paid"].as_i64(), report["units_sold"].as_i64()),
        (Some(1), Some(4)),
        "{report}"
    );
    assert_eq!(report["revenue_cents"], 4_000);
    let rerun: Value = serde_json::from_str(&srv.run_orderly(&["jobs", "report", "--at", &tomorrow_0005])).unwrap();
    assert_eq!(rerun, report, "re-running the day gives the same report");
    let served = srv
        .get(&format!("/v1/reports/daily/{today}"))
        .token(&admin)
        .send()
        .await;
    served.assert_json(200);
    assert_eq!(served.body, report);

    // placed, paid, placed, expired. A stream shows a write a moment after it (DynamoDB), so the
    // first relay may see fewer; each run relays what is there.
    let relayed = eventually("every event relayed", NOTIFIED_WITHIN, || async {
        let relayed: Value = serde_json::from_str(&srv.run_orderly(&["jobs", "relay"])).unwrap();
        (srv.notifications(&buyer).await.len() == 4).then_some(relayed)
    })
    .await;
    assert_eq!(relayed["failed"], json!([]));
    let again: Value = serde_json::from_str(&srv.run_orderly(&["jobs", "relay"])).unwrap();
    // The embedded outbox remembers what it published; a DynamoDB stream is read again from its
    // start by each new process, and the notification job's idempotency absorbs the repeat.
    let repeated = if srv.is_embedded() { 0 } else { 4 };
    assert_eq!(again, json!({"published": repeated, "failed": []}));
    let told = srv.notifications(&buyer).await;
    assert_eq!(
        kinds(&told),
        ["order_expired", "order_placed", "order_paid", "order_placed"]
    );
}

/// `YYYY-MM-DD` → the next day's 00:05 UTC, as RFC 3339.
fn next_day_at_0005(day: &str) -> String {
    let midnight = parse_ts(&format!("{day}T00:00:00.000Z"));
    let next = midnight + 86_400_000 + 5 * 60_000;
    let secs = next / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let date = civil_from_days(days);
    format!("{date}T{:02}:{:02}:00Z", rem / 3600, (rem % 3600) / 60)
}

fn civil_from_days(z: i64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
