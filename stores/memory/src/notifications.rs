//! Notifications in memory: stored once per id (their event's), listed per user newest first.

use crate::MemoryStore;
use async_trait::async_trait;
use orderly_core::domain::{Notification, UserId};
use orderly_core::ports::{NotificationStore, StoreError};
use std::ops::Bound;

#[async_trait]
impl NotificationStore for MemoryStore {
    async fn insert_notification(&self, notification: &Notification) -> Result<bool, StoreError> {
        let mut state = self.lock()?;
        if state.notifications.contains_key(&notification.id) {
            return Ok(false);
        }
        state
            .notifications
            .insert(notification.id.clone(), notification.clone());
        state
            .notifications_by_user
            .entry(notification.user_id.clone())
            .or_default()
            .insert(notification.id.clone());
        Ok(true)
    }

    async fn notifications_of(
        &self,
        user: &UserId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let state = self.lock()?;
        let Some(ids) = state.notifications_by_user.get(user) else {
            return Ok(Vec::new());
        };
        let end = before.map_or(Bound::Unbounded, Bound::Excluded);
        ids.range::<str, _>((Bound::Unbounded, end))
            .rev()
            .take(limit)
            .map(|id| {
                state
                    .notifications
                    .get(id)
                    .cloned()
                    .ok_or_else(|| StoreError::Internal(format!("notification {id} is indexed but not stored")))
            })
            .collect()
    }
}
