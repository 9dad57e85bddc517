//! The payment provider's signature: `Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<raw body>")>`. A signature more than 300 s from our clock is stale, so a captured request
//! cannot be replayed later. Several `v1` entries may be present while the provider rotates
//! secrets; any one matching is enough.

use crate::config::Secret;
use crate::crypto::{hmac_sha256, verify_hmac_sha256};
use crate::domain::Timestamp;

pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Webhook-Signature header is missing")]
    Missing,
    #[error("the Webhook-Signature header is malformed")]
    Malformed,
    #[error("the signature's timestamp is more than 300 s from now")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

pub fn verify_signature(
    secret: &Secret,
    header: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value),
            Some(("v1", value)) => candidates.push(value),
            _ => {}
        }
    }
    let t_text = timestamp.ok_or(SignatureError::Malformed)?;
    let t: i64 = t_text.parse().map_err(|_| SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now.as_unix_seconds() - t).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    let signed = [t_text.as_bytes(), b".", body];
    let matches = candidates
        .iter()
        .filter_map(|hex_tag| hex::decode(hex_tag).ok())
        .any(|tag| tag.len() == 32 && verify_hmac_sha256(secret.expose(), &signed, &tag));
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The header value a provider would send: for the `orderly webhook` command and tests.
pub fn sign(secret: &Secret, body: &[u8], at: Timestamp) -> String {
    let t = at.as_unix_seconds().to_string();
    let tag = hmac_sha256(secret.expose(), &[t.as_bytes(), b".", body]);
    format!("t={t},v1={}", hex::encode(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("whsec")
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(seconds * 1000)
    }

    #[test]
    fn accepts_its_own_signature_within_the_window() {
        let header = sign(&secret(), b"{}", at(1000));
        assert_eq!(verify_signature(&secret(), Some(&header), b"{}", at(1300)), Ok(()));
        assert_eq!(verify_signature(&secret(), Some(&header), b"{}", at(700)), Ok(()));
    }

    #[test]
    fn refuses_stale_wrong_and_malformed() {
        let header = sign(&secret(), b"{}", at(1000));
        assert_eq!(
            verify_signature(&secret(), Some(&header), b"{}", at(1301)),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(&secret(), Some(&header), b"{ }", at(1000)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&Secret::new("x"), Some(&header), b"{}", at(1000)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&secret(), None, b"{}", at(1000)),
            Err(SignatureError::Missing)
        );
        for junk in ["", "t=", "v1=00", "t=abc,v1=00", "t=1000", "t=1000,v1=zz", "t=1000,v1="] {
            assert!(
                verify_signature(&secret(), Some(junk), b"{}", at(1000)).is_err(),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn any_matching_v1_entry_is_enough() {
        let good = sign(&secret(), b"{}", at(1000));
        let rotated = format!("{good},v1={}", "00".repeat(32));
        assert_eq!(verify_signature(&secret(), Some(&rotated), b"{}", at(1000)), Ok(()));
    }
}
