//! The store conformance suite against the embedded SQLite store: every case on a fresh database
//! file in its own temporary directory, removed when the case has finished.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use orderly_core::ports::Store;
use orderly_store_sqlite::EmbeddedStore;
use std::sync::Arc;
use tempfile::TempDir;

/// A fresh, empty store, and the directory holding its file (kept alive until the case ends).
async fn fresh_store() -> (Arc<dyn Store>, TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory for the database");
    let store = EmbeddedStore::open(dir.path()).expect("the embedded store opens in an empty directory");
    (Arc::new(store), dir)
}

/// The same, as the concrete store: the outbox's cases use it as a `Store` and as an `OutboxStore`.
async fn fresh_outbox() -> (Arc<EmbeddedStore>, TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory for the database");
    let store = EmbeddedStore::open(dir.path()).expect("the embedded store opens in an empty directory");
    (Arc::new(store), dir)
}

orderly_store_conformance::conformance_tests!(fresh_store);
orderly_store_conformance::outbox_conformance_tests!(fresh_outbox);
