//! A function's configuration, read once per cold start from its environment, which the SAM
//! template sets: `TABLE_NAME`, `PAYMENT_WEBHOOK_SECRET`, `ORDER_TTL_SECONDS`,
//! `MAX_UNPAID_ORDERS_PER_USER`, `MAX_RESERVED_UNITS_PER_USER`, `CURRENCY`, and `SSL_CERT_FILE`,
//! where the HTTPS client's root certificates are.

use crate::xray::{AwsCalls, XrayDaemon};
use orderly_core::auth::Authenticator;
use orderly_core::config::{Secret, PAYMENT_WEBHOOK_SECRET};
use orderly_core::ports::{SystemClock, UlidGenerator};
use orderly_core::{App, Settings};
use orderly_store_dynamodb::{client, table, DynamoStore};
use std::collections::HashMap;
use std::sync::Arc;

pub use orderly_core::ConfigError;

/// The root certificates' one file, read by the HTTPS client (rustls-native-certs) instead of the
/// system's certificate directory, file by file, at every cold start. The template names the
/// runtime image's bundle. A file that cannot be read would leave the client trusting no server,
/// every call failing, so it is checked here and the cold start fails naming it.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

pub struct FunctionConfig {
    settings: Settings,
    table: String,
}

impl FunctionConfig {
    pub fn from_environment() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let secret = vars
            .get(PAYMENT_WEBHOOK_SECRET)
            .ok_or_else(|| ConfigError::new(PAYMENT_WEBHOOK_SECRET, "must be set"))?;
        let settings = Settings::from_vars(vars, Secret::new(secret.as_bytes()))?;
        let table = table::table_name_from(vars)?;
        if let Some(path) = vars.get(SSL_CERT_FILE) {
            let readable = std::fs::File::open(path)
                .and_then(|file| file.metadata())
                .is_ok_and(|m| m.is_file());
            if !readable {
                return Err(ConfigError::new(
                    SSL_CERT_FILE,
                    format!("{path:?} is not a readable file of root certificates"),
                ));
            }
        }
        Ok(FunctionConfig { settings, table })
    }

    /// The app on DynamoDB with the client from the standard AWS environment, its calls recorded in
    /// X-Ray when the function is traced. Deployed, API Gateway's JWT authorizer has verified the
    /// caller; the function trusts its claims.
    pub async fn app(self, xray: Option<&Arc<XrayDaemon>>) -> App {
        let sdk = client::sdk_config_from_environment().await;
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(&sdk);
        if xray.is_some() {
            let region = sdk.region().map(ToString::to_string);
            dynamodb = dynamodb.interceptor(AwsCalls::new(region, Some(self.table.clone())));
        }
        self.app_with(orderly_store_dynamodb::Client::from_conf(dynamodb.build()))
    }

    pub fn app_with(self, dynamodb: orderly_store_dynamodb::Client) -> App {
        let clock = Arc::new(SystemClock);
        App::new(
            Arc::new(DynamoStore::new(dynamodb, self.table)),
            clock.clone(),
            Arc::new(UlidGenerator::new(clock)),
            self.settings,
            Authenticator::GatewayClaims,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(extra: &[(&str, &str)]) -> HashMap<String, String> {
        [
            ("TABLE_NAME", "orderly"),
            (PAYMENT_WEBHOOK_SECRET, "whsec_config_test_0123456789"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn a_root_certificate_file_that_cannot_be_read_fails_the_cold_start_naming_it() {
        let missing = FunctionConfig::from_vars(&vars(&[(SSL_CERT_FILE, "/no/such/ca-bundle.crt")]));
        assert!(matches!(
            missing,
            Err(ConfigError {
                variable: SSL_CERT_FILE,
                ..
            })
        ));
        let directory = FunctionConfig::from_vars(&vars(&[(SSL_CERT_FILE, env!("CARGO_MANIFEST_DIR"))]));
        assert!(matches!(
            directory,
            Err(ConfigError {
                variable: SSL_CERT_FILE,
                ..
            })
        ));
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        assert!(FunctionConfig::from_vars(&vars(&[(SSL_CERT_FILE, file)])).is_ok());
        assert!(
            FunctionConfig::from_vars(&vars(&[])).is_ok(),
            "unset: the system's roots"
        );
    }
}
