//! `expire_order`: a pending order at or past its deadline is expired and its stock returned;
//! anything else is closed (or unknown).

use crate::fixtures::{
    assert_conflict, at, cancel, event, insert, offset, order, pay, place, product, stock_of, stored_order, unique_user,
};
use orderly_core::domain::{Order, OrderEventType, OrderStatus, Timestamp};
use orderly_core::ports::{Conflict, Store, StoreError};
use std::sync::Arc;

async fn try_expire(store: &dyn Store, order: &Order, now: Timestamp) -> Result<Order, StoreError> {
    store
        .expire_order(order, now, &event(order, OrderEventType::OrderExpired, now))
        .await
}

/// A pending order exactly at its deadline becomes `Expired`, every line's units go back, and
/// the order leaves the overdue list; a second expiry is `OrderClosed` and returns nothing more.
pub async fn expires_a_due_order_and_returns_stock(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(10)).await;
    let cups = insert(&*store, product(6)).await;
    let placed = place(&*store, &unique_user(), &[(&teapot, 4), (&cups, 6)], at(0)).await;
    assert_eq!(stock_of(&*store, &teapot.id).await, 6);
    assert_eq!(stock_of(&*store, &cups.id).await, 0);
    let now = placed.expires_at;
    let due: Vec<_> = store.overdue_orders(now, None, 10).await.expect("overdue_orders");
    assert_eq!(due, std::slice::from_ref(&placed), "the order is due at its deadline");

    let expired = try_expire(&*store, &due[0], now)
        .await
        .expect("expire_order exactly at the deadline");

    assert_eq!(expired.status, OrderStatus::Expired, "the returned order is expired");
    assert_eq!(expired.updated_at, now, "updated_at is the expiry's now");
    assert_eq!(
        Order {
            status: placed.status,
            updated_at: placed.updated_at,
            ..expired.clone()
        },
        placed,
        "expiring changes only the status (and updated_at)"
    );
    assert_eq!(
        stored_order(&*store, &placed.id).await,
        expired,
        "the stored order equals the returned one"
    );
    assert_eq!(
        stock_of(&*store, &teapot.id).await,
        10,
        "the first line's 4 units are back"
    );
    assert_eq!(
        stock_of(&*store, &cups.id).await,
        6,
        "the second line's 6 units are back"
    );
    let due = store
        .overdue_orders(offset(now, 60_000), None, 10)
        .await
        .expect("overdue_orders after the expiry");
    assert_eq!(due, [], "an expired order is no longer overdue");

    assert_conflict(
        try_expire(&*store, &placed, offset(now, 1_000)).await,
        Conflict::OrderClosed,
        "expire_order of an expired order",
    );
    assert_eq!(
        stock_of(&*store, &teapot.id).await,
        10,
        "stock is returned exactly once"
    );
    assert_eq!(stock_of(&*store, &cups.id).await, 6, "stock is returned exactly once");
    assert_eq!(
        stored_order(&*store, &placed.id).await,
        expired,
        "the refused expiry changes nothing"
    );
}

/// A pending order before its deadline can still be paid or cancelled: expiring it is
/// `OrderClosed`, and nothing changes.
pub async fn a_not_yet_due_order_is_order_closed(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(10)).await;
    let placed = place(&*store, &unique_user(), &[(&teapot, 3)], at(0)).await;

    for now in [offset(placed.expires_at, -1), at(1_000)] {
        assert_conflict(
            try_expire(&*store, &placed, now).await,
            Conflict::OrderClosed,
            &format!("expire_order at {now}, the order expiring at {}", placed.expires_at),
        );
    }
    assert_eq!(
        stock_of(&*store, &teapot.id).await,
        7,
        "a refused expiry returns no stock"
    );
    assert_eq!(
        stored_order(&*store, &placed.id).await,
        placed,
        "a refused expiry changes nothing"
    );
    // Still open: the buyer can cancel it a millisecond before the deadline.
    cancel(&*store, &placed, offset(placed.expires_at, -1)).await;
}

/// A paid or cancelled order is closed for good: expiring it after its deadline is `OrderClosed`,
/// and neither its status nor the stock changes.
pub async fn paid_or_cancelled_order_is_order_closed(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(10)).await;
    let to_pay = place(&*store, &unique_user(), &[(&teapot, 2)], at(0)).await;
    let to_cancel = place(&*store, &unique_user(), &[(&teapot, 3)], at(0)).await;
    pay(&*store, &to_pay, at(1_000)).await;
    cancel(&*store, &to_cancel, at(1_000)).await;
    let paid = stored_order(&*store, &to_pay.id).await;
    let cancelled = stored_order(&*store, &to_cancel.id).await;
    assert_eq!(
        stock_of(&*store, &teapot.id).await,
        8,
        "the paid order keeps its 2 units"
    );

    // The caller's copy may be stale (the pending order it read before): the stored order decides.
    for (stale, closed, what) in [(&to_pay, &paid, "paid"), (&to_cancel, &cancelled, "cancelled")] {
        for now in [closed.expires_at, offset(closed.expires_at, 3_600_000)] {
            for copy in [stale, closed] {
                assert_conflict(
                    try_expire(&*store, copy, now).await,
                    Conflict::OrderClosed,
                    &format!("expire_order of a {what} order at {now}, given as {:?}", copy.status),
                );
            }
        }
    }
    assert_eq!(
        stock_of(&*store, &teapot.id).await,
        8,
        "no refused expiry returns stock"
    );
    assert_eq!(
        stored_order(&*store, &paid.id).await,
        paid,
        "the paid order is unchanged"
    );
    assert_eq!(
        stored_order(&*store, &cancelled.id).await,
        cancelled,
        "the cancelled order is unchanged"
    );
}

/// Expiring an order that was never placed is `NotFound`, and does not create it.
pub async fn unknown_order_is_not_found(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(10)).await;
    let ghost = order(&unique_user(), &[(&teapot, 1)], at(0));
    assert_conflict(
        try_expire(&*store, &ghost, ghost.expires_at).await,
        Conflict::NotFound,
        "expire_order of an unknown order",
    );
    assert_eq!(
        store.order(&ghost.id).await.expect("order(unknown id)"),
        None,
        "expiring an unknown order must not create it"
    );
    assert_eq!(stock_of(&*store, &teapot.id).await, 10, "and returns no stock");
}
