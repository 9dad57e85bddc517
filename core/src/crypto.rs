//! HMAC-SHA256, the one primitive behind dev tokens, webhook signatures and list cursors.

use hmac::{Hmac, Mac};
use sha2::Sha256;

fn keyed(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac
}

/// The MAC of the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    keyed(key, parts).finalize().into_bytes().into()
}

/// Whether `tag` is the MAC of `parts`, compared in constant time. A truncated tag is accepted
/// only when at least 16 bytes long (cursors carry 16).
pub fn verify_hmac_sha256(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    if tag.len() < 16 {
        return false;
    }
    keyed(key, parts).verify_truncated_left(tag).is_ok()
}

/// SHA-256, hex encoded.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(Sha256::digest(bytes))
}
