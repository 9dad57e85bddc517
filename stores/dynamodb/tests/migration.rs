//! A table made by the version before the catalog's keys-only index and the order shards, with
//! items as that version wrote them, read by this one: pending and paid orders in their old
//! unsharded partitions are still found, and once the deployment has added `GSI3`, `migrate` moves
//! the catalog into it, once (docs/data-model.md §8). Without `GSI3` it refuses, naming it.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use orderly_core::ports::{CatalogStore, OrderStore, ReportStore};
use orderly_store_conformance::fixtures::{at, insert, pay, place, product, unique_user};
use orderly_store_dynamodb::{DynamoStore, Migrated};
use std::collections::HashMap;

/// The table as the previous version created it, `GSI1` and `GSI2` both projecting everything,
/// and with `GSI3` added by the new template's deployment when `with_gsi3`. (DynamoDB Local cannot
/// add an index to a table that exists: its writes fail after `UpdateTable`, so the table is made
/// with it.)
async fn previous_version_table(client: &Client, with_gsi3: bool) -> String {
    let name = format!("orderly-migrate-{}", ulid::Ulid::new().to_string().to_lowercase());
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let mut create = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("PK", KeyType::Hash))
        .key_schema(key("SK", KeyType::Range));
    for attr in ["PK", "SK"] {
        create = create.attribute_definitions(attribute(attr));
    }
    let mut indexes = vec![("GSI1", ProjectionType::All), ("GSI2", ProjectionType::All)];
    if with_gsi3 {
        indexes.push(("GSI3", ProjectionType::KeysOnly));
    }
    for (index, projection) in indexes {
        create = create
            .attribute_definitions(attribute(&format!("{index}PK")))
            .attribute_definitions(attribute(&format!("{index}SK")))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index)
                    .key_schema(key(&format!("{index}PK"), KeyType::Hash))
                    .key_schema(key(&format!("{index}SK"), KeyType::Range))
                    .projection(Projection::builder().projection_type(projection).build())
                    .build()
                    .unwrap(),
            );
    }
    create.send().await.expect("create the previous version's table");
    name
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_string())
}

/// Rewrites an item's index attributes to what the previous version wrote: `set`, and `remove`d.
async fn as_previous_version(client: &Client, table: &str, pk: &str, sk: &str, set: &[(&str, &str)], remove: &[&str]) {
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let mut sets = Vec::new();
    for (i, (attr, value)) in set.iter().enumerate() {
        names.insert(format!("#s{i}"), attr.to_string());
        values.insert(format!(":s{i}"), s(value));
        sets.push(format!("#s{i} = :s{i}"));
    }
    let mut removes = Vec::new();
    for (i, attr) in remove.iter().enumerate() {
        names.insert(format!("#r{i}"), attr.to_string());
        removes.push(format!("#r{i}"));
    }
    let mut expression = String::new();
    if !sets.is_empty() {
        expression.push_str(&format!("SET {}", sets.join(", ")));
    }
    if !removes.is_empty() {
        expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    client
        .update_item()
        .table_name(table)
        .key("PK", s(pk))
        .key("SK", s(sk))
        .update_expression(expression)
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values((!values.is_empty()).then_some(values))
        .send()
        .await
        .expect("rewrite an item as the previous version wrote it");
}

async fn item(client: &Client, table: &str, pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    client
        .get_item()
        .table_name(table)
        .key("PK", s(pk))
        .key("SK", s(sk))
        .consistent_read(true)
        .send()
        .await
        .expect("get item")
        .item
        .expect("the item exists")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_previous_version_s_table_reads_correctly_and_migrates_once() {
    let client = local::client_for(&local::endpoint());
    let table = previous_version_table(&client, true).await;
    let store = DynamoStore::new(client.clone(), table.clone());

    // A product, a pending order and a paid order, each keyed as the previous version keyed them.
    let teapot = insert(&store, product(100)).await;
    let teapot_pk = format!("PRODUCT#{}", teapot.id);
    as_previous_version(
        &client,
        &table,
        &teapot_pk,
        "PRODUCT",
        &[("GSI1PK", "PRODUCTS#ACTIVE"), ("GSI1SK", teapot.id.as_str())],
        &["GSI3PK", "GSI3SK"],
    )
    .await;
    let buyer = unique_user();
    let pending = place(&store, &buyer, &[(&teapot, 1)], at(0)).await;
    let pending_pk = format!("ORDER#{}", pending.id);
    as_previous_version(&client, &table, &pending_pk, "ORDER", &[("GSI2PK", "PENDING")], &[]).await;
    let paid = place(&store, &buyer, &[(&teapot, 2)], at(1_000)).await;
    let paid_at = at(2_000);
    pay(&store, &paid, paid_at).await;
    let paid_pk = format!("ORDER#{}", paid.id);
    let old_paid_partition = format!("PAID#{}", paid_at.date());
    as_previous_version(
        &client,
        &table,
        &paid_pk,
        "ORDER",
        &[("GSI2PK", &old_paid_partition)],
        &[],
    )
    .await;
    assert_eq!(
        item(&client, &table, &pending_pk, "ORDER").await.get("GSI2PK"),
        Some(&s("PENDING"))
    );

    // The jobs find the old partitions' orders as they are.
    let overdue = store
        .overdue_orders(pending.expires_at, None, 10)
        .await
        .expect("overdue_orders");
    assert_eq!(
        overdue.iter().map(|o| &o.id).collect::<Vec<_>>(),
        [&pending.id],
        "the pending order in the unsharded PENDING is due"
    );
    let day = paid_at.date().bounds();
    let reported = store
        .paid_orders_between(day.0, day.1)
        .await
        .expect("paid_orders_between");
    assert_eq!(
        reported.iter().map(|o| &o.id).collect::<Vec<_>>(),
        [&paid.id],
        "the order paid into the unsharded PAID#<date> is reported"
    );

    // Until the migration, the catalog's index does not list the product.
    assert!(store
        .active_products(None, 10)
        .await
        .expect("active_products")
        .is_empty());
    let migrated = store.migrate().await.expect("migrate");
    assert_eq!(migrated, Migrated { products_moved: 1 });
    let moved = item(&client, &table, &teapot_pk, "PRODUCT").await;
    assert_eq!(moved.get("GSI3PK"), Some(&s("PRODUCTS#ACTIVE")));
    assert_eq!(
        moved.get("GSI1PK"),
        None,
        "the product has left GSI1's catalog partition"
    );
    let listed = store.active_products(None, 10).await.expect("active_products");
    assert_eq!(
        listed.iter().map(|p| &p.id).collect::<Vec<_>>(),
        [&teapot.id],
        "the catalog lists the moved product"
    );
    assert_eq!(
        listed[0].stock.units(),
        97,
        "as stored: 100 less the two orders' 3 units"
    );

    // Again: nothing left to do, and nothing changed.
    assert_eq!(store.migrate().await.expect("migrate again"), Migrated::default());
    assert_eq!(store.active_products(None, 10).await.expect("active_products").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_new_index_the_migration_refuses_and_names_it() {
    let client = local::client_for(&local::endpoint());
    let table = previous_version_table(&client, false).await;
    let store = DynamoStore::new(client.clone(), table.clone());
    let refused = store.migrate().await.expect_err("no GSI3");
    assert!(refused.to_string().contains("GSI3"), "{refused}");
}
