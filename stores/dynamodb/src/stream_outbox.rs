//! The table's stream as an outbox the local server's relay can poll (`OutboxStore`), read through
//! the DynamoDB Streams API. **At least once**: the reader's checkpoint lives in this process's
//! memory only, so a new process starts at the stream's `TRIM_HORIZON` and offers again every
//! event the stream still holds (its last 24 hours), published before or not. The consumers are
//! idempotent (one notification per event id), so a repeat is harmless; and no event is lost, as
//! the checkpoint never moves past an event that was not marked published.
//!
//! Deployed, the relay-events Lambda reads the stream instead (`functions/src/jobs/relay.rs`), and
//! this module gives its handler tests real records in the shape Lambda delivers them
//! ([`StreamOutbox::records`], [`lambda_record_json`]).
//!
//! How the stream is read:
//! - Every order event is the `INSERT` of an event item (`crate::stream::order_event_in`), written
//!   in the transaction of its change. Other records (products, orders, TTL deletions) are skipped;
//!   the checkpoint moves past them.
//! - A stream is a tree of shards (`DescribeStream`, paginated, on every poll: shards roll over and
//!   new ones appear). A shard is read once its parent is done, so an order's events come out in
//!   the order they were written, as Lambda's trigger delivers them. A shard is done when it is
//!   closed, read to its end and every event in it is published.
//! - Each shard has a checkpoint (the last record done with) and the records read after it. An
//!   event offered but not marked published stays there and is offered again, as are the events
//!   behind it in its shard that were not marked either; like Lambda's trigger, a shard whose
//!   event cannot be published goes no further (its children wait too). Events of different
//!   shards are offered in sequence-number order.
//! - An event item that cannot be read is an `Internal` error on every poll, never skipped: it
//!   is a bug to fix, and skipping it would lose an event.
//!
//! The Streams client is built from the same `SdkConfig` as the DynamoDB client
//! ([`streams_client`]): `AWS_ENDPOINT_URL` points both at DynamoDB Local, which serves the
//! Streams API on its one endpoint. (A service-specific `AWS_ENDPOINT_URL_DYNAMODB` does not apply
//! to the Streams client; `AWS_ENDPOINT_URL_DYNAMODB_STREAMS` does.)

use crate::errors::sdk;
use crate::stream::order_event_in;
use async_trait::async_trait;
use aws_sdk_dynamodbstreams::error::SdkError;
use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType, Record, ShardIteratorType};
use base64::Engine as _;
use orderly_core::domain::{OrderEvent, Timestamp};
use orderly_core::ports::{OutboxStore, StoreError};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet, VecDeque};
use tokio::sync::Mutex;

pub use aws_sdk_dynamodbstreams::Client as StreamsClient;

/// Records per `GetRecords` call: the API's maximum.
const PAGE: i32 = 1000;
/// `GetRecords` calls per shard in one poll: a poll stops early at the end of what is written.
const READS_PER_SHARD: usize = 8;
/// Records one shard keeps read ahead of its checkpoint, at most.
const MAX_BUFFERED: usize = 10_000;

/// The Streams client for `config`, the `SdkConfig` the DynamoDB client is built from.
pub fn streams_client(config: &aws_config::SdkConfig) -> StreamsClient {
    StreamsClient::new(config)
}

/// The Streams client on the standard AWS environment, as `client::client_from_environment`
/// builds the DynamoDB client (same endpoint, region, credentials, retries and time limits).
pub async fn streams_client_from_environment() -> StreamsClient {
    streams_client(&crate::client::sdk_config_from_environment().await)
}

/// A Streams client for DynamoDB Local at `endpoint`, with the dummy credentials it accepts (the
/// Streams side of `local::client_for`).
#[cfg(feature = "dynamodb-local")]
pub fn streams_client_for(endpoint: &str) -> StreamsClient {
    use aws_sdk_dynamodbstreams::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .http_client(crate::client::https_client())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "dynamodb-local"))
        .build();
    StreamsClient::from_conf(config)
}

/// The reader of one table's stream: the outbox of a process that relays DynamoDB's events itself.
pub struct StreamOutbox {
    client: StreamsClient,
    table: String,
    stream_arn: String,
    state: Mutex<State>,
}

impl std::fmt::Debug for StreamOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamOutbox")
            .field("table", &self.table)
            .field("stream_arn", &self.stream_arn)
            .finish_non_exhaustive()
    }
}

/// The shards known so far, in the order `DescribeStream` listed them.
#[derive(Default)]
struct State {
    shards: Vec<Shard>,
}

struct Shard {
    id: String,
    parent: Option<String>,
    /// The sequence number of the last record done with; `None` before the first.
    checkpoint: Option<String>,
    /// The records read after the checkpoint, in order.
    read: VecDeque<Entry>,
    /// Where reading goes on after `read`.
    next: Next,
}

enum Next {
    /// No shard iterator (yet, or any more: it expired): ask for one after the last record read.
    Position,
    Iterator(String),
    /// The shard is closed and read to its end.
    End,
}

struct Entry {
    sequence_number: String,
    record: Record,
    /// The order event the record adds, if it adds one.
    event: Option<Result<OrderEvent, String>>,
    published: bool,
}

impl Entry {
    /// Whether the checkpoint may move past this record: it adds no event, or its event is published.
    fn settled(&self) -> bool {
        match &self.event {
            None => true,
            Some(Ok(_)) => self.published,
            Some(Err(_)) => false,
        }
    }

    fn event_id(&self) -> Option<&str> {
        match &self.event {
            Some(Ok(event)) => Some(&event.id),
            _ => None,
        }
    }
}

impl Shard {
    fn new(id: String, parent: Option<String>) -> Self {
        Shard {
            id,
            parent,
            checkpoint: None,
            read: VecDeque::new(),
            next: Next::Position,
        }
    }

    /// Closed, read to its end, and every record in it done with: its children may be read.
    fn done(&self) -> bool {
        matches!(self.next, Next::End) && self.read.is_empty()
    }

    /// The last sequence number read: where reading resumes with a fresh iterator.
    fn position(&self) -> Option<&String> {
        self.read
            .back()
            .map(|entry| &entry.sequence_number)
            .or(self.checkpoint.as_ref())
    }

    fn unsettled(&self) -> usize {
        self.read.iter().filter(|entry| !entry.settled()).count()
    }

    /// Adds a record read from the shard; a record at or before the last one read (a re-read after
    /// an iterator was renewed) is dropped.
    fn push(&mut self, record: Record) -> Result<(), StoreError> {
        let sequence_number = record
            .dynamodb()
            .and_then(|change| change.sequence_number())
            .ok_or_else(|| StoreError::Internal(format!("a record of stream shard {} has no SequenceNumber", self.id)))?
            .to_string();
        if self
            .position()
            .is_some_and(|last| stream_order(&sequence_number, last) != Ordering::Greater)
        {
            return Ok(());
        }
        self.read.push_back(Entry {
            event: event_of(&record),
            sequence_number,
            record,
            published: false,
        });
        Ok(())
    }

    /// Moves the checkpoint past the leading records that are done with.
    fn settle(&mut self) {
        while self.read.front().is_some_and(Entry::settled) {
            if let Some(entry) = self.read.pop_front() {
                self.checkpoint = Some(entry.sequence_number);
            }
        }
    }
}

impl State {
    /// Whether the shard at `index` may be read: it has no parent, or its parent is done or no
    /// longer in the stream (trimmed after 24 hours).
    fn readable(&self, index: usize) -> bool {
        match &self.shards[index].parent {
            None => true,
            Some(parent) => self
                .shards
                .iter()
                .find(|shard| &shard.id == parent)
                .is_none_or(Shard::done),
        }
    }

    /// The records read and not done with, across shards, in stream order.
    fn entries(&self) -> Vec<&Entry> {
        let mut entries: Vec<&Entry> = self.shards.iter().flat_map(|shard| &shard.read).collect();
        entries.sort_by(|a, b| stream_order(&a.sequence_number, &b.sequence_number));
        entries
    }
}

/// Sequence numbers are decimal strings of varying length: compared as numbers.
fn stream_order(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The order event a record adds, if it adds one: only an `INSERT` does (an event item is never
/// updated, and its removal by TTL is not an event).
fn event_of(record: &Record) -> Option<Result<OrderEvent, String>> {
    if record.event_name() != Some(&OperationType::Insert) {
        return None;
    }
    let image = record.dynamodb()?.new_image()?;
    order_event_in(|name| match image.get(name)? {
        AttributeValue::S(text) | AttributeValue::N(text) => Some(text.as_str()),
        _ => None,
    })
}

impl StreamOutbox {
    /// The reader of `table`'s stream (its `LatestStreamArn`), starting at the stream's oldest
    /// record. A table without an enabled stream is an error that names it.
    pub async fn new(
        dynamodb: &aws_sdk_dynamodb::Client,
        streams: StreamsClient,
        table: &str,
    ) -> Result<Self, StoreError> {
        let described = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| sdk(&format!("DescribeTable {table}"), e))?;
        let description = described.table();
        let enabled = description
            .and_then(|table| table.stream_specification())
            .is_none_or(|stream| stream.stream_enabled());
        let stream_arn = description
            .and_then(|table| table.latest_stream_arn())
            .filter(|_| enabled)
            .ok_or_else(|| {
                StoreError::Internal(format!(
                    "the table {table} has no stream to read its events from: create it with its stream \
                     (`orderly table create`, NEW_AND_OLD_IMAGES)"
                ))
            })?;
        Ok(StreamOutbox {
            client: streams,
            table: table.to_string(),
            stream_arn: stream_arn.to_string(),
            state: Mutex::new(State::default()),
        })
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The stream's ARN: a Lambda event's `eventSourceARN`.
    pub fn stream_arn(&self) -> &str {
        &self.stream_arn
    }

    /// Up to `limit` of the stream's raw records after the reader's checkpoint, in stream order:
    /// every kind (`INSERT`, `MODIFY`, `REMOVE`) of every item. Reading them moves nothing: the
    /// same records come back until `unpublished_events` and `mark_published` move past them.
    pub async fn records(&self, limit: usize) -> Result<Vec<Record>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut state = self.state.lock().await;
        self.read(&mut state, &|shard| shard.read.len() >= limit, false).await?;
        let entries = state.entries();
        Ok(entries
            .into_iter()
            .take(limit)
            .map(|entry| entry.record.clone())
            .collect())
    }

    /// `records` as the event Lambda hands the relay-events function: `{"Records": [...]}`.
    pub fn lambda_event_json(&self, records: &[Record]) -> Value {
        let records: Vec<Value> = records
            .iter()
            .map(|record| lambda_record_json(record, &self.stream_arn))
            .collect();
        json!({ "Records": records })
    }

    /// One poll of the stream: the shard list, then each shard that may be read, read ahead until
    /// `enough` says so or its end; `settle` moves the checkpoints past what is done with.
    async fn read(
        &self,
        state: &mut State,
        enough: &(dyn Fn(&Shard) -> bool + Sync),
        settle: bool,
    ) -> Result<(), StoreError> {
        self.refresh_shards(state).await?;
        // A parent that is done after this poll's read lets its children be read in the same poll.
        let mut polled: HashSet<String> = HashSet::new();
        while let Some(index) =
            (0..state.shards.len()).find(|&i| !polled.contains(&state.shards[i].id) && state.readable(i))
        {
            let shard = &mut state.shards[index];
            polled.insert(shard.id.clone());
            self.fill(shard, enough).await?;
            if settle {
                shard.settle();
            }
        }
        Ok(())
    }

    /// Learns the stream's shards. Shards done with and no longer listed (trimmed) are forgotten.
    async fn refresh_shards(&self, state: &mut State) -> Result<(), StoreError> {
        let mut listed: Vec<(String, Option<String>)> = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let page = self
                .client
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await
                .map_err(|e| sdk("DescribeStream", e))?;
            let description = page.stream_description().ok_or_else(|| {
                StoreError::Internal(format!("DescribeStream of {} answered no description", self.stream_arn))
            })?;
            for shard in description.shards() {
                if let Some(id) = shard.shard_id() {
                    listed.push((id.to_string(), shard.parent_shard_id().map(str::to_string)));
                }
            }
            match description.last_evaluated_shard_id() {
                Some(last) if start.as_deref() != Some(last) => start = Some(last.to_string()),
                _ => break,
            }
        }
        let ids: HashSet<&str> = listed.iter().map(|(id, _)| id.as_str()).collect();
        state
            .shards
            .retain(|shard| !shard.done() || ids.contains(shard.id.as_str()));
        let known: HashSet<String> = state.shards.iter().map(|shard| shard.id.clone()).collect();
        for (id, parent) in listed {
            if !known.contains(&id) {
                state.shards.push(Shard::new(id, parent));
            }
        }
        Ok(())
    }

    /// Reads the shard on from where it was left, until `enough`, its end, or the end of what is
    /// written so far (an empty page).
    async fn fill(&self, shard: &mut Shard, enough: &(dyn Fn(&Shard) -> bool + Sync)) -> Result<(), StoreError> {
        let mut renewed = false;
        for _ in 0..READS_PER_SHARD {
            if enough(shard) || shard.read.len() >= MAX_BUFFERED {
                return Ok(());
            }
            let iterator = match &shard.next {
                Next::End => return Ok(()),
                Next::Iterator(iterator) => iterator.clone(),
                Next::Position => match self.iterator(shard).await? {
                    Some(iterator) => iterator,
                    None => {
                        shard.next = Next::End;
                        return Ok(());
                    }
                },
            };
            match self
                .client
                .get_records()
                .shard_iterator(iterator)
                .limit(PAGE)
                .send()
                .await
            {
                Ok(page) => {
                    let records = page.records.unwrap_or_default();
                    let empty = records.is_empty();
                    for record in records {
                        shard.push(record)?;
                    }
                    shard.next = match page.next_shard_iterator {
                        Some(next) => Next::Iterator(next),
                        None => Next::End,
                    };
                    if empty {
                        return Ok(());
                    }
                }
                // Iterators last 15 minutes; data older than 24 hours is trimmed away. Either way,
                // a fresh iterator from the last record read goes on (once per poll).
                Err(SdkError::ServiceError(failure))
                    if !renewed
                        && (failure.err().is_expired_iterator_exception()
                            || failure.err().is_trimmed_data_access_exception()) =>
                {
                    renewed = true;
                    shard.next = Next::Position;
                }
                Err(failure) => return Err(sdk("GetRecords", failure)),
            }
        }
        Ok(())
    }

    /// A shard iterator after the last record read, or at the shard's oldest record when none was
    /// (or when the records after it are trimmed). `None` when the shard no longer exists.
    async fn iterator(&self, shard: &Shard) -> Result<Option<String>, StoreError> {
        let request = |kind: ShardIteratorType, after: Option<&String>| {
            self.client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(&shard.id)
                .shard_iterator_type(kind)
                .set_sequence_number(after.cloned())
                .send()
        };
        let answer = match shard.position() {
            Some(after) => match request(ShardIteratorType::AfterSequenceNumber, Some(after)).await {
                Err(SdkError::ServiceError(failure)) if failure.err().is_trimmed_data_access_exception() => {
                    request(ShardIteratorType::TrimHorizon, None).await
                }
                other => other,
            },
            None => request(ShardIteratorType::TrimHorizon, None).await,
        };
        match answer {
            Ok(answer) => Ok(answer.shard_iterator),
            Err(SdkError::ServiceError(failure)) if failure.err().is_resource_not_found_exception() => Ok(None),
            Err(failure) => Err(sdk("GetShardIterator", failure)),
        }
    }
}

#[async_trait]
impl OutboxStore for StreamOutbox {
    /// The events after the checkpoint not yet marked published, in stream order.
    async fn unpublished_events(&self, limit: usize) -> Result<Vec<OrderEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut state = self.state.lock().await;
        self.read(&mut state, &|shard| shard.unsettled() >= limit, true).await?;
        let entries = state.entries();
        entries
            .into_iter()
            .filter(|entry| !entry.published)
            .filter_map(|entry| Some((entry, entry.event.as_ref()?)))
            .take(limit)
            .map(|(entry, event)| match event {
                Ok(event) => Ok(event.clone()),
                Err(reason) => Err(StoreError::Internal(format!(
                    "the event item of stream record {} (table {}) cannot be read: {reason}",
                    entry.sequence_number, self.table
                ))),
            })
            .collect()
    }

    /// Moves each shard's checkpoint past its leading records whose events are all published.
    async fn mark_published(&self, event_ids: &[String], _at: Timestamp) -> Result<(), StoreError> {
        if event_ids.is_empty() {
            return Ok(());
        }
        let ids: HashSet<&str> = event_ids.iter().map(String::as_str).collect();
        let mut state = self.state.lock().await;
        for shard in &mut state.shards {
            for entry in &mut shard.read {
                if entry.event_id().is_some_and(|id| ids.contains(id)) {
                    entry.published = true;
                }
            }
            shard.settle();
        }
        Ok(())
    }
}

/// `record` in the JSON Lambda delivers to a function triggered by the stream `event_source_arn`
/// (one element of the event's `Records`), which `aws_lambda_events`' DynamoDB `Event` reads.
pub fn lambda_record_json(record: &Record, event_source_arn: &str) -> Value {
    let mut change = Map::new();
    let stream_record = record.dynamodb();
    if let Some(at) = stream_record.and_then(|r| r.approximate_creation_date_time()) {
        let seconds = if at.subsec_nanos() == 0 {
            json!(at.secs())
        } else {
            json!(at.as_secs_f64())
        };
        change.insert("ApproximateCreationDateTime".into(), seconds);
    }
    for (name, image) in [
        ("Keys", stream_record.and_then(|r| r.keys())),
        ("NewImage", stream_record.and_then(|r| r.new_image())),
        ("OldImage", stream_record.and_then(|r| r.old_image())),
    ] {
        if let Some(image) = image {
            change.insert(name.into(), item_json(image));
        }
    }
    if let Some(number) = stream_record.and_then(|r| r.sequence_number()) {
        change.insert("SequenceNumber".into(), json!(number));
    }
    change.insert(
        "SizeBytes".into(),
        json!(stream_record.and_then(|r| r.size_bytes()).unwrap_or(0)),
    );
    if let Some(view) = stream_record.and_then(|r| r.stream_view_type()) {
        change.insert("StreamViewType".into(), json!(view.as_str()));
    }
    let mut json = Map::new();
    json.insert("eventID".into(), json!(record.event_id().unwrap_or_default()));
    json.insert(
        "eventName".into(),
        json!(record.event_name().map(OperationType::as_str).unwrap_or_default()),
    );
    json.insert("eventVersion".into(), json!(record.event_version().unwrap_or("1.1")));
    json.insert(
        "eventSource".into(),
        json!(record.event_source().unwrap_or("aws:dynamodb")),
    );
    json.insert("awsRegion".into(), json!(record.aws_region().unwrap_or_default()));
    json.insert("dynamodb".into(), Value::Object(change));
    json.insert("eventSourceARN".into(), json!(event_source_arn));
    if let Some(identity) = record.user_identity() {
        json.insert(
            "userIdentity".into(),
            json!({
                "type": identity.r#type().unwrap_or_default(),
                "principalId": identity.principal_id().unwrap_or_default(),
            }),
        );
    }
    Value::Object(json)
}

/// An item (keys or image) in DynamoDB's JSON: each attribute as `{"<type>": value}`.
fn item_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(name, value)| (name.clone(), attribute_json(value)))
            .collect(),
    )
}

fn attribute_json(value: &AttributeValue) -> Value {
    let base64 =
        |blob: &aws_sdk_dynamodbstreams::primitives::Blob| base64::engine::general_purpose::STANDARD.encode(blob);
    match value {
        AttributeValue::S(text) => json!({ "S": text }),
        AttributeValue::N(number) => json!({ "N": number }),
        AttributeValue::Bool(flag) => json!({ "BOOL": flag }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::L(values) => json!({ "L": values.iter().map(attribute_json).collect::<Vec<_>>() }),
        AttributeValue::M(values) => json!({ "M": item_json(values) }),
        AttributeValue::Ss(texts) => json!({ "SS": texts }),
        AttributeValue::Ns(numbers) => json!({ "NS": numbers }),
        AttributeValue::B(blob) => json!({ "B": base64(blob) }),
        AttributeValue::Bs(blobs) => json!({ "BS": blobs.iter().map(base64).collect::<Vec<_>>() }),
        // A type newer than this SDK: an empty value, which a reader refuses rather than misreads.
        _ => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::primitives::{Blob, DateTime};
    use aws_sdk_dynamodbstreams::types::{Identity, StreamRecord, StreamViewType};

    fn event(id: &str) -> OrderEvent {
        OrderEvent {
            id: id.to_string(),
            kind: orderly_core::domain::OrderEventType::OrderPlaced,
            order_id: orderly_core::domain::OrderId::parse("01JDB3Z6V4M0Q7YQ6V6X4W1T2A").unwrap(),
            user_id: orderly_core::domain::UserId::parse("ada").unwrap(),
            occurred_at: Timestamp::from_millis(1_795_000_000_123),
        }
    }

    /// The stream record of an inserted item of type `item_type` with these attributes.
    fn inserted(sequence_number: &str, item_type: &str, attributes: &[(&str, AttributeValue)]) -> Record {
        let mut change = StreamRecord::builder()
            .sequence_number(sequence_number)
            .new_image("type", AttributeValue::S(item_type.into()));
        for (name, value) in attributes {
            change = change.new_image(*name, value.clone());
        }
        Record::builder()
            .event_name(OperationType::Insert)
            .dynamodb(change.build())
            .build()
    }

    fn event_record(sequence_number: &str, event: &OrderEvent) -> Record {
        let s = |text: &str| AttributeValue::S(text.to_string());
        inserted(
            sequence_number,
            "order_event",
            &[
                ("id", s(&event.id)),
                ("kind", s(event.kind.as_str())),
                ("order_id", s(&event.order_id.to_string())),
                ("user_id", s(&event.user_id.to_string())),
                (
                    "occurred_at",
                    AttributeValue::N(event.occurred_at.as_millis().to_string()),
                ),
            ],
        )
    }

    fn product_record(sequence_number: &str) -> Record {
        inserted(sequence_number, "product", &[("id", AttributeValue::S("p".into()))])
    }

    fn shard(id: &str, parent: Option<&str>, records: Vec<Record>) -> Shard {
        let mut shard = Shard::new(id.into(), parent.map(str::to_string));
        for record in records {
            shard.push(record).unwrap();
        }
        shard
    }

    fn publish(shard: &mut Shard, id: &str) {
        for entry in &mut shard.read {
            if entry.event_id() == Some(id) {
                entry.published = true;
            }
        }
        shard.settle();
    }

    #[test]
    fn the_checkpoint_passes_other_records_and_published_events_but_never_an_unpublished_one() {
        let (a, b) = (event("A"), event("B"));
        assert_eq!(
            event_of(&event_record("2", &a)),
            Some(Ok(a.clone())),
            "the helper writes event items"
        );
        let mut shard = shard(
            "s",
            None,
            vec![
                product_record("1"),
                event_record("2", &a),
                product_record("3"),
                event_record("4", &b),
                product_record("5"),
            ],
        );
        assert_eq!(shard.unsettled(), 2);
        shard.settle();
        assert_eq!(
            shard.checkpoint.as_deref(),
            Some("1"),
            "past the product, up to the first event"
        );
        publish(&mut shard, "B");
        assert_eq!(
            shard.checkpoint.as_deref(),
            Some("1"),
            "B is published, but A before it is not"
        );
        assert_eq!(shard.unsettled(), 1);
        publish(&mut shard, "A");
        assert_eq!(shard.checkpoint.as_deref(), Some("5"), "everything done with");
        assert!(shard.read.is_empty());
    }

    #[test]
    fn an_event_that_cannot_be_read_holds_the_checkpoint() {
        let mut shard = shard(
            "s",
            None,
            vec![inserted(
                "1",
                "order_event",
                &[("kind", AttributeValue::S("order_shipped".into()))],
            )],
        );
        shard.settle();
        assert_eq!(shard.checkpoint, None);
        assert_eq!(shard.unsettled(), 1);
    }

    #[test]
    fn records_already_read_are_not_read_twice() {
        let mut shard = shard("s", None, vec![product_record("10"), product_record("11")]);
        shard.push(product_record("9")).unwrap();
        shard.push(product_record("11")).unwrap();
        assert_eq!(shard.read.len(), 2);
        shard.settle();
        shard.push(product_record("11")).unwrap();
        assert!(shard.read.is_empty(), "at or before the checkpoint");
        shard.push(product_record("12")).unwrap();
        assert_eq!(shard.read.len(), 1);
    }

    #[test]
    fn a_child_shard_is_read_once_its_parent_is_done() {
        let mut parent = shard("parent", None, vec![event_record("1", &event("A"))]);
        parent.next = Next::End;
        let child = shard("child", Some("parent"), vec![]);
        let orphan = shard("orphan", Some("trimmed"), vec![]);
        let mut state = State {
            shards: vec![parent, child, orphan],
        };
        assert!(state.readable(0));
        assert!(!state.readable(1), "the parent's event is not published yet");
        assert!(state.readable(2), "a parent no longer in the stream holds nothing back");
        publish(&mut state.shards[0], "A");
        assert!(state.readable(1), "the parent is closed, read to its end and done with");

        state.shards[0].next = Next::Iterator("open".into());
        assert!(!state.readable(1), "an open parent may still get records");
    }

    #[test]
    fn entries_of_all_shards_are_in_stream_order() {
        let state = State {
            shards: vec![
                shard("a", None, vec![product_record("9"), product_record("12")]),
                shard("b", None, vec![product_record("10"), product_record("000011")]),
            ],
        };
        let order: Vec<&str> = state.entries().iter().map(|e| e.sequence_number.as_str()).collect();
        assert_eq!(order, ["9", "10", "000011", "12"]);
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert_eq!(stream_order("9", "10"), Ordering::Less);
        assert_eq!(stream_order("000000000000000000010", "9"), Ordering::Greater);
        assert_eq!(stream_order("12", "12"), Ordering::Equal);
        assert_eq!(stream_order("21", "12"), Ordering::Greater);
    }

    fn sample_record() -> Record {
        let change = StreamRecord::builder()
            .approximate_creation_date_time(DateTime::from_secs(1_480_642_020))
            .keys("PK", AttributeValue::S("ORDER#01JDB3Z6V4M0Q7YQ6V6X4W1T2A".into()))
            .keys("SK", AttributeValue::S("EVENT#01JDB3Z6V4M0Q7YQ6V6X4W1T2S".into()))
            .new_image("type", AttributeValue::S("order_event".into()))
            .new_image("occurred_at", AttributeValue::N("1795000000123".into()))
            .new_image("refund_due", AttributeValue::Bool(false))
            .new_image("email", AttributeValue::Null(true))
            .new_image(
                "lines",
                AttributeValue::L(vec![AttributeValue::M(HashMap::from([(
                    "quantity".to_string(),
                    AttributeValue::N("2".into()),
                )]))]),
            )
            .new_image("tags", AttributeValue::Ss(vec!["a".into(), "b".into()]))
            .new_image("sizes", AttributeValue::Ns(vec!["1".into()]))
            .new_image("blob", AttributeValue::B(Blob::new(vec![0u8, 1, 42, 65])))
            .new_image("blobs", AttributeValue::Bs(vec![Blob::new(vec![65u8, 42, 1, 0])]))
            .sequence_number("1405400000000002063282832")
            .size_bytes(54)
            .stream_view_type(StreamViewType::NewAndOldImages)
            .build();
        Record::builder()
            .event_id("f07f8ca4b0b26cb9c4e5e77e69f274ee")
            .event_name(OperationType::Insert)
            .event_version("1.1")
            .event_source("aws:dynamodb")
            .aws_region("us-east-1")
            .dynamodb(change)
            .build()
    }

    /// The shape of `aws_lambda_events`' fixture `example-dynamodb-event.json`, Lambda's own sample.
    #[test]
    fn a_record_is_written_as_lambda_delivers_it() {
        let arn = "arn:aws:dynamodb:us-east-1:123456789012:table/Example-Table/stream/2016-12-01T00:00:00.000";
        let expected = json!({
            "eventID": "f07f8ca4b0b26cb9c4e5e77e69f274ee",
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1480642020,
                "Keys": {
                    "PK": { "S": "ORDER#01JDB3Z6V4M0Q7YQ6V6X4W1T2A" },
                    "SK": { "S": "EVENT#01JDB3Z6V4M0Q7YQ6V6X4W1T2S" }
                },
                "NewImage": {
                    "type": { "S": "order_event" },
                    "occurred_at": { "N": "1795000000123" },
                    "refund_due": { "BOOL": false },
                    "email": { "NULL": true },
                    "lines": { "L": [{ "M": { "quantity": { "N": "2" } } }] },
                    "tags": { "SS": ["a", "b"] },
                    "sizes": { "NS": ["1"] },
                    "blob": { "B": "AAEqQQ==" },
                    "blobs": { "BS": ["QSoBAA=="] }
                },
                "SequenceNumber": "1405400000000002063282832",
                "SizeBytes": 54,
                "StreamViewType": "NEW_AND_OLD_IMAGES"
            },
            "eventSourceARN": arn
        });
        assert_eq!(lambda_record_json(&sample_record(), arn), expected);
    }

    #[test]
    fn a_removal_by_ttl_carries_its_old_image_and_identity() {
        let change = StreamRecord::builder()
            .approximate_creation_date_time(DateTime::from_fractional_secs(1_480_642_020, 0.5))
            .keys("PK", AttributeValue::S("IDEM#1#a#k".into()))
            .old_image("type", AttributeValue::S("idempotency".into()))
            .sequence_number("7")
            .size_bytes(9)
            .build();
        let record = Record::builder()
            .event_id("e")
            .event_name(OperationType::Remove)
            .aws_region("us-east-1")
            .dynamodb(change)
            .user_identity(
                Identity::builder()
                    .r#type("Service")
                    .principal_id("dynamodb.amazonaws.com")
                    .build(),
            )
            .build();
        let json = lambda_record_json(&record, "arn");
        assert_eq!(json["eventName"], "REMOVE");
        assert_eq!(json["eventSource"], "aws:dynamodb");
        assert_eq!(json["dynamodb"]["ApproximateCreationDateTime"], 1_480_642_020.5);
        assert_eq!(json["dynamodb"]["OldImage"]["type"]["S"], "idempotency");
        assert!(json["dynamodb"].get("NewImage").is_none());
        assert_eq!(json["userIdentity"]["principalId"], "dynamodb.amazonaws.com");
        assert_eq!(json["userIdentity"]["type"], "Service");
    }

    #[test]
    fn only_inserted_event_items_are_events() {
        let record = sample_record();
        // The sample's new image is an event item without its fields: an event that cannot be read.
        assert!(matches!(event_of(&record), Some(Err(_))));
        let modify = Record::builder()
            .event_name(OperationType::Modify)
            .set_dynamodb(record.dynamodb().cloned())
            .build();
        assert!(event_of(&modify).is_none());
    }
}
