//! The business rules, tested through the services on the in-memory store with a clock that moves
//! only when told: precedence of refusals, idempotent replays and key races, cancelling, payments,
//! expiry, stock bounds and overselling. Every test runs in milliseconds.

use async_trait::async_trait;
use orderly_core::auth::{Authenticator, Caller};
use orderly_core::config::{Secret, Secrets};
use orderly_core::domain::{
    DailyReport, Date, DisplayName, IdempotencyKey, IdempotencyRecord, Notification, Order, OrderEvent, OrderEventType,
    OrderId, OrderStatus, Price, Product, ProductChange, ProductId, ProductName, Profile, Quantity, Sku, Stock,
    StockDelta, Timestamp, UserId,
};
use orderly_core::ports::{
    CatalogStore, EventPublisher, FixedClock, NotificationStore, OrderPlacement, OrderStore, OutboxStore, PaymentStore,
    ProfileStore, PublishFailure, ReportStore, Store, StoreError, UlidGenerator,
};
use orderly_core::services::catalog::{self, IfMatch, NewProduct};
use orderly_core::services::orders::{self, IdempotentRequest, KeptAnswer, PlacedOrder};
use orderly_core::services::payments::{self, PaymentEvent, PaymentOutcome};
use orderly_core::services::{expiry, notifications, profiles, relay, reports};
use orderly_core::{App, Error, Settings};
use orderly_store_memory::MemoryStore;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Barrier;

/// Where every shop's clock starts: 2026-11-18T11:06:40Z.
const T0: Timestamp = Timestamp::from_millis(1_795_000_000_000);
/// The default order TTL, which the shop's settings keep.
const TTL_SECONDS: i64 = Settings::DEFAULT_ORDER_TTL_SECONDS;
const UNIT_PRICE_CENTS: i64 = 1_250;

/// Asserts that `$result` is an `Err` matching `$pattern`, showing what it was otherwise.
macro_rules! assert_err {
    ($result:expr, $pattern:pat $(if $guard:expr)?) => {
        match $result {
            Err($pattern) $(if $guard)? => {}
            other => panic!("expected Err({}), got {other:?}", stringify!($pattern $(if $guard)?)),
        }
    };
}

// ---------------------------------------------------------------------------------------------
// The shop: an App on a fresh memory store, and the steps the tests are made of.

struct Shop {
    app: App,
    clock: Arc<FixedClock>,
    memory: MemoryStore,
    skus: AtomicUsize,
}

impl Shop {
    fn new() -> Self {
        let memory = MemoryStore::new();
        Shop::on(Arc::new(memory.clone()), memory)
    }

    /// A shop whose order requests go in groups of `racers`: each waits after its read until the
    /// whole group has read, so none of them writes before all have read.
    fn racing(racers: usize) -> Self {
        let memory = MemoryStore::new();
        let gated = RaceGate {
            inner: memory.clone(),
            gate: Barrier::new(racers),
            unavailable_for: Mutex::default(),
        };
        Shop::on(Arc::new(gated), memory)
    }

    /// A shop whose store cannot expire the orders named in its `unavailable_for` (it answers
    /// "unavailable"), and works otherwise.
    fn failing_to_expire() -> (Self, Arc<RaceGate>) {
        let memory = MemoryStore::new();
        let store = Arc::new(RaceGate {
            inner: memory.clone(),
            gate: Barrier::new(1),
            unavailable_for: Mutex::default(),
        });
        (Shop::on(store.clone(), memory), store)
    }

    fn on(store: Arc<dyn Store>, memory: MemoryStore) -> Self {
        let clock = Arc::new(FixedClock::at(T0));
        let settings = Settings::from_vars(
            &HashMap::new(),
            Secrets::both(Secret::new("webhook-secret"), Secret::new("cursor-key")),
        )
        .unwrap_or_else(|e| panic!("default settings: {e}"));
        let ids = Arc::new(UlidGenerator::new(clock.clone()));
        let app = App::new(store, clock.clone(), ids, settings, Authenticator::GatewayClaims);
        Shop {
            app,
            clock,
            memory,
            skus: AtomicUsize::new(0),
        }
    }

    fn advance(&self, seconds: i64) {
        self.clock.advance_seconds(seconds);
    }

    fn now(&self) -> Timestamp {
        self.app.now()
    }

    /// An active product with `units` in stock, created through the catalog service.
    async fn product(&self, units: i64) -> Product {
        let n = self.skus.fetch_add(1, Ordering::SeqCst);
        let new = NewProduct {
            sku: Sku::parse(&format!("SKU-{n}")).unwrap_or_else(|e| panic!("sku: {e}")),
            name: ProductName::parse(&format!("Teapot {n}")).unwrap_or_else(|e| panic!("name: {e}")),
            description: None,
            price: Price::parse(UNIT_PRICE_CENTS).unwrap_or_else(|e| panic!("price: {e}")),
            stock: Stock::parse(units).unwrap_or_else(|e| panic!("stock: {e}")),
        };
        catalog::create_product(&self.app, new)
            .await
            .unwrap_or_else(|e| panic!("create_product: {e:?}"))
    }

    /// Takes `product` off sale.
    async fn retire(&self, product: &Product) {
        let change = ProductChange {
            active: Some(false),
            ..ProductChange::default()
        };
        catalog::update_product(&self.app, &product.id, &change, None)
            .await
            .unwrap_or_else(|e| panic!("retiring {}: {e:?}", product.id));
    }

    async fn place(
        &self,
        buyer: &Caller,
        lines: &[(&ProductId, u32)],
        idempotency: Option<IdempotentRequest>,
    ) -> Result<PlacedOrder, Error> {
        orders::place_order(&self.app, buyer, &order_lines(lines), idempotency, answer).await
    }

    /// Places an order without a key; the test fails if it is refused.
    async fn order(&self, buyer: &Caller, lines: &[(&ProductId, u32)]) -> Order {
        placed(self.place(buyer, lines, None).await).0
    }

    async fn cancel(&self, caller: &Caller, order: &Order) -> Result<Order, Error> {
        orders::cancel_order(&self.app, caller, &order.id).await
    }

    async fn receive(&self, event: &PaymentEvent) -> Result<(), Error> {
        payments::receive_payment(&self.app, event).await
    }

    /// A successful payment of exactly what `order` costs.
    async fn pay(&self, order: &Order, payment_event_id: &str) -> Result<(), Error> {
        self.receive(&payment(order, payment_event_id, PaymentOutcome::Succeeded))
            .await
    }

    async fn stock(&self, product: &Product) -> i64 {
        catalog::product(&self.app, &product.id)
            .await
            .unwrap_or_else(|e| panic!("product {}: {e:?}", product.id))
            .stock
            .units()
    }

    /// The order as stored now.
    async fn stored(&self, order: &Order) -> Order {
        self.app
            .store
            .order(&order.id)
            .await
            .unwrap_or_else(|e| panic!("order {}: {e:?}", order.id))
            .unwrap_or_else(|| panic!("order {} should be stored", order.id))
    }

    async fn orders_of(&self, buyer: &Caller) -> Vec<Order> {
        orders::orders_of(&self.app, &buyer.user_id, None, 100)
            .await
            .unwrap_or_else(|e| panic!("orders_of {}: {e:?}", buyer.user_id))
            .0
    }

    async fn seen(&self, payment_event_id: &str) -> bool {
        self.app
            .store
            .payment_event_seen(payment_event_id)
            .await
            .unwrap_or_else(|e| panic!("payment_event_seen: {e:?}"))
    }

    /// How many events of `kind` the outbox holds for `order`.
    fn events(&self, order: &Order, kind: OrderEventType) -> usize {
        self.memory
            .order_events()
            .unwrap_or_else(|e| panic!("order_events: {e:?}"))
            .iter()
            .filter(|event| event.order_id == order.id && event.kind == kind)
            .count()
    }
}

fn buyer(name: &str) -> Caller {
    Caller {
        user_id: UserId::parse(name).unwrap_or_else(|e| panic!("user id {name:?}: {e}")),
        email: Some(format!("{name}@example.com")),
        is_admin: false,
    }
}

fn admin() -> Caller {
    Caller {
        is_admin: true,
        ..buyer("admin")
    }
}

fn order_lines(lines: &[(&ProductId, u32)]) -> Vec<(ProductId, Quantity)> {
    lines
        .iter()
        .map(|(id, units)| {
            let quantity = Quantity::parse(i64::from(*units)).unwrap_or_else(|e| panic!("quantity {units}: {e}"));
            ((*id).clone(), quantity)
        })
        .collect()
}

/// A keyed request: the client's key and its body's fingerprint.
fn keyed(key: &str, fingerprint: &str) -> Option<IdempotentRequest> {
    Some(IdempotentRequest {
        key: IdempotencyKey::parse(key).unwrap_or_else(|e| panic!("key {key:?}: {e}")),
        fingerprint: fingerprint.to_string(),
    })
}

/// The answer a keyed request keeps, as the API would render it: it names the order it placed.
fn answer(order: &Order) -> Result<KeptAnswer, Error> {
    Ok(KeptAnswer {
        status: 201,
        location: format!("/v1/orders/{}", order.id),
        body: format!(r#"{{"id":"{}"}}"#, order.id),
    })
}

/// A product id no shop has.
fn unknown_product() -> ProductId {
    ProductId::from_ulid(ulid::Ulid::new())
}

fn payment(order: &Order, id: &str, outcome: PaymentOutcome) -> PaymentEvent {
    PaymentEvent {
        id: id.to_string(),
        outcome,
        order_id: order.id.to_string(),
        amount_cents: order.total_cents.get(),
        currency: order.currency.to_string(),
    }
}

#[track_caller]
fn placed(outcome: Result<PlacedOrder, Error>) -> (Order, Option<KeptAnswer>) {
    match outcome {
        Ok(PlacedOrder::Placed(order, kept)) => (order, kept),
        other => panic!("expected a placed order, got {other:?}"),
    }
}

#[track_caller]
fn replayed(outcome: Result<PlacedOrder, Error>) -> KeptAnswer {
    match outcome {
        Ok(PlacedOrder::Replayed(kept)) => kept,
        other => panic!("expected a replay, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Placing orders: what is refused first, and what is reserved.

#[tokio::test]
async fn placing_reserves_every_line_and_writes_the_order_with_its_event() {
    let shop = Shop::new();
    let (teapot, cups) = (shop.product(10).await, shop.product(6).await);
    let ada = buyer("ada");

    let order = shop.order(&ada, &[(&teapot.id, 3), (&cups.id, 6)]).await;

    assert_eq!((shop.stock(&teapot).await, shop.stock(&cups).await), (7, 0));
    assert_eq!(order.total_cents.get(), 9 * UNIT_PRICE_CENTS);
    assert_eq!(order.status_at(shop.now()), OrderStatus::PendingPayment);
    assert_eq!(order.expires_at, shop.now().plus_seconds(TTL_SECONDS));
    assert_eq!(shop.stored(&order).await, order);
    assert_eq!(shop.events(&order, OrderEventType::OrderPlaced), 1);
}

#[tokio::test]
async fn an_unknown_or_inactive_product_outranks_a_reused_key_and_short_stock() {
    let shop = Shop::new();
    let (teapot, retired) = (shop.product(10).await, shop.product(10).await);
    shop.retire(&retired).await;
    let ada = buyer("ada");
    placed(shop.place(&ada, &[(&teapot.id, 1)], keyed("k", "body-a")).await);

    // Another body under the used key, a line far beyond the stock, and an unavailable product.
    let unknown = shop
        .place(&ada, &[(&teapot.id, 50), (&unknown_product(), 1)], keyed("k", "body-b"))
        .await;
    assert_err!(unknown, Error::NotFound(_));
    let inactive = shop
        .place(&ada, &[(&teapot.id, 50), (&retired.id, 1)], keyed("k", "body-b"))
        .await;
    assert_err!(inactive, Error::NotFound(_));
    assert_eq!((shop.stock(&teapot).await, shop.stock(&retired).await), (9, 10));
}

#[tokio::test]
async fn a_reused_key_outranks_short_stock() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let ada = buyer("ada");
    placed(shop.place(&ada, &[(&teapot.id, 2)], keyed("k", "body-a")).await);

    let reused = shop.place(&ada, &[(&teapot.id, 50)], keyed("k", "body-b")).await;

    assert_err!(reused, Error::IdempotencyKeyReused);
    assert_eq!(shop.stock(&teapot).await, 8, "only the first request reserved");
    assert_eq!(shop.orders_of(&ada).await.len(), 1);
}

#[tokio::test]
async fn short_stock_is_refused_and_reserves_nothing() {
    let shop = Shop::new();
    let (plenty, scarce) = (shop.product(10).await, shop.product(1).await);
    let ada = buyer("ada");

    let short = shop
        .place(&ada, &[(&plenty.id, 3), (&scarce.id, 2)], keyed("k", "body-a"))
        .await;

    assert_err!(short, Error::InsufficientStock(id) if id == scarce.id);
    assert_eq!((shop.stock(&plenty).await, shop.stock(&scarce).await), (10, 1));
    assert!(shop.orders_of(&ada).await.is_empty());
    // Nothing was kept under the key, so the client may use it for a request that fits.
    placed(shop.place(&ada, &[(&scarce.id, 1)], keyed("k", "body-b")).await);
}

// ---------------------------------------------------------------------------------------------
// Idempotency: replays and races.

#[tokio::test]
async fn a_retry_with_the_same_key_replays_the_first_answer_and_reserves_nothing() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let ada = buyer("ada");
    let (first, kept) = placed(shop.place(&ada, &[(&teapot.id, 2)], keyed("k", "body-a")).await);

    shop.advance(60);
    let retry = replayed(shop.place(&ada, &[(&teapot.id, 2)], keyed("k", "body-a")).await);

    assert_eq!(Some(retry), kept, "the retry gets the first answer");
    assert_eq!(kept.map(|k| k.location), Some(format!("/v1/orders/{}", first.id)));
    assert_eq!(shop.stock(&teapot).await, 8, "reserved once");
    assert_eq!(shop.orders_of(&ada).await, vec![first]);
}

#[tokio::test]
async fn a_retry_replays_even_after_the_catalog_changed() {
    let shop = Shop::new();
    let teapot = shop.product(2).await;
    let ada = buyer("ada");
    let (_, kept) = placed(shop.place(&ada, &[(&teapot.id, 2)], keyed("k", "body-a")).await);
    shop.retire(&teapot).await;

    let retry = replayed(shop.place(&ada, &[(&teapot.id, 2)], keyed("k", "body-a")).await);

    assert_eq!(
        Some(retry),
        kept,
        "sold out and off sale, the retry still gets its answer"
    );
}

#[tokio::test]
async fn keys_are_per_user() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let (ada, bob) = (buyer("ada"), buyer("bob"));

    let (adas, _) = placed(shop.place(&ada, &[(&teapot.id, 1)], keyed("k", "body-a")).await);
    let (bobs, _) = placed(shop.place(&bob, &[(&teapot.id, 2)], keyed("k", "body-b")).await);

    assert_ne!(adas.id, bobs.id);
    assert_eq!(shop.stock(&teapot).await, 7);
}

#[tokio::test]
async fn the_loser_of_a_key_race_replays_the_winners_answer_even_for_the_last_units() {
    // Both requests read (no record, stock 3) before either writes: the store's key condition
    // decides, and it outranks the stock the winner has just taken.
    let shop = Shop::racing(2);
    let teapot = shop.product(3).await;
    let ada = buyer("ada");
    let lines = [(&teapot.id, 3)];

    let (a, b) = tokio::join!(
        shop.place(&ada, &lines, keyed("k", "body-a")),
        shop.place(&ada, &lines, keyed("k", "body-a")),
    );

    let ((winner, kept), loser) = match (a, b) {
        (Ok(PlacedOrder::Placed(order, kept)), loser) | (loser, Ok(PlacedOrder::Placed(order, kept))) => {
            ((order, kept), loser)
        }
        other => panic!("exactly one request must place the order: {other:?}"),
    };
    assert_eq!(Some(replayed(loser)), kept, "the loser answers as the winner did");
    assert_eq!(shop.stock(&teapot).await, 0, "stock reserved once");
    assert_eq!(shop.orders_of(&ada).await, vec![winner]);
}

#[tokio::test]
async fn a_racing_request_with_another_body_under_the_key_is_refused() {
    let shop = Shop::racing(2);
    let teapot = shop.product(10).await;
    let ada = buyer("ada");

    let (one, two) = ([(&teapot.id, 1)], [(&teapot.id, 2)]);
    let (a, b) = tokio::join!(
        shop.place(&ada, &one, keyed("k", "body-a")),
        shop.place(&ada, &two, keyed("k", "body-b")),
    );

    let (winner, refused) = match (a, b) {
        (Ok(PlacedOrder::Placed(order, _)), other) | (other, Ok(PlacedOrder::Placed(order, _))) => (order, other),
        other => panic!("exactly one request must place an order: {other:?}"),
    };
    assert_err!(refused, Error::IdempotencyKeyReused);
    let reserved: i64 = winner.lines.iter().map(|line| i64::from(line.quantity.get())).sum();
    assert_eq!(shop.stock(&teapot).await, 10 - reserved, "only the winner reserved");
    assert_eq!(shop.orders_of(&ada).await, vec![winner]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_parallel_retries_of_one_key_place_one_order() {
    const RETRIES: usize = 16;
    let shop = Shop::new();
    let teapot = shop.product(100).await;
    let ada = buyer("ada");

    let tasks: Vec<_> = (0..RETRIES)
        .map(|_| {
            let (app, ada, lines) = (shop.app.clone(), ada.clone(), order_lines(&[(&teapot.id, 5)]));
            tokio::spawn(async move { orders::place_order(&app, &ada, &lines, keyed("k", "body-a"), answer).await })
        })
        .collect();
    let mut placements = Vec::new();
    let mut replays = Vec::new();
    for task in tasks {
        match task.await.unwrap_or_else(|e| panic!("a placing task panicked: {e}")) {
            Ok(PlacedOrder::Placed(order, kept)) => placements.push((order, kept)),
            Ok(PlacedOrder::Replayed(kept)) => replays.push(kept),
            Err(e) => panic!("a retry failed: {e:?}"),
        }
    }

    assert_eq!(placements.len(), 1, "one order placed");
    let (order, kept) = placements.remove(0);
    assert!(
        replays.iter().all(|r| Some(r) == kept.as_ref()),
        "every retry replays the winner"
    );
    assert_eq!(shop.stock(&teapot).await, 95, "stock reserved once");
    assert_eq!(shop.orders_of(&ada).await, vec![order]);
}

// ---------------------------------------------------------------------------------------------
// Cancelling.

#[tokio::test]
async fn cancelling_returns_the_stock_once_and_twice_is_a_no_op() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let ada = buyer("ada");
    let order = shop.order(&ada, &[(&teapot.id, 4)]).await;
    shop.advance(10);

    let cancelled = shop.cancel(&ada, &order).await.expect("cancelling an open order");
    assert_eq!(
        (cancelled.status, cancelled.updated_at),
        (OrderStatus::Cancelled, shop.now())
    );
    assert_eq!(shop.stock(&teapot).await, 10);

    shop.advance(10);
    let again = shop.cancel(&ada, &order).await.expect("cancelling a cancelled order");
    assert_eq!(again, cancelled, "the second cancel changes nothing");
    assert_eq!(shop.stock(&teapot).await, 10, "stock returned once");
    assert_eq!(shop.events(&order, OrderEventType::OrderCancelled), 1);
}

#[tokio::test]
async fn a_paid_order_cannot_be_cancelled() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let ada = buyer("ada");
    let order = shop.order(&ada, &[(&teapot.id, 4)]).await;
    shop.pay(&order, "pay-1").await.expect("paying an open order");

    assert_err!(shop.cancel(&ada, &order).await, Error::InvalidState(_));
    assert_eq!(shop.stock(&teapot).await, 6, "a paid order keeps its stock");
    assert_eq!(shop.stored(&order).await.status, OrderStatus::Paid);
}

#[tokio::test]
async fn an_expired_order_cannot_be_cancelled() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let ada = buyer("ada");
    let order = shop.order(&ada, &[(&teapot.id, 4)]).await;
    shop.advance(TTL_SECONDS);

    assert_err!(shop.cancel(&ada, &order).await, Error::InvalidState(_));
    assert_eq!(shop.stored(&order).await, order, "nothing written");
    assert_eq!(shop.stock(&teapot).await, 6, "returning it is the expiry job's work");
    assert_eq!(shop.events(&order, OrderEventType::OrderCancelled), 0);
}

#[tokio::test]
async fn only_the_owner_or_an_admin_may_cancel() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let order = shop.order(&buyer("ada"), &[(&teapot.id, 4)]).await;

    assert_err!(shop.cancel(&buyer("mallory"), &order).await, Error::NotFound(_));
    assert_eq!(shop.stock(&teapot).await, 6);
    let cancelled = shop.cancel(&admin(), &order).await.expect("an admin cancels");
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
}

// ---------------------------------------------------------------------------------------------
// Payments.

#[tokio::test]
async fn a_payment_marks_the_order_paid_once() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let order = shop.order(&buyer("ada"), &[(&teapot.id, 2)]).await;
    shop.advance(30);

    shop.pay(&order, "pay-1").await.expect("the first delivery");
    let paid = shop.stored(&order).await;
    assert_eq!(
        (paid.status, paid.paid_at, paid.refund_due),
        (OrderStatus::Paid, Some(shop.now()), false)
    );

    shop.advance(30);
    shop.pay(&order, "pay-1")
        .await
        .expect("the same event again is answered 200");
    assert_eq!(shop.stored(&order).await, paid, "the second delivery changes nothing");
    assert_eq!(shop.events(&order, OrderEventType::OrderPaid), 1);
}

#[tokio::test]
async fn a_second_payment_for_a_paid_order_flags_a_refund() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let order = shop.order(&buyer("ada"), &[(&teapot.id, 2)]).await;
    shop.pay(&order, "pay-1").await.expect("the first payment");
    let paid = shop.stored(&order).await;
    shop.advance(30);

    shop.pay(&order, "pay-2")
        .await
        .expect("a second payment is answered 200");

    let flagged = shop.stored(&order).await;
    assert!(flagged.refund_due, "the second payment is owed back");
    assert_eq!((flagged.status, flagged.paid_at), (OrderStatus::Paid, paid.paid_at));
    assert_eq!(shop.events(&order, OrderEventType::OrderPaid), 1);
}

#[tokio::test]
async fn a_wrong_amount_or_currency_is_refused_and_changes_nothing() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let order = shop.order(&buyer("ada"), &[(&teapot.id, 2)]).await;
    let short = PaymentEvent {
        amount_cents: order.total_cents.get() - 1,
        ..payment(&order, "pay-short", PaymentOutcome::Succeeded)
    };
    let euros = PaymentEvent {
        currency: "EUR".into(),
        ..payment(&order, "pay-eur", PaymentOutcome::Failed)
    };

    assert_err!(shop.receive(&short).await, Error::AmountMismatch(_));
    assert_err!(shop.receive(&euros).await, Error::AmountMismatch(_));

    assert_eq!(shop.stored(&order).await, order, "neither paid nor flagged");
    assert!(
        !shop.seen("pay-short").await && !shop.seen("pay-eur").await,
        "refused events are not kept"
    );
    // The provider may send a corrected event with the same id later.
    shop.pay(&order, "pay-short").await.expect("the corrected event");
    assert_eq!(shop.stored(&order).await.status, OrderStatus::Paid);
}

#[tokio::test]
async fn a_payment_after_expiry_flags_a_refund_and_the_order_stays_expired() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let order = shop.order(&buyer("ada"), &[(&teapot.id, 2)]).await;
    shop.advance(TTL_SECONDS);

    shop.pay(&order, "pay-late")
        .await
        .expect("a late payment is answered 200");

    let stored = shop.stored(&order).await;
    assert!(stored.refund_due, "the late payment is owed back");
    assert_eq!(
        (stored.status_at(shop.now()), stored.paid_at),
        (OrderStatus::Expired, None)
    );
    assert!(shop.seen("pay-late").await);
    assert_eq!(shop.events(&order, OrderEventType::OrderPaid), 0);
}

#[tokio::test]
async fn a_payment_after_cancelling_flags_a_refund() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let ada = buyer("ada");
    let order = shop.order(&ada, &[(&teapot.id, 2)]).await;
    shop.cancel(&ada, &order).await.expect("cancelling");

    shop.pay(&order, "pay-1")
        .await
        .expect("a payment for a cancelled order is answered 200");

    let stored = shop.stored(&order).await;
    assert_eq!(
        (stored.status, stored.paid_at, stored.refund_due),
        (OrderStatus::Cancelled, None, true)
    );
    assert_eq!(
        shop.stock(&teapot).await,
        10,
        "the cancel's returned stock stays returned"
    );
}

#[tokio::test]
async fn a_failed_payment_changes_nothing_but_is_remembered() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let order = shop.order(&buyer("ada"), &[(&teapot.id, 2)]).await;

    let failed = payment(&order, "pay-failed", PaymentOutcome::Failed);
    shop.receive(&failed).await.expect("a failed payment is answered 200");

    assert_eq!(shop.stored(&order).await, order);
    assert!(shop.seen("pay-failed").await);
    shop.pay(&order, "pay-ok").await.expect("a later payment");
    assert_eq!(
        shop.stored(&order).await.status,
        OrderStatus::Paid,
        "the order could still be paid"
    );
}

#[tokio::test]
async fn a_payment_for_an_unknown_order_is_not_found_and_not_kept() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let order = shop.order(&buyer("ada"), &[(&teapot.id, 2)]).await;
    let ghost = PaymentEvent {
        order_id: OrderId::from_ulid(ulid::Ulid::new()).to_string(),
        ..payment(&order, "pay-ghost", PaymentOutcome::Succeeded)
    };
    let malformed = PaymentEvent {
        order_id: "not-an-order-id".into(),
        ..payment(&order, "pay-malformed", PaymentOutcome::Succeeded)
    };

    assert_err!(shop.receive(&ghost).await, Error::NotFound(_));
    assert_err!(shop.receive(&malformed).await, Error::NotFound(_));
    assert!(!shop.seen("pay-ghost").await && !shop.seen("pay-malformed").await);
}

// ---------------------------------------------------------------------------------------------
// Expiry.

#[tokio::test]
async fn an_order_reads_as_expired_from_its_deadline_on() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let ada = buyer("ada");
    let order = shop.order(&ada, &[(&teapot.id, 2)]).await;
    let (app, id) = (&shop.app, &order.id);
    let read = || async { orders::order_for(app, &ada, id).await.expect("the owner reads") };

    shop.advance(TTL_SECONDS - 1);
    assert_eq!(
        read().await.status_at(shop.now()),
        OrderStatus::PendingPayment,
        "a second before"
    );
    shop.advance(1);
    let expired = read().await;
    assert_eq!(expired.status_at(shop.now()), OrderStatus::Expired, "at the deadline");
    assert_eq!(expired.status, OrderStatus::PendingPayment, "no write made it so");
}

// ---------------------------------------------------------------------------------------------
// Stock.

#[tokio::test]
async fn stock_adjustments_stay_between_zero_and_the_limit() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let adjust = |units: i64| {
        let delta = StockDelta::parse(units).unwrap_or_else(|e| panic!("delta {units}: {e}"));
        catalog::adjust_stock(&shop.app, &teapot.id, delta)
    };

    assert_err!(adjust(-11).await, Error::InsufficientStock(id) if id == teapot.id);
    assert_eq!(shop.stock(&teapot).await, 10, "a refused adjustment changes nothing");
    assert_eq!(adjust(-10).await.map(|p| p.stock.units()).ok(), Some(0));
    assert_eq!(adjust(Stock::MAX).await.map(|p| p.stock.units()).ok(), Some(Stock::MAX));
    assert_err!(adjust(1).await, Error::StockLimit);
    assert_eq!(
        shop.stock(&teapot).await,
        Stock::MAX,
        "a refused adjustment changes nothing"
    );
    let missing = catalog::adjust_stock(&shop.app, &unknown_product(), StockDelta::parse(1).expect("delta")).await;
    assert_err!(missing, Error::NotFound(_));
}

#[tokio::test]
async fn reserved_stock_cannot_be_adjusted_away() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    shop.order(&buyer("ada"), &[(&teapot.id, 4)]).await;

    let too_much = catalog::adjust_stock(&shop.app, &teapot.id, StockDelta::parse(-7).expect("delta")).await;

    assert_err!(too_much, Error::InsufficientStock(_));
    assert_eq!(shop.stock(&teapot).await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_buyers_for_ten_units_get_exactly_ten_orders() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;

    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let (app, lines) = (shop.app.clone(), order_lines(&[(&teapot.id, 1)]));
            tokio::spawn(
                async move { orders::place_order(&app, &buyer(&format!("buyer-{i}")), &lines, None, answer).await },
            )
        })
        .collect();
    let (mut sold, mut short) = (0, 0);
    for task in tasks {
        match task.await.unwrap_or_else(|e| panic!("a buyer's task panicked: {e}")) {
            Ok(PlacedOrder::Placed(..)) => sold += 1,
            Err(Error::InsufficientStock(id)) if id == teapot.id => short += 1,
            other => panic!("unexpected outcome: {other:?}"),
        }
    }

    assert_eq!((sold, short), (10, 20));
    assert_eq!(shop.stock(&teapot).await, 0);
}

// ---------------------------------------------------------------------------------------------
// The catalog, profiles and reports.

#[tokio::test]
async fn a_taken_sku_is_refused() {
    let shop = Shop::new();
    let teapot = shop.product(1).await;
    let copy = NewProduct {
        sku: teapot.sku.clone(),
        name: teapot.name.clone(),
        description: None,
        price: teapot.price,
        stock: teapot.stock,
    };

    assert_err!(catalog::create_product(&shop.app, copy).await, Error::SkuTaken(sku) if sku == teapot.sku.as_str());
}

#[tokio::test]
async fn a_stale_if_match_is_refused_with_the_current_version() {
    let shop = Shop::new();
    let teapot = shop.product(1).await;
    let rename = |name: &str| ProductChange {
        name: Some(ProductName::parse(name).unwrap_or_else(|e| panic!("name: {e}"))),
        ..ProductChange::default()
    };
    let (app, id) = (&shop.app, &teapot.id);
    let update = |change: ProductChange, if_match: IfMatch| async move {
        catalog::update_product(app, id, &change, Some(if_match)).await
    };

    let v2 = update(rename("Second"), IfMatch::Versions(vec![1]))
        .await
        .expect("v1 → v2");
    assert_eq!(v2.version, 2);
    let stale = update(rename("Lost"), IfMatch::Versions(vec![1])).await;
    assert_err!(stale, Error::VersionMismatch { current: 2 });
    let v3 = update(rename("Third"), IfMatch::Versions(vec![1, 2]))
        .await
        .expect("any listed version");
    assert_eq!((v3.version, v3.name.as_str()), (3, "Third"));
}

#[tokio::test]
async fn a_profile_is_made_once_from_the_claims_and_renaming_keeps_the_rest() {
    let shop = Shop::new();
    let ada = buyer("ada");
    let first = profiles::my_profile(&shop.app, &ada).await.expect("the first read");
    assert_eq!(
        (first.email.as_deref(), first.created_at),
        (Some("ada@example.com"), T0)
    );

    shop.advance(60);
    let changed_claims = Caller {
        email: Some("new@example.com".into()),
        ..ada.clone()
    };
    let name = DisplayName::parse("Ada L.").unwrap_or_else(|e| panic!("name: {e}"));
    let renamed = profiles::rename_me(&shop.app, &changed_claims, &name)
        .await
        .expect("rename");

    assert_eq!(
        renamed,
        Profile {
            display_name: Some(name),
            ..first
        }
    );
}

#[tokio::test]
async fn the_daily_report_counts_only_what_was_paid_that_day() {
    let shop = Shop::new();
    let (teapot, cups) = (shop.product(100).await, shop.product(100).await);
    let ada = buyer("ada");
    let big = shop.order(&ada, &[(&teapot.id, 3), (&cups.id, 1)]).await;
    let small = shop.order(&ada, &[(&cups.id, 1)]).await;
    let cancelled = shop.order(&ada, &[(&teapot.id, 9)]).await;
    shop.order(&ada, &[(&teapot.id, 9)]).await; // pending, never paid
    shop.pay(&big, "pay-big").await.expect("pay big");
    shop.pay(&small, "pay-small").await.expect("pay small");
    shop.cancel(&ada, &cancelled).await.expect("cancel");
    shop.pay(&cancelled, "pay-cancelled")
        .await
        .expect("a refund, not a sale");
    let today = T0.date();
    shop.advance(86_400);
    let tomorrows = shop.order(&ada, &[(&teapot.id, 7)]).await;
    shop.pay(&tomorrows, "pay-tomorrow").await.expect("pay tomorrow's");

    let report = reports::compute_daily_report(&shop.app, today).await.expect("compute");

    assert_eq!((report.orders_paid, report.units_sold), (2, 5));
    assert_eq!(report.revenue_cents.get(), 5 * UNIT_PRICE_CENTS);
    let top: Vec<_> = report.top_products.iter().map(|p| (&p.product_id, p.units)).collect();
    assert_eq!(top, vec![(&teapot.id, 3), (&cups.id, 2)]);
    assert_eq!(reports::daily_report(&shop.app, today).await.ok(), Some(report));
    let never = Date::parse("2026-11-17").unwrap_or_else(|e| panic!("date: {e}"));
    assert_err!(reports::daily_report(&shop.app, never).await, Error::NotFound(_));
}

// ---------------------------------------------------------------------------------------------
// The asynchronous half: the expiry sweep, the notification job, the relay, the scheduled report.

#[tokio::test]
async fn the_sweep_expires_only_overdue_unpaid_orders_and_returns_their_stock_once() {
    let shop = Shop::new();
    let teapot = shop.product(20).await;
    let ada = buyer("ada");
    let overdue = shop.order(&ada, &[(&teapot.id, 3)]).await;
    let paid = shop.order(&ada, &[(&teapot.id, 2)]).await;
    shop.pay(&paid, "pay-in-time").await.expect("pay");
    let cancelled = shop.order(&ada, &[(&teapot.id, 1)]).await;
    shop.cancel(&ada, &cancelled).await.expect("cancel");
    shop.advance(60);
    let later = shop.order(&ada, &[(&teapot.id, 4)]).await;
    shop.advance(TTL_SECONDS - 60);
    assert_eq!(shop.stock(&teapot).await, 20 - 3 - 2 - 4);

    let sweep = expiry::expire_overdue_orders(&shop.app, shop.now())
        .await
        .expect("sweep");

    assert_eq!((sweep.expired, sweep.closed_by_others), (1, 0));
    assert_eq!(shop.stored(&overdue).await.status, OrderStatus::Expired);
    assert_eq!(shop.stored(&paid).await.status, OrderStatus::Paid);
    assert_eq!(shop.stored(&cancelled).await.status, OrderStatus::Cancelled);
    assert_eq!(
        shop.stored(&later).await.status,
        OrderStatus::PendingPayment,
        "due in a minute"
    );
    assert_eq!(shop.stock(&teapot).await, 20 - 2 - 4);
    assert_eq!(shop.events(&overdue, OrderEventType::OrderExpired), 1);

    // The same run again, and a late one: nothing more.
    let again = expiry::expire_overdue_orders(&shop.app, shop.now())
        .await
        .expect("again");
    assert_eq!((again.expired, again.closed_by_others), (0, 0));
    assert_eq!(shop.stock(&teapot).await, 20 - 2 - 4);
    assert_eq!(shop.events(&overdue, OrderEventType::OrderExpired), 1);
    shop.advance(60);
    let late = expiry::expire_overdue_orders(&shop.app, shop.now())
        .await
        .expect("late");
    assert_eq!(late.expired, 1, "the later order is due now");
    assert_eq!(shop.stock(&teapot).await, 20 - 2);
}

#[tokio::test]
async fn an_order_the_store_fails_on_holds_back_no_other_and_is_expired_by_the_next_run() {
    let (shop, store) = Shop::failing_to_expire();
    let teapot = shop.product(10).await;
    let ada = buyer("ada");
    let first = shop.order(&ada, &[(&teapot.id, 1)]).await;
    let behind = shop.order(&ada, &[(&teapot.id, 2)]).await;
    store.unavailable(&first);
    shop.advance(TTL_SECONDS);

    let sweep = expiry::expire_overdue_orders(&shop.app, shop.now())
        .await
        .expect("a sweep");

    assert_eq!((sweep.expired, sweep.failed), (1, 1), "{sweep:?}");
    assert!(
        sweep
            .first_failure
            .as_deref()
            .is_some_and(|f| f.contains(first.id.as_str())),
        "{sweep:?}"
    );
    assert_eq!(
        shop.stored(&behind).await.status,
        OrderStatus::Expired,
        "the one behind it is not held back"
    );
    assert_eq!(shop.stored(&first).await.status, OrderStatus::PendingPayment);
    assert_eq!(shop.stock(&teapot).await, 9);

    store.available_again();
    let next = expiry::expire_overdue_orders(&shop.app, shop.now())
        .await
        .expect("the next run");
    assert_eq!((next.expired, next.failed), (1, 0));
    assert_eq!(shop.stock(&teapot).await, 10);
}

#[tokio::test]
async fn a_full_page_of_orders_the_store_fails_on_holds_back_none_behind_it() {
    let (shop, store) = Shop::failing_to_expire();
    let teapot = shop.product(1_000).await;
    // One buyer each: a buyer may hold only so many unpaid orders.
    let mut failing = Vec::new();
    for n in 0..expiry::PAGE {
        let order = shop.order(&buyer(&format!("stuck-{n}")), &[(&teapot.id, 1)]).await;
        store.unavailable(&order);
        failing.push(order);
    }
    shop.advance(1);
    let behind = shop.order(&buyer("behind"), &[(&teapot.id, 1)]).await;
    shop.advance(TTL_SECONDS);

    let sweep = expiry::expire_overdue_orders(&shop.app, shop.now())
        .await
        .expect("a sweep");

    assert_eq!(
        (sweep.expired, sweep.failed),
        (1, expiry::PAGE),
        "each order the store failed on counts once; {sweep:?}"
    );
    assert_eq!(
        shop.stored(&behind).await.status,
        OrderStatus::Expired,
        "the order behind a page of failures is expired"
    );
    assert_eq!(shop.stored(&failing[0]).await.status, OrderStatus::PendingPayment);
}

#[tokio::test]
async fn the_sweep_keys_off_the_schedules_time_but_never_runs_ahead_of_the_clock() {
    let shop = Shop::new();
    let teapot = shop.product(5).await;
    let order = shop.order(&buyer("ada"), &[(&teapot.id, 1)]).await;
    let deadline = order.expires_at;

    // Scheduled just before the deadline but running late: the schedule's time decides.
    shop.advance(TTL_SECONDS + 30);
    let early = Timestamp::from_millis(deadline.as_millis() - 1);
    let sweep = expiry::expire_overdue_orders(&shop.app, early).await.expect("sweep");
    assert_eq!(sweep.expired, 0);
    let on_time = expiry::expire_overdue_orders(&shop.app, deadline).await.expect("sweep");
    assert_eq!(sweep.expired + on_time.expired, 1, "due exactly at its deadline");

    // A schedule whose time runs ahead of the clock expires nothing the buyer may still pay.
    let shop = Shop::new();
    let teapot = shop.product(5).await;
    let order = shop.order(&buyer("ada"), &[(&teapot.id, 1)]).await;
    let ahead = order.expires_at.plus_seconds(3600);
    let sweep = expiry::expire_overdue_orders(&shop.app, ahead).await.expect("sweep");
    assert_eq!(sweep.expired, 0);
    shop.pay(&order, "pay-still-in-time").await.expect("pay");
    assert_eq!(shop.stored(&order).await.status, OrderStatus::Paid);
}

#[tokio::test]
async fn a_payment_or_cancel_that_came_first_is_never_expired() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let ada = buyer("ada");
    let paid = shop.order(&ada, &[(&teapot.id, 2)]).await;
    let cancelled = shop.order(&ada, &[(&teapot.id, 3)]).await;
    shop.advance(TTL_SECONDS - 1);
    shop.pay(&paid, "pay-last-second").await.expect("pay");
    shop.cancel(&ada, &cancelled).await.expect("cancel");
    shop.advance(1);
    // What a sweep that read the orders just before the payment and the cancel would write.
    for order in [&paid, &cancelled] {
        let event = orders::order_event(&shop.app, order, OrderEventType::OrderExpired);
        let lost = shop.app.store.expire_order(order, shop.now(), &event).await;
        assert!(matches!(lost, Err(StoreError::Conflict(_))), "{lost:?}");
    }
    assert_eq!(shop.stored(&paid).await.status, OrderStatus::Paid);
    assert_eq!(shop.stored(&cancelled).await.status, OrderStatus::Cancelled);
    assert_eq!(
        shop.stock(&teapot).await,
        8,
        "the cancel's units came back once, the paid ones stay sold"
    );
}

#[tokio::test]
async fn an_event_delivered_twice_tells_its_user_once() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let ada = buyer("ada");
    let order = shop.order(&ada, &[(&teapot.id, 1)]).await;
    let events = shop.memory.order_events().expect("events");
    let placed = events
        .iter()
        .find(|e| e.order_id == order.id)
        .expect("the order_placed event");

    assert!(notifications::notify_user(&shop.app, placed)
        .await
        .expect("first delivery"));
    shop.advance(5);
    assert!(!notifications::notify_user(&shop.app, placed)
        .await
        .expect("second delivery"));

    let (told, more) = notifications::notifications_of(&shop.app, &ada.user_id, None, 10)
        .await
        .expect("list");
    assert!(!more);
    assert_eq!(told.len(), 1);
    assert_eq!(
        (told[0].id.as_str(), told[0].kind),
        (placed.id.as_str(), OrderEventType::OrderPlaced)
    );
    assert_eq!(told[0].created_at, T0, "the first delivery's notification is kept");
    let (others, _) = notifications::notifications_of(&shop.app, &buyer("bob").user_id, None, 10)
        .await
        .expect("list");
    assert!(others.is_empty());
}

/// A publisher that refuses the events it is told to refuse once each, and records what it took.
#[derive(Default)]
struct FlakyPublisher {
    refuse_once: Mutex<Vec<String>>,
    published: Mutex<Vec<String>>,
}

#[async_trait]
impl EventPublisher for FlakyPublisher {
    async fn publish(&self, events: &[OrderEvent]) -> Vec<PublishFailure> {
        let mut refuse = self.refuse_once.lock().unwrap_or_else(|e| e.into_inner());
        let mut failed = Vec::new();
        for event in events {
            if let Some(at) = refuse.iter().position(|id| id == &event.id) {
                refuse.remove(at);
                failed.push(PublishFailure {
                    event_id: event.id.clone(),
                    reason: "the queue said no".into(),
                });
            } else {
                self.published
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(event.id.clone());
            }
        }
        failed
    }
}

#[tokio::test]
async fn a_failed_publish_is_retried_and_every_event_is_published() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let ada = buyer("ada");
    for _ in 0..3 {
        shop.order(&ada, &[(&teapot.id, 1)]).await;
    }
    let written: Vec<String> = shop
        .memory
        .order_events()
        .expect("events")
        .into_iter()
        .map(|e| e.id)
        .collect();
    let publisher = FlakyPublisher::default();
    publisher
        .refuse_once
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(written[1].clone());
    let outbox: &dyn OutboxStore = &shop.memory;

    let first = relay::relay_outbox(&shop.app, outbox, &publisher)
        .await
        .expect("first pass");
    assert_eq!(first.published, 2);
    assert_eq!(
        first.failed.iter().map(|f| &f.event_id).collect::<Vec<_>>(),
        [&written[1]]
    );
    let second = relay::relay_outbox(&shop.app, outbox, &publisher)
        .await
        .expect("second pass");
    assert_eq!(
        (second.published, second.failed.len()),
        (1, 0),
        "only the refused one is offered again"
    );
    let third = relay::relay_outbox(&shop.app, outbox, &publisher)
        .await
        .expect("third pass");
    assert_eq!(third, relay::RelayPass::default(), "nothing left");

    let mut published = publisher.published.lock().unwrap_or_else(|e| e.into_inner()).clone();
    published.sort();
    assert_eq!(published, written, "each event published, none lost, none twice here");
}

#[tokio::test]
async fn the_scheduled_report_is_the_previous_days_and_a_rerun_changes_nothing() {
    let shop = Shop::new();
    let teapot = shop.product(10).await;
    let ada = buyer("ada");
    let order = shop.order(&ada, &[(&teapot.id, 2)]).await;
    shop.pay(&order, "pay-report").await.expect("pay");
    let today = T0.date();
    let (_, midnight) = today.bounds();
    let five_past = midnight.plus_seconds(5 * 60);

    let report = reports::report_previous_day(&shop.app, five_past)
        .await
        .expect("report");
    assert_eq!((report.date, report.orders_paid, report.units_sold), (today, 1, 2));
    shop.advance(3600);
    let rerun = reports::report_previous_day(&shop.app, five_past).await.expect("rerun");
    assert_eq!(
        (rerun.date, rerun.orders_paid, rerun.units_sold, rerun.revenue_cents),
        (report.date, 1, 2, report.revenue_cents)
    );
    assert_eq!(
        reports::daily_report(&shop.app, today).await.expect("kept").orders_paid,
        1
    );
}

// ---------------------------------------------------------------------------------------------
// The race gate: the memory store, except that `order_inputs` waits until every racer has read.
// The racers then all write believing the key free, so the losers meet the store's key conflict
// (the path a real race takes) instead of finding the winner's record on their first read. It can
// also be told to fail expiring one order, as an overloaded store would.

struct RaceGate {
    inner: MemoryStore,
    gate: Barrier,
    unavailable_for: Mutex<HashSet<OrderId>>,
}

impl RaceGate {
    fn unavailable(&self, order: &Order) {
        self.unavailable_for
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(order.id.clone());
    }
    fn available_again(&self) {
        self.unavailable_for.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[async_trait]
impl Store for RaceGate {
    async fn check_health(&self) -> Result<(), StoreError> {
        self.inner.check_health().await
    }
}

#[async_trait]
impl CatalogStore for RaceGate {
    async fn insert_product(&self, product: &Product) -> Result<(), StoreError> {
        self.inner.insert_product(product).await
    }
    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        self.inner.product(id).await
    }
    async fn products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        self.inner.products(ids).await
    }
    async fn active_products(&self, after: Option<&ProductId>, limit: usize) -> Result<Vec<Product>, StoreError> {
        self.inner.active_products(after, limit).await
    }
    async fn update_product(
        &self,
        id: &ProductId,
        change: &ProductChange,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> Result<Product, StoreError> {
        self.inner.update_product(id, change, expected_version, now).await
    }
    async fn adjust_stock(&self, id: &ProductId, delta: StockDelta, now: Timestamp) -> Result<Product, StoreError> {
        self.inner.adjust_stock(id, delta, now).await
    }
}

#[async_trait]
impl OrderStore for RaceGate {
    async fn order_inputs(
        &self,
        ids: &[ProductId],
        key: Option<(&UserId, &IdempotencyKey)>,
    ) -> Result<(Vec<Product>, Option<IdempotencyRecord>), StoreError> {
        let inputs = self.inner.order_inputs(ids, key).await;
        self.gate.wait().await;
        inputs
    }
    async fn place_order(&self, placement: &OrderPlacement) -> Result<(), StoreError> {
        self.inner.place_order(placement).await
    }
    async fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.inner.order(id).await
    }
    async fn orders_of(&self, user: &UserId, before: Option<&OrderId>, limit: usize) -> Result<Vec<Order>, StoreError> {
        self.inner.orders_of(user, before, limit).await
    }
    async fn overdue_orders(
        &self,
        cutoff: Timestamp,
        after: Option<&Order>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        self.inner.overdue_orders(cutoff, after, limit).await
    }
    async fn expire_order(&self, order: &Order, now: Timestamp, event: &OrderEvent) -> Result<Order, StoreError> {
        if self
            .unavailable_for
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&order.id)
        {
            return Err(StoreError::Unavailable("throttled".into()));
        }
        self.inner.expire_order(order, now, event).await
    }
    async fn cancel_order(&self, order: &Order, now: Timestamp, event: &OrderEvent) -> Result<Order, StoreError> {
        self.inner.cancel_order(order, now, event).await
    }
    async fn idempotency_record(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.idempotency_record(user, key).await
    }
}

#[async_trait]
impl PaymentStore for RaceGate {
    async fn payment_event_seen(&self, payment_event_id: &str) -> Result<bool, StoreError> {
        self.inner.payment_event_seen(payment_event_id).await
    }
    async fn mark_order_paid(
        &self,
        order: &Order,
        payment_event_id: &str,
        now: Timestamp,
        event: &OrderEvent,
    ) -> Result<(), StoreError> {
        self.inner.mark_order_paid(order, payment_event_id, now, event).await
    }
    async fn flag_refund_due(&self, order: &Order, payment_event_id: &str, now: Timestamp) -> Result<(), StoreError> {
        self.inner.flag_refund_due(order, payment_event_id, now).await
    }
    async fn remember_payment_event(&self, payment_event_id: &str, now: Timestamp) -> Result<(), StoreError> {
        self.inner.remember_payment_event(payment_event_id, now).await
    }
}

#[async_trait]
impl ProfileStore for RaceGate {
    async fn profile(&self, user: &UserId) -> Result<Option<Profile>, StoreError> {
        self.inner.profile(user).await
    }
    async fn insert_profile(&self, profile: &Profile) -> Result<Profile, StoreError> {
        self.inner.insert_profile(profile).await
    }
    async fn set_display_name(&self, fresh: &Profile, name: &DisplayName) -> Result<Profile, StoreError> {
        self.inner.set_display_name(fresh, name).await
    }
}

#[async_trait]
impl ReportStore for RaceGate {
    async fn paid_orders_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Order>, StoreError> {
        self.inner.paid_orders_between(from, to).await
    }
    async fn save_report(&self, report: &DailyReport) -> Result<(), StoreError> {
        self.inner.save_report(report).await
    }
    async fn report(&self, date: Date) -> Result<Option<DailyReport>, StoreError> {
        self.inner.report(date).await
    }
}

#[async_trait]
impl NotificationStore for RaceGate {
    async fn insert_notification(&self, notification: &Notification) -> Result<bool, StoreError> {
        self.inner.insert_notification(notification).await
    }
    async fn notifications_of(
        &self,
        user: &UserId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        self.inner.notifications_of(user, before, limit).await
    }
}
