use stagecoach_domain::Patch;
use stagecoach_domain::ids::{AgentId, ScenarioId};
use stagecoach_domain::organization::clean_name;
use stagecoach_domain::scenario::Scenario;

use crate::{AppError, Entity, Principal, Stagecoach};

impl Stagecoach {
    pub async fn list_scenarios(
        &self,
        who: &Principal,
        agent: Option<AgentId>,
    ) -> Result<Vec<Scenario>, AppError> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx.list_scenarios(who.organization_id, agent).await?)
    }

    /// One scenario of the caller's organization.
    pub async fn get_scenario(
        &self,
        who: &Principal,
        id: Option<ScenarioId>,
    ) -> Result<Scenario, AppError> {
        let mut tx = self.store.begin_read().await?;
        let found = match id {
            Some(id) => tx.get_scenario(who.organization_id, id).await?,
            None => None,
        };
        found.ok_or(AppError::not_found(crate::Entity::Scenario, "scenarioId"))
    }

    pub async fn create_scenario(
        &self,
        who: &Principal,
        name: &str,
        description: Option<String>,
    ) -> Result<Scenario, AppError> {
        let now = self.now();
        let scenario = Scenario {
            id: ScenarioId::new(),
            organization_id: who.organization_id,
            name: clean_name("name", name)?,
            description,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin_write().await?;
        tx.insert_scenario(&scenario).await?;
        tx.commit().await?;
        Ok(scenario)
    }

    /// Renames a scenario; its description is kept when absent and cleared when `null`.
    pub async fn update_scenario(
        &self,
        who: &Principal,
        id: Option<ScenarioId>,
        name: &str,
        description: Patch<String>,
    ) -> Result<Scenario, AppError> {
        let name = clean_name("name", name)?;
        let mut tx = self.store.begin_write().await?;
        let mut scenario = match id {
            Some(id) => tx.lock_scenario(who.organization_id, id).await?,
            None => None,
        }
        .ok_or(AppError::not_found(Entity::Scenario, "id"))?;
        scenario.name = name;
        scenario.description = description.apply(scenario.description);
        scenario.updated_at = self.now();
        tx.update_scenario(&scenario).await?;
        tx.commit().await?;
        Ok(scenario)
    }

    /// Deletes a scenario and its steps.
    pub async fn delete_scenario(
        &self,
        who: &Principal,
        id: Option<ScenarioId>,
    ) -> Result<Scenario, AppError> {
        let mut tx = self.store.begin_write().await?;
        let scenario = match id {
            Some(id) => tx.lock_scenario(who.organization_id, id).await?,
            None => None,
        }
        .ok_or(AppError::not_found(Entity::Scenario, "id"))?;
        tx.delete_scenario(who.organization_id, scenario.id).await?;
        tx.commit().await?;
        Ok(scenario)
    }
}
