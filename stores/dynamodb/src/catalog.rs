//! The catalog on the table: a product item and its SKU item, written together so a SKU names one
//! product; active products listed through the sparse, keys-only `GSI3` (so that stock changes
//! never write the catalog's one index partition), their items read in one `BatchGetItem`;
//! updates and stock changes as single conditional `UpdateItem`s that answer with the product
//! they left.

use crate::attributes::{b, n, s, Item};
use crate::errors::sdk;
use crate::expression::{Compare, Expression};
use crate::table_io::{conflict, failed, ulid_token, unexpected, Cancelled, NOT_EXISTS};
use crate::{items, keys, DynamoStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use orderly_core::domain::{Product, ProductChange, ProductId, Stock, StockDelta, Timestamp};
use orderly_core::ports::{CatalogStore, Conflict, OrderStore, StoreError};
use std::collections::HashMap;

/// Non-idempotent updates (`ADD stock`, `version + 1`) write a fresh token and are conditioned on
/// the stored token being another: when the SDK retries one whose answer was lost, the retry
/// fails that condition and finds its own token, so it reports the first success instead of
/// applying the change twice.
const WRITE_TOKEN: &str = "write_token";

/// Makes `update` write `token` and apply only if the stored token is another (see `WRITE_TOKEN`).
fn once(update: &mut Expression, token: &str) {
    update
        .set(WRITE_TOKEN, s(token))
        .require_absent_or_not(WRITE_TOKEN, s(token));
}

/// Whether the item a failed condition returned carries this call's own write token.
fn applied_by(item: &Item, token: &str) -> bool {
    item.get(WRITE_TOKEN)
        .is_some_and(|stored| stored.as_s().is_ok_and(|t| t == token))
}

/// The product a conditional `UpdateItem` with write token `token` left, or the conflict
/// `refused` reads from the item as it was (`None`: there is no such product). Finding our own
/// token means an SDK retry of an update that had already been applied: that is its result.
fn updated_product(
    answer: Result<UpdateItemOutput, SdkError<UpdateItemError, HttpResponse>>,
    token: &str,
    refused: impl FnOnce(Option<&Item>) -> Conflict,
) -> Result<Product, StoreError> {
    match answer {
        Ok(output) => items::product(&output.attributes.unwrap_or_default()),
        Err(SdkError::ServiceError(service)) => match service.err() {
            UpdateItemError::ConditionalCheckFailedException(failed) => {
                match failed.item.as_ref().filter(|item| !item.is_empty()) {
                    Some(item) if applied_by(item, token) => items::product(item),
                    old => Err(conflict(refused(old))),
                }
            }
            _ => Err(sdk("UpdateItem", SdkError::ServiceError(service))),
        },
        Err(other) => Err(sdk("UpdateItem", other)),
    }
}

#[async_trait]
impl CatalogStore for DynamoStore {
    async fn insert_product(&self, product: &Product) -> Result<(), StoreError> {
        let actions = vec![
            self.put(items::product_item(product), Some(NOT_EXISTS))?,
            self.put(items::sku_item(product), Some(NOT_EXISTS))?,
        ];
        match self.transact(actions).await {
            Ok(()) => Ok(()),
            // The id is fresh, so an existing item with it is our own earlier attempt, which
            // committed although its answer was lost (e.g. DynamoDB restarted in between).
            Err(Cancelled::Reasons(reasons)) if failed(&reasons, 0) => Ok(()),
            Err(Cancelled::Reasons(reasons)) if failed(&reasons, 1) => Err(conflict(Conflict::SkuTaken)),
            Err(Cancelled::Reasons(reasons)) => Err(unexpected("insert_product", &reasons)),
            Err(Cancelled::Store(error)) => Err(error),
        }
    }

    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        self.get(keys::product(id))
            .await?
            .as_ref()
            .map(items::product)
            .transpose()
    }

    async fn products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        Ok(self.order_inputs(ids, None).await?.0)
    }

    async fn active_products(&self, after: Option<&ProductId>, limit: usize) -> Result<Vec<Product>, StoreError> {
        let mut page = Vec::new();
        let mut after = after.cloned();
        loop {
            let wanted = limit - page.len();
            let mut key = Expression::default();
            key.require(keys::GSI3PK, Compare::Equal, s(keys::ACTIVE_PRODUCTS));
            if let Some(after) = &after {
                key.require(keys::GSI3SK, Compare::Greater, s(after.as_str()));
            }
            let listed = self.query(keys::GSI3, &key, true, wanted).await?;
            let mut ids = Vec::with_capacity(listed.len());
            for entry in &listed {
                ids.push(items::listed_product_id(entry, keys::GSI3SK)?);
            }
            let mut found = HashMap::with_capacity(ids.len());
            // Eventually consistent, as the index is: every visitor reads the first page's
            // products, so these are the catalog's most read items, and half the units is half
            // their load (docs/data-model.md §6).
            for item in self.batch_get_listed(ids.iter().map(keys::product).collect()).await? {
                let product = items::product(&item)?;
                found.insert(product.id.clone(), product);
            }
            // In the index's order. The index lags the table by a moment: a product deactivated
            // a moment ago may still be listed there, and its item then usually says so; it is
            // left out, and the page filled from further on, so a short page still means the end.
            page.extend(
                ids.iter()
                    .filter_map(|id| found.remove(id))
                    .filter(|product| product.active),
            );
            after = ids.last().cloned();
            if ids.len() < wanted || page.len() >= limit {
                return Ok(page);
            }
        }
    }

    async fn update_product(
        &self,
        id: &ProductId,
        change: &ProductChange,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> Result<Product, StoreError> {
        let token = ulid_token();
        let mut update = Expression::default();
        update
            .increment("version", n(1))
            .set("updated_at", n(now.as_millis()))
            .require_exists(keys::PK);
        if let Some(name) = &change.name {
            update.set("name", s(name.as_str()));
        }
        match &change.description {
            Some(Some(text)) => {
                update.set("description", s(text.as_str()));
            }
            Some(None) => {
                update.remove("description");
            }
            None => {}
        }
        if let Some(price) = change.price {
            update.set("price_cents", n(price.cents().get()));
        }
        if let Some(active) = change.active {
            update.set("active", b(active));
            // The sparse index lists a product exactly while it is active. A product written
            // before `GSI3` leaves `GSI1`'s catalog partition here too.
            update.remove(keys::GSI1PK).remove(keys::GSI1SK);
            if active {
                update
                    .set(keys::GSI3PK, s(keys::ACTIVE_PRODUCTS))
                    .set(keys::GSI3SK, s(id.as_str()));
            } else {
                update.remove(keys::GSI3PK).remove(keys::GSI3SK);
            }
        }
        if let Some(version) = expected_version {
            update.require("version", Compare::Equal, n(version));
        }
        once(&mut update, &token);
        let answer = self
            .update_item(keys::product(id), &update)
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let refused = |old: Option<&Item>| {
            if old.is_some() {
                Conflict::VersionMismatch
            } else {
                Conflict::NotFound
            }
        };
        updated_product(answer, &token, refused)
    }

    async fn adjust_stock(&self, id: &ProductId, delta: StockDelta, now: Timestamp) -> Result<Product, StoreError> {
        let units = delta.units();
        let (compare, bound) = if units < 0 {
            (Compare::AtLeast, -units)
        } else {
            (Compare::AtMost, Stock::MAX - units)
        };
        let token = ulid_token();
        let mut update = Expression::default();
        update
            .add("stock", n(units))
            .set("updated_at", n(now.as_millis()))
            .require_exists(keys::PK)
            .require("stock", compare, n(bound));
        once(&mut update, &token);
        let answer = self
            .update_item(keys::product(id), &update)
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let refused = |old: Option<&Item>| match old {
            None => Conflict::NotFound,
            Some(_) if units < 0 => Conflict::InsufficientStock(id.clone()),
            Some(_) => Conflict::StockLimit,
        };
        updated_product(answer, &token, refused)
    }
}
