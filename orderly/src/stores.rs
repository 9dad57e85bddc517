//! Which store the local process runs on: the embedded SQLite file (the default), or a DynamoDB
//! table named by `TABLE_NAME` with endpoint, region and credentials from the standard AWS
//! environment (`AWS_ENDPOINT_URL`, `AWS_REGION`, ...), exactly as a deployed function would,
//! within the local time limits (`ORDERLY_DYNAMODB_*`, [`SdkTimeouts::LOCAL`] by default).

use async_trait::async_trait;
use orderly_core::domain::{OrderEvent, Timestamp};
use orderly_core::ports::{OutboxStore, Store, StoreError};
use orderly_core::ConfigError;
use orderly_store_dynamodb::stream_outbox::{self, StreamOutbox};
use orderly_store_dynamodb::{client, table, DynamoStore, Migrated};
use orderly_store_sqlite::{EmbeddedStore, OpenError};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::OnceCell;

pub use orderly_store_dynamodb::client::SdkTimeouts;
pub use orderly_store_dynamodb::OrderShards;

#[derive(Debug, thiserror::Error)]
pub enum StoreSetupError {
    #[error(transparent)]
    Embedded(#[from] OpenError),
    #[error("cannot create the data dir {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot create the table: {0}")]
    CreateTable(#[from] table::CreateTableError),
    #[error("cannot read the table's stream, which the relay of order events reads: {0}")]
    Stream(StoreError),
    #[error("cannot migrate the table: {0}")]
    Migrate(StoreError),
}

/// The store the local process runs on, and the outbox its relay polls: the embedded store's
/// events wait in a table; DynamoDB's are read from the table's stream.
pub struct LocalStore {
    pub store: Arc<dyn Store>,
    pub outbox: Arc<dyn OutboxStore>,
}

pub fn embedded(data_dir: &Path) -> Result<LocalStore, StoreSetupError> {
    std::fs::create_dir_all(data_dir).map_err(|e| StoreSetupError::DataDir(data_dir.display().to_string(), e))?;
    let store = Arc::new(EmbeddedStore::open(data_dir)?);
    Ok(LocalStore {
        store: store.clone(),
        outbox: store,
    })
}

/// The table's name from `TABLE_NAME`, checked before any connection is made.
pub fn table_name() -> Result<String, StoreSetupError> {
    let vars: HashMap<String, String> = std::env::vars().collect();
    Ok(table::table_name_from(&vars)?)
}

/// How many shards the table's orders are spread over, checked before any connection is made.
pub fn order_shards() -> Result<OrderShards, StoreSetupError> {
    let vars: HashMap<String, String> = std::env::vars().collect();
    Ok(table::order_shards_from(&vars)?)
}

/// The DynamoDB client's time limits and attempts, checked before any connection is made.
pub fn sdk_timeouts() -> Result<SdkTimeouts, StoreSetupError> {
    let vars: HashMap<String, String> = std::env::vars().collect();
    Ok(SdkTimeouts::from_vars(&vars, SdkTimeouts::LOCAL)?)
}

/// The table named `table` (checked by [`table_name`]), and its stream as the relay's outbox (read
/// from the start of the stream's 24 hours: events a previous process relayed are offered again,
/// which the notification job's idempotency makes harmless).
pub async fn dynamodb(
    table: String,
    order_shards: OrderShards,
    timeouts: SdkTimeouts,
) -> Result<LocalStore, StoreSetupError> {
    let config = client::sdk_config(timeouts).await;
    let store = DynamoStore::new(orderly_store_dynamodb::Client::new(&config), table).with_order_shards(order_shards);
    // Not fatal: DynamoDB may come up after us, and the health route reports it meanwhile.
    if let Err(error) = store.check_health().await {
        tracing::warn!(table = store.table(), cause = %error, "the DynamoDB table does not answer yet");
    }
    let streams = stream_outbox::streams_client(&config);
    let outbox: Arc<dyn OutboxStore> = match StreamOutbox::new(store.client(), streams.clone(), store.table()).await {
        Ok(outbox) => Arc::new(outbox),
        // DynamoDB does not answer yet: the relay opens the stream once it does.
        Err(StoreError::Unavailable(cause)) => {
            tracing::warn!(table = store.table(), %cause, "the table's stream is opened once DynamoDB answers");
            Arc::new(StreamOnFirstUse {
                dynamodb: store.client().clone(),
                streams,
                table: store.table().to_string(),
                opened: OnceCell::new(),
            })
        }
        // No such table, or one without a stream: the relay could never run, so say so now.
        Err(other) => return Err(StoreSetupError::Stream(other)),
    };
    Ok(LocalStore {
        store: Arc::new(store),
        outbox,
    })
}

/// The table's stream as the outbox, opened on first use: for a local server started before
/// DynamoDB was up. Until it opens, each relay pass fails and is retried.
struct StreamOnFirstUse {
    dynamodb: orderly_store_dynamodb::Client,
    streams: stream_outbox::StreamsClient,
    table: String,
    opened: OnceCell<StreamOutbox>,
}

impl StreamOnFirstUse {
    async fn outbox(&self) -> Result<&StreamOutbox, StoreError> {
        self.opened
            .get_or_try_init(|| StreamOutbox::new(&self.dynamodb, self.streams.clone(), &self.table))
            .await
    }
}

#[async_trait]
impl OutboxStore for StreamOnFirstUse {
    async fn unpublished_events(&self, limit: usize) -> Result<Vec<OrderEvent>, StoreError> {
        self.outbox().await?.unpublished_events(limit).await
    }

    async fn mark_published(&self, event_ids: &[String], at: Timestamp) -> Result<(), StoreError> {
        self.outbox().await?.mark_published(event_ids, at).await
    }
}

/// `orderly table create`: the table, its indexes, stream and TTL, from the one definition.
pub async fn create_table() -> Result<String, StoreSetupError> {
    let table = table_name()?;
    let client = orderly_store_dynamodb::Client::new(&client::sdk_config(sdk_timeouts()?).await);
    table::create_table(&client, &table).await?;
    Ok(table)
}

/// `orderly table migrate`: the table brought to the current design (see [`DynamoStore::migrate`]).
pub async fn migrate_table() -> Result<(String, Migrated), StoreSetupError> {
    let table = table_name()?;
    let client = orderly_store_dynamodb::Client::new(&client::sdk_config(sdk_timeouts()?).await);
    let store = DynamoStore::new(client, table.clone());
    let migrated = store.migrate().await.map_err(StoreSetupError::Migrate)?;
    Ok((table, migrated))
}
