//! The outbox of a polled store (`OutboxStore`): every event a state change wrote stays
//! unpublished, oldest first, until the relay marks it published. Run with
//! [`outbox_conformance_tests!`](crate::outbox_conformance_tests) by the stores that have one.

use crate::fixtures::{
    assert_conflict, at, cancel, event, event_id, expire, insert, pay, place_with_event, product, sorted, unique_user,
};
use orderly_core::domain::{OrderEvent, OrderEventType};
use orderly_core::ports::{Conflict, OutboxStore, Store};
use std::sync::Arc;

async fn unpublished(outbox: &dyn OutboxStore, limit: usize) -> Vec<OrderEvent> {
    outbox
        .unpublished_events(limit)
        .await
        .unwrap_or_else(|e| panic!("unpublished_events({limit}) failed: {e:?}"))
}

async fn mark(outbox: &dyn OutboxStore, ids: &[&String]) {
    let ids: Vec<String> = ids.iter().map(|id| (*id).clone()).collect();
    outbox
        .mark_published(&ids, at(60_000))
        .await
        .unwrap_or_else(|e| panic!("mark_published({ids:?}) failed: {e:?}"));
}

fn ids(events: &[OrderEvent]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

/// `events` in id order: the order they happened in, and the outbox's.
fn oldest_first(events: &[&OrderEvent]) -> Vec<OrderEvent> {
    let mut sorted: Vec<OrderEvent> = events.iter().map(|e| (*e).clone()).collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    sorted
}

/// Four orders placed, then one paid, one cancelled and one expired: all seven events are
/// unpublished, as written, oldest first; a refused write adds none.
pub async fn state_changes_leave_their_events_unpublished(store: Arc<dyn Store>, outbox: Arc<dyn OutboxStore>) {
    assert_eq!(unpublished(&*outbox, 10).await, [], "a new store has no events");
    let teapot = insert(&*store, product(100)).await;
    let buyer = unique_user();
    let (to_pay, placed_1) = place_with_event(&*store, &buyer, &[(&teapot, 1)], at(0)).await;
    let (to_cancel, placed_2) = place_with_event(&*store, &buyer, &[(&teapot, 2)], at(0)).await;
    let (to_expire, placed_3) = place_with_event(&*store, &buyer, &[(&teapot, 3)], at(0)).await;
    let (_pending, placed_4) = place_with_event(&*store, &unique_user(), &[(&teapot, 4)], at(0)).await;
    let paid = pay(&*store, &to_pay, at(1_000)).await;
    let cancelled = cancel(&*store, &to_cancel, at(2_000)).await;
    let expired = expire(&*store, &to_expire, to_expire.expires_at).await;

    let refused = event(&to_pay, OrderEventType::OrderCancelled, at(3_000));
    assert_conflict(
        store.cancel_order(&to_pay, at(3_000), &refused).await,
        Conflict::OrderClosed,
        "cancel_order of the paid order",
    );

    let expected = oldest_first(&[&placed_1, &placed_2, &placed_3, &placed_4, &paid, &cancelled, &expired]);
    assert_eq!(
        unpublished(&*outbox, 100).await,
        expected,
        "every event written, as written, oldest (lowest id) first; none for the refused cancel"
    );
    assert_eq!(
        unpublished(&*outbox, 100).await,
        expected,
        "reading the outbox publishes nothing"
    );
}

/// `mark_published` takes exactly the given events out of the outbox; unknown ids and events
/// already published are ignored; `limit` caps what is read.
pub async fn mark_published_removes_exactly_the_given_ids(store: Arc<dyn Store>, outbox: Arc<dyn OutboxStore>) {
    let teapot = insert(&*store, product(100)).await;
    let mut events = Vec::new();
    for i in 0..6 {
        events.push(
            place_with_event(&*store, &unique_user(), &[(&teapot, 1)], at(i * 1_000))
                .await
                .1,
        );
    }
    let all = oldest_first(&events.iter().collect::<Vec<_>>());
    assert_eq!(ids(&unpublished(&*outbox, 100).await), ids(&all));
    assert_eq!(unpublished(&*outbox, 2).await, all[..2], "limit 2: the two oldest");
    assert_eq!(unpublished(&*outbox, 0).await, [], "limit 0: none");

    let unknown = event_id();
    mark(&*outbox, &[&all[1].id, &all[3].id, &unknown]).await;
    let left = [&all[0], &all[2], &all[4], &all[5]];
    assert_eq!(
        unpublished(&*outbox, 100).await,
        oldest_first(&left),
        "exactly the two marked events left the outbox; the unknown id changed nothing"
    );
    assert_eq!(
        ids(&unpublished(&*outbox, 2).await),
        [all[0].id.clone(), all[2].id.clone()],
        "limit 2 after marking: the two oldest still unpublished"
    );

    mark(&*outbox, &[]).await;
    mark(&*outbox, &[&all[1].id, &all[0].id]).await;
    assert_eq!(
        ids(&unpublished(&*outbox, 100).await),
        sorted(&[all[2].id.clone(), all[4].id.clone(), all[5].id.clone()]),
        "marking nothing changes nothing; marking a published event again is harmless"
    );

    mark(&*outbox, &[&all[2].id, &all[4].id, &all[5].id]).await;
    assert_eq!(unpublished(&*outbox, 100).await, [], "all published");
    let (_, newer) = place_with_event(&*store, &unique_user(), &[(&teapot, 1)], at(9_000)).await;
    assert_eq!(
        unpublished(&*outbox, 100).await,
        [newer],
        "a new event after everything was published"
    );
}
