//! A user's holdings item (`USER#<user_id>/HOLDINGS`): how many unpaid orders the user holds and
//! how many units they reserve, kept in step with the orders by the very transactions that place,
//! pay, cancel and expire them. That makes the reservation limit a condition on this item inside
//! the placement's own `TransactWriteItems`: one more action, no more calls.
//!
//! Orders placed before the limit existed are in no holdings item. Each order this version places
//! carries `in_holdings = true`, and a transaction that closes an order gives its share back only
//! when the order says it was counted; for an order without the flag the closing transaction is
//! sent again without the holdings action. The give-back is also conditioned on the counts
//! covering the share, so no count ever goes below zero, and a missing item reads as zero
//! (docs/data-model.md, "Holdings").

use crate::attributes::{get_n, n, s, Item};
use crate::expression::{Compare, Expression};
use crate::keys::{self, SCHEMA};
use crate::table_io::{failed, old_item};
use crate::DynamoStore;
use aws_sdk_dynamodb::types::{CancellationReason, TransactWriteItem};
use orderly_core::domain::{HoldingLimit, Holdings, Order, ReservationLimit};
use orderly_core::ports::StoreError;

/// On an order item: its share is counted in its user's holdings item.
pub(crate) const IN_HOLDINGS: &str = "in_holdings";
const UNPAID_ORDERS: &str = "unpaid_orders";
const RESERVED_UNITS: &str = "reserved_units";

/// Whether a closing transaction gives the order's share back to its user's holdings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Share {
    /// The order carries `in_holdings`: its share goes back in the same transaction.
    Counted,
    /// Placed before the limit existed (or its share cannot be covered): the holdings are left alone.
    Uncounted,
}

impl DynamoStore {
    /// The placement's action on the user's holdings: adds `order` to them, on condition that they
    /// then stay within `limit`. A missing item is a user who holds nothing yet.
    pub(crate) fn take_share(&self, order: &Order, limit: ReservationLimit) -> Result<TransactWriteItem, StoreError> {
        let units = order.units();
        let room = i64::from(limit.reserved_units) - i64::try_from(units).unwrap_or(i64::MAX);
        let mut take = Expression::default();
        take.set("type", s("holdings"))
            .set("user_id", s(order.user_id.as_str()))
            .set_if_absent("schema", n(SCHEMA))
            .add(UNPAID_ORDERS, n(1))
            .add(RESERVED_UNITS, n(units));
        let within = [
            (UNPAID_ORDERS, Compare::Less, n(limit.unpaid_orders)),
            (RESERVED_UNITS, Compare::AtMost, n(room)),
        ];
        if room >= 0 {
            take.require_absent_or_all(UNPAID_ORDERS, &within);
        } else {
            // Larger than the limit on its own: refused even by an empty (or missing) item, whose
            // missing counts fail every comparison.
            for (attribute, compare, value) in within {
                take.require(attribute, compare, value);
            }
        }
        self.update(keys::holdings(&order.user_id), &take)
    }

    /// A closing transaction's action on the user's holdings: takes `order`'s share out, on
    /// condition that the counts cover it, so that they never go below zero.
    pub(crate) fn give_back_share(&self, order: &Order) -> Result<TransactWriteItem, StoreError> {
        let units = order.units();
        let minus_units = -i64::try_from(units).unwrap_or(i64::MAX);
        let mut give_back = Expression::default();
        give_back
            .add(UNPAID_ORDERS, n(-1))
            .add(RESERVED_UNITS, n(minus_units))
            .require(UNPAID_ORDERS, Compare::AtLeast, n(1))
            .require(RESERVED_UNITS, Compare::AtLeast, n(units));
        self.update(keys::holdings(&order.user_id), &give_back)
    }

    /// Which limit refused a placement whose holdings action failed at `index`: read from the item
    /// as it stood, or, should the cancellation not carry it, read once more.
    pub(crate) async fn limit_hit(
        &self,
        order: &Order,
        limit: ReservationLimit,
        reasons: &[CancellationReason],
        index: usize,
    ) -> Result<HoldingLimit, StoreError> {
        let held = match old_item(reasons, index) {
            Some(item) => holdings(item)?,
            None => match self.get(keys::holdings(&order.user_id)).await? {
                Some(item) => holdings(&item)?,
                None => Holdings::default(),
            },
        };
        // Read again, the item may show room a close has made since; the placement was refused
        // all the same, and the units are what is named then.
        Ok(limit.refuses(held, order).unwrap_or(HoldingLimit::ReservedUnits))
    }
}

/// The counts of a holdings item.
fn holdings(item: &Item) -> Result<Holdings, StoreError> {
    Ok(Holdings {
        unpaid_orders: get_n(item, UNPAID_ORDERS)?,
        reserved_units: get_n(item, RESERVED_UNITS)?,
    })
}

/// Whether a [`Share::Counted`] closing transaction failed only because the order was never
/// counted (its item, at `order_index`, exists without `in_holdings`) or its share cannot be
/// covered (the holdings action, at `holdings_index`): sent again as [`Share::Uncounted`], it
/// meets the closing's own conditions alone.
pub(crate) fn uncounted(reasons: &[CancellationReason], order_index: usize, holdings_index: usize) -> bool {
    let never_counted = failed(reasons, order_index)
        && old_item(reasons, order_index).is_some_and(|order| !order.contains_key(IN_HOLDINGS));
    never_counted || failed(reasons, holdings_index)
}
