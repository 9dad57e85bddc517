//! The cost a cold start pays to read one secret: an SSM client from the environment's
//! configuration, and one GetParameter with decryption on a new connection, 50 times. Against
//! moto's SSM on this machine, so it measures our side (client set-up, signing, plain HTTP,
//! parsing), not SSM's latency in a region nor TLS.
//!
//! `scripts/moto start /tmp/moto` (prints the endpoint), then
//! `ORDERLY_TEST_SSM_ENDPOINT=<it> AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
//!  cargo bench -p orderly-functions --features dynamodb-local --bench secret_read`;
//! figures in docs/BENCHMARKS.md.

// A benchmark: a failed expectation is its failure, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_ssm::types::ParameterType;
use orderly_core::api::routes::PAYMENT_WEBHOOK;
use orderly_functions::{read_secrets, PAYMENT_WEBHOOK_SECRET_PARAMETER};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let endpoint = std::env::var("ORDERLY_TEST_SSM_ENDPOINT").expect("ORDERLY_TEST_SSM_ENDPOINT: moto's endpoint");
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "127.0.0.1 only, not {endpoint}"
    );
    let name = format!("/orderly/bench-{}/payment-webhook-secret", std::process::id());
    let sdk = orderly_store_dynamodb::client::sdk_config_from_environment().await;
    let setup =
        aws_sdk_ssm::Client::from_conf(aws_sdk_ssm::config::Builder::from(&sdk).endpoint_url(&endpoint).build());
    setup
        .put_parameter()
        .name(&name)
        .value("whsec_cold_start_measurement_0123")
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .expect("put the parameter into moto's SSM");
    let names: HashMap<String, String> = [(PAYMENT_WEBHOOK_SECRET_PARAMETER.to_string(), name)].into();
    let mut samples = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        // What FunctionConfig::from_environment does: the environment's SDK configuration (its
        // HTTPS client, new each cold start), then the read.
        let sdk = orderly_store_dynamodb::client::sdk_config_from_environment().await;
        let config = aws_sdk_ssm::config::Builder::from(&sdk).endpoint_url(&endpoint).build();
        let client = aws_sdk_ssm::Client::from_conf(config);
        let secrets = read_secrets(&client, &names, PAYMENT_WEBHOOK.secrets()).await;
        samples.push(started.elapsed());
        assert!(secrets.is_ok_and(|s| s.webhook_secret.is_some()));
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "cold-start SSM read (fresh SDK config + client + GetParameter, {} runs): min {:.2} ms, median {:.2} ms, \
         p90 {:.2} ms, max {:.2} ms",
        samples.len(),
        ms(samples[0]),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
        ms(samples[samples.len() - 1])
    );
}
