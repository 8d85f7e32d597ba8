use async_trait::async_trait;
use stagecoach_domain::ids::{AgentId, OrganizationId, ScenarioId};
use stagecoach_domain::scenario::Scenario;
use uuid::Uuid;

use crate::StoreError;
use crate::rows::time;

#[async_trait]
pub trait Scenarios {
    async fn insert_scenario(&mut self, scenario: &Scenario) -> Result<(), StoreError>;
    /// The organization's scenarios, oldest first; with `agent`, only those with a step
    /// handled by that agent.
    async fn list_scenarios(
        &mut self,
        org: OrganizationId,
        agent: Option<AgentId>,
    ) -> Result<Vec<Scenario>, StoreError>;
    async fn get_scenario(
        &mut self,
        org: OrganizationId,
        id: ScenarioId,
    ) -> Result<Option<Scenario>, StoreError>;
    /// Reads the scenario and holds a lock on it until the transaction ends, so that
    /// concurrent changes to its steps (appending, deleting) happen one after the other.
    async fn lock_scenario(
        &mut self,
        org: OrganizationId,
        id: ScenarioId,
    ) -> Result<Option<Scenario>, StoreError>;
    async fn update_scenario(&mut self, scenario: &Scenario) -> Result<(), StoreError>;
    /// Deletes the scenario and, with it, its steps.
    async fn delete_scenario(
        &mut self,
        org: OrganizationId,
        id: ScenarioId,
    ) -> Result<bool, StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct ScenarioRow {
        id: Uuid,
        organization_id: Uuid,
        name: String,
        description: Option<String>,
        created_at: i64,
        updated_at: i64,
    }
}

impl ScenarioRow {
    pub(crate) fn into_domain(self) -> Result<Scenario, StoreError> {
        Ok(Scenario {
            id: ScenarioId(self.id),
            organization_id: OrganizationId(self.organization_id),
            name: self.name,
            description: self.description,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

/// The one query that differs between engines: SQLite has no row locks (its write
/// transactions are already exclusive), PostgreSQL needs a row lock.
pub(crate) const LOCK_SCENARIO_SQLITE: &str =
    "SELECT * FROM scenarios WHERE organization_id = $1 AND id = $2";
pub(crate) const LOCK_SCENARIO_POSTGRES: &str =
    "SELECT * FROM scenarios WHERE organization_id = $1 AND id = $2 FOR NO KEY UPDATE";

macro_rules! impl_scenarios {
    ($tx:ty, lock_sql = $lock_sql:expr) => {
        #[async_trait::async_trait]
        impl $crate::repos::scenarios::Scenarios for $tx {
            async fn insert_scenario(
                &mut self,
                s: &stagecoach_domain::scenario::Scenario,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO scenarios (id, organization_id, name, description, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(s.id.0)
                .bind(s.organization_id.0)
                .bind(&s.name)
                .bind(&s.description)
                .bind($crate::rows::millis(s.created_at))
                .bind($crate::rows::millis(s.updated_at))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn list_scenarios(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                agent: Option<stagecoach_domain::ids::AgentId>,
            ) -> Result<Vec<stagecoach_domain::scenario::Scenario>, $crate::StoreError> {
                let rows = match agent {
                    None => {
                        $crate::sql::query_as::<$crate::repos::scenarios::ScenarioRow>(
                            "SELECT * FROM scenarios WHERE organization_id = $1 ORDER BY id",
                        )
                        .bind(org.0)
                        .fetch_all(self.conn())
                        .await?
                    }
                    Some(agent) => {
                        $crate::sql::query_as::<$crate::repos::scenarios::ScenarioRow>(
                            "SELECT * FROM scenarios s WHERE s.organization_id = $1 AND EXISTS \
                             (SELECT 1 FROM steps t WHERE t.scenario_id = s.id AND t.organization_id = $1 \
                              AND t.agent_id = $2) ORDER BY s.id",
                        )
                        .bind(org.0)
                        .bind(agent.0)
                        .fetch_all(self.conn())
                        .await?
                    }
                };
                rows.into_iter().map(|row| row.into_domain()).collect()
            }

            async fn get_scenario(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::ScenarioId,
            ) -> Result<Option<stagecoach_domain::scenario::Scenario>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::scenarios::ScenarioRow>(
                    "SELECT * FROM scenarios WHERE organization_id = $1 AND id = $2",
                )
                .bind(org.0)
                .bind(id.0)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }

            async fn lock_scenario(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::ScenarioId,
            ) -> Result<Option<stagecoach_domain::scenario::Scenario>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::scenarios::ScenarioRow>($lock_sql)
                    .bind(org.0)
                    .bind(id.0)
                    .fetch_optional(self.conn())
                    .await?
                    .map(|row| row.into_domain())
                    .transpose()
            }

            async fn update_scenario(
                &mut self,
                s: &stagecoach_domain::scenario::Scenario,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "UPDATE scenarios SET name = $3, description = $4, updated_at = $5 \
                     WHERE organization_id = $1 AND id = $2",
                )
                .bind(s.organization_id.0)
                .bind(s.id.0)
                .bind(&s.name)
                .bind(&s.description)
                .bind($crate::rows::millis(s.updated_at))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn delete_scenario(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::ScenarioId,
            ) -> Result<bool, $crate::StoreError> {
                let done = $crate::sql::query("DELETE FROM scenarios WHERE organization_id = $1 AND id = $2")
                    .bind(org.0)
                    .bind(id.0)
                    .execute(self.conn())
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use impl_scenarios;
