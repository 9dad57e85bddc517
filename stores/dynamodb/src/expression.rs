//! DynamoDB update and condition expressions, built clause by clause. Every attribute goes through
//! a `#name` placeholder and every value through a `:value` placeholder, both allocated here, so a
//! call site never writes a placeholder or a map by hand: reserved words (`status`, `name`, `type`)
//! need no special care, and no placeholder can be left unused or undefined, which DynamoDB
//! refuses.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// How a condition compares an attribute with a value.
#[derive(Debug, Clone, Copy)]
pub enum Compare {
    Equal,
    Less,
    Greater,
    AtMost,
    AtLeast,
}

impl Compare {
    fn operator(self) -> &'static str {
        match self {
            Compare::Equal => "=",
            Compare::Less => "<",
            Compare::Greater => ">",
            Compare::AtMost => "<=",
            Compare::AtLeast => ">=",
        }
    }
}

/// The `SET`, `REMOVE` and `ADD` clauses of an update and the conditions it (or a query's key)
/// must meet, all joined by `AND`.
#[derive(Debug, Default)]
pub struct Expression {
    set: Vec<String>,
    remove: Vec<String>,
    add: Vec<String>,
    conditions: Vec<String>,
    /// Placeholder to attribute name.
    names: HashMap<String, String>,
    /// Placeholder to value.
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    /// `SET attribute = value`.
    pub fn set(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        let (name, value) = (self.name(attribute), self.value(value));
        self.set.push(format!("{name} = {value}"));
        self
    }

    /// `SET attribute = if_not_exists(attribute, value)`: fills the attribute in only when absent.
    pub fn set_if_absent(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        let (name, value) = (self.name(attribute), self.value(value));
        self.set.push(format!("{name} = if_not_exists({name}, {value})"));
        self
    }

    /// `SET attribute = attribute + by`.
    pub fn increment(&mut self, attribute: &str, by: AttributeValue) -> &mut Self {
        let (name, by) = (self.name(attribute), self.value(by));
        self.set.push(format!("{name} = {name} + {by}"));
        self
    }

    /// `SET attribute = attribute - by`.
    pub fn decrement(&mut self, attribute: &str, by: AttributeValue) -> &mut Self {
        let (name, by) = (self.name(attribute), self.value(by));
        self.set.push(format!("{name} = {name} - {by}"));
        self
    }

    /// `ADD attribute value`.
    pub fn add(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        let (name, value) = (self.name(attribute), self.value(value));
        self.add.push(format!("{name} {value}"));
        self
    }

    /// `REMOVE attribute`.
    pub fn remove(&mut self, attribute: &str) -> &mut Self {
        let name = self.name(attribute);
        self.remove.push(name);
        self
    }

    /// Requires `attribute_exists(attribute)`.
    pub fn require_exists(&mut self, attribute: &str) -> &mut Self {
        let name = self.name(attribute);
        self.conditions.push(format!("attribute_exists({name})"));
        self
    }

    /// Requires `attribute <compare> value`.
    pub fn require(&mut self, attribute: &str, compare: Compare, value: AttributeValue) -> &mut Self {
        let (name, value) = (self.name(attribute), self.value(value));
        self.conditions.push(format!("{name} {} {value}", compare.operator()));
        self
    }

    /// Requires the attribute to be absent or to hold anything but `value`.
    pub fn require_absent_or_not(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        let (name, value) = (self.name(attribute), self.value(value));
        self.conditions
            .push(format!("(attribute_not_exists({name}) OR {name} <> {value})"));
        self
    }

    /// Requires `attribute` to be absent, or every comparison of `otherwise` to hold:
    /// `(attribute_not_exists(a) OR (b < v AND c <= w))`, e.g. "a fresh counter, or one with room".
    pub fn require_absent_or_all(
        &mut self,
        attribute: &str,
        otherwise: &[(&str, Compare, AttributeValue)],
    ) -> &mut Self {
        let absent = format!("attribute_not_exists({})", self.name(attribute));
        let all: Vec<String> = otherwise
            .iter()
            .map(|(attribute, compare, value)| {
                let (name, value) = (self.name(attribute), self.value(value.clone()));
                format!("{name} {} {value}", compare.operator())
            })
            .collect();
        self.conditions.push(format!("({absent} OR ({}))", all.join(" AND ")));
        self
    }

    /// Requires `begins_with(attribute, prefix)`.
    pub fn require_begins_with(&mut self, attribute: &str, prefix: AttributeValue) -> &mut Self {
        let (name, prefix) = (self.name(attribute), self.value(prefix));
        self.conditions.push(format!("begins_with({name}, {prefix})"));
        self
    }

    /// Requires `attribute BETWEEN low AND high` (both bounds included).
    pub fn require_between(&mut self, attribute: &str, low: AttributeValue, high: AttributeValue) -> &mut Self {
        let (name, low, high) = (self.name(attribute), self.value(low), self.value(high));
        self.conditions.push(format!("{name} BETWEEN {low} AND {high}"));
        self
    }

    /// The `UpdateExpression`, if any clause was added.
    pub fn update_expression(&self) -> Option<String> {
        let clauses: Vec<String> = [("SET", &self.set), ("REMOVE", &self.remove), ("ADD", &self.add)]
            .into_iter()
            .filter(|(_, parts)| !parts.is_empty())
            .map(|(keyword, parts)| format!("{keyword} {}", parts.join(", ")))
            .collect();
        (!clauses.is_empty()).then(|| clauses.join(" "))
    }

    /// The `ConditionExpression` (or a query's `KeyConditionExpression`), if any condition was added.
    pub fn condition_expression(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| self.conditions.join(" AND "))
    }

    /// `ExpressionAttributeNames`; `None` when empty, because DynamoDB refuses an empty map.
    pub fn expression_attribute_names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    /// `ExpressionAttributeValues`; `None` when empty, because DynamoDB refuses an empty map.
    pub fn expression_attribute_values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// The placeholder of `attribute`: the same one each time it is named.
    fn name(&mut self, attribute: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, named)| *named == attribute) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attribute.to_string());
        placeholder
    }

    /// The placeholder of `value`: equal values share one, as a hand-written expression would.
    fn value(&mut self, value: AttributeValue) -> String {
        if let Some((placeholder, _)) = self.values.iter().find(|(_, known)| **known == value) {
            return placeholder.clone();
        }
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::{n, s};

    #[test]
    fn clauses_and_conditions_render_with_allocated_placeholders() {
        let mut expression = Expression::default();
        expression
            .set("status", s("paid"))
            .increment("version", n(1))
            .remove("GSI2PK")
            .add("stock", n(1))
            .require_exists("PK")
            .require("status", Compare::Equal, s("pending"))
            .require_absent_or_not("write_token", s("t"));
        assert_eq!(
            expression.update_expression().as_deref(),
            Some("SET #n0 = :v0, #n1 = #n1 + :v1 REMOVE #n2 ADD #n3 :v1")
        );
        assert_eq!(
            expression.condition_expression().as_deref(),
            Some("attribute_exists(#n4) AND #n0 = :v2 AND (attribute_not_exists(#n5) OR #n5 <> :v3)")
        );
        let names = expression.expression_attribute_names().unwrap_or_default();
        assert_eq!(names.len(), 6);
        assert_eq!(names.get("#n0").map(String::as_str), Some("status"));
        assert_eq!(names.get("#n5").map(String::as_str), Some("write_token"));
        let values = expression.expression_attribute_values().unwrap_or_default();
        assert_eq!(values.len(), 4);
        assert_eq!(values.get(":v1"), Some(&n(1)));
    }

    #[test]
    fn key_conditions_and_if_absent() {
        let mut expression = Expression::default();
        expression
            .require("GSI2PK", Compare::Equal, s("PAID#2024-01-01"))
            .require_between("GSI2SK", s("a"), s("b"))
            .require_begins_with("GSI1SK", s("ORDER#"))
            .set_if_absent("type", s("profile"))
            .decrement("stock", n(2));
        assert_eq!(
            expression.condition_expression().as_deref(),
            Some("#n0 = :v0 AND #n1 BETWEEN :v1 AND :v2 AND begins_with(#n2, :v3)")
        );
        assert_eq!(
            expression.update_expression().as_deref(),
            Some("SET #n3 = if_not_exists(#n3, :v4), #n4 = #n4 - :v5")
        );
    }

    #[test]
    fn absent_or_all_groups_its_alternatives() {
        let mut expression = Expression::default();
        expression.add("unpaid_orders", n(1)).require_absent_or_all(
            "unpaid_orders",
            &[
                ("unpaid_orders", Compare::Less, n(10)),
                ("reserved_units", Compare::AtMost, n(498)),
            ],
        );
        assert_eq!(
            expression.condition_expression().as_deref(),
            Some("(attribute_not_exists(#n0) OR (#n0 < :v1 AND #n1 <= :v2))")
        );
        assert_eq!(expression.update_expression().as_deref(), Some("ADD #n0 :v0"));
    }

    #[test]
    fn an_empty_expression_has_no_parts() {
        let expression = Expression::default();
        assert_eq!(expression.update_expression(), None);
        assert_eq!(expression.condition_expression(), None);
        assert_eq!(expression.expression_attribute_names(), None);
        assert_eq!(expression.expression_attribute_values(), None);
    }
}
