//! Orders: placing them (reserving every line's stock atomically, idempotently), reading them,
//! and cancelling them.

use super::App;
use crate::auth::Caller;
use crate::domain::order::order_total;
use crate::domain::{
    IdempotencyKey, IdempotencyRecord, Order, OrderEvent, OrderEventType, OrderId, OrderLine, OrderStatus, ProductId,
    Quantity, UserId,
};
use crate::ports::{Conflict, OrderPlacement, StoreError};
use crate::Error;
use std::collections::HashMap;

/// A keyed request: the client's `Idempotency-Key` and the fingerprint of its body.
pub struct IdempotentRequest {
    pub key: IdempotencyKey,
    pub fingerprint: String,
}

/// The answer a keyed request got, as the caller rendered it: kept with the key, and given again
/// to every retry. The service stores it and never looks inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptAnswer {
    pub status: u16,
    pub location: String,
    pub body: String,
}

/// The outcome of a place-order request: a fresh order (with the answer kept for its retries when
/// it was keyed), or the kept answer of the first request made with the same key.
#[derive(Debug)]
pub enum PlacedOrder {
    Placed(Order, Option<KeptAnswer>),
    Replayed(KeptAnswer),
}

impl From<&IdempotencyRecord> for KeptAnswer {
    fn from(record: &IdempotencyRecord) -> Self {
        KeptAnswer {
            status: record.status,
            location: record.location.clone(),
            body: record.body.clone(),
        }
    }
}

/// Places an order for `lines` (already checked: 1–25 lines, no product twice).
///
/// Two round trips in the common case: read the products, then one atomic write that reserves
/// each line's stock under a "has enough" condition and writes the order, its event and its
/// idempotency record, under the condition that the caller's unpaid orders stay within the
/// reservation limit. A retry with the same key replays the stored answer without reserving
/// anything again (so it is never refused by the limit, nor counted twice); a concurrent duplicate
/// loses the race on the idempotency record and replays the winner's. `answer_for` renders the
/// answer a keyed request keeps for its retries.
pub async fn place_order(
    app: &App,
    caller: &Caller,
    lines: &[(ProductId, Quantity)],
    idempotency: Option<IdempotentRequest>,
    answer_for: impl FnOnce(&Order) -> Result<KeptAnswer, Error>,
) -> Result<PlacedOrder, Error> {
    // One read for the products and the key's record. A retry of the same request replays at
    // once, even if the catalog has changed since.
    let ids: Vec<ProductId> = lines.iter().map(|(id, _)| id.clone()).collect();
    let key = idempotency.as_ref().map(|request| (&caller.user_id, &request.key));
    let (products, stored) = app.store.order_inputs(&ids, key).await?;
    let mut key_used_for_another_request = false;
    if let (Some(stored), Some(request)) = (&stored, &idempotency) {
        key_used_for_another_request = stored.fingerprint != request.fingerprint;
        if !key_used_for_another_request {
            return replay(stored, request);
        }
    }
    let products: HashMap<ProductId, _> = products
        .into_iter()
        .filter(|p| p.active)
        .map(|p| (p.id.clone(), p))
        .collect();
    // The contract's order: an unknown product (404) outranks a reused key (422) and short stock (409).
    if let Some((missing, _)) = lines.iter().find(|(id, _)| !products.contains_key(id)) {
        return Err(unavailable(missing));
    }
    if key_used_for_another_request {
        return Err(Error::IdempotencyKeyReused);
    }
    let mut order_lines = Vec::with_capacity(lines.len());
    for (id, quantity) in lines {
        let product = products.get(id).ok_or_else(|| unavailable(id))?;
        if product.stock.units() < i64::from(quantity.get()) {
            crate::metrics::stock_out();
            return Err(Error::InsufficientStock(id.clone()));
        }
        let unit_price = product.price.cents();
        order_lines.push(OrderLine {
            product_id: id.clone(),
            sku: product.sku.clone(),
            name: product.name.clone(),
            unit_price_cents: unit_price,
            quantity: *quantity,
            line_total_cents: unit_price.checked_mul(quantity.get()).ok_or_else(overflow)?,
        });
    }

    let now = app.now();
    let order = Order {
        id: OrderId::from_ulid(app.ids.next_id()),
        user_id: caller.user_id.clone(),
        status: OrderStatus::PendingPayment,
        total_cents: order_total(&order_lines).ok_or_else(overflow)?,
        lines: order_lines,
        currency: app.settings.currency,
        created_at: now,
        updated_at: now,
        expires_at: now.plus_seconds(app.settings.order_ttl_seconds),
        paid_at: None,
        refund_due: false,
    };
    let record = match &idempotency {
        None => None,
        Some(request) => {
            let answer = answer_for(&order)?;
            Some(IdempotencyRecord {
                user_id: caller.user_id.clone(),
                key: request.key.clone(),
                fingerprint: request.fingerprint.clone(),
                status: answer.status,
                location: answer.location,
                body: answer.body,
                created_at: now,
            })
        }
    };
    let placement = OrderPlacement {
        event: order_event(app, &order, OrderEventType::OrderPlaced),
        order,
        idempotency: record,
        limit: app.settings.reservation_limit,
    };

    match app.store.place_order(&placement).await {
        Ok(()) => {
            let order = &placement.order;
            tracing::info!(
                order_id = %order.id,
                user_id = %order.user_id,
                total_cents = order.total_cents.get(),
                lines = order.lines.len(),
                "order placed"
            );
            crate::metrics::order_placed(placement.order.total_cents.get());
            let kept = placement.idempotency.as_ref().map(KeptAnswer::from);
            Ok(PlacedOrder::Placed(placement.order, kept))
        }
        Err(StoreError::Conflict(Conflict::InsufficientStock(id))) => {
            crate::metrics::stock_out();
            Err(Error::InsufficientStock(id))
        }
        Err(StoreError::Conflict(Conflict::ProductUnavailable(id))) => Err(unavailable(&id)),
        Err(StoreError::Conflict(Conflict::ReservationLimit(limit))) => {
            let most = placement.limit.most(limit);
            tracing::info!(
                user_id = %placement.order.user_id,
                limit = limit.as_str(),
                most,
                "order refused by the reservation limit"
            );
            crate::metrics::reservation_limit(limit);
            Err(Error::ReservationLimit {
                limit,
                most,
                order_units: placement.order.units(),
            })
        }
        Err(StoreError::Conflict(Conflict::IdempotencyKeyTaken(winner))) => {
            // A concurrent request with the same key committed first: answer as it was answered.
            let request = idempotency
                .as_ref()
                .ok_or_else(|| Error::Internal("key conflict without a key".into()))?;
            replay(&winner, request)
        }
        Err(StoreError::Conflict(Conflict::RequestInProgress)) => Err(Error::RequestInProgress),
        Err(other) => Err(other.into()),
    }
}

fn replay(stored: &IdempotencyRecord, request: &IdempotentRequest) -> Result<PlacedOrder, Error> {
    if stored.fingerprint != request.fingerprint {
        return Err(Error::IdempotencyKeyReused);
    }
    tracing::info!(location = %stored.location, "order request replayed from its idempotency key");
    crate::metrics::idempotent_replay();
    Ok(PlacedOrder::Replayed(KeptAnswer::from(stored)))
}

fn unavailable(id: &ProductId) -> Error {
    Error::NotFound(format!("product {id} does not exist or is not for sale"))
}

fn overflow() -> Error {
    Error::Internal("order total overflows".into())
}

pub fn order_event(app: &App, order: &Order, kind: OrderEventType) -> OrderEvent {
    OrderEvent {
        id: app.ids.next_id().to_string(),
        kind,
        order_id: order.id.clone(),
        user_id: order.user_id.clone(),
        occurred_at: app.now(),
    }
}

/// The order, if the caller may see it: its owner or an admin. Anyone else gets the same 404 as
/// for an order that does not exist, so ids cannot be probed.
pub async fn order_for(app: &App, caller: &Caller, id: &OrderId) -> Result<Order, Error> {
    match app.store.order(id).await? {
        Some(order) if caller.is_admin || order.owned_by(&caller.user_id) => Ok(order),
        _ => Err(order_not_found(id)),
    }
}

/// One page of the user's orders, newest first, and whether more follow.
pub async fn orders_of(
    app: &App,
    user: &UserId,
    before: Option<&OrderId>,
    limit: usize,
) -> Result<(Vec<Order>, bool), Error> {
    let mut page = app.store.orders_of(user, before, limit + 1).await?;
    let more = page.len() > limit;
    page.truncate(limit);
    Ok((page, more))
}

/// Cancels an open order and returns its stock. Cancelling a cancelled order changes nothing.
pub async fn cancel_order(app: &App, caller: &Caller, id: &OrderId) -> Result<Order, Error> {
    let order = order_for(app, caller, id).await?;
    let now = app.now();
    match order.status_at(now) {
        OrderStatus::Cancelled => return Ok(order),
        OrderStatus::Paid | OrderStatus::Expired => return Err(not_cancellable(&order, now)),
        OrderStatus::PendingPayment => {}
    }
    let event = order_event(app, &order, OrderEventType::OrderCancelled);
    match app.store.cancel_order(&order, now, &event).await {
        Ok(cancelled) => {
            tracing::info!(order_id = %order.id, user_id = %order.user_id, "order cancelled");
            Ok(cancelled)
        }
        Err(StoreError::Conflict(Conflict::OrderClosed)) => {
            // Something else closed it between our read and our write: answer for what it is now.
            let current = order_for(app, caller, id).await?;
            match current.status_at(app.now()) {
                OrderStatus::Cancelled => Ok(current),
                _ => Err(not_cancellable(&current, app.now())),
            }
        }
        Err(StoreError::Conflict(Conflict::NotFound)) => Err(order_not_found(id)),
        Err(other) => Err(other.into()),
    }
}

fn not_cancellable(order: &Order, now: crate::domain::Timestamp) -> Error {
    Error::InvalidState(format!(
        "order {} is {} and can no longer be cancelled",
        order.id,
        order.status_at(now).as_str()
    ))
}

pub fn order_not_found(id: &OrderId) -> Error {
    Error::NotFound(format!("order {id} does not exist"))
}
