//! The job functions, driven by their sample events from `events/` exactly as Lambda delivers
//! them, on a fresh DynamoDB Local table, with the events queue on moto's SQS: the relay reading
//! the table's real stream, `notify` with poison messages, redeliveries and the dead-letter queue,
//! and the scheduled jobs run twice for the same minute or day.
//!
//! Needs DynamoDB Local (`ORDERLY_TEST_DYNAMODB_ENDPOINT`) and moto (`ORDERLY_TEST_SQS_ENDPOINT`):
//! scripts/test starts both. Never skipped.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aws_lambda_events::event::dynamodb::Event as StreamBatch;
use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::QueueAttributeName;
use orderly_core::domain::{OrderEvent, UserId};
use orderly_core::jobs::JOBS;
use orderly_core::services::notifications::notifications_of;
use orderly_functions::jobs::{self, notify, relay, schedule::ScheduledEvent};
use orderly_functions::sqs::{SqsDeadLetters, SqsPublisher};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use support::*;

// ---- the events queue on moto ----

const SQS_ENDPOINT_VARIABLE: &str = "ORDERLY_TEST_SQS_ENDPOINT";

fn sqs() -> aws_sdk_sqs::Client {
    let endpoint = std::env::var(SQS_ENDPOINT_VARIABLE).unwrap_or_else(|_| {
        panic!(
            "{SQS_ENDPOINT_VARIABLE} is not set: run the tests with scripts/test, which installs and starts \
             moto's SQS, or start it with `scripts/moto start <dir>` and export the endpoint it prints"
        )
    });
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "the tests only talk to 127.0.0.1, not {endpoint}"
    );
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .http_client(orderly_store_dynamodb::client::https_client())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// A fresh queue; with `redrive`, a dead-letter queue behind it after that many receives.
async fn queue(client: &aws_sdk_sqs::Client, redrive: Option<u32>) -> (String, Option<String>) {
    let name = format!("orderly-events-{}", fresh_ulid().to_lowercase());
    let dead_letters = match redrive {
        None => None,
        Some(_) => Some(
            client
                .create_queue()
                .queue_name(format!("{name}-dlq"))
                .send()
                .await
                .expect("create the dead-letter queue")
                .queue_url()
                .expect("its url")
                .to_string(),
        ),
    };
    let mut create = client.create_queue().queue_name(&name);
    if let (Some(max), Some(dlq)) = (redrive, &dead_letters) {
        let arn = client
            .get_queue_attributes()
            .queue_url(dlq)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("the dead-letter queue's arn")
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("an arn");
        create = create
            .attributes(
                QueueAttributeName::RedrivePolicy,
                json!({"deadLetterTargetArn": arn, "maxReceiveCount": max}).to_string(),
            )
            // Redelivered at once, so the test need not wait out a visibility timeout.
            .attributes(QueueAttributeName::VisibilityTimeout, "0");
    }
    let url = create
        .send()
        .await
        .expect("create the queue")
        .queue_url()
        .expect("its url")
        .to_string();
    (url, dead_letters)
}

/// Every message on the queue now, deleted as they are read.
async fn drain(client: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let received = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let messages = received.messages();
        if messages.is_empty() {
            return bodies;
        }
        for message in messages {
            bodies.push(message.body().unwrap_or_default().to_string());
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}

// ---- notify ----

fn sqs_batch(value: &Value) -> SqsEvent {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("not an SQS event: {e}\n{value:#}"))
}

fn bodies_of(batch: &Value) -> Vec<OrderEvent> {
    batch["Records"]
        .as_array()
        .expect("Records")
        .iter()
        .map(|record| OrderEvent::from_message(record["body"].as_str().expect("a body")).expect("an order event"))
        .collect()
}

async fn told(h: &Harness, user: &UserId) -> Vec<String> {
    let (page, _) = notifications_of(&h.app, user, None, 100)
        .await
        .expect("list notifications");
    page.into_iter().map(|n| n.id).collect()
}

fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[tokio::test]
async fn notify_answers_its_event_and_a_redelivery_tells_no_one_twice() {
    let h = Harness::new().await;
    let sample = event("notify");
    let events = bodies_of(&sample);
    assert!(events.len() >= 2, "the sample batch has several messages");

    let response = notify::notify_batch(&h.app, &sqs_batch(&sample))
        .await
        .expect("a batch answer");
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    // The same batch again (SQS redelivers after a timeout), then one message alone.
    notify::notify_batch(&h.app, &sqs_batch(&sample)).await.expect("again");
    let mut single = sample.clone();
    single["Records"] = json!([sample["Records"][0].clone()]);
    notify::notify_batch(&h.app, &sqs_batch(&single)).await.expect("alone");

    let by_user: BTreeMap<&UserId, BTreeSet<&str>> = events.iter().fold(BTreeMap::new(), |mut map, e| {
        map.entry(&e.user_id).or_default().insert(e.id.as_str());
        map
    });
    for (user, ids) in by_user {
        let mut got = told(&h, user).await;
        got.sort();
        assert_eq!(
            got,
            ids.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
            "one notification per event"
        );
    }
}

/// SQS may deliver one event twice in the same batch (two messages, as the relay's retry of a
/// partly failed send makes), and `notify_batch` handles a batch's messages at once: the copies
/// race to insert one notification, one wins, and neither is reported failed.
#[tokio::test]
async fn the_same_event_twice_in_one_batch_tells_its_user_once_and_fails_neither() {
    let h = Harness::new().await;
    let sample = event("notify");
    let events = bodies_of(&sample);
    let mut batch = sample.clone();
    let records = batch["Records"].as_array_mut().unwrap();
    let copies: Vec<Value> = (0..4)
        .map(|i| {
            let mut copy = records[0].clone();
            copy["messageId"] = json!(format!("copy-{i}"));
            copy
        })
        .collect();
    records.extend(copies);

    let response = notify::notify_batch(&h.app, &sqs_batch(&batch))
        .await
        .expect("a batch answer");

    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let first = &events[0];
    let got = told(&h, &first.user_id).await;
    assert_eq!(
        got.iter().filter(|id| **id == first.id).count(),
        1,
        "one notification for five copies of the event: {got:?}"
    );
}

#[tokio::test]
async fn one_poison_message_fails_alone_and_the_rest_of_its_batch_is_done_once() {
    let h = Harness::new().await;
    let sample = event("notify");
    let events = bodies_of(&sample);
    let mut batch = sample.clone();
    let records = batch["Records"].as_array_mut().unwrap();
    let template = records[0].clone();
    let poison = |id: &str, body: Value| {
        let mut record = template.clone();
        record["messageId"] = json!(id);
        record["body"] = body;
        record
    };
    records.insert(1, poison("poison-not-json", json!("{not json")));
    records.push(poison(
        "poison-unknown-type",
        json!(events[0]
            .to_message()
            .replace("order_placed", "order_shipped")
            .replace("order_paid", "order_shipped")),
    ));
    records.push(poison("poison-no-body", Value::Null));
    records.push(poison("poison-hostile", json!(json!({"id": "x", "type": "order_paid", "order_id": "../../etc/passwd", "user_id": "", "occurred_at": "soon"}).to_string())));

    let response = notify::notify_batch(&h.app, &sqs_batch(&batch))
        .await
        .expect("a batch answer");

    assert_eq!(
        failed_ids(&response),
        [
            "poison-not-json",
            "poison-unknown-type",
            "poison-no-body",
            "poison-hostile"
        ],
        "exactly the poison messages, by their own ids"
    );
    for event in &events {
        assert!(
            told(&h, &event.user_id).await.contains(&event.id),
            "{} was told",
            event.id
        );
    }
    // What Lambda answers with is valid JSON of the exact shape AWS reads.
    let wire = serde_json::to_value(&response).unwrap();
    assert_eq!(
        wire["batchItemFailures"][0],
        json!({"itemIdentifier": "poison-not-json"})
    );
}

/// `job_processed` and `job_failed` count the batch's messages, the poison one as failed, in a
/// recorder local to this test (so tests running at once never see each other's counts).
#[test]
fn notify_counts_the_messages_it_recorded_and_the_ones_it_failed() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let good = metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let h = Harness::new().await;
            let mut batch = event("notify");
            let records = batch["Records"].as_array_mut().unwrap();
            let good = records.len();
            let mut poison = records[0].clone();
            poison["messageId"] = json!("poison-counted");
            poison["body"] = json!("not an event");
            records.push(poison);
            let response = notify::notify_batch(&h.app, &sqs_batch(&batch))
                .await
                .expect("a batch answer");
            assert_eq!(failed_ids(&response), ["poison-counted"]);
            good
        })
    });
    let text = handle.render();
    assert!(
        text.contains(&format!("job_processed{{job=\"notify\"}} {good}")),
        "{text}"
    );
    assert!(text.contains("job_failed{job=\"notify\"} 1"), "{text}");
}

#[tokio::test]
async fn a_message_without_an_id_that_fails_fails_the_whole_batch_rather_than_report_an_empty_id() {
    let h = Harness::new().await;
    let mut batch = event("notify");
    batch["Records"][0]["messageId"] = Value::Null;
    // Fine without an id when it succeeds...
    let response = notify::notify_batch(&h.app, &sqs_batch(&batch))
        .await
        .expect("a batch answer");
    assert!(response.batch_item_failures.is_empty());
    // ...but a failure with nothing to name it by is the whole batch's (redelivery is harmless).
    batch["Records"][0]["body"] = json!("garbage");
    assert!(notify::notify_batch(&h.app, &sqs_batch(&batch)).await.is_err());
    batch["Records"][0]["messageId"] = json!("");
    assert!(notify::notify_batch(&h.app, &sqs_batch(&batch)).await.is_err());
}

/// Lambda's SQS poller, played by the test: receive a batch, invoke, delete what succeeded. A
/// message that keeps failing must end in the dead-letter queue after `maxReceiveCount`
/// receives, while the good ones are done once.
#[tokio::test]
async fn a_message_that_keeps_failing_lands_in_the_dead_letter_queue_and_blocks_nothing() {
    let h = Harness::new().await;
    let client = sqs();
    let (url, dead_letters) = queue(&client, Some(2)).await;
    let dead_letters = dead_letters.unwrap();
    let events = bodies_of(&event("notify"));
    for e in &events {
        client
            .send_message()
            .queue_url(&url)
            .message_body(e.to_message())
            .send()
            .await
            .expect("send");
    }
    client
        .send_message()
        .queue_url(&url)
        .message_body("poison")
        .send()
        .await
        .expect("send poison");

    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds < 50, "the queue never emptied");
        let received = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let messages = received.messages();
        if messages.is_empty() {
            break;
        }
        let batch = json!({"Records": messages.iter().map(|m| json!({
            "messageId": m.message_id(),
            "receiptHandle": m.receipt_handle(),
            "body": m.body(),
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": m.md5_of_body(),
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orderly-events",
            "awsRegion": "us-east-1",
        })).collect::<Vec<_>>()});
        let response = notify::notify_batch(&h.app, &sqs_batch(&batch))
            .await
            .expect("a batch answer");
        let failed: BTreeSet<&str> = failed_ids(&response).into_iter().collect();
        for m in messages {
            if !failed.contains(m.message_id().unwrap_or_default()) {
                client
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
    assert_eq!(drain(&client, &dead_letters).await, ["poison"]);
    for e in &events {
        assert_eq!(told(&h, &e.user_id).await.iter().filter(|id| **id == e.id).count(), 1);
    }
}

// ---- relay-events ----

/// A dead-letter queue that does not exist: any record set aside there fails the test's batch.
fn nowhere(client: &aws_sdk_sqs::Client) -> SqsDeadLetters {
    SqsDeadLetters::new(client.clone(), "http://127.0.0.1:1/000000000000/no-such-queue")
}

fn stream_batch(value: &Value) -> StreamBatch {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("not a DynamoDB stream event: {e}\n{value:#}"))
}

#[tokio::test]
async fn relay_events_answers_its_event_by_publishing_each_event_to_the_queue() {
    let client = sqs();
    let (url, _) = queue(&client, None).await;
    let publisher = SqsPublisher::new(client.clone(), &url);
    let sample = event("relay-events");

    let response = relay::relay_batch(&publisher, &nowhere(&client), &stream_batch(&sample))
        .await
        .expect("a batch answer");

    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let published: Vec<OrderEvent> = drain(&client, &url)
        .await
        .iter()
        .map(|body| OrderEvent::from_message(body).expect("the contract's event JSON"))
        .collect();
    let inserted: Vec<&Value> = sample["Records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["eventName"] == "INSERT" && r["dynamodb"]["NewImage"]["type"]["S"] == "order_event")
        .collect();
    assert_eq!(published.len(), inserted.len(), "{published:?}");
    for record in inserted {
        let id = record["dynamodb"]["NewImage"]["id"]["S"].as_str().unwrap();
        assert!(published.iter().any(|e| e.id == id), "{id} was published");
    }
}

/// The deployed path end to end: state changes on the table → its stream (DynamoDB Local's, read
/// as Lambda delivers it) → relay-events → the queue (moto) → notify → the buyer's notifications.
#[tokio::test]
async fn every_event_the_tables_stream_carries_reaches_the_queue_and_its_user() {
    use orderly_store_dynamodb::stream_outbox::{streams_client_for, StreamOutbox};
    let h = Harness::new().await;
    let buyer = event("create-order");
    let product = h.create_product(10).await;
    let pid = product["id"].as_str().unwrap();
    let paid = h.place_order(&buyer, pid, 1).await;
    let cancelled = h.place_order(&buyer, pid, 2).await;
    h.pay(&buyer, &paid).await;
    let mut cancel = event("cancel-order");
    act_as(&mut cancel, &buyer);
    set_path_parameter(&mut cancel, cancelled["id"].as_str().unwrap());
    h.expect("cancel-order", &cancel, 200).await;

    let endpoint = endpoint();
    let stream = StreamOutbox::new(&client_for(&endpoint), streams_client_for(&endpoint), &h.table)
        .await
        .expect("the table's stream");
    let mut records = Vec::new();
    for _ in 0..200 {
        records = stream.records(1_000).await.expect("read the stream");
        let events = records
            .iter()
            .filter(|r| {
                r.dynamodb()
                    .and_then(|d| d.new_image())
                    .and_then(|i| i.get("type"))
                    .and_then(|t| t.as_s().ok())
                    .map(String::as_str)
                    == Some("order_event")
            })
            .count();
        if events >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let batch = stream_batch(&stream.lambda_event_json(&records));
    assert!(
        batch.records.len() > 4,
        "the stream carries every item's change, not only events"
    );

    let client = sqs();
    let (url, _) = queue(&client, None).await;
    let relayed = relay::relay_batch(&SqsPublisher::new(client.clone(), &url), &nowhere(&client), &batch)
        .await
        .expect("relay");
    assert!(relayed.batch_item_failures.is_empty(), "{relayed:?}");

    let bodies = drain(&client, &url).await;
    let mut published: Vec<(String, &'static str)> = bodies
        .iter()
        .map(|body| OrderEvent::from_message(body).expect("an order event"))
        .map(|e| (e.order_id.to_string(), e.kind.as_str()))
        .collect();
    published.sort();
    let mut expected = vec![
        (paid["id"].as_str().unwrap().to_string(), "order_placed"),
        (paid["id"].as_str().unwrap().to_string(), "order_paid"),
        (cancelled["id"].as_str().unwrap().to_string(), "order_placed"),
        (cancelled["id"].as_str().unwrap().to_string(), "order_cancelled"),
    ];
    expected.sort();
    assert_eq!(published, expected, "exactly the events, each once, and nothing else");

    let delivery = json!({"Records": bodies.iter().enumerate().map(|(i, body)| json!({
        "messageId": format!("message-{i}"),
        "body": body,
        "eventSource": "aws:sqs",
    })).collect::<Vec<_>>()});
    let response = notify::notify_batch(&h.app, &sqs_batch(&delivery))
        .await
        .expect("notify");
    assert!(response.batch_item_failures.is_empty());
    let user = UserId::parse(&sub(&buyer)).unwrap();
    assert_eq!(told(&h, &user).await.len(), 4);
}

#[tokio::test]
async fn an_unreadable_event_item_is_set_aside_and_holds_back_nothing() {
    let client = sqs();
    let (url, _) = queue(&client, None).await;
    let (dead_letters, _) = queue(&client, None).await;
    let mut sample = event("relay-events");
    let records = sample["Records"].as_array_mut().unwrap();
    let good = records.len();
    let mut broken = records[0].clone();
    broken["eventID"] = json!("broken-record");
    broken["dynamodb"]["SequenceNumber"] = json!("1");
    broken["dynamodb"]["NewImage"]["kind"] = json!({"S": "order_shipped"});
    records.insert(0, broken);
    let batch = stream_batch(&sample);

    // The dead-letter queue cannot be reached: the record is retried, by its sequence number.
    let held = relay::relay_batch(&SqsPublisher::new(client.clone(), &url), &nowhere(&client), &batch)
        .await
        .expect("a batch answer");
    let held: Vec<_> = held
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(held, [Some("1".to_string())]);
    drain(&client, &url).await;

    let response = relay::relay_batch(
        &SqsPublisher::new(client.clone(), &url),
        &SqsDeadLetters::new(client.clone(), &dead_letters),
        &batch,
    )
    .await
    .expect("a batch answer");

    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(drain(&client, &url).await.len(), good, "every readable event published");
    let set_aside = drain(&client, &dead_letters).await;
    assert_eq!(set_aside.len(), 1);
    let kept: Value = serde_json::from_str(&set_aside[0]).unwrap();
    assert!(kept["reason"].as_str().unwrap().contains("order_shipped"), "{kept}");
    assert_eq!(
        kept["record"]["eventID"], "broken-record",
        "the whole record is kept: {kept}"
    );
    assert_eq!(
        kept["record"]["dynamodb"]["NewImage"]["kind"],
        json!({"S": "order_shipped"})
    );
}

#[tokio::test]
async fn a_failed_publish_is_reported_by_sequence_number_and_succeeds_on_the_retry() {
    let client = sqs();
    let (url, _) = queue(&client, None).await;
    let sample = event("relay-events");
    let batch = stream_batch(&sample);
    let sequence_numbers: Vec<String> = batch
        .records
        .iter()
        .filter(|r| r.event_name == "INSERT")
        .map(|r| r.change.sequence_number.clone().unwrap())
        .collect();

    let missing_queue = format!("{url}-that-does-not-exist");
    let failed = relay::relay_batch(
        &SqsPublisher::new(client.clone(), missing_queue),
        &nowhere(&client),
        &batch,
    )
    .await
    .expect("a batch answer");
    let reported: Vec<String> = failed
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect();
    assert_eq!(
        reported, sequence_numbers,
        "every unpublished record, so the shard is retried from the first"
    );
    // What Lambda reads: exactly this shape, each identifier a record's SequenceNumber.
    let expected: Vec<Value> = sequence_numbers.iter().map(|n| json!({"itemIdentifier": n})).collect();
    assert_eq!(
        serde_json::to_value(&failed).unwrap(),
        json!({"batchItemFailures": expected})
    );
    assert!(drain(&client, &url).await.is_empty());

    // Lambda retries the batch; this time the queue answers.
    let retried = relay::relay_batch(&SqsPublisher::new(client.clone(), &url), &nowhere(&client), &batch)
        .await
        .expect("retry");
    assert_eq!(
        serde_json::to_value(&retried).unwrap(),
        json!({"batchItemFailures": []}),
        "a batch all published reports no failure"
    );
    assert_eq!(drain(&client, &url).await.len(), sequence_numbers.len());
}

// ---- the scheduled jobs ----

fn scheduled(name: &str, time: &str) -> ScheduledEvent {
    let mut ev = event(name);
    ev["time"] = json!(time);
    serde_json::from_value(ev).unwrap_or_else(|e| panic!("{name}'s event: {e}"))
}

#[tokio::test]
async fn expire_orders_answers_its_event_and_twice_for_the_same_minute_is_once() {
    let h = Harness::with_vars(&[("ORDER_TTL_SECONDS", "1")]).await;
    let product = h.create_product(10).await;
    let pid = product["id"].as_str().unwrap();
    let buyer = event("create-order");
    let order = h.place_order(&buyer, pid, 3).await;
    assert_eq!(h.product(pid).await["stock"], 7);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let minute = now().to_rfc3339();

    // The sample as it is, for its own (past) minute: nothing was due then.
    let sample: ScheduledEvent = serde_json::from_value(event("expire-orders")).expect("the sample parses");
    let early = jobs::expire_orders(&h.app, &sample).await.expect("the sample's run");
    assert_eq!(early["expired"], 0, "{early}");

    let first = jobs::expire_orders(&h.app, &scheduled("expire-orders", &minute))
        .await
        .expect("first run");
    let second = jobs::expire_orders(&h.app, &scheduled("expire-orders", &minute))
        .await
        .expect("second run");
    assert_eq!(
        (first["expired"].as_u64(), second["expired"].as_u64()),
        (Some(1), Some(0)),
        "{first} {second}"
    );
    assert_eq!(h.product(pid).await["stock"], 10, "the stock came back once");
    let id = orderly_core::domain::OrderId::parse(order["id"].as_str().unwrap()).unwrap();
    let stored = h.app.store.order(&id).await.unwrap().unwrap();
    assert_eq!(stored.status.as_str(), "expired");

    // A Scheduler event whose detail is the string "{}", and an EventBridge rule's scheduled
    // event, are read the same.
    for variant in ["expire-orders-detail-string", "expire-orders-eventbridge-rule"] {
        let mut ev = variant_event(variant);
        ev["time"] = json!(minute);
        let run = jobs::expire_orders(&h.app, &serde_json::from_value(ev).unwrap())
            .await
            .expect(variant);
        assert_eq!(run["expired"], 0, "{variant}: {run}");
    }
}

/// `events/variants/<name>.json`: another shape a job's trigger may deliver.
fn variant_event(name: &str) -> Value {
    let path = events_dir().join("variants").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

#[test]
fn every_variant_names_its_schedules_time() {
    let dir = events_dir().join("variants");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".json")
            .to_string();
        let ev: ScheduledEvent = serde_json::from_value(variant_event(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let sample_time = variant_event(&name)["time"]
            .as_str()
            .map(str::to_string)
            .expect("a time");
        let at = ev.scheduled_at(now()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            Some(at),
            orderly_core::domain::Timestamp::parse_rfc3339(&sample_time).ok(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn report_previous_day_answers_its_event_and_a_rerun_gives_the_same_report() {
    let h = Harness::new().await;
    let product = h.create_product(10).await;
    let buyer = event("create-order");
    let order = h.place_order(&buyer, product["id"].as_str().unwrap(), 2).await;
    let paid = h.pay(&buyer, &order).await;
    // The day it was paid (not "today", which may have turned since).
    let today = orderly_core::domain::Date::parse(&paid["paid_at"].as_str().unwrap()[..10]).unwrap();
    let (_, midnight) = today.bounds();
    let five_past = midnight.plus_seconds(300).to_rfc3339();

    let sample: ScheduledEvent = serde_json::from_value(event("report-previous-day")).expect("the sample parses");
    jobs::report_previous_day(&h.app, &sample)
        .await
        .expect("the sample's day");
    for variant in [
        "report-previous-day-detail-string",
        "report-previous-day-eventbridge-rule",
    ] {
        let ev: ScheduledEvent = serde_json::from_value(variant_event(variant)).unwrap();
        jobs::report_previous_day(&h.app, &ev).await.expect(variant);
    }
    let report = jobs::report_previous_day(&h.app, &scheduled("report-previous-day", &five_past))
        .await
        .expect("report");
    let rerun = jobs::report_previous_day(&h.app, &scheduled("report-previous-day", &five_past))
        .await
        .expect("rerun");

    assert_eq!(report["date"], json!(today.to_string()));
    assert_eq!(
        (report["orders_paid"].as_u64(), report["units_sold"].as_u64()),
        (Some(1), Some(2)),
        "{report}"
    );
    assert_eq!(report, rerun);
}

/// `job_processed` and `job_failed` for the relay and the scheduled jobs, in a recorder local to
/// this test: events published and unpublished, orders expired, reports computed, and a run that
/// could not start (a schedule time that is no time) counted as one failure.
#[test]
fn the_relay_and_the_scheduled_jobs_count_what_they_did_and_what_they_failed() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let inserted = metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let client = sqs();
            let (url, _) = queue(&client, None).await;
            let batch = stream_batch(&event("relay-events"));
            let inserted = batch.records.iter().filter(|r| r.event_name == "INSERT").count();
            let published = relay::relay_batch(&SqsPublisher::new(client.clone(), &url), &nowhere(&client), &batch)
                .await
                .expect("published");
            assert!(published.batch_item_failures.is_empty(), "{published:?}");
            let missing_queue = format!("{url}-that-does-not-exist");
            relay::relay_batch(
                &SqsPublisher::new(client.clone(), missing_queue),
                &nowhere(&client),
                &batch,
            )
            .await
            .expect("a batch answer");

            let h = Harness::with_vars(&[("ORDER_TTL_SECONDS", "1")]).await;
            let product = h.create_product(10).await;
            let buyer = event("create-order");
            let order = h.place_order(&buyer, product["id"].as_str().unwrap(), 1).await;
            h.pay(&buyer, &order).await;
            h.place_order(&buyer, product["id"].as_str().unwrap(), 2).await;
            // Past the second order's deadline (a slower machine only waits longer).
            tokio::time::sleep(Duration::from_millis(1_100)).await;
            let minute = now().to_rfc3339();
            let run = jobs::expire_orders(&h.app, &scheduled("expire-orders", &minute))
                .await
                .expect("the sweep");
            assert_eq!(run["expired"], 1, "{run}");
            assert!(jobs::expire_orders(&h.app, &scheduled("expire-orders", "no time"))
                .await
                .is_err());
            jobs::report_previous_day(&h.app, &scheduled("report-previous-day", &minute))
                .await
                .expect("a report");
            assert!(
                jobs::report_previous_day(&h.app, &scheduled("report-previous-day", "2026-13-01T00:05:00Z"))
                    .await
                    .is_err()
            );
            inserted
        })
    });
    let text = handle.render();
    for expected in [
        format!("job_processed{{job=\"relay-events\"}} {inserted}"),
        format!("job_failed{{job=\"relay-events\"}} {inserted}"),
        "job_processed{job=\"expire-orders\"} 1".to_string(),
        "job_failed{job=\"expire-orders\"} 1".to_string(),
        "job_processed{job=\"report-previous-day\"} 1".to_string(),
        "job_failed{job=\"report-previous-day\"} 1".to_string(),
    ] {
        assert!(text.lines().any(|line| line == expected), "{expected} in\n{text}");
    }
}

#[test]
fn every_job_has_its_sample_event_and_its_binary() {
    for job in JOBS {
        let _ = event(job.function);
        let binary = events_dir()
            .join("..")
            .join("functions/src/bin")
            .join(format!("{}.rs", job.function));
        assert!(
            binary.exists(),
            "{} has no binary at {}",
            job.function,
            binary.display()
        );
    }
}
