//! The connections behind the store and how work reaches them: one writer, whose every call is a
//! single immediate transaction, and a few read-only readers taken in turn, all used on tokio's
//! blocking threads because SQLite's calls block. Also what SQLite's errors mean to the port.

use crate::EmbeddedStore;
use orderly_core::ports::StoreError;
use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tracing::Instrument;

pub(crate) struct Connections {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl Connections {
    pub(crate) fn new(writer: Connection, readers: Vec<Connection>) -> Self {
        Connections {
            writer: Mutex::new(writer),
            readers: readers.into_iter().map(Mutex::new).collect(),
            next_reader: AtomicUsize::new(0),
        }
    }
}

impl EmbeddedStore {
    /// Runs `read` on a reader connection, off the async executor.
    pub(crate) async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let connections = Arc::clone(&self.connections);
        run_blocking(move || {
            let index = connections.next_reader.fetch_add(1, Ordering::Relaxed) % connections.readers.len();
            read(&lock(&connections.readers[index]))
        })
        .instrument(tracing::info_span!("store.read", db = "sqlite"))
        .await
    }

    /// Runs `write` in one immediate transaction: committed when it returns `Ok`, rolled back
    /// (nothing half-written) when it returns `Err`.
    pub(crate) async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let connections = Arc::clone(&self.connections);
        run_blocking(move || {
            let mut connection = lock(&connections.writer);
            let tx = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql)?;
            let value = write(&tx)?;
            tx.commit().map_err(sql)?;
            Ok(value)
        })
        .instrument(tracing::info_span!("store.write", db = "sqlite"))
        .await
    }
}

fn lock(connection: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock leaves SQLite's own state consistent (an open transaction is
    // rolled back when dropped), so the connection is still safe to use.
    connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(StoreError::Internal(format!("store task failed: {e}"))))
}

/// SQLite's errors: lock contention, a full disk or an I/O failure are worth a retry (503);
/// anything else is a bug (500).
pub(crate) fn sql(error: rusqlite::Error) -> StoreError {
    let transient = matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::DiskFull | ErrorCode::SystemIoFailure)
    );
    if transient {
        StoreError::Unavailable(error.to_string())
    } else {
        StoreError::Internal(error.to_string())
    }
}

pub(crate) fn is_constraint_violation(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

/// A row the same transaction has just written, which must be there.
pub(crate) fn stored<T>(value: Option<T>, what: &str) -> Result<T, StoreError> {
    value.ok_or_else(|| StoreError::Internal(format!("{what} vanished inside its own transaction")))
}
