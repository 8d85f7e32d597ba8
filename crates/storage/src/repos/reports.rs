//! The figures of a scenario's reports over a period: entries per step, how long stays
//! lasted, and the payments recorded while conversations stood in each step.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use stagecoach_domain::ids::{OrganizationId, ScenarioId, StepId};

use crate::StoreError;

/// The payments of one step, status and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepPayments {
    pub step_id: StepId,
    pub status: String,
    pub currency: String,
    pub count: i64,
    pub hundredths: i64,
}

crate::sql::row_struct! {
    pub(crate) struct PaymentRow {
        step_id: uuid::Uuid,
        status: String,
        currency: String,
        n: i64,
        total: i64,
    }
}

impl PaymentRow {
    pub(crate) fn into_domain(self) -> StepPayments {
        StepPayments {
            step_id: StepId(self.step_id),
            status: self.status,
            currency: self.currency,
            count: self.n,
            hundredths: self.total,
        }
    }
}

#[async_trait]
pub trait Reports {
    /// Per step: how many conversations entered it in `[from, to)`.
    async fn report_entries(
        &mut self,
        org: OrganizationId,
        scenario: ScenarioId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(StepId, i64)>, StoreError>;
    /// Per step: how long each stay that ended in `[from, to)` lasted, in milliseconds.
    async fn report_stay_durations(
        &mut self,
        org: OrganizationId,
        scenario: ScenarioId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(StepId, i64)>, StoreError>;
    /// The payments recorded in `[from, to)` while their contact's conversation stood in a
    /// step of the scenario, by that step, status and currency.
    async fn report_payments(
        &mut self,
        org: OrganizationId,
        scenario: ScenarioId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StepPayments>, StoreError>;
}

macro_rules! impl_reports {
    ($tx:ty) => {
        #[async_trait::async_trait]
        impl $crate::repos::reports::Reports for $tx {
            async fn report_entries(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                scenario: stagecoach_domain::ids::ScenarioId,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<(stagecoach_domain::ids::StepId, i64)>, $crate::StoreError> {
                let rows: Vec<(uuid::Uuid, i64)> = $crate::sql::query_as(
                    "SELECT step_id, COUNT(DISTINCT conversation_id) FROM stays \
                     WHERE organization_id = $1 AND scenario_id = $2 AND entered_at >= $3 AND entered_at < $4 \
                     GROUP BY step_id",
                )
                .bind(org.0)
                .bind(scenario.0)
                .bind($crate::rows::millis(from))
                .bind($crate::rows::millis(to))
                .fetch_all(self.conn())
                .await?;
                Ok(rows.into_iter().map(|(id, n)| (stagecoach_domain::ids::StepId(id), n)).collect())
            }

            async fn report_stay_durations(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                scenario: stagecoach_domain::ids::ScenarioId,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<(stagecoach_domain::ids::StepId, i64)>, $crate::StoreError> {
                let rows: Vec<(uuid::Uuid, i64)> = $crate::sql::query_as(
                    "SELECT step_id, exited_at - entered_at FROM stays \
                     WHERE organization_id = $1 AND scenario_id = $2 AND exited_at >= $3 AND exited_at < $4",
                )
                .bind(org.0)
                .bind(scenario.0)
                .bind($crate::rows::millis(from))
                .bind($crate::rows::millis(to))
                .fetch_all(self.conn())
                .await?;
                Ok(rows.into_iter().map(|(id, ms)| (stagecoach_domain::ids::StepId(id), ms)).collect())
            }

            async fn report_payments(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                scenario: stagecoach_domain::ids::ScenarioId,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<$crate::repos::reports::StepPayments>, $crate::StoreError> {
                // A payment belongs to the step its contact's conversation stood in when it
                // was recorded: the stay that spans that moment (a contact with two
                // conversations in the scenario at once counts in both of their steps).
                let rows: Vec<$crate::repos::reports::PaymentRow> = $crate::sql::query_as(
                    "SELECT p.step_id, p.status, p.currency, COUNT(*) AS n, \
                     CAST(SUM(p.amount_hundredths) AS BIGINT) AS total FROM \
                     (SELECT DISTINCT a.id, s.step_id, a.status, a.currency, a.amount_hundredths \
                      FROM lead_actions a \
                      JOIN conversations v ON v.organization_id = a.organization_id AND v.contact_id = a.contact_id \
                      JOIN stays s ON s.organization_id = a.organization_id AND s.conversation_id = v.id \
                       AND s.scenario_id = $2 AND s.entered_at <= a.created_at \
                       AND (s.exited_at IS NULL OR s.exited_at > a.created_at) \
                      WHERE a.organization_id = $1 AND a.kind = 'PAYMENT' \
                       AND a.created_at >= $3 AND a.created_at < $4) AS p \
                     GROUP BY p.step_id, p.status, p.currency ORDER BY p.status, p.currency",
                )
                .bind(org.0)
                .bind(scenario.0)
                .bind($crate::rows::millis(from))
                .bind($crate::rows::millis(to))
                .fetch_all(self.conn())
                .await?;
                Ok(rows.into_iter().map(|r| r.into_domain()).collect())
            }
        }
    };
}
pub(crate) use impl_reports;
