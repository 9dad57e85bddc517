//! HS256 JSON Web Tokens, for the local server and its dev tokens. Deliberately narrow: HS256 is
//! the only algorithm accepted (a token naming any other, `none` above all, is refused before its
//! signature is even looked at), `exp` is required, `nbf` is honoured, and both allow 60 s of
//! clock skew. The signature is compared in constant time.

use crate::config::Secret;
use crate::crypto::{hmac_sha256, verify_hmac_sha256};
use crate::domain::Timestamp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

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
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
}

/// The key tokens are signed and verified with.
#[derive(Debug, Clone)]
pub struct Hs256Key(Secret);

impl Hs256Key {
    pub fn new(secret: Secret) -> Self {
        Hs256Key(secret)
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
        if signature.len() != 32 || !verify_hmac_sha256(self.0.expose(), &signed, &signature) {
            return Err(JwtError::BadSignature);
        }

        let claims = decode_object(claims_b64)?;
        let seconds = now.as_unix_seconds();
        let exp = claims.get("exp").ok_or(JwtError::MissingExpiry)?;
        let exp = numeric_date(exp).ok_or(JwtError::Malformed)?;
        if seconds > exp.saturating_add(LEEWAY_SECONDS) {
            return Err(JwtError::Expired);
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = numeric_date(nbf).ok_or(JwtError::Malformed)?;
            if seconds.saturating_add(LEEWAY_SECONDS) < nbf {
                return Err(JwtError::NotYetValid);
            }
        }
        Ok(claims)
    }

    /// Signs `claims` as an HS256 JWT.
    pub fn sign(&self, claims: &Map<String, Value>) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string());
        let signature = URL_SAFE_NO_PAD.encode(hmac_sha256(
            self.0.expose(),
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

/// A JWT NumericDate: seconds since the epoch, possibly fractional.
fn numeric_date(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64))
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
            Err(JwtError::Malformed)
        );
    }

    #[test]
    fn nbf_is_honoured_with_leeway() {
        let k = key();
        let token = |nbf: i64| k.sign(&claims(json!({"sub": "a", "exp": NOW + 999, "nbf": nbf})));
        assert!(k.verify(&token(NOW + 60), now()).is_ok());
        assert_eq!(k.verify(&token(NOW + 61), now()), Err(JwtError::NotYetValid));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for junk in ["", ".", "..", "a.b.c", "a.b.c.d", "💥.💥.💥", &"x".repeat(10_000)] {
            assert!(key().verify(junk, now()).is_err(), "{junk:?}");
        }
    }
}
