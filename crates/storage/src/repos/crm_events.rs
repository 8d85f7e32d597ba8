//! The CRM event log: the step entries, exits and removals of an organization's
//! conversations, read from their timelines.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use stagecoach_domain::ids::{ConversationId, OrganizationId, ScenarioId, StepId};

use crate::StoreError;
use crate::repos::timeline::TimelineEntry;

/// The timeline kinds the CRM event log holds (a partial index covers exactly these).
pub const CRM_EVENT_KINDS: [&str; 3] = ["step_entered", "step_exited", "removed_from_scenario"];

/// Which CRM events to read; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct CrmEventFilter {
    pub conversation: Option<ConversationId>,
    pub scenario: Option<ScenarioId>,
    pub step: Option<StepId>,
    /// One of [`CRM_EVENT_KINDS`]; `None`: all of them.
    pub kind: Option<&'static str>,
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait CrmEvents {
    /// A page of the events, newest first, and how many match.
    async fn crm_events(
        &mut self,
        org: OrganizationId,
        filter: &CrmEventFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<TimelineEntry>, i64), StoreError>;
}

/// SQLite reads a field of the entry's JSON with `json_extract`.
pub(crate) fn json_text_sqlite(field: &str) -> String {
    format!("json_extract(data, '$.{field}')")
}

/// PostgreSQL stores the entry's JSON as text: cast, then read.
pub(crate) fn json_text_postgres(field: &str) -> String {
    format!("(data::jsonb ->> '{field}')")
}

macro_rules! impl_crm_events {
    ($tx:ty, json_text = $json:path) => {
        #[async_trait::async_trait]
        impl $crate::repos::crm_events::CrmEvents for $tx {
            async fn crm_events(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                f: &$crate::repos::crm_events::CrmEventFilter,
                offset: i64,
                limit: i64,
            ) -> Result<(Vec<$crate::repos::timeline::TimelineEntry>, i64), $crate::StoreError> {
                fn push_filter(
                    qb: &mut $crate::sql::QueryBuilder,
                    org: stagecoach_domain::ids::OrganizationId,
                    f: &$crate::repos::crm_events::CrmEventFilter,
                ) {
                    qb.push(" WHERE organization_id = ").push_bind(org.0);
                    // Spelled out as the partial index's predicate, so the planner uses it.
                    qb.push(" AND kind IN ('step_entered', 'step_exited', 'removed_from_scenario')");
                    if let Some(kind) = f.kind {
                        qb.push(" AND kind = ").push_bind(kind);
                    }
                    if let Some(c) = f.conversation {
                        qb.push(" AND conversation_id = ").push_bind(c.0);
                    }
                    if let Some(s) = f.scenario {
                        qb.push(" AND ").push($json("scenarioId")).push(" = ").push_bind(s.0.to_string());
                    }
                    if let Some(s) = f.step {
                        qb.push(" AND ").push($json("stepId")).push(" = ").push_bind(s.0.to_string());
                    }
                    if let Some(from) = f.from {
                        qb.push(" AND created_at >= ").push_bind($crate::rows::millis(from));
                    }
                    if let Some(to) = f.to {
                        qb.push(" AND created_at < ").push_bind($crate::rows::millis(to));
                    }
                }
                let mut count = $crate::sql::QueryBuilder::new("SELECT COUNT(*) FROM timeline_events");
                push_filter(&mut count, org, f);
                let total: i64 = count.build_query_scalar().fetch_one(self.conn()).await?;
                let mut page = $crate::sql::QueryBuilder::new(
                    "SELECT id, conversation_id, kind, actor, data, created_at FROM timeline_events",
                );
                push_filter(&mut page, org, f);
                page.push(" ORDER BY created_at DESC, id DESC LIMIT ")
                    .push_bind(limit)
                    .push(" OFFSET ")
                    .push_bind(offset);
                let rows: Vec<$crate::repos::timeline::EventRow> =
                    page.build_query_as().fetch_all(self.conn()).await?;
                let entries = rows
                    .into_iter()
                    .map(|r| r.into_entry())
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((entries, total))
            }
        }
    };
}
pub(crate) use impl_crm_events;
