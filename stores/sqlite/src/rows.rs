//! Rows to domain values and back. A row that does not parse is corrupt data: an internal error,
//! never a panic.

use orderly_core::domain::{
    Cents, Currency, DailyReport, Date, Description, DisplayName, IdempotencyKey, IdempotencyRecord, Notification,
    Order, OrderEvent, OrderEventType, OrderId, OrderLine, OrderStatus, Price, Product, ProductId, ProductName,
    ProductUnits, Profile, Sku, Stock, Timestamp, UserId,
};
use orderly_core::ports::StoreError;
use rusqlite::Row;

/// The column lists, as macros so the statements built from them are constants: SQL text is
/// assembled at compile time, not on every read.
#[macro_export]
macro_rules! product_columns {
    () => {
        "id, sku, name, description, price_cents, stock, active, version, created_at, updated_at"
    };
}

#[macro_export]
macro_rules! order_columns {
    () => {
        "id, user_id, status, lines, total_cents, currency, created_at, updated_at, expires_at, paid_at, refund_due"
    };
}

#[macro_export]
macro_rules! event_columns {
    () => {
        "id, kind, order_id, user_id, occurred_at"
    };
}

#[macro_export]
macro_rules! notification_columns {
    () => {
        "id, user_id, kind, order_id, message, created_at"
    };
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("corrupt {what} row: {detail}"))
}

/// Reads a row with `read`, turning both SQLite errors and parse errors into a `StoreError`.
pub fn product(row: &Row<'_>) -> rusqlite::Result<Result<Product, StoreError>> {
    let id: String = row.get(0)?;
    let sku: String = row.get(1)?;
    let name: String = row.get(2)?;
    let description: Option<String> = row.get(3)?;
    let price: i64 = row.get(4)?;
    let stock: i64 = row.get(5)?;
    let active: bool = row.get(6)?;
    let version: i64 = row.get(7)?;
    let created_at: i64 = row.get(8)?;
    let updated_at: i64 = row.get(9)?;
    Ok((|| {
        Ok(Product {
            id: ProductId::parse(&id).map_err(|e| corrupt("product", e))?,
            sku: Sku::parse(&sku).map_err(|e| corrupt("product", e))?,
            name: ProductName::parse(&name).map_err(|e| corrupt("product", e))?,
            description: description
                .map(|d| Description::parse(&d))
                .transpose()
                .map_err(|e| corrupt("product", e))?,
            price: Price::parse(price).map_err(|e| corrupt("product", e))?,
            stock: Stock::from_stored(stock),
            active,
            version: u64::try_from(version).map_err(|e| corrupt("product", e))?,
            created_at: Timestamp::from_millis(created_at),
            updated_at: Timestamp::from_millis(updated_at),
        })
    })())
}

pub fn order(row: &Row<'_>) -> rusqlite::Result<Result<Order, StoreError>> {
    let id: String = row.get(0)?;
    let user_id: String = row.get(1)?;
    let status: String = row.get(2)?;
    let lines: String = row.get(3)?;
    let total: i64 = row.get(4)?;
    let currency: String = row.get(5)?;
    let created_at: i64 = row.get(6)?;
    let updated_at: i64 = row.get(7)?;
    let expires_at: i64 = row.get(8)?;
    let paid_at: Option<i64> = row.get(9)?;
    let refund_due: bool = row.get(10)?;
    Ok((|| {
        Ok(Order {
            id: OrderId::parse(&id).map_err(|e| corrupt("order", e))?,
            user_id: UserId::parse(&user_id).map_err(|e| corrupt("order", e))?,
            status: OrderStatus::parse(&status).ok_or_else(|| corrupt("order", status))?,
            lines: serde_json::from_str::<Vec<OrderLine>>(&lines).map_err(|e| corrupt("order", e))?,
            total_cents: Cents::new(total),
            currency: Currency::parse(&currency).map_err(|e| corrupt("order", e))?,
            created_at: Timestamp::from_millis(created_at),
            updated_at: Timestamp::from_millis(updated_at),
            expires_at: Timestamp::from_millis(expires_at),
            paid_at: paid_at.map(Timestamp::from_millis),
            refund_due,
        })
    })())
}

pub fn lines_json(order: &Order) -> Result<String, StoreError> {
    serde_json::to_string(&order.lines).map_err(|e| StoreError::Internal(format!("encoding order lines: {e}")))
}

pub fn idempotency_record(row: &Row<'_>) -> rusqlite::Result<Result<IdempotencyRecord, StoreError>> {
    let user_id: String = row.get(0)?;
    let key: String = row.get(1)?;
    let fingerprint: String = row.get(2)?;
    let status: u16 = row.get(3)?;
    let location: String = row.get(4)?;
    let body: String = row.get(5)?;
    let created_at: i64 = row.get(6)?;
    Ok((|| {
        Ok(IdempotencyRecord {
            user_id: UserId::parse(&user_id).map_err(|e| corrupt("idempotency", e))?,
            key: IdempotencyKey::parse(&key).map_err(|e| corrupt("idempotency", e))?,
            fingerprint,
            status,
            location,
            body,
            created_at: Timestamp::from_millis(created_at),
        })
    })())
}

pub fn profile(row: &Row<'_>) -> rusqlite::Result<Result<Profile, StoreError>> {
    let user_id: String = row.get(0)?;
    let email: Option<String> = row.get(1)?;
    let display_name: Option<String> = row.get(2)?;
    let created_at: i64 = row.get(3)?;
    Ok((|| {
        Ok(Profile {
            user_id: UserId::parse(&user_id).map_err(|e| corrupt("profile", e))?,
            email,
            display_name: display_name
                .map(|n| DisplayName::parse(&n))
                .transpose()
                .map_err(|e| corrupt("profile", e))?,
            created_at: Timestamp::from_millis(created_at),
        })
    })())
}

pub fn report(row: &Row<'_>) -> rusqlite::Result<Result<DailyReport, StoreError>> {
    let date: String = row.get(0)?;
    let orders_paid: i64 = row.get(1)?;
    let revenue: i64 = row.get(2)?;
    let units_sold: i64 = row.get(3)?;
    let top: String = row.get(4)?;
    let computed_at: i64 = row.get(5)?;
    Ok((|| {
        Ok(DailyReport {
            date: Date::parse(&date).map_err(|e| corrupt("report", e))?,
            orders_paid: u64::try_from(orders_paid).map_err(|e| corrupt("report", e))?,
            revenue_cents: Cents::new(revenue),
            units_sold: u64::try_from(units_sold).map_err(|e| corrupt("report", e))?,
            top_products: serde_json::from_str::<Vec<ProductUnits>>(&top).map_err(|e| corrupt("report", e))?,
            computed_at: Timestamp::from_millis(computed_at),
        })
    })())
}

pub fn event(row: &Row<'_>) -> rusqlite::Result<Result<OrderEvent, StoreError>> {
    let id: String = row.get(0)?;
    let kind: String = row.get(1)?;
    let order_id: String = row.get(2)?;
    let user_id: String = row.get(3)?;
    let occurred_at: i64 = row.get(4)?;
    Ok((|| {
        Ok(OrderEvent {
            id,
            kind: OrderEventType::parse(&kind).ok_or_else(|| corrupt("order event", kind))?,
            order_id: OrderId::parse(&order_id).map_err(|e| corrupt("order event", e))?,
            user_id: UserId::parse(&user_id).map_err(|e| corrupt("order event", e))?,
            occurred_at: Timestamp::from_millis(occurred_at),
        })
    })())
}

pub fn notification(row: &Row<'_>) -> rusqlite::Result<Result<Notification, StoreError>> {
    let id: String = row.get(0)?;
    let user_id: String = row.get(1)?;
    let kind: String = row.get(2)?;
    let order_id: String = row.get(3)?;
    let message: String = row.get(4)?;
    let created_at: i64 = row.get(5)?;
    Ok((|| {
        Ok(Notification {
            id,
            kind: OrderEventType::parse(&kind).ok_or_else(|| corrupt("notification", kind))?,
            order_id: OrderId::parse(&order_id).map_err(|e| corrupt("notification", e))?,
            user_id: UserId::parse(&user_id).map_err(|e| corrupt("notification", e))?,
            message,
            created_at: Timestamp::from_millis(created_at),
        })
    })())
}
