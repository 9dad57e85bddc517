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
    // 2: notifications, one per order event (its id is the event's), listed per user newest first.
    "CREATE TABLE notifications (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        order_id TEXT NOT NULL,
        message TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX notifications_by_user ON notifications (user_id, id);",
    // 3: what each user holds in pending orders, for the reservation limit (holdings.rs), filled
    // from the pending orders the file already holds: their count, and their lines' quantities.
    "CREATE TABLE holdings (
        user_id TEXT PRIMARY KEY,
        unpaid_orders INTEGER NOT NULL,
        reserved_units INTEGER NOT NULL
    );
    INSERT INTO holdings (user_id, unpaid_orders, reserved_units)
        SELECT user_id, count(*),
               coalesce(sum((SELECT sum(json_extract(line.value, '$.quantity')) FROM json_each(orders.lines) AS line)), 0)
        FROM orders WHERE status = 'pending_payment' GROUP BY user_id;",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmbeddedStore;
    use orderly_core::domain::{Notification, OrderEventType, OrderId, Timestamp, UserId};
    use orderly_core::ports::{NotificationStore, OrderStore, OutboxStore};

    const ORDER_ID: &str = "01JDB3Z6V4M0Q7YQ6V6X4W1T2A";
    const EVENT_ID: &str = "01JDB3Z6V4M0Q7YQ6V6X4W1T2S";

    fn version(connection: &Connection) -> usize {
        connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap()
    }

    /// A database file as version 1 of Orderly left it: the first migration only, with an order
    /// and its event in it.
    fn version_1_file(path: &std::path::Path) {
        let connection = Connection::open(path).unwrap();
        connection.execute_batch(MIGRATIONS[0]).unwrap();
        connection.pragma_update(None, "user_version", 1).unwrap();
        connection
            .execute(
                "INSERT INTO orders (id, user_id, status, lines, total_cents, currency, created_at, updated_at,
                 expires_at, paid_at, refund_due)
                 VALUES (?1, 'ada', 'pending_payment', '[]', 0, 'USD', 1000, 1000, 901000, NULL, 0)",
                [ORDER_ID],
            )
            .unwrap();
        connection
            .execute(
                "INSERT INTO order_events (id, kind, order_id, user_id, occurred_at)
                 VALUES (?1, 'order_placed', ?2, 'ada', 1000)",
                [EVENT_ID, ORDER_ID],
            )
            .unwrap();
    }

    #[test]
    fn migrating_a_new_file_reaches_the_newest_version_and_again_changes_nothing() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection).unwrap();
        assert_eq!(version(&connection), newest_version());
        assert_eq!(newest_version(), 3);
        migrate(&mut connection).unwrap();
        assert_eq!(version(&connection), newest_version());
    }

    #[test]
    fn a_version_1_file_gains_the_notifications_table_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::DATABASE_FILE);
        version_1_file(&path);

        let mut connection = Connection::open(&path).unwrap();
        assert_eq!(version(&connection), 1);
        migrate(&mut connection).unwrap();
        assert_eq!(
            version(&connection),
            newest_version(),
            "migrations 2 and 3 are applied, once"
        );
        let objects: Vec<String> = connection
            .prepare("SELECT name FROM sqlite_master WHERE name LIKE 'notifications%' ORDER BY name")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(objects, ["notifications", "notifications_by_user"]);
        let orders: i64 = connection
            .query_row("SELECT count(*) FROM orders WHERE id = ?1", [ORDER_ID], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(orders, 1, "the version 1 data is still there");
    }

    /// The store opens a version 1 file, migrates it, reads what version 1 wrote and uses the
    /// new table.
    #[tokio::test]
    async fn the_store_opens_a_version_1_file_and_uses_the_new_table() {
        let dir = tempfile::tempdir().unwrap();
        version_1_file(&dir.path().join(crate::DATABASE_FILE));

        let store = EmbeddedStore::open(dir.path()).unwrap();
        let order_id = OrderId::parse(ORDER_ID).unwrap();
        let order = store.order(&order_id).await.unwrap().expect("the version 1 order");
        assert_eq!(order.expires_at, Timestamp::from_millis(901_000));
        let unpublished = store.unpublished_events(10).await.unwrap();
        assert_eq!(unpublished.len(), 1, "the version 1 event is still unpublished");
        assert_eq!(unpublished[0].id, EVENT_ID);

        let ada = UserId::parse("ada").unwrap();
        let note = Notification::of(&unpublished[0], Timestamp::from_millis(2_000));
        assert_eq!(note.kind, OrderEventType::OrderPlaced);
        assert!(store.insert_notification(&note).await.unwrap());
        assert_eq!(store.notifications_of(&ada, None, 10).await.unwrap(), [note]);
    }

    /// Migration 3 counts what every user already holds: a file of version 2 with pending, paid
    /// and cancelled orders gets one holdings row per user with pending orders, and those orders
    /// count against the reservation limit at once.
    #[tokio::test]
    async fn migration_3_counts_the_pending_orders_a_file_already_holds() {
        use orderly_core::domain::{HoldingLimit, OrderStatus, ReservationLimit};
        use orderly_core::ports::{CatalogStore, Conflict, StoreError};
        use orderly_store_conformance::fixtures;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::DATABASE_FILE);
        let teapot = fixtures::product(100);
        let (ada, bob) = (UserId::parse("ada").unwrap(), UserId::parse("bob").unwrap());
        {
            let connection = Connection::open(&path).unwrap();
            connection.execute_batch(MIGRATIONS[0]).unwrap();
            connection.execute_batch(MIGRATIONS[1]).unwrap();
            connection.pragma_update(None, "user_version", 2).unwrap();
            let t = Timestamp::from_millis(1_000);
            for (user, status, units) in [
                (&ada, OrderStatus::PendingPayment, vec![2, 3]),
                (&ada, OrderStatus::PendingPayment, vec![4]),
                (&ada, OrderStatus::Paid, vec![50]),
                (&bob, OrderStatus::Cancelled, vec![7]),
            ] {
                let lines: Vec<_> = units.iter().map(|&u| (&teapot, u)).collect();
                let order = fixtures::order(user, &lines, t);
                connection
                    .execute(
                        "INSERT INTO orders (id, user_id, status, lines, total_cents, currency, created_at,
                         updated_at, expires_at, paid_at, refund_due)
                         VALUES (?1, ?2, ?3, ?4, 0, 'USD', 1000, 1000, 901000, NULL, 0)",
                        rusqlite::params![
                            order.id.as_str(),
                            user.as_str(),
                            status.as_str(),
                            crate::rows::lines_json(&order).unwrap()
                        ],
                    )
                    .unwrap();
            }
        }

        let store = EmbeddedStore::open(dir.path()).unwrap();
        let counted: Vec<(String, i64, i64)> = Connection::open(&path)
            .unwrap()
            .prepare("SELECT user_id, unpaid_orders, reserved_units FROM holdings ORDER BY user_id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(counted, [("ada".to_string(), 2, 9)], "only pending orders count");

        store.insert_product(&teapot).await.unwrap();
        let limit = ReservationLimit {
            unpaid_orders: 3,
            reserved_units: 10,
        };
        let place = |units: u32| {
            let order = fixtures::order(&ada, &[(&teapot, units)], Timestamp::from_millis(2_000));
            fixtures::limited(fixtures::placement(&order), limit)
        };
        let refused = store.place_order(&place(2)).await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Conflict(Conflict::ReservationLimit(
                    HoldingLimit::ReservedUnits
                )))
            ),
            "9 units held, 2 more under a limit of 10: {refused:?}"
        );
        store.place_order(&place(1)).await.unwrap();
        let refused = store.place_order(&place(1)).await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Conflict(Conflict::ReservationLimit(
                    HoldingLimit::UnpaidOrders
                )))
            ),
            "3 orders held under a limit of 3: {refused:?}"
        );
    }

    /// The listings read through their indexes, never a scan of the table.
    #[test]
    fn listings_use_their_indexes() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection).unwrap();
        let plan = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> String {
            let mut stmt = connection.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt.query_map(params, |row| row.get::<_, String>(3)).unwrap();
            rows.collect::<rusqlite::Result<Vec<_>>>().unwrap().join("; ")
        };
        for (sql, params, index) in [
            (
                crate::orders::OVERDUE_ORDERS,
                &[&1_000_i64 as &dyn rusqlite::ToSql, &100_i64][..],
                "orders_pending_by_expiry",
            ),
            (
                crate::outbox::UNPUBLISHED_EVENTS,
                &[&100_i64 as &dyn rusqlite::ToSql][..],
                "order_events_unpublished",
            ),
            (
                crate::notifications::NOTIFICATIONS_OF,
                &[&"ada" as &dyn rusqlite::ToSql, &"~", &100_i64][..],
                "notifications_by_user",
            ),
        ] {
            let plan = plan(sql, params);
            assert!(plan.contains(&format!("USING INDEX {index}")), "{sql}: {plan}");
            // Walking a partial index reads only its rows ("SCAN t USING INDEX"); a bare "SCAN t"
            // would read the whole table.
            for step in plan.split("; ").filter(|step| step.starts_with("SCAN")) {
                assert!(step.contains("USING INDEX"), "{sql} must not scan its table: {plan}");
            }
        }
    }
}
