//! A function's configuration, read once per cold start. From its environment, which the SAM
//! template sets: `TABLE_NAME`, `ORDER_TTL_SECONDS`, `MAX_UNPAID_ORDERS_PER_USER`,
//! `MAX_RESERVED_UNITS_PER_USER`, `CURRENCY`, and `SSL_CERT_FILE`, where the HTTPS client's root
//! certificates are. And the secrets its route uses (`Route::secrets`), each from the SSM
//! Parameter Store SecureString its environment names: the payment webhook's secret for
//! payment-webhook, the list cursors' key for the list functions, nothing for the rest.

use crate::xray::{AwsCalls, XrayDaemon};
use aws_sdk_ssm::types::ParameterType;
use orderly_core::api::SecretUse;
use orderly_core::auth::Authenticator;
use orderly_core::config::{Secret, Secrets};
use orderly_core::ports::{SystemClock, UlidGenerator};
use orderly_core::{App, Settings};
use orderly_store_dynamodb::client::{self, SdkConfig};
use orderly_store_dynamodb::{table, DynamoStore, OrderShards};
use std::collections::HashMap;
use std::sync::Arc;

pub use orderly_core::ConfigError;

/// The root certificates' one file, read by the HTTPS client (rustls-native-certs) instead of the
/// system's certificate directory, file by file, at every cold start. The template names the
/// runtime image's bundle. A file that cannot be read would leave the client trusting no server,
/// every call failing, so it is checked here and the cold start fails naming it.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// The name (not the value) of the SecureString parameter holding the payment provider's webhook
/// secret: set by the template on payment-webhook only.
pub const PAYMENT_WEBHOOK_SECRET_PARAMETER: &str = "PAYMENT_WEBHOOK_SECRET_PARAMETER";

/// The name of the SecureString parameter holding the list cursors' key: set by the template on
/// the list functions only.
pub const CURSOR_KEY_PARAMETER: &str = "CURSOR_KEY_PARAMETER";

/// The endpoint variables the SDK reads for the services the functions call. Set but empty, the
/// SDK takes "" for an endpoint and panics at the first call; SAM's local emulator sets every
/// variable the template declares that it cannot resolve to "" (`!If` among them). Refused here,
/// at the cold start, by name.
pub const ENDPOINT_VARIABLES: [&str; 4] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_SQS",
];

pub struct FunctionConfig {
    settings: Settings,
    table: String,
    order_shards: OrderShards,
}

impl FunctionConfig {
    /// The configuration at a cold start of a function whose route uses no secret (most of
    /// them): the environment alone. It never names SSM, so such a binary does not link the SSM
    /// client at all (docs/BENCHMARKS.md, binary sizes). A route that uses a secret is refused:
    /// its `main` calls `run_with_secrets` (a test checks every `main`).
    /// With it, the SDK's configuration from the Lambda environment (`client::sdk_config_for_lambda`).
    pub async fn from_environment(uses: SecretUse) -> Result<(Self, SdkConfig), ConfigError> {
        if uses != SecretUse::default() {
            return Err(ConfigError::new(
                "main",
                "this function's route uses a secret: its main must call run_with_secrets",
            ));
        }
        let vars: HashMap<String, String> = std::env::vars().collect();
        no_empty_endpoint(&vars)?;
        let sdk = client::sdk_config_for_lambda(&vars)?;
        Ok((Self::from_vars(&vars, Secrets::default())?, sdk))
    }

    /// The configuration at a cold start of a function whose route uses secrets: the
    /// environment, and from SSM the secrets in `uses`; with the SDK's configuration.
    pub async fn from_environment_with_secrets(uses: SecretUse) -> Result<(Self, SdkConfig), ConfigError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        // Before the SSM client below makes its first call.
        no_empty_endpoint(&vars)?;
        let sdk = client::sdk_config_for_lambda(&vars)?;
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        let secrets = read_secrets(&ssm, &vars, uses).await?;
        Ok((Self::from_vars(&vars, secrets)?, sdk))
    }

    /// The configuration from environment-like pairs and secrets already read (by
    /// [`read_secrets`], or handed over directly by a test).
    pub fn from_vars(vars: &HashMap<String, String>, secrets: Secrets) -> Result<Self, ConfigError> {
        let settings = Settings::from_vars(vars, secrets)?;
        let table = table::table_name_from(vars)?;
        let order_shards = table::order_shards_from(vars)?;
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
        Ok(FunctionConfig {
            settings,
            table,
            order_shards,
        })
    }

    /// The app on DynamoDB with the client from the standard AWS environment, its calls recorded in
    /// X-Ray when the function is traced. Deployed, API Gateway's JWT authorizer has verified the
    /// caller; the function trusts its claims.
    pub fn app(self, sdk: &SdkConfig, xray: Option<&Arc<XrayDaemon>>) -> App {
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk);
        if xray.is_some() {
            let region = sdk.region().map(ToString::to_string);
            dynamodb = dynamodb.interceptor(AwsCalls::new(region, Some(self.table.clone())));
        }
        self.app_with(orderly_store_dynamodb::Client::from_conf(dynamodb.build()))
    }

    pub fn app_with(self, dynamodb: orderly_store_dynamodb::Client) -> App {
        let clock = Arc::new(SystemClock);
        App::new(
            Arc::new(DynamoStore::new(dynamodb, self.table).with_order_shards(self.order_shards)),
            clock.clone(),
            Arc::new(UlidGenerator::new(clock)),
            self.settings,
            Authenticator::GatewayClaims,
        )
    }
}

/// The secrets in `uses`, each read from the SecureString parameter its variable names, decrypted.
/// Any failure names the variable and the parameter, and fails the cold start: a function that
/// started without its secret would fail every request instead.
pub async fn read_secrets(
    ssm: &aws_sdk_ssm::Client,
    vars: &HashMap<String, String>,
    uses: SecretUse,
) -> Result<Secrets, ConfigError> {
    let mut secrets = Secrets::default();
    if uses.webhook_secret {
        secrets.webhook_secret = Some(read_parameter(ssm, vars, PAYMENT_WEBHOOK_SECRET_PARAMETER).await?);
    }
    if uses.cursor_key {
        secrets.cursor_key = Some(read_parameter(ssm, vars, CURSOR_KEY_PARAMETER).await?);
    }
    Ok(secrets)
}

async fn read_parameter(
    ssm: &aws_sdk_ssm::Client,
    vars: &HashMap<String, String>,
    variable: &'static str,
) -> Result<Secret, ConfigError> {
    let name = vars
        .get(variable)
        .filter(|name| !name.trim().is_empty())
        .ok_or_else(|| {
            ConfigError::new(
                variable,
                "must be set to the name of the SSM SecureString parameter holding the secret",
            )
        })?;
    let fail = |why: String| ConfigError::new(variable, format!("SSM parameter {name:?}: {why}"));
    let answer = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|error| {
            fail(format!(
                "cannot be read: {}",
                aws_sdk_ssm::error::DisplayErrorContext(&error)
            ))
        })?;
    let parameter = answer.parameter.ok_or_else(|| fail("SSM answered without it".into()))?;
    // A String parameter would hold the secret in plain text, readable with ssm:GetParameter
    // alone: refused, so that the mistake is fixed rather than kept.
    if parameter.r#type != Some(ParameterType::SecureString) {
        let kind = parameter.r#type.as_ref().map_or("untyped", |t| t.as_str());
        return Err(fail(format!("is a {kind} parameter, not a SecureString")));
    }
    match parameter.value {
        Some(value) if !value.is_empty() => Ok(Secret::new(value.into_bytes())),
        _ => Err(fail("is empty".into())),
    }
}

/// Refuses an endpoint variable set but empty (see [`ENDPOINT_VARIABLES`]).
pub fn no_empty_endpoint(vars: &HashMap<String, String>) -> Result<(), ConfigError> {
    for variable in ENDPOINT_VARIABLES {
        if vars.get(variable).is_some_and(|value| value.trim().is_empty()) {
            return Err(ConfigError::new(
                variable,
                "is set but empty: unset it (the service's own endpoint), or give the URL of the \
                 server standing in for the service (sam local: --env-vars, see scripts/sam_local.py)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(extra: &[(&str, &str)]) -> HashMap<String, String> {
        [("TABLE_NAME", "orderly")]
            .iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn config(vars: &HashMap<String, String>) -> Result<FunctionConfig, ConfigError> {
        FunctionConfig::from_vars(vars, Secrets::default())
    }

    #[test]
    fn a_root_certificate_file_that_cannot_be_read_fails_the_cold_start_naming_it() {
        let missing = config(&vars(&[(SSL_CERT_FILE, "/no/such/ca-bundle.crt")]));
        assert!(matches!(
            missing,
            Err(ConfigError {
                variable: SSL_CERT_FILE,
                ..
            })
        ));
        let directory = config(&vars(&[(SSL_CERT_FILE, env!("CARGO_MANIFEST_DIR"))]));
        assert!(matches!(
            directory,
            Err(ConfigError {
                variable: SSL_CERT_FILE,
                ..
            })
        ));
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        assert!(config(&vars(&[(SSL_CERT_FILE, file)])).is_ok());
        assert!(config(&vars(&[])).is_ok(), "unset: the system's roots");
    }

    #[test]
    fn an_endpoint_variable_set_but_empty_fails_the_cold_start_naming_it() {
        for variable in ENDPOINT_VARIABLES {
            for empty in ["", " "] {
                let refused = no_empty_endpoint(&vars(&[(variable, empty)]));
                assert!(
                    matches!(refused, Err(ConfigError { variable: named, .. }) if named == variable),
                    "{variable}={empty:?}"
                );
            }
            assert!(no_empty_endpoint(&vars(&[(variable, "http://127.0.0.1:8000")])).is_ok());
        }
    }
}
