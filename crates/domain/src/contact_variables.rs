//! A contact's variables: free-form facts kept per contact (Chatvolt's contact
//! variables), each with where it came from. The AI agent reads them as what is known of
//! the contact; message texts use them as `{{contact.variables.<key>}}`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::error::{Errors, ValidationError};
use crate::ids::{ContactId, OrganizationId};

/// The longest key, in characters.
pub const MAX_KEY_LEN: usize = 100;
/// The most a value may take, as JSON text.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
/// The most variables one contact keeps.
pub const MAX_VARIABLES: usize = 200;

/// Who set a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariableSource {
    Human,
    Ai,
}

impl VariableSource {
    pub fn as_str(self) -> &'static str {
        match self {
            VariableSource::Human => "human",
            VariableSource::Ai => "ai",
        }
    }

    pub fn parse(text: &str) -> Option<VariableSource> {
        match text {
            "human" => Some(VariableSource::Human),
            "ai" => Some(VariableSource::Ai),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContactVariable {
    pub organization_id: OrganizationId,
    pub contact_id: ContactId,
    pub key: String,
    pub value: Value,
    pub source: VariableSource,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Checks a variable's key and value as given: a key of 1 to [`MAX_KEY_LEN`] characters
/// that does not start with `_` (reserved, as `_sources` is) and a value of at most
/// [`MAX_VALUE_BYTES`] as JSON.
pub fn check(key: &str, value: &Value) -> Result<(), ValidationError> {
    let mut errors = Errors::default();
    if key.trim().is_empty() {
        errors.add("key", "must not be empty");
    } else if key.starts_with('_') {
        errors.add("key", "must not start with _: those keys are reserved");
    } else if key.chars().count() > MAX_KEY_LEN {
        errors.add("key", format!("must be at most {MAX_KEY_LEN} characters"));
    }
    if value.to_string().len() > MAX_VALUE_BYTES {
        errors.add(
            "value",
            format!("must be at most {MAX_VALUE_BYTES} bytes as JSON"),
        );
    }
    errors.into_result()
}

/// The variables as one object, with `_sources` saying where each came from.
pub fn as_object(variables: &[ContactVariable]) -> Map<String, Value> {
    let mut object: Map<String, Value> = variables
        .iter()
        .map(|v| (v.key.clone(), v.value.clone()))
        .collect();
    let sources: Map<String, Value> = variables
        .iter()
        .map(|v| (v.key.clone(), json!(v.source.as_str())))
        .collect();
    object.insert("_sources".into(), Value::Object(sources));
    object
}

/// The variables as an object of their values only (what a prompt or a text uses).
pub fn values(variables: &[ContactVariable]) -> Map<String, Value> {
    variables
        .iter()
        .map(|v| (v.key.clone(), v.value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variable(key: &str, value: Value, source: VariableSource) -> ContactVariable {
        let now = Utc::now();
        ContactVariable {
            organization_id: OrganizationId::new(),
            contact_id: ContactId::new(),
            key: key.into(),
            value,
            source,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn keys_and_values_are_checked() {
        assert!(check("plano", &json!("pro")).is_ok());
        assert!(check("cart", &json!({"items": [1, 2]})).is_ok());
        for bad in ["", "  ", "_sources", &"k".repeat(101)] {
            assert_eq!(
                check(bad, &json!(1)).unwrap_err().0[0].field,
                "key",
                "{bad:?}"
            );
        }
        let big = json!("x".repeat(MAX_VALUE_BYTES));
        assert_eq!(check("k", &big).unwrap_err().0[0].field, "value");
    }

    #[test]
    fn the_object_tracks_sources() {
        let all = [
            variable("plano", json!("pro"), VariableSource::Human),
            variable("score", json!(7), VariableSource::Ai),
        ];
        assert_eq!(
            Value::Object(as_object(&all)),
            json!({"plano": "pro", "score": 7, "_sources": {"plano": "human", "score": "ai"}})
        );
        assert_eq!(
            Value::Object(values(&all)),
            json!({"plano": "pro", "score": 7})
        );
        assert_eq!(VariableSource::parse("ai"), Some(VariableSource::Ai));
        assert_eq!(VariableSource::parse("robot"), None);
    }
}
