//! Money is an integer number of minor units, never a float; the currency is one per deployment.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount in minor units (cents). Arithmetic is checked: an overflow is a bug we want to see,
/// not a wrapped total on an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Cents(i64);

impl Cents {
    pub const ZERO: Cents = Cents(0);

    pub const fn new(value: i64) -> Self {
        Cents(value)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Cents) -> Option<Cents> {
        self.0.checked_add(other.0).map(Cents)
    }

    pub fn checked_mul(self, factor: u32) -> Option<Cents> {
        self.0.checked_mul(i64::from(factor)).map(Cents)
    }
}

/// An ISO 4217 alphabetic code: three ASCII capitals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(code: &str) -> Result<Self, String> {
        match code.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|ch| ch.is_ascii_uppercase()) => Ok(Currency([*a, *b, *c])),
            _ => Err("must be a three-letter ISO 4217 code in capitals, such as USD".into()),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII capitals are ever stored, so this cannot fail; the fallback keeps it panic-free.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn currency_accepts_only_three_capitals() {
        assert_eq!(Currency::parse("EUR").map(|c| c.to_string()), Ok("EUR".to_string()));
        for bad in ["", "usd", "US", "USDD", "U$D", "ÉUR"] {
            assert!(Currency::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    proptest! {
        #[test]
        fn checked_arithmetic_matches_wide_integers(a in any::<i64>(), b in any::<i64>(), f in any::<u32>()) {
            let wide_sum = i128::from(a) + i128::from(b);
            prop_assert_eq!(Cents::new(a).checked_add(Cents::new(b)).map(|c| i128::from(c.get())),
                i64::try_from(wide_sum).ok().map(i128::from));
            let wide_product = i128::from(a) * i128::from(f);
            prop_assert_eq!(Cents::new(a).checked_mul(f).map(|c| i128::from(c.get())),
                i64::try_from(wide_product).ok().map(i128::from));
        }

        #[test]
        fn any_three_capitals_round_trip(code in "[A-Z]{3}") {
            prop_assert_eq!(Currency::parse(&code).map(|c| c.to_string()), Ok(code));
        }
    }
}
