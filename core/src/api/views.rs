//! The contract's JSON representations of the domain, rendered by the endpoints only.

use crate::domain::{Currency, DailyReport, Notification, Order, OrderLine, Product, Profile, Timestamp};
use serde::Serialize;

#[derive(Serialize)]
pub struct ProductView<'a> {
    id: &'a str,
    sku: &'a str,
    name: &'a str,
    description: Option<&'a str>,
    price_cents: i64,
    currency: Currency,
    stock: i64,
    active: bool,
    version: u64,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl<'a> ProductView<'a> {
    pub fn new(product: &'a Product, currency: Currency) -> Self {
        ProductView {
            id: product.id.as_str(),
            sku: product.sku.as_str(),
            name: product.name.as_str(),
            description: product.description.as_ref().map(|d| d.as_str()),
            price_cents: product.price.cents().get(),
            currency,
            stock: product.stock.units(),
            active: product.active,
            version: product.version,
            created_at: product.created_at,
            updated_at: product.updated_at,
        }
    }
}

#[derive(Serialize)]
pub struct OrderView<'a> {
    id: &'a str,
    user_id: &'a str,
    status: &'static str,
    items: &'a [OrderLine],
    total_cents: i64,
    currency: Currency,
    created_at: Timestamp,
    updated_at: Timestamp,
    expires_at: Timestamp,
    paid_at: Option<Timestamp>,
    refund_due: bool,
}

impl<'a> OrderView<'a> {
    /// The order as a reader sees it at `now` (a past-due unpaid order reads as expired).
    pub fn at(order: &'a Order, now: Timestamp) -> Self {
        OrderView {
            id: order.id.as_str(),
            user_id: order.user_id.as_str(),
            status: order.status_at(now).as_str(),
            items: &order.lines,
            total_cents: order.total_cents.get(),
            currency: order.currency,
            created_at: order.created_at,
            updated_at: order.updated_at,
            expires_at: order.expires_at,
            paid_at: order.paid_at,
            refund_due: order.refund_due,
        }
    }
}

#[derive(Serialize)]
pub struct ProfileView<'a> {
    id: &'a str,
    email: Option<&'a str>,
    display_name: Option<&'a str>,
    created_at: Timestamp,
}

impl<'a> ProfileView<'a> {
    pub fn new(profile: &'a Profile) -> Self {
        ProfileView {
            id: profile.user_id.as_str(),
            email: profile.email.as_deref(),
            display_name: profile.display_name.as_ref().map(|n| n.as_str()),
            created_at: profile.created_at,
        }
    }
}

/// A notification as `GET /v1/me/notifications` shows it.
#[derive(Serialize)]
pub struct NotificationView<'a> {
    pub id: &'a str,
    pub kind: &'static str,
    pub order_id: &'a str,
    pub message: &'a str,
    pub created_at: Timestamp,
}

impl<'a> NotificationView<'a> {
    pub fn new(notification: &'a Notification) -> Self {
        NotificationView {
            id: &notification.id,
            kind: notification.kind.as_str(),
            order_id: notification.order_id.as_str(),
            message: &notification.message,
            created_at: notification.created_at,
        }
    }
}

pub type ReportView<'a> = &'a DailyReport;

#[derive(Serialize)]
pub struct ListView<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}
