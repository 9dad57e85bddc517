//! The outbox relay for stores that are polled: hands each unpublished event to the publisher and
//! marks it published only once the publisher has it. A process that dies in between publishes
//! it again after its restart (at least once; consumers are idempotent).

use super::App;
use crate::ports::{EventPublisher, OutboxStore, PublishFailure};
use crate::Error;

/// Events read from the outbox at a time.
const BATCH: usize = 100;
/// Batches per run, so one run ends even while new events keep arriving; the next run goes on.
const MAX_BATCHES: usize = 100;

/// What one run of the relay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayPass {
    pub published: usize,
    /// Events left in the outbox for the next run.
    pub failed: Vec<PublishFailure>,
}

/// Publishes the outbox's unpublished events, oldest first, a batch at a time, until it is empty.
/// A batch with a failure ends the run, so a publisher that is down is not hammered: the failed
/// events (and any behind them) are offered again by the next run.
pub async fn relay_outbox(
    app: &App,
    outbox: &dyn OutboxStore,
    publisher: &dyn EventPublisher,
) -> Result<RelayPass, Error> {
    let mut run = RelayPass::default();
    for _ in 0..MAX_BATCHES {
        let events = outbox.unpublished_events(BATCH).await?;
        if events.is_empty() {
            break;
        }
        let full_batch = events.len() == BATCH;
        let failed = publisher.publish(&events).await;
        let published: Vec<String> = events
            .into_iter()
            .map(|event| event.id)
            .filter(|id| !failed.iter().any(|failure| &failure.event_id == id))
            .collect();
        outbox.mark_published(&published, app.now()).await?;
        run.published += published.len();
        if !failed.is_empty() || !full_batch {
            run.failed = failed;
            break;
        }
    }
    Ok(run)
}
