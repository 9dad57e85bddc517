//! Profiles on the table: created once with a conditional `PutItem` (the first writer wins) and
//! upserted by the display name's `UpdateItem`, which fills in what a fresh profile would hold.

use crate::attributes::{n, s};
use crate::errors::sdk;
use crate::expression::Expression;
use crate::table_io::NOT_EXISTS;
use crate::{items, keys, DynamoStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use orderly_core::domain::{DisplayName, Profile, UserId};
use orderly_core::ports::{ProfileStore, StoreError};

#[async_trait]
impl ProfileStore for DynamoStore {
    async fn profile(&self, user: &UserId) -> Result<Option<Profile>, StoreError> {
        self.get(keys::profile(user))
            .await?
            .as_ref()
            .map(items::profile)
            .transpose()
    }

    async fn insert_profile(&self, profile: &Profile) -> Result<Profile, StoreError> {
        let answer = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::profile_item(profile)))
            .condition_expression(NOT_EXISTS)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match answer {
            Ok(_) => Ok(profile.clone()),
            Err(SdkError::ServiceError(service)) => match service.err() {
                // Another request created it first: theirs is the profile.
                PutItemError::ConditionalCheckFailedException(e) => match &e.item {
                    Some(item) => items::profile(item),
                    None => self
                        .profile(&profile.user_id)
                        .await?
                        .ok_or_else(|| StoreError::Internal("a profile both exists and does not".into())),
                },
                _ => Err(sdk("PutItem", SdkError::ServiceError(service))),
            },
            Err(other) => Err(sdk("PutItem", other)),
        }
    }

    async fn set_display_name(&self, fresh: &Profile, name: &DisplayName) -> Result<Profile, StoreError> {
        let email = fresh.email.as_deref().map(s).unwrap_or(AttributeValue::Null(true));
        let mut upsert = Expression::default();
        upsert
            .set("display_name", s(name.as_str()))
            .set_if_absent("user_id", s(fresh.user_id.as_str()))
            .set_if_absent("email", email)
            .set_if_absent("created_at", n(fresh.created_at.as_millis()))
            .set_if_absent("type", s("profile"))
            .set_if_absent("schema", n(keys::SCHEMA));
        let answer = self
            .update_item(keys::profile(&fresh.user_id), &upsert)
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| sdk("UpdateItem", e))?;
        items::profile(&answer.attributes.unwrap_or_default())
    }
}
