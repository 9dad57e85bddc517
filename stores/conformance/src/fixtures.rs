//! Builders for the values the cases store, and assertions on the store's answers. Everything is
//! built through the domain's constructors, so a value here is one the services could have made.

use orderly_core::domain::order::order_total;
use orderly_core::domain::{
    Cents, Currency, DailyReport, Date, Description, DisplayName, IdempotencyKey, IdempotencyRecord, Notification,
    Order, OrderEvent, OrderEventType, OrderId, OrderLine, OrderStatus, Price, Product, ProductId, ProductName,
    ProductUnits, Profile, Quantity, ReservationLimit, Sku, Stock, StockDelta, Timestamp, UserId,
};
use orderly_core::ports::{Conflict, OrderPlacement, Store, StoreError};
use std::fmt::Debug;
use ulid::Ulid;

/// The instant every case starts from: 2026-11-18T11:06:40Z.
pub const T0: Timestamp = Timestamp::from_millis(1_795_000_000_000);

/// How long a placed order stays open for payment.
pub const ORDER_TTL_MS: i64 = 15 * 60 * 1000;

/// The price of every product the builders make.
pub const UNIT_PRICE_CENTS: i64 = 1_250;

/// `T0` plus `millis`.
pub fn at(millis: i64) -> Timestamp {
    Timestamp::from_millis(T0.as_millis() + millis)
}

pub fn user(name: &str) -> UserId {
    UserId::parse(name).expect("the fixture's user id is valid")
}

/// A user id no other case uses.
pub fn unique_user() -> UserId {
    user(&format!("conformance|{}", Ulid::new()))
}

pub fn product_id() -> ProductId {
    ProductId::from_ulid(Ulid::new())
}

pub fn order_id() -> OrderId {
    OrderId::from_ulid(Ulid::new())
}

/// A fresh event id, for events and payment events alike.
pub fn event_id() -> String {
    Ulid::new().to_string()
}

pub fn sku(text: &str) -> Sku {
    Sku::parse(text).expect("the fixture's SKU is valid")
}

pub fn name(text: &str) -> ProductName {
    ProductName::parse(text).expect("the fixture's product name is valid")
}

pub fn description(text: &str) -> Description {
    Description::parse(text).expect("the fixture's description is valid")
}

pub fn price(cents: i64) -> Price {
    Price::parse(cents).expect("the fixture's price is valid")
}

pub fn stock(units: i64) -> Stock {
    Stock::parse(units).expect("the fixture's stock is valid")
}

pub fn delta(units: i64) -> StockDelta {
    StockDelta::parse(units).expect("the fixture's stock delta is valid")
}

pub fn quantity(units: u32) -> Quantity {
    Quantity::parse(i64::from(units)).expect("the fixture's quantity is valid")
}

pub fn display_name(text: &str) -> DisplayName {
    DisplayName::parse(text).expect("the fixture's display name is valid")
}

pub fn idempotency_key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).expect("the fixture's idempotency key is valid")
}

pub fn currency() -> Currency {
    Currency::parse("USD").expect("USD is a currency")
}

pub fn date(text: &str) -> Date {
    Date::parse(text).expect("the fixture's date is valid")
}

/// An active product with a unique SKU, version 1, created at `T0`, as the catalog service makes one.
pub fn product(units: i64) -> Product {
    let id = Ulid::new();
    Product {
        id: ProductId::from_ulid(id),
        sku: sku(&format!("SKU-{id}")),
        name: name(&format!("Conformance teapot {id}")),
        description: Some(description("Holds tea; pours it, too.")),
        price: price(UNIT_PRICE_CENTS),
        stock: stock(units),
        active: true,
        version: 1,
        created_at: T0,
        updated_at: T0,
    }
}

/// Like [`product`], but not for sale.
pub fn inactive_product(units: i64) -> Product {
    Product {
        active: false,
        ..product(units)
    }
}

/// A pending order of `lines` (product, units) at the products' prices, created at `created_at`
/// and open for [`ORDER_TTL_MS`].
pub fn order(user: &UserId, lines: &[(&Product, u32)], created_at: Timestamp) -> Order {
    let lines: Vec<OrderLine> = lines
        .iter()
        .map(|(product, units)| OrderLine {
            product_id: product.id.clone(),
            sku: product.sku.clone(),
            name: product.name.clone(),
            unit_price_cents: product.price.cents(),
            quantity: quantity(*units),
            line_total_cents: product
                .price
                .cents()
                .checked_mul(*units)
                .expect("the fixture's line total fits"),
        })
        .collect();
    Order {
        id: order_id(),
        user_id: user.clone(),
        status: OrderStatus::PendingPayment,
        total_cents: order_total(&lines).expect("the fixture's order total fits"),
        lines,
        currency: currency(),
        created_at,
        updated_at: created_at,
        expires_at: Timestamp::from_millis(created_at.as_millis() + ORDER_TTL_MS),
        paid_at: None,
        refund_due: false,
    }
}

/// An event of `kind` about `order`.
pub fn event(order: &Order, kind: OrderEventType, occurred_at: Timestamp) -> OrderEvent {
    OrderEvent {
        id: event_id(),
        kind,
        order_id: order.id.clone(),
        user_id: order.user_id.clone(),
        occurred_at,
    }
}

/// The reservation limit of every placement the builders make: higher than any case goes, so that
/// only the cases about the limit ever meet it.
pub const ROOMY: ReservationLimit = ReservationLimit {
    unpaid_orders: 1000,
    reserved_units: 1_000_000,
};

/// Placing `order` without an idempotency key: the order and its `order_placed` event, within
/// the [`ROOMY`] limit.
pub fn placement(order: &Order) -> OrderPlacement {
    OrderPlacement {
        order: order.clone(),
        event: event(order, OrderEventType::OrderPlaced, order.created_at),
        idempotency: None,
        limit: ROOMY,
    }
}

/// `placement` under the reservation limit `limit` instead.
pub fn limited(placement: OrderPlacement, limit: ReservationLimit) -> OrderPlacement {
    OrderPlacement { limit, ..placement }
}

/// The record the services store for a keyed request that placed `order`.
pub fn idempotency_record(order: &Order, key: &str, fingerprint: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        user_id: order.user_id.clone(),
        key: idempotency_key(key),
        fingerprint: fingerprint.to_string(),
        status: 201,
        location: format!("/v1/orders/{}", order.id),
        body: format!(
            r#"{{"id":"{}","status":"pending_payment","total_cents":{}}}"#,
            order.id,
            order.total_cents.get()
        ),
        created_at: order.created_at,
    }
}

/// Placing `order` under the client's idempotency `key`.
pub fn keyed_placement(order: &Order, key: &str, fingerprint: &str) -> OrderPlacement {
    OrderPlacement {
        idempotency: Some(idempotency_record(order, key, fingerprint)),
        ..placement(order)
    }
}

pub fn profile(user: &UserId, email: Option<&str>, name: Option<&str>, created_at: Timestamp) -> Profile {
    Profile {
        user_id: user.clone(),
        email: email.map(str::to_string),
        display_name: name.map(display_name),
        created_at,
    }
}

/// A daily report as the report job computes one: `top` is (product, units sold), most first.
pub fn report(
    day: &str,
    orders_paid: u64,
    revenue_cents: i64,
    top: &[(&ProductId, u64)],
    computed_at: Timestamp,
) -> DailyReport {
    DailyReport {
        date: date(day),
        orders_paid,
        revenue_cents: Cents::new(revenue_cents),
        units_sold: top.iter().map(|(_, units)| units).sum(),
        top_products: top
            .iter()
            .map(|(id, units)| ProductUnits {
                product_id: (*id).clone(),
                units: *units,
            })
            .collect(),
        computed_at,
    }
}

/// The notification the notification job makes for an event of `kind` about an order of `user`,
/// recorded at `created_at`.
pub fn notification(user: &UserId, kind: OrderEventType, created_at: Timestamp) -> Notification {
    let event = OrderEvent {
        id: event_id(),
        kind,
        order_id: order_id(),
        user_id: user.clone(),
        occurred_at: created_at,
    };
    Notification::of(&event, created_at)
}

/// Inserts a product, failing the case if the store refuses it.
pub async fn insert(store: &dyn Store, product: Product) -> Product {
    store
        .insert_product(&product)
        .await
        .unwrap_or_else(|e| panic!("insert_product({}) failed: {e:?}", product.id));
    product
}

/// Builds and places a pending order, failing the case if the store refuses it.
pub async fn place(store: &dyn Store, user: &UserId, lines: &[(&Product, u32)], created_at: Timestamp) -> Order {
    let order = order(user, lines, created_at);
    store
        .place_order(&placement(&order))
        .await
        .unwrap_or_else(|e| panic!("place_order({}) failed: {e:?}", order.id));
    order
}

/// The product as stored now; the case fails if it is missing.
pub async fn stored_product(store: &dyn Store, id: &ProductId) -> Product {
    store
        .product(id)
        .await
        .unwrap_or_else(|e| panic!("product({id}) failed: {e:?}"))
        .unwrap_or_else(|| panic!("product {id} should be stored"))
}

/// The product's stock as stored now.
pub async fn stock_of(store: &dyn Store, id: &ProductId) -> i64 {
    stored_product(store, id).await.stock.units()
}

/// Places a pending order and returns it with its `order_placed` event.
pub async fn place_with_event(
    store: &dyn Store,
    user: &UserId,
    lines: &[(&Product, u32)],
    created_at: Timestamp,
) -> (Order, OrderEvent) {
    let order = order(user, lines, created_at);
    let placement = placement(&order);
    store
        .place_order(&placement)
        .await
        .unwrap_or_else(|e| panic!("place_order({}) failed: {e:?}", order.id));
    (order, placement.event)
}

/// Pays `order` at `now` with a fresh payment event, failing the case if the store refuses;
/// returns the `order_paid` event.
pub async fn pay(store: &dyn Store, order: &Order, now: Timestamp) -> OrderEvent {
    let paid = event(order, OrderEventType::OrderPaid, now);
    store
        .mark_order_paid(order, &event_id(), now, &paid)
        .await
        .unwrap_or_else(|e| panic!("mark_order_paid({}) at {now} failed: {e:?}", order.id));
    paid
}

/// Cancels `order` at `now`, failing the case if the store refuses; returns the `order_cancelled` event.
pub async fn cancel(store: &dyn Store, order: &Order, now: Timestamp) -> OrderEvent {
    let cancelled = event(order, OrderEventType::OrderCancelled, now);
    store
        .cancel_order(order, now, &cancelled)
        .await
        .unwrap_or_else(|e| panic!("cancel_order({}) at {now} failed: {e:?}", order.id));
    cancelled
}

/// Expires `order` at `now`, failing the case if the store refuses; returns the `order_expired` event.
pub async fn expire(store: &dyn Store, order: &Order, now: Timestamp) -> OrderEvent {
    let expired = event(order, OrderEventType::OrderExpired, now);
    store
        .expire_order(order, now, &expired)
        .await
        .unwrap_or_else(|e| panic!("expire_order({}) at {now} failed: {e:?}", order.id));
    expired
}

/// `millis` before or after (when negative, before) `at`.
pub fn offset(at: Timestamp, millis: i64) -> Timestamp {
    Timestamp::from_millis(at.as_millis() + millis)
}

/// The order as stored now; the case fails if it is missing.
pub async fn stored_order(store: &dyn Store, id: &OrderId) -> Order {
    store
        .order(id)
        .await
        .unwrap_or_else(|e| panic!("order({id}) failed: {e:?}"))
        .unwrap_or_else(|| panic!("order {id} should be stored"))
}

/// Asserts that `result` is exactly the conflict `expected`; `what` names the call.
#[track_caller]
pub fn assert_conflict<T: Debug>(result: Result<T, StoreError>, expected: Conflict, what: &str) {
    match result {
        Err(StoreError::Conflict(actual)) => {
            assert_eq!(actual, expected, "{what}: wrong conflict");
        }
        other => panic!("{what}: expected Err(Conflict::{expected:?}), got {other:?}"),
    }
}

/// `ids` sorted ascending: the store's id order.
pub fn sorted<T: Ord + Clone>(ids: &[T]) -> Vec<T> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids
}
