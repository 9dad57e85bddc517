//! The deployed shape's capacity model, run as a test (docs/data-model.md §6; issue: past one hot
//! key). A realistic order mix runs through the core's real HTTP entry point and jobs on the
//! DynamoDB adapter and DynamoDB Local; an SDK interceptor records every call with the keys it
//! reads or writes, and after each step the written items are read back (by a client it does not
//! see), so each write's item before and after is known exactly: its size, and which index copies
//! it adds, rewrites or removes, by index and partition key. From the units each partition key
//! took per order, the load at a target rate follows; the test asserts that at 5,000 orders/s
//! over a catalog of 10,000 products no key passes DynamoDB's per-key limits (1,000 write units,
//! 3,000 read units per second), that a product sold at its own ceiling is then the only hot key,
//! and that the check does find a hot key when one is put back (one order shard; the catalog index
//! projecting everything).
//!
//! `ORDERLY_CAPACITY_REPORT=<file>` also writes the measured figures as JSON, which
//! `scripts/cost-model` prices (docs/BENCHMARKS.md).

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ProjectionType};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use http::Method;
use orderly_core::api;
use orderly_core::auth::{Authenticator, Hs256Key};
use orderly_core::config::{Secret, Secrets};
use orderly_core::domain::{OrderEvent, OrderEventType, OrderId, Timestamp, UserId};
use orderly_core::ports::{Clock, SystemClock, UlidGenerator};
use orderly_core::services::{expiry, notifications};
use orderly_core::{App, Settings};
use orderly_store_dynamodb::{table, DynamoStore, OrderShards};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

type Item = HashMap<String, AttributeValue>;

/// DynamoDB's throughput limit of one partition key, per second.
const WRITE_UNITS_PER_KEY: f64 = 1_000.0;
const READ_UNITS_PER_KEY: f64 = 3_000.0;
/// The target of the issue: 5,000 orders a second over 10,000 products.
const TARGET_ORDERS_PER_SECOND: f64 = 5_000.0;
const CATALOG: usize = 10_000;

// ---------------------------------------------------------------------------------------------
// What one item costs: sizes and units, by DynamoDB's published rules.
// ---------------------------------------------------------------------------------------------

/// An attribute value's size: strings and binaries their bytes, numbers about one byte per two
/// significant digits plus one, booleans and nulls one, lists and maps 3 plus their elements
/// (each with one more byte), names included for maps.
fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) => text.len(),
        AttributeValue::N(number) => {
            let digits = number.trim_start_matches('-').trim_start_matches('0').replace('.', "");
            digits.len().div_ceil(2) + 1
        }
        AttributeValue::B(blob) => blob.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(list) => 3 + list.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| k.len() + value_size(v) + 1).sum::<usize>(),
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.len() * 21,
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

fn item_size(item: &Item) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

/// Write units: one per started KB, at least one.
fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

/// Read units: one per started 4 KB of a strongly consistent read, half for an eventually
/// consistent one, at least half.
fn read_units(size: usize, consistent: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

// ---------------------------------------------------------------------------------------------
// The interceptor: every call, with the keys it reads and writes.
// ---------------------------------------------------------------------------------------------

/// A write of one item, as a call asked for it.
#[derive(Debug, Clone)]
struct Write {
    pk: String,
    sk: String,
    transactional: bool,
    /// A transaction's `ConditionCheck`: reads the item under the transaction, changes nothing.
    check_only: bool,
    succeeded: bool,
}

#[derive(Debug, Clone)]
enum Call {
    /// Read units charged to one partition key, labelled `<table or index> <partition key>`.
    Read {
        partition: String,
        units: f64,
    },
    Write(Write),
}

#[derive(Debug, Clone)]
enum Asked {
    GetItem(GetItemInput),
    BatchGetItem(BatchGetItemInput),
    Query(QueryInput),
    PutItem(PutItemInput),
    UpdateItem(UpdateItemInput),
    TransactWriteItems(TransactWriteItemsInput),
    Other(String),
}

impl Storable for Asked {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Default, Clone)]
struct Ledger(Arc<Mutex<Vec<Call>>>);

impl Ledger {
    fn take(&self) -> Vec<Call> {
        // A poisoned lock still holds every call recorded before the panic that poisoned it.
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

fn key_of(key: &Item) -> (String, String) {
    (text(key, "PK").unwrap_or_default(), text(key, "SK").unwrap_or_default())
}

/// The partition key value a query's key condition names: the value compared with `=` first
/// (the adapter's key conditions always start with the partition key's equality).
fn queried_partition(input: &QueryInput) -> String {
    let condition = input.key_condition_expression().unwrap_or_default();
    let first = condition.split(" AND ").next().unwrap_or_default();
    let value = first.split(" = ").nth(1).unwrap_or_default().trim();
    input
        .expression_attribute_values()
        .and_then(|values| values.get(value))
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_else(|| format!("? ({condition})"))
}

impl Intercept for Ledger {
    fn name(&self) -> &'static str {
        "CapacityLedger"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let asked = if let Some(i) = input.downcast_ref::<GetItemInput>() {
            Asked::GetItem(i.clone())
        } else if let Some(i) = input.downcast_ref::<BatchGetItemInput>() {
            Asked::BatchGetItem(i.clone())
        } else if let Some(i) = input.downcast_ref::<QueryInput>() {
            Asked::Query(i.clone())
        } else if let Some(i) = input.downcast_ref::<PutItemInput>() {
            Asked::PutItem(i.clone())
        } else if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
            Asked::UpdateItem(i.clone())
        } else if let Some(i) = input.downcast_ref::<TransactWriteItemsInput>() {
            Asked::TransactWriteItems(i.clone())
        } else {
            Asked::Other(format!("{input:?}").chars().take(60).collect())
        };
        cfg.interceptor_state().store_put(asked);
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let asked = cfg.load::<Asked>().cloned().ok_or("no input recorded")?;
        let output = context.output_or_error();
        let succeeded = output.is_some_and(|o| o.is_ok());
        let output = output.and_then(Result::ok);
        let mut calls = Vec::new();
        let write = |key: &Item, transactional: bool, check_only: bool| {
            let (pk, sk) = key_of(key);
            Call::Write(Write {
                pk,
                sk,
                transactional,
                check_only,
                succeeded,
            })
        };
        match asked {
            Asked::GetItem(input) => {
                let found = output
                    .and_then(|o| o.downcast_ref::<GetItemOutput>())
                    .and_then(|o| o.item.as_ref());
                calls.push(Call::Read {
                    partition: format!("table {}", key_of(input.key().unwrap_or(&Item::new())).0),
                    units: read_units(found.map(item_size).unwrap_or(0), input.consistent_read() == Some(true)),
                });
            }
            Asked::BatchGetItem(input) => {
                let consistent = input
                    .request_items()
                    .and_then(|r| r.values().next())
                    .and_then(KeysAndAttributes::consistent_read)
                    == Some(true);
                let answered = output.and_then(|o| o.downcast_ref::<BatchGetItemOutput>());
                let mut found = std::collections::HashSet::new();
                for items in answered
                    .and_then(|o| o.responses.as_ref())
                    .into_iter()
                    .flat_map(|r| r.values())
                {
                    for item in items {
                        found.insert(key_of(item));
                        calls.push(Call::Read {
                            partition: format!("table {}", key_of(item).0),
                            units: read_units(item_size(item), consistent),
                        });
                    }
                }
                // A key asked for and not found costs the least read all the same.
                let asked = input
                    .request_items()
                    .into_iter()
                    .flat_map(|r| r.values())
                    .flat_map(|k| k.keys());
                for key in asked.map(key_of).filter(|key| !found.contains(key)) {
                    calls.push(Call::Read {
                        partition: format!("table {}", key.0),
                        units: read_units(0, consistent),
                    });
                }
            }
            Asked::Query(input) => {
                let answered = output.and_then(|o| o.downcast_ref::<QueryOutput>());
                let size: usize = answered
                    .and_then(|o| o.items.as_ref())
                    .map(|items| items.iter().map(item_size).sum())
                    .unwrap_or(0);
                calls.push(Call::Read {
                    partition: format!(
                        "{} {}",
                        input.index_name().unwrap_or("table"),
                        queried_partition(&input)
                    ),
                    units: read_units(size, input.consistent_read() == Some(true)),
                });
            }
            Asked::PutItem(input) => calls.push(write(input.item().unwrap_or(&Item::new()), false, false)),
            Asked::UpdateItem(input) => calls.push(write(input.key().unwrap_or(&Item::new()), false, false)),
            Asked::TransactWriteItems(input) => {
                for action in input.transact_items() {
                    if let Some(put) = action.put() {
                        calls.push(write(put.item(), true, false));
                    } else if let Some(update) = action.update() {
                        calls.push(write(update.key(), true, false));
                    } else if let Some(delete) = action.delete() {
                        calls.push(write(delete.key(), true, false));
                    } else if let Some(check) = action.condition_check() {
                        calls.push(write(check.key(), true, true));
                    }
                }
            }
            Asked::Other(what) => return Err(format!("the model does not know this call: {what}").into()),
        }
        self.0.lock().map_err(|_| "poisoned")?.extend(calls);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The model: units per partition key, from the calls and the items before and after.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct IndexShape {
    name: &'static str,
    partition_key: &'static str,
    sort_key: &'static str,
    keys_only: bool,
}

/// The table's indexes as `table.rs` defines them, the one definition the table is made from.
fn indexes() -> Vec<IndexShape> {
    table::INDEXES
        .iter()
        .map(|index| IndexShape {
            name: index.name,
            partition_key: index.partition_key,
            sort_key: index.sort_key,
            keys_only: index.projection == ProjectionType::KeysOnly,
        })
        .collect()
}

#[derive(Debug, Default, Clone, Copy)]
struct Units {
    write: f64,
    read: f64,
}

/// How far above an even share the busiest order shard is, from the store's own hash of 100,000
/// fresh order ids: a sample of a few hundred orders puts too few in each shard to tell, and a
/// hash that spread badly (or not at all) must show here as a hot shard.
fn shard_imbalance(shards: OrderShards) -> f64 {
    let mut counts = vec![0u32; usize::from(shards.count())];
    let mut ids = ulid::Generator::new();
    let total = 100_000;
    for _ in 0..total {
        let id = OrderId::parse(&ids.generate().unwrap().to_string()).unwrap();
        counts[usize::from(shards.of(&id))] += 1;
    }
    let busiest = f64::from(counts.iter().copied().max().unwrap_or(0));
    busiest / (f64::from(total) / f64::from(shards.count()))
}

/// A sharded partition's class and shard: `("GSI2 PENDING", 7)` for `GSI2 PENDING#7`,
/// `("GSI2 PAID#<date>", 3)` for `GSI2 PAID#<date>#3`.
fn shard_of(key: &str) -> Option<(&str, u16)> {
    if !(key.starts_with("GSI2 PENDING#") || key.starts_with("GSI2 PAID#")) {
        return None;
    }
    let (class, shard) = key.rsplit_once('#')?;
    Some((class, shard.parse().ok()?))
}

/// Whether a key belongs to one order, one buyer or one payment (`ORDER#`, `USER#`, `IDEM#`,
/// `PAYMENT#`, in the table or an index). Only that one entity's requests touch it, however busy
/// the shop: its load is its own units, not a share of the order rate.
fn one_entity_s(key: &str) -> bool {
    let partition = key.split_once(' ').map_or(key, |(_, partition)| partition);
    ["ORDER#", "USER#", "IDEM#", "PAYMENT#"]
        .iter()
        .any(|prefix| partition.starts_with(prefix))
}

/// The units each partition key took, and in all.
#[derive(Debug, Clone)]
struct Model {
    indexes: Vec<IndexShape>,
    order_shards: OrderShards,
    /// `shard_imbalance(order_shards)`, hashed once.
    shard_imbalance: f64,
    by_key: BTreeMap<String, Units>,
    total: Units,
}

impl Model {
    fn new(indexes: Vec<IndexShape>, order_shards: OrderShards) -> Self {
        Model {
            indexes,
            order_shards,
            shard_imbalance: shard_imbalance(order_shards),
            by_key: BTreeMap::new(),
            total: Units::default(),
        }
    }

    fn charge_write(&mut self, partition: String, units: f64) {
        self.by_key.entry(partition).or_default().write += units;
        self.total.write += units;
    }

    fn charge_read(&mut self, partition: String, units: f64) {
        self.by_key.entry(partition).or_default().read += units;
        self.total.read += units;
    }

    /// An index's entry of `item`: its partition key and entry size, if the item is in it.
    fn entry(index: &IndexShape, item: Option<&Item>) -> Option<(String, String, usize)> {
        let item = item?;
        let (pk, sk) = (text(item, index.partition_key)?, text(item, index.sort_key)?);
        let size = if index.keys_only {
            ["PK", "SK", index.partition_key, index.sort_key]
                .iter()
                .filter_map(|name| item.get(*name).map(|v| name.len() + value_size(v)))
                .sum()
        } else {
            item_size(item)
        };
        Some((pk, sk, size))
    }

    /// One write's units: the table's (the larger of the item before and after; twice in a
    /// transaction), and each index copy it puts, rewrites or deletes.
    fn charge(&mut self, write: &Write, before: Option<&Item>, after: Option<&Item>, first_of_key: bool) {
        let size = before
            .map(item_size)
            .unwrap_or(0)
            .max(after.map(item_size).unwrap_or(0));
        let factor = if write.transactional { 2.0 } else { 1.0 };
        self.charge_write(format!("table {}", write.pk), write_units(size) * factor);
        if !write.succeeded || write.check_only || !first_of_key {
            return;
        }
        for index in self.indexes.clone() {
            let (old, new) = (Self::entry(&index, before), Self::entry(&index, after));
            match (&old, &new) {
                (Some(o), Some(n)) if o.0 == n.0 && o.1 == n.1 => {
                    // The same entry: rewritten only if a projected attribute changed.
                    if !index.keys_only && before != after {
                        self.charge_write(format!("{} {}", index.name, n.0), write_units(n.2));
                    }
                }
                _ => {
                    if let Some(o) = &old {
                        self.charge_write(format!("{} {}", index.name, o.0), write_units(o.2));
                    }
                    if let Some(n) = &new {
                        self.charge_write(format!("{} {}", index.name, n.0), write_units(n.2));
                    }
                }
            }
        }
    }

    /// Each key's load at `orders_per_second`, from `orders` orders' worth of units: the key's
    /// share of the sample's traffic, at that rate. A sample puts a few orders in each order
    /// shard, so one shard's own count is mostly chance: a sharded partition's load is its
    /// class's total over the shards, times the hash's imbalance, shown as `<class>#<n>`. A key of
    /// one order, buyer or payment takes its entity's own units, all counted within one second
    /// (a bound: an order's writes spread over minutes).
    fn load(&self, orders: usize, orders_per_second: f64) -> Vec<(String, Units)> {
        let scale = orders_per_second / orders as f64;
        let imbalance = self.shard_imbalance;
        let mut keys: BTreeMap<String, Units> = BTreeMap::new();
        for (key, units) in &self.by_key {
            let (label, share) = match shard_of(key) {
                Some((class, _)) => (
                    format!("{class}#<n>"),
                    scale * imbalance / f64::from(self.order_shards.count()),
                ),
                None if one_entity_s(key) => (key.clone(), 1.0),
                None => (key.clone(), scale),
            };
            let entry = keys.entry(label).or_default();
            entry.write += units.write * share;
            entry.read += units.read * share;
        }
        let mut load: Vec<(String, Units)> = keys.into_iter().collect();
        load.sort_by(|a, b| {
            let share = |u: &Units| (u.write / WRITE_UNITS_PER_KEY).max(u.read / READ_UNITS_PER_KEY);
            share(&b.1).total_cmp(&share(&a.1))
        });
        load
    }

    /// The keys over a limit at `orders_per_second`.
    fn hot_keys(&self, orders: usize, orders_per_second: f64) -> Vec<String> {
        self.load(orders, orders_per_second)
            .into_iter()
            .filter(|(_, u)| u.write > WRITE_UNITS_PER_KEY || u.read > READ_UNITS_PER_KEY)
            .map(|(key, _)| key)
            .collect()
    }

    fn print(&self, title: &str, orders: usize, orders_per_second: f64) {
        eprintln!("\n{title}: {orders} orders measured, the busiest keys at {orders_per_second} orders/s");
        eprintln!("| partition key | write units/s | read units/s |\n|---|---|---|");
        for (key, units) in self.load(orders, orders_per_second).iter().take(12) {
            eprintln!("| `{key}` | {:.0} | {:.0} |", units.write, units.read);
        }
        // The busiest key of each kind (`table PRODUCT`, `GSI2 PENDING`, ...), in the same order.
        eprintln!("\nthe busiest key of each kind:\n| kind | partition key | write units/s | read units/s |\n|---|---|---|---|");
        let mut seen = std::collections::HashSet::new();
        for (key, units) in self.load(orders, orders_per_second) {
            let kind = key.split('#').next().unwrap_or(&key).to_string();
            if seen.insert(kind.clone()) {
                eprintln!("| {kind} | `{key}` | {:.0} | {:.0} |", units.write, units.read);
            }
        }
    }
}

/// The items as they are now, read by a client the ledger does not see, to learn what each step's
/// writes left; and the images before it.
struct Images {
    client: aws_sdk_dynamodb::Client,
    table: String,
    known: HashMap<(String, String), Item>,
}

impl Images {
    async fn read(&self, keys: &[(String, String)]) -> HashMap<(String, String), Item> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(100) {
            let mut request = KeysAndAttributes::builder().consistent_read(true);
            for (pk, sk) in chunk {
                request = request.keys(HashMap::from([
                    ("PK".to_string(), AttributeValue::S(pk.clone())),
                    ("SK".to_string(), AttributeValue::S(sk.clone())),
                ]));
            }
            let mut pending = Some(request.build().unwrap());
            while let Some(request) = pending.take() {
                let answer = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .expect("read the written items back");
                for item in answer
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    found.insert(key_of(&item), item);
                }
                pending = answer.unprocessed_keys.and_then(|mut left| left.remove(&self.table));
            }
        }
        found
    }

    /// Charges one step's calls to each model, and moves the images on.
    async fn settle(&mut self, calls: Vec<Call>, models: &mut [&mut Model]) {
        let mut written: Vec<(String, String)> = calls
            .iter()
            .filter_map(|c| match c {
                Call::Write(w) if w.succeeded && !w.check_only => Some((w.pk.clone(), w.sk.clone())),
                _ => None,
            })
            .collect();
        written.sort();
        written.dedup();
        let mut now = self.read(&written).await;
        let mut charged = std::collections::HashSet::new();
        for call in &calls {
            match call {
                Call::Read { partition, units } => {
                    models.iter_mut().for_each(|m| m.charge_read(partition.clone(), *units))
                }
                Call::Write(write) => {
                    let key = (write.pk.clone(), write.sk.clone());
                    let first = write.succeeded && !write.check_only && charged.insert(key.clone());
                    let before = self.known.get(&key);
                    let after = if write.succeeded && !write.check_only {
                        now.get(&key)
                    } else {
                        before
                    };
                    models.iter_mut().for_each(|m| m.charge(write, before, after, first));
                }
            }
        }
        for key in written {
            match now.remove(&key) {
                Some(item) => self.known.insert(key, item),
                None => self.known.remove(&key),
            };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The shop: the order mix through the real entry point.
// ---------------------------------------------------------------------------------------------

/// The machine's clock, moved on by hand to reach deadlines without waiting.
#[derive(Debug, Default)]
struct AdvancedClock(AtomicI64);

impl Clock for AdvancedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(SystemClock.now().as_millis() + self.0.load(Ordering::SeqCst))
    }
}

/// What the mix did, for the cost model.
#[derive(Debug, Default)]
struct Counts {
    orders: usize,
    api_requests: BTreeMap<String, usize>,
    events: usize,
}

struct Shop {
    app: App,
    clock: Arc<AdvancedClock>,
    key: Hs256Key,
    settings: Settings,
    ledger: Ledger,
    images: Images,
    /// Catalog index → the product's id, for the products created so far.
    products: HashMap<usize, String>,
    counts: Counts,
    rng: StdRng,
}

impl Shop {
    async fn open(seed: u64, shards: OrderShards) -> Shop {
        let ledger = Ledger::default();
        let plain = local::client_for(&local::endpoint());
        let config = plain.config().to_builder().interceptor(ledger.clone()).build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        let name = format!("orderly-capacity-{}", ulid::Ulid::new().to_string().to_lowercase());
        table::create_table(&plain, &name).await.expect("create table");
        let settings = Settings::from_vars(
            &HashMap::new(),
            Secrets::both(Secret::new("capacity-webhook"), Secret::new("capacity-cursors")),
        )
        .expect("settings");
        let key = Hs256Key::new(Secret::new("capacity-jwt"));
        let clock = Arc::new(AdvancedClock::default());
        let app = App::new(
            Arc::new(DynamoStore::new(client, name.clone()).with_order_shards(shards)),
            clock.clone(),
            Arc::new(UlidGenerator::new(clock.clone())),
            settings.clone(),
            Authenticator::Hs256(key.clone()),
        );
        Shop {
            app,
            clock,
            key,
            settings,
            ledger,
            images: Images {
                client: plain,
                table: name,
                known: HashMap::new(),
            },
            products: HashMap::new(),
            counts: Counts::default(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn token(&self, sub: &str, admin: bool) -> String {
        local::token(&self.key, self.app.now(), sub, admin)
    }

    /// One request through the real entry point; `route` names it for the counts.
    async fn call(
        &mut self,
        route: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> (u16, Value) {
        let request = local::api_request(method, path, token, body, extra);
        let response = api::handle(&self.app, request).await;
        *self.counts.api_requests.entry(route.to_string()).or_default() += 1;
        (
            response.status().as_u16(),
            serde_json::from_slice(response.body()).unwrap_or(Value::Null),
        )
    }

    /// Settles the calls made since the last settle: charged to `models`, or to none (setup).
    async fn settle(&mut self, models: &mut [&mut Model]) {
        let calls = self.ledger.take();
        self.images.settle(calls, models).await;
    }

    /// Creates the products at these catalog indexes that do not exist yet, 16 at a time (setup,
    /// not charged: only the catalog the visits reach is made, not all 10,000).
    async fn stock_catalog(&mut self, wanted: &[usize]) {
        let admin = self.token("admin", true);
        let mut missing: Vec<usize> = wanted
            .iter()
            .copied()
            .filter(|at| !self.products.contains_key(at))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        for chunk in missing.chunks(16) {
            let creations = chunk.iter().map(|at| {
                let body = json!({"sku": format!("SKU-{at}"), "name": format!("Product {at}"),
                    "description": "A product of the capacity model's catalog, described in a sentence or two.",
                    "price_cents": 500 + (at % 50) * 100, "stock": 1_000_000});
                let request = local::api_request(Method::POST, "/v1/products", Some(&admin), Some(body), &[]);
                api::handle(&self.app, request)
            });
            let created = futures_util::future::join_all(creations).await;
            for (at, response) in chunk.iter().zip(created) {
                let product: Value = serde_json::from_slice(response.body()).unwrap();
                assert_eq!(response.status().as_u16(), 201, "{product}");
                self.products.insert(*at, product["id"].as_str().unwrap().to_string());
            }
        }
        self.settle(&mut []).await;
    }

    async fn notify(&mut self, kind: OrderEventType, order_id: &str, user: &str, models: &mut [&mut Model]) {
        let event = OrderEvent {
            id: ulid::Ulid::new().to_string(),
            kind,
            order_id: OrderId::parse(order_id).unwrap(),
            user_id: UserId::parse(user).unwrap(),
            occurred_at: self.app.now(),
        };
        assert!(notifications::notify_user(&self.app, &event).await.unwrap());
        self.counts.events += 1;
        self.settle(models).await;
    }

    /// One customer's visit: a catalog page, two products looked at, an order of 1–5 lines
    /// (`popular` in it when given), its status read once, and then paid (70 %), cancelled
    /// (15 %) or left to expire (15 %, returned for the sweep). Each order event is notified.
    async fn visit(&mut self, picks: &[usize], models: &mut [&mut Model]) -> Option<String> {
        let mut items = Vec::new();
        for at in picks {
            items.push(json!({"product_id": self.products[at], "quantity": self.rng.gen_range(1..=2)}));
        }
        let user = format!("user-{}", self.rng.gen_range(0..1_000_000));
        let buyer = self.token(&user, false);

        self.call("GET /v1/products", Method::GET, "/v1/products", None, None, &[])
            .await;
        for at in picks.iter().take(2) {
            let path = format!("/v1/products/{}", self.products[at]);
            self.call("GET /v1/products/{id}", Method::GET, &path, None, None, &[])
                .await;
        }
        self.settle(models).await;

        let keyed = self.rng.gen_bool(0.5);
        let idempotency = ulid::Ulid::new().to_string();
        let extra: Vec<(&str, &str)> = if keyed {
            vec![("idempotency-key", &idempotency)]
        } else {
            vec![]
        };
        let (status, order) = self
            .call(
                "POST /v1/orders",
                Method::POST,
                "/v1/orders",
                Some(&buyer),
                Some(json!({"items": items})),
                &extra,
            )
            .await;
        assert_eq!(status, 201, "{order}");
        self.counts.orders += 1;
        self.settle(models).await;
        let order_id = order["id"].as_str().unwrap().to_string();
        self.notify(OrderEventType::OrderPlaced, &order_id, &user, models).await;

        let path = format!("/v1/orders/{order_id}");
        self.call("GET /v1/orders/{id}", Method::GET, &path, Some(&buyer), None, &[])
            .await;
        self.settle(models).await;

        let outcome: f64 = self.rng.gen();
        if outcome < 0.70 {
            let event = json!({"id": ulid::Ulid::new().to_string(), "type": "payment.succeeded", "order_id": order_id,
                "amount_cents": order["total_cents"], "currency": order["currency"]});
            let signature = orderly_core::auth::webhook::sign(
                self.settings.secrets.webhook_secret.as_ref().unwrap(),
                event.to_string().as_bytes(),
                self.app.now(),
            );
            let (status, answer) = self
                .call(
                    "POST /v1/payments/webhook",
                    Method::POST,
                    "/v1/payments/webhook",
                    None,
                    Some(event),
                    &[("webhook-signature", &signature)],
                )
                .await;
            assert_eq!(status, 200, "{answer}");
            self.settle(models).await;
            self.notify(OrderEventType::OrderPaid, &order_id, &user, models).await;
            None
        } else if outcome < 0.85 {
            let path = format!("/v1/orders/{order_id}/cancel");
            let (status, answer) = self
                .call(
                    "POST /v1/orders/{id}/cancel",
                    Method::POST,
                    &path,
                    Some(&buyer),
                    None,
                    &[],
                )
                .await;
            assert_eq!(status, 200, "{answer}");
            self.settle(models).await;
            self.notify(OrderEventType::OrderCancelled, &order_id, &user, models)
                .await;
            None
        } else {
            Some(format!("{order_id} {user}"))
        }
    }

    /// The expiry job, run once past every deadline, and each expiry notified.
    async fn sweep(&mut self, left: Vec<String>, models: &mut [&mut Model]) {
        self.clock.0.fetch_add(16 * 60 * 1000, Ordering::SeqCst);
        let sweep = expiry::expire_overdue_orders(&self.app, self.app.now()).await.unwrap();
        assert_eq!(sweep.expired, left.len(), "every unpaid order expires");
        self.settle(models).await;
        for entry in left {
            let (order_id, user) = entry.split_once(' ').unwrap();
            self.notify(OrderEventType::OrderExpired, order_id, user, models).await;
        }
    }

    /// `orders` visits and the sweep after them, charged to `models`. Each order has 1–5
    /// distinct products drawn evenly from the catalog, `popular` first when given.
    async fn run(&mut self, orders: usize, popular: Option<usize>, models: &mut [&mut Model]) {
        let mut visits = Vec::with_capacity(orders);
        for _ in 0..orders {
            let lines = self.rng.gen_range(1..=5);
            let mut picks: Vec<usize> = popular.into_iter().collect();
            while picks.len() < lines {
                let at = self.rng.gen_range(0..CATALOG);
                if !picks.contains(&at) {
                    picks.push(at);
                }
            }
            visits.push(picks);
        }
        self.stock_catalog(&visits.concat()).await;
        let mut left = Vec::new();
        for picks in &visits {
            left.extend(self.visit(picks, models).await);
        }
        self.sweep(left, models).await;
    }
}

fn report(path: &str, shop: &Shop, model: &Model) {
    let busiest = model.load(shop.counts.orders, TARGET_ORDERS_PER_SECOND);
    let json = json!({
        "orders": shop.counts.orders,
        "order_events": shop.counts.events,
        "api_requests": shop.counts.api_requests.iter().filter(|(r, _)| *r != "setup").collect::<BTreeMap<_, _>>(),
        "write_units": model.total.write,
        "read_units": model.total.read,
        "target_orders_per_second": TARGET_ORDERS_PER_SECOND,
        "busiest_keys": busiest.iter().take(12).map(|(key, u)| json!({"key": key, "write_units_per_second": u.write, "read_units_per_second": u.read})).collect::<Vec<_>>(),
    });
    std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).expect("write the capacity report");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_orders_a_second_over_ten_thousand_products_have_no_hot_key() {
    let mut shop = Shop::open(1, OrderShards::DEFAULT).await;
    let mut model = Model::new(indexes(), OrderShards::DEFAULT);
    // The same traffic, had the catalog index kept projecting every attribute (the design
    // before GSI3): the check must find the hot key that put back.
    let mut catalog_all = Model::new(
        indexes()
            .into_iter()
            .map(|index| IndexShape {
                keys_only: false,
                ..index
            })
            .collect(),
        OrderShards::DEFAULT,
    );
    shop.run(160, None, &mut [&mut model, &mut catalog_all]).await;
    let orders = shop.counts.orders;
    model.print("the order mix", orders, TARGET_ORDERS_PER_SECOND);
    eprintln!(
        "per order: {:.2} write units, {:.2} read units",
        model.total.write / orders as f64,
        model.total.read / orders as f64
    );
    if let Ok(path) = std::env::var("ORDERLY_CAPACITY_REPORT") {
        report(&path, &shop, &model);
    }
    assert_eq!(
        model.hot_keys(orders, TARGET_ORDERS_PER_SECOND),
        Vec::<String>::new(),
        "no partition key over its limit at 5,000 orders/s"
    );
    // The model finds what it is for: with every attribute in the catalog index, each reservation
    // rewrites the one catalog partition.
    catalog_all.print(
        "the same mix, GSI3 projecting everything",
        orders,
        TARGET_ORDERS_PER_SECOND,
    );
    assert!(
        catalog_all
            .hot_keys(orders, TARGET_ORDERS_PER_SECOND)
            .contains(&"GSI3 PRODUCTS#ACTIVE".to_string()),
        "the catalog partition is hot again when its index copies whole products"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_shard_is_a_hot_key_again() {
    let one = OrderShards::new(1).unwrap();
    let mut shop = Shop::open(2, one).await;
    let mut model = Model::new(indexes(), one);
    shop.run(20, None, &mut [&mut model]).await;
    let hot = model.hot_keys(shop.counts.orders, TARGET_ORDERS_PER_SECOND);
    model.print("one order shard", shop.counts.orders, TARGET_ORDERS_PER_SECOND);
    assert!(hot.contains(&"GSI2 PENDING#<n>".to_string()), "{hot:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_sold_past_its_own_ceiling_is_the_only_hot_key() {
    let mut shop = Shop::open(3, OrderShards::DEFAULT).await;
    let mut model = Model::new(indexes(), OrderShards::DEFAULT);
    // A flash sale: one product in every order of the sample; at 5,000 orders/s that is 5,000
    // reservations of it a second, far past what one item takes.
    let popular = 4_242;
    shop.run(40, Some(popular), &mut [&mut model]).await;
    let orders = shop.counts.orders;
    model.print("a flash sale", orders, TARGET_ORDERS_PER_SECOND);
    let product = format!("table PRODUCT#{}", shop.products[&popular]);
    assert_eq!(model.hot_keys(orders, TARGET_ORDERS_PER_SECOND), vec![product.clone()]);
    let per_order = model.by_key[&product].write / orders as f64;
    eprintln!(
        "the popular product: {per_order:.2} write units per order that holds it; its key's ceiling is {:.0} such orders/s",
        WRITE_UNITS_PER_KEY / per_order
    );
}
