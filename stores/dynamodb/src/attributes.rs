//! Reading and writing DynamoDB attribute values. A missing or mistyped attribute in a stored item
//! is corrupt data: an internal error, never a panic.

use aws_sdk_dynamodb::types::AttributeValue;
use orderly_core::ports::StoreError;
use std::collections::HashMap;
use std::str::FromStr;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn b(value: bool) -> AttributeValue {
    AttributeValue::Bool(value)
}

pub fn corrupt(item: &Item, attribute: &str, problem: &str) -> StoreError {
    let kind = item
        .get("type")
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or("unknown");
    StoreError::Internal(format!("corrupt {kind} item: attribute {attribute} {problem}"))
}

pub fn get_s<'i>(item: &'i Item, name: &str) -> Result<&'i str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(text)) => Ok(text),
        Some(_) => Err(corrupt(item, name, "is not a string")),
        None => Err(corrupt(item, name, "is missing")),
    }
}

/// A string attribute that may be absent or NULL.
pub fn get_opt_s<'i>(item: &'i Item, name: &str) -> Result<Option<&'i str>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(text)) => Ok(Some(text)),
        Some(_) => Err(corrupt(item, name, "is not a string")),
    }
}

pub fn get_n<T: FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(text)) => text.parse().map_err(|_| corrupt(item, name, "is out of range")),
        Some(_) => Err(corrupt(item, name, "is not a number")),
        None => Err(corrupt(item, name, "is missing")),
    }
}

pub fn get_opt_n<T: FromStr>(item: &Item, name: &str) -> Result<Option<T>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(_) => get_n(item, name).map(Some),
    }
}

pub fn get_bool(item: &Item, name: &str) -> Result<bool, StoreError> {
    match item.get(name) {
        Some(AttributeValue::Bool(flag)) => Ok(*flag),
        Some(_) => Err(corrupt(item, name, "is not a boolean")),
        None => Err(corrupt(item, name, "is missing")),
    }
}

/// A boolean attribute added after the first version of an item type reads as `false` when absent.
pub fn get_bool_or_false(item: &Item, name: &str) -> Result<bool, StoreError> {
    if item.contains_key(name) {
        get_bool(item, name)
    } else {
        Ok(false)
    }
}

pub fn get_list<'i>(item: &'i Item, name: &str) -> Result<&'i [AttributeValue], StoreError> {
    match item.get(name) {
        Some(AttributeValue::L(values)) => Ok(values),
        Some(_) => Err(corrupt(item, name, "is not a list")),
        None => Err(corrupt(item, name, "is missing")),
    }
}
