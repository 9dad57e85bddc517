//! Notifications on the table: one item per order event in its user's partition
//! (`USER#<user>` / `NOTE#<event id>`), created with a conditional `PutItem` so a redelivered event
//! finds its notification already there, and listed newest first with one `Query` of the partition.

use crate::attributes::s;
use crate::errors::sdk;
use crate::expression::{Compare, Expression};
use crate::table_io::NOT_EXISTS;
use crate::{items, keys, DynamoStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use orderly_core::domain::{Notification, UserId};
use orderly_core::ports::{NotificationStore, StoreError};

#[async_trait]
impl NotificationStore for DynamoStore {
    async fn insert_notification(&self, notification: &Notification) -> Result<bool, StoreError> {
        let answer = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::notification_item(notification)))
            .condition_expression(NOT_EXISTS)
            .send()
            .await;
        match answer {
            Ok(_) => Ok(true),
            // Already there: this event's notification was stored before (or by an SDK retry of
            // this very call whose first answer was lost; either way it is stored once).
            Err(SdkError::ServiceError(service))
                if matches!(service.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(false)
            }
            Err(other) => Err(sdk("PutItem", other)),
        }
    }

    async fn notifications_of(
        &self,
        user: &UserId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let mut key = Expression::default();
        key.require(keys::PK, Compare::Equal, s(keys::user(user)));
        let found = match before {
            None => {
                key.require_begins_with(keys::SK, s(keys::NOTIFICATIONS));
                self.query_table(&key, false, limit).await?
            }
            // BETWEEN includes both bounds: the lower one is never a key (ids are not empty), the
            // upper one is the cursor's own notification, asked for once more and dropped.
            Some(before) => {
                key.require_between(keys::SK, s(keys::NOTIFICATIONS), s(keys::notification_sort(before)));
                let mut found = self.query_table(&key, false, limit.saturating_add(1)).await?;
                let cursor = s(keys::notification_sort(before));
                found.retain(|item| item.get(keys::SK) != Some(&cursor));
                found.truncate(limit);
                found
            }
        };
        found.iter().map(items::notification).collect()
    }
}
