//! The events queue (SQS) as the relay's publisher: each event is one message whose body is the
//! contract's event JSON, sent in batches of up to ten (SQS's limit per `SendMessageBatch`); and
//! the relay's dead-letter queue, where it sets aside what it cannot read.

use crate::jobs::relay::SetAside;
use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;
use orderly_core::domain::OrderEvent;
use orderly_core::ports::{EventPublisher, PublishFailure};

/// SQS's most messages per `SendMessageBatch`.
const MAX_BATCH: usize = 10;

pub struct SqsPublisher {
    client: Client,
    queue_url: String,
}

impl SqsPublisher {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsPublisher {
            client,
            queue_url: queue_url.into(),
        }
    }

    async fn send(&self, events: &[OrderEvent]) -> Vec<PublishFailure> {
        let everything_failed = |reason: String| {
            events
                .iter()
                .map(|event| PublishFailure {
                    event_id: event.id.clone(),
                    reason: reason.clone(),
                })
                .collect()
        };
        let mut entries = Vec::with_capacity(events.len());
        for event in events {
            let kind = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(event.kind.as_str())
                .build();
            let entry = kind.and_then(|kind| {
                SendMessageBatchRequestEntry::builder()
                    // Unique within the batch, and what SQS names a failed entry by.
                    .id(&event.id)
                    .message_body(event.to_message())
                    // Lets a subscriber filter by type without parsing the body.
                    .message_attributes("type", kind)
                    .build()
            });
            match entry {
                Ok(entry) => entries.push(entry),
                Err(error) => return everything_failed(format!("building the message: {error}")),
            }
        }
        let sent = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        match sent {
            Ok(output) => output
                .failed()
                .iter()
                .map(|entry| PublishFailure {
                    event_id: entry.id().to_string(),
                    reason: format!("{}: {}", entry.code(), entry.message().unwrap_or("no message")),
                })
                .collect(),
            Err(error) => everything_failed(format!(
                "SendMessageBatch failed: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&error)
            )),
        }
    }
}

#[async_trait]
impl EventPublisher for SqsPublisher {
    async fn publish(&self, events: &[OrderEvent]) -> Vec<PublishFailure> {
        let mut failed = Vec::new();
        for chunk in events.chunks(MAX_BATCH) {
            failed.extend(self.send(chunk).await);
        }
        failed
    }
}

/// A queue that keeps what the relay set aside.
pub struct SqsDeadLetters {
    client: Client,
    queue_url: String,
}

impl SqsDeadLetters {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsDeadLetters {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl SetAside for SqsDeadLetters {
    async fn set_aside(&self, record: String) -> Result<(), String> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(record)
            .send()
            .await
            .map(drop)
            .map_err(|error| {
                format!(
                    "SendMessage failed: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&error)
                )
            })
    }
}
