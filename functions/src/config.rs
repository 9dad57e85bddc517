//! A function's configuration, read once per cold start from its environment, which the SAM
//! template sets: `TABLE_NAME`, `PAYMENT_WEBHOOK_SECRET`, `ORDER_TTL_SECONDS`, `CURRENCY`.

use crate::xray::{AwsCalls, XrayDaemon};
use orderly_core::auth::Authenticator;
use orderly_core::config::{Secret, PAYMENT_WEBHOOK_SECRET};
use orderly_core::ports::{SystemClock, UlidGenerator};
use orderly_core::{App, Settings};
use orderly_store_dynamodb::{client, table, DynamoStore};
use std::collections::HashMap;
use std::sync::Arc;

pub use orderly_core::ConfigError;

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
