//! The table's I/O that every aggregate shares: strongly consistent reads (one key, a batch, a
//! query of one partition), eventually consistent index queries, the `Put`/`Update` actions of a transaction and its commit, retried while the only
//! obstacle is a concurrent transaction, and reading which condition cancelled it.

use crate::attributes::s;
use crate::attributes::Item;
use crate::errors::{self, build, reason_code, sdk};
use crate::expression::{Compare, Expression};
use crate::keys;
use crate::{retry, DynamoStore};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    CancellationReason, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use orderly_core::ports::{Conflict, StoreError};

pub(crate) const NOT_EXISTS: &str = "attribute_not_exists(PK)";
const CONDITION_FAILED: &str = "ConditionalCheckFailed";
/// BatchGetItem answers at most this many keys per call; an order needs at most 26.
const BATCH_GET_MAX: usize = 100;

/// Why a transaction did not commit.
pub(crate) enum Cancelled {
    /// Its conditions, by action: the reasons DynamoDB gave.
    Reasons(Vec<CancellationReason>),
    Store(StoreError),
}

impl From<StoreError> for Cancelled {
    fn from(error: StoreError) -> Self {
        Cancelled::Store(error)
    }
}

impl DynamoStore {
    pub(crate) fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| build("Put", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(crate) fn update(&self, key: Item, expression: &Expression) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .set_update_expression(expression.update_expression())
            .set_condition_expression(expression.condition_expression())
            .set_expression_attribute_names(expression.expression_attribute_names())
            .set_expression_attribute_values(expression.expression_attribute_values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| build("Update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A single `UpdateItem` of `key` by `expression`, for the caller to choose what it returns.
    pub(crate) fn update_item(&self, key: Item, expression: &Expression) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .set_update_expression(expression.update_expression())
            .set_condition_expression(expression.condition_expression())
            .set_expression_attribute_names(expression.expression_attribute_names())
            .set_expression_attribute_values(expression.expression_attribute_values())
    }

    /// Commits `actions` atomically, retrying while the only obstacle is a concurrent transaction.
    pub(crate) async fn transact(&self, actions: Vec<TransactWriteItem>) -> Result<(), Cancelled> {
        let started = std::time::Instant::now();
        for attempt in 1..=retry::MAX_ATTEMPTS {
            if attempt > 1 && started.elapsed() > retry::BUDGET {
                break;
            }
            if attempt > 1 {
                orderly_core::metrics::dynamodb_retry();
            }
            // A fresh token per attempt: the SDK's own retries of one attempt reuse it, so a
            // commit whose answer was lost is not applied twice.
            let token = ulid_token();
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(actions.clone()))
                .client_request_token(token);
            match sent.send().await {
                Ok(_) => return Ok(()),
                Err(SdkError::ServiceError(service)) => match service.err() {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                        let reasons = cancelled.cancellation_reasons().to_vec();
                        let lost_a_race = errors::is_conflict(&reasons)
                            && !reasons.iter().any(|r| r.code() == Some(CONDITION_FAILED));
                        if !lost_a_race {
                            return Err(Cancelled::Reasons(reasons));
                        }
                        orderly_core::metrics::dynamodb_conflict();
                    }
                    TransactWriteItemsError::TransactionInProgressException(_) => {
                        orderly_core::metrics::dynamodb_conflict()
                    }
                    _ => return Err(sdk("TransactWriteItems", SdkError::ServiceError(service)).into()),
                },
                Err(other) => return Err(sdk("TransactWriteItems", other).into()),
            }
            tokio::time::sleep(retry::backoff(attempt)).await;
        }
        Err(StoreError::Unavailable("the transaction kept conflicting with concurrent ones".into()).into())
    }

    pub(crate) async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let answer = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk("GetItem", e))?;
        Ok(answer.item)
    }

    /// Strongly consistent reads of distinct keys, in any order, retrying unprocessed keys.
    pub(crate) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        self.batch_get_with(keys, true).await
    }

    /// Like [`DynamoStore::batch_get`], eventually consistent: half the read units, for a page of
    /// what an index query, itself eventually consistent, has just listed.
    pub(crate) async fn batch_get_listed(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        self.batch_get_with(keys, false).await
    }

    async fn batch_get_with(&self, keys: Vec<Item>, consistent: bool) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(consistent)
                    .build()
                    .map_err(|e| build("KeysAndAttributes", e))?,
            );
            let mut attempt = 0;
            while let Some(request) = pending.take() {
                let answer = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| sdk("BatchGetItem", e))?;
                if let Some(mut responses) = answer.responses {
                    found.extend(responses.remove(&self.table).unwrap_or_default());
                }
                pending = answer.unprocessed_keys.and_then(|mut left| left.remove(&self.table));
                if pending.is_some() {
                    attempt += 1;
                    if attempt >= retry::MAX_ATTEMPTS {
                        return Err(StoreError::Unavailable(
                            "BatchGetItem kept leaving keys unprocessed".into(),
                        ));
                    }
                    tokio::time::sleep(retry::backoff(attempt)).await;
                    orderly_core::metrics::dynamodb_retry();
                }
            }
        }
        Ok(found)
    }

    /// Pages through a query of `index` whose key meets `key_condition` until `limit` items are
    /// collected or the query ends. Index reads are eventually consistent (DynamoDB allows no other).
    pub(crate) async fn query(
        &self,
        index: &str,
        key_condition: &Expression,
        forward: bool,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        self.query_on(Some(index), key_condition, forward, limit).await
    }

    /// Like [`DynamoStore::query`], on the table itself, and strongly consistent like every other
    /// read of the table.
    pub(crate) async fn query_table(
        &self,
        key_condition: &Expression,
        forward: bool,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        self.query_on(None, key_condition, forward, limit).await
    }

    async fn query_on(
        &self,
        index: Option<&str>,
        key_condition: &Expression,
        forward: bool,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        // DynamoDB refuses `Limit = 0`; nothing is asked for, so nothing is read.
        if limit == 0 {
            return Ok(found);
        }
        let mut start: Option<Item> = None;
        loop {
            let wanted = i32::try_from(limit.saturating_sub(found.len())).unwrap_or(i32::MAX);
            let answer = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_string))
                .set_consistent_read(index.is_none().then_some(true))
                .set_key_condition_expression(key_condition.condition_expression())
                .set_expression_attribute_names(key_condition.expression_attribute_names())
                .set_expression_attribute_values(key_condition.expression_attribute_values())
                .scan_index_forward(forward)
                .limit(wanted)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk("Query", e))?;
            found.extend(answer.items.unwrap_or_default());
            start = answer.last_evaluated_key;
            if start.is_none() || found.len() >= limit {
                found.truncate(limit);
                return Ok(found);
            }
        }
    }

    /// One ascending query of `GSI2` per partition (the shards of one kind of order, and its
    /// unsharded key of before the sharding), each `GSI2PK = partition` and `range` on `GSI2SK`;
    /// all at once, up to `limit` items from each, merged in `GSI2SK` order. The queries run in
    /// the caller's task, so its trace covers them.
    pub(crate) async fn query_order_shards(
        &self,
        partitions: impl Iterator<Item = String>,
        range: impl Fn(&mut Expression),
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let conditions: Vec<Expression> = partitions
            .map(|partition| {
                let mut key = Expression::default();
                key.require(keys::GSI2PK, Compare::Equal, s(partition));
                range(&mut key);
                key
            })
            .collect();
        let sort_key = keys::GSI2SK;
        let answers = futures_util::future::try_join_all(
            conditions
                .iter()
                .map(|condition| self.query(keys::GSI2, condition, true, limit)),
        )
        .await?;
        let mut found: Vec<Item> = answers.into_iter().flatten().collect();
        found.sort_by(|a, b| {
            a.get(sort_key)
                .and_then(|v| v.as_s().ok())
                .cmp(&b.get(sort_key).and_then(|v| v.as_s().ok()))
        });
        Ok(found)
    }
}

pub(crate) fn ulid_token() -> String {
    // ULIDs are 26 characters, within ClientRequestToken's 36.
    ulid::Ulid::new().to_string()
}

pub(crate) fn conflict(conflict: Conflict) -> StoreError {
    StoreError::Conflict(conflict)
}

/// The old item a failed condition returned, if it existed.
pub(crate) fn old_item(reasons: &[CancellationReason], index: usize) -> Option<&Item> {
    reasons
        .get(index)
        .and_then(|r| r.item.as_ref())
        .filter(|item| !item.is_empty())
}

pub(crate) fn failed(reasons: &[CancellationReason], index: usize) -> bool {
    reason_code(reasons, index) == CONDITION_FAILED
}

pub(crate) fn unexpected(what: &str, reasons: &[CancellationReason]) -> StoreError {
    let codes: Vec<&str> = (0..reasons.len()).map(|i| reason_code(reasons, i)).collect();
    StoreError::Internal(format!("{what} was cancelled for unexpected reasons: {codes:?}"))
}
