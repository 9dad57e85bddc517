//! Turning verified claims into a caller: the user id, the email, and whether they are an admin.

use crate::domain::UserId;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub email: Option<String>,
    pub is_admin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("the token has no usable sub claim")]
    MissingSubject,
}

impl Caller {
    /// Reads `sub`, `email` and the groups claim (`cognito:groups` or `groups`). Groups arrive as
    /// a JSON array from a decoded token, or as API Gateway HTTP APIs flatten them: the string
    /// `"[admin staff]"`. Both mean the same here.
    pub fn from_claims(claims: &Map<String, Value>) -> Result<Self, ClaimsError> {
        let user_id = claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(|sub| UserId::parse(sub).ok())
            .ok_or(ClaimsError::MissingSubject)?;
        let email = claims
            .get("email")
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty() && e.len() <= 320)
            .map(str::to_string);
        let is_admin = ["cognito:groups", "groups"]
            .iter()
            .filter_map(|name| claims.get(*name))
            .any(|groups| group_names(groups).iter().any(|g| g == "admin"));
        Ok(Caller {
            user_id,
            email,
            is_admin,
        })
    }
}

fn group_names(groups: &Value) -> Vec<String> {
    match groups {
        Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Value::String(text) => {
            let inner = text.trim();
            let inner = inner
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .unwrap_or(inner);
            inner
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|g| !g.is_empty())
                .map(str::to_string)
                .collect()
        }
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn caller(claims: Value) -> Result<Caller, ClaimsError> {
        match claims {
            Value::Object(map) => Caller::from_claims(&map),
            _ => panic!("claims must be an object"),
        }
    }

    #[test]
    fn admin_from_every_shape_of_the_groups_claim() {
        for groups in [
            json!(["staff", "admin"]),
            json!("[admin staff]"),
            json!("[staff admin]"),
            json!("admin"),
        ] {
            assert!(
                caller(json!({"sub": "u", "groups": groups})).map(|c| c.is_admin) == Ok(true),
                "{groups}"
            );
            assert!(caller(json!({"sub": "u", "cognito:groups": groups})).map(|c| c.is_admin) == Ok(true));
        }
    }

    #[test]
    fn not_admin_without_the_exact_group() {
        for groups in [
            json!(["administrator"]),
            json!("[staff]"),
            json!("[Admin]"),
            json!(42),
            json!([1]),
        ] {
            assert_eq!(
                caller(json!({"sub": "u", "groups": groups})).map(|c| c.is_admin),
                Ok(false)
            );
        }
    }

    #[test]
    fn sub_is_required() {
        assert_eq!(caller(json!({"email": "a@b"})), Err(ClaimsError::MissingSubject));
        assert_eq!(caller(json!({"sub": ""})), Err(ClaimsError::MissingSubject));
        assert_eq!(caller(json!({"sub": 7})), Err(ClaimsError::MissingSubject));
    }
}
