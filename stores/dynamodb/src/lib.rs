//! The store port on one DynamoDB table, the single-table design of `docs/data-model.md`.
//!
//! Every port method is one atomic DynamoDB call: a conditional `PutItem`/`UpdateItem`, or one
//! `TransactWriteItems` whose conditions carry the business's promises (stock never below zero,
//! one payment per event, one order per idempotency key). A cancelled transaction's reasons say
//! which condition failed; transactions cancelled only by a conflicting concurrent transaction are
//! retried with jittered backoff, and so is a close of an order placed before the reservation
//! limit, without the holdings it was never in. Nothing is ever half-written.
//!
//! Each aggregate of the port has its own module (`catalog`, `orders`, `payments`, `profiles`,
//! `reports`, `notifications`); what they share is the table's I/O (`table_io`), the
//! expressions their conditional writes are made of (`expression`), and the user's holdings that
//! orders and payments keep for the reservation limit (`holdings`). There is no `OutboxStore`: the
//! table's stream carries every event item to the relay.

mod attributes;
mod catalog;
pub mod client;
mod errors;
mod expression;
mod holdings;
mod items;
mod keys;
#[cfg(feature = "dynamodb-local")]
pub mod local;
mod migration;
mod notifications;
mod orders;
mod payments;
mod profiles;
mod reports;
mod retry;
pub mod stream;
#[cfg(feature = "stream-reader")]
pub mod stream_outbox;
pub mod table;
mod table_io;

use async_trait::async_trait;
pub use aws_sdk_dynamodb::Client;
use orderly_core::ports::{Store, StoreError};

pub use keys::OrderShards;
pub use migration::Migrated;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    order_shards: OrderShards,
}

impl DynamoStore {
    /// A store on `table`, with orders spread over [`OrderShards::DEFAULT`] shards.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            order_shards: OrderShards::DEFAULT,
        }
    }

    /// The same store with orders spread over `shards` (every function and process on a table
    /// must use the same number, or a larger one).
    pub fn with_order_shards(self, shards: OrderShards) -> Self {
        DynamoStore {
            order_shards: shards,
            ..self
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn check_health(&self) -> Result<(), StoreError> {
        self.get(keys::health()).await.map(drop)
    }
}
