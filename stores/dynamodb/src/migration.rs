//! Bringing a table made by an earlier version to the current design (docs/data-model.md §8): the
//! active products written before `GSI3` moved from `GSI1`'s catalog partition to it. Idempotent
//! and resumable: run it again after any failure. The index itself is the deployment's to add
//! (the template declares it, and CloudFormation builds it); this refuses to run without it.

use crate::attributes::s;
use crate::errors::sdk;
use crate::expression::{Compare, Expression};
use crate::table::INDEXES;
use crate::{items, keys, DynamoStore};
use aws_sdk_dynamodb::error::SdkError;
use orderly_core::ports::StoreError;

/// What a migration did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// Active products moved from `GSI1`'s catalog partition to `GSI3`.
    pub products_moved: usize,
}

/// Products read from `GSI1` per page while moving them.
const PAGE: usize = 100;

impl DynamoStore {
    /// Moves every product still listed through `GSI1` to `GSI3`, once the table has every index
    /// of the current design. It need not wait for a new index to be built: DynamoDB indexes the
    /// writes made while it builds one; only the catalog's reads wait for it to be `ACTIVE`.
    pub async fn migrate(&self) -> Result<Migrated, StoreError> {
        let missing = self.missing_indexes().await?;
        if !missing.is_empty() {
            return Err(StoreError::Internal(format!(
                "the table {} lacks the index(es) {missing:?} of the current design: deployed, deploy the \
                 template first (CloudFormation adds the index); a table of `orderly table create` on \
                 DynamoDB Local is made again (DynamoDB Local cannot add an index to a table that exists)",
                self.table
            )));
        }
        Ok(Migrated {
            products_moved: self.move_catalog_to_gsi3().await?,
        })
    }

    async fn missing_indexes(&self) -> Result<Vec<&'static str>, StoreError> {
        let described = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| sdk("DescribeTable", e))?;
        let present: Vec<String> = described
            .table
            .and_then(|table| table.global_secondary_indexes)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|index| index.index_name)
            .collect();
        Ok(INDEXES
            .iter()
            .map(|index| index.name)
            .filter(|name| !present.iter().any(|p| p == name))
            .collect())
    }

    /// Each product in `GSI1`'s `PRODUCTS#ACTIVE` gets `GSI3`'s attributes and loses `GSI1`'s, in
    /// one update conditioned on its still being listed there, so that a product deactivated
    /// meanwhile is not listed again. Pages follow the query's cursor, so a moved product, gone
    /// from the partition, never hides the next ones.
    async fn move_catalog_to_gsi3(&self) -> Result<usize, StoreError> {
        let mut moved = 0;
        let mut after: Option<String> = None;
        loop {
            let mut key = Expression::default();
            key.require(keys::GSI1PK, Compare::Equal, s(keys::ACTIVE_PRODUCTS));
            if let Some(after) = &after {
                key.require(keys::GSI1SK, Compare::Greater, s(after.as_str()));
            }
            let page = self.query(keys::GSI1, &key, true, PAGE).await?;
            for entry in &page {
                // Only the id, from the index's sort key: an item that no longer parses as a
                // product must not stop every run of the migration at the same place.
                let id = items::listed_product_id(entry, keys::GSI1SK)?;
                let mut update = Expression::default();
                update
                    .remove(keys::GSI1PK)
                    .remove(keys::GSI1SK)
                    .set(keys::GSI3PK, s(keys::ACTIVE_PRODUCTS))
                    .set(keys::GSI3SK, s(id.as_str()))
                    .require(keys::GSI1PK, Compare::Equal, s(keys::ACTIVE_PRODUCTS));
                match self.update_item(keys::product(&id), &update).send().await {
                    Ok(_) => moved += 1,
                    Err(SdkError::ServiceError(service)) if service.err().is_conditional_check_failed_exception() => {}
                    Err(other) => return Err(sdk("UpdateItem", other)),
                }
                after = Some(id.as_str().to_string());
            }
            if page.len() < PAGE {
                return Ok(moved);
            }
        }
    }
}
