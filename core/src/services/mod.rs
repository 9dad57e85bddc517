//! Application services: the use cases, each a plain async function over the ports in [`App`].
//! They enforce the business's rules and turn the store's conflicts into typed errors.

pub mod catalog;
pub mod expiry;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod profiles;
pub mod relay;
pub mod reports;

use crate::auth::Authenticator;
use crate::config::{Secret, Settings};
use crate::crypto::hmac_sha256;
use crate::domain::Timestamp;
use crate::ports::{Clock, IdGenerator, Store};
use std::sync::Arc;

/// Everything a request needs, built once at start-up and shared by every request. No global
/// state: a Lambda keeps one of these warm; the local server shares one across its workers.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    pub settings: Settings,
    pub authenticator: Authenticator,
    /// Signs list cursors; derived from the webhook secret so no extra secret must be managed
    /// (rotating that secret only invalidates cursors in flight).
    pub(crate) cursor_key: Secret,
}

impl App {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        settings: Settings,
        authenticator: Authenticator,
    ) -> Self {
        let cursor_key =
            Secret::new(hmac_sha256(settings.webhook_secret.expose(), &[b"orderly list cursors v1"]).to_vec());
        App {
            store,
            clock,
            ids,
            settings,
            authenticator,
            cursor_key,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}
