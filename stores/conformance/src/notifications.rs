//! Notifications: one per order event (its id is the event's), stored once however often the
//! event arrives, and listed per user newest (highest id) first.

use crate::fixtures::{at, notification, unique_user};
use orderly_core::domain::{Notification, OrderEventType, UserId};
use orderly_core::ports::Store;
use std::sync::Arc;

async fn listed(store: &dyn Store, user: &UserId, before: Option<&str>, limit: usize) -> Vec<Notification> {
    store
        .notifications_of(user, before, limit)
        .await
        .unwrap_or_else(|e| panic!("notifications_of({user}, {before:?}, {limit}) failed: {e:?}"))
}

fn ids(notifications: &[Notification]) -> Vec<String> {
    notifications.iter().map(|n| n.id.clone()).collect()
}

/// The first insert of an id stores it (`true`); a second with the same id, whatever else it says,
/// stores nothing (`false`) and the first one stays as it was.
pub async fn inserted_once_per_id(store: Arc<dyn Store>) {
    let ada = unique_user();
    let first = notification(&ada, OrderEventType::OrderPaid, at(1_000));
    assert_eq!(
        listed(&*store, &ada, None, 10).await,
        [],
        "no notification before the first"
    );

    let stored = store
        .insert_notification(&first)
        .await
        .expect("the first insert_notification");
    assert!(stored, "the first insert of an id stores it");

    let redelivered = Notification {
        message: "Another text for the same event".into(),
        kind: OrderEventType::OrderCancelled,
        created_at: at(9_000),
        ..first.clone()
    };
    let stored = store
        .insert_notification(&redelivered)
        .await
        .expect("a second insert_notification with the same id");
    assert!(!stored, "a second insert of the same id stores nothing");
    let again = store
        .insert_notification(&first)
        .await
        .expect("a third insert_notification, identical to the first");
    assert!(!again, "an identical insert is refused as well");

    assert_eq!(
        listed(&*store, &ada, None, 10).await,
        std::slice::from_ref(&first),
        "the notification stored first is there once, unchanged"
    );

    let other = notification(&ada, OrderEventType::OrderExpired, at(2_000));
    assert!(
        store
            .insert_notification(&other)
            .await
            .expect("insert_notification of another id"),
        "another id is stored"
    );
    assert_eq!(listed(&*store, &ada, None, 10).await.len(), 2);
}

/// A user sees only their own notifications, newest (highest id) first; `limit` caps a page and
/// `before` starts strictly after (older than) an id.
pub async fn listed_per_user_newest_first_with_paging(store: Arc<dyn Store>) {
    let ada = unique_user();
    let bob = unique_user();
    let mut adas = Vec::new();
    let mut bobs = Vec::new();
    for i in 0..5 {
        let note = notification(&ada, OrderEventType::OrderPlaced, at(i * 1_000));
        assert!(store
            .insert_notification(&note)
            .await
            .expect("insert_notification(Ada)"));
        adas.push(note);
        if i < 3 {
            let note = notification(&bob, OrderEventType::OrderPaid, at(i * 1_000 + 500));
            assert!(store
                .insert_notification(&note)
                .await
                .expect("insert_notification(Bob)"));
            bobs.push(note);
        }
    }
    // Ids minted in one millisecond do not sort by minting order: the expected order is computed.
    adas.sort_by(|a, b| b.id.cmp(&a.id));
    bobs.sort_by(|a, b| b.id.cmp(&a.id));
    let newest_first = ids(&adas);

    assert_eq!(
        listed(&*store, &ada, None, 10).await,
        adas,
        "all of Ada's notifications, as stored, newest first"
    );
    assert_eq!(
        listed(&*store, &bob, None, 10).await,
        bobs,
        "Bob's notifications only, newest first"
    );
    assert_eq!(
        ids(&listed(&*store, &ada, None, 2).await),
        newest_first[..2],
        "limit 2 from the newest"
    );
    assert_eq!(
        ids(&listed(&*store, &ada, Some(&newest_first[1]), 2).await),
        newest_first[2..4],
        "limit 2 before the second newest"
    );
    assert_eq!(
        ids(&listed(&*store, &ada, Some(&newest_first[3]), 2).await),
        newest_first[4..],
        "the oldest alone, though the limit allows two"
    );
    assert_eq!(
        listed(&*store, &ada, Some(&newest_first[4]), 2).await,
        [],
        "nothing is older than the oldest"
    );
    assert_eq!(
        ids(&listed(&*store, &ada, Some(&newest_first[0]), 10).await),
        newest_first[1..],
        "before the newest: all the others"
    );
    let bob_newest = ids(&bobs);
    assert_eq!(
        ids(&listed(&*store, &bob, Some(&bob_newest[0]), 10).await),
        bob_newest[1..],
        "paging stays within Bob's notifications, though Ada's ids sort in between"
    );
    assert_eq!(
        listed(&*store, &unique_user(), None, 10).await,
        [],
        "a user without notifications has none"
    );
}
