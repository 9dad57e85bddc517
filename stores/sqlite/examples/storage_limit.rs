//! The local server's storage limit, for `STORAGE_LIMIT=1 bench/load`: order placements written
//! straight into SQLite, each in its own `BEGIN IMMEDIATE` transaction on one connection, with the
//! very writes the store makes (`place_order_in`: the stock reserved under its condition, the
//! buyer's holdings, the order, its event), on a database made as the server makes it (its schema,
//! WAL, `synchronous = NORMAL`). No HTTP, no service, no thread hop: what SQLite itself allows on
//! this machine, set against the server's placement rate by `bench/load`.
//!
//! Like the server's benchmark, every order is one unit of one product for one buyer. Placements
//! are built, the product's stock topped up and the buyer's holdings reset before each timed
//! batch, so the rate counts the placements' writes alone.
//!
//! `cargo run --release -p orderly-store-sqlite --example storage_limit -- SECONDS`

use orderly_core::domain::ReservationLimit;
use orderly_core::ports::CatalogStore;
use orderly_store_conformance::fixtures::{limited, order, placement, product, user, T0};
use orderly_store_sqlite::{place_order_in, EmbeddedStore, DATABASE_FILE};
use rusqlite::{Connection, TransactionBehavior};
use std::error::Error;
use std::time::{Duration, Instant};

/// Placements built ahead of each timed batch.
const BATCH: usize = 2_000;
/// The reservation limit `bench/load` gives the server, as high as it goes: checked on every
/// placement, never met (the buyer's holdings are reset between batches, like the stock).
const LIMIT: ReservationLimit = ReservationLimit {
    unpaid_orders: 1_000_000,
    reserved_units: 1_000_000,
};

fn main() -> Result<(), Box<dyn Error>> {
    let seconds: u64 = std::env::args().nth(1).ok_or("usage: storage_limit SECONDS")?.parse()?;
    let dir = tempfile::tempdir()?;
    // As much stock as a product may hold; topped up between batches, outside the timing.
    let teapot = product(1_000_000);
    {
        let store = EmbeddedStore::open(dir.path())?;
        tokio::runtime::Builder::new_current_thread()
            .build()?
            .block_on(store.insert_product(&teapot))?;
    }
    let mut connection = Connection::open(dir.path().join(DATABASE_FILE))?;
    connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;")?;
    let buyer = user("bench-buyer");

    let run = Duration::from_secs(seconds);
    let (mut placed, mut writing) = (0_u64, Duration::ZERO);
    while writing < run {
        connection.execute(
            "UPDATE products SET stock = 1000000 WHERE id = ?1",
            [teapot.id.as_str()],
        )?;
        connection.execute("UPDATE holdings SET unpaid_orders = 0, reserved_units = 0", [])?;
        let batch: Vec<_> = (0..BATCH)
            .map(|_| limited(placement(&order(&buyer, &[(&teapot, 1)], T0)), LIMIT))
            .collect();
        let started = Instant::now();
        for placement in &batch {
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            place_order_in(&tx, placement)?;
            tx.commit()?;
        }
        writing += started.elapsed();
        placed += BATCH as u64;
    }
    let rate = placed as f64 / writing.as_secs_f64();
    println!(
        "{placed} placements in {:.1} s of writing: {rate:.0} placements/s",
        writing.as_secs_f64()
    );
    Ok(())
}
