//! The store port on one SQLite file: Orderly's embedded database for the local server.
//!
//! SQLite runs one write transaction at a time, so every conditional write of the port (stock
//! never below zero, one payment per event, one order per idempotency key) is checked and applied
//! inside a single `BEGIN IMMEDIATE` transaction: all or nothing, like DynamoDB's transactions.
//! The file is in WAL mode with `synchronous = NORMAL`: a committed transaction survives a crash
//! of the process (it is in the OS's hands once `COMMIT` returns); only a power cut can lose the
//! last few. Readers use their own connections and never wait for the writer.
//!
//! Each aggregate of the port has its own module (`catalog`, `orders`, `payments`, `profiles`,
//! `reports`, `notifications`), and `outbox` is what a polling relay reads; `holdings` is what the
//! reservation limit counts, kept by `orders` and `payments`. They reach the database through
//! `connection`.

mod catalog;
mod connection;
mod holdings;
mod notifications;
mod orders;
mod outbox;
mod payments;
mod profiles;
mod reports;
mod rows;
mod schema;

pub use orders::place_order_in;

use async_trait::async_trait;
use connection::{sql, Connections};
use orderly_core::ports::{Store, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const DATABASE_FILE: &str = "orderly.db";
const READERS: usize = 4;
/// How long a connection waits for a lock before the store reports itself unavailable.
const BUSY_TIMEOUT_MS: u64 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the database {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("cannot create the database {path}: {source}")]
    Create { path: PathBuf, source: std::io::Error },
}

#[derive(Clone)]
pub struct EmbeddedStore {
    connections: Arc<Connections>,
}

impl EmbeddedStore {
    /// Opens (creating if needed, owner-only) `dir/orderly.db` and migrates it to the newest schema.
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        let path = dir.join(DATABASE_FILE);
        create_owner_only(&path).map_err(|source| OpenError::Create {
            path: path.clone(),
            source,
        })?;
        let fail = |source| OpenError::Sqlite {
            path: path.clone(),
            source,
        };
        let mut writer = Connection::open(&path).map_err(fail)?;
        writer
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;")
            .map_err(fail)?;
        writer
            .busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))
            .map_err(fail)?;
        schema::migrate(&mut writer).map_err(fail)?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                reader.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
                Ok(reader)
            })
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(fail)?;
        Ok(EmbeddedStore {
            connections: Arc::new(Connections::new(writer, readers)),
        })
    }

    pub fn schema_version() -> usize {
        schema::newest_version()
    }
}

/// Creates the database file empty and readable by its owner only, as the secrets beside it, when
/// it does not exist yet; SQLite would create it with the process's umask (usually world-readable),
/// and gives its `-wal` and `-shm` files the database file's permissions. An existing file is left
/// alone: opening it here and closing it again would drop the POSIX locks SQLite holds on it.
fn create_owner_only(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn check_health(&self) -> Result<(), StoreError> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(sql))
            .await
    }
}
