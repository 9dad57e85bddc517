//! Reports: the paid orders of a period, and the stored daily reports.

use crate::fixtures::{at, date, event, event_id, insert, place, product, report, stored_order, unique_user};
use orderly_core::domain::{Order, OrderEventType, OrderId, Product, Timestamp};
use orderly_core::ports::Store;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Places an order created a second before `paid_at` and pays it at `paid_at`.
async fn paid_at(store: &dyn Store, teapot: &Product, paid_at: Timestamp) -> Order {
    let created = Timestamp::from_millis(paid_at.as_millis() - 1_000);
    let placed = place(store, &unique_user(), &[(teapot, 1)], created).await;
    store
        .mark_order_paid(
            &placed,
            &event_id(),
            paid_at,
            &event(&placed, OrderEventType::OrderPaid, paid_at),
        )
        .await
        .unwrap_or_else(|e| panic!("mark_order_paid at {paid_at} failed: {e:?}"));
    stored_order(store, &placed.id).await
}

/// `[from, to)`: paid exactly at `from` is in, a millisecond before `to` is in, exactly at `to` or
/// before `from` is out, and orders that are not paid are out whenever they were made.
pub async fn paid_orders_between_is_half_open(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(100)).await;
    let (from, to) = date("2026-11-19").bounds();
    let ms = |t: Timestamp, offset: i64| Timestamp::from_millis(t.as_millis() + offset);

    let at_from = paid_at(&*store, &teapot, from).await;
    let inside = paid_at(&*store, &teapot, ms(from, 3_600_000)).await;
    let just_before_to = paid_at(&*store, &teapot, ms(to, -1)).await;
    let at_to = paid_at(&*store, &teapot, to).await;
    let before_from = paid_at(&*store, &teapot, ms(from, -1)).await;

    let pending = place(&*store, &unique_user(), &[(&teapot, 1)], ms(from, 60_000)).await;
    let cancelled = place(&*store, &unique_user(), &[(&teapot, 1)], ms(from, 120_000)).await;
    store
        .cancel_order(
            &cancelled,
            ms(from, 180_000),
            &event(&cancelled, OrderEventType::OrderCancelled, ms(from, 180_000)),
        )
        .await
        .expect("cancel_order");
    let refunded = place(&*store, &unique_user(), &[(&teapot, 1)], ms(from, 240_000)).await;
    store
        .flag_refund_due(&refunded, &event_id(), ms(from, 300_000))
        .await
        .expect("flag_refund_due");

    let found = store.paid_orders_between(from, to).await.expect("paid_orders_between");
    let found_ids: BTreeSet<OrderId> = found.iter().map(|o| o.id.clone()).collect();
    let expected: BTreeSet<OrderId> = [&at_from, &inside, &just_before_to]
        .iter()
        .map(|o| o.id.clone())
        .collect();
    for (included, why) in [
        (&at_from.id, "paid exactly at from"),
        (&inside.id, "paid inside the period"),
        (&just_before_to.id, "paid a millisecond before to"),
    ] {
        assert!(
            found_ids.contains(included),
            "an order {why} must be included: {found_ids:?}"
        );
    }
    assert_eq!(
        found_ids, expected,
        "paid at from, inside and at to - 1ms are in; at to, before from, pending, cancelled and flagged are out"
    );
    assert_eq!(found.len(), 3, "each paid order once: {found:?}");
    for order in &found {
        let paid = [&at_from, &inside, &just_before_to]
            .into_iter()
            .find(|o| o.id == order.id)
            .expect("found orders are expected ones");
        assert_eq!(order, paid, "paid_orders_between returns the stored orders");
    }
    for (excluded, why) in [
        (&at_to.id, "paid exactly at to"),
        (&before_from.id, "paid a millisecond before from"),
        (&pending.id, "pending"),
        (&cancelled.id, "cancelled"),
        (&refunded.id, "flagged for a refund but never paid"),
    ] {
        assert!(!found_ids.contains(excluded), "an order {why} must be excluded");
    }

    let empty = store.paid_orders_between(from, from).await.expect("an empty period");
    assert!(empty.is_empty(), "[from, from) is empty: {empty:?}");
    let next_day = store
        .paid_orders_between(to, ms(to, 86_400_000))
        .await
        .expect("the next day");
    assert_eq!(
        next_day.len(),
        1,
        "the order paid exactly at to belongs to the next day"
    );
}

/// A saved report reads back equal; saving the same date again replaces it; other dates are `None`.
pub async fn reports_round_trip_and_replace(store: Arc<dyn Store>) {
    let a = crate::fixtures::product_id();
    let b = crate::fixtures::product_id();
    let first = report("2026-11-18", 3, 7_500, &[(&a, 4), (&b, 2)], at(1_000));
    let unknown = date("2026-11-17");

    assert_eq!(
        store.report(first.date).await.expect("report before saving"),
        None,
        "no report before one is saved"
    );
    store.save_report(&first).await.expect("save_report");
    assert_eq!(
        store.report(first.date).await.expect("report(date)"),
        Some(first.clone()),
        "the saved report reads back equal"
    );

    let recomputed = report("2026-11-18", 4, 8_750, &[(&b, 5)], at(2_000));
    store.save_report(&recomputed).await.expect("save_report again");
    assert_eq!(
        store.report(first.date).await.expect("report(date) after replacing"),
        Some(recomputed),
        "saving the same date again replaces the report"
    );

    let empty_day = report("2026-11-20", 0, 0, &[], at(3_000));
    store
        .save_report(&empty_day)
        .await
        .expect("save_report of a day without sales");
    assert_eq!(
        store.report(empty_day.date).await.expect("report(empty day)"),
        Some(empty_day),
        "a report without sales round-trips"
    );
    assert_eq!(
        store.report(unknown).await.expect("report(unknown date)"),
        None,
        "a date never saved reads as None"
    );
}
