//! The expiry sweep: unpaid orders past their deadline become `expired` for good, give their
//! stock back and emit `order_expired`.
//!
//! Safe to run twice, late or concurrently: each order is expired by a conditional write that only
//! succeeds while it is still pending and past due, so a payment, a cancel or another sweep racing
//! it either wins (and the sweep leaves the order alone) or loses (and finds it closed).
//! An order the store fails on stays pending for the next run, and the run reports it.

use super::orders::order_event;
use super::App;
use crate::domain::{Order, OrderEventType, Timestamp};
use crate::ports::{Conflict, StoreError};
use crate::Error;

/// Orders read per page of the pending-order index.
pub const PAGE: usize = 100;
/// Pages per sweep, so one run stays well inside a function's timeout; the next run goes on.
pub const MAX_PAGES: usize = 20;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpirySweep {
    /// Orders this sweep expired.
    pub expired: usize,
    /// Overdue orders that something else closed first (paid, cancelled, or another sweep).
    pub closed_by_others: usize,
    /// Overdue orders the store failed to expire (unavailable, throttled), and the first reason.
    /// They are left pending for the next run; the run as a whole counts as failed.
    pub failed: usize,
    pub first_failure: Option<String>,
}

/// Expires every order whose deadline is at or before the sweep's cutoff: the schedule's own time
/// (`scheduled_at`, the same for every retry of one run), but never later than the clock, so a
/// sweep whose schedule runs ahead never expires an order a buyer may still pay. One order the
/// store fails on does not hold back the others behind it.
pub async fn expire_overdue_orders(app: &App, scheduled_at: Timestamp) -> Result<ExpirySweep, Error> {
    let cutoff = scheduled_at.min(app.now());
    let mut sweep = ExpirySweep::default();
    let mut after: Option<Order> = None;
    for _ in 0..MAX_PAGES {
        let overdue = app.store.overdue_orders(cutoff, after.as_ref(), PAGE).await?;
        for order in &overdue {
            let event = order_event(app, order, OrderEventType::OrderExpired);
            match app.store.expire_order(order, app.now(), &event).await {
                Ok(_) => {
                    tracing::info!(order_id = %order.id, user_id = %order.user_id, "order expired");
                    sweep.expired += 1;
                }
                Err(StoreError::Conflict(Conflict::OrderClosed | Conflict::NotFound)) => sweep.closed_by_others += 1,
                Err(other) => {
                    sweep.failed += 1;
                    sweep
                        .first_failure
                        .get_or_insert_with(|| format!("order {}: {other}", order.id));
                }
            }
        }
        // The next page starts after this one's last order, not at the index's start: orders the
        // store failed on stay pending there, and a page full of them must not hide the orders
        // behind it. No order is missed: one placed now is due after the cutoff.
        if overdue.len() < PAGE {
            break;
        }
        after = overdue.into_iter().last();
    }
    Ok(sweep)
}
