//! The store port on one DynamoDB table, the single-table design of `docs/data-model.md`.
//!
//! Every port method is one atomic DynamoDB call: a conditional `PutItem`/`UpdateItem`, or one
//! `TransactWriteItems` whose conditions carry the business's promises (stock never below zero,
//! one payment per event, one order per idempotency key). A cancelled transaction's reasons say
//! which condition failed; transactions cancelled only by a conflicting concurrent transaction are
//! retried with jittered backoff. Nothing is ever half-written.

mod attributes;
pub mod client;
mod errors;
mod items;
mod keys;
pub mod local;
mod retry;
pub mod table;

use async_trait::async_trait;
use attributes::{b, n, names, s, values, Item};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
pub use aws_sdk_dynamodb::Client;
use errors::{build, reason_code, sdk};
use orderly_core::domain::{
    DailyReport, Date, DisplayName, IdempotencyKey, IdempotencyRecord, Order, OrderEvent, OrderId, OrderStatus,
    Product, ProductChange, ProductId, Profile, Stock, StockDelta, Timestamp, UserId,
};
use orderly_core::ports::{Conflict, OrderPlacement, Store, StoreError};
use std::collections::HashMap;

const NOT_EXISTS: &str = "attribute_not_exists(PK)";
/// Non-idempotent updates (`ADD stock`, `version + 1`) write a fresh token and are conditioned on
/// the stored token being another: when the SDK retries one whose answer was lost, the retry
/// fails that condition and finds its own token, so it reports the first success instead of
/// applying the change twice.
const WRITE_TOKEN: &str = "write_token";
const NOT_APPLIED_YET: &str = "(attribute_not_exists(#write_token) OR #write_token <> :token)";
const CONDITION_FAILED: &str = "ConditionalCheckFailed";
/// BatchGetItem answers at most this many keys per call; an order needs at most 26.
const BATCH_GET_MAX: usize = 100;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// Why a transaction did not commit.
enum Cancelled {
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
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| build("Put", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn update(
        &self,
        key: Item,
        expression: &str,
        condition: &str,
        attribute_names: HashMap<String, String>,
        attribute_values: HashMap<String, AttributeValue>,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names((!attribute_names.is_empty()).then_some(attribute_names))
            .set_expression_attribute_values((!attribute_values.is_empty()).then_some(attribute_values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| build("Update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Commits `actions` atomically, retrying while the only obstacle is a concurrent transaction.
    async fn transact(&self, actions: Vec<TransactWriteItem>) -> Result<(), Cancelled> {
        let started = std::time::Instant::now();
        for attempt in 1..=retry::MAX_ATTEMPTS {
            if attempt > 1 && started.elapsed() > retry::BUDGET {
                break;
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
                    }
                    TransactWriteItemsError::TransactionInProgressException(_) => {}
                    _ => return Err(sdk("TransactWriteItems", SdkError::ServiceError(service)).into()),
                },
                Err(other) => return Err(sdk("TransactWriteItems", other).into()),
            }
            tokio::time::sleep(retry::backoff(attempt)).await;
        }
        Err(StoreError::Unavailable("the transaction kept conflicting with concurrent ones".into()).into())
    }

    async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
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

    /// Strongly consistent reads of up to 100 distinct keys, in any order, retrying unprocessed keys.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
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
                }
            }
        }
        Ok(found)
    }

    /// Pages through a query until `limit` items are collected or the query ends.
    async fn query(
        &self,
        index: &str,
        condition: &str,
        attribute_values: HashMap<String, AttributeValue>,
        forward: bool,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let wanted = i32::try_from(limit.saturating_sub(found.len())).unwrap_or(i32::MAX);
            let answer = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(condition)
                .set_expression_attribute_values(Some(attribute_values.clone()))
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

    async fn unbounded_query(
        &self,
        index: &str,
        condition: &str,
        attribute_values: HashMap<String, AttributeValue>,
    ) -> Result<Vec<Item>, StoreError> {
        self.query(index, condition, attribute_values, true, usize::MAX).await
    }
}

fn ulid_token() -> String {
    // ULIDs are 26 characters, within ClientRequestToken's 36.
    ulid::Ulid::new().to_string()
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

fn conflict(conflict: Conflict) -> StoreError {
    StoreError::Conflict(conflict)
}

/// The old item a failed condition returned, if it existed.
fn old_item(reasons: &[CancellationReason], index: usize) -> Option<&Item> {
    reasons
        .get(index)
        .and_then(|r| r.item.as_ref())
        .filter(|item| !item.is_empty())
}

fn failed(reasons: &[CancellationReason], index: usize) -> bool {
    reason_code(reasons, index) == CONDITION_FAILED
}

fn unexpected(what: &str, reasons: &[CancellationReason]) -> StoreError {
    let codes: Vec<&str> = (0..reasons.len()).map(|i| reason_code(reasons, i)).collect();
    StoreError::Internal(format!("{what} was cancelled for unexpected reasons: {codes:?}"))
}

#[async_trait]
impl Store for DynamoStore {
    async fn check_health(&self) -> Result<(), StoreError> {
        self.get(keys::health()).await.map(drop)
    }

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

    async fn order_inputs(
        &self,
        ids: &[ProductId],
        key: Option<(&UserId, &IdempotencyKey)>,
    ) -> Result<(Vec<Product>, Option<IdempotencyRecord>), StoreError> {
        // DynamoDB refuses a batch that names one key twice.
        let mut unique: Vec<&ProductId> = ids.iter().collect();
        unique.sort();
        unique.dedup();
        let mut wanted: Vec<Item> = unique.into_iter().map(keys::product).collect();
        if let Some((user, key)) = key {
            wanted.push(keys::idempotency(user, key));
        }
        let mut products = Vec::new();
        let mut record = None;
        for item in self.batch_get(wanted).await? {
            match item.get("type").and_then(|t| t.as_s().ok()).map(String::as_str) {
                Some("idempotency") => record = Some(items::idempotency_record(&item)?),
                _ => products.push(items::product(&item)?),
            }
        }
        Ok((products, record))
    }

    async fn active_products(&self, after: Option<&ProductId>, limit: usize) -> Result<Vec<Product>, StoreError> {
        let (condition, attribute_values) = match after {
            None => ("GSI1PK = :pk", values([(":pk", s(keys::ACTIVE_PRODUCTS))])),
            Some(after) => (
                "GSI1PK = :pk AND GSI1SK > :after",
                values([(":pk", s(keys::ACTIVE_PRODUCTS)), (":after", s(after.as_str()))]),
            ),
        };
        let found = self.query(keys::GSI1, condition, attribute_values, true, limit).await?;
        found.iter().map(items::product).collect()
    }

    async fn update_product(
        &self,
        id: &ProductId,
        change: &ProductChange,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> Result<Product, StoreError> {
        let token = ulid_token();
        let mut set = vec![
            "#version = #version + :one",
            "#updated_at = :now",
            "#write_token = :token",
        ];
        let mut remove = Vec::new();
        let mut attribute_values = values([(":one", n(1)), (":now", n(now.as_millis())), (":token", s(&token))]);
        let mut attribute_names = names([
            ("#version", "version"),
            ("#updated_at", "updated_at"),
            ("#PK", "PK"),
            ("#write_token", WRITE_TOKEN),
        ]);
        if let Some(name) = &change.name {
            set.push("#name = :name");
            attribute_names.insert("#name".into(), "name".into());
            attribute_values.insert(":name".into(), s(name.as_str()));
        }
        match &change.description {
            Some(Some(text)) => {
                set.push("#description = :description");
                attribute_values.insert(":description".into(), s(text.as_str()));
                attribute_names.insert("#description".into(), "description".into());
            }
            Some(None) => {
                remove.push("#description");
                attribute_names.insert("#description".into(), "description".into());
            }
            None => {}
        }
        if let Some(price) = change.price {
            set.push("#price = :price");
            attribute_names.insert("#price".into(), "price_cents".into());
            attribute_values.insert(":price".into(), n(price.cents().get()));
        }
        if let Some(active) = change.active {
            set.push("#active = :active");
            attribute_names.insert("#active".into(), "active".into());
            attribute_values.insert(":active".into(), b(active));
            attribute_names.insert("#gsi1pk".into(), keys::GSI1PK.into());
            attribute_names.insert("#gsi1sk".into(), keys::GSI1SK.into());
            if active {
                // The sparse index lists a product exactly while it is active.
                set.push("#gsi1pk = :gsi1pk");
                set.push("#gsi1sk = :gsi1sk");
                attribute_values.insert(":gsi1pk".into(), s(keys::ACTIVE_PRODUCTS));
                attribute_values.insert(":gsi1sk".into(), s(id.as_str()));
            } else {
                remove.extend(["#gsi1pk", "#gsi1sk"]);
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let condition = match expected_version {
            Some(version) => {
                attribute_values.insert(":expected".into(), n(version));
                format!("attribute_exists(#PK) AND #version = :expected AND {NOT_APPLIED_YET}")
            }
            None => format!("attribute_exists(#PK) AND {NOT_APPLIED_YET}"),
        };
        let answer = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::product(id)))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(attribute_names))
            .set_expression_attribute_values(Some(attribute_values))
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
        let (bound_condition, bound) = if units < 0 {
            ("stock >= :bound", -units)
        } else {
            ("stock <= :bound", Stock::MAX - units)
        };
        let token = ulid_token();
        let answer = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::product(id)))
            .update_expression("ADD stock :delta SET updated_at = :now, #write_token = :token")
            .condition_expression(format!(
                "attribute_exists(PK) AND {bound_condition} AND {NOT_APPLIED_YET}"
            ))
            .set_expression_attribute_names(Some(names([("#write_token", WRITE_TOKEN)])))
            .set_expression_attribute_values(Some(values([
                (":delta", n(units)),
                (":now", n(now.as_millis())),
                (":bound", n(bound)),
                (":token", s(&token)),
            ])))
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

    async fn place_order(&self, placement: &OrderPlacement) -> Result<(), StoreError> {
        let order = &placement.order;
        let mut actions = Vec::with_capacity(order.lines.len() + 3);
        for line in &order.lines {
            actions.push(self.update(
                keys::product(&line.product_id),
                "SET stock = stock - :quantity",
                "attribute_exists(PK) AND active = :true AND stock >= :quantity",
                HashMap::new(),
                values([(":quantity", n(line.quantity.get())), (":true", b(true))]),
            )?);
        }
        let order_index = actions.len();
        actions.push(self.put(items::order_item(order), Some(NOT_EXISTS))?);
        actions.push(self.put(items::event_item(&placement.event), Some(NOT_EXISTS))?);
        let idempotency_index = actions.len();
        if let Some(record) = &placement.idempotency {
            actions.push(self.put(items::idempotency_item(record), Some(NOT_EXISTS))?);
        }
        let reasons = match self.transact(actions).await {
            Ok(()) => return Ok(()),
            Err(Cancelled::Store(error)) => return Err(error),
            Err(Cancelled::Reasons(reasons)) => reasons,
        };
        // The order id is fresh: if it exists, our own earlier attempt committed and only its
        // answer was lost. Everything else in this transaction committed with it.
        if failed(&reasons, order_index) {
            return Ok(());
        }
        if placement.idempotency.is_some() && failed(&reasons, idempotency_index) {
            return Err(conflict(Conflict::IdempotencyKeyTaken));
        }
        let Some(short) = (0..order.lines.len()).find(|&i| failed(&reasons, i)) else {
            return Err(unexpected("place_order", &reasons));
        };
        // DynamoDB need not report every failed condition; a key taken outranks short stock, as in
        // the embedded store, so look once more.
        if let Some(record) = &placement.idempotency {
            if self.idempotency_record(&record.user_id, &record.key).await?.is_some() {
                return Err(conflict(Conflict::IdempotencyKeyTaken));
            }
        }
        let product_id = order.lines[short].product_id.clone();
        let for_sale = old_item(&reasons, short).is_some_and(|item| item.get("active") == Some(&b(true)));
        Err(conflict(if for_sale {
            Conflict::InsufficientStock(product_id)
        } else {
            Conflict::ProductUnavailable(product_id)
        }))
    }

    async fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.get(keys::order(id)).await?.as_ref().map(items::order).transpose()
    }

    async fn orders_of(&self, user: &UserId, before: Option<&OrderId>, limit: usize) -> Result<Vec<Order>, StoreError> {
        let partition = s(keys::user_orders(user));
        let (condition, attribute_values) = match before {
            None => (
                "GSI1PK = :pk AND begins_with(GSI1SK, :prefix)",
                values([(":pk", partition), (":prefix", s("ORDER#"))]),
            ),
            Some(before) => (
                "GSI1PK = :pk AND GSI1SK < :before",
                values([(":pk", partition), (":before", s(keys::order_sort(before)))]),
            ),
        };
        let found = self
            .query(keys::GSI1, condition, attribute_values, false, limit)
            .await?;
        found.iter().map(items::order).collect()
    }

    async fn cancel_order(&self, order: &Order, now: Timestamp, event: &OrderEvent) -> Result<Order, StoreError> {
        let mut actions = vec![self.update(
            keys::order(&order.id),
            "SET #status = :cancelled, updated_at = :now REMOVE GSI2PK, GSI2SK",
            "attribute_exists(PK) AND #status = :pending AND expires_at > :now",
            names([("#status", "status")]),
            values([
                (":cancelled", s(OrderStatus::Cancelled.as_str())),
                (":pending", s(OrderStatus::PendingPayment.as_str())),
                (":now", n(now.as_millis())),
            ]),
        )?];
        for line in &order.lines {
            actions.push(self.update(
                keys::product(&line.product_id),
                "ADD stock :quantity",
                "attribute_exists(PK)",
                HashMap::new(),
                values([(":quantity", n(line.quantity.get()))]),
            )?);
        }
        actions.push(self.put(items::event_item(event), Some(NOT_EXISTS))?);
        match self.transact(actions).await {
            Ok(()) => {
                let mut cancelled = order.clone();
                cancelled.status = OrderStatus::Cancelled;
                cancelled.updated_at = now;
                Ok(cancelled)
            }
            Err(Cancelled::Reasons(reasons)) if failed(&reasons, 0) => match old_item(&reasons, 0) {
                Some(_) => Err(conflict(Conflict::OrderClosed)),
                None => Err(conflict(Conflict::NotFound)),
            },
            Err(Cancelled::Reasons(reasons)) => Err(unexpected("cancel_order", &reasons)),
            Err(Cancelled::Store(error)) => Err(error),
        }
    }

    async fn idempotency_record(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get(keys::idempotency(user, key))
            .await?
            .as_ref()
            .map(items::idempotency_record)
            .transpose()
    }

    async fn payment_event_seen(&self, payment_event_id: &str) -> Result<bool, StoreError> {
        Ok(self.get(keys::payment_event(payment_event_id)).await?.is_some())
    }

    async fn mark_order_paid(
        &self,
        order: &Order,
        payment_event_id: &str,
        now: Timestamp,
        event: &OrderEvent,
    ) -> Result<(), StoreError> {
        let actions = vec![
            self.update(
                keys::order(&order.id),
                "SET #status = :paid, paid_at = :now, updated_at = :now, GSI2PK = :gsi2pk, GSI2SK = :gsi2sk",
                "attribute_exists(PK) AND #status = :pending AND expires_at > :now",
                names([("#status", "status")]),
                values([
                    (":paid", s(OrderStatus::Paid.as_str())),
                    (":pending", s(OrderStatus::PendingPayment.as_str())),
                    (":now", n(now.as_millis())),
                    (":gsi2pk", s(keys::paid_on(now.date()))),
                    (":gsi2sk", s(keys::timed(now, &order.id))),
                ]),
            )?,
            self.put(items::payment_event_item(payment_event_id, now), Some(NOT_EXISTS))?,
            self.put(items::event_item(event), Some(NOT_EXISTS))?,
        ];
        match self.transact(actions).await {
            Ok(()) => Ok(()),
            Err(Cancelled::Reasons(reasons)) if failed(&reasons, 1) => Err(conflict(Conflict::PaymentEventSeen)),
            Err(Cancelled::Reasons(reasons)) if failed(&reasons, 0) => match old_item(&reasons, 0) {
                Some(_) => Err(conflict(Conflict::OrderClosed)),
                None => Err(conflict(Conflict::NotFound)),
            },
            Err(Cancelled::Reasons(reasons)) => Err(unexpected("mark_order_paid", &reasons)),
            Err(Cancelled::Store(error)) => Err(error),
        }
    }

    async fn flag_refund_due(&self, order: &Order, payment_event_id: &str, now: Timestamp) -> Result<(), StoreError> {
        let actions = vec![
            self.update(
                keys::order(&order.id),
                "SET refund_due = :true, updated_at = :now",
                "attribute_exists(PK)",
                HashMap::new(),
                values([(":true", b(true)), (":now", n(now.as_millis()))]),
            )?,
            self.put(items::payment_event_item(payment_event_id, now), Some(NOT_EXISTS))?,
        ];
        match self.transact(actions).await {
            Ok(()) => Ok(()),
            Err(Cancelled::Reasons(reasons)) if failed(&reasons, 1) => Err(conflict(Conflict::PaymentEventSeen)),
            Err(Cancelled::Reasons(reasons)) if failed(&reasons, 0) => Err(conflict(Conflict::NotFound)),
            Err(Cancelled::Reasons(reasons)) => Err(unexpected("flag_refund_due", &reasons)),
            Err(Cancelled::Store(error)) => Err(error),
        }
    }

    async fn remember_payment_event(&self, payment_event_id: &str, now: Timestamp) -> Result<(), StoreError> {
        let answer = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::payment_event_item(payment_event_id, now)))
            .condition_expression(NOT_EXISTS)
            .send()
            .await;
        match answer {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(service))
                if matches!(service.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Err(conflict(Conflict::PaymentEventSeen))
            }
            Err(other) => Err(sdk("PutItem", other)),
        }
    }

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
        let answer = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::profile(&fresh.user_id)))
            .update_expression(
                "SET display_name = :name, user_id = if_not_exists(user_id, :user), \
                 email = if_not_exists(email, :email), created_at = if_not_exists(created_at, :created), \
                 #type = if_not_exists(#type, :type), #schema = if_not_exists(#schema, :schema)",
            )
            .set_expression_attribute_names(Some(names([("#type", "type"), ("#schema", "schema")])))
            .set_expression_attribute_values(Some(values([
                (":name", s(name.as_str())),
                (":user", s(fresh.user_id.as_str())),
                (":email", email),
                (":created", n(fresh.created_at.as_millis())),
                (":type", s("profile")),
                (":schema", n(keys::SCHEMA)),
            ])))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| sdk("UpdateItem", e))?;
        items::profile(&answer.attributes.unwrap_or_default())
    }

    async fn paid_orders_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Order>, StoreError> {
        if to <= from {
            return Ok(vec![]);
        }
        let last = Timestamp::from_millis(to.as_millis() - 1);
        let mut orders = Vec::new();
        let mut day = from.date();
        loop {
            let attribute_values = values([
                (":pk", s(keys::paid_on(day))),
                (":from", s(keys::pad13(from))),
                // '$' sorts just after '#', so every order paid at `last` is inside the bound.
                (":to", s(format!("{}$", keys::pad13(last)))),
            ]);
            let found = self
                .unbounded_query(
                    keys::GSI2,
                    "GSI2PK = :pk AND GSI2SK BETWEEN :from AND :to",
                    attribute_values,
                )
                .await?;
            for item in &found {
                let order = items::order(item)?;
                if order.status == OrderStatus::Paid {
                    orders.push(order);
                }
            }
            if day >= last.date() {
                return Ok(orders);
            }
            let (_, next) = day.bounds();
            day = next.date();
        }
    }

    async fn save_report(&self, report: &DailyReport) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::report_item(report)))
            .send()
            .await
            .map_err(|e| sdk("PutItem", e))?;
        Ok(())
    }

    async fn report(&self, date: Date) -> Result<Option<DailyReport>, StoreError> {
        self.get(keys::report(date))
            .await?
            .as_ref()
            .map(items::report)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attributes::get_s;

    #[test]
    fn idempotency_keys_are_unambiguous_when_ids_contain_the_separator() {
        let key = |user: &str, key: &str| {
            let k = keys::idempotency(
                &UserId::parse(user).unwrap_or_else(|e| panic!("{e}")),
                &IdempotencyKey::parse(key).unwrap_or_else(|e| panic!("{e}")),
            );
            get_s(&k, "PK").map(str::to_string).unwrap_or_default()
        };
        assert_ne!(key("a#b", "c"), key("a", "b#c"));
        assert_eq!(key("a#b", "c"), "IDEM#3#a#b#c");
    }
}
