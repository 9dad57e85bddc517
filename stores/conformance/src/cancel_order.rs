//! `cancel_order`: an open order is cancelled and its stock returned; anything else is closed.

use crate::fixtures::{
    assert_conflict, at, event, event_id, insert, order, place, product, stock_of, stored_order, unique_user,
    ORDER_TTL_MS,
};
use orderly_core::domain::{Order, OrderEventType, OrderStatus};
use orderly_core::ports::{Conflict, Store};
use std::sync::Arc;

/// A pending order before its deadline becomes `Cancelled` and every line's units go back.
pub async fn cancels_an_open_order_and_returns_stock(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(10)).await;
    let cups = insert(&*store, product(6)).await;
    let buyer = unique_user();
    let placed = place(&*store, &buyer, &[(&teapot, 4), (&cups, 6)], at(0)).await;
    assert_eq!(stock_of(&*store, &teapot.id).await, 6);
    assert_eq!(stock_of(&*store, &cups.id).await, 0);

    let now = at(ORDER_TTL_MS - 1);
    let cancelled = store
        .cancel_order(&placed, now, &event(&placed, OrderEventType::OrderCancelled, now))
        .await
        .expect("cancel_order of an open order, a millisecond before its deadline");

    assert_eq!(
        cancelled.status,
        OrderStatus::Cancelled,
        "the returned order is cancelled"
    );
    assert_eq!(
        Order {
            status: placed.status,
            updated_at: placed.updated_at,
            ..cancelled.clone()
        },
        placed,
        "cancelling changes only the status (and updated_at)"
    );
    assert_eq!(
        stored_order(&*store, &placed.id).await,
        cancelled,
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
}

/// Cancelling a cancelled order is `OrderClosed`, and stock is returned only once.
pub async fn cancelling_twice_is_order_closed(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(10)).await;
    let placed = place(&*store, &unique_user(), &[(&teapot, 3)], at(0)).await;
    let cancel = |t| event(&placed, OrderEventType::OrderCancelled, t);

    let cancelled = store
        .cancel_order(&placed, at(1_000), &cancel(at(1_000)))
        .await
        .expect("the first cancel_order");
    assert_conflict(
        store.cancel_order(&placed, at(2_000), &cancel(at(2_000))).await,
        Conflict::OrderClosed,
        "cancel_order of a cancelled order",
    );
    assert_eq!(
        stock_of(&*store, &teapot.id).await,
        10,
        "stock is returned exactly once"
    );
    assert_eq!(
        stored_order(&*store, &placed.id).await,
        cancelled,
        "the refused cancel changes nothing"
    );
}

/// A pending order at or past its deadline is expired to readers: cancelling it is `OrderClosed`
/// and its stock is not returned by the cancel.
pub async fn past_due_order_cannot_be_cancelled(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(10)).await;
    let placed = place(&*store, &unique_user(), &[(&teapot, 3)], at(0)).await;

    for now in [placed.expires_at, at(ORDER_TTL_MS + 60_000)] {
        assert_conflict(
            store
                .cancel_order(&placed, now, &event(&placed, OrderEventType::OrderCancelled, now))
                .await,
            Conflict::OrderClosed,
            &format!("cancel_order at {now}, the order expiring at {}", placed.expires_at),
        );
    }
    assert_eq!(
        stock_of(&*store, &teapot.id).await,
        7,
        "a refused cancel returns no stock"
    );
    assert_eq!(
        stored_order(&*store, &placed.id).await,
        placed,
        "a refused cancel changes nothing"
    );
}

/// A paid order cannot be cancelled.
pub async fn paid_order_cannot_be_cancelled(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(10)).await;
    let placed = place(&*store, &unique_user(), &[(&teapot, 3)], at(0)).await;
    store
        .mark_order_paid(
            &placed,
            &event_id(),
            at(1_000),
            &event(&placed, OrderEventType::OrderPaid, at(1_000)),
        )
        .await
        .expect("mark_order_paid of an open order");
    let paid = stored_order(&*store, &placed.id).await;

    assert_conflict(
        store
            .cancel_order(
                &placed,
                at(2_000),
                &event(&placed, OrderEventType::OrderCancelled, at(2_000)),
            )
            .await,
        Conflict::OrderClosed,
        "cancel_order of a paid order",
    );
    assert_eq!(stock_of(&*store, &teapot.id).await, 7, "a paid order keeps its stock");
    assert_eq!(
        stored_order(&*store, &placed.id).await,
        paid,
        "a refused cancel changes nothing"
    );
}

/// Cancelling an order that was never placed is `NotFound`.
pub async fn unknown_order_is_not_found(store: Arc<dyn Store>) {
    let teapot = product(10);
    let ghost = order(&unique_user(), &[(&teapot, 1)], at(0));
    assert_conflict(
        store
            .cancel_order(
                &ghost,
                at(1_000),
                &event(&ghost, OrderEventType::OrderCancelled, at(1_000)),
            )
            .await,
        Conflict::NotFound,
        "cancel_order of an unknown order",
    );
    assert_eq!(
        store.order(&ghost.id).await.expect("order(unknown id)"),
        None,
        "cancelling an unknown order must not create it"
    );
}
