//! `place_order` under the reservation limit: a user's orders stored as `pending_payment`, with
//! the one being placed, may number at most `limit.unpaid_orders` and reserve at most
//! `limit.reserved_units` units, checked inside the placement's own write. Paying, cancelling and
//! expiring an order give its share back; other users never notice.

use crate::fixtures::{
    assert_conflict, at, cancel, event_id, expire, idempotency_key, insert, keyed_placement, limited, order, pay,
    placement, product, stock_of, stored_order, unique_user,
};
use orderly_core::domain::{HoldingLimit, Order, OrderEventType, Product, ReservationLimit, UserId};
use orderly_core::ports::{Conflict, Store, StoreError};
use std::sync::Arc;

fn limit(unpaid_orders: u32, reserved_units: u32) -> ReservationLimit {
    ReservationLimit {
        unpaid_orders,
        reserved_units,
    }
}

/// Places an order of `lines` for `user` under `limit`, created at `at(millis)`; returns the order
/// with the store's answer.
async fn place_under(
    store: &dyn Store,
    limit: ReservationLimit,
    user: &UserId,
    lines: &[(&Product, u32)],
    millis: i64,
) -> (Order, Result<(), StoreError>) {
    let placed = order(user, lines, at(millis));
    let result = store.place_order(&limited(placement(&placed), limit)).await;
    (placed, result)
}

/// Like [`place_under`], failing the case if the store refuses.
async fn placed_under(
    store: &dyn Store,
    limit: ReservationLimit,
    user: &UserId,
    lines: &[(&Product, u32)],
    millis: i64,
) -> Order {
    let (placed, result) = place_under(store, limit, user, lines, millis).await;
    result.unwrap_or_else(|e| panic!("place_order({}) within the limit failed: {e:?}", placed.id));
    placed
}

/// With 3 unpaid orders allowed, the 4th is `ReservationLimit(UnpaidOrders)` and leaves no trace:
/// no stock reserved, no order, its idempotency key still free.
pub async fn refuses_the_order_beyond_the_unpaid_orders_limit(store: Arc<dyn Store>) {
    let three = limit(3, 100);
    let teapot = insert(&*store, product(50)).await;
    let buyer = unique_user();
    for i in 0..3 {
        placed_under(&*store, three, &buyer, &[(&teapot, 1)], i).await;
    }

    let fourth = order(&buyer, &[(&teapot, 1)], at(10));
    assert_conflict(
        store
            .place_order(&limited(keyed_placement(&fourth, "fourth", "fp-4"), three))
            .await,
        Conflict::ReservationLimit(HoldingLimit::UnpaidOrders),
        "the 4th unpaid order under a limit of 3",
    );
    assert_eq!(
        stock_of(&*store, &teapot.id).await,
        47,
        "only the 3 accepted units are reserved"
    );
    assert_eq!(
        store.order(&fourth.id).await.expect("order(refused id)"),
        None,
        "a refused order is not stored"
    );
    assert_eq!(
        store
            .idempotency_record(&buyer, &idempotency_key("fourth"))
            .await
            .expect("idempotency_record after a refusal"),
        None,
        "a refused order does not record its key"
    );
    let listed = store.orders_of(&buyer, None, 10).await.expect("orders_of(buyer)");
    assert_eq!(listed.len(), 3, "the buyer holds the 3 accepted orders");

    // A higher limit lets the same user go on: the limit is the placement's, not stored.
    placed_under(&*store, limit(4, 100), &buyer, &[(&teapot, 1)], 20).await;
    assert_eq!(stock_of(&*store, &teapot.id).await, 46);
}

/// With 10 units allowed: 6 then 4 fit exactly, 1 more is `ReservationLimit(ReservedUnits)`, and
/// an order of 11 units is refused on its own, for a user who holds nothing at all.
pub async fn refuses_the_units_beyond_the_reserved_units_limit(store: Arc<dyn Store>) {
    let ten_units = limit(10, 10);
    let teapot = insert(&*store, product(100)).await;
    let cups = insert(&*store, product(100)).await;
    let buyer = unique_user();

    placed_under(&*store, ten_units, &buyer, &[(&teapot, 2), (&cups, 4)], 0).await;
    let (too_many, refused) = place_under(&*store, ten_units, &buyer, &[(&teapot, 5)], 1).await;
    assert_conflict(
        refused,
        Conflict::ReservationLimit(HoldingLimit::ReservedUnits),
        "6 units held and 5 more under a limit of 10",
    );
    assert_eq!(store.order(&too_many.id).await.expect("order(refused id)"), None);
    placed_under(&*store, ten_units, &buyer, &[(&teapot, 1), (&cups, 3)], 2).await;
    let (_, refused) = place_under(&*store, ten_units, &buyer, &[(&cups, 1)], 3).await;
    assert_conflict(
        refused,
        Conflict::ReservationLimit(HoldingLimit::ReservedUnits),
        "10 units held and 1 more under a limit of 10",
    );
    assert_eq!(stock_of(&*store, &teapot.id).await, 97, "3 teapots reserved");
    assert_eq!(stock_of(&*store, &cups.id).await, 93, "7 cups reserved");

    let newcomer = unique_user();
    let (_, refused) = place_under(&*store, ten_units, &newcomer, &[(&teapot, 5), (&cups, 6)], 4).await;
    assert_conflict(
        refused,
        Conflict::ReservationLimit(HoldingLimit::ReservedUnits),
        "an order of 11 units under a limit of 10, from a user holding nothing",
    );
    assert_eq!(stock_of(&*store, &teapot.id).await, 97);
    placed_under(&*store, ten_units, &newcomer, &[(&teapot, 4), (&cups, 6)], 5).await;
}

/// With 2 orders and 10 units allowed, each way an order closes gives its whole share back: a
/// cancel, a payment and an expiry each make room for one more order of 5 units. A refund flag on
/// a paid order gives nothing back a second time.
pub async fn paying_cancelling_or_expiring_gives_the_share_back(store: Arc<dyn Store>) {
    let two = limit(2, 10);
    let teapot = insert(&*store, product(100)).await;
    let buyer = unique_user();
    let refused = |result: Result<(), StoreError>, what: &str| {
        assert_conflict(result, Conflict::ReservationLimit(HoldingLimit::UnpaidOrders), what);
    };

    let a = placed_under(&*store, two, &buyer, &[(&teapot, 5)], 0).await;
    let b = placed_under(&*store, two, &buyer, &[(&teapot, 5)], 1).await;
    refused(
        place_under(&*store, two, &buyer, &[(&teapot, 1)], 2).await.1,
        "a 3rd order",
    );

    cancel(&*store, &a, at(3)).await;
    // 5 + 5 units: a's units are free again too, not only its place.
    let c = placed_under(&*store, two, &buyer, &[(&teapot, 5)], 4).await;
    refused(
        place_under(&*store, two, &buyer, &[(&teapot, 1)], 5).await.1,
        "a 3rd order after a cancel",
    );

    pay(&*store, &b, at(6)).await;
    let d = placed_under(&*store, two, &buyer, &[(&teapot, 5)], 7).await;
    refused(
        place_under(&*store, two, &buyer, &[(&teapot, 1)], 8).await.1,
        "a 3rd order after a payment",
    );
    store
        .flag_refund_due(&b, &event_id(), at(9))
        .await
        .expect("a second payment for the paid order is flagged");
    refused(
        place_under(&*store, two, &buyer, &[(&teapot, 1)], 10).await.1,
        "a 3rd order after a refund flag, which frees nothing more",
    );

    expire(&*store, &c, c.expires_at).await;
    let e = placed_under(&*store, two, &buyer, &[(&teapot, 5)], 11).await;
    refused(
        place_under(&*store, two, &buyer, &[(&teapot, 1)], 12).await.1,
        "a 3rd order after an expiry",
    );

    for (o, expected) in [
        (&a, "cancelled"),
        (&b, "paid"),
        (&c, "expired"),
        (&d, "pending_payment"),
        (&e, "pending_payment"),
    ] {
        assert_eq!(
            stored_order(&*store, &o.id).await.status.as_str(),
            expected,
            "order {}",
            o.id
        );
    }
    assert_eq!(stock_of(&*store, &teapot.id).await, 85, "b, d and e hold 15 units");
}

/// One user at both limits changes nothing for another: a second user places as if alone.
pub async fn other_users_are_unaffected(store: Arc<dyn Store>) {
    let one = limit(1, 5);
    let teapot = insert(&*store, product(100)).await;
    let (ada, bob) = (unique_user(), unique_user());

    placed_under(&*store, one, &ada, &[(&teapot, 5)], 0).await;
    assert_conflict(
        place_under(&*store, one, &ada, &[(&teapot, 1)], 1).await.1,
        Conflict::ReservationLimit(HoldingLimit::UnpaidOrders),
        "Ada's second order",
    );
    let bobs = placed_under(&*store, one, &bob, &[(&teapot, 5)], 2).await;
    assert_eq!(stored_order(&*store, &bobs.id).await, bobs, "Bob's order is placed");
    assert_eq!(stock_of(&*store, &teapot.id).await, 90);
}

/// At the limit, a placement whose key is taken is still `IdempotencyKeyTaken` (so the service
/// replays it: a retry is never refused by the limit, nor counted twice), and a short line is still
/// `InsufficientStock`: the limit is the last condition looked at.
pub async fn a_taken_key_and_short_stock_outrank_the_limit(store: Arc<dyn Store>) {
    let one = limit(1, 10);
    let teapot = insert(&*store, product(100)).await;
    let scarce = insert(&*store, product(1)).await;
    let buyer = unique_user();
    let first = order(&buyer, &[(&teapot, 2)], at(0));
    let first_placement = limited(keyed_placement(&first, "once", "fp"), one);
    store
        .place_order(&first_placement)
        .await
        .expect("the first keyed placement");

    let retry = order(&buyer, &[(&teapot, 2)], at(1));
    let winner = first_placement.idempotency.clone().expect("a keyed placement");
    assert_conflict(
        store
            .place_order(&limited(keyed_placement(&retry, "once", "fp"), one))
            .await,
        Conflict::IdempotencyKeyTaken(Box::new(winner)),
        "a retry under a taken key, at the limit",
    );
    assert_conflict(
        place_under(&*store, limit(5, 10), &buyer, &[(&teapot, 1), (&scarce, 2)], 2)
            .await
            .1,
        Conflict::InsufficientStock(scarce.id.clone()),
        "a short line, within the limit on orders",
    );
    assert_conflict(
        place_under(&*store, one, &buyer, &[(&teapot, 1), (&scarce, 2)], 3)
            .await
            .1,
        Conflict::InsufficientStock(scarce.id.clone()),
        "a short line, at the limit on orders",
    );
    assert_eq!(
        stock_of(&*store, &teapot.id).await,
        98,
        "only the first order's units are reserved"
    );
    assert_eq!(stock_of(&*store, &scarce.id).await, 1);
}

/// 20 concurrent one-unit orders of one user under a limit of 5 orders: exactly 5 are placed, 15
/// refused with `UnpaidOrders`, and the stock and the stored orders say the same.
pub async fn a_burst_stays_within_the_unpaid_orders_limit(store: Arc<dyn Store>) {
    burst(store, limit(5, 1000), 1, 5, HoldingLimit::UnpaidOrders).await;
}

/// 20 concurrent two-unit orders of one user under a limit of 9 units: exactly 4 are placed (8
/// units), 16 refused with `ReservedUnits`.
pub async fn a_burst_stays_within_the_reserved_units_limit(store: Arc<dyn Store>) {
    burst(store, limit(100, 9), 2, 4, HoldingLimit::ReservedUnits).await;
}

async fn burst(store: Arc<dyn Store>, limit: ReservationLimit, units: u32, fit: usize, refusal: HoldingLimit) {
    const TASKS: usize = 20;
    const STOCK: i64 = 1000;
    let teapot = insert(&*store, product(STOCK)).await;
    let buyer = unique_user();
    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = Arc::clone(&store);
            let placed = order(&buyer, &[(&teapot, units)], at(i as i64));
            tokio::spawn(async move {
                let result = store.place_order(&limited(placement(&placed), limit)).await;
                (placed, result)
            })
        })
        .collect();

    let (mut accepted, mut refused) = (Vec::new(), Vec::new());
    for handle in handles {
        let (placed, result) = handle.await.expect("the placing task panicked");
        match result {
            Ok(()) => accepted.push(placed),
            Err(StoreError::Conflict(Conflict::ReservationLimit(limit))) if limit == refusal => refused.push(placed),
            Err(other) => panic!("a concurrent place_order failed unexpectedly: {other:?}"),
        }
    }
    assert_eq!(
        accepted.len(),
        fit,
        "exactly {fit} of {TASKS} concurrent orders fit {limit:?}"
    );
    assert_eq!(
        stock_of(&*store, &teapot.id).await,
        STOCK - (fit as i64) * i64::from(units),
        "only the accepted orders reserved stock"
    );
    for placed in &accepted {
        assert_eq!(
            stored_order(&*store, &placed.id).await,
            *placed,
            "an accepted order is stored"
        );
    }
    for placed in &refused {
        assert_eq!(
            store.order(&placed.id).await.expect("order(refused id)"),
            None,
            "a refused order is not stored"
        );
    }

    // Cancelling one makes room for exactly one more.
    let cancelled = cancel(&*store, &accepted[0], at(100)).await;
    assert_eq!(cancelled.kind, OrderEventType::OrderCancelled);
    let (_, again) = place_under(&*store, limit, &buyer, &[(&teapot, units)], 101).await;
    again.expect("a cancelled order's share is free again");
    let (_, beyond) = place_under(&*store, limit, &buyer, &[(&teapot, units)], 102).await;
    assert_conflict(beyond, Conflict::ReservationLimit(refusal), "one more after refilling");
}
