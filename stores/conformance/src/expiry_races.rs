//! The expiry job racing the buyer: at the deadline's edge a payment and a cancel (a millisecond
//! before it) and an expiry (at it) may all be sent at once. Each alone would succeed; together,
//! exactly one does, the stored order says which, and stock comes back only for a cancelled or
//! expired order, once.

use crate::fixtures::{
    event, event_id, insert, offset, place, product, stock_of, stored_order, unique_user, ORDER_TTL_MS, T0,
};
use orderly_core::domain::{Order, OrderEventType, OrderStatus, ProductId, Timestamp};
use orderly_core::ports::{Conflict, Store, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Barrier;

const TRIALS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Pay,
    Cancel,
    Expire,
}

impl Action {
    /// The status the order is left in by this action winning.
    fn status(self) -> OrderStatus {
        match self {
            Action::Pay => OrderStatus::Paid,
            Action::Cancel => OrderStatus::Cancelled,
            Action::Expire => OrderStatus::Expired,
        }
    }
}

/// Runs `action` on `order` once all of the race's runners are at the start line. The payment and
/// the cancel come a millisecond before the deadline, the expiry exactly at it.
async fn run(store: Arc<dyn Store>, order: Order, action: Action, start: Arc<Barrier>) -> Result<(), StoreError> {
    let before_deadline = offset(order.expires_at, -1);
    start.wait().await;
    match action {
        Action::Pay => {
            let paid = event(&order, OrderEventType::OrderPaid, before_deadline);
            store.mark_order_paid(&order, &event_id(), before_deadline, &paid).await
        }
        Action::Cancel => {
            let cancelled = event(&order, OrderEventType::OrderCancelled, before_deadline);
            store.cancel_order(&order, before_deadline, &cancelled).await.map(drop)
        }
        Action::Expire => {
            let expired = event(&order, OrderEventType::OrderExpired, order.expires_at);
            store.expire_order(&order, order.expires_at, &expired).await.map(drop)
        }
    }
}

/// Runs `actions` on `order` at once, each on its own task, in the order given (which the trials
/// vary, so no action always gets the head start), and returns each one's result.
async fn race(store: &Arc<dyn Store>, order: &Order, actions: &[Action]) -> Vec<(Action, Result<(), StoreError>)> {
    let start = Arc::new(Barrier::new(actions.len()));
    let runners: Vec<_> = actions
        .iter()
        .map(|&action| {
            let runner = run(Arc::clone(store), order.clone(), action, Arc::clone(&start));
            (action, tokio::spawn(runner))
        })
        .collect();
    let mut results = Vec::new();
    for (action, runner) in runners {
        results.push((action, runner.await.expect("a racing task panicked")));
    }
    results
}

/// Every order of the product whose units are still reserved: pending or paid.
async fn units_held(store: &dyn Store, orders: &[Order], product: &ProductId) -> i64 {
    let mut held = 0;
    for placed in orders {
        let stored = stored_order(store, &placed.id).await;
        if matches!(stored.status, OrderStatus::PendingPayment | OrderStatus::Paid) {
            held += stored
                .lines
                .iter()
                .filter(|line| &line.product_id == product)
                .map(|line| i64::from(line.quantity.get()))
                .sum::<i64>();
        }
    }
    held
}

fn created_at(trial: i64) -> Timestamp {
    Timestamp::from_millis(T0.as_millis() + trial * 1_000)
}

/// Over many trials, a payment, a cancel and an expiry race for one order: exactly one succeeds,
/// the others are `OrderClosed` (never `PaymentEventSeen`: each payment has its own event), the
/// stored status is the winner's, a paid order is never expired, and the product's stock plus the
/// units still held by pending or paid orders is always the initial stock.
pub async fn expiry_racing_payment_and_cancel_has_one_winner(store: Arc<dyn Store>) {
    const INITIAL: i64 = 1_000;
    let teapot = insert(&*store, product(INITIAL)).await;
    let orders_of_all = [
        [Action::Pay, Action::Cancel, Action::Expire],
        [Action::Cancel, Action::Expire, Action::Pay],
        [Action::Expire, Action::Pay, Action::Cancel],
        [Action::Expire, Action::Cancel, Action::Pay],
        [Action::Cancel, Action::Pay, Action::Expire],
        [Action::Pay, Action::Expire, Action::Cancel],
    ];
    let mut placed = Vec::new();
    let mut wins: BTreeMap<Action, usize> = BTreeMap::new();
    for trial in 0..TRIALS {
        let units = u32::try_from(trial % 3 + 1).expect("1 to 3 units");
        let order = place(&*store, &unique_user(), &[(&teapot, units)], created_at(trial)).await;
        placed.push(order.clone());
        let actions = orders_of_all[usize::try_from(trial).expect("a small trial number") % orders_of_all.len()];

        let results = race(&store, &order, &actions).await;
        let winners: Vec<Action> = results
            .iter()
            .filter(|(_, result)| result.is_ok())
            .map(|(action, _)| *action)
            .collect();
        assert_eq!(winners.len(), 1, "trial {trial}: exactly one action wins: {results:?}");
        let winner = winners[0];
        *wins.entry(winner).or_default() += 1;
        for (action, result) in &results {
            if *action != winner {
                assert!(
                    matches!(result, Err(StoreError::Conflict(Conflict::OrderClosed))),
                    "trial {trial}: the losing {action:?} must be OrderClosed, got {result:?}"
                );
            }
        }

        let stored = stored_order(&*store, &order.id).await;
        assert_eq!(
            stored.status,
            winner.status(),
            "trial {trial}: the stored status is the winner's ({winner:?})"
        );
        match winner {
            Action::Pay => assert_eq!(
                stored.paid_at,
                Some(offset(order.expires_at, -1)),
                "trial {trial}: a paid order keeps its payment, and is never expired"
            ),
            Action::Cancel | Action::Expire => {
                assert_eq!(stored.paid_at, None, "trial {trial}: a closed order was never paid")
            }
        }
        assert_eq!(
            stock_of(&*store, &teapot.id).await + units_held(&*store, &placed, &teapot.id).await,
            INITIAL,
            "trial {trial}: stock plus the units of pending and paid orders is the initial stock \
             (cancelled and expired orders gave theirs back, once)"
        );
    }
    let left = store
        .overdue_orders(offset(created_at(TRIALS), ORDER_TTL_MS), None, 100)
        .await
        .expect("overdue_orders after the races");
    assert_eq!(left, [], "every order was closed one way or another: {wins:?}");
}

/// Two expiries (two sweeps) racing for one due order: exactly one succeeds, the other is
/// `OrderClosed`, and the stock comes back once.
pub async fn two_expiries_racing_have_one_winner(store: Arc<dyn Store>) {
    const INITIAL: i64 = 100;
    let teapot = insert(&*store, product(INITIAL)).await;
    for trial in 0..10 {
        let order = place(&*store, &unique_user(), &[(&teapot, 2)], created_at(trial)).await;
        let results = race(&store, &order, &[Action::Expire, Action::Expire]).await;
        let succeeded = results.iter().filter(|(_, result)| result.is_ok()).count();
        assert_eq!(succeeded, 1, "trial {trial}: exactly one expiry wins: {results:?}");
        assert!(
            results
                .iter()
                .any(|(_, result)| matches!(result, Err(StoreError::Conflict(Conflict::OrderClosed)))),
            "trial {trial}: the other is OrderClosed: {results:?}"
        );
        assert_eq!(
            stored_order(&*store, &order.id).await.status,
            OrderStatus::Expired,
            "trial {trial}"
        );
        assert_eq!(
            stock_of(&*store, &teapot.id).await,
            INITIAL,
            "trial {trial}: the 2 units came back exactly once"
        );
    }
}
