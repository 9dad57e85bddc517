//! The database file's schema and its migrations. `PRAGMA user_version` records how far a file
//! has been migrated; migrations only ever add, so a file written by an older version opens in a
//! newer one.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: the v1 API.
    "CREATE TABLE products (
        id TEXT PRIMARY KEY,
        sku TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        description TEXT,
        price_cents INTEGER NOT NULL,
        stock INTEGER NOT NULL,
        active INTEGER NOT NULL,
        version INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX products_active_by_id ON products (id) WHERE active = 1;

    CREATE TABLE orders (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        status TEXT NOT NULL,
        lines TEXT NOT NULL,
        total_cents INTEGER NOT NULL,
        currency TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        paid_at INTEGER,
        refund_due INTEGER NOT NULL
    );
    CREATE INDEX orders_by_user ON orders (user_id, id);
    CREATE INDEX orders_by_paid_at ON orders (paid_at) WHERE paid_at IS NOT NULL;
    CREATE INDEX orders_pending_by_expiry ON orders (expires_at) WHERE status = 'pending_payment';

    CREATE TABLE order_events (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        order_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        occurred_at INTEGER NOT NULL,
        published_at INTEGER
    );
    CREATE INDEX order_events_unpublished ON order_events (id) WHERE published_at IS NULL;

    CREATE TABLE idempotency_records (
        user_id TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER NOT NULL,
        location TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, key)
    );

    CREATE TABLE payment_events (
        id TEXT PRIMARY KEY,
        received_at INTEGER NOT NULL
    );

    CREATE TABLE profiles (
        user_id TEXT PRIMARY KEY,
        email TEXT,
        display_name TEXT,
        created_at INTEGER NOT NULL
    );

    CREATE TABLE daily_reports (
        date TEXT PRIMARY KEY,
        orders_paid INTEGER NOT NULL,
        revenue_cents INTEGER NOT NULL,
        units_sold INTEGER NOT NULL,
        top_products TEXT NOT NULL,
        computed_at INTEGER NOT NULL
    );",
];

/// Brings the file up to the newest schema, one migration per transaction.
pub fn migrate(connection: &mut Connection) -> rusqlite::Result<()> {
    let current: usize = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = connection.transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

pub fn newest_version() -> usize {
    MIGRATIONS.len()
}
