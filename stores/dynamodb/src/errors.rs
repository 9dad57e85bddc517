//! How SDK failures become store errors: what is worth a retry later (503) and what is a bug (500),
//! and how a cancelled transaction tells which of its conditions failed.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::CancellationReason;
use orderly_core::ports::StoreError;

/// Error codes that mean "DynamoDB is overloaded or briefly failing", not "your request is wrong".
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
    "TransactionInProgressException",
];

/// Any SDK failure as a store error. Timeouts and connection failures (the endpoint is down or
/// unreachable) and throttling are `Unavailable`; everything else is `Internal`.
pub fn sdk<E, R>(operation: &str, error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => service.err().code().is_some_and(|code| TRANSIENT_CODES.contains(&code)),
        _ => false,
    };
    let detail = format!("{operation}: {}", DisplayErrorContext(&error));
    if transient {
        StoreError::Unavailable(detail)
    } else {
        StoreError::Internal(detail)
    }
}

pub fn build(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("building {what}: {error}"))
}

/// The code of each action's cancellation reason, by position.
pub fn reason_code(reasons: &[CancellationReason], index: usize) -> &str {
    reasons.get(index).and_then(|r| r.code()).unwrap_or("None")
}

pub fn is_conflict(reasons: &[CancellationReason]) -> bool {
    reasons.iter().any(|r| matches!(r.code(), Some("TransactionConflict")))
}
