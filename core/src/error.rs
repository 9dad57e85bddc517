//! The one error type of the core. Every failure a request can meet is a variant here; the API
//! layer turns each into its problem+json answer in exactly one place (`api::problem`).

use crate::domain::{HoldingLimit, ProductId};
use crate::ports::StoreError;
use serde::Serialize;

/// One offending input, named by its JSON path (`items[0].quantity`, `$` for the whole body) or
/// by the header or query parameter's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the request is invalid")]
    Validation(Vec<FieldError>),
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    #[error("invalid webhook signature: {0}")]
    InvalidSignature(&'static str),
    /// Authenticated, but without what the operation needs, which the answer names so that the
    /// caller knows what to ask for.
    #[error("this operation needs {needs}")]
    Forbidden { needs: &'static str },
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed { allow: String },
    #[error("a product with SKU {0} already exists")]
    SkuTaken(String),
    #[error("not enough stock of product {0}")]
    InsufficientStock(ProductId),
    #[error("stock would exceed 1000000 units")]
    StockLimit,
    /// The order would take the user's unpaid orders beyond the reservation limit `limit`, which
    /// allows at most `most`; `order_units` is what this order asked for.
    #[error("the reservation limit on {} ({most}) is reached; the order asked for {order_units} units", .limit.as_str())]
    ReservationLimit {
        limit: HoldingLimit,
        most: u32,
        order_units: u64,
    },
    #[error("{0}")]
    InvalidState(String),
    #[error("a request with this Idempotency-Key is still in progress")]
    RequestInProgress,
    #[error("{0}")]
    AmountMismatch(String),
    #[error("the resource has changed: If-Match does not match version {current}")]
    VersionMismatch { current: u64 },
    #[error("the request body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => Error::Unavailable(detail),
            StoreError::Internal(detail) => Error::Internal(detail),
            // Services handle the conflicts they expect; one reaching here is a bug.
            StoreError::Conflict(conflict) => Error::Internal(format!("unexpected store conflict: {conflict}")),
        }
    }
}
