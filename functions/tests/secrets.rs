//! The functions' secrets, as their cold starts read them: each a SecureString parameter of SSM
//! Parameter Store (here moto's), read only by the functions whose route uses it, a missing or
//! unreadable one failing the cold start with its variable and parameter named; and the list
//! cursors' key really separate from the webhook secret.
//! Needs moto (`ORDERLY_TEST_SSM_ENDPOINT`) and DynamoDB Local (`ORDERLY_TEST_DYNAMODB_ENDPOINT`):
//! scripts/test starts both. Never skipped.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aws_sdk_ssm::types::ParameterType;
use orderly_core::api::routes::{LIST_NOTIFICATIONS, LIST_ORDERS, LIST_PRODUCTS, PAYMENT_WEBHOOK};
use orderly_core::api::{SecretUse, ROUTES};
use orderly_core::config::{Secret, Secrets};
use orderly_core::crypto::hmac_sha256;
use orderly_functions::{
    read_secrets, ConfigError, Function, FunctionConfig, CURSOR_KEY_PARAMETER, PAYMENT_WEBHOOK_SECRET_PARAMETER,
};
use serde_json::json;
use std::collections::HashMap;
use std::process::Command;
use support::*;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn payment_webhook_reads_its_secret_from_a_secure_string_and_nothing_else() {
    let ssm = ssm();
    let (webhook, cursors) = (fresh_name("payment-webhook-secret"), fresh_name("cursor-key"));
    put_parameter(
        &ssm,
        &webhook,
        "whsec_from_ssm_0123456789abcdef",
        ParameterType::SecureString,
    )
    .await;
    put_parameter(
        &ssm,
        &cursors,
        "cursor_key_from_ssm_0123456789",
        ParameterType::SecureString,
    )
    .await;
    // Both names set, as a misconfigured template might: each function still reads only its own.
    let both = vars(&[
        (PAYMENT_WEBHOOK_SECRET_PARAMETER, &webhook),
        (CURSOR_KEY_PARAMETER, &cursors),
    ]);

    let secrets = read_secrets(&ssm, &both, PAYMENT_WEBHOOK.secrets()).await;
    assert_eq!(
        secrets,
        Ok(Secrets {
            webhook_secret: Some(Secret::new("whsec_from_ssm_0123456789abcdef")),
            cursor_key: None,
        })
    );
    for list in [&LIST_ORDERS, &LIST_PRODUCTS, &LIST_NOTIFICATIONS] {
        let secrets = read_secrets(&ssm, &both, list.secrets()).await;
        assert_eq!(
            secrets,
            Ok(Secrets {
                webhook_secret: None,
                cursor_key: Some(Secret::new("cursor_key_from_ssm_0123456789")),
            }),
            "{list:?}"
        );
    }

    // The secret read is the one the function verifies with: a webhook signed with it is taken.
    let h = Harness::new().await;
    let config = FunctionConfig::from_vars(&vars(&[("TABLE_NAME", &h.table)]), secrets.unwrap_or_default())
        .expect("configuration");
    let function = Function::new(&PAYMENT_WEBHOOK, config.app_with(client_for(&endpoint())));
    let mut ev = event("payment-webhook");
    ev["body"] = json!(
        json!({"id": "evt_1", "type": "payment.failed", "order_id": fresh_ulid(),
        "amount_cents": 1, "currency": "USD"})
        .to_string()
    );
    let signature = orderly_core::auth::webhook::sign(
        &Secret::new("whsec_from_ssm_0123456789abcdef"),
        ev["body"].as_str().unwrap_or_default().as_bytes(),
        now(),
    );
    set_header(&mut ev, "webhook-signature", &signature);
    // Past the signature: the order is unknown (404), not the signature refused (401).
    call_function(&function, "payment-webhook", &ev)
        .await
        .assert_problem(404, "not-found");
}

#[tokio::test]
async fn a_function_that_uses_no_secret_never_calls_ssm() {
    // Nothing listens there: any call would fail.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let unreachable = ssm_at(&format!("http://{closed}"));
    let names = vars(&[
        (PAYMENT_WEBHOOK_SECRET_PARAMETER, "/orderly/x/payment-webhook-secret"),
        (CURSOR_KEY_PARAMETER, "/orderly/x/cursor-key"),
    ]);
    let secretless: Vec<_> = ROUTES
        .iter()
        .filter(|route| route.secrets() == SecretUse::default())
        .collect();
    assert!(secretless.len() > ROUTES.len() / 2, "most functions hold no secret");
    for route in secretless {
        assert_eq!(
            read_secrets(&unreachable, &names, route.secrets()).await,
            Ok(Secrets::default()),
            "{route:?}"
        );
    }
}

#[tokio::test]
async fn a_missing_or_unreadable_parameter_fails_the_cold_start_naming_it() {
    let ssm = ssm();
    let missing = fresh_name("payment-webhook-secret");
    let error = read_secrets(
        &ssm,
        &vars(&[(PAYMENT_WEBHOOK_SECRET_PARAMETER, &missing)]),
        PAYMENT_WEBHOOK.secrets(),
    )
    .await
    .expect_err("a parameter that does not exist");
    assert_eq!(error.variable, PAYMENT_WEBHOOK_SECRET_PARAMETER);
    assert!(error.message.contains(&missing), "{error}");
    assert!(error.message.contains("ParameterNotFound"), "{error}");

    let unset = read_secrets(&ssm, &vars(&[]), LIST_ORDERS.secrets()).await;
    assert!(
        matches!(
            &unset,
            Err(ConfigError {
                variable: CURSOR_KEY_PARAMETER,
                ..
            })
        ),
        "{unset:?}"
    );

    // In plain text, the secret would be readable by anyone allowed ssm:GetParameter: refused.
    let plain = fresh_name("cursor-key");
    put_parameter(&ssm, &plain, "cursor_key_in_plain_text_0123", ParameterType::String).await;
    let error = read_secrets(&ssm, &vars(&[(CURSOR_KEY_PARAMETER, &plain)]), LIST_ORDERS.secrets())
        .await
        .expect_err("a String parameter");
    assert_eq!(error.variable, CURSOR_KEY_PARAMETER);
    assert!(error.message.contains("not a SecureString"), "{error}");

    // No SSM at all (nothing listens): the cold start fails too, in the SDK's time limits.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let error = read_secrets(
        &ssm_at(&format!("http://{closed}")),
        &vars(&[(CURSOR_KEY_PARAMETER, &plain)]),
        LIST_ORDERS.secrets(),
    )
    .await
    .expect_err("no SSM");
    assert_eq!(error.variable, CURSOR_KEY_PARAMETER);
}

/// The binary itself, started as Lambda starts it: its cold start stops with the variable and the
/// parameter in its log, before the runtime loop.
#[test]
fn payment_webhooks_cold_start_fails_loudly_without_its_parameter() {
    let missing = fresh_name("payment-webhook-secret");
    let output = Command::new(env!("CARGO_BIN_EXE_payment-webhook"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", ssm_endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_LAMBDA_FUNCTION_NAME", "payment-webhook")
        // Nothing listens here: the process must stop before it ever asks for an invocation.
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("TABLE_NAME", "orderly")
        .env(PAYMENT_WEBHOOK_SECRET_PARAMETER, &missing)
        .output()
        .expect("start payment-webhook");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{log}");
    assert!(log.contains(PAYMENT_WEBHOOK_SECRET_PARAMETER), "{log}");
    assert!(log.contains(&missing), "{log}");
    assert!(log.contains("invalid configuration"), "{log}");
}

/// A cursor issued by a list function is signed with the cursors' own key: a function whose key
/// were derived from the webhook secret (as before they were separated), or were that secret,
/// refuses it, so holding the webhook secret gives no power over cursors and the other way round.
#[tokio::test]
async fn a_cursor_signed_with_the_cursor_key_is_refused_by_a_key_from_the_webhook_secret() {
    let h = Harness::new().await;
    h.create_product(1).await;
    h.create_product(1).await;
    let page = |query: &str| with_query(event("list-products"), query);
    let reply = h.expect("list-products", &page("limit=1"), 200).await;
    let cursor = reply.body["next_cursor"].as_str().expect("a next page").to_string();
    let next = format!("limit=1&cursor={cursor}");
    h.expect("list-products", &page(&next), 200).await;

    let derived = hmac_sha256(WEBHOOK_SECRET.as_bytes(), &[b"orderly list cursors v1"]).to_vec();
    for key in [Secret::new(derived), Secret::new(WEBHOOK_SECRET)] {
        let secrets = Secrets {
            webhook_secret: None,
            cursor_key: Some(key),
        };
        let config = FunctionConfig::from_vars(&vars(&[("TABLE_NAME", &h.table)]), secrets).expect("configuration");
        let function = Function::new(&LIST_PRODUCTS, config.app_with(client_for(&endpoint())));
        call_function(&function, "list-products", &page(&next))
            .await
            .assert_problem(400, "validation");
    }
}
