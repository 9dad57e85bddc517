//! Which store the local process runs on: the embedded SQLite file (the default), or a DynamoDB
//! table named by `TABLE_NAME` with endpoint, region and credentials from the standard AWS
//! environment (`AWS_ENDPOINT_URL`, `AWS_REGION`, ...), exactly as a deployed function would.

use orderly_core::ports::Store;
use orderly_core::ConfigError;
use orderly_store_dynamodb::{client, table, DynamoStore};
use orderly_store_sqlite::{EmbeddedStore, OpenError};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

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
}

pub fn embedded(data_dir: &Path) -> Result<Arc<dyn Store>, StoreSetupError> {
    std::fs::create_dir_all(data_dir).map_err(|e| StoreSetupError::DataDir(data_dir.display().to_string(), e))?;
    Ok(Arc::new(EmbeddedStore::open(data_dir)?))
}

/// The table's name from `TABLE_NAME`, checked before any connection is made.
pub fn table_name() -> Result<String, StoreSetupError> {
    let vars: HashMap<String, String> = std::env::vars().collect();
    Ok(table::table_name_from(&vars)?)
}

pub async fn dynamodb() -> Result<Arc<dyn Store>, StoreSetupError> {
    let table = table_name()?;
    let store = DynamoStore::new(client::client_from_environment().await, table);
    // Not fatal: DynamoDB may come up after us, and the health route reports it meanwhile.
    if let Err(error) = store.check_health().await {
        tracing::warn!(table = store.table(), cause = %error, "the DynamoDB table does not answer yet");
    }
    Ok(Arc::new(store))
}

/// `orderly table create`: the table, its indexes, stream and TTL, from the one definition.
pub async fn create_table() -> Result<String, StoreSetupError> {
    let table = table_name()?;
    let client = client::client_from_environment().await;
    table::create_table(&client, &table).await?;
    Ok(table)
}
