//! The table's definition, in one place: `orderly table create` builds the table from it, the
//! tests create their tables from it, and a test checks `template.yaml` declares the same.

use crate::errors::{build, sdk};
use crate::keys::{self, OrderShards};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use orderly_core::ports::StoreError;

/// A global secondary index: its name, its partition and sort key attributes, and what it copies.
pub struct Index {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub projection: ProjectionType,
}

pub const PARTITION_KEY: &str = keys::PK;
pub const SORT_KEY: &str = keys::SK;
pub const TTL_ATTRIBUTE: &str = keys::TTL;
pub const INDEXES: [Index; 3] = [
    Index {
        name: keys::GSI1,
        partition_key: keys::GSI1PK,
        sort_key: keys::GSI1SK,
        projection: ProjectionType::All,
    },
    Index {
        name: keys::GSI2,
        partition_key: keys::GSI2PK,
        sort_key: keys::GSI2SK,
        projection: ProjectionType::All,
    },
    // Keys only: a stock change does not change them, so it writes no copy here (§6).
    Index {
        name: keys::GSI3,
        partition_key: keys::GSI3PK,
        sort_key: keys::GSI3SK,
        projection: ProjectionType::KeysOnly,
    },
];
pub const STREAM_VIEW: StreamViewType = StreamViewType::NewAndOldImages;

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| build("key schema", e))
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| build("attribute definition", e))
}

fn global_index(index: &Index) -> Result<GlobalSecondaryIndex, StoreError> {
    GlobalSecondaryIndex::builder()
        .index_name(index.name)
        .key_schema(key(index.partition_key, KeyType::Hash)?)
        .key_schema(key(index.sort_key, KeyType::Range)?)
        .projection(Projection::builder().projection_type(index.projection.clone()).build())
        .build()
        .map_err(|e| build("index", e))
}

#[derive(Debug, thiserror::Error)]
pub enum CreateTableError {
    #[error("the table {0} already exists")]
    AlreadyExists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates the table with its keys, indexes and stream, on demand, and turns on TTL.
pub async fn create_table(client: &Client, table: &str) -> Result<(), CreateTableError> {
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PARTITION_KEY, KeyType::Hash)?)
        .key_schema(key(SORT_KEY, KeyType::Range)?)
        .attribute_definitions(string_attribute(PARTITION_KEY)?)
        .attribute_definitions(string_attribute(SORT_KEY)?)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(STREAM_VIEW)
                .build()
                .map_err(|e| build("stream", e))?,
        );
    for index in &INDEXES {
        request = request
            .attribute_definitions(string_attribute(index.partition_key)?)
            .attribute_definitions(string_attribute(index.sort_key)?)
            .global_secondary_indexes(global_index(index)?);
    }
    // Creating a table is an admin operation, slow on a cold DynamoDB Local: the request path's
    // 1 s attempt timeout would make the SDK retry a create that is in fact succeeding.
    let patient = aws_sdk_dynamodb::config::Builder::default().timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .operation_attempt_timeout(std::time::Duration::from_secs(20))
            .operation_timeout(std::time::Duration::from_secs(60))
            .build(),
    );
    match request.customize().config_override(patient).send().await {
        Ok(_) => {}
        Err(SdkError::ServiceError(service)) if service.err().is_resource_in_use_exception() => {
            return Err(CreateTableError::AlreadyExists(table.to_string()));
        }
        Err(other) => return Err(sdk("CreateTable", other).into()),
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .map_err(|e| build("TTL", e))?,
        )
        .send()
        .await
        .map_err(|e| sdk("UpdateTimeToLive", e))?;
    Ok(())
}

pub const TABLE_NAME_VARIABLE: &str = "TABLE_NAME";
pub const ORDER_SHARDS_VARIABLE: &str = "ORDERLY_DYNAMODB_ORDER_SHARDS";

/// How many shards of `GSI2` orders are spread over, from `ORDERLY_DYNAMODB_ORDER_SHARDS`: 1 to
/// 256, [`OrderShards::DEFAULT`] when unset. Every function and process on one table must read
/// the same number (the template sets it once for all); it may grow, never shrink.
pub fn order_shards_from(
    vars: &std::collections::HashMap<String, String>,
) -> Result<OrderShards, orderly_core::ConfigError> {
    let count = orderly_core::config::whole_number(
        vars,
        ORDER_SHARDS_VARIABLE,
        OrderShards::DEFAULT.count(),
        1..=OrderShards::MOST,
    )?;
    OrderShards::new(count).ok_or_else(|| orderly_core::ConfigError::new(ORDER_SHARDS_VARIABLE, "must be 1 to 256"))
}

/// The table's name from `TABLE_NAME`: 3–255 characters of `[A-Za-z0-9_.-]`, as DynamoDB allows.
pub fn table_name_from(vars: &std::collections::HashMap<String, String>) -> Result<String, orderly_core::ConfigError> {
    let invalid = |message: &str| orderly_core::ConfigError::new(TABLE_NAME_VARIABLE, message);
    let name = vars
        .get(TABLE_NAME_VARIABLE)
        .ok_or_else(|| invalid("must be set to the DynamoDB table's name"))?;
    let valid = (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(name.clone())
    } else {
        Err(invalid(
            "must be 3 to 255 characters of A-Z, a-z, 0-9, '_', '.' and '-'",
        ))
    }
}
