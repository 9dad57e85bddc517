//! Payments: `mark_order_paid`, `flag_refund_due`, `remember_payment_event` and
//! `payment_event_seen`. A payment event has one effect, however often it arrives.

use crate::fixtures::{
    assert_conflict, at, event, event_id, insert, order, place, product, stored_order, unique_user, ORDER_TTL_MS,
};
use orderly_core::domain::{Order, OrderEventType, OrderStatus, Timestamp};
use orderly_core::ports::{Conflict, Store, StoreError};
use std::sync::Arc;

async fn seen(store: &dyn Store, payment_event_id: &str) -> bool {
    store
        .payment_event_seen(payment_event_id)
        .await
        .unwrap_or_else(|e| panic!("payment_event_seen({payment_event_id}) failed: {e:?}"))
}

async fn mark_paid(
    store: &dyn Store,
    order: &Order,
    payment_event_id: &str,
    now: Timestamp,
) -> Result<Order, StoreError> {
    store
        .mark_order_paid(
            order,
            payment_event_id,
            now,
            &event(order, OrderEventType::OrderPaid, now),
        )
        .await?;
    Ok(stored_order(store, &order.id).await)
}

/// `flag_refund_due`, then the order as stored.
async fn flag_refund(
    store: &dyn Store,
    order: &Order,
    payment_event_id: &str,
    now: Timestamp,
) -> Result<Order, StoreError> {
    store.flag_refund_due(order, payment_event_id, now).await?;
    Ok(stored_order(store, &order.id).await)
}

async fn open_order(store: &dyn Store) -> Order {
    let teapot = insert(store, product(10)).await;
    place(store, &unique_user(), &[(&teapot, 2)], at(0)).await
}

/// Paying an open order sets `Paid` and `paid_at`, changes nothing else of note, and remembers
/// the payment event.
pub async fn mark_paid_sets_status_and_remembers_the_event(store: Arc<dyn Store>) {
    let placed = open_order(&*store).await;
    let payment = event_id();
    assert!(!seen(&*store, &payment).await, "a new payment event is not seen yet");

    let now = at(ORDER_TTL_MS - 1);
    let paid = mark_paid(&*store, &placed, &payment, now)
        .await
        .expect("mark_order_paid a millisecond before the deadline");
    assert_eq!(paid.status, OrderStatus::Paid, "the returned order is paid");
    assert_eq!(paid.paid_at, Some(now), "paid_at is the payment's now");
    assert!(!paid.refund_due, "a payment that takes is no refund");
    assert_eq!(
        Order {
            status: placed.status,
            paid_at: None,
            updated_at: placed.updated_at,
            ..paid.clone()
        },
        placed,
        "paying changes only status, paid_at (and updated_at)"
    );
    assert_eq!(
        stored_order(&*store, &placed.id).await,
        paid,
        "the stored order equals the returned one"
    );
    assert!(seen(&*store, &payment).await, "the payment event is remembered");
}

/// A payment event already processed is `PaymentEventSeen` for every write that takes one, and
/// none of them changes anything.
pub async fn a_seen_payment_event_is_refused_everywhere(store: Arc<dyn Store>) {
    let first = open_order(&*store).await;
    let second = open_order(&*store).await;
    let payment = event_id();
    let paid = mark_paid(&*store, &first, &payment, at(1_000))
        .await
        .expect("the first mark_order_paid");

    assert_conflict(
        mark_paid(&*store, &first, &payment, at(2_000)).await,
        Conflict::PaymentEventSeen,
        "mark_order_paid of the same order with the same event",
    );
    assert_conflict(
        mark_paid(&*store, &second, &payment, at(2_000)).await,
        Conflict::PaymentEventSeen,
        "mark_order_paid of another open order with a seen event",
    );
    assert_conflict(
        flag_refund(&*store, &first, &payment, at(2_000)).await,
        Conflict::PaymentEventSeen,
        "flag_refund_due with a seen event",
    );
    assert_conflict(
        flag_refund(&*store, &second, &payment, at(2_000)).await,
        Conflict::PaymentEventSeen,
        "flag_refund_due of another order with a seen event",
    );
    assert_conflict(
        store.remember_payment_event(&payment, at(2_000)).await,
        Conflict::PaymentEventSeen,
        "remember_payment_event of a seen event",
    );

    assert_eq!(
        stored_order(&*store, &first.id).await,
        paid,
        "the paid order is unchanged"
    );
    assert_eq!(
        stored_order(&*store, &second.id).await,
        second,
        "the other order is untouched: still pending, no refund due"
    );
}

/// A second payment event for a paid order is `OrderClosed` and is not remembered, so the
/// services can then flag the refund with that same event.
pub async fn a_second_payment_on_a_paid_order_is_order_closed(store: Arc<dyn Store>) {
    let placed = open_order(&*store).await;
    let paid = mark_paid(&*store, &placed, &event_id(), at(1_000))
        .await
        .expect("the first payment");
    let late = event_id();

    assert_conflict(
        mark_paid(&*store, &placed, &late, at(2_000)).await,
        Conflict::OrderClosed,
        "mark_order_paid of a paid order with a new event",
    );
    assert_eq!(
        stored_order(&*store, &placed.id).await,
        paid,
        "the refused payment changes nothing"
    );
    assert!(
        !seen(&*store, &late).await,
        "a payment refused with OrderClosed must not be remembered (nothing of the write happens)"
    );

    let flagged = flag_refund(&*store, &placed, &late, at(3_000))
        .await
        .expect("flag_refund_due with the refused event");
    assert!(flagged.refund_due, "the order is flagged");
    assert_eq!(flagged.status, OrderStatus::Paid, "flagging leaves the status alone");
    assert_eq!(
        flagged.paid_at, paid.paid_at,
        "flagging leaves the first payment's time alone"
    );
    assert!(seen(&*store, &late).await, "the flagged event is remembered");
}

/// `flag_refund_due` sets `refund_due`, leaves the status (cancelled, expired or pending), and
/// remembers the event; an unknown order is `NotFound`.
pub async fn flag_refund_due_sets_the_flag_and_leaves_status(store: Arc<dyn Store>) {
    let cancelled = open_order(&*store).await;
    let cancelled = store
        .cancel_order(
            &cancelled,
            at(1_000),
            &event(&cancelled, OrderEventType::OrderCancelled, at(1_000)),
        )
        .await
        .expect("cancel_order");
    let payment = event_id();

    let flagged = flag_refund(&*store, &cancelled, &payment, at(2_000))
        .await
        .expect("flag_refund_due of a cancelled order");
    assert!(flagged.refund_due, "refund_due is set");
    assert_eq!(flagged.status, OrderStatus::Cancelled, "the status stays cancelled");
    assert_eq!(flagged.paid_at, None, "a refund is not a payment");
    assert_eq!(
        stored_order(&*store, &cancelled.id).await,
        flagged,
        "the stored order equals the returned one"
    );
    assert!(seen(&*store, &payment).await, "the event is remembered");

    let past_due = open_order(&*store).await;
    let flagged = flag_refund(&*store, &past_due, &event_id(), past_due.expires_at)
        .await
        .expect("flag_refund_due of a past-due order");
    assert!(flagged.refund_due);
    assert_eq!(
        flagged.status,
        OrderStatus::PendingPayment,
        "the stored status is left as it was"
    );

    let teapot = product(1);
    let ghost = order(&unique_user(), &[(&teapot, 1)], at(0));
    let orphan = event_id();
    assert_conflict(
        flag_refund(&*store, &ghost, &orphan, at(3_000)).await,
        Conflict::NotFound,
        "flag_refund_due of an unknown order",
    );
    assert!(
        !seen(&*store, &orphan).await,
        "an event refused with NotFound is not remembered"
    );
}

/// A pending order at or past its deadline cannot be paid: `OrderClosed`, nothing changes and the
/// event is not remembered.
pub async fn past_due_order_cannot_be_paid(store: Arc<dyn Store>) {
    let placed = open_order(&*store).await;
    let payment = event_id();

    for now in [placed.expires_at, at(ORDER_TTL_MS + 60_000)] {
        assert_conflict(
            mark_paid(&*store, &placed, &payment, now).await,
            Conflict::OrderClosed,
            &format!("mark_order_paid at {now}, the order expiring at {}", placed.expires_at),
        );
    }
    assert_eq!(
        stored_order(&*store, &placed.id).await,
        placed,
        "still pending, never paid"
    );
    assert!(!seen(&*store, &payment).await, "the refused event is not remembered");
}

/// `remember_payment_event` records an event once; the second time is `PaymentEventSeen`, and a
/// remembered event cannot then pay an order.
pub async fn remember_payment_event_twice_is_seen(store: Arc<dyn Store>) {
    let failed = event_id();
    assert!(!seen(&*store, &failed).await);
    store
        .remember_payment_event(&failed, at(1_000))
        .await
        .expect("the first remember_payment_event");
    assert!(seen(&*store, &failed).await, "the event is remembered");
    assert_conflict(
        store.remember_payment_event(&failed, at(2_000)).await,
        Conflict::PaymentEventSeen,
        "remember_payment_event twice",
    );

    let placed = open_order(&*store).await;
    assert_conflict(
        mark_paid(&*store, &placed, &failed, at(3_000)).await,
        Conflict::PaymentEventSeen,
        "mark_order_paid with a remembered event",
    );
    assert_eq!(
        stored_order(&*store, &placed.id).await,
        placed,
        "the order stays unpaid"
    );
    assert!(!seen(&*store, &event_id()).await, "other events are not seen");
}

/// Paying an order that was never placed is `NotFound`, and the event is not remembered.
pub async fn unknown_order_is_not_found(store: Arc<dyn Store>) {
    let teapot = product(1);
    let ghost = order(&unique_user(), &[(&teapot, 1)], at(0));
    let payment = event_id();
    assert_conflict(
        mark_paid(&*store, &ghost, &payment, at(1_000)).await,
        Conflict::NotFound,
        "mark_order_paid of an unknown order",
    );
    assert!(
        !seen(&*store, &payment).await,
        "an event refused with NotFound is not remembered"
    );
    assert_eq!(
        store.order(&ghost.id).await.expect("order(unknown id)"),
        None,
        "paying an unknown order must not create it"
    );
}
