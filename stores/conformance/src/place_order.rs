//! `place_order`: every line's reservation, the order, its event and the idempotency record, all
//! or nothing.

use crate::fixtures::{
    assert_conflict, at, idempotency_key, idempotency_record, inactive_product, insert, keyed_placement, order,
    placement, product, stock_of, stored_order, stored_product, unique_user,
};
use orderly_core::domain::{OrderStatus, Product};
use orderly_core::ports::{Conflict, OrderPlacement, Store, StoreError};
use std::sync::Arc;

/// Each line's quantity is taken from its product's stock (nothing else about the product
/// changes) and the order reads back exactly as placed; an unknown order id reads as `None`.
pub async fn reserves_every_line_and_stores_the_order(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(10)).await;
    let cups = insert(&*store, product(5)).await;
    let buyer = unique_user();
    let placed = order(&buyer, &[(&teapot, 3), (&cups, 5)], at(1_000));

    store
        .place_order(&placement(&placed))
        .await
        .expect("place_order with enough stock");

    assert_eq!(
        stored_product(&*store, &teapot.id).await,
        Product {
            stock: orderly_core::domain::Stock::from_stored(7),
            ..teapot.clone()
        },
        "the first line's 3 units are reserved and nothing else about the product changes"
    );
    assert_eq!(
        stock_of(&*store, &cups.id).await,
        0,
        "the second line's 5 units are reserved"
    );

    let stored = stored_order(&*store, &placed.id).await;
    assert_eq!(stored, placed, "order(id) returns the order as placed");
    assert_eq!(stored.status, OrderStatus::PendingPayment);
    assert_eq!(stored.lines.len(), 2, "both lines, in order");
    assert_eq!(stored.total_cents, placed.total_cents);
    assert_eq!(
        (
            stored.created_at,
            stored.updated_at,
            stored.expires_at,
            stored.paid_at,
            stored.refund_due
        ),
        (placed.created_at, placed.updated_at, placed.expires_at, None, false),
        "timestamps and flags as placed"
    );

    let missing = store
        .order(&crate::fixtures::order_id())
        .await
        .expect("order(unknown id)");
    assert_eq!(missing, None, "an order never placed reads as None");
}

/// When the second line is short, the order is refused with `InsufficientStock(second)`, the
/// first line's reservation is undone, and neither the order nor its idempotency record is stored
/// (so the key can still be used).
pub async fn is_all_or_nothing(store: Arc<dyn Store>) {
    let plenty = insert(&*store, product(10)).await;
    let scarce = insert(&*store, product(1)).await;
    let buyer = unique_user();
    let refused = order(&buyer, &[(&plenty, 3), (&scarce, 2)], at(1_000));

    assert_conflict(
        store.place_order(&keyed_placement(&refused, "key-1", "fp-1")).await,
        Conflict::InsufficientStock(scarce.id.clone()),
        "place_order whose second line is short",
    );
    assert_eq!(
        stock_of(&*store, &plenty.id).await,
        10,
        "the first line's stock must be untouched"
    );
    assert_eq!(
        stock_of(&*store, &scarce.id).await,
        1,
        "the short line's stock must be untouched"
    );
    assert_eq!(
        store.order(&refused.id).await.expect("order(refused id)"),
        None,
        "a refused order must not be stored"
    );
    let listed = store.orders_of(&buyer, None, 10).await.expect("orders_of(buyer)");
    assert!(listed.is_empty(), "a refused order must not be listed: {listed:?}");
    let record = store
        .idempotency_record(&buyer, &idempotency_key("key-1"))
        .await
        .expect("idempotency_record after a refusal");
    assert_eq!(record, None, "a refused order must not record its idempotency key");

    let accepted = order(&buyer, &[(&plenty, 3), (&scarce, 1)], at(2_000));
    store
        .place_order(&keyed_placement(&accepted, "key-1", "fp-2"))
        .await
        .expect("the key of a refused order is still free");
    assert_eq!(stock_of(&*store, &plenty.id).await, 7);
    assert_eq!(stock_of(&*store, &scarce.id).await, 0);
}

/// A line for an inactive or unknown product is `ProductUnavailable(that id)`, and nothing of the
/// order is written.
pub async fn inactive_or_missing_product_is_unavailable(store: Arc<dyn Store>) {
    let available = insert(&*store, product(10)).await;
    let retired = insert(&*store, inactive_product(10)).await;
    let never_inserted = product(10);
    let buyer = unique_user();

    let with_retired = order(&buyer, &[(&available, 2), (&retired, 1)], at(1_000));
    assert_conflict(
        store.place_order(&placement(&with_retired)).await,
        Conflict::ProductUnavailable(retired.id.clone()),
        "place_order with an inactive product",
    );
    let with_missing = order(&buyer, &[(&available, 2), (&never_inserted, 1)], at(2_000));
    assert_conflict(
        store.place_order(&placement(&with_missing)).await,
        Conflict::ProductUnavailable(never_inserted.id.clone()),
        "place_order with an unknown product",
    );
    let only_retired = order(&buyer, &[(&retired, 1)], at(3_000));
    assert_conflict(
        store.place_order(&placement(&only_retired)).await,
        Conflict::ProductUnavailable(retired.id.clone()),
        "place_order of only an inactive product",
    );

    assert_eq!(
        stock_of(&*store, &available.id).await,
        10,
        "the available line's stock must be untouched"
    );
    assert_eq!(
        stored_product(&*store, &retired.id).await,
        retired,
        "the inactive product must be untouched"
    );
    assert_eq!(
        store.product(&never_inserted.id).await.expect("product(unknown id)"),
        None,
        "the unknown product must not be created"
    );
    for refused in [&with_retired, &with_missing, &only_retired] {
        assert_eq!(
            store.order(&refused.id).await.expect("order(refused id)"),
            None,
            "a refused order must not be stored"
        );
    }
}

/// A second order under the same (user, key) is `IdempotencyKeyTaken`, carrying the first
/// placement's record: stock is reserved once, only the first order exists.
pub async fn idempotency_key_is_taken_once(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(10)).await;
    let buyer = unique_user();
    let first = order(&buyer, &[(&teapot, 2)], at(1_000));
    let first_placement = keyed_placement(&first, "retry-me", "fingerprint-a");

    store
        .place_order(&first_placement)
        .await
        .expect("the first keyed placement");
    let retry = order(&buyer, &[(&teapot, 2)], at(2_000));
    assert_conflict(
        store
            .place_order(&keyed_placement(&retry, "retry-me", "fingerprint-a"))
            .await,
        taken(&first_placement),
        "place_order with a recorded (user, key)",
    );
    let other_body = order(&buyer, &[(&teapot, 1)], at(3_000));
    assert_conflict(
        store
            .place_order(&keyed_placement(&other_body, "retry-me", "fingerprint-b"))
            .await,
        taken(&first_placement),
        "place_order with a recorded (user, key) and another body",
    );

    assert_eq!(
        stock_of(&*store, &teapot.id).await,
        8,
        "stock must be reserved only once"
    );
    assert_eq!(
        stored_order(&*store, &first.id).await,
        first,
        "the first order is stored"
    );
    for refused in [&retry, &other_body] {
        assert_eq!(
            store.order(&refused.id).await.expect("order(refused id)"),
            None,
            "an order refused for its key must not be stored"
        );
    }
    let listed = store.orders_of(&buyer, None, 10).await.expect("orders_of(buyer)");
    assert_eq!(listed, vec![first.clone()], "only the first order exists");

    let record = store
        .idempotency_record(&buyer, &idempotency_key("retry-me"))
        .await
        .expect("idempotency_record")
        .expect("the first placement's idempotency record must be stored");
    let expected = idempotency_record(&first, "retry-me", "fingerprint-a");
    assert_eq!(record, expected, "the stored record is the first placement's");
    assert_eq!(record.fingerprint, "fingerprint-a");
    assert_eq!(record.status, 201);
    assert_eq!(record.location, format!("/v1/orders/{}", first.id));
    assert!(
        record.body.contains(first.id.as_str()),
        "the stored body is the first answer"
    );
}

/// The same key used by two users names two independent records; unknown keys read as `None`.
pub async fn idempotency_keys_are_per_user(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(10)).await;
    let ada = unique_user();
    let bob = unique_user();
    let adas = order(&ada, &[(&teapot, 1)], at(1_000));
    let bobs = order(&bob, &[(&teapot, 2)], at(2_000));

    store
        .place_order(&keyed_placement(&adas, "shared-key", "fp-ada"))
        .await
        .expect("Ada's keyed placement");
    store
        .place_order(&keyed_placement(&bobs, "shared-key", "fp-bob"))
        .await
        .expect("Bob's placement with the key Ada used must be independent");

    assert_eq!(
        stock_of(&*store, &teapot.id).await,
        7,
        "both orders reserved their stock"
    );
    let key = idempotency_key("shared-key");
    assert_eq!(
        store.idempotency_record(&ada, &key).await.expect("Ada's record"),
        Some(idempotency_record(&adas, "shared-key", "fp-ada")),
        "Ada's record"
    );
    assert_eq!(
        store.idempotency_record(&bob, &key).await.expect("Bob's record"),
        Some(idempotency_record(&bobs, "shared-key", "fp-bob")),
        "Bob's record"
    );
    assert_eq!(
        store
            .idempotency_record(&ada, &idempotency_key("never-used"))
            .await
            .expect("an unknown key"),
        None,
        "a key never used reads as None"
    );
    assert_eq!(
        store
            .idempotency_record(&unique_user(), &key)
            .await
            .expect("a user who never used the key"),
        None,
        "another user's key is not this user's"
    );
}

/// 60 concurrent one-unit orders on a stock of 20: exactly 20 succeed, 40 are
/// `InsufficientStock`, the stock ends at zero and exactly the 20 accepted orders exist.
pub async fn concurrent_placements_never_oversell(store: Arc<dyn Store>) {
    const STOCK: usize = 20;
    const TASKS: usize = 60;
    let teapot = insert(&*store, product(STOCK as i64)).await;
    let buyer = unique_user();

    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = Arc::clone(&store);
            let placed = order(&buyer, &[(&teapot, 1)], at(i as i64));
            tokio::spawn(async move {
                let result = store.place_order(&placement(&placed)).await;
                (placed, result)
            })
        })
        .collect();

    let mut accepted = Vec::new();
    let mut short = 0;
    for handle in handles {
        let (placed, result) = handle.await.expect("the placing task panicked");
        match result {
            Ok(()) => accepted.push(placed),
            Err(StoreError::Conflict(Conflict::InsufficientStock(id))) if id == teapot.id => short += 1,
            Err(other) => panic!("a concurrent place_order failed unexpectedly: {other:?}"),
        }
    }

    assert_eq!(
        accepted.len(),
        STOCK,
        "exactly {STOCK} of {TASKS} one-unit orders fit a stock of {STOCK}"
    );
    assert_eq!(short, TASKS - STOCK, "every other order is InsufficientStock");
    assert_eq!(stock_of(&*store, &teapot.id).await, 0, "the stock ends at exactly zero");
    for placed in &accepted {
        assert_eq!(
            stored_order(&*store, &placed.id).await,
            *placed,
            "every accepted order is stored"
        );
    }
    let listed = store.orders_of(&buyer, None, TASKS).await.expect("orders_of(buyer)");
    assert_eq!(listed.len(), STOCK, "only accepted orders are stored");
}

/// The conflict a placement under `winner`'s key meets: it carries the winner's record.
fn taken(winner: &OrderPlacement) -> Conflict {
    match &winner.idempotency {
        Some(record) => Conflict::IdempotencyKeyTaken(Box::new(record.clone())),
        None => panic!("the winner has no key"),
    }
}
