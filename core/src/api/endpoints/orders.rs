//! `/v1/orders`: placing, reading, listing and cancelling orders.

use super::{json, json_bytes, with_header, ApiRequest, ApiResponse};
use crate::api::cursor;
use crate::api::input::{header_text, json_body, list_query, ranged_integer, Checker};
use crate::api::views::{ListView, OrderView};
use crate::auth::Caller;
use crate::crypto::sha256_hex;
use crate::domain::{IdempotencyKey, Order, OrderId, ProductId, Quantity};
use crate::services::orders::{self, order_not_found, IdempotentRequest, KeptAnswer, PlacedOrder};
use crate::{App, Error};
use bytes::Bytes;
use http::{header, StatusCode};
use serde_json::Value;
use std::collections::HashSet;

const LIST: &str = "orders";
pub const MAX_LINES: usize = 25;
/// Longer than any id we mint; a longer product id is a client mistake, not an unknown product.
const MAX_PRODUCT_ID_LEN: usize = 64;

fn order_id(param: &str) -> Result<OrderId, Error> {
    OrderId::parse(param).map_err(|_| Error::NotFound(format!("order {param} does not exist")))
}

/// Reads `{"items": [{"product_id", "quantity"}]}`: 1–25 lines, no product twice.
fn order_lines(body: &Value) -> Result<Vec<(ProductId, Quantity)>, Error> {
    let mut checker = Checker::new();
    let mut lines = Vec::new();
    if let Some(object) = checker.object(body, "$") {
        checker.reject_unknown(object, "", &["items"]);
        match object.get("items") {
            None => checker.fail("items", "is required"),
            Some(Value::Array(items)) if items.is_empty() || items.len() > MAX_LINES => {
                checker.fail("items", format!("must have 1 to {MAX_LINES} lines"))
            }
            Some(Value::Array(items)) => {
                let mut seen = HashSet::new();
                for (index, item) in items.iter().enumerate() {
                    let path = format!("items[{index}]");
                    let Some(line) = checker.object(item, &path) else {
                        continue;
                    };
                    checker.reject_unknown(line, &path, &["product_id", "quantity"]);
                    let product = checker.required(line, &path, "product_id", product_reference);
                    let quantity = checker.required(line, &path, "quantity", |v| ranged_integer(v, Quantity::parse));
                    if let Some(product) = &product {
                        if !seen.insert(product.clone()) {
                            checker.fail(
                                format!("{path}.product_id"),
                                "names a product already ordered in another line",
                            );
                        }
                    }
                    if let (Some(product), Some(quantity)) = (product, quantity) {
                        lines.push((product, quantity));
                    }
                }
            }
            Some(_) => checker.fail("items", "must be an array"),
        }
    }
    checker.finish()?;
    // Ids are checked against the catalog later; one that is not even an id cannot be in it.
    lines
        .into_iter()
        .map(|(text, quantity)| {
            ProductId::parse(&text)
                .map(|id| (id, quantity))
                .map_err(|_| Error::NotFound(format!("product {text} does not exist or is not for sale")))
        })
        .collect()
}

fn product_reference(value: &Value) -> Result<String, String> {
    match value.as_str() {
        // Characters, as openapi.yaml's maxLength counts them, not UTF-8 bytes.
        Some(text) if !text.is_empty() && text.chars().count() <= MAX_PRODUCT_ID_LEN => Ok(text.to_string()),
        Some(_) => Err(format!("must be a product id of 1 to {MAX_PRODUCT_ID_LEN} characters")),
        None => Err("must be a string".into()),
    }
}

pub async fn place(app: &App, caller: &Caller, request: &ApiRequest) -> Result<ApiResponse, Error> {
    let body = json_body(request)?;
    let key = match header_text(request, "Idempotency-Key")? {
        None => None,
        Some(text) => Some(IdempotencyKey::parse(text).map_err(|m| Error::invalid("Idempotency-Key", m))?),
    };
    let lines = order_lines(&body)?;
    // serde_json's maps are ordered by key, so equal JSON documents serialize identically.
    let idempotency = key.map(|key| IdempotentRequest {
        key,
        fingerprint: sha256_hex(body.to_string().as_bytes()),
    });
    let answer = match orders::place_order(app, caller, &lines, idempotency, created).await? {
        PlacedOrder::Placed(_, Some(kept)) => kept,
        PlacedOrder::Placed(order, None) => created(&order)?,
        PlacedOrder::Replayed(kept) => return replayed(kept),
    };
    let response = json_bytes(StatusCode::CREATED, Bytes::from(answer.body));
    with_header(response, header::LOCATION, &answer.location)
}

/// The 201 a fresh order gets, in the form kept for the retries of a keyed request: the order as
/// it was when placed (pending), however long the store took to confirm the write.
fn created(order: &Order) -> Result<KeptAnswer, Error> {
    let body = serde_json::to_string(&OrderView::at(order, order.created_at))
        .map_err(|e| Error::Internal(format!("rendering the order: {e}")))?;
    Ok(KeptAnswer {
        status: StatusCode::CREATED.as_u16(),
        location: format!("/v1/orders/{}", order.id),
        body,
    })
}

/// A retry's answer: the first request's, marked as a replay.
fn replayed(kept: KeptAnswer) -> Result<ApiResponse, Error> {
    let status = StatusCode::from_u16(kept.status).map_err(|e| Error::Internal(format!("kept status: {e}")))?;
    let response = json_bytes(status, Bytes::from(kept.body));
    let response = with_header(response, header::HeaderName::from_static("idempotent-replayed"), "true")?;
    with_header(response, header::LOCATION, &kept.location)
}

pub async fn get(app: &App, caller: &Caller, param: &str) -> Result<ApiResponse, Error> {
    let order = orders::order_for(app, caller, &order_id(param)?).await?;
    json(StatusCode::OK, &OrderView::at(&order, app.now()))
}

pub async fn list(app: &App, caller: &Caller, request: &ApiRequest) -> Result<ApiResponse, Error> {
    let key = app.cursor_key()?;
    let query = list_query(&request.query)?;
    let owner = caller.user_id.as_str();
    let before = match &query.cursor {
        None => None,
        Some(text) => {
            let position = cursor::decode(key, LIST, owner, text)?;
            Some(
                OrderId::parse(&position)
                    .map_err(|_| Error::invalid("cursor", "is not a valid cursor for this list"))?,
            )
        }
    };
    let (page, more) = orders::orders_of(app, &caller.user_id, before.as_ref(), query.limit).await?;
    let next_cursor = match (more, page.last()) {
        (true, Some(last)) => Some(cursor::encode(key, LIST, owner, last.id.as_str())),
        _ => None,
    };
    let now = app.now();
    let items = page.iter().map(|order| OrderView::at(order, now)).collect();
    json(StatusCode::OK, &ListView { items, next_cursor })
}

pub async fn cancel(app: &App, caller: &Caller, param: &str) -> Result<ApiResponse, Error> {
    let id = order_id(param)?;
    let order = orders::cancel_order(app, caller, &id).await.map_err(|e| match e {
        Error::NotFound(_) => order_not_found(&id),
        other => other,
    })?;
    json(StatusCode::OK, &OrderView::at(&order, app.now()))
}
