//! The catalog: products, their prices and the stock we may still sell.

use super::{Cents, ProductId, Timestamp};
use serde::{Deserialize, Serialize};

/// A stock-keeping unit: `^[A-Z0-9-]{1,32}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl Sku {
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = (1..=32).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Sku(text.to_string()))
        } else {
            Err("must be 1 to 32 characters of A-Z, 0-9 and '-'".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sku {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Sku::parse(&text)
    }
}

impl From<Sku> for String {
    fn from(sku: Sku) -> String {
        sku.0
    }
}

/// Text of a bounded length in characters, with no control characters but ordinary whitespace.
fn bounded_text(text: &str, min: usize, max: usize) -> Result<String, String> {
    let length = text.chars().count();
    if length < min || length > max {
        return Err(format!("must be {min} to {max} characters long"));
    }
    if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err("must not contain control characters".into());
    }
    Ok(text.to_string())
}

/// A product's name: 1–200 characters, not only whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProductName(String);

impl ProductName {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("must not be blank".into());
        }
        bounded_text(text, 1, 200).map(ProductName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProductName {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        ProductName::parse(&text)
    }
}

impl From<ProductName> for String {
    fn from(name: ProductName) -> String {
        name.0
    }
}

/// A product's description: at most 2000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Description(String);

impl Description {
    pub fn parse(text: &str) -> Result<Self, String> {
        bounded_text(text, 0, 2000).map(Description)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Description {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Description::parse(&text)
    }
}

impl From<Description> for String {
    fn from(text: Description) -> String {
        text.0
    }
}

/// A unit price: 0 to 1,000,000,000 cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price(Cents);

impl Price {
    pub const MAX: i64 = 1_000_000_000;

    pub fn parse(cents: i64) -> Result<Self, String> {
        if (0..=Self::MAX).contains(&cents) {
            Ok(Price(Cents::new(cents)))
        } else {
            Err(format!("must be an integer from 0 to {}", Self::MAX))
        }
    }

    pub fn cents(self) -> Cents {
        self.0
    }
}

/// Units on hand and not reserved: 0 to 1,000,000 when set by an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stock(i64);

impl Stock {
    pub const MAX: i64 = 1_000_000;

    pub fn parse(units: i64) -> Result<Self, String> {
        if (0..=Self::MAX).contains(&units) {
            Ok(Stock(units))
        } else {
            Err(format!("must be an integer from 0 to {}", Self::MAX))
        }
    }

    /// Stock as stored. Returned reservations may lift it above [`Stock::MAX`]; only admin
    /// adjustments are bounded by it.
    pub fn from_stored(units: i64) -> Self {
        Stock(units)
    }

    pub fn units(self) -> i64 {
        self.0
    }
}

/// An admin's stock correction: non-zero, at most 1,000,000 either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockDelta(i64);

impl StockDelta {
    pub fn parse(delta: i64) -> Result<Self, String> {
        if delta != 0 && delta.unsigned_abs() <= Stock::MAX.unsigned_abs() {
            Ok(StockDelta(delta))
        } else {
            Err(format!("must be a non-zero integer from -{0} to {0}", Stock::MAX))
        }
    }

    pub fn units(self) -> i64 {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    pub sku: Sku,
    pub name: ProductName,
    pub description: Option<Description>,
    pub price: Price,
    pub stock: Stock,
    pub active: bool,
    /// Bumped by every PATCH, and only by PATCH: it is the product's ETag.
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What an admin's PATCH changes. `description: Some(None)` clears the description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductChange {
    pub name: Option<ProductName>,
    pub description: Option<Option<Description>>,
    pub price: Option<Price>,
    pub active: Option<bool>,
}

impl ProductChange {
    pub fn apply_to(&self, product: &mut Product) {
        if let Some(name) = &self.name {
            product.name = name.clone();
        }
        if let Some(description) = &self.description {
            product.description = description.clone();
        }
        if let Some(price) = self.price {
            product.price = price;
        }
        if let Some(active) = self.active {
            product.active = active;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sku_accepts_exactly_its_pattern(text in "\\PC{0,40}") {
            let expected = (1..=32).contains(&text.len())
                && text.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
            prop_assert_eq!(Sku::parse(&text).is_ok(), expected);
        }

        #[test]
        fn price_and_stock_bounds(n in any::<i64>()) {
            prop_assert_eq!(Price::parse(n).is_ok(), (0..=1_000_000_000).contains(&n));
            prop_assert_eq!(Stock::parse(n).is_ok(), (0..=1_000_000).contains(&n));
            prop_assert_eq!(StockDelta::parse(n).is_ok(), n != 0 && (-1_000_000..=1_000_000).contains(&n));
        }

        #[test]
        fn names_are_counted_in_characters(n in 0usize..260) {
            let name = "é".repeat(n);
            prop_assert_eq!(ProductName::parse(&name).is_ok(), (1..=200).contains(&n));
        }
    }

    #[test]
    fn names_refuse_blank_and_control_characters() {
        assert!(ProductName::parse("   ").is_err());
        assert!(ProductName::parse("tea\u{0}pot").is_err());
        assert!(Description::parse("").is_ok());
        assert!(Description::parse(&"x".repeat(2001)).is_err());
    }
}
