//! The DynamoDB client, built once at start-up and shared. Endpoint, region and credentials come
//! from the standard AWS environment (`AWS_ENDPOINT_URL`, `AWS_REGION`, ...); time limits and
//! attempts from [`SdkTimeouts`]: a function's fit inside a Lambda's timeout
//! ([`SdkTimeouts::LAMBDA`]), the local server's leave room for DynamoDB Local on a busy laptop
//! ([`SdkTimeouts::LOCAL`]) and can be set with the `ORDERLY_DYNAMODB_*` variables.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
pub use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use orderly_core::ConfigError;
use std::collections::HashMap;
use std::time::Duration;

/// How long opening a connection may take, in milliseconds.
pub const CONNECT_TIMEOUT_MS: &str = "ORDERLY_DYNAMODB_CONNECT_TIMEOUT_MS";
/// How long one attempt of a call may take, in milliseconds.
pub const ATTEMPT_TIMEOUT_MS: &str = "ORDERLY_DYNAMODB_ATTEMPT_TIMEOUT_MS";
/// How long a call may take with all its attempts, in milliseconds.
pub const OPERATION_TIMEOUT_MS: &str = "ORDERLY_DYNAMODB_OPERATION_TIMEOUT_MS";
/// How many attempts a call makes at most.
pub const MAX_ATTEMPTS: &str = "ORDERLY_DYNAMODB_MAX_ATTEMPTS";

const LONGEST_MS: u64 = 600_000;
const MOST_ATTEMPTS: u32 = 10;

/// The SDK's time limits and attempts. Retries use the SDK's standard mode: exponential backoff
/// with jitter for throttling and transient errors, and a retry quota so that an outage is not
/// made worse by retry storms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkTimeouts {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
    pub max_attempts: u32,
}

impl SdkTimeouts {
    /// A deployed function's: three attempts of 1 s within 3 s, well inside the functions'
    /// timeout, so that a function answers 503 itself rather than being cut off by Lambda.
    pub const LAMBDA: SdkTimeouts = SdkTimeouts {
        connect: Duration::from_millis(500),
        attempt: Duration::from_secs(1),
        operation: Duration::from_secs(3),
        max_attempts: 3,
    };

    /// The local server's (and the `orderly` tools'): DynamoDB Local is a JVM sharing a laptop's
    /// cores with the server and whatever else runs, whose calls take up to a second under load
    /// (docs/BENCHMARKS.md): a 1 s attempt would time out calls that were about to succeed, and
    /// retry writes that may already have been made. Three attempts of 3 s within 10 s.
    pub const LOCAL: SdkTimeouts = SdkTimeouts {
        connect: Duration::from_secs(1),
        attempt: Duration::from_secs(3),
        operation: Duration::from_secs(10),
        max_attempts: 3,
    };

    /// `defaults`, with each `ORDERLY_DYNAMODB_*` variable that is set in its place. Durations are
    /// whole milliseconds from 1 to 600000, attempts 1 to 10, and a call's timeout is at least
    /// one attempt's; anything else is refused by name.
    pub fn from_vars(vars: &HashMap<String, String>, defaults: SdkTimeouts) -> Result<Self, ConfigError> {
        let timeouts = SdkTimeouts {
            connect: millis(vars, CONNECT_TIMEOUT_MS, defaults.connect)?,
            attempt: millis(vars, ATTEMPT_TIMEOUT_MS, defaults.attempt)?,
            operation: millis(vars, OPERATION_TIMEOUT_MS, defaults.operation)?,
            max_attempts: orderly_core::config::whole_number(
                vars,
                MAX_ATTEMPTS,
                defaults.max_attempts,
                1..=MOST_ATTEMPTS,
            )?,
        };
        if timeouts.operation < timeouts.attempt {
            return Err(ConfigError::new(
                OPERATION_TIMEOUT_MS,
                format!(
                    "must be at least one attempt's timeout ({ATTEMPT_TIMEOUT_MS}, {} ms)",
                    timeouts.attempt.as_millis()
                ),
            ));
        }
        Ok(timeouts)
    }
}

impl SdkTimeouts {
    fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard().with_max_attempts(self.max_attempts)
    }

    fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

fn millis(vars: &HashMap<String, String>, variable: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    orderly_core::config::milliseconds(vars, variable, default, 1..=LONGEST_MS)
}

/// HTTPS for the SDK: rustls with ring, trusting the system's root certificates.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}

/// The SDK's configuration for a deployed function: the AWS environment, [`SdkTimeouts::LAMBDA`].
pub async fn sdk_config_from_environment() -> aws_config::SdkConfig {
    sdk_config(SdkTimeouts::LAMBDA).await
}

pub const REGION: &str = "AWS_REGION";
pub const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
pub const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";

/// The SDK's configuration for a deployed function, from the environment Lambda gives every
/// function: its region, its execution role's credentials, and the endpoints SAM's emulator
/// points at local servers (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`); with
/// [`SdkTimeouts::LAMBDA`], or the `ORDERLY_DYNAMODB_*` variables where the template sets them.
/// Not aws-config's default chain: a Lambda always has its credentials in
/// its environment, and the chain's other sources (profile files, web identity through STS,
/// containers, IMDS) were code every function carried and never ran, about 0.3 MB of each binary
/// (docs/BENCHMARKS.md, binary sizes). A missing region or key fails the cold start, by name.
pub fn sdk_config_for_lambda(vars: &HashMap<String, String>) -> Result<aws_config::SdkConfig, ConfigError> {
    let required = |name: &'static str| {
        vars.get(name)
            .filter(|value| !value.is_empty())
            .cloned()
            .ok_or_else(|| ConfigError::new(name, "must be set (Lambda sets it for every function)"))
    };
    let credentials = aws_sdk_dynamodb::config::Credentials::new(
        required(ACCESS_KEY_ID)?,
        required(SECRET_ACCESS_KEY)?,
        vars.get(SESSION_TOKEN).filter(|token| !token.is_empty()).cloned(),
        None,
        "LambdaEnvironment",
    );
    let timeouts = SdkTimeouts::from_vars(vars, SdkTimeouts::LAMBDA)?;
    let mut config = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new(required(REGION)?))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(credentials))
        .http_client(https_client())
        .retry_config(timeouts.retry_config())
        .timeout_config(timeouts.timeout_config())
        // Stalled-stream protection watches every response body's throughput, at a cost in every
        // call; the attempt timeout above already ends any call that stalls, well before it would.
        .stalled_stream_protection(aws_types::sdk_config::StalledStreamProtectionConfig::disabled())
        .service_config(ServiceEndpoints(
            vars.iter()
                .filter(|(name, _)| name.starts_with("AWS_ENDPOINT_URL_"))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        ));
    if let Some(endpoint) = vars.get(ENDPOINT_URL) {
        config = config.endpoint_url(endpoint);
    }
    Ok(config.build())
}

/// The services' own endpoint variables (`AWS_ENDPOINT_URL_DYNAMODB`, `_SSM`, `_SQS`), as the SDK
/// asks for it when a client is built: the variable the SDK names, then `_` and the service's id
/// in capitals, spaces as `_` (the SDK's documented naming).
#[derive(Debug)]
struct ServiceEndpoints(HashMap<String, String>);

impl aws_types::service_config::LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_uppercase().replace(' ', "_");
        self.0.get(&format!("{}_{service}", key.env())).cloned()
    }
}

/// The SDK's configuration from the AWS environment, with these time limits and attempts.
pub async fn sdk_config(timeouts: SdkTimeouts) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        // Also what the credential providers (container, web identity, IMDS) connect with.
        .http_client(https_client())
        .retry_config(timeouts.retry_config())
        .timeout_config(timeouts.timeout_config())
        .load()
        .await
}

/// A client for a deployed function (see [`sdk_config_from_environment`]).
pub async fn client_from_environment() -> Client {
    Client::new(&sdk_config_from_environment().await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_function_s_configuration_is_its_environment_and_each_service_s_endpoint_its_own() {
        let lambda = vars(&[
            (REGION, "eu-west-1"),
            (ACCESS_KEY_ID, "AKID"),
            (SECRET_ACCESS_KEY, "secret"),
            (SESSION_TOKEN, "token"),
            (ENDPOINT_URL, "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:2"),
        ]);
        let sdk = sdk_config_for_lambda(&lambda).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sdk.region().map(ToString::to_string).as_deref(), Some("eu-west-1"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:1"));
        // The key a service's client asks for when it is built (aws-sdk-dynamodb's
        // `From<&SdkConfig>`): its own variable first; a service without one takes the shared.
        let key = |service| {
            aws_types::service_config::ServiceConfigKey::builder()
                .service_id(service)
                .env("AWS_ENDPOINT_URL")
                .profile("endpoint_url")
                .build()
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let services = sdk.service_config().unwrap_or_else(|| panic!("no service config"));
        assert_eq!(
            services.load_config(key("DynamoDB")).as_deref(),
            Some("http://127.0.0.1:2")
        );
        assert_eq!(services.load_config(key("SSM")), None);
        for missing in [REGION, ACCESS_KEY_ID, SECRET_ACCESS_KEY] {
            let mut without = lambda.clone();
            without.remove(missing);
            assert_eq!(
                sdk_config_for_lambda(&without).map(drop).map_err(|e| e.variable),
                Err(missing)
            );
        }
        // No session token is fine (long-term keys, as in SAM's emulator).
        let mut keys_only = lambda.clone();
        keys_only.remove(SESSION_TOKEN);
        assert!(sdk_config_for_lambda(&keys_only).is_ok());
    }

    #[test]
    fn a_function_s_time_limits_are_lambda_s_unless_its_variables_say_otherwise() {
        let lambda = vars(&[
            (REGION, "eu-west-1"),
            (ACCESS_KEY_ID, "AKID"),
            (SECRET_ACCESS_KEY, "secret"),
        ]);
        let attempt = |sdk: &aws_config::SdkConfig| sdk.timeout_config().and_then(|t| t.operation_attempt_timeout());
        let attempts = |sdk: &aws_config::SdkConfig| sdk.retry_config().map(|r| r.max_attempts());
        let sdk = sdk_config_for_lambda(&lambda).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(attempt(&sdk), Some(SdkTimeouts::LAMBDA.attempt));
        assert_eq!(attempts(&sdk), Some(SdkTimeouts::LAMBDA.max_attempts));

        let mut tuned = lambda.clone();
        tuned.extend(vars(&[(ATTEMPT_TIMEOUT_MS, "2000"), (MAX_ATTEMPTS, "5")]));
        let sdk = sdk_config_for_lambda(&tuned).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(attempt(&sdk), Some(Duration::from_secs(2)));
        assert_eq!(attempts(&sdk), Some(5));

        let mut bad = lambda;
        bad.insert(MAX_ATTEMPTS.to_string(), "eleven".to_string());
        assert_eq!(
            sdk_config_for_lambda(&bad).map(drop).map_err(|e| e.variable),
            Err(MAX_ATTEMPTS)
        );
    }

    #[test]
    fn the_lambda_defaults_are_the_functions_time_limits() {
        assert_eq!(
            SdkTimeouts::LAMBDA,
            SdkTimeouts {
                connect: Duration::from_millis(500),
                attempt: Duration::from_secs(1),
                operation: Duration::from_secs(3),
                max_attempts: 3,
            }
        );
        assert!(SdkTimeouts::LOCAL.attempt > SdkTimeouts::LAMBDA.attempt);
        assert_eq!(
            SdkTimeouts::from_vars(&vars(&[]), SdkTimeouts::LOCAL),
            Ok(SdkTimeouts::LOCAL)
        );
    }

    #[test]
    fn timeouts_are_read_and_bad_values_name_their_variable() {
        let read = SdkTimeouts::from_vars(
            &vars(&[
                (CONNECT_TIMEOUT_MS, "250"),
                (ATTEMPT_TIMEOUT_MS, "4000"),
                (OPERATION_TIMEOUT_MS, "20000"),
                (MAX_ATTEMPTS, "5"),
            ]),
            SdkTimeouts::LOCAL,
        );
        assert_eq!(
            read,
            Ok(SdkTimeouts {
                connect: Duration::from_millis(250),
                attempt: Duration::from_secs(4),
                operation: Duration::from_secs(20),
                max_attempts: 5,
            })
        );
        for (pairs, variable) in [
            (vec![(CONNECT_TIMEOUT_MS, "0")], CONNECT_TIMEOUT_MS),
            (vec![(ATTEMPT_TIMEOUT_MS, "1s")], ATTEMPT_TIMEOUT_MS),
            (vec![(OPERATION_TIMEOUT_MS, "600001")], OPERATION_TIMEOUT_MS),
            (vec![(MAX_ATTEMPTS, "0")], MAX_ATTEMPTS),
            (vec![(MAX_ATTEMPTS, "11")], MAX_ATTEMPTS),
            // A call's timeout shorter than one attempt's would make the attempt's meaningless.
            (vec![(ATTEMPT_TIMEOUT_MS, "12000")], OPERATION_TIMEOUT_MS),
            (
                vec![(ATTEMPT_TIMEOUT_MS, "2000"), (OPERATION_TIMEOUT_MS, "1999")],
                OPERATION_TIMEOUT_MS,
            ),
        ] {
            assert_eq!(
                SdkTimeouts::from_vars(&vars(&pairs), SdkTimeouts::LOCAL).map_err(|e| e.variable),
                Err(variable),
                "{pairs:?}"
            );
        }
    }
}
