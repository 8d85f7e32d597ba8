use chrono::{DateTime, Utc};

use crate::ids::{OrganizationId, ScenarioId};

/// A pipeline: an ordered list of steps a conversation moves through.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub id: ScenarioId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
