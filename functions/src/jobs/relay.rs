//! `relay-events`: a batch of the table's stream records, each new order event published to the
//! events queue.
//!
//! A record whose event cannot be published is reported in `batchItemFailures` by its
//! `SequenceNumber`; Lambda then retries the shard from the lowest one reported, so nothing after a
//! failure is skipped (what was already published is published again: consumers are idempotent).
//! An event item that cannot even be read would fail every retry and hold up its shard's later
//! events, so it is set aside whole (the relay's dead-letter queue, alarmed) and the batch goes on.

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{Event as StreamBatch, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use orderly_core::domain::OrderEvent;
use orderly_core::jobs::RELAY_EVENTS;
use orderly_core::metrics;
use orderly_core::ports::EventPublisher;
use orderly_store_dynamodb::stream::order_event_in;
use serde_dynamo::AttributeValue;

#[derive(Debug, thiserror::Error)]
#[error("stream record {index} failed ({reason}) and has no SequenceNumber to report it by")]
pub struct UnreportableFailure {
    index: usize,
    reason: String,
}

/// Where the relay keeps a record it cannot read, for a person to look at: the record whole, as
/// JSON, with why it could not be read.
#[async_trait]
pub trait SetAside: Send + Sync {
    async fn set_aside(&self, record: String) -> Result<(), String>;
}

/// Publishes the batch's new order events; the records to retry, by sequence number.
pub async fn relay_batch(
    publisher: &dyn EventPublisher,
    unreadable: &dyn SetAside,
    batch: &StreamBatch,
) -> Result<DynamoDbEventResponse, UnreportableFailure> {
    let mut events = Vec::new();
    let mut failed: Vec<(usize, String)> = Vec::new();
    let (mut unreadable_events, mut unpublished) = (0, 0);
    for (index, record) in batch.records.iter().enumerate() {
        match event_of(record) {
            None => {}
            Some(Ok(event)) => events.push((index, event)),
            Some(Err(reason)) => {
                unreadable_events += 1;
                tracing::error!(event_id = %record.event_id, %reason, "an unreadable event item is set aside");
                let kept = serde_json::json!({"reason": reason, "record": record}).to_string();
                if let Err(why) = unreadable.set_aside(kept).await {
                    failed.push((index, format!("{reason}; setting it aside failed too: {why}")));
                }
            }
        }
    }
    let to_publish: Vec<OrderEvent> = events.iter().map(|(_, event)| event.clone()).collect();
    for failure in publisher.publish(&to_publish).await {
        if let Some((index, _)) = events.iter().find(|(_, event)| event.id == failure.event_id) {
            failed.push((*index, failure.reason));
            unpublished += 1;
        }
    }
    // Every event the batch brought is relayed now, retried later, or set aside unread.
    metrics::job_processed(&RELAY_EVENTS, events.len() - unpublished);
    metrics::job_failed(&RELAY_EVENTS, unpublished + unreadable_events);
    let mut response = DynamoDbEventResponse::default();
    for (index, reason) in failed {
        let sequence_number = batch.records[index]
            .change
            .sequence_number
            .as_deref()
            .filter(|n| !n.is_empty());
        match sequence_number {
            Some(number) => {
                tracing::warn!(sequence_number = number, %reason, "event not published; the stream will retry it");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(number.to_string());
                response.batch_item_failures.push(failure);
            }
            None => return Err(UnreportableFailure { index, reason }),
        }
    }
    Ok(response)
}

/// The order event a record adds, if it adds one. Only inserts carry new events: an event item is
/// never updated, and its removal (by TTL) is not an event.
fn event_of(record: &EventRecord) -> Option<Result<OrderEvent, String>> {
    if record.event_name != "INSERT" {
        return None;
    }
    let image = &record.change.new_image;
    order_event_in(|name| match image.get(name)? {
        AttributeValue::S(text) | AttributeValue::N(text) => Some(text.as_str()),
        _ => None,
    })
}
