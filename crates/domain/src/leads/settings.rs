//! An organization's lead settings: which field identifies a lead, the custom fields, the
//! stage pipeline, lost reasons and custom action types. One document, validated whole.

use serde::{Deserialize, Serialize};

use crate::ValidationError;
use crate::error::Errors;

/// The standard lead fields every organization has.
pub const STANDARD_FIELDS: &[(&str, FieldType)] = &[
    ("name", FieldType::Text),
    ("phone", FieldType::Phone),
    ("email", FieldType::Email),
    ("rating", FieldType::Rating),
    ("status", FieldType::Status),
    ("assignee", FieldType::ActiveUsers),
];

/// The types a lead or action field can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FieldType {
    Text,
    Email,
    Phone,
    Number,
    Date,
    Dropdown,
    Tags,
    Money,
    Website,
    Medialink,
    ActiveUsers,
    Rating,
    Status,
    LostReason,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDefinition {
    pub api_name: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default)]
    pub description: Option<String>,
    /// Labels of a dropdown's options.
    #[serde(default)]
    pub options: Vec<String>,
    /// The field cannot change once the lead exists.
    #[serde(default)]
    pub lock_after_create: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum StageType {
    Open,
    Won,
    Lost,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusLabel {
    pub label: String,
    #[serde(default = "default_color")]
    pub color: String,
}

fn default_color() -> String {
    "#555555".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    #[serde(rename = "stageType")]
    pub stage_type: StageType,
    pub statuses: Vec<StatusLabel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionType {
    /// The numeric code (1001, 1002, …), written `"1001"` in the sync API and
    /// `"ACTION_1001"` in the async one.
    pub code: u32,
    pub display_name: String,
    /// Added to a lead's score each time the action is recorded.
    #[serde(default)]
    pub score: i64,
    #[serde(default)]
    pub description: Option<String>,
    /// The action's fields.
    #[serde(default)]
    pub fields: Vec<FieldDefinition>,
}

/// Everything an organization configures about leads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadSettings {
    /// The api name of the field that identifies a lead: `phone` (default), `email`, or a
    /// custom text field.
    pub identifier: String,
    #[serde(default)]
    pub custom_fields: Vec<FieldDefinition>,
    pub pipeline: Vec<Stage>,
    #[serde(default)]
    pub lost_reasons: Vec<String>,
    #[serde(default)]
    pub action_types: Vec<ActionType>,
}

impl Default for LeadSettings {
    /// Phone identifies leads; Fresh, Contacted, Qualified are open, Won and Lost close.
    fn default() -> Self {
        let status = |label: &str, color: &str| StatusLabel {
            label: label.into(),
            color: color.into(),
        };
        LeadSettings {
            identifier: "phone".into(),
            custom_fields: Vec::new(),
            pipeline: vec![
                Stage {
                    stage_type: StageType::Open,
                    statuses: vec![
                        status("Fresh", "#2196f3"),
                        status("Contacted", "#ff9800"),
                        status("Qualified", "#9c27b0"),
                    ],
                },
                Stage {
                    stage_type: StageType::Won,
                    statuses: vec![status("Won", "#4caf50")],
                },
                Stage {
                    stage_type: StageType::Lost,
                    statuses: vec![status("Lost", "#f44336")],
                },
            ],
            lost_reasons: vec![
                "Not interested".into(),
                "Budget".into(),
                "Unreachable".into(),
            ],
            action_types: Vec::new(),
        }
    }
}

impl LeadSettings {
    /// The definition of a lead field, standard or custom.
    pub fn field(&self, api_name: &str) -> Option<FieldDefinition> {
        STANDARD_FIELDS
            .iter()
            .find(|(name, _)| *name == api_name)
            .map(|(name, field_type)| FieldDefinition {
                api_name: (*name).to_owned(),
                field_type: *field_type,
                description: None,
                options: Vec::new(),
                lock_after_create: false,
            })
            .or_else(|| {
                self.custom_fields
                    .iter()
                    .find(|f| f.api_name == api_name)
                    .cloned()
            })
    }

    pub fn action_type(&self, code: u32) -> Option<&ActionType> {
        self.action_types.iter().find(|a| a.code == code)
    }

    /// Every status label, with its stage type, in pipeline order.
    pub fn statuses(&self) -> impl Iterator<Item = (StageType, &StatusLabel)> {
        self.pipeline
            .iter()
            .flat_map(|stage| stage.statuses.iter().map(move |s| (stage.stage_type, s)))
    }

    pub fn has_status(&self, label: &str) -> bool {
        self.statuses()
            .any(|(_, s)| s.label.eq_ignore_ascii_case(label))
    }

    /// Checks the whole document: unique names and codes, a usable identifier, a pipeline
    /// with an open stage, fields with valid names and options.
    pub fn validated(self) -> Result<LeadSettings, ValidationError> {
        let mut errors = Errors::default();
        let mut names: Vec<&str> = STANDARD_FIELDS.iter().map(|(n, _)| *n).collect();
        for field in &self.custom_fields {
            if !valid_api_name(&field.api_name) {
                errors.add(
                    "customFields",
                    format!(
                        "{:?} is not a valid api name (letters, digits, _)",
                        field.api_name
                    ),
                );
            } else if names.contains(&field.api_name.as_str()) {
                errors.add(
                    "customFields",
                    format!("{:?} is defined twice", field.api_name),
                );
            }
            names.push(&field.api_name);
            if field.field_type == FieldType::Dropdown && field.options.is_empty() {
                errors.add(
                    "customFields",
                    format!("dropdown {:?} needs options", field.api_name),
                );
            }
        }
        match self.field(&self.identifier).map(|f| f.field_type) {
            Some(FieldType::Phone | FieldType::Email | FieldType::Text) => {}
            _ => errors.add("identifier", "must be phone, email or a custom text field"),
        }
        if !self
            .pipeline
            .iter()
            .any(|s| s.stage_type == StageType::Open && !s.statuses.is_empty())
        {
            errors.add("pipeline", "needs an OPEN stage with at least one status");
        }
        let mut labels: Vec<String> = Vec::new();
        for (_, status) in self.statuses() {
            let label = status.label.trim().to_lowercase();
            if label.is_empty() || labels.contains(&label) {
                errors.add(
                    "pipeline",
                    format!(
                        "status labels must be non-empty and unique ({:?})",
                        status.label
                    ),
                );
            }
            labels.push(label);
        }
        let mut codes = Vec::new();
        for action in &self.action_types {
            if action.code < 1000 || codes.contains(&action.code) {
                errors.add(
                    "actionTypes",
                    format!(
                        "codes must be unique numbers from 1000 on ({})",
                        action.code
                    ),
                );
            }
            codes.push(action.code);
            if action.display_name.trim().is_empty() {
                errors.add(
                    "actionTypes",
                    format!("action {} needs a displayName", action.code),
                );
            }
            let mut field_names = Vec::new();
            for field in &action.fields {
                if !valid_api_name(&field.api_name) || field_names.contains(&field.api_name) {
                    errors.add(
                        "actionTypes",
                        format!(
                            "action {}: field {:?} is invalid or repeated",
                            action.code, field.api_name
                        ),
                    );
                }
                field_names.push(field.api_name.clone());
            }
        }
        errors.into_result().map(|()| self)
    }
}

fn valid_api_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let settings = LeadSettings::default().validated().unwrap();
        assert!(settings.has_status("fresh"));
        assert_eq!(
            settings.field("phone").unwrap().field_type,
            FieldType::Phone
        );
    }

    #[test]
    fn invalid_documents_name_the_part_at_fault() {
        let mut s = LeadSettings {
            identifier: "rating".into(),
            ..LeadSettings::default()
        };
        s.custom_fields.push(FieldDefinition {
            api_name: "name".into(),
            field_type: FieldType::Text,
            description: None,
            options: vec![],
            lock_after_create: false,
        });
        s.action_types.push(ActionType {
            code: 7,
            display_name: "".into(),
            score: 0,
            description: None,
            fields: vec![],
        });
        let fields: Vec<_> = s
            .validated()
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["customFields", "identifier", "actionTypes", "actionTypes"]
        );
    }
}
