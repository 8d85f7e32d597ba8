//! Labels: the names and colours of conversation tags. A tag on a conversation is a label
//! id, whichever door set it (a step's `defaultTags`, or Texter's chat labels).

use chrono::{DateTime, Utc};

use crate::ValidationError;
use crate::error::Errors;
use crate::ids::OrganizationId;

pub const DEFAULT_COLOR: &str = "#555555";

/// Labels every organization has; they can be renamed and recoloured, never deleted.
pub const SYSTEM_LABELS: &[(&str, &str, &str)] = &[("failed-message", "Failed message", "#d32f2f")];

#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub organization_id: OrganizationId,
    /// What conversations carry as a tag.
    pub id: String,
    pub name: String,
    pub color: String,
    pub system: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Checks a label id, name and colour (`#RRGGBB`); each is checked only when given.
pub fn check(
    id: Option<&str>,
    name: Option<&str>,
    color: Option<&str>,
) -> Result<(), ValidationError> {
    let mut errors = Errors::default();
    for (field, value) in [("id", id), ("name", name)] {
        if let Some(value) = value {
            let length = value.trim().chars().count();
            if length == 0 || length > 100 {
                errors.add(field, "must be 1 to 100 characters");
            }
        }
    }
    if let Some(color) = color {
        let valid = color.len() == 7
            && color.starts_with('#')
            && color[1..].chars().all(|c| c.is_ascii_hexdigit());
        if !valid {
            errors.add("color", "must be a colour written #RRGGBB");
        }
    }
    errors.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_names_and_colours_are_checked() {
        assert!(check(Some("vip"), Some("VIP"), Some("#00ff00")).is_ok());
        assert!(check(None, None, None).is_ok());
        let err = check(Some(""), Some(&"x".repeat(101)), Some("green")).unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_ref()).collect();
        assert_eq!(fields, ["id", "name", "color"]);
    }
}
