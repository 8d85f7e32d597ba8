//! What the CRM door reports about the boards: how many conversations sit in each
//! scenario and step, and the log of step entries, exits and removals.

use stagecoach_domain::ids::ScenarioId;
use stagecoach_domain::scenario::Scenario;
use stagecoach_domain::step::Step;
use stagecoach_storage::{CrmEventFilter, TimelineEntry};

use crate::Stagecoach;
use crate::auth::Principal;
use crate::error::{AppError, Entity};

/// One scenario's conversations: its steps in index order, each with its count.
#[derive(Debug, Clone)]
pub struct ScenarioCount {
    pub scenario: Scenario,
    pub steps: Vec<(Step, i64)>,
}

impl Stagecoach {
    /// The conversations in each step of every scenario (or of one), counting those
    /// removed from the board too when `include_inactive`.
    pub async fn conversation_counts(
        &self,
        who: &Principal,
        scenario: Option<Option<ScenarioId>>,
        include_inactive: bool,
    ) -> Result<Vec<ScenarioCount>, AppError> {
        let org = who.organization_id;
        let mut tx = self.store.begin_read().await?;
        let scenarios = match scenario {
            None => tx.list_scenarios(org, None).await?,
            Some(id) => {
                let found = match id {
                    Some(id) => tx.get_scenario(org, id).await?,
                    None => None,
                };
                vec![found.ok_or(AppError::not_found(Entity::Scenario, "scenarioId"))?]
            }
        };
        let filter = stagecoach_storage::ChatSearch::default();
        let mut counted = Vec::with_capacity(scenarios.len());
        for scenario in scenarios {
            let counts: std::collections::HashMap<_, _> = tx
                .board_counts(org, scenario.id, include_inactive, &filter)
                .await?
                .into_iter()
                .collect();
            let steps = tx
                .list_steps(org, scenario.id, None)
                .await?
                .into_iter()
                .map(|step| {
                    let count = counts.get(&step.id).copied().unwrap_or(0);
                    (step, count)
                })
                .collect();
            counted.push(ScenarioCount { scenario, steps });
        }
        Ok(counted)
    }

    /// A page (1-based) of the CRM event log, newest first, and how many events match.
    pub async fn crm_events(
        &self,
        who: &Principal,
        filter: &CrmEventFilter,
        page: i64,
        limit: i64,
    ) -> Result<(Vec<TimelineEntry>, i64), AppError> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx
            .crm_events(
                who.organization_id,
                filter,
                crate::error::page_offset(page - 1, limit, "page")?,
                limit,
            )
            .await?)
    }
}
