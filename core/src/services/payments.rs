//! The payment provider's webhook: marking orders paid, exactly once.

use super::orders::{order_event, order_not_found};
use super::App;
use crate::domain::{OrderEventType, OrderId};
use crate::ports::{Conflict, StoreError};
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    Succeeded,
    Failed,
}

/// A verified webhook event.
#[derive(Debug, Clone)]
pub struct PaymentEvent {
    pub id: String,
    pub outcome: PaymentOutcome,
    pub order_id: String,
    pub amount_cents: i64,
    pub currency: String,
}

/// Applies a payment event. The same event id twice has one effect; a payment that arrives for an
/// order that can no longer take it (paid by another event, expired, cancelled) leaves the order's
/// status alone and flags `refund_due`. Only events answered 200 are remembered.
pub async fn receive_payment(app: &App, event: &PaymentEvent) -> Result<(), Error> {
    if app.store.payment_event_seen(&event.id).await? {
        return Ok(());
    }
    let order_id = OrderId::parse(&event.order_id)
        .map_err(|_| Error::NotFound(format!("order {} does not exist", event.order_id)))?;
    let order = app
        .store
        .order(&order_id)
        .await?
        .ok_or_else(|| order_not_found(&order_id))?;
    if event.amount_cents != order.total_cents.get() || event.currency != order.currency.as_str() {
        return Err(Error::AmountMismatch(format!(
            "order {} is for {} {}, the payment was for {} {}",
            order.id,
            order.total_cents.get(),
            order.currency,
            event.amount_cents,
            event.currency
        )));
    }
    let now = app.now();
    let (applied, effect) = match event.outcome {
        PaymentOutcome::Failed => (app.store.remember_payment_event(&event.id, now).await, "payment failed"),
        PaymentOutcome::Succeeded if order.is_open_at(now) => {
            let paid = order_event(app, &order, OrderEventType::OrderPaid);
            match app.store.mark_order_paid(&order, &event.id, now, &paid).await {
                Err(StoreError::Conflict(Conflict::OrderClosed)) => {
                    (app.store.flag_refund_due(&order, &event.id, now).await, "refund due")
                }
                other => (other, "order paid"),
            }
        }
        PaymentOutcome::Succeeded => (app.store.flag_refund_due(&order, &event.id, now).await, "refund due"),
    };
    match applied {
        Ok(()) => {
            tracing::info!(order_id = %order.id, payment_event_id = %event.id, "{effect}");
            Ok(())
        }
        Err(StoreError::Conflict(Conflict::PaymentEventSeen)) => Ok(()),
        Err(StoreError::Conflict(Conflict::NotFound)) => Err(order_not_found(&order_id)),
        Err(other) => Err(other.into()),
    }
}
