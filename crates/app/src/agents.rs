use stagecoach_domain::agent::{Agent, AgentPatch, AgentSettings};
use stagecoach_domain::ids::AgentId;
use stagecoach_storage::{StoreError, Transaction};

use crate::{AppError, Entity, Principal, Stagecoach};

/// How a request names an agent: by id, or by its handle written `@handle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentRef {
    Id(AgentId),
    Handle(String),
    /// Neither a valid id nor a handle: matches nothing.
    Unknown,
}

impl AgentRef {
    pub fn parse(text: &str) -> AgentRef {
        match text.strip_prefix('@') {
            Some(handle) => AgentRef::Handle(handle.to_lowercase()),
            None => AgentId::parse(text).map_or(AgentRef::Unknown, AgentRef::Id),
        }
    }
}

impl Stagecoach {
    pub async fn create_agent(
        &self,
        who: &Principal,
        settings: AgentSettings,
    ) -> Result<Agent, AppError> {
        let now = self.now();
        let agent = Agent {
            id: AgentId::new(),
            organization_id: who.organization_id,
            settings: settings.validated()?,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin_write().await?;
        handle_conflict(tx.insert_agent(&agent).await)?;
        tx.commit().await?;
        Ok(agent)
    }

    /// Every agent of the organization, by name.
    pub async fn list_agents(&self, who: &Principal) -> Result<Vec<Agent>, AppError> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx.list_agents(who.organization_id).await?)
    }

    pub async fn get_agent(&self, who: &Principal, agent: &AgentRef) -> Result<Agent, AppError> {
        let mut tx = self.store.begin_read().await?;
        find_agent(tx.as_mut(), who, agent).await
    }

    pub async fn update_agent(
        &self,
        who: &Principal,
        agent: &AgentRef,
        patch: AgentPatch,
    ) -> Result<Agent, AppError> {
        let mut tx = self.store.begin_write().await?;
        let mut current = find_agent(tx.as_mut(), who, agent).await?;
        current.settings = current.settings.patched(patch).validated()?;
        current.updated_at = self.now();
        handle_conflict(tx.update_agent(&current).await)?;
        tx.commit().await?;
        Ok(current)
    }

    /// Deletes an agent; steps that named it as their agent keep working without one.
    pub async fn delete_agent(&self, who: &Principal, agent: &AgentRef) -> Result<Agent, AppError> {
        let mut tx = self.store.begin_write().await?;
        let current = find_agent(tx.as_mut(), who, agent).await?;
        tx.delete_agent(who.organization_id, current.id).await?;
        tx.commit().await?;
        Ok(current)
    }
}

async fn find_agent(
    tx: &mut dyn Transaction,
    who: &Principal,
    agent: &AgentRef,
) -> Result<Agent, AppError> {
    let found = match agent {
        AgentRef::Id(id) => tx.get_agent(who.organization_id, *id).await?,
        AgentRef::Handle(handle) => tx.get_agent_by_handle(who.organization_id, handle).await?,
        AgentRef::Unknown => None,
    };
    found.ok_or(AppError::not_found(Entity::Agent, "id"))
}

fn handle_conflict(result: Result<(), StoreError>) -> Result<(), AppError> {
    match result {
        Err(StoreError::UniqueViolation) => Err(AppError::Conflict {
            field: "handle",
            message: "another agent of this organization already has this handle".into(),
        }),
        other => Ok(other?),
    }
}
