//! The catalog: creating products, changing them, and correcting their stock.

use super::App;
use crate::domain::{Description, Price, Product, ProductChange, ProductId, ProductName, Sku, Stock, StockDelta};
use crate::ports::{Conflict, StoreError};
use crate::Error;

pub struct NewProduct {
    pub sku: Sku,
    pub name: ProductName,
    pub description: Option<Description>,
    pub price: Price,
    pub stock: Stock,
}

/// Which versions an `If-Match` header accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    Versions(Vec<u64>),
}

pub async fn create_product(app: &App, new: NewProduct) -> Result<Product, Error> {
    let now = app.now();
    let product = Product {
        id: ProductId::from_ulid(app.ids.next_id()),
        sku: new.sku,
        name: new.name,
        description: new.description,
        price: new.price,
        stock: new.stock,
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    match app.store.insert_product(&product).await {
        Ok(()) => Ok(product),
        Err(StoreError::Conflict(Conflict::SkuTaken)) => Err(Error::SkuTaken(product.sku.as_str().to_string())),
        Err(other) => Err(other.into()),
    }
}

pub async fn product(app: &App, id: &ProductId) -> Result<Product, Error> {
    app.store.product(id).await?.ok_or_else(|| product_not_found(id))
}

/// One page of active products after `after`, and whether more follow.
pub async fn active_products(
    app: &App,
    after: Option<&ProductId>,
    limit: usize,
) -> Result<(Vec<Product>, bool), Error> {
    let mut page = app.store.active_products(after, limit + 1).await?;
    let more = page.len() > limit;
    page.truncate(limit);
    Ok((page, more))
}

pub async fn update_product(
    app: &App,
    id: &ProductId,
    change: &ProductChange,
    if_match: Option<IfMatch>,
) -> Result<Product, Error> {
    let expected_version = match if_match {
        None | Some(IfMatch::Any) => None,
        Some(IfMatch::Versions(versions)) if versions.len() == 1 => versions.first().copied(),
        Some(IfMatch::Versions(versions)) => {
            // Several acceptable versions: find which one is current, then write under that
            // exact version so a concurrent PATCH still cannot slip in between.
            let current = product(app, id).await?.version;
            if !versions.contains(&current) {
                return Err(Error::VersionMismatch { current });
            }
            Some(current)
        }
    };
    match app.store.update_product(id, change, expected_version, app.now()).await {
        Ok(product) => Ok(product),
        Err(StoreError::Conflict(Conflict::NotFound)) => Err(product_not_found(id)),
        Err(StoreError::Conflict(Conflict::VersionMismatch)) => {
            let current = product(app, id).await?.version;
            Err(Error::VersionMismatch { current })
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn adjust_stock(app: &App, id: &ProductId, delta: StockDelta) -> Result<Product, Error> {
    match app.store.adjust_stock(id, delta, app.now()).await {
        Ok(product) => {
            tracing::info!(product_id = %id, delta = delta.units(), stock = product.stock.units(), "stock adjusted");
            Ok(product)
        }
        Err(StoreError::Conflict(Conflict::NotFound)) => Err(product_not_found(id)),
        Err(StoreError::Conflict(Conflict::InsufficientStock(id))) => Err(Error::InsufficientStock(id)),
        Err(StoreError::Conflict(Conflict::StockLimit)) => Err(Error::StockLimit),
        Err(other) => Err(other.into()),
    }
}

pub fn product_not_found(id: &ProductId) -> Error {
    Error::NotFound(format!("product {id} does not exist"))
}
