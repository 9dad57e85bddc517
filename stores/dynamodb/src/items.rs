//! Domain values as items and back (docs/data-model.md §2). Writers set every attribute of the
//! current schema; readers accept absent optional attributes, so items evolve additively.

use crate::attributes::*;
use crate::keys::{self, OrderShards, SCHEMA, TTL};
use aws_sdk_dynamodb::types::AttributeValue;
use orderly_core::domain::{
    Cents, Currency, DailyReport, Date, Description, DisplayName, IdempotencyKey, IdempotencyRecord, Notification,
    Order, OrderEvent, OrderEventType, OrderId, OrderLine, OrderStatus, Price, Product, ProductId, ProductName,
    ProductUnits, Profile, Quantity, Sku, Stock, Timestamp, UserId,
};
use orderly_core::ports::StoreError;

const DAY_SECONDS: i64 = 86_400;

fn with_key(mut key: Item, kind: &str) -> Item {
    key.insert("type".into(), s(kind));
    key.insert("schema".into(), n(SCHEMA));
    key
}

fn parsed<T>(item: &Item, name: &str, result: Result<T, String>) -> Result<T, StoreError> {
    result.map_err(|problem| corrupt(item, name, &problem))
}

fn ttl_after(at: Timestamp, seconds: i64) -> AttributeValue {
    n(at.as_unix_seconds() + seconds)
}

pub fn product_item(p: &Product) -> Item {
    let mut item = with_key(keys::product(&p.id), "product");
    item.insert("id".into(), s(p.id.as_str()));
    item.insert("sku".into(), s(p.sku.as_str()));
    item.insert("name".into(), s(p.name.as_str()));
    if let Some(description) = &p.description {
        item.insert("description".into(), s(description.as_str()));
    }
    item.insert("price_cents".into(), n(p.price.cents().get()));
    item.insert("stock".into(), n(p.stock.units()));
    item.insert("active".into(), b(p.active));
    item.insert("version".into(), n(p.version));
    item.insert("created_at".into(), n(p.created_at.as_millis()));
    item.insert("updated_at".into(), n(p.updated_at.as_millis()));
    if p.active {
        item.insert(keys::GSI3PK.into(), s(keys::ACTIVE_PRODUCTS));
        item.insert(keys::GSI3SK.into(), s(p.id.as_str()));
    }
    item
}

/// The product id of a catalog entry: the index's sort key (`GSI3SK`, or `GSI1SK` for a product
/// written before `GSI3`).
pub fn listed_product_id(entry: &Item, sort_key: &str) -> Result<ProductId, StoreError> {
    parsed(entry, sort_key, ProductId::parse(get_s(entry, sort_key)?))
}

pub fn sku_item(p: &Product) -> Item {
    let mut item = with_key(keys::sku(p.sku.as_str()), "sku");
    item.insert("sku".into(), s(p.sku.as_str()));
    item.insert("product_id".into(), s(p.id.as_str()));
    item
}

pub fn product(item: &Item) -> Result<Product, StoreError> {
    Ok(Product {
        id: parsed(item, "id", ProductId::parse(get_s(item, "id")?))?,
        sku: parsed(item, "sku", Sku::parse(get_s(item, "sku")?))?,
        name: parsed(item, "name", ProductName::parse(get_s(item, "name")?))?,
        description: match get_opt_s(item, "description")? {
            Some(text) => Some(parsed(item, "description", Description::parse(text))?),
            None => None,
        },
        price: parsed(item, "price_cents", Price::parse(get_n(item, "price_cents")?))?,
        stock: Stock::from_stored(get_n(item, "stock")?),
        active: get_bool(item, "active")?,
        version: get_n(item, "version")?,
        created_at: Timestamp::from_millis(get_n(item, "created_at")?),
        updated_at: Timestamp::from_millis(get_n(item, "updated_at")?),
    })
}

fn line_value(line: &OrderLine) -> AttributeValue {
    AttributeValue::M(
        [
            ("product_id", s(line.product_id.as_str())),
            ("sku", s(line.sku.as_str())),
            ("name", s(line.name.as_str())),
            ("unit_price_cents", n(line.unit_price_cents.get())),
            ("quantity", n(line.quantity.get())),
            ("line_total_cents", n(line.line_total_cents.get())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    )
}

fn line(order: &Item, value: &AttributeValue) -> Result<OrderLine, StoreError> {
    let item = value
        .as_m()
        .map_err(|_| corrupt(order, "lines", "holds a value that is not a map"))?;
    Ok(OrderLine {
        product_id: parsed(item, "product_id", ProductId::parse(get_s(item, "product_id")?))?,
        sku: parsed(item, "sku", Sku::parse(get_s(item, "sku")?))?,
        name: parsed(item, "name", ProductName::parse(get_s(item, "name")?))?,
        unit_price_cents: Cents::new(get_n(item, "unit_price_cents")?),
        quantity: parsed(item, "quantity", Quantity::parse(get_n(item, "quantity")?))?,
        line_total_cents: Cents::new(get_n(item, "line_total_cents")?),
    })
}

/// The `GSI2` attributes an order carries in each status, in its shard: pending orders by
/// deadline, paid ones by day; none once cancelled or expired.
pub fn order_gsi2(order: &Order, shards: OrderShards) -> Option<(String, String)> {
    let shard = shards.of(&order.id);
    match (order.status, order.paid_at) {
        (OrderStatus::PendingPayment, _) => {
            Some((keys::pending_orders(shard), keys::timed(order.expires_at, &order.id)))
        }
        (OrderStatus::Paid, Some(paid_at)) => {
            Some((keys::paid_on(paid_at.date(), shard), keys::timed(paid_at, &order.id)))
        }
        _ => None,
    }
}

pub fn order_item(o: &Order, shards: OrderShards) -> Item {
    let mut item = with_key(keys::order(&o.id), "order");
    item.insert("id".into(), s(o.id.as_str()));
    item.insert("user_id".into(), s(o.user_id.as_str()));
    item.insert("status".into(), s(o.status.as_str()));
    item.insert(
        "lines".into(),
        AttributeValue::L(o.lines.iter().map(line_value).collect()),
    );
    item.insert("total_cents".into(), n(o.total_cents.get()));
    item.insert("currency".into(), s(o.currency.as_str()));
    item.insert("created_at".into(), n(o.created_at.as_millis()));
    item.insert("updated_at".into(), n(o.updated_at.as_millis()));
    item.insert("expires_at".into(), n(o.expires_at.as_millis()));
    if let Some(paid_at) = o.paid_at {
        item.insert("paid_at".into(), n(paid_at.as_millis()));
    }
    item.insert("refund_due".into(), b(o.refund_due));
    item.insert(keys::GSI1PK.into(), s(keys::user_orders(&o.user_id)));
    item.insert(keys::GSI1SK.into(), s(keys::order_sort(&o.id)));
    if let Some((pk, sk)) = order_gsi2(o, shards) {
        item.insert(keys::GSI2PK.into(), s(pk));
        item.insert(keys::GSI2SK.into(), s(sk));
    }
    item
}

pub fn order(item: &Item) -> Result<Order, StoreError> {
    let status = get_s(item, "status")?;
    Ok(Order {
        id: parsed(item, "id", OrderId::parse(get_s(item, "id")?))?,
        user_id: parsed(item, "user_id", UserId::parse(get_s(item, "user_id")?))?,
        status: OrderStatus::parse(status).ok_or_else(|| corrupt(item, "status", "is not a known status"))?,
        lines: get_list(item, "lines")?
            .iter()
            .map(|value| line(item, value))
            .collect::<Result<_, _>>()?,
        total_cents: Cents::new(get_n(item, "total_cents")?),
        currency: parsed(item, "currency", Currency::parse(get_s(item, "currency")?))?,
        created_at: Timestamp::from_millis(get_n(item, "created_at")?),
        updated_at: Timestamp::from_millis(get_n(item, "updated_at")?),
        expires_at: Timestamp::from_millis(get_n(item, "expires_at")?),
        paid_at: get_opt_n(item, "paid_at")?.map(Timestamp::from_millis),
        refund_due: get_bool_or_false(item, "refund_due")?,
    })
}

pub fn event_item(e: &OrderEvent) -> Item {
    let mut item = with_key(keys::order_event(&e.order_id, &e.id), "order_event");
    item.insert("id".into(), s(e.id.as_str()));
    // `kind`, because every item's `type` names its item type; the relay publishes it as "type".
    item.insert("kind".into(), s(e.kind.as_str()));
    item.insert("order_id".into(), s(e.order_id.as_str()));
    item.insert("user_id".into(), s(e.user_id.as_str()));
    item.insert("occurred_at".into(), n(e.occurred_at.as_millis()));
    item.insert(TTL.into(), ttl_after(e.occurred_at, 7 * DAY_SECONDS));
    item
}

pub fn idempotency_item(r: &IdempotencyRecord) -> Item {
    let mut item = with_key(keys::idempotency(&r.user_id, &r.key), "idempotency");
    item.insert("user_id".into(), s(r.user_id.as_str()));
    item.insert("key".into(), s(r.key.as_str()));
    item.insert("fingerprint".into(), s(r.fingerprint.as_str()));
    item.insert("status".into(), n(r.status));
    item.insert("location".into(), s(r.location.as_str()));
    item.insert("body".into(), s(r.body.as_str()));
    item.insert("created_at".into(), n(r.created_at.as_millis()));
    // Kept for at least the contract's 24 h: TTL never deletes early, and reads ignore it.
    item.insert(TTL.into(), ttl_after(r.created_at, 2 * DAY_SECONDS));
    item
}

pub fn idempotency_record(item: &Item) -> Result<IdempotencyRecord, StoreError> {
    Ok(IdempotencyRecord {
        user_id: parsed(item, "user_id", UserId::parse(get_s(item, "user_id")?))?,
        key: parsed(item, "key", IdempotencyKey::parse(get_s(item, "key")?))?,
        fingerprint: get_s(item, "fingerprint")?.to_string(),
        status: get_n(item, "status")?,
        location: get_s(item, "location")?.to_string(),
        body: get_s(item, "body")?.to_string(),
        created_at: Timestamp::from_millis(get_n(item, "created_at")?),
    })
}

pub fn payment_event_item(id: &str, received_at: Timestamp) -> Item {
    let mut item = with_key(keys::payment_event(id), "payment_event");
    item.insert("id".into(), s(id));
    item.insert("received_at".into(), n(received_at.as_millis()));
    item.insert(TTL.into(), ttl_after(received_at, 90 * DAY_SECONDS));
    item
}

/// A profile always stores `email`, as NULL when the token had none, so an upsert's
/// `if_not_exists(email, ...)` never fills in an email a profile was created without.
pub fn profile_item(p: &Profile) -> Item {
    let mut item = with_key(keys::profile(&p.user_id), "profile");
    item.insert("user_id".into(), s(p.user_id.as_str()));
    item.insert(
        "email".into(),
        p.email.as_deref().map(s).unwrap_or(AttributeValue::Null(true)),
    );
    if let Some(name) = &p.display_name {
        item.insert("display_name".into(), s(name.as_str()));
    }
    item.insert("created_at".into(), n(p.created_at.as_millis()));
    item
}

pub fn profile(item: &Item) -> Result<Profile, StoreError> {
    Ok(Profile {
        user_id: parsed(item, "user_id", UserId::parse(get_s(item, "user_id")?))?,
        email: get_opt_s(item, "email")?.map(str::to_string),
        display_name: match get_opt_s(item, "display_name")? {
            Some(name) => Some(parsed(item, "display_name", DisplayName::parse(name))?),
            None => None,
        },
        created_at: Timestamp::from_millis(get_n(item, "created_at")?),
    })
}

/// A notification lives in its user's partition, under its event's id, for 90 days.
pub fn notification_item(note: &Notification) -> Item {
    let mut item = with_key(keys::notification(&note.user_id, &note.id), "notification");
    item.insert("id".into(), s(note.id.as_str()));
    item.insert("kind".into(), s(note.kind.as_str()));
    item.insert("order_id".into(), s(note.order_id.as_str()));
    item.insert("user_id".into(), s(note.user_id.as_str()));
    item.insert("message".into(), s(note.message.as_str()));
    item.insert("created_at".into(), n(note.created_at.as_millis()));
    item.insert(TTL.into(), ttl_after(note.created_at, 90 * DAY_SECONDS));
    item
}

pub fn notification(item: &Item) -> Result<Notification, StoreError> {
    let kind = get_s(item, "kind")?;
    Ok(Notification {
        id: get_s(item, "id")?.to_string(),
        kind: OrderEventType::parse(kind).ok_or_else(|| corrupt(item, "kind", "is not a known event type"))?,
        order_id: parsed(item, "order_id", OrderId::parse(get_s(item, "order_id")?))?,
        user_id: parsed(item, "user_id", UserId::parse(get_s(item, "user_id")?))?,
        message: get_s(item, "message")?.to_string(),
        created_at: Timestamp::from_millis(get_n(item, "created_at")?),
    })
}

pub fn report_item(r: &DailyReport) -> Item {
    let mut item = with_key(keys::report(r.date), "report");
    item.insert("date".into(), s(r.date.to_string()));
    item.insert("orders_paid".into(), n(r.orders_paid));
    item.insert("revenue_cents".into(), n(r.revenue_cents.get()));
    item.insert("units_sold".into(), n(r.units_sold));
    let top = r
        .top_products
        .iter()
        .map(|p| {
            AttributeValue::M(
                [
                    ("product_id".to_string(), s(p.product_id.as_str())),
                    ("units".to_string(), n(p.units)),
                ]
                .into(),
            )
        })
        .collect();
    item.insert("top_products".into(), AttributeValue::L(top));
    item.insert("computed_at".into(), n(r.computed_at.as_millis()));
    item
}

pub fn report(item: &Item) -> Result<DailyReport, StoreError> {
    let top_products = get_list(item, "top_products")?
        .iter()
        .map(|value| {
            let entry = value
                .as_m()
                .map_err(|_| corrupt(item, "top_products", "holds a value that is not a map"))?;
            Ok(ProductUnits {
                product_id: parsed(entry, "product_id", ProductId::parse(get_s(entry, "product_id")?))?,
                units: get_n(entry, "units")?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(DailyReport {
        date: parsed(item, "date", Date::parse(get_s(item, "date")?))?,
        orders_paid: get_n(item, "orders_paid")?,
        revenue_cents: Cents::new(get_n(item, "revenue_cents")?),
        units_sold: get_n(item, "units_sold")?,
        top_products,
        computed_at: Timestamp::from_millis(get_n(item, "computed_at")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderly_core::domain::{Currency, IdempotencyKey as Key};

    fn ok<T>(result: Result<T, String>) -> T {
        result.unwrap_or_else(|e| panic!("{e}"))
    }

    fn sample_order() -> Order {
        let line = OrderLine {
            product_id: ProductId::from_ulid(ulid::Ulid::new()),
            sku: ok(Sku::parse("TEA-1")),
            name: ok(ProductName::parse("Tea")),
            unit_price_cents: Cents::new(250),
            quantity: ok(Quantity::parse(2)),
            line_total_cents: Cents::new(500),
        };
        Order {
            id: OrderId::from_ulid(ulid::Ulid::new()),
            user_id: ok(UserId::parse("ada")),
            status: OrderStatus::PendingPayment,
            lines: vec![line],
            total_cents: Cents::new(500),
            currency: ok(Currency::parse("USD")),
            created_at: Timestamp::from_millis(1_000),
            updated_at: Timestamp::from_millis(1_000),
            expires_at: Timestamp::from_millis(901_000),
            paid_at: None,
            refund_due: false,
        }
    }

    #[test]
    fn items_round_trip() {
        let order = sample_order();
        let shards = OrderShards::DEFAULT;
        let pending = format!("PENDING#{}", shards.of(&order.id));
        assert_eq!(order_item(&order, shards).get("GSI2PK"), Some(&s(pending)));
        assert_eq!(self::order(&order_item(&order, shards)).ok(), Some(order));
    }

    #[test]
    fn a_notification_round_trips_in_its_user_s_partition_with_a_90_day_ttl() {
        let note = Notification {
            id: "01JDB3Z6V4M0Q7YQ6V6X4W1T2S".into(),
            kind: OrderEventType::OrderExpired,
            order_id: OrderId::from_ulid(ulid::Ulid::new()),
            user_id: ok(UserId::parse("a#b")),
            message: "gone".into(),
            created_at: Timestamp::from_millis(1_795_000_000_123),
        };
        let item = notification_item(&note);
        assert_eq!(item.get("PK"), Some(&s("USER#a#b")));
        assert_eq!(item.get("SK"), Some(&s("NOTE#01JDB3Z6V4M0Q7YQ6V6X4W1T2S")));
        assert_eq!(item.get("type"), Some(&s("notification")));
        assert_eq!(item.get("ttl"), Some(&n(1_795_000_000 + 90 * 86_400)));
        assert_eq!(notification(&item).ok(), Some(note));
    }

    #[test]
    fn a_later_version_s_additions_are_ignored_and_missing_optionals_default() {
        let order = sample_order();
        let mut item = order_item(&order, OrderShards::DEFAULT);
        item.insert("schema".into(), n(2));
        item.insert("gift_wrap".into(), b(true));
        item.remove("refund_due");
        assert_eq!(self::order(&item).ok(), Some(order));
    }

    #[test]
    fn corrupt_items_are_errors_not_panics() {
        let mut item = order_item(&sample_order(), OrderShards::DEFAULT);
        item.insert("total_cents".into(), s("lots"));
        assert!(self::order(&item).is_err());
        item.remove("total_cents");
        assert!(self::order(&item).is_err());
        let record = IdempotencyRecord {
            user_id: ok(UserId::parse("ada")),
            key: ok(Key::parse("k")),
            fingerprint: "f".into(),
            status: 201,
            location: "/v1/orders/x".into(),
            body: "{}".into(),
            created_at: Timestamp::from_millis(0),
        };
        let mut item = idempotency_item(&record);
        assert_eq!(idempotency_record(&item).ok(), Some(record));
        item.insert("status".into(), b(true));
        assert!(idempotency_record(&item).is_err());
    }
}
