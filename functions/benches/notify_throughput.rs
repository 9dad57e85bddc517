//! Notifications per second through `notify` on DynamoDB Local: batches of ten order events (the
//! SQS trigger's batch size), handed to `notify_batch` as Lambda hands them over, one invoker at a
//! time and four at once (four warm instances). Each message is one conditional `PutItem`.
//!
//! Needs DynamoDB Local (`scripts/dynamodb-local start DIR`, then `ORDERLY_TEST_DYNAMODB_ENDPOINT`):
//! `cargo bench -p orderly-functions --features dynamodb-local --bench notify_throughput`.
//! Figures in docs/BENCHMARKS.md.

// A benchmark: a failed set-up is the run failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lambda_events::event::sqs::SqsEvent;
use orderly_core::domain::{OrderEvent, OrderEventType, OrderId, Timestamp, UserId};
use orderly_functions::jobs::notify::notify_batch;
use orderly_functions::FunctionConfig;
use orderly_store_dynamodb::{local, table};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

const MESSAGES: usize = 2_000;
const BATCH: usize = 10;

fn batches(run: &str) -> Vec<SqsEvent> {
    let events: Vec<OrderEvent> = (0..MESSAGES)
        .map(|i| OrderEvent {
            id: ulid::Ulid::new().to_string(),
            kind: OrderEventType::OrderPlaced,
            order_id: OrderId::from_ulid(ulid::Ulid::new()),
            user_id: UserId::parse(&format!("{run}-user-{}", i % 100)).unwrap(),
            occurred_at: Timestamp::from_millis(1_795_000_000_000),
        })
        .collect();
    events
        .chunks(BATCH)
        .map(|chunk| {
            let records: Vec<_> = chunk
                .iter()
                .map(|e| json!({"messageId": ulid::Ulid::new().to_string(), "body": e.to_message(), "eventSource": "aws:sqs"}))
                .collect();
            serde_json::from_value(json!({"Records": records})).unwrap()
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let endpoint = local::endpoint_from_environment().unwrap_or_else(|why| panic!("{why}"));
    let client = local::client_for(&endpoint);
    let table_name = format!("orderly-notify-bench-{}", ulid::Ulid::new().to_string().to_lowercase());
    table::create_table(&client, &table_name)
        .await
        .expect("create the table");
    let vars: HashMap<String, String> = [("TABLE_NAME", table_name.as_str())]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // notify holds no secret, as deployed.
    let config = FunctionConfig::from_vars(&vars, Default::default()).expect("config");
    let app = Arc::new(config.app_with(client));

    // Warm-up: connections open, DynamoDB Local's JIT warm.
    for batch in batches("warm").iter().take(20) {
        notify_batch(&app, batch).await.expect("warm-up");
    }
    for invokers in [1usize, 4] {
        let work = batches(&format!("run{invokers}"));
        let per_invoker = work.len() / invokers;
        let mut chunks = work.chunks(per_invoker).map(<[SqsEvent]>::to_vec).collect::<Vec<_>>();
        let started = Instant::now();
        let tasks: Vec<_> = chunks
            .drain(..)
            .map(|mine| {
                let app = app.clone();
                tokio::spawn(async move {
                    for batch in &mine {
                        let answer = notify_batch(&app, batch).await.expect("a batch answer");
                        assert!(answer.batch_item_failures.is_empty());
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("an invoker");
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "notify, {invokers} invoker(s): {MESSAGES} messages in {seconds:.2} s = {:.0} notifications/s",
            MESSAGES as f64 / seconds
        );
    }
}
