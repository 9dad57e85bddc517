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
use crate::domain::Timestamp;
use crate::ports::{Clock, IdGenerator, Store};
use crate::Error;
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
}

impl App {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        settings: Settings,
        authenticator: Authenticator,
    ) -> Self {
        App {
            store,
            clock,
            ids,
            settings,
            authenticator,
        }
    }

    /// The payment provider's webhook secret. Missing only where this process was given no
    /// secret for a route it serves, which is a deployment's bug: a 500, never a pass.
    pub fn webhook_secret(&self) -> Result<&Secret, Error> {
        self.settings
            .secrets
            .webhook_secret
            .as_ref()
            .ok_or_else(|| Error::Internal("this process holds no webhook secret".into()))
    }

    /// The key that signs list cursors; missing as [`App::webhook_secret`] may be.
    pub fn cursor_key(&self) -> Result<&Secret, Error> {
        self.settings
            .secrets
            .cursor_key
            .as_ref()
            .ok_or_else(|| Error::Internal("this process holds no cursor key".into()))
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}
