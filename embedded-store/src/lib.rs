//! The store port on one SQLite file: Orderly's embedded database for the local server.
//!
//! SQLite runs one write transaction at a time, so every conditional write of the port (stock
//! never below zero, one payment per event, one order per idempotency key) is checked and applied
//! inside a single `BEGIN IMMEDIATE` transaction: all or nothing, like DynamoDB's transactions.
//! The file is in WAL mode with `synchronous = NORMAL`: a committed transaction survives a crash
//! of the process (it is in the OS's hands once `COMMIT` returns); only a power cut can lose the
//! last few. Readers use their own connections and never wait for the writer.

mod rows;
mod schema;

use async_trait::async_trait;
use orderly_core::domain::{
    DailyReport, Date, DisplayName, IdempotencyKey, IdempotencyRecord, Order, OrderEvent, OrderId, OrderStatus,
    Product, ProductChange, ProductId, Profile, Stock, StockDelta, Timestamp, UserId,
};
use orderly_core::ports::{Conflict, OrderPlacement, Store, StoreError};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub const DATABASE_FILE: &str = "orderly.db";
const READERS: usize = 4;
/// How long a connection waits for a lock before the store reports itself unavailable.
const BUSY_TIMEOUT_MS: u64 = 5_000;

#[derive(Debug, thiserror::Error)]
#[error("cannot open the database {path}: {source}")]
pub struct OpenError {
    path: PathBuf,
    source: rusqlite::Error,
}

#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

fn lock(connection: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock leaves SQLite's own state consistent (an open transaction is
    // rolled back when dropped), so the connection is still safe to use.
    connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl EmbeddedStore {
    /// Opens (creating if needed) `dir/orderly.db` and migrates it to the newest schema.
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        let path = dir.join(DATABASE_FILE);
        let fail = |source| OpenError {
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
                Ok(Mutex::new(reader))
            })
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(fail)?;
        Ok(EmbeddedStore {
            inner: Arc::new(Inner {
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    pub fn schema_version() -> usize {
        schema::newest_version()
    }

    /// Runs `read` on a reader connection, off the async executor.
    async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            let index = inner.next_reader.fetch_add(1, Ordering::Relaxed) % inner.readers.len();
            read(&lock(&inner.readers[index]))
        })
        .await
    }

    /// Runs `write` in one immediate transaction: committed when it returns `Ok`, rolled back
    /// (nothing half-written) when it returns `Err`.
    async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            let mut connection = lock(&inner.writer);
            let tx = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql)?;
            let value = write(&tx)?;
            tx.commit().map_err(sql)?;
            Ok(value)
        })
        .await
    }
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
fn sql(error: rusqlite::Error) -> StoreError {
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

fn is_constraint_violation(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

fn query_product(conn: &Connection, id: &str) -> Result<Option<Product>, StoreError> {
    conn.prepare_cached(concat!("SELECT ", product_columns!(), " FROM products WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id], rows::product).optional())
        .map_err(sql)?
        .transpose()
}

fn query_order(conn: &Connection, id: &str) -> Result<Option<Order>, StoreError> {
    conn.prepare_cached(concat!("SELECT ", order_columns!(), " FROM orders WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id], rows::order).optional())
        .map_err(sql)?
        .transpose()
}

fn query_orders(conn: &Connection, sql_text: &str, params: impl rusqlite::Params) -> Result<Vec<Order>, StoreError> {
    let mut stmt = conn.prepare_cached(sql_text).map_err(sql)?;
    let rows = stmt.query_map(params, rows::order).map_err(sql)?;
    rows.map(|row| row.map_err(sql).and_then(|parsed| parsed)).collect()
}

fn insert_event(tx: &Transaction<'_>, event: &OrderEvent) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO order_events (id, kind, order_id, user_id, occurred_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            event.id,
            event.kind.as_str(),
            event.order_id.as_str(),
            event.user_id.as_str(),
            event.occurred_at.as_millis()
        ])
    })
    .map_err(sql)?;
    Ok(())
}

fn payment_event_exists(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM payment_events WHERE id = ?1")
        .and_then(|mut stmt| stmt.exists([id]))
        .map_err(sql)
}

fn insert_payment_event(tx: &Transaction<'_>, id: &str, now: Timestamp) -> Result<(), StoreError> {
    match tx.execute(
        "INSERT INTO payment_events (id, received_at) VALUES (?1, ?2)",
        params![id, now.as_millis()],
    ) {
        Ok(_) => Ok(()),
        Err(e) if is_constraint_violation(&e) => Err(Conflict::PaymentEventSeen.into()),
        Err(e) => Err(sql(e)),
    }
}

fn query_profile(conn: &Connection, user: &str) -> Result<Option<Profile>, StoreError> {
    conn.prepare_cached("SELECT user_id, email, display_name, created_at FROM profiles WHERE user_id = ?1")
        .and_then(|mut stmt| stmt.query_row([user], rows::profile).optional())
        .map_err(sql)?
        .transpose()
}

fn stored<T>(value: Option<T>, what: &str) -> Result<T, StoreError> {
    value.ok_or_else(|| StoreError::Internal(format!("{what} vanished inside its own transaction")))
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn check_health(&self) -> Result<(), StoreError> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(sql))
            .await
    }

    async fn insert_product(&self, product: &Product) -> Result<(), StoreError> {
        let p = product.clone();
        self.write(move |tx| {
            let inserted = tx.execute(
                concat!(
                    "INSERT INTO products (",
                    product_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                params![
                    p.id.as_str(),
                    p.sku.as_str(),
                    p.name.as_str(),
                    p.description.as_ref().map(|d| d.as_str()),
                    p.price.cents().get(),
                    p.stock.units(),
                    p.active,
                    i64::try_from(p.version).unwrap_or(i64::MAX),
                    p.created_at.as_millis(),
                    p.updated_at.as_millis()
                ],
            );
            match inserted {
                Ok(_) => Ok(()),
                Err(e) if is_constraint_violation(&e) => Err(Conflict::SkuTaken.into()),
                Err(e) => Err(sql(e)),
            }
        })
        .await
    }

    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| query_product(conn, &id)).await
    }

    async fn products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        self.read(move |conn| {
            let mut found = Vec::with_capacity(ids.len());
            for id in &ids {
                found.extend(query_product(conn, id)?);
            }
            Ok(found)
        })
        .await
    }

    async fn active_products(&self, after: Option<&ProductId>, limit: usize) -> Result<Vec<Product>, StoreError> {
        let after = after.map(ToString::to_string).unwrap_or_default();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let sql_text: &str = concat!(
                "SELECT ",
                product_columns!(),
                " FROM products WHERE active = 1 AND id > ?1 ORDER BY id LIMIT ?2"
            );
            let mut stmt = conn.prepare_cached(sql_text).map_err(sql)?;
            let rows = stmt.query_map(params![after, limit], rows::product).map_err(sql)?;
            rows.map(|row| row.map_err(sql).and_then(|parsed| parsed)).collect()
        })
        .await
    }

    async fn update_product(
        &self,
        id: &ProductId,
        change: &ProductChange,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> Result<Product, StoreError> {
        let (id, change) = (id.to_string(), change.clone());
        self.write(move |tx| {
            let mut product = query_product(tx, &id)?.ok_or(Conflict::NotFound)?;
            if expected_version.is_some_and(|expected| expected != product.version) {
                return Err(Conflict::VersionMismatch.into());
            }
            change.apply_to(&mut product);
            product.version += 1;
            product.updated_at = now;
            tx.execute(
                "UPDATE products SET name = ?2, description = ?3, price_cents = ?4, active = ?5, version = ?6,
                 updated_at = ?7 WHERE id = ?1",
                params![
                    id,
                    product.name.as_str(),
                    product.description.as_ref().map(|d| d.as_str()),
                    product.price.cents().get(),
                    product.active,
                    i64::try_from(product.version).unwrap_or(i64::MAX),
                    now.as_millis()
                ],
            )
            .map_err(sql)?;
            Ok(product)
        })
        .await
    }

    async fn adjust_stock(&self, id: &ProductId, delta: StockDelta, now: Timestamp) -> Result<Product, StoreError> {
        let id = id.clone();
        self.write(move |tx| {
            let mut product = query_product(tx, id.as_str())?.ok_or(Conflict::NotFound)?;
            let units = product.stock.units() + delta.units();
            if units < 0 {
                return Err(Conflict::InsufficientStock(id).into());
            }
            if delta.units() > 0 && units > Stock::MAX {
                return Err(Conflict::StockLimit.into());
            }
            tx.execute(
                "UPDATE products SET stock = ?2, updated_at = ?3 WHERE id = ?1",
                params![id.as_str(), units, now.as_millis()],
            )
            .map_err(sql)?;
            product.stock = Stock::from_stored(units);
            product.updated_at = now;
            Ok(product)
        })
        .await
    }

    async fn place_order(&self, placement: &OrderPlacement) -> Result<(), StoreError> {
        let placement = placement.clone();
        self.write(move |tx| {
            let order = &placement.order;
            if let Some(record) = &placement.idempotency {
                let taken = tx
                    .prepare_cached("SELECT 1 FROM idempotency_records WHERE user_id = ?1 AND key = ?2")
                    .and_then(|mut stmt| stmt.exists(params![record.user_id.as_str(), record.key.as_str()]))
                    .map_err(sql)?;
                if taken {
                    return Err(Conflict::IdempotencyKeyTaken.into());
                }
            }
            for line in &order.lines {
                let quantity = i64::from(line.quantity.get());
                let reserved = tx
                    .prepare_cached(
                        "UPDATE products SET stock = stock - ?2 WHERE id = ?1 AND active = 1 AND stock >= ?2",
                    )
                    .and_then(|mut stmt| stmt.execute(params![line.product_id.as_str(), quantity]))
                    .map_err(sql)?;
                if reserved == 0 {
                    // Returning Err rolls back the lines already reserved.
                    let available = query_product(tx, line.product_id.as_str())?.is_some_and(|p| p.active);
                    let id = line.product_id.clone();
                    return Err(if available {
                        Conflict::InsufficientStock(id)
                    } else {
                        Conflict::ProductUnavailable(id)
                    }
                    .into());
                }
            }
            tx.prepare_cached(concat!(
                "INSERT INTO orders (",
                order_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))
            .and_then(|mut stmt| {
                stmt.execute(params![
                    order.id.as_str(),
                    order.user_id.as_str(),
                    order.status.as_str(),
                    rows::lines_json(order).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
                    order.total_cents.get(),
                    order.currency.as_str(),
                    order.created_at.as_millis(),
                    order.updated_at.as_millis(),
                    order.expires_at.as_millis(),
                    order.paid_at.map(Timestamp::as_millis),
                    order.refund_due
                ])
            })
            .map_err(sql)?;
            insert_event(tx, &placement.event)?;
            if let Some(record) = &placement.idempotency {
                tx.prepare_cached(
                    "INSERT INTO idempotency_records (user_id, key, fingerprint, status, location, body, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        record.user_id.as_str(),
                        record.key.as_str(),
                        record.fingerprint,
                        record.status,
                        record.location,
                        record.body,
                        record.created_at.as_millis()
                    ])
                })
                .map_err(sql)?;
            }
            Ok(())
        })
        .await
    }

    async fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| query_order(conn, &id)).await
    }

    async fn orders_of(&self, user: &UserId, before: Option<&OrderId>, limit: usize) -> Result<Vec<Order>, StoreError> {
        let user = user.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // "~" sorts after every ULID character, so it stands for "no upper bound".
        let before = before.map(ToString::to_string).unwrap_or_else(|| "~".into());
        self.read(move |conn| {
            let sql_text: &str = concat!(
                "SELECT ",
                order_columns!(),
                " FROM orders WHERE user_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
            );
            query_orders(conn, sql_text, params![user, before, limit])
        })
        .await
    }

    async fn cancel_order(&self, order: &Order, now: Timestamp, event: &OrderEvent) -> Result<Order, StoreError> {
        // The stored order, not the caller's copy, decides: the check and the write are one transaction.
        let (id, event) = (order.id.to_string(), event.clone());
        self.write(move |tx| {
            let order = query_order(tx, &id)?.ok_or(Conflict::NotFound)?;
            if !order.is_open_at(now) {
                return Err(Conflict::OrderClosed.into());
            }
            tx.execute(
                "UPDATE orders SET status = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, OrderStatus::Cancelled.as_str(), now.as_millis()],
            )
            .map_err(sql)?;
            for line in &order.lines {
                tx.prepare_cached("UPDATE products SET stock = stock + ?2 WHERE id = ?1")
                    .and_then(|mut stmt| {
                        stmt.execute(params![line.product_id.as_str(), i64::from(line.quantity.get())])
                    })
                    .map_err(sql)?;
            }
            insert_event(tx, &event)?;
            stored(query_order(tx, &id)?, "the cancelled order")
        })
        .await
    }

    async fn idempotency_record(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let (user, key) = (user.to_string(), key.as_str().to_string());
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT user_id, key, fingerprint, status, location, body, created_at
                 FROM idempotency_records WHERE user_id = ?1 AND key = ?2",
            )
            .and_then(|mut stmt| stmt.query_row(params![user, key], rows::idempotency_record).optional())
            .map_err(sql)?
            .transpose()
        })
        .await
    }

    async fn payment_event_seen(&self, payment_event_id: &str) -> Result<bool, StoreError> {
        let id = payment_event_id.to_string();
        self.read(move |conn| payment_event_exists(conn, &id)).await
    }

    async fn mark_order_paid(
        &self,
        order: &Order,
        payment_event_id: &str,
        now: Timestamp,
        event: &OrderEvent,
    ) -> Result<(), StoreError> {
        let (id, payment_event_id, event) = (order.id.to_string(), payment_event_id.to_string(), event.clone());
        self.write(move |tx| {
            if payment_event_exists(tx, &payment_event_id)? {
                return Err(Conflict::PaymentEventSeen.into());
            }
            let order = query_order(tx, &id)?.ok_or(Conflict::NotFound)?;
            if !order.is_open_at(now) {
                return Err(Conflict::OrderClosed.into());
            }
            tx.execute(
                "UPDATE orders SET status = ?2, paid_at = ?3, updated_at = ?3 WHERE id = ?1",
                params![id, OrderStatus::Paid.as_str(), now.as_millis()],
            )
            .map_err(sql)?;
            insert_payment_event(tx, &payment_event_id, now)?;
            insert_event(tx, &event)
        })
        .await
    }

    async fn flag_refund_due(&self, order: &Order, payment_event_id: &str, now: Timestamp) -> Result<(), StoreError> {
        let (id, payment_event_id) = (order.id.to_string(), payment_event_id.to_string());
        self.write(move |tx| {
            if payment_event_exists(tx, &payment_event_id)? {
                return Err(Conflict::PaymentEventSeen.into());
            }
            query_order(tx, &id)?.ok_or(Conflict::NotFound)?;
            tx.execute(
                "UPDATE orders SET refund_due = 1, updated_at = ?2 WHERE id = ?1",
                params![id, now.as_millis()],
            )
            .map_err(sql)?;
            insert_payment_event(tx, &payment_event_id, now)
        })
        .await
    }

    async fn remember_payment_event(&self, payment_event_id: &str, now: Timestamp) -> Result<(), StoreError> {
        let id = payment_event_id.to_string();
        self.write(move |tx| insert_payment_event(tx, &id, now)).await
    }

    async fn profile(&self, user: &UserId) -> Result<Option<Profile>, StoreError> {
        let user = user.to_string();
        self.read(move |conn| query_profile(conn, &user)).await
    }

    async fn insert_profile(&self, profile: &Profile) -> Result<Profile, StoreError> {
        let profile = profile.clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO profiles (user_id, email, display_name, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_id) DO NOTHING",
                params![
                    profile.user_id.as_str(),
                    profile.email,
                    profile.display_name.as_ref().map(|n| n.as_str()),
                    profile.created_at.as_millis()
                ],
            )
            .map_err(sql)?;
            stored(query_profile(tx, profile.user_id.as_str())?, "the profile")
        })
        .await
    }

    async fn set_display_name(&self, fresh: &Profile, name: &DisplayName) -> Result<Profile, StoreError> {
        let (fresh, name) = (fresh.clone(), name.as_str().to_string());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO profiles (user_id, email, display_name, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name",
                params![fresh.user_id.as_str(), fresh.email, name, fresh.created_at.as_millis()],
            )
            .map_err(sql)?;
            stored(query_profile(tx, fresh.user_id.as_str())?, "the profile")
        })
        .await
    }

    async fn paid_orders_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Order>, StoreError> {
        self.read(move |conn| {
            let sql_text: &str = concat!(
                "SELECT ",
                order_columns!(),
                " FROM orders WHERE paid_at >= ?1 AND paid_at < ?2 AND status = 'paid'"
            );
            query_orders(conn, sql_text, params![from.as_millis(), to.as_millis()])
        })
        .await
    }

    async fn save_report(&self, report: &DailyReport) -> Result<(), StoreError> {
        let report = report.clone();
        let top = serde_json::to_string(&report.top_products).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.write(move |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO daily_reports (date, orders_paid, revenue_cents, units_sold, top_products, computed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    report.date.to_string(),
                    i64::try_from(report.orders_paid).unwrap_or(i64::MAX),
                    report.revenue_cents.get(),
                    i64::try_from(report.units_sold).unwrap_or(i64::MAX),
                    top,
                    report.computed_at.as_millis()
                ],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await
    }

    async fn report(&self, date: Date) -> Result<Option<DailyReport>, StoreError> {
        self.read(move |conn| {
            conn.query_row(
                "SELECT date, orders_paid, revenue_cents, units_sold, top_products, computed_at
                 FROM daily_reports WHERE date = ?1",
                [date.to_string()],
                rows::report,
            )
            .optional()
            .map_err(sql)?
            .transpose()
        })
        .await
    }
}
