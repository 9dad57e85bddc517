//! The business's metrics, named once and recorded once, where the thing they count happens; the
//! runtime around the core exports them: CloudWatch Embedded Metric Format deployed (one document
//! per invocation, namespace `Orderly`, the function as a dimension), Prometheus text locally
//! (`orderly serve --metrics-addr`, names prefixed `orderly_`).
//!
//! Recording goes through the `metrics` facade: with no recorder installed (unit tests, the
//! one-shot `orderly jobs` commands, a server without `--metrics-addr`) every call here is a
//! no-op costing a relaxed atomic load. Names are lowercase snake case, and every label is one of
//! a few fixed values (an operation, a status class, a reason, a job, a limit): never an id, so
//! the number of series stays small in both backends.

use crate::domain::HoldingLimit;
use crate::jobs::Job;
use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};
use std::time::Duration;

/// Answers given, by `operation` (the route's function name, `none` for no route) and
/// `status_class` (`2xx`, `4xx`, `5xx`).
pub const REQUESTS: &str = "requests";
/// Time to answer, in milliseconds, by `operation`: from the request's arrival in the core to its
/// answer (the runtime's own parsing and the network are not in it).
pub const LATENCY_MS: &str = "latency_ms";
/// Orders placed (committed; a replayed retry is not a new order).
pub const ORDERS_PLACED: &str = "orders_placed";
/// Each placed order's total, in cents of the deployment's currency.
pub const ORDER_VALUE_CENTS: &str = "order_value_cents";
/// Orders refused for want of stock (`409 insufficient-stock`).
pub const STOCK_OUTS: &str = "stock_outs";
/// Orders refused by the reservation limit (`409 reservation-limit`), by `limit`
/// (`unpaid_orders`, `reserved_units`).
pub const RESERVATION_LIMITS: &str = "reservation_limits";
/// Retries of a keyed order request answered with the first request's answer.
pub const IDEMPOTENT_REPLAYS: &str = "idempotent_replays";
/// Payment webhooks refused, by `reason` (see [`WebhookRejection`]).
pub const WEBHOOK_REJECTIONS: &str = "webhook_rejections";
/// DynamoDB transactions cancelled because they raced another one (the adapter retries them).
pub const DYNAMODB_CONFLICTS: &str = "dynamodb_conflicts";
/// Calls the DynamoDB adapter sent again itself: a transaction after a conflict, or the keys a
/// `BatchGetItem` left unprocessed (the SDK's own retries of one call are not counted).
pub const DYNAMODB_RETRIES: &str = "dynamodb_retries";
/// Lambda cold starts, by function: emitted by the functions' exporter on an instance's first
/// invocation (there is no cold start locally).
pub const COLD_STARTS: &str = "cold_starts";
/// Items a job handled, by `job` (its function name in `crate::jobs`): events relayed,
/// notifications recorded, orders expired, reports computed.
pub const JOB_PROCESSED: &str = "job_processed";
/// Items a job failed on, by `job`, left for a retry or set aside; a run that failed as a whole
/// (nothing could be read) counts as one.
pub const JOB_FAILED: &str = "job_failed";

/// Every metric with its unit and meaning, for the exporter to describe (Prometheus's `# HELP`,
/// CloudWatch's units). Call it once, after installing the recorder.
pub fn describe() {
    describe_counter!(REQUESTS, Unit::Count, "Answers given, by operation and status class");
    describe_histogram!(LATENCY_MS, Unit::Milliseconds, "Time to answer a request, by operation");
    describe_counter!(ORDERS_PLACED, Unit::Count, "Orders placed");
    // Cents have no CloudWatch unit (left out, as "None").
    describe_histogram!(ORDER_VALUE_CENTS, "Total of each placed order, in cents");
    describe_counter!(STOCK_OUTS, Unit::Count, "Orders refused for insufficient stock");
    describe_counter!(
        RESERVATION_LIMITS,
        Unit::Count,
        "Orders refused by the reservation limit, by limit"
    );
    describe_counter!(
        IDEMPOTENT_REPLAYS,
        Unit::Count,
        "Order retries answered from their idempotency key"
    );
    describe_counter!(WEBHOOK_REJECTIONS, Unit::Count, "Payment webhooks refused, by reason");
    describe_counter!(
        DYNAMODB_CONFLICTS,
        Unit::Count,
        "DynamoDB transactions cancelled by a conflict"
    );
    describe_counter!(
        DYNAMODB_RETRIES,
        Unit::Count,
        "DynamoDB calls the store sent again itself"
    );
    describe_counter!(COLD_STARTS, Unit::Count, "Lambda cold starts");
    describe_counter!(JOB_PROCESSED, Unit::Count, "Items a job handled, by job");
    describe_counter!(JOB_FAILED, Unit::Count, "Items a job failed on, by job");
}

/// A request was answered with `status` after `latency`.
pub fn request_answered(operation: &'static str, status: u16, latency: Duration) {
    counter!(REQUESTS, "operation" => operation, "status_class" => status_class(status)).increment(1);
    histogram!(LATENCY_MS, "operation" => operation).record(latency.as_secs_f64() * 1_000.0);
}

/// An order worth `value_cents` was placed.
pub fn order_placed(value_cents: i64) {
    counter!(ORDERS_PLACED).increment(1);
    histogram!(ORDER_VALUE_CENTS).record(value_cents as f64);
}

/// An order was refused: a line asked for more than the stock.
pub fn stock_out() {
    counter!(STOCK_OUTS).increment(1);
}

/// An order was refused: its user already held as much in unpaid orders as `limit` allows.
pub fn reservation_limit(limit: HoldingLimit) {
    counter!(RESERVATION_LIMITS, "limit" => limit.as_str()).increment(1);
}

/// A keyed order request was answered with the answer its key keeps.
pub fn idempotent_replay() {
    counter!(IDEMPOTENT_REPLAYS).increment(1);
}

/// Why a payment webhook was refused: the `reason` label's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookRejection {
    /// Missing, malformed, stale or wrong `Webhook-Signature` (401).
    InvalidSignature,
    /// Not JSON, or not a payment event (400, 415).
    Validation,
    /// The order does not exist (404).
    NotFound,
    /// The amount or currency is not the order's (409).
    AmountMismatch,
}

impl WebhookRejection {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookRejection::InvalidSignature => "invalid-signature",
            WebhookRejection::Validation => "validation",
            WebhookRejection::NotFound => "not-found",
            WebhookRejection::AmountMismatch => "amount-mismatch",
        }
    }
}

/// A payment webhook was refused for `reason`.
pub fn webhook_rejected(reason: WebhookRejection) {
    counter!(WEBHOOK_REJECTIONS, "reason" => reason.as_str()).increment(1);
}

/// `job` handled `n` items.
pub fn job_processed(job: &Job, n: usize) {
    counter!(JOB_PROCESSED, "job" => job.function).increment(count(n));
}

/// `job` failed on `n` items.
pub fn job_failed(job: &Job, n: usize) {
    counter!(JOB_FAILED, "job" => job.function).increment(count(n));
}

/// A DynamoDB transaction was cancelled by a conflicting one.
pub fn dynamodb_conflict() {
    counter!(DYNAMODB_CONFLICTS).increment(1);
}

/// The DynamoDB adapter sent a call again.
pub fn dynamodb_retry() {
    counter!(DYNAMODB_RETRIES).increment(1);
}

/// `2xx`, `4xx`, `5xx` (and `1xx`, `3xx`, which the API never answers).
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_are_the_first_digit() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(201), "2xx");
        assert_eq!(status_class(404), "4xx");
        assert_eq!(status_class(409), "4xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(302), "3xx");
    }

    #[test]
    fn recording_without_a_recorder_is_harmless() {
        request_answered("get-product", 200, Duration::from_micros(1_500));
        order_placed(1_250);
        webhook_rejected(WebhookRejection::AmountMismatch);
        reservation_limit(HoldingLimit::ReservedUnits);
        job_processed(&crate::jobs::NOTIFY, 3);
    }
}
