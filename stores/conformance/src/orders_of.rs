//! `orders_of`: a user's orders, newest (highest id) first, paged with `before` and `limit`.

use crate::fixtures::{at, insert, place, product, unique_user};
use orderly_core::domain::{Order, OrderId};
use orderly_core::ports::Store;
use std::sync::Arc;

fn ids(orders: &[Order]) -> Vec<OrderId> {
    orders.iter().map(|o| o.id.clone()).collect()
}

/// Newest first by id; `limit` caps a page; `before` starts strictly after (older than) an id.
pub async fn newest_first_with_paging(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(100)).await;
    let buyer = unique_user();
    let mut placed = Vec::new();
    for i in 0..5 {
        placed.push(place(&*store, &buyer, &[(&teapot, 1)], at(i * 1_000)).await);
    }
    placed.sort_by(|a, b| b.id.cmp(&a.id));
    let newest_first = ids(&placed);

    let all = store.orders_of(&buyer, None, 10).await.expect("orders_of(None, 10)");
    assert_eq!(
        ids(&all),
        newest_first,
        "every order of the user, newest (highest id) first"
    );
    assert_eq!(all, placed, "orders_of returns the stored orders");

    let first = store.orders_of(&buyer, None, 2).await.expect("first page");
    assert_eq!(ids(&first), newest_first[..2], "limit 2 from the newest");
    let second = store
        .orders_of(&buyer, Some(&newest_first[1]), 2)
        .await
        .expect("second page");
    assert_eq!(ids(&second), newest_first[2..4], "limit 2 before the second newest");
    let last = store
        .orders_of(&buyer, Some(&newest_first[3]), 2)
        .await
        .expect("last page");
    assert_eq!(
        ids(&last),
        newest_first[4..],
        "the oldest alone, though the limit allows two"
    );
    let past_end = store
        .orders_of(&buyer, Some(&newest_first[4]), 2)
        .await
        .expect("before the oldest");
    assert!(past_end.is_empty(), "nothing is older than the oldest: {past_end:?}");
    let one = store.orders_of(&buyer, None, 1).await.expect("limit 1");
    assert_eq!(ids(&one), newest_first[..1], "limit 1 is the newest alone");
}

/// A user sees only their own orders, even when another user's ids sort in between.
pub async fn only_the_users_own_orders(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(100)).await;
    let ada = unique_user();
    let bob = unique_user();
    let mut adas = Vec::new();
    let mut bobs = Vec::new();
    for i in 0..4 {
        adas.push(place(&*store, &ada, &[(&teapot, 1)], at(i * 1_000)).await);
        bobs.push(place(&*store, &bob, &[(&teapot, 2)], at(i * 1_000 + 500)).await);
    }
    let newest_first = |orders: &[Order]| {
        let mut ids = ids(orders);
        ids.sort_by(|a, b| b.cmp(a));
        ids
    };

    let listed = store.orders_of(&ada, None, 100).await.expect("orders_of(Ada)");
    assert_eq!(ids(&listed), newest_first(&adas), "Ada's orders only, newest first");
    let listed = store.orders_of(&bob, None, 100).await.expect("orders_of(Bob)");
    assert_eq!(ids(&listed), newest_first(&bobs), "Bob's orders only, newest first");
    let bob_newest = newest_first(&bobs);
    let page = store
        .orders_of(&bob, Some(&bob_newest[0]), 2)
        .await
        .expect("Bob's second page");
    assert_eq!(ids(&page), bob_newest[1..3], "paging stays within Bob's orders");

    let nobody = store
        .orders_of(&unique_user(), None, 100)
        .await
        .expect("orders_of(stranger)");
    assert!(nobody.is_empty(), "a user without orders has none: {nobody:?}");
}
