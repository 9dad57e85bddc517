//! Opaque list cursors. A cursor names the last item of the page it ended, and carries a MAC over
//! that position, the list it belongs to and whose list it is; so a tampered cursor, or one from
//! another list or another user, is refused (400) instead of leaking or confusing a query.

use crate::config::Secret;
use crate::crypto::{hmac_sha256, verify_hmac_sha256};
use crate::Error;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

const TAG_LEN: usize = 16;
/// The longest position a cursor is made for: positions are ids (26-character ULIDs), and a cursor
/// for any position up to this long fits in [`MAX_CURSOR_LEN`], so every cursor issued reads back.
pub const MAX_POSITION_LEN: usize = 128;
const MAX_CURSOR_LEN: usize = 256;

/// A cursor for `position`, at most [`MAX_POSITION_LEN`] bytes (a longer one would be refused by
/// [`decode`]).
pub fn encode(key: &Secret, list: &str, owner: &str, position: &str) -> String {
    let tag = hmac_sha256(
        key.expose(),
        &[list.as_bytes(), b"\0", owner.as_bytes(), b"\0", position.as_bytes()],
    );
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(position),
        URL_SAFE_NO_PAD.encode(&tag[..TAG_LEN])
    )
}

/// The position a cursor names, if it was issued by us for this list and owner.
pub fn decode(key: &Secret, list: &str, owner: &str, cursor: &str) -> Result<String, Error> {
    let invalid = || Error::invalid("cursor", "is not a valid cursor for this list");
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(invalid());
    }
    let (position_b64, tag_b64) = cursor.split_once('.').ok_or_else(invalid)?;
    let position = URL_SAFE_NO_PAD.decode(position_b64).map_err(|_| invalid())?;
    let tag = URL_SAFE_NO_PAD.decode(tag_b64).map_err(|_| invalid())?;
    let signed = [list.as_bytes(), b"\0", owner.as_bytes(), b"\0", position.as_slice()];
    if tag.len() != TAG_LEN || !verify_hmac_sha256(key.expose(), &signed, &tag) {
        return Err(invalid());
    }
    String::from_utf8(position).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_only_for_its_own_list_and_owner() {
        let key = Secret::new("k");
        let cursor = encode(&key, "orders", "ada", "01ARZ3NDEKTSV4RRFFQ69G5FAV");
        assert_eq!(
            decode(&key, "orders", "ada", &cursor).ok().as_deref(),
            Some("01ARZ3NDEKTSV4RRFFQ69G5FAV")
        );
        assert!(decode(&key, "orders", "bob", &cursor).is_err());
        assert!(decode(&key, "products", "ada", &cursor).is_err());
        assert!(decode(&Secret::new("other"), "orders", "ada", &cursor).is_err());
    }

    #[test]
    fn a_cursor_for_the_longest_position_reads_back() {
        let key = Secret::new("k");
        let longest = "\u{10FFFF}".repeat(MAX_POSITION_LEN / 4);
        assert_eq!(longest.len(), MAX_POSITION_LEN);
        let cursor = encode(&key, "orders", "ada", &longest);
        assert_eq!(decode(&key, "orders", "ada", &cursor).ok(), Some(longest));
    }

    #[test]
    fn tampering_and_garbage_are_refused() {
        let key = Secret::new("k");
        let cursor = encode(&key, "products", "", "01ARZ3NDEKTSV4RRFFQ69G5FAV");
        let (_, tag) = cursor.split_once('.').unwrap_or_default();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("01ARZ3NDEKTSV4RRFFQ69G5FAW"));
        assert!(decode(&key, "products", "", &forged).is_err());
        for junk in ["", ".", "abc", "a.b", "!!!.???", &"A".repeat(300)] {
            assert!(decode(&key, "products", "", junk).is_err(), "{junk:?}");
        }
    }
}
