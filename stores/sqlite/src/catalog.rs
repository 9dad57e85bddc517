//! The catalog in the `products` table: products, their versions and their stock, each change
//! checked and applied in one write transaction.

use crate::connection::{is_constraint_violation, sql};
use crate::{product_columns, rows, EmbeddedStore};
use async_trait::async_trait;
use orderly_core::domain::{Product, ProductChange, ProductId, Stock, StockDelta, Timestamp};
use orderly_core::ports::{CatalogStore, Conflict, StoreError};
use rusqlite::{params, Connection, OptionalExtension};

pub(crate) fn query_product(conn: &Connection, id: &str) -> Result<Option<Product>, StoreError> {
    conn.prepare_cached(concat!("SELECT ", product_columns!(), " FROM products WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id], rows::product).optional())
        .map_err(sql)?
        .transpose()
}

#[async_trait]
impl CatalogStore for EmbeddedStore {
    async fn insert_product(&self, product: &Product) -> Result<(), StoreError> {
        let p = product.clone();
        self.write(move |tx| {
            let inserted = tx.execute(
                concat!(
                    "INSERT INTO products (",
                    product_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                params![
                    p.id.as_str(),
                    p.sku.as_str(),
                    p.name.as_str(),
                    p.description.as_ref().map(|d| d.as_str()),
                    p.price.cents().get(),
                    p.stock.units(),
                    p.active,
                    i64::try_from(p.version).unwrap_or(i64::MAX),
                    p.created_at.as_millis(),
                    p.updated_at.as_millis()
                ],
            );
            match inserted {
                Ok(_) => Ok(()),
                Err(e) if is_constraint_violation(&e) => Err(Conflict::SkuTaken.into()),
                Err(e) => Err(sql(e)),
            }
        })
        .await
    }

    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| query_product(conn, &id)).await
    }

    async fn products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        self.read(move |conn| {
            let mut found = Vec::with_capacity(ids.len());
            for id in &ids {
                found.extend(query_product(conn, id)?);
            }
            Ok(found)
        })
        .await
    }

    async fn active_products(&self, after: Option<&ProductId>, limit: usize) -> Result<Vec<Product>, StoreError> {
        let after = after.map(ToString::to_string).unwrap_or_default();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let sql_text: &str = concat!(
                "SELECT ",
                product_columns!(),
                " FROM products WHERE active = 1 AND id > ?1 ORDER BY id LIMIT ?2"
            );
            let mut stmt = conn.prepare_cached(sql_text).map_err(sql)?;
            let rows = stmt.query_map(params![after, limit], rows::product).map_err(sql)?;
            rows.map(|row| row.map_err(sql).and_then(|parsed| parsed)).collect()
        })
        .await
    }

    async fn update_product(
        &self,
        id: &ProductId,
        change: &ProductChange,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> Result<Product, StoreError> {
        let (id, change) = (id.to_string(), change.clone());
        self.write(move |tx| {
            let mut product = query_product(tx, &id)?.ok_or(Conflict::NotFound)?;
            if expected_version.is_some_and(|expected| expected != product.version) {
                return Err(Conflict::VersionMismatch.into());
            }
            change.apply_to(&mut product);
            product.version += 1;
            product.updated_at = now;
            tx.execute(
                "UPDATE products SET name = ?2, description = ?3, price_cents = ?4, active = ?5, version = ?6,
                 updated_at = ?7 WHERE id = ?1",
                params![
                    id,
                    product.name.as_str(),
                    product.description.as_ref().map(|d| d.as_str()),
                    product.price.cents().get(),
                    product.active,
                    i64::try_from(product.version).unwrap_or(i64::MAX),
                    now.as_millis()
                ],
            )
            .map_err(sql)?;
            Ok(product)
        })
        .await
    }

    async fn adjust_stock(&self, id: &ProductId, delta: StockDelta, now: Timestamp) -> Result<Product, StoreError> {
        let id = id.clone();
        self.write(move |tx| {
            let mut product = query_product(tx, id.as_str())?.ok_or(Conflict::NotFound)?;
            let units = product.stock.units() + delta.units();
            if units < 0 {
                return Err(Conflict::InsufficientStock(id).into());
            }
            if delta.units() > 0 && units > Stock::MAX {
                return Err(Conflict::StockLimit.into());
            }
            tx.execute(
                "UPDATE products SET stock = ?2, updated_at = ?3 WHERE id = ?1",
                params![id.as_str(), units, now.as_millis()],
            )
            .map_err(sql)?;
            product.stock = Stock::from_stored(units);
            product.updated_at = now;
            Ok(product)
        })
        .await
    }
}
