//! A user's profile, created from the token's claims on first sight.

use super::{Timestamp, UserId};

/// A display name: 1–80 characters, not only whitespace, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(text: &str) -> Result<Self, String> {
        let length = text.chars().count();
        if !(1..=80).contains(&length) {
            return Err("must be 1 to 80 characters long".into());
        }
        if text.trim().is_empty() || text.chars().any(char::is_control) {
            return Err("must not be blank or contain control characters".into());
        }
        Ok(DisplayName(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub user_id: UserId,
    pub email: Option<String>,
    pub display_name: Option<DisplayName>,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_bounds() {
        assert!(DisplayName::parse("Ada").is_ok());
        assert!(DisplayName::parse(&"ß".repeat(80)).is_ok());
        assert!(DisplayName::parse(&"ß".repeat(81)).is_err());
        assert!(DisplayName::parse("").is_err());
        assert!(DisplayName::parse("  ").is_err());
        assert!(DisplayName::parse("a\u{7}").is_err());
    }
}
