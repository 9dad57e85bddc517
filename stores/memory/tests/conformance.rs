//! The store conformance suite against the in-memory store: every case on a fresh, empty store.

use orderly_core::ports::Store;
use orderly_store_memory::MemoryStore;
use std::sync::Arc;

/// A fresh, empty store; nothing outlives the case, so no guard is needed.
async fn fresh_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

orderly_store_conformance::conformance_tests!(fresh_store);
