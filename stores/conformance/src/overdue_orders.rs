//! `overdue_orders`: the pending orders due at or before a cutoff, earliest deadline first, read
//! for the expiry job.

use crate::fixtures::{
    at, cancel, expire, insert, offset, pay, place, product, stored_order, unique_user, ORDER_TTL_MS,
};
use orderly_core::domain::{Order, OrderId, Timestamp};
use orderly_core::ports::Store;
use std::sync::Arc;

async fn overdue(store: &dyn Store, cutoff: Timestamp, limit: usize) -> Vec<Order> {
    store
        .overdue_orders(cutoff, None, limit)
        .await
        .unwrap_or_else(|e| panic!("overdue_orders({cutoff}, {limit}) failed: {e:?}"))
}

fn ids(orders: &[Order]) -> Vec<OrderId> {
    orders.iter().map(|o| o.id.clone()).collect()
}

/// `orders` by deadline, then id: the order `overdue_orders` lists them in.
fn by_deadline(orders: &[&Order]) -> Vec<Order> {
    let mut sorted: Vec<Order> = orders.iter().map(|o| (*o).clone()).collect();
    sorted.sort_by(|a, b| (a.expires_at, &a.id).cmp(&(b.expires_at, &b.id)));
    sorted
}

/// Pending orders due at or before the cutoff are listed, as stored; one due exactly at the cutoff
/// is in, one due a millisecond later is out, and paid, cancelled and expired orders are out
/// whatever their deadline.
pub async fn includes_only_pending_orders_due_by_the_cutoff(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(100)).await;
    let buyer = unique_user();
    let mut placed = Vec::new();
    for created in [0, 1_000, 10_000, 10_001, 500, 600, 700] {
        placed.push(place(&*store, &buyer, &[(&teapot, 1)], at(created)).await);
    }
    let [early, flagged, exactly_due, one_ms_late, paid, cancelled, expired] =
        <[Order; 7]>::try_from(placed).expect("seven orders");
    let cutoff = exactly_due.expires_at;
    assert_eq!(cutoff, at(10_000 + ORDER_TTL_MS));
    assert_eq!(one_ms_late.expires_at, offset(cutoff, 1));

    pay(&*store, &paid, at(1_000)).await;
    cancel(&*store, &cancelled, at(1_000)).await;
    expire(&*store, &expired, expired.expires_at).await;
    // A payment that arrived too late flags the order but leaves it pending: it is still due.
    store
        .flag_refund_due(&flagged, &crate::fixtures::event_id(), flagged.expires_at)
        .await
        .expect("flag_refund_due of a past-due order");
    let flagged = stored_order(&*store, &flagged.id).await;

    let found = overdue(&*store, cutoff, 100).await;
    assert_eq!(
        ids(&found),
        ids(&by_deadline(&[&early, &flagged, &exactly_due])),
        "pending orders due by the cutoff (one exactly at it), earliest first; not the one due 1 ms \
         later, nor the paid, cancelled or expired ones"
    );
    assert_eq!(
        found,
        by_deadline(&[&early, &flagged, &exactly_due]),
        "overdue_orders returns the stored orders"
    );

    assert_eq!(
        ids(&overdue(&*store, offset(cutoff, 1), 100).await),
        ids(&by_deadline(&[&early, &flagged, &exactly_due, &one_ms_late])),
        "a millisecond later, the last order is due too"
    );
    assert_eq!(
        ids(&overdue(&*store, offset(cutoff, -1), 100).await),
        ids(&by_deadline(&[&early, &flagged])),
        "a millisecond earlier, the order due at the cutoff is not"
    );
    assert_eq!(
        overdue(&*store, offset(early.expires_at, -1), 100).await,
        [],
        "nothing is due before the earliest deadline"
    );
}

/// Earliest deadline first, ties by id, and never more than `limit`.
pub async fn earliest_deadline_first_and_limited(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(100)).await;
    let mut placed = Vec::new();
    // Created out of deadline order, by several users, with three sharing one deadline.
    for created in [5_000, 1_000, 3_000, 3_000, 3_000, 2_000, 4_000] {
        placed.push(place(&*store, &unique_user(), &[(&teapot, 1)], at(created)).await);
    }
    let cutoff = at(10_000 + ORDER_TTL_MS);
    let expected = by_deadline(&placed.iter().collect::<Vec<_>>());

    let all = overdue(&*store, cutoff, 100).await;
    assert_eq!(
        ids(&all),
        ids(&expected),
        "by deadline, and by id among the three due at the same instant"
    );
    for limit in [1, 3, 4] {
        assert_eq!(
            ids(&overdue(&*store, cutoff, limit).await),
            ids(&expected[..limit]),
            "limit {limit}: the {limit} earliest"
        );
    }
    assert_eq!(
        ids(&overdue(&*store, cutoff, 7).await),
        ids(&expected),
        "a limit equal to the count lists them all"
    );
}

/// Listing after an order continues from its place (deadline, then id): the expiry sweep pages on
/// past orders it could not expire. The place holds even once that order has left the index.
pub async fn continues_after_a_given_order(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(100)).await;
    let mut placed = Vec::new();
    // Three share one deadline, so the id decides among them.
    for created in [4_000, 1_000, 3_000, 3_000, 3_000, 2_000] {
        placed.push(place(&*store, &unique_user(), &[(&teapot, 1)], at(created)).await);
    }
    let cutoff = at(10_000 + ORDER_TTL_MS);
    let expected = by_deadline(&placed.iter().collect::<Vec<_>>());

    for (k, after) in expected.iter().enumerate() {
        let rest = &expected[k + 1..];
        assert_eq!(
            ids(&store
                .overdue_orders(cutoff, Some(after), 100)
                .await
                .expect("overdue_orders after")),
            ids(rest),
            "after the order at place {k}: the ones behind it"
        );
        assert_eq!(
            ids(&store
                .overdue_orders(cutoff, Some(after), 2)
                .await
                .expect("overdue_orders after")),
            ids(&rest[..rest.len().min(2)]),
            "after the order at place {k}, limited to 2"
        );
    }

    // The second of the three sharing a deadline leaves the index; its place still holds.
    let gone = &expected[2];
    pay(&*store, gone, at(5_000)).await;
    assert_eq!(
        ids(&store
            .overdue_orders(cutoff, Some(gone), 100)
            .await
            .expect("overdue_orders after")),
        ids(&expected[3..]),
        "after a paid order's place: the pending ones behind it"
    );
    assert_eq!(
        ids(&store
            .overdue_orders(offset(expected[3].expires_at, -1), Some(&expected[1]), 100)
            .await
            .expect("overdue_orders after")),
        [],
        "the cutoff still bounds the list"
    );
}
