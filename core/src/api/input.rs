//! Reading untrusted input: the JSON body, query parameters and headers. Every problem found is
//! collected as a [`FieldError`] named by its JSON path, so a client learns about all its mistakes
//! at once rather than one per round trip.

use super::ApiRequest;
use crate::{Error, FieldError};
use http::header;
use serde_json::{Map, Value};

/// The request's body as JSON, after checking it claims to be JSON. An empty body with no media
/// type is a missing body (400); any other non-JSON media type is 415.
pub fn json_body(request: &ApiRequest) -> Result<Value, Error> {
    let content_type = request
        .headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or(""));
    match content_type {
        None if request.body.is_empty() => return Err(Error::invalid("$", "a JSON body is required")),
        Some(value) if is_json_media_type(value) => {}
        _ => return Err(Error::UnsupportedMediaType),
    }
    serde_json::from_slice(&request.body).map_err(|e| Error::invalid("$", format!("is not valid JSON: {e}")))
}

fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Collects field errors while an object is read.
#[derive(Default)]
pub struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    pub fn new() -> Self {
        Checker::default()
    }

    pub fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// The value as an object, or an error at `path`.
    pub fn object<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            _ => {
                self.fail(path, "must be a JSON object");
                None
            }
        }
    }

    /// Flags every member of `object` not named in `known`.
    pub fn reject_unknown(&mut self, object: &Map<String, Value>, path: &str, known: &[&str]) {
        for name in object.keys().filter(|name| !known.contains(&name.as_str())) {
            self.fail(join(path, name), "is not a known field");
        }
    }

    /// A required member, parsed by `parse`.
    pub fn required<T>(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        name: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        match object.get(name) {
            None => {
                self.fail(join(path, name), "is required");
                None
            }
            Some(value) => self.parse_member(value, join(path, name), parse),
        }
    }

    /// An optional member: `Ok(None)` when absent (or null, when `null_is_absent`).
    pub fn optional<T>(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        name: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match object.get(name) {
            None => Some(None),
            Some(value) => self.parse_member(value, join(path, name), parse).map(Some),
        }
    }

    fn parse_member<T>(
        &mut self,
        value: &Value,
        field: String,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        match parse(value) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                self.fail(field, message);
                None
            }
        }
    }

    /// `Ok(())` when nothing failed, otherwise every failure at once.
    pub fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}

/// `items[0]` + `quantity` → `items[0].quantity`; the top level has no prefix.
pub fn join(path: &str, name: &str) -> String {
    if path.is_empty() || path == "$" {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

pub fn string(value: &Value) -> Result<&str, String> {
    value.as_str().ok_or_else(|| "must be a string".to_string())
}

/// An integer that fits i64. Integers too large for 64 bits (which JSON parsers read as floats)
/// are refused here rather than saturated.
pub fn integer(value: &Value) -> Result<i64, String> {
    match whole_number(value)? {
        Whole::Fits(n) => Ok(n),
        Whole::Beyond64Bits(_) => Err(format!("must be an integer from {} to {}", i64::MIN, i64::MAX)),
    }
}

/// An integer read by `parse`, a domain type's constructor, whose refusal names the type's range.
/// A number beyond 64 bits is beyond every such range, so it is handed on as the nearest i64 and
/// refused with the same message as any other out-of-range value, instead of a vaguer one.
pub fn ranged_integer<T>(value: &Value, parse: impl FnOnce(i64) -> Result<T, String>) -> Result<T, String> {
    match whole_number(value)? {
        Whole::Fits(n) | Whole::Beyond64Bits(n) => parse(n),
    }
}

enum Whole {
    Fits(i64),
    /// Saturated to `i64::MIN` or `i64::MAX`.
    Beyond64Bits(i64),
}

fn whole_number(value: &Value) -> Result<Whole, String> {
    let Value::Number(n) = value else {
        return Err("must be an integer".to_string());
    };
    if let Some(n) = n.as_i64() {
        return Ok(Whole::Fits(n));
    }
    if n.is_u64() {
        return Ok(Whole::Beyond64Bits(i64::MAX));
    }
    // A float: written with a fraction or an exponent, or `-0`, or too large for 64 bits. The
    // contract's integers are JSON Schema's (openapi.yaml, decision 12): a number whose value is
    // whole, however it is written, so `926.0`, `1e2` and `-0` are 926, 100 and 0. A double holds
    // every whole number up to 2^53 exactly, far beyond every bounded field.
    const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;
    match n.as_f64() {
        Some(f) if f >= TWO_TO_63 => Ok(Whole::Beyond64Bits(i64::MAX)),
        Some(f) if f < -TWO_TO_63 => Ok(Whole::Beyond64Bits(i64::MIN)),
        // In range and whole, so the conversion is exact.
        Some(f) if f.fract() == 0.0 => Ok(Whole::Fits(f as i64)),
        _ => Err("must be an integer, a number with no fractional part".to_string()),
    }
}

pub fn boolean(value: &Value) -> Result<bool, String> {
    value.as_bool().ok_or_else(|| "must be true or false".to_string())
}

/// A parsed query string: `limit` and `cursor` of the list routes.
pub struct ListQuery {
    pub limit: usize,
    pub cursor: Option<String>,
}

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

pub fn list_query(query: &str) -> Result<ListQuery, Error> {
    let mut limit = None;
    let mut cursor = None;
    let mut checker = Checker::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match percent_decode(name).as_deref() {
            Some("limit") => limit = Some(percent_decode(value)),
            Some("cursor") => cursor = Some(percent_decode(value)),
            _ => {}
        }
    }
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(text) => match text.as_deref().and_then(|t| t.parse::<usize>().ok()) {
            Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                checker.fail("limit", format!("must be an integer from 1 to {MAX_LIMIT}"));
                DEFAULT_LIMIT
            }
        },
    };
    let cursor = match cursor {
        None => None,
        Some(Some(text)) if text.is_empty() => None,
        Some(Some(text)) => Some(text),
        Some(None) => {
            checker.fail("cursor", "is not a valid cursor");
            None
        }
    };
    checker.finish()?;
    Ok(ListQuery { limit, cursor })
}

/// Decodes `%XX` escapes and `+`; `None` when the result is not UTF-8 or an escape is broken.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A header's value as text; a value that is not visible ASCII is treated as malformed. `name` is
/// spelled as the contract spells it (lookup ignores case), because it also names the field in errors.
pub fn header_text<'r>(request: &'r ApiRequest, name: &str) -> Result<Option<&'r str>, Error> {
    match request.headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(Some)
            .map_err(|_| Error::invalid(name, "must be printable ASCII")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn list_query_defaults_bounds_and_empty_cursor() {
        let q = list_query("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((q.limit, q.cursor), (20, None));
        let q = list_query("limit=100&cursor=").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((q.limit, q.cursor), (100, None));
        for bad in ["limit=0", "limit=101", "limit=abc", "limit=", "limit=-1", "limit=1e2"] {
            assert!(
                matches!(list_query(bad), Err(Error::Validation(e)) if e[0].field == "limit"),
                "{bad}"
            );
        }
        assert!(matches!(list_query("cursor=%ZZ"), Err(Error::Validation(e)) if e[0].field == "cursor"));
    }

    #[test]
    fn integers_are_whole_numbers_however_written() {
        let parse = |text: &str| {
            serde_json::from_str::<Value>(text)
                .map_err(|e| e.to_string())
                .and_then(|v| integer(&v))
        };
        assert_eq!(parse("42"), Ok(42));
        // JSON Schema's `integer`: the value counts, not how it is written.
        for (written, value) in [("926.0", 926), ("1e2", 100), ("-0", 0), ("-0.0", 0), ("-5.0", -5)] {
            assert_eq!(parse(written), Ok(value), "{written}");
        }
        assert_eq!(parse("-9223372036854775808.0"), Ok(i64::MIN));
        assert!(parse("4.5").is_err());
        assert!(parse("-0.5").is_err());
        assert!(parse("99999999999999999999").is_err());
        assert!(parse("\"42\"").is_err());
    }

    #[test]
    fn integers_out_of_range_name_the_range() {
        let parse = |text: &str, parser: fn(&Value) -> Result<i64, String>| {
            serde_json::from_str::<Value>(text)
                .map_err(|e| e.to_string())
                .and_then(|v| parser(&v))
        };
        let quantity = |v: &Value| ranged_integer(v, crate::domain::Quantity::parse).map(|q| i64::from(q.get()));
        for huge in [
            "101",
            "0",
            "-5",
            "9223372036854775808",
            "18446744073709551616",
            "99999999999999999999",
            "-99999999999999999999",
            "1e300",
            "-1e300",
        ] {
            assert_eq!(
                parse(huge, quantity),
                Err("must be an integer from 1 to 100".to_string()),
                "{huge}"
            );
        }
        for huge in ["9223372036854775808", "99999999999999999999", "-1e300"] {
            assert_eq!(
                parse(huge, integer),
                Err("must be an integer from -9223372036854775808 to 9223372036854775807".to_string()),
                "{huge}"
            );
        }
        // A fractional part is not a range problem: the message says what is wrong.
        for written in ["4.5", "0.5", "-0.5", "1.000001"] {
            let message = parse(written, quantity).err().unwrap_or_default();
            assert!(message.contains("no fractional part"), "{written}: {message}");
        }
        // A whole number written with a fraction or an exponent is checked against the range.
        assert_eq!(parse("1e2", quantity), Ok(100));
        assert_eq!(parse("7.0", quantity), Ok(7));
        assert_eq!(
            parse("1e3", quantity),
            Err("must be an integer from 1 to 100".to_string())
        );
        assert_eq!(parse("7", quantity), Ok(7));
        assert_eq!(parse("\"7\"", quantity), Err("must be an integer".to_string()));
    }

    #[test]
    fn checker_names_nested_fields_and_unknown_ones() {
        let body = json!({"items": [{"quantity": 0, "colour": "red"}]});
        let mut checker = Checker::new();
        let line = body["items"][0].as_object().unwrap_or_else(|| panic!("object"));
        checker.reject_unknown(line, "items[0]", &["product_id", "quantity"]);
        checker.required(line, "items[0]", "product_id", |v| string(v).map(str::to_string));
        let fields: Vec<String> = match checker.finish() {
            Err(Error::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(fields, ["items[0].colour", "items[0].product_id"]);
    }

    proptest! {
        #[test]
        fn any_query_string_is_an_answer_not_a_panic(query in "\\PC{0,64}") {
            let _ = list_query(&query);
        }
    }
}
