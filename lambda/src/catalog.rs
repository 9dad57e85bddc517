//! Which function wraps which operation: the one list `functions/`, `template.yaml` and `events/`
//! are checked against (with the one function that serves no operation, the `$default` route's).

use orderly_core::api::Operation;

/// (function name, the operation it serves), one per route of the contract.
pub const FUNCTIONS: &[(&str, Operation)] = &[
    ("check-health", Operation::Health),
    ("get-profile", Operation::GetMe),
    ("update-profile", Operation::UpdateMe),
    ("list-products", Operation::ListProducts),
    ("create-product", Operation::CreateProduct),
    ("get-product", Operation::GetProduct),
    ("update-product", Operation::UpdateProduct),
    ("adjust-stock", Operation::AdjustStock),
    ("list-orders", Operation::ListOrders),
    ("create-order", Operation::PlaceOrder),
    ("get-order", Operation::GetOrder),
    ("cancel-order", Operation::CancelOrder),
    ("payment-webhook", Operation::PaymentWebhook),
    ("get-daily-report", Operation::GetDailyReport),
    ("compute-daily-report", Operation::ComputeDailyReport),
];

/// The function behind the API's `$default` route, which answers every request API Gateway matched
/// to no route above (`orderly_functions::run_unrouted`).
pub const UNROUTED_FUNCTION: &str = "reject-unknown-route";

/// The function that serves `operation`.
pub fn function_for(operation: Operation) -> Option<&'static str> {
    FUNCTIONS.iter().find(|(_, op)| *op == operation).map(|(name, _)| *name)
}
