//! Settings shared by every shape of Orderly, read and validated once at start-up. A bad value
//! stops the process with a message naming the variable; nothing starts "anyway".

use crate::domain::Currency;
use std::collections::HashMap;

pub const ORDER_TTL_SECONDS: &str = "ORDER_TTL_SECONDS";
pub const CURRENCY: &str = "CURRENCY";
pub const PAYMENT_WEBHOOK_SECRET: &str = "PAYMENT_WEBHOOK_SECRET";

/// A secret's bytes. Its `Debug` never shows them, so it can sit in structs that get logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Secret(bytes.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            variable,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub currency: Currency,
    /// How long a placed order waits for payment: 1 s to 7 days.
    pub order_ttl_seconds: i64,
    pub webhook_secret: Secret,
}

impl Settings {
    pub const DEFAULT_ORDER_TTL_SECONDS: i64 = 900;
    pub const MAX_ORDER_TTL_SECONDS: i64 = 7 * 24 * 3600;

    /// Reads the settings from environment-like pairs. The webhook secret is passed separately
    /// because where it comes from differs by shape (environment, a generated file, a vault).
    pub fn from_vars(vars: &HashMap<String, String>, webhook_secret: Secret) -> Result<Self, ConfigError> {
        let currency = match vars.get(CURRENCY) {
            None => Currency::parse("USD").map_err(|m| ConfigError::new(CURRENCY, m))?,
            Some(code) => Currency::parse(code).map_err(|m| ConfigError::new(CURRENCY, m))?,
        };
        let order_ttl_seconds = match vars.get(ORDER_TTL_SECONDS) {
            None => Self::DEFAULT_ORDER_TTL_SECONDS,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|s| (1..=Self::MAX_ORDER_TTL_SECONDS).contains(s))
                .ok_or_else(|| {
                    ConfigError::new(
                        ORDER_TTL_SECONDS,
                        format!(
                            "must be a whole number of seconds from 1 to {}, got {text:?}",
                            Self::MAX_ORDER_TTL_SECONDS
                        ),
                    )
                })?,
        };
        if webhook_secret.expose().is_empty() {
            return Err(ConfigError::new(PAYMENT_WEBHOOK_SECRET, "must not be empty"));
        }
        Ok(Settings {
            currency,
            order_ttl_seconds,
            webhook_secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_apply_when_unset() {
        let s = Settings::from_vars(&vars(&[]), Secret::new("s")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.currency.as_str(), "USD");
        assert_eq!(s.order_ttl_seconds, 900);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = |pairs: &[(&str, &str)], secret: &str| Settings::from_vars(&vars(pairs), Secret::new(secret)).err();
        assert_eq!(
            err(&[("ORDER_TTL_SECONDS", "0")], "s").map(|e| e.variable),
            Some(ORDER_TTL_SECONDS)
        );
        assert_eq!(
            err(&[("ORDER_TTL_SECONDS", "15m")], "s").map(|e| e.variable),
            Some(ORDER_TTL_SECONDS)
        );
        assert_eq!(
            err(&[("ORDER_TTL_SECONDS", "604801")], "s").map(|e| e.variable),
            Some(ORDER_TTL_SECONDS)
        );
        assert_eq!(err(&[("CURRENCY", "usd")], "s").map(|e| e.variable), Some(CURRENCY));
        assert_eq!(err(&[], "").map(|e| e.variable), Some(PAYMENT_WEBHOOK_SECRET));
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(..)");
    }
}
