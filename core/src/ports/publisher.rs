//! The event publisher: where the relay hands order events on (an SQS queue when deployed, the
//! notification job itself on the local server).

use crate::domain::OrderEvent;
use async_trait::async_trait;

/// An event the publisher could not hand on, and why. The relay keeps it to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishFailure {
    pub event_id: String,
    pub reason: String,
}

#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes each event at least once, and returns those it could not publish (none when all
    /// went out). A failure of one event does not hold back the others.
    async fn publish(&self, events: &[OrderEvent]) -> Vec<PublishFailure>;
}
