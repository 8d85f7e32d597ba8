use chrono::{DateTime, Utc};

use crate::ValidationError;
use crate::enums::AgentVisibility;
use crate::error::Errors;
use crate::ids::{AgentId, OrganizationId};
use crate::organization::clean_name;
use crate::patch::Patch;

/// The model an agent gets when none is chosen. Turns of such an agent ask for the model
/// endpoint's default model instead (see `ai::settings::effective_model`).
pub const DEFAULT_MODEL_NAME: &str = "gpt-4o-mini";
pub const DEFAULT_TEMPERATURE: f64 = 0.2;

/// An AI agent: steps hand conversations to one, and channels send through one.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub id: AgentId,
    pub organization_id: OrganizationId,
    pub settings: AgentSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What an operator configures on an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSettings {
    pub name: String,
    pub description: Option<String>,
    /// Unique per organization; `GET /agents/@handle` finds the agent by it.
    pub handle: Option<String>,
    pub model_name: String,
    pub temperature: f64,
    pub system_prompt: Option<String>,
    pub visibility: AgentVisibility,
    pub icon_url: Option<String>,
}

/// A partial update of an agent's settings.
#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub name: Patch<String>,
    pub description: Patch<String>,
    pub handle: Patch<String>,
    pub model_name: Patch<String>,
    pub temperature: Patch<f64>,
    pub system_prompt: Patch<String>,
    pub visibility: Patch<AgentVisibility>,
    pub icon_url: Patch<String>,
}

impl AgentSettings {
    /// Applies a patch. Fields that cannot be empty fall back to their defaults when cleared.
    pub fn patched(self, patch: AgentPatch) -> AgentSettings {
        AgentSettings {
            name: patch.name.apply(Some(self.name)).unwrap_or_default(),
            description: patch.description.apply(self.description),
            handle: patch.handle.apply(self.handle),
            model_name: patch
                .model_name
                .apply(Some(self.model_name))
                .unwrap_or_else(|| DEFAULT_MODEL_NAME.to_owned()),
            temperature: patch
                .temperature
                .apply(Some(self.temperature))
                .unwrap_or(DEFAULT_TEMPERATURE),
            system_prompt: patch.system_prompt.apply(self.system_prompt),
            visibility: patch
                .visibility
                .apply(Some(self.visibility))
                .unwrap_or(AgentVisibility::Private),
            icon_url: patch.icon_url.apply(self.icon_url),
        }
    }

    /// Checks and normalizes the settings (trimmed name, handle without its `@`).
    pub fn validated(mut self) -> Result<AgentSettings, ValidationError> {
        let mut errors = Errors::default();
        match clean_name("name", &self.name) {
            Ok(name) => self.name = name,
            Err(e) => errors.extend(e),
        }
        if !(0.0..=1.0).contains(&self.temperature) || self.temperature.is_nan() {
            errors.add("temperature", "must be between 0.0 and 1.0");
        }
        if self.model_name.trim().is_empty() {
            errors.add("modelName", "must not be empty");
        }
        if let Some(handle) = &self.handle {
            let handle = handle.trim().trim_start_matches('@').to_lowercase();
            let valid = !handle.is_empty()
                && handle.len() <= 64
                && handle
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                errors.add(
                    "handle",
                    "must be 1 to 64 letters, digits, '-' or '_' (a leading '@' is allowed)",
                );
            }
            self.handle = Some(handle);
        }
        if let Some(url) = &self.icon_url
            && let Err(message) = crate::step::check_http_url(url)
        {
            errors.add("iconUrl", message);
        }
        errors.into_result().map(|()| self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AgentSettings {
        AgentSettings {
            name: " Sales bot ".into(),
            description: None,
            handle: Some("@Sales-Bot".into()),
            model_name: DEFAULT_MODEL_NAME.into(),
            temperature: DEFAULT_TEMPERATURE,
            system_prompt: None,
            visibility: AgentVisibility::Private,
            icon_url: None,
        }
    }

    #[test]
    fn validation_normalizes_name_and_handle() {
        let s = settings().validated().unwrap();
        assert_eq!(s.name, "Sales bot");
        assert_eq!(s.handle.as_deref(), Some("sales-bot"));
    }

    #[test]
    fn validation_names_every_bad_field() {
        let mut s = settings();
        s.name = " ".into();
        s.temperature = 1.5;
        s.handle = Some("no spaces".into());
        let err = s.validated().unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_ref()).collect();
        assert_eq!(fields, ["name", "temperature", "handle"]);
    }

    #[test]
    fn patch_clears_optional_and_defaults_required() {
        let patch = AgentPatch {
            handle: Patch::Null,
            temperature: Patch::Null,
            description: Patch::Set("d".into()),
            ..AgentPatch::default()
        };
        let s = settings().patched(patch);
        assert_eq!(s.handle, None);
        assert_eq!(s.temperature, DEFAULT_TEMPERATURE);
        assert_eq!(s.description.as_deref(), Some("d"));
        assert_eq!(s.name, " Sales bot ");
    }
}
