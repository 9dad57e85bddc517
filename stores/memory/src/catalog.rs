//! The catalog in memory: products, their SKUs and their stock.

use crate::{MemoryStore, State};
use async_trait::async_trait;
use orderly_core::domain::{Product, ProductChange, ProductId, Stock, StockDelta, Timestamp};
use orderly_core::ports::{CatalogStore, Conflict, StoreError};
use std::ops::Bound;

impl State {
    fn insert_product(&mut self, product: &Product) -> Result<(), StoreError> {
        if self.skus.contains(&product.sku) {
            return Err(Conflict::SkuTaken.into());
        }
        // Ids are freshly minted ULIDs, so a repeated one is a bug, not a business outcome.
        if self.products.contains_key(&product.id) {
            return Err(StoreError::Internal(format!(
                "product {} is already stored",
                product.id
            )));
        }
        self.skus.insert(product.sku.clone());
        self.products.insert(product.id.clone(), product.clone());
        Ok(())
    }

    fn active_products(&self, after: Option<&ProductId>, limit: usize) -> Vec<Product> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.products
            .range((start, Bound::Unbounded))
            .map(|(_, product)| product)
            .filter(|product| product.active)
            .take(limit)
            .cloned()
            .collect()
    }

    fn update_product(
        &mut self,
        id: &ProductId,
        change: &ProductChange,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> Result<Product, StoreError> {
        let product = self.products.get_mut(id).ok_or(Conflict::NotFound)?;
        if expected_version.is_some_and(|expected| expected != product.version) {
            return Err(Conflict::VersionMismatch.into());
        }
        change.apply_to(product);
        product.version = product.version.saturating_add(1);
        product.updated_at = now;
        Ok(product.clone())
    }

    fn adjust_stock(&mut self, id: &ProductId, delta: StockDelta, now: Timestamp) -> Result<Product, StoreError> {
        let product = self.products.get_mut(id).ok_or(Conflict::NotFound)?;
        let units = product.stock.units().saturating_add(delta.units());
        if units < 0 {
            return Err(Conflict::InsufficientStock(id.clone()).into());
        }
        // Only raising is bounded: returned reservations may already have lifted the stock above
        // the limit, and taking some of it away must still be allowed then.
        if delta.units() > 0 && units > Stock::MAX {
            return Err(Conflict::StockLimit.into());
        }
        product.stock = Stock::from_stored(units);
        product.updated_at = now;
        Ok(product.clone())
    }
}

#[async_trait]
impl CatalogStore for MemoryStore {
    async fn insert_product(&self, product: &Product) -> Result<(), StoreError> {
        self.lock()?.insert_product(product)
    }

    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        Ok(self.lock()?.products.get(id).cloned())
    }

    async fn products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let state = self.lock()?;
        Ok(ids.iter().filter_map(|id| state.products.get(id).cloned()).collect())
    }

    async fn active_products(&self, after: Option<&ProductId>, limit: usize) -> Result<Vec<Product>, StoreError> {
        Ok(self.lock()?.active_products(after, limit))
    }

    async fn update_product(
        &self,
        id: &ProductId,
        change: &ProductChange,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> Result<Product, StoreError> {
        self.lock()?.update_product(id, change, expected_version, now)
    }

    async fn adjust_stock(&self, id: &ProductId, delta: StockDelta, now: Timestamp) -> Result<Product, StoreError> {
        self.lock()?.adjust_stock(id, delta, now)
    }
}
