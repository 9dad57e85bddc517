//! The local server's JWT verifier on any text: a forged or garbled token is an error, never a
//! panic. Half the inputs are taken as the claims of a correctly signed token, so the claim
//! checks (exp, nbf, iss, aud, their types and bounds) are reached too, not only the signature.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use orderly_core::auth::{Hs256Key, TokenRules};
use orderly_core::config::Secret;
use orderly_core::crypto::hmac_sha256;
use orderly_core::domain::Timestamp;

const SECRET: &str = "fuzz-jwt-secret-0123456789abcdef";
const NOW: Timestamp = Timestamp::from_millis(1_795_000_000_000);

fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fuzz_target!(|data: &[u8]| {
    let key = Hs256Key::with_rules(
        Secret::new(SECRET),
        TokenRules {
            issuer: Some("https://issuer.example".into()),
            audience: Some("orderly".into()),
            ..TokenRules::default()
        },
    );
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let token = if mode % 2 == 0 {
        match std::str::from_utf8(rest) {
            Ok(text) => text.to_string(),
            Err(_) => return,
        }
    } else {
        // Any bytes as the claims, correctly signed.
        let signed = format!("{}.{}", base64url(br#"{"alg":"HS256","typ":"JWT"}"#), base64url(rest));
        let signature = hmac_sha256(SECRET.as_bytes(), &[signed.as_bytes()]);
        format!("{signed}.{}", base64url(&signature))
    };
    if let Ok(claims) = key.verify(&token, NOW) {
        let exp = claims.get("exp").and_then(serde_json::Value::as_i64);
        assert!(
            exp.is_some_and(|exp| exp >= NOW.as_unix_seconds() - 60),
            "accepted without a live exp: {claims:?}"
        );
        assert_eq!(
            claims.get("iss").and_then(serde_json::Value::as_str),
            Some("https://issuer.example")
        );
    }
});
