//! `update_product`: PATCH semantics, the version as an ETag.

use crate::fixtures::{assert_conflict, at, description, insert, name, price, product, product_id, stored_product};
use orderly_core::domain::{Product, ProductChange};
use orderly_core::ports::{Conflict, Store};
use std::sync::Arc;

/// Every field of the change is applied, the rest is kept, the version goes up by exactly one and
/// `updated_at` becomes `now`; the stored product equals the returned one.
pub async fn applies_the_change_and_bumps_the_version(store: Arc<dyn Store>) {
    let original = insert(&*store, product(7)).await;
    let change = ProductChange {
        name: Some(name("Renamed teapot")),
        description: Some(Some(description("Now with a lid."))),
        price: Some(price(4_200)),
        active: Some(false),
    };

    let updated = store
        .update_product(&original.id, &change, Some(original.version), at(5_000))
        .await
        .expect("update_product with the current version");
    let expected = Product {
        name: name("Renamed teapot"),
        description: Some(description("Now with a lid.")),
        price: price(4_200),
        active: false,
        version: original.version + 1,
        updated_at: at(5_000),
        ..original.clone()
    };
    assert_eq!(updated, expected, "the returned product");
    assert_eq!(
        stored_product(&*store, &original.id).await,
        expected,
        "the stored product"
    );

    let rename = ProductChange {
        name: Some(name("Teapot, third of its name")),
        ..ProductChange::default()
    };
    let again = store
        .update_product(&original.id, &rename, None, at(6_000))
        .await
        .expect("update_product without a version");
    assert_eq!(
        again.version,
        original.version + 2,
        "each update bumps the version by one"
    );
    assert_eq!(again.price, price(4_200), "fields the change leaves out are kept");
    assert_eq!(again.stock, original.stock, "an update never touches stock");
    assert_eq!(stored_product(&*store, &original.id).await, again, "the stored product");
}

/// A wrong `expected_version` is refused with `VersionMismatch` and changes nothing.
pub async fn wrong_expected_version_changes_nothing(store: Arc<dyn Store>) {
    let original = insert(&*store, product(7)).await;
    let change = ProductChange {
        price: Some(price(1)),
        ..ProductChange::default()
    };

    for stale in [0, original.version + 1, original.version + 100] {
        assert_conflict(
            store
                .update_product(&original.id, &change, Some(stale), at(1_000))
                .await,
            Conflict::VersionMismatch,
            &format!(
                "update_product expecting version {stale} of a version-{} product",
                original.version
            ),
        );
        assert_eq!(
            stored_product(&*store, &original.id).await,
            original,
            "a refused update changes nothing"
        );
    }

    let updated = store
        .update_product(&original.id, &change, Some(original.version), at(2_000))
        .await
        .expect("update_product with the right version");
    assert_eq!(updated.version, original.version + 1);
    assert_conflict(
        store
            .update_product(&original.id, &change, Some(original.version), at(3_000))
            .await,
        Conflict::VersionMismatch,
        "update_product expecting the version before the last update",
    );
    assert_eq!(
        stored_product(&*store, &original.id).await,
        updated,
        "a refused update changes nothing"
    );
}

/// Updating an id that was never inserted is `NotFound`, and creates nothing.
pub async fn unknown_product_is_not_found(store: Arc<dyn Store>) {
    let missing = product_id();
    let change = ProductChange {
        name: Some(name("Ghost")),
        ..ProductChange::default()
    };
    assert_conflict(
        store.update_product(&missing, &change, None, at(1_000)).await,
        Conflict::NotFound,
        "update_product of an unknown id",
    );
    assert_conflict(
        store.update_product(&missing, &change, Some(1), at(1_000)).await,
        Conflict::NotFound,
        "update_product of an unknown id with a version",
    );
    let stored = store.product(&missing).await.expect("product(unknown id)");
    assert_eq!(stored, None, "updating an unknown id must not create it");
}

/// `description: Some(None)` clears the description; `description: None` leaves it alone.
pub async fn some_none_description_clears_it(store: Arc<dyn Store>) {
    let original = insert(&*store, product(1)).await;
    assert!(original.description.is_some(), "the fixture has a description");

    let keep = ProductChange {
        price: Some(price(999)),
        ..ProductChange::default()
    };
    let kept = store
        .update_product(&original.id, &keep, None, at(1_000))
        .await
        .expect("update leaving the description out");
    assert_eq!(kept.description, original.description, "description: None keeps it");

    let clear = ProductChange {
        description: Some(None),
        ..ProductChange::default()
    };
    let cleared = store
        .update_product(&original.id, &clear, None, at(2_000))
        .await
        .expect("update clearing the description");
    assert_eq!(cleared.description, None, "description: Some(None) clears it");
    assert_eq!(cleared.price, price(999), "other fields are kept");
    let stored = stored_product(&*store, &original.id).await;
    assert_eq!(
        stored.description, None,
        "the cleared description must be stored cleared"
    );
    assert_eq!(stored, cleared, "the stored product equals the returned one");
}
