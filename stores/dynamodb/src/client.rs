//! The DynamoDB client, built once at start-up and shared. Endpoint, region and credentials come
//! from the standard AWS environment (`AWS_ENDPOINT_URL`, `AWS_REGION`, ...). Time limits fit
//! inside a Lambda's timeout: one attempt may take 1 s, one call with its retries 3 s.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::Client;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use std::time::Duration;

pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// The SDK's standard retry mode: exponential backoff with jitter for throttling and transient
/// errors, and a retry quota so an outage is not made worse by retry storms.
pub const MAX_ATTEMPTS: u32 = 3;

/// HTTPS for the SDK: rustls with ring, trusting the system's root certificates.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}

pub async fn sdk_config_from_environment() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        // Also what the credential providers (container, web identity, IMDS) connect with.
        .http_client(https_client())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

pub async fn client_from_environment() -> Client {
    Client::new(&sdk_config_from_environment().await)
}
