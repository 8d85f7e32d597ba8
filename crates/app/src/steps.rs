use std::collections::HashMap;

use stagecoach_domain::agent::Agent;
use stagecoach_domain::error::Errors;
use stagecoach_domain::ids::{AgentId, OrganizationId, ScenarioId, StepId};
use stagecoach_domain::scenario::Scenario;
use stagecoach_domain::scope::{Area, Requirement, Scope};
use stagecoach_domain::step::{Reference, Step, StepPatch, StepSettings, check_step_order};
use stagecoach_storage::Transaction;

use crate::{AppError, Entity, Principal, Stagecoach};

/// A step with what a client shows beside it: its scenario and its agent.
#[derive(Debug, Clone)]
pub struct StepView {
    pub step: Step,
    pub scenario: Scenario,
    pub agent: Option<Agent>,
}

/// The message for a reference to something the caller's organization does not have.
pub fn missing_reference_message(entity: Entity) -> String {
    format!("no {entity} with this id in your organization")
}

impl Stagecoach {
    /// A scenario's steps in index order, optionally only those an agent handles.
    pub async fn list_steps(
        &self,
        who: &Principal,
        scenario: Option<ScenarioId>,
        agent: Option<AgentId>,
    ) -> Result<Vec<StepView>, AppError> {
        let org = who.organization_id;
        let mut tx = self.store.begin_read().await?;
        let scenario = find_scenario(tx.as_mut(), org, scenario, "scenarioId", false).await?;
        let steps = tx.list_steps(org, scenario.id, agent).await?;
        let mut agents: HashMap<AgentId, Option<Agent>> = HashMap::new();
        let mut views = Vec::with_capacity(steps.len());
        for step in steps {
            let agent = match step.settings.agent_id {
                None => None,
                Some(id) => match agents.get(&id) {
                    Some(known) => known.clone(),
                    None => {
                        let found = tx.get_agent(org, id).await?;
                        agents.insert(id, found.clone());
                        found
                    }
                },
            };
            views.push(StepView {
                step: shown_to(who, step),
                scenario: scenario.clone(),
                agent,
            });
        }
        Ok(views)
    }

    /// One step, with its scenario and agent.
    pub async fn get_step(
        &self,
        who: &Principal,
        id: Option<StepId>,
    ) -> Result<StepView, AppError> {
        let org = who.organization_id;
        let mut tx = self.store.begin_read().await?;
        let step = find_step(tx.as_mut(), org, id).await?;
        let scenario = find_scenario(tx.as_mut(), org, Some(step.scenario_id), "id", false).await?;
        view_of(tx.as_mut(), who, step, scenario).await
    }

    /// Appends a step to a scenario.
    pub async fn create_step(
        &self,
        who: &Principal,
        scenario: Option<ScenarioId>,
        settings: StepSettings,
    ) -> Result<StepView, AppError> {
        let org = who.organization_id;
        let settings = settings.validated(None)?;
        if let Some(url) = &settings.webhook_url {
            self.check_reachable("webhookUrl", url)?;
        }
        let mut tx = self.store.begin_write().await?;
        let scenario = find_scenario(tx.as_mut(), org, scenario, "scenarioId", true).await?;
        check_references(tx.as_mut(), org, scenario.id, &settings).await?;
        let now = self.now();
        let step = Step {
            id: StepId::new(),
            organization_id: org,
            scenario_id: scenario.id,
            index: tx.count_steps(org, scenario.id).await?,
            settings,
            created_at: now,
            updated_at: now,
        };
        tx.insert_step(&step).await?;
        let view = view_of(tx.as_mut(), who, step, scenario).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Applies a partial update; the result must obey every rule a new step does.
    pub async fn update_step(
        &self,
        who: &Principal,
        id: Option<StepId>,
        patch: StepPatch,
    ) -> Result<StepView, AppError> {
        if patch.is_empty() {
            return Err(AppError::invalid(
                "id",
                "send at least one field to change besides id",
            ));
        }
        let org = who.organization_id;
        let mut tx = self.store.begin_write().await?;
        let mut step = find_step(tx.as_mut(), org, id).await?;
        let scenario = find_scenario(tx.as_mut(), org, Some(step.scenario_id), "id", true).await?;
        let settings = step
            .settings
            .clone()
            .patched(patch)
            .validated(Some(step.id))?;
        // Only a new address is checked: an old one must not block unrelated changes.
        if let Some(url) = &settings.webhook_url
            && settings.webhook_url != step.settings.webhook_url
        {
            self.check_reachable("webhookUrl", url)?;
        }
        check_references(tx.as_mut(), org, scenario.id, &settings).await?;
        step.settings = settings;
        step.updated_at = self.now();
        tx.update_step(&step).await?;
        let view = view_of(tx.as_mut(), who, step, scenario).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Deletes a step. The steps after it move up so indexes stay contiguous, and steps that
    /// auto-advanced to it lose that auto-advance. Returns the step as it was.
    pub async fn delete_step(
        &self,
        who: &Principal,
        id: Option<StepId>,
    ) -> Result<StepView, AppError> {
        let org = who.organization_id;
        let mut tx = self.store.begin_write().await?;
        let step = find_step(tx.as_mut(), org, id).await?;
        let scenario = find_scenario(tx.as_mut(), org, Some(step.scenario_id), "id", true).await?;
        let waiting = tx.active_in_step(org, step.id).await?;
        if waiting > 0 {
            return Err(AppError::Conflict {
                field: "id",
                message: format!(
                    "{waiting} conversation(s) are in this step; move or remove them before deleting it"
                ),
            });
        }
        let now = self.now();
        tx.detach_auto_next(org, step.id, now).await?;
        tx.delete_step(org, step.id).await?;
        tx.close_index_gap(org, scenario.id, step.index, now)
            .await?;
        let view = view_of(tx.as_mut(), who, step, scenario).await?;
        tx.commit().await?;
        Ok(view)
    }
}

impl Stagecoach {
    /// Puts a scenario's steps in a new order: `order` lists every step once. Answers
    /// the steps in their new order.
    pub async fn reorder_steps(
        &self,
        who: &Principal,
        scenario: Option<ScenarioId>,
        order: &[StepId],
    ) -> Result<Vec<StepView>, AppError> {
        let org = who.organization_id;
        let mut tx = self.store.begin_write().await?;
        let scenario = find_scenario(tx.as_mut(), org, scenario, "id", true).await?;
        let current: Vec<StepId> = tx
            .list_steps(org, scenario.id, None)
            .await?
            .iter()
            .map(|s| s.id)
            .collect();
        check_step_order(&current, order)?;
        tx.reorder_steps(org, scenario.id, order, self.now())
            .await?;
        tx.commit().await?;
        self.list_steps(who, Some(scenario.id), None).await
    }
}

async fn find_step(
    tx: &mut dyn Transaction,
    org: OrganizationId,
    id: Option<StepId>,
) -> Result<Step, AppError> {
    let found = match id {
        Some(id) => tx.get_step(org, id).await?,
        None => None,
    };
    found.ok_or(AppError::not_found(Entity::Step, "id"))
}

/// Finds a scenario of the organization; `lock` holds it until the transaction ends, which
/// serializes every change to its list of steps.
async fn find_scenario(
    tx: &mut dyn Transaction,
    org: OrganizationId,
    id: Option<ScenarioId>,
    field: &'static str,
    lock: bool,
) -> Result<Scenario, AppError> {
    let found = match (id, lock) {
        (Some(id), true) => tx.lock_scenario(org, id).await?,
        (Some(id), false) => tx.get_scenario(org, id).await?,
        (None, _) => None,
    };
    found.ok_or(AppError::not_found(Entity::Scenario, field))
}

/// Every id the settings point at must exist in the organization; the auto-advance target
/// must also be a step of the same scenario.
async fn check_references(
    tx: &mut dyn Transaction,
    org: OrganizationId,
    scenario: ScenarioId,
    settings: &StepSettings,
) -> Result<(), AppError> {
    let mut errors = Errors::default();
    for reference in settings.references() {
        match reference {
            Reference::Agent { field, id } => {
                if tx.get_agent(org, id).await?.is_none() {
                    errors.add(field, missing_reference_message(Entity::Agent));
                }
            }
            Reference::Membership { field, id } => {
                if tx.get_membership(org, id).await?.is_none() {
                    errors.add(
                        field,
                        format!("{id}: {}", missing_reference_message(Entity::Membership)),
                    );
                }
            }
            Reference::StepInSameScenario { field, id } => {
                let same_scenario = tx
                    .get_step(org, id)
                    .await?
                    .is_some_and(|target| target.scenario_id == scenario);
                if !same_scenario {
                    errors.add(field, "must be the id of another step of the same scenario");
                }
            }
        }
    }
    errors.into_result().map_err(AppError::Invalid)
}

/// A step as `who` may see it: its webhook header values only to callers who may change
/// steps, masked to others (see [`StepSettings::with_header_values_masked`]).
pub(crate) fn shown_to(who: &Principal, mut step: Step) -> Step {
    let may_write = who
        .require(Requirement::new(Scope::write(Area::Scenarios)))
        .is_ok();
    if !may_write {
        step.settings = step.settings.with_header_values_masked();
    }
    step
}

async fn view_of(
    tx: &mut dyn Transaction,
    who: &Principal,
    step: Step,
    scenario: Scenario,
) -> Result<StepView, AppError> {
    let step = shown_to(who, step);
    let agent = match step.settings.agent_id {
        Some(id) => tx.get_agent(step.organization_id, id).await?,
        None => None,
    };
    Ok(StepView {
        step,
        scenario,
        agent,
    })
}
