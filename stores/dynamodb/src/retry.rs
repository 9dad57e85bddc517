//! Retrying transactions that lost a race. DynamoDB cancels a transaction that touches an item
//! another transaction is changing (`TransactionConflict`); under a burst of orders for one product
//! that is common, and it says nothing about the order's validity, so we try again after a short,
//! jittered pause (exponential backoff, "full jitter") instead of failing the buyer. Each conflict
//! and each retry is counted (`dynamodb_conflicts`, `dynamodb_retries`; `orderly_core::metrics`),
//! so a hot item shows on the dashboard before its buyers feel it.

use rand::Rng;
use std::time::Duration;

pub const MAX_ATTEMPTS: u32 = 10;
/// However many attempts are left, stop retrying after this long: a request must answer well
/// within a Lambda's timeout (10 s, which also covers the SDK's own per-call limit of 3 s).
pub const BUDGET: Duration = Duration::from_secs(4);
const BASE: Duration = Duration::from_millis(10);
const CAP: Duration = Duration::from_millis(400);

/// The pause before retry number `attempt` (1-based): uniform in `[0, min(CAP, BASE * 2^attempt))`.
pub fn backoff(attempt: u32) -> Duration {
    let ceiling = BASE.saturating_mul(1u32 << attempt.min(16)).min(CAP);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(rand::thread_rng().gen_range(0..millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..30 {
            assert!(backoff(attempt) < CAP);
        }
        assert!((0..100).all(|_| backoff(1) < Duration::from_millis(20)));
    }
}
