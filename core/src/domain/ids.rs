//! Identifiers. Product and order ids are ULIDs the server mints (time-sortable, so "creation
//! order" is id order); user ids are the `sub` claim of whoever signed the caller in.

use serde::{Deserialize, Serialize};
use std::fmt;

pub(crate) fn is_ulid(text: &str) -> bool {
    text.len() == 26 && ulid::Ulid::from_string(text).is_ok_and(|u| u.to_string() == text)
}

macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, String> {
                if is_ulid(text) {
                    Ok($name(text.to_string()))
                } else {
                    Err(concat!("is not a valid ", $what, " id").to_string())
                }
            }

            pub fn from_ulid(id: ulid::Ulid) -> Self {
                $name(id.to_string())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(text: String) -> Result<Self, String> {
                $name::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

ulid_id!(
    /// A product's id.
    ProductId,
    "product"
);
ulid_id!(
    /// An order's id.
    OrderId,
    "order"
);

/// The caller's identity: the token's `sub`, opaque to us.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    pub const MAX_LEN: usize = 255;

    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.len() > Self::MAX_LEN || text.chars().any(char::is_control) {
            Err("must be 1 to 255 bytes without control characters".into())
        } else {
            Ok(UserId(text.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserId {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        UserId::parse(&text)
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> String {
        id.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_only_canonical_ulids() {
        let id = ulid::Ulid::new().to_string();
        assert!(ProductId::parse(&id).is_ok());
        assert!(
            OrderId::parse(&id.to_lowercase()).is_err(),
            "non-canonical spelling would alias keys"
        );
        for bad in [
            "",
            "x",
            "01ARZ3NDEKTSV4RRFFQ69G5FA",
            "01ARZ3NDEKTSV4RRFFQ69G5FAVV",
            "../../etc/passwd",
        ] {
            assert!(ProductId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn user_ids_refuse_empty_huge_and_control_characters() {
        assert!(UserId::parse("auth0|abc").is_ok());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse(&"a".repeat(256)).is_err());
        assert!(UserId::parse("a\nb").is_err());
    }
}
