//! The outbox: every event a state change wrote to `order_events` stays unpublished
//! (`published_at IS NULL`, the partial index `order_events_unpublished`) until the relay that
//! polls it has handed it on. Event ids are ULIDs, so id order is the order they happened in.

use crate::connection::sql;
use crate::{event_columns, rows, EmbeddedStore};
use async_trait::async_trait;
use orderly_core::domain::{OrderEvent, Timestamp};
use orderly_core::ports::{OutboxStore, StoreError};
use rusqlite::params;

/// The oldest `?1` events not yet published, through the partial index `order_events_unpublished`.
pub(crate) const UNPUBLISHED_EVENTS: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM order_events WHERE published_at IS NULL ORDER BY id LIMIT ?1"
);

#[async_trait]
impl OutboxStore for EmbeddedStore {
    async fn unpublished_events(&self, limit: usize) -> Result<Vec<OrderEvent>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(UNPUBLISHED_EVENTS).map_err(sql)?;
            let rows = stmt.query_map([limit], rows::event).map_err(sql)?;
            rows.map(|row| row.map_err(sql).and_then(|parsed| parsed)).collect()
        })
        .await
    }

    async fn mark_published(&self, event_ids: &[String], at: Timestamp) -> Result<(), StoreError> {
        if event_ids.is_empty() {
            return Ok(());
        }
        let ids = event_ids.to_vec();
        self.write(move |tx| {
            let mut stmt = tx
                .prepare_cached("UPDATE order_events SET published_at = ?2 WHERE id = ?1 AND published_at IS NULL")
                .map_err(sql)?;
            for id in &ids {
                stmt.execute(params![id, at.as_millis()]).map_err(sql)?;
            }
            Ok(())
        })
        .await
    }
}
