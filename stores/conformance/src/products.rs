//! The catalog's reads and inserts: `insert_product`, `product`, `products`, `active_products`.

use crate::fixtures::{assert_conflict, at, inactive_product, insert, product, product_id, sorted, stored_product};
use orderly_core::domain::{Product, ProductChange, ProductId};
use orderly_core::ports::{Conflict, Store};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A product reads back exactly as inserted; an id never inserted reads as `None`.
pub async fn insert_then_get_round_trips(store: Arc<dyn Store>) {
    let teapot = insert(&*store, product(12)).await;
    let bare = insert(
        &*store,
        Product {
            description: None,
            ..product(0)
        },
    )
    .await;

    assert_eq!(
        stored_product(&*store, &teapot.id).await,
        teapot,
        "product(id) after insert"
    );
    assert_eq!(
        stored_product(&*store, &bare.id).await,
        bare,
        "product without description"
    );
    let missing = store.product(&product_id()).await.expect("product(unknown id)");
    assert_eq!(missing, None, "an id never inserted must read as None");
}

/// A second product with a taken SKU is refused with `SkuTaken`; the first stays as it was and
/// the second is not stored.
pub async fn duplicate_sku_is_refused(store: Arc<dyn Store>) {
    let first = insert(&*store, product(5)).await;
    let second = Product {
        sku: first.sku.clone(),
        ..inactive_product(99)
    };

    assert_conflict(
        store.insert_product(&second).await,
        Conflict::SkuTaken,
        "insert_product with a taken SKU",
    );
    assert_eq!(
        stored_product(&*store, &first.id).await,
        first,
        "the SKU's owner must be unchanged"
    );
    let stored_second = store.product(&second.id).await.expect("product(refused id)");
    assert_eq!(stored_second, None, "the refused product must not be stored");
}

/// `products(ids)` returns exactly the products that exist among `ids`, each once.
pub async fn products_returns_the_existing_subset(store: Arc<dyn Store>) {
    let a = insert(&*store, product(1)).await;
    let b = insert(&*store, inactive_product(2)).await;
    let c = insert(&*store, product(3)).await;
    let unknown = product_id();

    let found = store
        .products(&[c.id.clone(), unknown.clone(), b.id.clone()])
        .await
        .expect("products(ids)");
    assert_eq!(
        found.len(),
        2,
        "products(ids) must return one product per existing id: {found:?}"
    );
    let found_ids: BTreeSet<ProductId> = found.iter().map(|p| p.id.clone()).collect();
    assert_eq!(
        found_ids,
        BTreeSet::from([b.id.clone(), c.id.clone()]),
        "products(ids) must return exactly the existing subset, inactive ones included"
    );
    for p in &found {
        let expected = if p.id == b.id { &b } else { &c };
        assert_eq!(p, expected, "products(ids) must return the stored products");
    }
    assert!(
        !found.iter().any(|p| p.id == a.id),
        "a product not asked for must not be returned"
    );

    let none = store.products(&[unknown]).await.expect("products(unknown ids)");
    assert!(none.is_empty(), "no existing id, no product: {none:?}");
    let empty = store.products(&[]).await.expect("products(&[])");
    assert!(empty.is_empty(), "no ids, no products: {empty:?}");
}

/// `active_products` lists active products in id order, after the cursor, at most `limit`, and
/// never an inactive one (inserted inactive or deactivated later).
pub async fn active_products_pages_in_id_order(store: Arc<dyn Store>) {
    let mut active = Vec::new();
    for units in 0..6 {
        active.push(insert(&*store, product(units)).await);
    }
    let inactive = insert(&*store, inactive_product(10)).await;
    let deactivated = insert(&*store, product(10)).await;
    let change = ProductChange {
        active: Some(false),
        ..ProductChange::default()
    };
    store
        .update_product(&deactivated.id, &change, None, at(1_000))
        .await
        .expect("deactivating a product");

    let expected = sorted(&active.iter().map(|p| p.id.clone()).collect::<Vec<_>>());
    let ids = |products: &[Product]| products.iter().map(|p| p.id.clone()).collect::<Vec<_>>();

    let all = store
        .active_products(None, 100)
        .await
        .expect("active_products(None, 100)");
    assert_eq!(
        ids(&all),
        expected,
        "every active product, in id order, and no inactive one"
    );
    for p in &all {
        let inserted = active
            .iter()
            .find(|a| a.id == p.id)
            .expect("listed products were inserted");
        assert_eq!(p, inserted, "active_products must return the stored products");
    }
    assert!(
        !all.iter().any(|p| p.id == inactive.id || p.id == deactivated.id),
        "inactive products must be excluded"
    );

    let first = store.active_products(None, 2).await.expect("first page");
    assert_eq!(ids(&first), expected[..2], "limit 2 from the start");
    let second = store.active_products(Some(&expected[1]), 2).await.expect("second page");
    assert_eq!(ids(&second), expected[2..4], "limit 2 after the second id");
    let rest = store.active_products(Some(&expected[3]), 10).await.expect("last page");
    assert_eq!(ids(&rest), expected[4..], "the rest after the fourth id");
    let past_end = store
        .active_products(Some(&expected[5]), 10)
        .await
        .expect("past the end");
    assert!(past_end.is_empty(), "nothing after the last active id: {past_end:?}");
    let one = store.active_products(Some(&expected[0]), 1).await.expect("limit 1");
    assert_eq!(ids(&one), expected[1..2], "limit 1 after the first id");
}
