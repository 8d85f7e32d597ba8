use async_trait::async_trait;
use stagecoach_domain::agent::{Agent, AgentSettings};
use stagecoach_domain::enums::AgentVisibility;
use stagecoach_domain::ids::{AgentId, OrganizationId};
use uuid::Uuid;

use crate::StoreError;
use crate::rows::{parse_enum, time};

#[async_trait]
pub trait Agents {
    /// Fails with [`StoreError::UniqueViolation`] when the handle is taken in the organization.
    async fn insert_agent(&mut self, agent: &Agent) -> Result<(), StoreError>;
    async fn get_agent(
        &mut self,
        org: OrganizationId,
        id: AgentId,
    ) -> Result<Option<Agent>, StoreError>;
    async fn get_agent_by_handle(
        &mut self,
        org: OrganizationId,
        handle: &str,
    ) -> Result<Option<Agent>, StoreError>;
    /// Fails with [`StoreError::UniqueViolation`] when the new handle is taken.
    async fn update_agent(&mut self, agent: &Agent) -> Result<(), StoreError>;
    /// Deletes the agent; steps that pointed at it keep going without one.
    async fn delete_agent(&mut self, org: OrganizationId, id: AgentId) -> Result<bool, StoreError>;
    /// The organization's agents, by name.
    async fn list_agents(&mut self, org: OrganizationId) -> Result<Vec<Agent>, StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct AgentRow {
        id: Uuid,
        organization_id: Uuid,
        name: String,
        description: Option<String>,
        handle: Option<String>,
        model_name: String,
        temperature: f64,
        system_prompt: Option<String>,
        visibility: String,
        icon_url: Option<String>,
        created_at: i64,
        updated_at: i64,
    }
}

impl AgentRow {
    pub(crate) fn into_domain(self) -> Result<Agent, StoreError> {
        Ok(Agent {
            id: AgentId(self.id),
            organization_id: OrganizationId(self.organization_id),
            settings: AgentSettings {
                name: self.name,
                description: self.description,
                handle: self.handle,
                model_name: self.model_name,
                temperature: self.temperature,
                system_prompt: self.system_prompt,
                visibility: parse_enum("visibility", &self.visibility, AgentVisibility::parse)?,
                icon_url: self.icon_url,
            },
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

macro_rules! impl_agents {
    ($tx:ty) => {
        #[async_trait::async_trait]
        impl $crate::repos::agents::Agents for $tx {
            async fn insert_agent(
                &mut self,
                a: &stagecoach_domain::agent::Agent,
            ) -> Result<(), $crate::StoreError> {
                let s = &a.settings;
                $crate::sql::query(
                    "INSERT INTO agents (id, organization_id, name, description, handle, model_name, \
                     temperature, system_prompt, visibility, icon_url, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(a.id.0)
                .bind(a.organization_id.0)
                .bind(&s.name)
                .bind(&s.description)
                .bind(&s.handle)
                .bind(&s.model_name)
                .bind(s.temperature)
                .bind(&s.system_prompt)
                .bind(s.visibility.as_str())
                .bind(&s.icon_url)
                .bind($crate::rows::millis(a.created_at))
                .bind($crate::rows::millis(a.updated_at))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn get_agent(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::AgentId,
            ) -> Result<Option<stagecoach_domain::agent::Agent>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::agents::AgentRow>(
                    "SELECT * FROM agents WHERE organization_id = $1 AND id = $2",
                )
                .bind(org.0)
                .bind(id.0)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }

            async fn list_agents(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
            ) -> Result<Vec<stagecoach_domain::agent::Agent>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::agents::AgentRow>(
                    "SELECT * FROM agents WHERE organization_id = $1 ORDER BY name, id",
                )
                .bind(org.0)
                .fetch_all(self.conn())
                .await?
                .into_iter()
                .map(|row| row.into_domain())
                .collect()
            }

            async fn get_agent_by_handle(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                handle: &str,
            ) -> Result<Option<stagecoach_domain::agent::Agent>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::agents::AgentRow>(
                    "SELECT * FROM agents WHERE organization_id = $1 AND handle = $2",
                )
                .bind(org.0)
                .bind(handle)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }

            async fn update_agent(
                &mut self,
                a: &stagecoach_domain::agent::Agent,
            ) -> Result<(), $crate::StoreError> {
                let s = &a.settings;
                $crate::sql::query(
                    "UPDATE agents SET name = $3, description = $4, handle = $5, model_name = $6, \
                     temperature = $7, system_prompt = $8, visibility = $9, icon_url = $10, \
                     updated_at = $11 WHERE organization_id = $1 AND id = $2",
                )
                .bind(a.organization_id.0)
                .bind(a.id.0)
                .bind(&s.name)
                .bind(&s.description)
                .bind(&s.handle)
                .bind(&s.model_name)
                .bind(s.temperature)
                .bind(&s.system_prompt)
                .bind(s.visibility.as_str())
                .bind(&s.icon_url)
                .bind($crate::rows::millis(a.updated_at))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn delete_agent(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::AgentId,
            ) -> Result<bool, $crate::StoreError> {
                let done = $crate::sql::query("DELETE FROM agents WHERE organization_id = $1 AND id = $2")
                    .bind(org.0)
                    .bind(id.0)
                    .execute(self.conn())
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use impl_agents;
