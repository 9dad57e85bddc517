//! The outbox in memory: every event written with its state change stays unpublished until the
//! relay marks it, as SQLite's `order_events.published_at` does.

use crate::MemoryStore;
use async_trait::async_trait;
use orderly_core::domain::{OrderEvent, Timestamp};
use orderly_core::ports::{OutboxStore, StoreError};

#[async_trait]
impl OutboxStore for MemoryStore {
    async fn unpublished_events(&self, limit: usize) -> Result<Vec<OrderEvent>, StoreError> {
        let state = self.lock()?;
        state
            .unpublished_events
            .iter()
            .take(limit)
            .map(|id| {
                state
                    .order_events
                    .get(id)
                    .cloned()
                    .ok_or_else(|| StoreError::Internal(format!("order event {id} is unpublished but not stored")))
            })
            .collect()
    }

    /// Only the set of unpublished ids changes: when an event was published is not read back
    /// through the port.
    async fn mark_published(&self, event_ids: &[String], _at: Timestamp) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        for id in event_ids {
            state.unpublished_events.remove(id);
        }
        Ok(())
    }
}
