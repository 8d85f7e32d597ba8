//! A scenario's reports over a period, read in one transaction so that the funnel, the
//! times and the payments describe the same moment.

use std::collections::HashMap;

use stagecoach_domain::reports::{Period, StayTimes, stay_times};
use stagecoach_domain::scenario::Scenario;
use stagecoach_domain::step::Step;
use stagecoach_storage::StepPayments;

use crate::{AppError, Entity, Principal, Stagecoach};

/// One step's figures.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub step: Step,
    /// Conversations that entered the step in the period.
    pub entered: i64,
    pub times: StayTimes,
    /// Payments recorded while conversations stood in the step, by status and currency.
    pub payments: Vec<StepPayments>,
}

#[derive(Debug, Clone)]
pub struct ScenarioReport {
    pub scenario: Scenario,
    pub period: Period,
    /// In step order.
    pub steps: Vec<StepReport>,
}

impl Stagecoach {
    /// The scenario's report over `[from, to)`, as a client writes them (dates or RFC
    /// 3339 times; by default the last 30 days).
    pub async fn scenario_report(
        &self,
        who: &Principal,
        scenario: Option<stagecoach_domain::ids::ScenarioId>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<ScenarioReport, AppError> {
        let period = Period::parse(from, to, self.now())?;
        let org = who.organization_id;
        let mut tx = self.store.begin_read().await?;
        let scenario = match scenario {
            Some(id) => tx.get_scenario(org, id).await?,
            None => None,
        }
        .ok_or(AppError::not_found(Entity::Scenario, "scenarioId"))?;
        let steps = tx.list_steps(org, scenario.id, None).await?;
        let entered: HashMap<_, _> = tx
            .report_entries(org, scenario.id, period.from, period.to)
            .await?
            .into_iter()
            .collect();
        let mut times = stay_times(
            tx.report_stay_durations(org, scenario.id, period.from, period.to)
                .await?,
        );
        let mut payments: HashMap<_, Vec<StepPayments>> = HashMap::new();
        for row in tx
            .report_payments(org, scenario.id, period.from, period.to)
            .await?
        {
            payments.entry(row.step_id).or_default().push(row);
        }
        Ok(ScenarioReport {
            period,
            steps: steps
                .into_iter()
                .map(|step| StepReport {
                    entered: entered.get(&step.id).copied().unwrap_or(0),
                    times: times.remove(&step.id).unwrap_or_default(),
                    payments: payments.remove(&step.id).unwrap_or_default(),
                    step,
                })
                .collect(),
            scenario,
        })
    }
}
