//! The store conformance suite against the in-memory store: every case on a fresh, empty store.

use orderly_core::ports::Store;
use orderly_store_memory::MemoryStore;
use std::sync::Arc;

/// A fresh, empty store; nothing outlives the case, so no guard is needed.
async fn fresh_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

/// The same, as the concrete store: the outbox's cases use it as a `Store` and as an `OutboxStore`.
async fn fresh_outbox() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new())
}

orderly_store_conformance::conformance_tests!(fresh_store);
orderly_store_conformance::outbox_conformance_tests!(fresh_outbox);
