//! `adjust_stock`: an admin's stock correction, bounded below by zero and above by the limit.

use crate::fixtures::{assert_conflict, at, delta, insert, product, product_id, stored_product};
use orderly_core::domain::{Product, Stock};
use orderly_core::ports::{Conflict, Store};
use std::sync::Arc;

/// A delta is added to (or taken from) the stock; the version stays, `updated_at` becomes `now`.
pub async fn adds_and_subtracts_without_touching_the_version(store: Arc<dyn Store>) {
    let original = insert(&*store, product(10)).await;

    let raised = store
        .adjust_stock(&original.id, delta(5), at(1_000))
        .await
        .expect("adjust_stock +5");
    assert_eq!(raised.stock.units(), 15, "10 + 5");
    assert_eq!(
        raised.version, original.version,
        "stock adjustments leave the version alone"
    );
    assert_eq!(
        stored_product(&*store, &original.id).await,
        raised,
        "the stored product after +5"
    );

    let lowered = store
        .adjust_stock(&original.id, delta(-12), at(2_000))
        .await
        .expect("adjust_stock -12");
    let expected = Product {
        stock: Stock::from_stored(3),
        updated_at: at(2_000),
        ..original.clone()
    };
    assert_eq!(lowered, expected, "15 - 12, nothing else changed but updated_at");
    assert_eq!(
        stored_product(&*store, &original.id).await,
        expected,
        "the stored product after -12"
    );
}

/// Going below zero is `InsufficientStock(id)` and changes nothing; reaching exactly zero is fine.
pub async fn below_zero_is_insufficient_stock(store: Arc<dyn Store>) {
    let original = insert(&*store, product(3)).await;

    assert_conflict(
        store.adjust_stock(&original.id, delta(-4), at(1_000)).await,
        Conflict::InsufficientStock(original.id.clone()),
        "adjust_stock -4 on 3 units",
    );
    assert_eq!(
        stored_product(&*store, &original.id).await,
        original,
        "a refused adjustment changes nothing"
    );

    let emptied = store
        .adjust_stock(&original.id, delta(-3), at(2_000))
        .await
        .expect("adjust_stock down to exactly zero");
    assert_eq!(emptied.stock.units(), 0);
    assert_conflict(
        store.adjust_stock(&original.id, delta(-1), at(3_000)).await,
        Conflict::InsufficientStock(original.id.clone()),
        "adjust_stock -1 on 0 units",
    );
    assert_eq!(
        stored_product(&*store, &original.id).await,
        emptied,
        "stock stays at zero"
    );
}

/// Going above 1,000,000 is `StockLimit` and changes nothing; reaching exactly the limit is fine.
pub async fn above_the_limit_is_refused(store: Arc<dyn Store>) {
    let original = insert(&*store, product(Stock::MAX - 10)).await;

    assert_conflict(
        store.adjust_stock(&original.id, delta(11), at(1_000)).await,
        Conflict::StockLimit,
        "adjust_stock to one above the limit",
    );
    assert_eq!(
        stored_product(&*store, &original.id).await,
        original,
        "a refused adjustment changes nothing"
    );

    let full = store
        .adjust_stock(&original.id, delta(10), at(2_000))
        .await
        .expect("adjust_stock to exactly the limit");
    assert_eq!(full.stock.units(), Stock::MAX);
    assert_conflict(
        store.adjust_stock(&original.id, delta(1), at(3_000)).await,
        Conflict::StockLimit,
        "adjust_stock +1 at the limit",
    );
    assert_conflict(
        store.adjust_stock(&original.id, delta(Stock::MAX), at(3_000)).await,
        Conflict::StockLimit,
        "adjust_stock by the largest delta at the limit",
    );
    assert_eq!(
        stored_product(&*store, &original.id).await,
        full,
        "stock stays at the limit"
    );
}

/// Adjusting an id that was never inserted is `NotFound`, whichever the direction.
pub async fn unknown_product_is_not_found(store: Arc<dyn Store>) {
    let missing = product_id();
    assert_conflict(
        store.adjust_stock(&missing, delta(1), at(1_000)).await,
        Conflict::NotFound,
        "adjust_stock +1 of an unknown id",
    );
    assert_conflict(
        store.adjust_stock(&missing, delta(-1), at(1_000)).await,
        Conflict::NotFound,
        "adjust_stock -1 of an unknown id",
    );
    let stored = store.product(&missing).await.expect("product(unknown id)");
    assert_eq!(stored, None, "adjusting an unknown id must not create it");
}

/// 40 concurrent +1 adjustments all land: no lost update.
pub async fn concurrent_adjustments_all_apply(store: Arc<dyn Store>) {
    const TASKS: i64 = 40;
    let original = insert(&*store, product(7)).await;

    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = Arc::clone(&store);
            let id = original.id.clone();
            tokio::spawn(async move { store.adjust_stock(&id, delta(1), at(1_000 + i)).await })
        })
        .collect();
    for handle in handles {
        let result = handle.await.expect("the adjusting task panicked");
        if let Err(e) = result {
            panic!("a concurrent adjust_stock +1 failed: {e:?}");
        }
    }

    let stored = stored_product(&*store, &original.id).await;
    assert_eq!(
        stored.stock.units(),
        7 + TASKS,
        "every one of {TASKS} concurrent +1 must apply"
    );
    assert_eq!(stored.version, original.version, "adjustments leave the version alone");
}
