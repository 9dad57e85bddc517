//! HS256 JSON Web Tokens, for the local server, its dev tokens and the test gateway (which plays
//! API Gateway's JWT authorizer in front of the functions, so it verifies exactly as the server
//! does, by the same variables). Deliberately narrow: HS256 is
//! the only algorithm accepted (a token naming any other, `none` above all, is refused before its
//! signature is even looked at), `exp` is required, `nbf` is honoured, both must be whole numbers
//! of seconds and both allow [`LEEWAY_SECONDS`] of clock skew. `exp` may lie no further ahead
//! than the longest lifetime the [`TokenRules`] allow, and `iss` and `aud` are checked when the
//! rules name them. The signature is compared in constant time.

use crate::config::{ConfigError, Secret};
use crate::crypto::{hmac_sha256, verify_hmac_sha256};
use crate::domain::Timestamp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The secret tokens are signed with.
pub const ORDERLY_JWT_SECRET: &str = "ORDERLY_JWT_SECRET";
/// When set, a token's `iss` must be exactly this.
pub const ORDERLY_JWT_ISSUER: &str = "ORDERLY_JWT_ISSUER";
/// When set, a token's `aud` must be this, or an array holding it.
pub const ORDERLY_JWT_AUDIENCE: &str = "ORDERLY_JWT_AUDIENCE";
/// How far ahead a token's `exp` may lie (default a day).
pub const ORDERLY_JWT_MAX_LIFETIME_SECONDS: &str = "ORDERLY_JWT_MAX_LIFETIME_SECONDS";

/// The clock skew allowed between the token's issuer and us, applied to `exp` (a token is still
/// accepted up to this long after it expired), to `nbf` (and this long before it is valid), and
/// to the longest lifetime (a token minted by a clock running ahead of ours). A minute covers
/// machines kept in time by NTP, while an expired token stays usable for at most that long.
pub const LEEWAY_SECONDS: i64 = 60;
/// Far larger than any real token; stops us decoding megabytes of garbage.
const MAX_TOKEN_LEN: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not HS256")]
    WrongAlgorithm,
    #[error("the token's signature is wrong")]
    BadSignature,
    #[error("the token has no exp claim")]
    MissingExpiry,
    #[error("the token's {0} claim is not a whole number of seconds since the epoch")]
    NotNumericDate(&'static str),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error(
        "the token's exp is too far ahead: at most {max_lifetime_seconds} s from now (plus {LEEWAY_SECONDS} s \
         of leeway) is accepted"
    )]
    LivesTooLong { max_lifetime_seconds: i64 },
    #[error("the token's iss claim is missing or is not the issuer this server trusts")]
    WrongIssuer,
    #[error("the token's aud claim is missing or does not name this server's audience")]
    WrongAudience,
}

/// What a correctly signed token must also satisfy, beyond a live `exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRules {
    /// When set, `iss` must be exactly this.
    pub issuer: Option<String>,
    /// When set, `aud` must be this, or an array holding it (RFC 7519, 4.1.3).
    pub audience: Option<String>,
    /// How far ahead of now `exp` may lie, plus the leeway: a token that claims to be good for
    /// years is a forged or mistaken one, and would stay usable long after its user was removed.
    pub max_lifetime_seconds: i64,
}

impl TokenRules {
    /// A day: the longest an Amazon Cognito access or ID token can live (Cognito being the
    /// identity provider the deployment's parameters suggest).
    pub const DEFAULT_MAX_LIFETIME_SECONDS: i64 = 24 * 3600;
    /// A year: the most a lifetime may be configured to.
    pub const MAX_LIFETIME_CEILING_SECONDS: i64 = 365 * 24 * 3600;

    /// The rules the environment's variables set: unset, any `iss` and `aud` pass and `exp` may
    /// lie a day ahead.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let max_lifetime_seconds = match vars.get(ORDERLY_JWT_MAX_LIFETIME_SECONDS) {
            None => Self::DEFAULT_MAX_LIFETIME_SECONDS,
            Some(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|seconds| (1..=Self::MAX_LIFETIME_CEILING_SECONDS).contains(seconds))
                .ok_or_else(|| {
                    ConfigError::new(
                        ORDERLY_JWT_MAX_LIFETIME_SECONDS,
                        format!(
                            "must be a whole number of seconds from 1 to {}, got {text:?}",
                            Self::MAX_LIFETIME_CEILING_SECONDS
                        ),
                    )
                })?,
        };
        Ok(TokenRules {
            issuer: expected_claim(vars, ORDERLY_JWT_ISSUER)?,
            audience: expected_claim(vars, ORDERLY_JWT_AUDIENCE)?,
            max_lifetime_seconds,
        })
    }
}

/// A value a claim must equal. Compared exactly, so stray whitespace around it (a copy-paste
/// slip) would refuse every token: it is refused here instead.
fn expected_claim(vars: &HashMap<String, String>, variable: &'static str) -> Result<Option<String>, ConfigError> {
    match vars.get(variable) {
        None => Ok(None),
        Some(value) if value.is_empty() || value.trim() != value || value.chars().any(char::is_control) => {
            Err(ConfigError::new(
                variable,
                "must not be empty, have whitespace around it or control characters (unset it to accept any)",
            ))
        }
        Some(value) => Ok(Some(value.clone())),
    }
}

impl Default for TokenRules {
    fn default() -> Self {
        TokenRules {
            issuer: None,
            audience: None,
            max_lifetime_seconds: Self::DEFAULT_MAX_LIFETIME_SECONDS,
        }
    }
}

/// The key tokens are signed and verified with, and the rules they are verified by.
#[derive(Debug, Clone)]
pub struct Hs256Key {
    secret: Secret,
    rules: TokenRules,
}

impl Hs256Key {
    /// A key verifying by the default rules: no issuer or audience required, a day's lifetime.
    pub fn new(secret: Secret) -> Self {
        Hs256Key::with_rules(secret, TokenRules::default())
    }

    pub fn with_rules(secret: Secret, rules: TokenRules) -> Self {
        Hs256Key { secret, rules }
    }

    pub fn rules(&self) -> &TokenRules {
        &self.rules
    }

    /// Verifies `token` at `now` and returns its claims.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Map<String, Value>, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header = decode_object(header_b64)?;
        if header.get("alg").and_then(Value::as_str) != Some("HS256") {
            return Err(JwtError::WrongAlgorithm);
        }
        let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| JwtError::Malformed)?;
        let signed = [header_b64.as_bytes(), b".", claims_b64.as_bytes()];
        if signature.len() != 32 || !verify_hmac_sha256(self.secret.expose(), &signed, &signature) {
            return Err(JwtError::BadSignature);
        }

        let claims = decode_object(claims_b64)?;
        let seconds = now.as_unix_seconds();
        let exp = claims.get("exp").ok_or(JwtError::MissingExpiry)?;
        let exp = numeric_date(exp).ok_or(JwtError::NotNumericDate("exp"))?;
        if seconds > exp.saturating_add(LEEWAY_SECONDS) {
            return Err(JwtError::Expired);
        }
        let latest_exp = seconds
            .saturating_add(self.rules.max_lifetime_seconds)
            .saturating_add(LEEWAY_SECONDS);
        if exp > latest_exp {
            return Err(JwtError::LivesTooLong {
                max_lifetime_seconds: self.rules.max_lifetime_seconds,
            });
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = numeric_date(nbf).ok_or(JwtError::NotNumericDate("nbf"))?;
            if seconds.saturating_add(LEEWAY_SECONDS) < nbf {
                return Err(JwtError::NotYetValid);
            }
        }
        if let Some(issuer) = &self.rules.issuer {
            if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
                return Err(JwtError::WrongIssuer);
            }
        }
        if let Some(audience) = &self.rules.audience {
            let named = match claims.get("aud") {
                Some(Value::String(aud)) => aud == audience,
                Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(audience.as_str())),
                _ => false,
            };
            if !named {
                return Err(JwtError::WrongAudience);
            }
        }
        Ok(claims)
    }

    /// Signs `claims` as an HS256 JWT.
    pub fn sign(&self, claims: &Map<String, Value>) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string());
        let signature = URL_SAFE_NO_PAD.encode(hmac_sha256(
            self.secret.expose(),
            &[header.as_bytes(), b".", payload.as_bytes()],
        ));
        format!("{header}.{payload}.{signature}")
    }
}

fn decode_object(part: &str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Malformed),
    }
}

/// A NumericDate as we accept it: a JSON integer of seconds since the epoch. RFC 7519 allows
/// fractions too, but no issuer we serve writes them, and a float is how an absurd value such as
/// `1e300` arrives; read as an integer it would saturate and pass every comparison.
fn numeric_date(value: &Value) -> Option<i64> {
    value.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn key() -> Hs256Key {
        Hs256Key::new(Secret::new("test-secret"))
    }

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("claims must be an object"),
        }
    }

    fn now() -> Timestamp {
        Timestamp::from_millis(NOW * 1000)
    }

    #[test]
    fn accepts_a_token_it_signed() {
        let token = key().sign(&claims(json!({"sub": "ada", "exp": NOW + 10})));
        assert_eq!(key().verify(&token, now()).map(|c| c["sub"].clone()), Ok(json!("ada")));
    }

    #[test]
    fn refuses_another_secret_and_tampered_claims() {
        let token = Hs256Key::new(Secret::new("other")).sign(&claims(json!({"sub": "ada", "exp": NOW + 10})));
        assert_eq!(key().verify(&token, now()), Err(JwtError::BadSignature));

        let good = key().sign(&claims(json!({"sub": "ada", "exp": NOW + 10})));
        let forged_claims = URL_SAFE_NO_PAD.encode(json!({"sub": "root", "exp": NOW + 10}).to_string());
        let parts: Vec<&str> = good.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert_eq!(key().verify(&forged, now()), Err(JwtError::BadSignature));
    }

    #[test]
    fn refuses_alg_none_and_other_algorithms() {
        let body = URL_SAFE_NO_PAD.encode(json!({"sub": "ada", "exp": NOW + 10}).to_string());
        for alg in ["none", "None", "HS512", "RS256", "hs256"] {
            let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg}).to_string());
            assert_eq!(
                key().verify(&format!("{header}.{body}."), now()),
                Err(JwtError::WrongAlgorithm),
                "{alg}"
            );
        }
    }

    #[test]
    fn exp_is_required_and_honoured_with_leeway() {
        let k = key();
        assert_eq!(
            k.verify(&k.sign(&claims(json!({"sub": "a"}))), now()),
            Err(JwtError::MissingExpiry)
        );
        assert!(k
            .verify(&k.sign(&claims(json!({"sub": "a", "exp": NOW - 60}))), now())
            .is_ok());
        assert_eq!(
            k.verify(&k.sign(&claims(json!({"sub": "a", "exp": NOW - 61}))), now()),
            Err(JwtError::Expired)
        );
        assert_eq!(
            k.verify(&k.sign(&claims(json!({"sub": "a", "exp": "soon"}))), now()),
            Err(JwtError::NotNumericDate("exp"))
        );
    }

    #[test]
    fn exp_must_be_an_integer_no_further_ahead_than_the_longest_lifetime() {
        let k = key();
        let day = TokenRules::DEFAULT_MAX_LIFETIME_SECONDS;
        let verify = |exp: Value| k.verify(&k.sign(&claims(json!({"sub": "a", "exp": exp}))), now());
        assert!(verify(json!(NOW + day + LEEWAY_SECONDS)).is_ok());
        let too_far = Err(JwtError::LivesTooLong {
            max_lifetime_seconds: day,
        });
        assert_eq!(verify(json!(NOW + day + LEEWAY_SECONDS + 1)), too_far);
        assert_eq!(verify(json!(i64::MAX)), too_far);
        // Saturated to i64::MAX, these passed every comparison.
        for absurd in [json!(1e300), json!(u64::MAX), json!(9.3e18), json!(f64::MAX)] {
            assert_eq!(verify(absurd.clone()), Err(JwtError::NotNumericDate("exp")), "{absurd}");
        }
        for not_whole in [json!(NOW as f64 + 0.5), json!(NOW as f64), json!(null), json!([NOW])] {
            assert_eq!(
                verify(not_whole.clone()),
                Err(JwtError::NotNumericDate("exp")),
                "{not_whole}"
            );
        }
    }

    #[test]
    fn the_longest_lifetime_is_configurable() {
        let k = Hs256Key::with_rules(
            Secret::new("test-secret"),
            TokenRules {
                max_lifetime_seconds: 600,
                ..TokenRules::default()
            },
        );
        let token = |exp: i64| k.sign(&claims(json!({"sub": "a", "exp": exp})));
        assert!(k.verify(&token(NOW + 660), now()).is_ok());
        assert_eq!(
            k.verify(&token(NOW + 661), now()),
            Err(JwtError::LivesTooLong {
                max_lifetime_seconds: 600
            })
        );
    }

    #[test]
    fn nbf_is_honoured_with_leeway() {
        let k = key();
        let token = |nbf: i64| k.sign(&claims(json!({"sub": "a", "exp": NOW + 999, "nbf": nbf})));
        assert!(k.verify(&token(NOW + 60), now()).is_ok());
        assert_eq!(k.verify(&token(NOW + 61), now()), Err(JwtError::NotYetValid));
        for not_whole in [json!(1e300), json!(NOW as f64 - 0.5), json!("now")] {
            let token = k.sign(&claims(json!({"sub": "a", "exp": NOW + 999, "nbf": not_whole})));
            assert_eq!(k.verify(&token, now()), Err(JwtError::NotNumericDate("nbf")));
        }
    }

    fn expecting(issuer: Option<&str>, audience: Option<&str>) -> Hs256Key {
        Hs256Key::with_rules(
            Secret::new("test-secret"),
            TokenRules {
                issuer: issuer.map(str::to_string),
                audience: audience.map(str::to_string),
                ..TokenRules::default()
            },
        )
    }

    #[test]
    fn iss_is_checked_when_configured() {
        let k = expecting(Some("https://issuer.example"), None);
        let verify = |extra: Value| {
            let mut c = claims(json!({"sub": "a", "exp": NOW + 10}));
            c.extend(claims(extra));
            k.verify(&k.sign(&c), now())
        };
        assert!(verify(json!({"iss": "https://issuer.example"})).is_ok());
        for wrong in [
            json!({}),
            json!({"iss": "https://other.example"}),
            json!({"iss": "https://issuer.example/"}),
            json!({"iss": ["https://issuer.example"]}),
            json!({"iss": null}),
        ] {
            assert_eq!(verify(wrong.clone()), Err(JwtError::WrongIssuer), "{wrong}");
        }
    }

    #[test]
    fn aud_may_be_a_string_or_an_array_when_configured() {
        let k = expecting(None, Some("orderly"));
        let verify = |extra: Value| {
            let mut c = claims(json!({"sub": "a", "exp": NOW + 10}));
            c.extend(claims(extra));
            k.verify(&k.sign(&c), now())
        };
        for right in [
            json!({"aud": "orderly"}),
            json!({"aud": ["orderly"]}),
            json!({"aud": ["billing", "orderly"]}),
        ] {
            assert!(verify(right.clone()).is_ok(), "{right}");
        }
        for wrong in [
            json!({}),
            json!({"aud": "billing"}),
            json!({"aud": "Orderly"}),
            json!({"aud": []}),
            json!({"aud": ["billing"]}),
            json!({"aud": [["orderly"]]}),
            json!({"aud": {"orderly": true}}),
        ] {
            assert_eq!(verify(wrong.clone()), Err(JwtError::WrongAudience), "{wrong}");
        }
    }

    #[test]
    fn unconfigured_iss_and_aud_are_not_looked_at() {
        let k = key();
        let token = k.sign(&claims(json!({"sub": "a", "exp": NOW + 10, "iss": 7, "aud": {"x": 1}})));
        assert!(k.verify(&token, now()).is_ok());
    }

    #[test]
    fn iss_and_aud_are_checked_only_on_a_correctly_signed_live_token() {
        let k = expecting(Some("i"), Some("a"));
        let expired = k.sign(&claims(json!({"sub": "a", "exp": NOW - 3600})));
        assert_eq!(k.verify(&expired, now()), Err(JwtError::Expired));
        let forged = Hs256Key::new(Secret::new("other")).sign(&claims(json!({"sub": "a", "exp": NOW + 10})));
        assert_eq!(k.verify(&forged, now()), Err(JwtError::BadSignature));
    }

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn token_rules_default_to_no_issuer_or_audience_and_a_day() {
        assert_eq!(TokenRules::from_vars(&vars(&[])), Ok(TokenRules::default()));
        assert_eq!(TokenRules::default().max_lifetime_seconds, 86_400);
    }

    #[test]
    fn token_rules_are_read_and_bad_values_name_their_variable() {
        let rules = TokenRules::from_vars(&vars(&[
            (ORDERLY_JWT_ISSUER, "https://issuer.example"),
            (ORDERLY_JWT_AUDIENCE, "orderly"),
            (ORDERLY_JWT_MAX_LIFETIME_SECONDS, "3600"),
        ]));
        assert_eq!(
            rules,
            Ok(TokenRules {
                issuer: Some("https://issuer.example".into()),
                audience: Some("orderly".into()),
                max_lifetime_seconds: 3600,
            })
        );
        for (variable, value) in [
            (ORDERLY_JWT_ISSUER, ""),
            (ORDERLY_JWT_ISSUER, " https://issuer.example"),
            (ORDERLY_JWT_AUDIENCE, "orderly\n"),
            (ORDERLY_JWT_MAX_LIFETIME_SECONDS, "0"),
            (ORDERLY_JWT_MAX_LIFETIME_SECONDS, "1d"),
            (ORDERLY_JWT_MAX_LIFETIME_SECONDS, "31536001"),
        ] {
            assert_eq!(
                TokenRules::from_vars(&vars(&[(variable, value)])).map_err(|e| e.variable),
                Err(variable),
                "{variable}={value:?}"
            );
        }
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for junk in ["", ".", "..", "a.b.c", "a.b.c.d", "💥.💥.💥", &"x".repeat(10_000)] {
            assert!(key().verify(junk, now()).is_err(), "{junk:?}");
        }
    }
}
