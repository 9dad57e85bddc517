//! The outbox relay for stores that are polled: hands each unpublished event to the publisher and
//! marks it published only once the publisher has it. A process that dies in between publishes
//! it again after its restart (at least once; consumers are idempotent).

use super::App;
use crate::ports::{EventPublisher, OutboxStore, PublishFailure};
use crate::Error;

/// What one pass of the relay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayPass {
    pub published: usize,
    /// Events left in the outbox for the next pass.
    pub failed: Vec<PublishFailure>,
}

/// Publishes up to `limit` of the oldest unpublished events.
pub async fn relay_outbox(
    app: &App,
    outbox: &dyn OutboxStore,
    publisher: &dyn EventPublisher,
    limit: usize,
) -> Result<RelayPass, Error> {
    let events = outbox.unpublished_events(limit).await?;
    if events.is_empty() {
        return Ok(RelayPass::default());
    }
    let failed = publisher.publish(&events).await;
    let published: Vec<String> = events
        .into_iter()
        .map(|event| event.id)
        .filter(|id| !failed.iter().any(|failure| &failure.event_id == id))
        .collect();
    outbox.mark_published(&published, app.now()).await?;
    Ok(RelayPass {
        published: published.len(),
        failed,
    })
}
