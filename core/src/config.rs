//! Settings shared by every shape of Orderly, read and validated once at start-up. A bad value
//! stops the process with a message naming the variable; nothing starts "anyway".

use crate::domain::{Currency, ReservationLimit};
use std::collections::HashMap;
use std::ops::RangeInclusive;

pub const ORDER_TTL_SECONDS: &str = "ORDER_TTL_SECONDS";
pub const CURRENCY: &str = "CURRENCY";
/// The payment provider's webhook secret, as the local server reads it (deployed, the function
/// that verifies webhooks reads it from SSM Parameter Store instead).
pub const PAYMENT_WEBHOOK_SECRET: &str = "PAYMENT_WEBHOOK_SECRET";
/// The key that signs list cursors, as the local server reads it. Its own secret, not derived from
/// the webhook's, so that only the functions that verify webhooks hold the webhook secret.
pub const CURSOR_KEY: &str = "ORDERLY_CURSOR_KEY";
/// The reservation limit (`domain::reservation`): unpaid orders one user may hold at once.
pub const MAX_UNPAID_ORDERS_PER_USER: &str = "MAX_UNPAID_ORDERS_PER_USER";
/// The reservation limit: units one user's unpaid orders may reserve together.
pub const MAX_RESERVED_UNITS_PER_USER: &str = "MAX_RESERVED_UNITS_PER_USER";

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

/// The secrets a shape hands the core, each only where it is used (`api::Route::secrets`): a
/// deployed function that neither verifies webhooks nor lists anything is given none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    pub webhook_secret: Option<Secret>,
    pub cursor_key: Option<Secret>,
}

impl Secrets {
    /// Both secrets: the local server's, which serves every route, and the tests'.
    pub fn both(webhook_secret: Secret, cursor_key: Secret) -> Self {
        Secrets {
            webhook_secret: Some(webhook_secret),
            cursor_key: Some(cursor_key),
        }
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
    /// The most one user may hold in unpaid orders at once.
    pub reservation_limit: ReservationLimit,
    pub secrets: Secrets,
}

impl Settings {
    pub const DEFAULT_ORDER_TTL_SECONDS: i64 = 900;
    pub const MAX_ORDER_TTL_SECONDS: i64 = 7 * 24 * 3600;
    /// Ten open orders is more than a real buyer keeps unpaid at once (the contract's own example).
    pub const DEFAULT_MAX_UNPAID_ORDERS_PER_USER: u32 = 10;
    /// So high that it limits nothing, which is what a load test placing every order as one user
    /// needs; anything beyond is a typo.
    pub const HIGHEST_MAX_UNPAID_ORDERS_PER_USER: u32 = 1_000_000;
    /// Five full lines of 100 units: more than a retail basket, a fifth of the 2,500 units one
    /// order may ask for, and what one account can hold across the catalog (docs/decisions.md, 11).
    pub const DEFAULT_MAX_RESERVED_UNITS_PER_USER: u32 = 500;
    /// The most stock one product can hold: as high as the limit on orders goes.
    pub const HIGHEST_MAX_RESERVED_UNITS_PER_USER: u32 = 1_000_000;

    /// Reads the settings from environment-like pairs. The secrets are passed separately because
    /// where they come from differs by shape (environment, generated files, SSM Parameter Store).
    pub fn from_vars(vars: &HashMap<String, String>, secrets: Secrets) -> Result<Self, ConfigError> {
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
        let reservation_limit = ReservationLimit {
            unpaid_orders: whole_number(
                vars,
                MAX_UNPAID_ORDERS_PER_USER,
                Self::DEFAULT_MAX_UNPAID_ORDERS_PER_USER,
                1..=Self::HIGHEST_MAX_UNPAID_ORDERS_PER_USER,
            )?,
            reserved_units: whole_number(
                vars,
                MAX_RESERVED_UNITS_PER_USER,
                Self::DEFAULT_MAX_RESERVED_UNITS_PER_USER,
                1..=Self::HIGHEST_MAX_RESERVED_UNITS_PER_USER,
            )?,
        };
        for (secret, variable) in [
            (&secrets.webhook_secret, PAYMENT_WEBHOOK_SECRET),
            (&secrets.cursor_key, CURSOR_KEY),
        ] {
            if secret.as_ref().is_some_and(|s| s.expose().is_empty()) {
                return Err(ConfigError::new(variable, "must not be empty"));
            }
        }
        Ok(Settings {
            currency,
            order_ttl_seconds,
            reservation_limit,
            secrets,
        })
    }
}

/// A whole number within `range`, or `default` when the variable is unset; anything else is
/// refused naming the variable and the range. Every shape reads its numeric settings with it.
pub fn whole_number<T>(
    vars: &HashMap<String, String>,
    variable: &'static str,
    default: T,
    range: RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let Some(text) = vars.get(variable) else {
        return Ok(default);
    };
    text.parse::<T>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
        ConfigError::new(
            variable,
            format!(
                "must be a whole number from {} to {}, got {text:?}",
                range.start(),
                range.end()
            ),
        )
    })
}

/// A duration in whole milliseconds within `range`, or `default` when the variable is unset.
pub fn milliseconds(
    vars: &HashMap<String, String>,
    variable: &'static str,
    default: std::time::Duration,
    range: RangeInclusive<u64>,
) -> Result<std::time::Duration, ConfigError> {
    match vars.get(variable) {
        None => Ok(default),
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|ms| range.contains(ms))
            .map(std::time::Duration::from_millis)
            .ok_or_else(|| {
                ConfigError::new(
                    variable,
                    format!(
                        "must be a whole number of milliseconds from {} to {}, got {text:?}",
                        range.start(),
                        range.end()
                    ),
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn secrets(webhook: &str) -> Secrets {
        Secrets::both(Secret::new(webhook), Secret::new("cursor-key"))
    }

    #[test]
    fn defaults_apply_when_unset() {
        let s = Settings::from_vars(&vars(&[]), secrets("s")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.currency.as_str(), "USD");
        assert_eq!(s.order_ttl_seconds, 900);
        assert_eq!(
            s.reservation_limit,
            ReservationLimit {
                unpaid_orders: 10,
                reserved_units: 500
            }
        );
    }

    #[test]
    fn the_reservation_limit_is_read_within_its_bounds() {
        let read =
            |pairs: &[(&str, &str)]| Settings::from_vars(&vars(pairs), secrets("s")).map(|s| s.reservation_limit);
        assert_eq!(
            read(&[
                (MAX_UNPAID_ORDERS_PER_USER, "1"),
                (MAX_RESERVED_UNITS_PER_USER, "1000000")
            ]),
            Ok(ReservationLimit {
                unpaid_orders: 1,
                reserved_units: 1_000_000
            }),
            "both bounds are allowed"
        );
        assert_eq!(
            read(&[(MAX_UNPAID_ORDERS_PER_USER, "1000000")]).map(|l| l.unpaid_orders),
            Ok(1_000_000)
        );
        for bad in ["0", "-1", "1000001", "ten", "", " 10", "10.0", "4294967296"] {
            let error = read(&[(MAX_UNPAID_ORDERS_PER_USER, bad)]).err();
            assert_eq!(
                error.as_ref().map(|e| e.variable),
                Some(MAX_UNPAID_ORDERS_PER_USER),
                "{bad:?}"
            );
            let message = error.map(|e| e.message).unwrap_or_default();
            assert!(message.contains("from 1 to 1000000"), "{bad:?}: {message}");
        }
        for bad in ["0", "1000001", "500 units"] {
            let error = read(&[(MAX_RESERVED_UNITS_PER_USER, bad)]).err();
            assert_eq!(error.map(|e| e.variable), Some(MAX_RESERVED_UNITS_PER_USER), "{bad:?}");
        }
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = |pairs: &[(&str, &str)], secret: &str| Settings::from_vars(&vars(pairs), secrets(secret)).err();
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
        let empty_cursor_key = Secrets::both(Secret::new("s"), Secret::new(""));
        assert_eq!(
            Settings::from_vars(&vars(&[]), empty_cursor_key)
                .err()
                .map(|e| e.variable),
            Some(CURSOR_KEY)
        );
    }

    #[test]
    fn a_shape_may_hold_no_secret_at_all() {
        let settings = Settings::from_vars(&vars(&[]), Secrets::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.secrets, Secrets::default());
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(..)");
    }
}
