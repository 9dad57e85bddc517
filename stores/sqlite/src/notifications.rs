//! Notifications in the `notifications` table (migration 2): inserted once per event id, which
//! is the primary key, and listed per user newest first through `notifications_by_user`.

use crate::connection::sql;
use crate::{notification_columns, rows, EmbeddedStore};
use async_trait::async_trait;
use orderly_core::domain::{Notification, UserId};
use orderly_core::ports::{NotificationStore, StoreError};
use rusqlite::params;

pub(crate) const INSERT_NOTIFICATION: &str = concat!(
    "INSERT INTO notifications (",
    notification_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING"
);

/// The user's notifications older than `?2`, newest first, at most `?3`.
pub(crate) const NOTIFICATIONS_OF: &str = concat!(
    "SELECT ",
    notification_columns!(),
    " FROM notifications WHERE user_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
);

#[async_trait]
impl NotificationStore for EmbeddedStore {
    async fn insert_notification(&self, notification: &Notification) -> Result<bool, StoreError> {
        let n = notification.clone();
        self.write(move |tx| {
            let inserted = tx
                .prepare_cached(INSERT_NOTIFICATION)
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        n.id,
                        n.user_id.as_str(),
                        n.kind.as_str(),
                        n.order_id.as_str(),
                        n.message,
                        n.created_at.as_millis()
                    ])
                })
                .map_err(sql)?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn notifications_of(
        &self,
        user: &UserId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let user = user.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // "~" sorts after every ULID character, so it stands for "no upper bound".
        let before = before.unwrap_or("~").to_string();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(NOTIFICATIONS_OF).map_err(sql)?;
            let rows = stmt
                .query_map(params![user, before, limit], rows::notification)
                .map_err(sql)?;
            rows.map(|row| row.map_err(sql).and_then(|parsed| parsed)).collect()
        })
        .await
    }
}
