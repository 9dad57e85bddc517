//! List cursors: any text given as a cursor is refused or read, never a panic, and what the
//! server itself issued (for a position up to the longest an id can be) always reads back as the
//! position it was made from, for its own list and owner only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orderly_core::api::cursor::{decode, encode, MAX_POSITION_LEN};
use orderly_core::config::Secret;

fuzz_target!(|data: &[u8]| {
    let key = Secret::new("fuzz-cursor-key-0123456789abcdef");
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = decode(&key, "orders", "buyer-1", text);
    if text.len() > MAX_POSITION_LEN {
        return; // positions are ids; `encode` is not made for longer ones
    }
    let issued = encode(&key, "orders", "buyer-1", text);
    assert_eq!(decode(&key, "orders", "buyer-1", &issued).ok().as_deref(), Some(text));
    assert!(
        decode(&key, "orders", "buyer-2", &issued).is_err(),
        "another user's cursor"
    );
    assert!(
        decode(&key, "products", "buyer-1", &issued).is_err(),
        "another list's cursor"
    );
});
