//! The table's stream read as an outbox (`StreamOutbox`), on DynamoDB Local, whose Streams API
//! answers on the same endpoint (`ORDERLY_TEST_DYNAMODB_ENDPOINT`). Each test gets a fresh table
//! and writes through the store port, as the services do. A stream record appears a moment after
//! its write, so the tests poll for what they expect, with a deadline.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local;

use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use aws_sdk_dynamodbstreams::types::{OperationType, Record};
use orderly_core::domain::{Order, OrderEvent, OrderEventType, Product};
use orderly_core::ports::{CatalogStore, OrderStore, OutboxStore, PaymentStore, StoreError};
use orderly_store_conformance::fixtures::{at, delta, event, event_id, insert, order, placement, product, unique_user};
use orderly_store_dynamodb::stream_outbox::{lambda_record_json, streams_client_for, StreamOutbox};
use orderly_store_dynamodb::{table, DynamoStore};
use serde_json::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// How long a test waits for records to show in the stream.
const PATIENCE: Duration = Duration::from_secs(20);

struct Setup {
    store: DynamoStore,
    outbox: StreamOutbox,
    endpoint: String,
}

impl Setup {
    /// A store and a reader of its stream, on a brand-new table.
    async fn new() -> Self {
        let endpoint = local::endpoint();
        let client = local::client_for(&endpoint);
        let name = format!("orderly-test-{}", ulid::Ulid::new().to_string().to_lowercase());
        table::create_table(&client, &name)
            .await
            .unwrap_or_else(|e| panic!("creating table {name} on DynamoDB Local failed: {e}"));
        let outbox = StreamOutbox::new(&client, streams_client_for(&endpoint), &name)
            .await
            .unwrap_or_else(|e| panic!("reading the stream of {name} failed: {e}"));
        Setup {
            store: DynamoStore::new(client, name),
            outbox,
            endpoint,
        }
    }

    /// Another reader of the same stream: what a restarted process starts with.
    async fn restarted(&self) -> StreamOutbox {
        StreamOutbox::new(
            self.store.client(),
            streams_client_for(&self.endpoint),
            self.store.table(),
        )
        .await
        .unwrap()
    }

    async fn product(&self) -> Product {
        insert(&self.store, product(1_000)).await
    }

    /// Places an order of one unit of `teapot`; its `order_placed` event.
    async fn place(&self, teapot: &Product) -> (Order, OrderEvent) {
        let order = order(&unique_user(), &[(teapot, 1)], at(0));
        let placement = placement(&order);
        self.store.place_order(&placement).await.unwrap();
        (order, placement.event)
    }

    async fn cancel(&self, order: &Order) -> OrderEvent {
        let cancelled = event(order, OrderEventType::OrderCancelled, at(1_000));
        self.store.cancel_order(order, at(1_000), &cancelled).await.unwrap();
        cancelled
    }

    async fn pay(&self, order: &Order) -> OrderEvent {
        let paid = event(order, OrderEventType::OrderPaid, at(2_000));
        self.store
            .mark_order_paid(order, &event_id(), at(2_000), &paid)
            .await
            .unwrap();
        paid
    }
}

async fn unpublished(outbox: &StreamOutbox, limit: usize) -> Vec<OrderEvent> {
    outbox
        .unpublished_events(limit)
        .await
        .unwrap_or_else(|e| panic!("unpublished_events({limit}) failed: {e:?}"))
}

/// What `outbox` offers once it offers at least `count` events (or the patience runs out).
async fn offered(outbox: &StreamOutbox, limit: usize, count: usize) -> Vec<OrderEvent> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let events = unpublished(outbox, limit).await;
        if events.len() >= count || Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The stream's records once `found` holds for them (or the patience runs out).
async fn records_until(outbox: &StreamOutbox, found: impl Fn(&[Record]) -> bool) -> Vec<Record> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let records = outbox.records(1_000).await.unwrap();
        if found(&records) || Instant::now() > deadline {
            return records;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn mark(outbox: &StreamOutbox, events: &[&OrderEvent]) {
    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    outbox.mark_published(&ids, at(60_000)).await.unwrap();
}

fn ids(events: &[OrderEvent]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

/// The item type (`type`) of a record's new image, or of its old one for a removal.
fn item_type(record: &Record) -> Option<&str> {
    let change = record.dynamodb()?;
    let image = change.new_image().or(change.old_image())?;
    image.get("type")?.as_s().ok().map(String::as_str)
}

#[tokio::test]
async fn every_event_is_offered_once_in_write_order() {
    let setup = Setup::new().await;
    let teapot = setup.product().await;
    let kettle = setup.product().await;
    setup.store.adjust_stock(&kettle.id, delta(5), at(0)).await.unwrap();
    let (first, placed_1) = setup.place(&teapot).await;
    let (second, placed_2) = setup.place(&kettle).await;
    let (third, placed_3) = setup.place(&teapot).await;
    let cancelled = setup.cancel(&second).await;
    let paid = setup.pay(&third).await;
    let expected = vec![placed_1, placed_2, placed_3, cancelled, paid];

    let events = offered(&setup.outbox, 100, expected.len()).await;
    assert_eq!(events, expected, "every event, once each, in the order written");
    assert_eq!(
        unpublished(&setup.outbox, 100).await,
        expected,
        "reading publishes nothing: the same events again"
    );
    assert_eq!(
        unpublished(&setup.outbox, 2).await,
        expected[..2],
        "limit 2: the first two"
    );
    assert_eq!(unpublished(&setup.outbox, 0).await, [], "limit 0: none");

    mark(&setup.outbox, &expected.iter().collect::<Vec<_>>()).await;
    assert_eq!(
        unpublished(&setup.outbox, 100).await,
        [],
        "all published: nothing offered"
    );

    let newer = setup.cancel(&first).await;
    assert_eq!(
        offered(&setup.outbox, 100, 1).await,
        std::slice::from_ref(&newer),
        "a new event after everything was published, and only it"
    );
    mark(&setup.outbox, &[&newer]).await;
    assert_eq!(unpublished(&setup.outbox, 100).await, []);
}

#[tokio::test]
async fn unmarked_events_are_offered_again_and_none_is_lost() {
    let setup = Setup::new().await;
    let teapot = setup.product().await;
    let mut written = Vec::new();
    for _ in 0..6 {
        written.push(setup.place(&teapot).await.1);
    }
    assert_eq!(offered(&setup.outbox, 100, written.len()).await, written);

    // The publisher failed the second and the fifth.
    mark(
        &setup.outbox,
        &[
            &written[0],
            &written[2],
            &written[3],
            &written[5],
            &OrderEvent {
                id: event_id(),
                ..written[0].clone()
            },
        ],
    )
    .await;
    let again = unpublished(&setup.outbox, 100).await;
    assert_eq!(
        again.first(),
        Some(&written[1]),
        "the first failed event comes first: {:?}",
        ids(&again)
    );
    assert!(
        again.contains(&written[4]),
        "the second failed one is offered too: {:?}",
        ids(&again)
    );
    assert!(
        !again.contains(&written[0]),
        "nothing before the first failure comes back"
    );
    let positions: Vec<usize> = again
        .iter()
        .map(|e| {
            written
                .iter()
                .position(|w| w == e)
                .expect("only events written are offered")
        })
        .collect();
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "still in write order: {positions:?}"
    );

    mark(&setup.outbox, &[&written[1]]).await;
    let again = unpublished(&setup.outbox, 100).await;
    assert_eq!(
        again.first(),
        Some(&written[4]),
        "the one still failed: {:?}",
        ids(&again)
    );
    mark(&setup.outbox, &again.iter().collect::<Vec<_>>()).await;
    assert_eq!(unpublished(&setup.outbox, 100).await, [], "all published at last");
}

/// The relay's loop with a small limit and a publisher that fails each event on its first try:
/// every event is published, first in the order written, and the outbox ends empty.
#[tokio::test]
async fn a_relay_with_a_small_limit_publishes_every_event_in_order() {
    let setup = Setup::new().await;
    let teapot = setup.product().await;
    let mut written = Vec::new();
    for i in 0..7 {
        let (order, placed) = setup.place(&teapot).await;
        written.push(placed);
        if i % 3 == 0 {
            written.push(setup.cancel(&order).await);
        }
    }
    assert_eq!(offered(&setup.outbox, 100, written.len()).await.len(), written.len());

    let mut tried: HashSet<String> = HashSet::new();
    let mut published: Vec<OrderEvent> = Vec::new();
    for _ in 0..100 {
        let batch = unpublished(&setup.outbox, 2).await;
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 2);
        let succeeded: Vec<&OrderEvent> = batch.iter().filter(|e| !tried.insert(e.id.clone())).collect();
        for event in &succeeded {
            if !published.contains(event) {
                published.push((*event).clone());
            }
        }
        mark(&setup.outbox, &succeeded).await;
    }
    assert_eq!(ids(&published), ids(&written), "every event published, in write order");
    assert_eq!(unpublished(&setup.outbox, 100).await, []);
}

#[tokio::test]
async fn a_restarted_reader_offers_every_event_again() {
    let setup = Setup::new().await;
    let teapot = setup.product().await;
    let (order, placed) = setup.place(&teapot).await;
    let cancelled = setup.cancel(&order).await;
    let (_, placed_again) = setup.place(&teapot).await;
    let written = vec![placed, cancelled, placed_again];
    assert_eq!(offered(&setup.outbox, 100, 3).await, written);
    mark(&setup.outbox, &written.iter().collect::<Vec<_>>()).await;
    assert_eq!(unpublished(&setup.outbox, 100).await, []);

    let restarted = setup.restarted().await;
    assert_eq!(
        offered(&restarted, 100, 3).await,
        written,
        "the checkpoint is in memory: a new process offers the stream's events again (at least once)"
    );
    assert_eq!(
        unpublished(&setup.outbox, 100).await,
        [],
        "the first reader is unaffected"
    );
}

#[tokio::test]
async fn other_items_are_never_events() {
    let setup = Setup::new().await;
    let teapot = setup.product().await;
    setup.store.adjust_stock(&teapot.id, delta(3), at(0)).await.unwrap();
    setup.store.adjust_stock(&teapot.id, delta(-1), at(0)).await.unwrap();
    let records = records_until(&setup.outbox, |records| records.len() >= 4).await;
    let mut inserted: Vec<Option<&str>> = records[..2].iter().map(item_type).collect();
    inserted.sort();
    assert_eq!(
        inserted,
        [Some("product"), Some("sku")],
        "the product and its SKU guard, in one transaction"
    );
    let modified: Vec<Option<&str>> = records[2..].iter().map(item_type).collect();
    assert_eq!(
        modified,
        [Some("product"), Some("product")],
        "then the product's stock, twice"
    );
    assert_eq!(unpublished(&setup.outbox, 100).await, [], "no event among them");
    assert_eq!(
        setup.outbox.records(100).await.unwrap(),
        [],
        "records that are not events are done with once read as an outbox"
    );

    let (_, placed) = setup.place(&teapot).await;
    assert_eq!(
        offered(&setup.outbox, 100, 1).await,
        std::slice::from_ref(&placed),
        "only the event of the order"
    );
    let records = setup.outbox.records(100).await.unwrap();
    assert_eq!(
        records.first().and_then(item_type),
        Some("order_event"),
        "the checkpoint waits at the unpublished event"
    );
    mark(&setup.outbox, &[&placed]).await;
    assert_eq!(unpublished(&setup.outbox, 100).await, []);
}

/// A real record as `lambda_record_json` writes it: the shape of a DynamoDB stream event's record
/// (the fields `aws_lambda_events::event::dynamodb::EventRecord` reads).
#[tokio::test]
async fn records_are_written_as_lambda_delivers_them() {
    let setup = Setup::new().await;
    let teapot = setup.product().await;
    let (_, placed) = setup.place(&teapot).await;
    let is_event = |r: &Record| item_type(r) == Some("order_event");
    let records = records_until(&setup.outbox, |records| records.iter().any(is_event)).await;
    let record = records.iter().find(|r| is_event(r)).expect("the event's record");
    let json = lambda_record_json(record, setup.outbox.stream_arn());

    let text = |value: &Value| value.as_str().map(str::to_string);
    assert!(text(&json["eventID"]).is_some_and(|id| !id.is_empty()), "{json:#}");
    assert_eq!(json["eventName"], "INSERT");
    assert!(text(&json["eventVersion"]).is_some(), "{json:#}");
    assert_eq!(json["eventSource"], "aws:dynamodb");
    assert!(text(&json["awsRegion"]).is_some(), "{json:#}");
    assert_eq!(json["eventSourceARN"], setup.outbox.stream_arn());
    let change = &json["dynamodb"];
    assert!(change["ApproximateCreationDateTime"].is_number(), "{json:#}");
    assert_eq!(change["Keys"]["PK"]["S"], format!("ORDER#{}", placed.order_id));
    assert_eq!(change["Keys"]["SK"]["S"], format!("EVENT#{}", placed.id));
    let image = &change["NewImage"];
    assert_eq!(image["type"], serde_json::json!({ "S": "order_event" }));
    assert_eq!(image["id"], serde_json::json!({ "S": placed.id }));
    assert_eq!(image["kind"], serde_json::json!({ "S": "order_placed" }));
    assert_eq!(image["order_id"]["S"], placed.order_id.to_string());
    assert_eq!(image["user_id"]["S"], placed.user_id.to_string());
    assert_eq!(
        image["occurred_at"],
        serde_json::json!({ "N": placed.occurred_at.as_millis().to_string() })
    );
    assert!(image["ttl"]["N"].is_string(), "{json:#}");
    assert!(change.get("OldImage").is_none(), "an insert has no old image");
    assert_eq!(
        change["SequenceNumber"],
        record.dynamodb().unwrap().sequence_number().unwrap()
    );
    assert!(change["SizeBytes"].as_i64().is_some_and(|size| size > 0), "{json:#}");
    assert_eq!(change["StreamViewType"], "NEW_AND_OLD_IMAGES");

    // The order placed reserved stock: the product's MODIFY has both images, lines as L of M.
    let modify = records
        .iter()
        .find(|r| r.event_name() == Some(&OperationType::Modify))
        .expect("the reservation's record");
    let json = lambda_record_json(modify, setup.outbox.stream_arn());
    assert_eq!(json["eventName"], "MODIFY");
    assert_eq!(json["dynamodb"]["OldImage"]["stock"]["N"], "1000");
    assert_eq!(json["dynamodb"]["NewImage"]["stock"]["N"], "999");
    assert_eq!(
        json["dynamodb"]["NewImage"]["active"],
        serde_json::json!({ "BOOL": true })
    );
    let order = records
        .iter()
        .find(|r| item_type(r) == Some("order"))
        .expect("the order's record");
    let json = lambda_record_json(order, setup.outbox.stream_arn());
    let line = &json["dynamodb"]["NewImage"]["lines"]["L"][0]["M"];
    assert_eq!(line["quantity"], serde_json::json!({ "N": "1" }));
    assert_eq!(line["product_id"]["S"], teapot.id.to_string());

    let event = setup.outbox.lambda_event_json(&records);
    assert_eq!(event["Records"].as_array().map(Vec::len), Some(records.len()));
}

#[tokio::test]
async fn a_table_without_a_stream_is_an_error_that_names_it() {
    let endpoint = local::endpoint();
    let client = local::client_for(&endpoint);
    let name = format!("orderly-test-{}", ulid::Ulid::new().to_string().to_lowercase());
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("PK")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("PK")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let error = StreamOutbox::new(&client, streams_client_for(&endpoint), &name)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::Internal(message) if message.contains(&name) && message.contains("no stream")),
        "{error:?}"
    );

    let missing = format!("{name}-missing");
    let error = StreamOutbox::new(&client, streams_client_for(&endpoint), &missing)
        .await
        .unwrap_err();
    assert!(error.to_string().contains(&missing), "{error:?}");
}
