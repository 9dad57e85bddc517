//! The store port's conformance suite: the behaviour every [`Store`] adapter must show, written
//! once against the trait alone so the embedded SQLite store and the DynamoDB store are held to
//! the same contract (the conflicts documented in `orderly_core::ports::store`).
//!
//! Each case is a `pub async fn` taking a fresh, empty store. An adapter's test file runs them all
//! with [`conformance_tests!`], which turns every case into its own `#[tokio::test]`:
//!
//! ```text
//! async fn fresh_store() -> (Arc<dyn Store>, tempfile::TempDir) {
//!     let dir = tempfile::tempdir().expect("a temporary directory");
//!     let store = EmbeddedStore::open(dir.path()).expect("the store opens");
//!     (Arc::new(store), dir)
//! }
//!
//! orderly_store_conformance::conformance_tests!(fresh_store);
//! ```
//!
//! The argument is anything callable with no arguments that returns a future of a [`Fixture`]:
//! either an `Arc<dyn Store>` or a pair `(Arc<dyn Store>, guard)` whose guard (a temporary
//! directory, a table to delete) lives until the case has finished. The test file must depend on
//! `tokio` (with the `macros` and `rt-multi-thread` features).
//!
//! A store that is polled for its events (it implements [`OutboxStore`]) also runs the outbox's
//! cases with [`outbox_conformance_tests!`], whose factory returns the concrete store (an
//! `Arc<S>`, or `(Arc<S>, guard)`) so the cases can use it both ways:
//!
//! ```text
//! async fn fresh_outbox() -> (Arc<EmbeddedStore>, tempfile::TempDir) { ... }
//!
//! orderly_store_conformance::outbox_conformance_tests!(fresh_outbox);
//! ```
//!
//! The cases use only the [`Store`] trait and the domain's constructors, never an adapter's
//! internals. Ids come from `ulid::Ulid::new()`, which does not sort ids minted in the same
//! millisecond by minting order, so every ordering a case expects is computed by sorting ids.

// A test suite: a failed expectation is a failing test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod fixtures;

pub mod adjust_stock;
pub mod cancel_order;
pub mod expire_order;
pub mod expiry_races;
pub mod health;
pub mod notifications;
pub mod orders_of;
pub mod outbox;
pub mod overdue_orders;
pub mod payments;
pub mod place_order;
pub mod products;
pub mod profiles;
pub mod reports;
pub mod reservation_limit;
pub mod update_product;

use orderly_core::ports::{OutboxStore, Store};
use std::sync::Arc;

/// What a store factory hands the suite: the store, and whatever must stay alive while a case runs.
pub trait Fixture {
    fn store(&self) -> Arc<dyn Store>;
}

impl Fixture for Arc<dyn Store> {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(self)
    }
}

/// A store with a guard (a temporary directory, a table) dropped only after the case finished.
impl<G> Fixture for (Arc<dyn Store>, G) {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.0)
    }
}

/// What an outbox factory hands the suite: the store both as a [`Store`] (to make events) and as an
/// [`OutboxStore`] (to read them), and whatever must stay alive while a case runs.
pub trait OutboxFixture {
    fn store(&self) -> Arc<dyn Store>;
    fn outbox(&self) -> Arc<dyn OutboxStore>;
}

impl<S: Store + OutboxStore + 'static> OutboxFixture for Arc<S> {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(self) as Arc<dyn Store>
    }
    fn outbox(&self) -> Arc<dyn OutboxStore> {
        Arc::clone(self) as Arc<dyn OutboxStore>
    }
}

/// A store with a guard dropped only after the case finished.
impl<S: Store + OutboxStore + 'static, G> OutboxFixture for (Arc<S>, G) {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.0) as Arc<dyn Store>
    }
    fn outbox(&self) -> Arc<dyn OutboxStore> {
        Arc::clone(&self.0) as Arc<dyn OutboxStore>
    }
}

/// Expands to one `#[tokio::test]` per conformance case, grouped in modules named like the
/// suite's (`products::duplicate_sku_is_refused`, ...). `$make_store` is called once per test:
/// a path to an `async fn` or a closure returning a future of a [`Fixture`].
#[macro_export]
macro_rules! conformance_tests {
    ($make_store:expr) => {
        $crate::__conformance_cases! {
            $make_store;
            health {
                check_health_is_ok,
            }
            products {
                insert_then_get_round_trips,
                duplicate_sku_is_refused,
                products_returns_the_existing_subset,
                active_products_pages_in_id_order,
            }
            update_product {
                applies_the_change_and_bumps_the_version,
                wrong_expected_version_changes_nothing,
                unknown_product_is_not_found,
                some_none_description_clears_it,
            }
            adjust_stock {
                adds_and_subtracts_without_touching_the_version,
                below_zero_is_insufficient_stock,
                above_the_limit_is_refused,
                unknown_product_is_not_found,
                concurrent_adjustments_all_apply,
            }
            place_order {
                reserves_every_line_and_stores_the_order,
                is_all_or_nothing,
                inactive_or_missing_product_is_unavailable,
                idempotency_key_is_taken_once,
                idempotency_keys_are_per_user,
                concurrent_placements_never_oversell,
            }
            reservation_limit {
                refuses_the_order_beyond_the_unpaid_orders_limit,
                refuses_the_units_beyond_the_reserved_units_limit,
                paying_cancelling_or_expiring_gives_the_share_back,
                other_users_are_unaffected,
                a_taken_key_and_short_stock_outrank_the_limit,
                a_burst_stays_within_the_unpaid_orders_limit,
                a_burst_stays_within_the_reserved_units_limit,
            }
            orders_of {
                newest_first_with_paging,
                only_the_users_own_orders,
            }
            cancel_order {
                cancels_an_open_order_and_returns_stock,
                cancelling_twice_is_order_closed,
                past_due_order_cannot_be_cancelled,
                paid_order_cannot_be_cancelled,
                unknown_order_is_not_found,
            }
            overdue_orders {
                includes_only_pending_orders_due_by_the_cutoff,
                earliest_deadline_first_and_limited,
                continues_after_a_given_order,
            }
            expire_order {
                expires_a_due_order_and_returns_stock,
                a_not_yet_due_order_is_order_closed,
                paid_or_cancelled_order_is_order_closed,
                unknown_order_is_not_found,
            }
            expiry_races {
                expiry_racing_payment_and_cancel_has_one_winner,
                two_expiries_racing_have_one_winner,
            }
            payments {
                mark_paid_sets_status_and_remembers_the_event,
                a_seen_payment_event_is_refused_everywhere,
                a_second_payment_on_a_paid_order_is_order_closed,
                flag_refund_due_sets_the_flag_and_leaves_status,
                past_due_order_cannot_be_paid,
                remember_payment_event_twice_is_seen,
                unknown_order_is_not_found,
            }
            profiles {
                insert_profile_keeps_the_first,
                set_display_name_creates_a_missing_profile,
                set_display_name_updates_only_the_name,
            }
            reports {
                paid_orders_between_is_half_open,
                reports_round_trip_and_replace,
            }
            notifications {
                inserted_once_per_id,
                listed_per_user_newest_first_with_paging,
            }
        }
    };
}

/// Expands to one `#[tokio::test]` per outbox case, in a module `outbox`, for a store that
/// implements [`OutboxStore`]. `$make_store` returns a future of an [`OutboxFixture`].
#[macro_export]
macro_rules! outbox_conformance_tests {
    ($make_store:expr) => {
        $crate::__outbox_cases! {
            $make_store;
            state_changes_leave_their_events_unpublished,
            mark_published_removes_exactly_the_given_ids,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __outbox_cases {
    ($make_store:expr; $($case:ident),* $(,)?) => {
        mod outbox {
            #[allow(unused_imports)]
            use super::*;

            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let fixture = ($make_store)().await;
                    $crate::outbox::$case(
                        $crate::OutboxFixture::store(&fixture),
                        $crate::OutboxFixture::outbox(&fixture),
                    )
                    .await;
                    ::std::mem::drop(fixture);
                }
            )*
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($make_store:expr; $($module:ident { $($case:ident),* $(,)? })*) => {
        $(
            mod $module {
                #[allow(unused_imports)]
                use super::*;

                $(
                    #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $case() {
                        let fixture = ($make_store)().await;
                        $crate::$module::$case($crate::Fixture::store(&fixture)).await;
                        ::std::mem::drop(fixture);
                    }
                )*
            }
        )*
    };
}
