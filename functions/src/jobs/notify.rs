//! `notify`: an SQS batch of order events, each turned into its user's notification.
//!
//! Each message is handled on its own: one that cannot be parsed or stored is reported in
//! `batchItemFailures` by its `messageId`, so SQS redelivers only it (and, after the queue's
//! `maxReceiveCount`, moves it to the dead-letter queue) while the rest of the batch is done.
//! Recording a notification is idempotent per event id, so a redelivered message tells no one twice.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use orderly_core::domain::OrderEvent;
use orderly_core::jobs::NOTIFY;
use orderly_core::metrics;
use orderly_core::services::notifications::notify_user;
use orderly_core::App;
use std::sync::Arc;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Why a batch could not be answered message by message.
#[derive(Debug, thiserror::Error)]
#[error("message {index} of the batch failed ({reason}) and has no messageId to report it by")]
pub struct UnreportableFailure {
    index: usize,
    reason: String,
}

/// Handles a batch; the failures to report, by `messageId`, in the batch's order. The messages are
/// handled at once (each is one conditional write, so a batch takes about one write's time, not
/// ten). A message without an id that fails cannot be reported (an empty or unknown
/// `itemIdentifier` fails the whole batch anyway), so then the whole batch is failed, explicitly:
/// redelivery is safe because recording is idempotent.
pub async fn notify_batch(app: &Arc<App>, batch: &SqsEvent) -> Result<SqsBatchResponse, UnreportableFailure> {
    let mut running = JoinSet::new();
    for (index, message) in batch.records.iter().enumerate() {
        let (app, body) = (Arc::clone(app), message.body.clone());
        // In the invocation's span and X-Ray subsegment, so each message's log lines carry the
        // request id too and its writes show in the trace.
        let one = async move { (index, notify_one(&app, body.as_deref()).await) };
        running.spawn(crate::xray::in_current_subsegment(one).in_current_span());
    }
    let mut failed = Vec::new();
    while let Some(done) = running.join_next().await {
        match done {
            Ok((_, Ok(()))) => {}
            Ok((index, Err(reason))) => failed.push((index, reason)),
            // Only a panic (which `panic = "abort"` turns into the process's end) or a cancel,
            // neither of which happens here, ends a task without its answer; fail whole then.
            Err(error) => {
                return Err(UnreportableFailure {
                    index: batch.records.len(),
                    reason: format!("a message's task ended without an answer: {error}"),
                })
            }
        }
    }
    metrics::job_processed(&NOTIFY, batch.records.len() - failed.len());
    metrics::job_failed(&NOTIFY, failed.len());
    failed.sort_by_key(|(index, _)| *index);
    let mut response = SqsBatchResponse::default();
    for (index, reason) in failed {
        match batch.records[index].message_id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => {
                tracing::warn!(message_id = id, %reason, "message failed; SQS will redeliver it");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id.to_string();
                response.batch_item_failures.push(failure);
            }
            None => return Err(UnreportableFailure { index, reason }),
        }
    }
    Ok(response)
}

async fn notify_one(app: &App, body: Option<&str>) -> Result<(), String> {
    let body = body.ok_or("the message has no body")?;
    let event = OrderEvent::from_message(body)?;
    let told_now = notify_user(app, &event).await.map_err(|e| e.to_string())?;
    tracing::info!(event_id = %event.id, kind = event.kind.as_str(), told_now, "notification recorded");
    Ok(())
}
