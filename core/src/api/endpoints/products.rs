//! `/v1/products`: the catalog.

use super::{json, with_header, ApiRequest, ApiResponse};
use crate::api::cursor;
use crate::api::input::{boolean, header_text, json_body, list_query, ranged_integer, string, Checker};
use crate::api::views::{ListView, ProductView};
use crate::domain::{Description, Price, Product, ProductChange, ProductId, ProductName, Sku, Stock, StockDelta};
use crate::services::catalog::{self, product_not_found, IfMatch, NewProduct};
use crate::{App, Error};
use http::{header, StatusCode};
use serde_json::Value;

const LIST: &str = "products";

fn product_id(param: &str) -> Result<ProductId, Error> {
    ProductId::parse(param).map_err(|_| Error::NotFound(format!("product {param} does not exist")))
}

/// A product with its `ETag`, the version a client sends back in `If-Match`.
fn product_response(app: &App, status: StatusCode, product: &Product) -> Result<ApiResponse, Error> {
    let response = json(status, &ProductView::new(product, app.settings.currency))?;
    with_header(response, header::ETAG, &format!("\"{}\"", product.version))
}

fn description(value: &Value) -> Result<Option<Description>, String> {
    match value {
        Value::Null => Ok(None),
        other => string(other).and_then(Description::parse).map(Some),
    }
}

pub async fn create(app: &App, request: &ApiRequest) -> Result<ApiResponse, Error> {
    let body = json_body(request)?;
    let mut checker = Checker::new();
    let new = checker.object(&body, "$").and_then(|object| {
        checker.reject_unknown(object, "", &["sku", "name", "description", "price_cents", "stock"]);
        let sku = checker.required(object, "", "sku", |v| string(v).and_then(Sku::parse));
        let name = checker.required(object, "", "name", |v| string(v).and_then(ProductName::parse));
        let description = checker.optional(object, "", "description", description);
        let price = checker.required(object, "", "price_cents", |v| ranged_integer(v, Price::parse));
        let stock = checker.required(object, "", "stock", |v| ranged_integer(v, Stock::parse));
        Some(NewProduct {
            sku: sku?,
            name: name?,
            description: description?.flatten(),
            price: price?,
            stock: stock?,
        })
    });
    checker.finish()?;
    let new = new.ok_or_else(|| Error::invalid("$", "is not a valid product"))?;
    let product = catalog::create_product(app, new).await?;
    let response = product_response(app, StatusCode::CREATED, &product)?;
    with_header(response, header::LOCATION, &format!("/v1/products/{}", product.id))
}

pub async fn list(app: &App, request: &ApiRequest) -> Result<ApiResponse, Error> {
    let key = app.cursor_key()?;
    let query = list_query(&request.query)?;
    let after = match &query.cursor {
        None => None,
        Some(text) => {
            let position = cursor::decode(key, LIST, "", text)?;
            Some(
                ProductId::parse(&position)
                    .map_err(|_| Error::invalid("cursor", "is not a valid cursor for this list"))?,
            )
        }
    };
    let (products, more) = catalog::active_products(app, after.as_ref(), query.limit).await?;
    let next_cursor = match (more, products.last()) {
        (true, Some(last)) => Some(cursor::encode(key, LIST, "", last.id.as_str())),
        _ => None,
    };
    let items = products
        .iter()
        .map(|p| ProductView::new(p, app.settings.currency))
        .collect();
    json(StatusCode::OK, &ListView { items, next_cursor })
}

pub async fn get(app: &App, param: &str) -> Result<ApiResponse, Error> {
    let product = catalog::product(app, &product_id(param)?).await?;
    product_response(app, StatusCode::OK, &product)
}

pub async fn update(app: &App, param: &str, request: &ApiRequest) -> Result<ApiResponse, Error> {
    let body = json_body(request)?;
    let mut checker = Checker::new();
    let if_match = match header_text(request, "If-Match") {
        Ok(None) => None,
        Ok(Some(text)) => match parse_if_match(text) {
            Some(parsed) => Some(parsed),
            None => {
                checker.fail("If-Match", "must be *, or one or more \"N\" or W/\"N\" versions");
                None
            }
        },
        Err(_) => {
            checker.fail("If-Match", "must be printable ASCII");
            None
        }
    };
    let change = checker.object(&body, "$").and_then(|object| {
        checker.reject_unknown(object, "", &["name", "description", "price_cents", "active"]);
        if object.is_empty() {
            checker.fail(
                "$",
                "must change at least one of name, description, price_cents, active",
            );
        }
        // Read every field before giving up, so all mistakes are reported together.
        let name = checker.optional(object, "", "name", |v| string(v).and_then(ProductName::parse));
        let description = checker.optional(object, "", "description", description);
        let price = checker.optional(object, "", "price_cents", |v| ranged_integer(v, Price::parse));
        let active = checker.optional(object, "", "active", boolean);
        Some(ProductChange {
            name: name?,
            description: description?,
            price: price?,
            active: active?,
        })
    });
    checker.finish()?;
    let change = change.ok_or_else(|| Error::invalid("$", "is not a valid change"))?;
    let product = catalog::update_product(app, &product_id(param)?, &change, if_match).await?;
    product_response(app, StatusCode::OK, &product)
}

/// `*`, or a comma-separated list of `"N"` / `W/"N"`, N being decimal digits (openapi.yaml's
/// pattern for the header, which `u64::from_str` alone would widen with a leading `+`).
fn parse_if_match(text: &str) -> Option<IfMatch> {
    if text.trim() == "*" {
        return Some(IfMatch::Any);
    }
    let mut versions = Vec::new();
    for tag in text.split(',') {
        let tag = tag.trim();
        let digits = tag
            .strip_prefix("W/")
            .unwrap_or(tag)
            .strip_prefix('"')?
            .strip_suffix('"')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // A version beyond 64 bits is well formed but names none a product can reach (one more
        // per PATCH), so it matches nothing: 412 like any other stale version, not 400. With no
        // version left, the list matches no product.
        if let Ok(version) = digits.parse::<u64>() {
            versions.push(version);
        }
    }
    Some(IfMatch::Versions(versions))
}

pub async fn adjust_stock(app: &App, param: &str, request: &ApiRequest) -> Result<ApiResponse, Error> {
    let body = json_body(request)?;
    let mut checker = Checker::new();
    let delta = checker.object(&body, "$").and_then(|object| {
        checker.reject_unknown(object, "", &["delta"]);
        checker.required(object, "", "delta", |v| ranged_integer(v, StockDelta::parse))
    });
    checker.finish()?;
    let delta = delta.ok_or_else(|| Error::invalid("delta", "is required"))?;
    let id = product_id(param)?;
    let product = catalog::adjust_stock(app, &id, delta).await.map_err(|e| match e {
        Error::NotFound(_) => product_not_found(&id),
        other => other,
    })?;
    product_response(app, StatusCode::OK, &product)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_forms() {
        assert_eq!(parse_if_match("*"), Some(IfMatch::Any));
        assert_eq!(parse_if_match("\"3\""), Some(IfMatch::Versions(vec![3])));
        assert_eq!(parse_if_match("W/\"3\", \"4\""), Some(IfMatch::Versions(vec![3, 4])));
        for bad in [
            "", "3", "\"x\"", "\"3", "W/3", "\"-1\"", "\"1\",,", "\"+3\"", "\" 3\"", "\"\"", "*, \"3\"",
        ] {
            assert_eq!(parse_if_match(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn if_match_versions_beyond_64_bits_match_nothing() {
        assert_eq!(
            parse_if_match("\"99999999999999999999\""),
            Some(IfMatch::Versions(vec![]))
        );
        assert_eq!(
            parse_if_match("W/\"99999999999999999999\", \"2\""),
            Some(IfMatch::Versions(vec![2]))
        );
    }
}
