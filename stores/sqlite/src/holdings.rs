//! The `holdings` table: how many unpaid orders each user holds and how many units they reserve,
//! for the reservation limit. The transactions that place, pay, cancel and expire orders keep it in
//! step, and SQLite runs them one at a time, so a placement's check and its count are one atomic
//! step. Counting it this way rather than summing the user's pending orders keeps a placement's
//! cost the same however high the limit is set. Migration 3 filled it from the pending orders a
//! file already held.

use crate::connection::sql;
use orderly_core::domain::{Holdings, Order, UserId};
use orderly_core::ports::StoreError;
use rusqlite::{params, OptionalExtension, Transaction};

/// What `user` holds now; nothing when they have no row.
pub(crate) fn holdings_of(tx: &Transaction<'_>, user: &UserId) -> Result<Holdings, StoreError> {
    let counts = tx
        .prepare_cached("SELECT unpaid_orders, reserved_units FROM holdings WHERE user_id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([user.as_str()], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
            })
            .optional()
        })
        .map_err(sql)?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(counts
        .map(|(orders, units)| Holdings {
            unpaid_orders: count(orders),
            reserved_units: count(units),
        })
        .unwrap_or_default())
}

/// Adds a placed `order` to its user's holdings.
pub(crate) fn take_share(tx: &Transaction<'_>, order: &Order) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO holdings (user_id, unpaid_orders, reserved_units) VALUES (?1, 1, ?2)
         ON CONFLICT (user_id) DO UPDATE SET
             unpaid_orders = unpaid_orders + 1, reserved_units = reserved_units + excluded.reserved_units",
    )
    .and_then(|mut stmt| stmt.execute(params![order.user_id.as_str(), units(order)]))
    .map_err(sql)?;
    Ok(())
}

/// Takes a pending `order` that is being paid, cancelled or expired out of its user's holdings.
/// The counts are exact, so the floor at zero never applies; it is there so that a row edited by
/// hand cannot turn into a negative count, which would lift the limit.
pub(crate) fn give_back_share(tx: &Transaction<'_>, order: &Order) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE holdings SET unpaid_orders = max(unpaid_orders - 1, 0), reserved_units = max(reserved_units - ?2, 0)
         WHERE user_id = ?1",
    )
    .and_then(|mut stmt| stmt.execute(params![order.user_id.as_str(), units(order)]))
    .map_err(sql)?;
    Ok(())
}

fn units(order: &Order) -> i64 {
    i64::try_from(order.units()).unwrap_or(i64::MAX)
}
