//! The holdings item and orders placed before it existed (docs/data-model.md, "Holdings"): such
//! an order carries no `in_holdings` flag and its user may have no holdings item at all. Paying,
//! cancelling and expiring it must still work, must leave the holdings of the orders that are
//! counted exactly as they were, and no count may ever go below zero. The old orders are made
//! here as the previous version left them: placed, then stripped of the flag and of their share.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use orderly_core::domain::{Order, Product, UserId};
use orderly_core::ports::{OrderStore, Store};
use orderly_store_conformance::fixtures::{at, cancel, expire, insert, order, pay, placement, product, unique_user};
use orderly_store_dynamodb::{table, DynamoStore};
use std::collections::HashMap;

struct Table {
    client: Client,
    name: String,
    store: DynamoStore,
}

async fn fresh_table() -> Table {
    let client = local::client_for(&local::endpoint());
    let name = format!("orderly-holdings-{}", ulid::Ulid::new().to_string().to_lowercase());
    table::create_table(&client, &name).await.expect("create the table");
    let store = DynamoStore::new(client.clone(), name.clone());
    Table { client, name, store }
}

fn key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("PK".to_string(), AttributeValue::S(pk)),
        ("SK".to_string(), AttributeValue::S(sk.to_string())),
    ])
}

fn holdings_key(user: &UserId) -> HashMap<String, AttributeValue> {
    key(format!("USER#{user}"), "HOLDINGS")
}

impl Table {
    /// The user's holdings as stored: (unpaid orders, reserved units), or `None` without an item.
    async fn holdings(&self, user: &UserId) -> Option<(i64, i64)> {
        let item = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(holdings_key(user)))
            .consistent_read(true)
            .send()
            .await
            .expect("read the holdings")
            .item?;
        let count = |name: &str| match item.get(name) {
            Some(AttributeValue::N(n)) => n.parse::<i64>().expect("a count"),
            other => panic!("{name} is {other:?}"),
        };
        Some((count("unpaid_orders"), count("reserved_units")))
    }

    /// Places an order of `units` teapots for `user`, counted in the holdings.
    async fn place(&self, user: &UserId, teapot: &Product, units: u32, millis: i64) -> Order {
        let placed = order(user, &[(teapot, units)], at(millis));
        self.store.place_order(&placement(&placed)).await.expect("place_order");
        placed
    }

    /// Places an order and leaves it as the previous version would have written it: no
    /// `in_holdings` flag, and its share not in the user's holdings.
    async fn place_as_before(&self, user: &UserId, teapot: &Product, units: u32, millis: i64) -> Order {
        let placed = self.place(user, teapot, units, millis).await;
        self.client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(format!("ORDER#{}", placed.id), "ORDER")))
            .update_expression("REMOVE in_holdings")
            .send()
            .await
            .expect("strip the flag");
        self.client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(holdings_key(user)))
            .update_expression("ADD unpaid_orders :minus_one, reserved_units :minus_units")
            .expression_attribute_values(":minus_one", AttributeValue::N("-1".into()))
            .expression_attribute_values(":minus_units", AttributeValue::N(format!("-{units}")))
            .send()
            .await
            .expect("take its share out");
        placed
    }

    async fn forget_holdings(&self, user: &UserId) {
        self.client
            .delete_item()
            .table_name(&self.name)
            .set_key(Some(holdings_key(user)))
            .send()
            .await
            .expect("delete the holdings");
    }
}

/// A user with nothing but old orders has no holdings item: paying, cancelling and expiring them
/// works, and creates none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_orders_close_without_a_holdings_item() {
    let table = fresh_table().await;
    let store: &dyn Store = &table.store;
    let teapot = insert(store, product(100)).await;
    let buyer = unique_user();
    let paid = table.place_as_before(&buyer, &teapot, 2, 0).await;
    let cancelled = table.place_as_before(&buyer, &teapot, 3, 1).await;
    let expired = table.place_as_before(&buyer, &teapot, 4, 2).await;
    table.forget_holdings(&buyer).await;

    pay(store, &paid, at(10)).await;
    cancel(store, &cancelled, at(11)).await;
    expire(store, &expired, expired.expires_at).await;

    assert_eq!(table.holdings(&buyer).await, None, "no holdings item is made up");
    let statuses: Vec<String> = {
        let mut found = Vec::new();
        for o in [&paid, &cancelled, &expired] {
            found.push(store.order(&o.id).await.unwrap().unwrap().status.as_str().to_string());
        }
        found
    };
    assert_eq!(statuses, ["paid", "cancelled", "expired"]);
    assert_eq!(
        store.product(&teapot.id).await.unwrap().unwrap().stock.units(),
        98,
        "the cancelled and expired orders' stock is back"
    );
}

/// Old and new orders of one user: closing an old one leaves the new ones' counts alone, closing a
/// new one gives exactly its share back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_orders_leave_the_counted_ones_alone() {
    let table = fresh_table().await;
    let store: &dyn Store = &table.store;
    let teapot = insert(store, product(100)).await;
    let buyer = unique_user();
    let old_paid = table.place_as_before(&buyer, &teapot, 3, 0).await;
    let old_cancelled = table.place_as_before(&buyer, &teapot, 3, 1).await;
    let old_expired = table.place_as_before(&buyer, &teapot, 3, 2).await;
    assert_eq!(table.holdings(&buyer).await, Some((0, 0)));
    let new_one = table.place(&buyer, &teapot, 2, 3).await;
    let new_two = table.place(&buyer, &teapot, 5, 4).await;
    assert_eq!(table.holdings(&buyer).await, Some((2, 7)));

    pay(store, &old_paid, at(10)).await;
    cancel(store, &old_cancelled, at(11)).await;
    expire(store, &old_expired, old_expired.expires_at).await;
    assert_eq!(
        table.holdings(&buyer).await,
        Some((2, 7)),
        "old orders give back nothing they never took"
    );

    pay(store, &new_one, at(12)).await;
    assert_eq!(table.holdings(&buyer).await, Some((1, 5)));
    cancel(store, &new_two, at(13)).await;
    assert_eq!(table.holdings(&buyer).await, Some((0, 0)));
}

/// Should the holdings item be lost (deleted by hand), closing a counted order still works and no
/// count goes below zero: a missing item is zero, and stays missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_never_go_below_zero() {
    let table = fresh_table().await;
    let store: &dyn Store = &table.store;
    let teapot = insert(store, product(100)).await;
    let buyer = unique_user();
    let counted = table.place(&buyer, &teapot, 4, 0).await;
    let also_counted = table.place(&buyer, &teapot, 1, 1).await;
    table.forget_holdings(&buyer).await;

    cancel(store, &counted, at(10)).await;
    assert_eq!(table.holdings(&buyer).await, None);
    let fresh = table.place(&buyer, &teapot, 1, 11).await;
    assert_eq!(table.holdings(&buyer).await, Some((1, 1)));
    // The lost item's orders give back what the new item holds for `fresh`: the counts read low
    // (lenient) until `fresh` closes, then its own give-back finds nothing to take.
    pay(store, &also_counted, at(12)).await;
    assert_eq!(table.holdings(&buyer).await, Some((0, 0)));
    expire(store, &fresh, fresh.expires_at).await;
    assert_eq!(table.holdings(&buyer).await, Some((0, 0)), "never below zero");
}
