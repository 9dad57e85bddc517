//! The health check.

use orderly_core::ports::Store;
use std::sync::Arc;

/// A fresh store answers its health check.
pub async fn check_health_is_ok(store: Arc<dyn Store>) {
    if let Err(e) = store.check_health().await {
        panic!("check_health on a fresh store failed: {e:?}");
    }
}
