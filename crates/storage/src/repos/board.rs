//! Where conversations stand in scenarios: board links, stays in steps, and the pending
//! auto-advance of each conversation.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use stagecoach_domain::conversation::{ScenarioLink, Stay};
use stagecoach_domain::enums::StayStatus;
use stagecoach_domain::ids::{
    ConversationId, OrganizationId, ScenarioId, ScenarioLinkId, StayId, StepId,
};
use uuid::Uuid;

use crate::StoreError;
use crate::repos::conversations::ChatSearch;
use crate::rows::{opt_time, parse_enum, time};

/// Writes a board link, new or not (the caller refreshes `open_assignments`).
pub(crate) fn upsert_link(l: &ScenarioLink) -> crate::sql::Query {
    crate::sql::query(
        "INSERT INTO scenario_links (id, organization_id, conversation_id, scenario_id, step_id, \
         stay_id, available, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (id) DO UPDATE SET step_id = $5, stay_id = $6, available = $7, updated_at = $9",
    )
    .bind(l.id.0)
    .bind(l.organization_id.0)
    .bind(l.conversation_id.0)
    .bind(l.scenario_id.0)
    .bind(l.step_id.0)
    .bind(l.stay_id.0)
    .bind(l.available)
    .bind(crate::rows::millis(l.created_at))
    .bind(crate::rows::millis(l.updated_at))
}

/// The auto-advances due now that no worker holds, across organizations (for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AutoAdvanceBacklog {
    pub due: i64,
    /// When the longest-overdue of them fell due.
    pub oldest_due_at: Option<DateTime<Utc>>,
}

/// A conversation's pending auto-advance (at most one, for its current stay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAutoAdvance {
    pub conversation_id: ConversationId,
    pub organization_id: OrganizationId,
    pub link_id: ScenarioLinkId,
    pub stay_id: StayId,
    pub step_id: StepId,
    pub target_step_id: StepId,
    pub due_at: DateTime<Utc>,
}

/// Filters of the stay listing (Chatvolt's CRM conversation logs).
#[derive(Debug, Clone, Default)]
pub struct StayFilter {
    pub conversation: Option<ConversationId>,
    pub scenario: Option<ScenarioId>,
    pub step: Option<StepId>,
    pub status: Option<StayStatus>,
}

#[async_trait]
pub trait Board {
    /// The conversation's available link, in whatever scenario.
    async fn active_link(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
    ) -> Result<Option<ScenarioLink>, StoreError>;
    /// The conversation's link to a scenario, available or not.
    async fn scenario_link(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
        scenario: ScenarioId,
    ) -> Result<Option<ScenarioLink>, StoreError>;
    /// Inserts or updates a link.
    async fn save_link(&mut self, link: &ScenarioLink) -> Result<(), StoreError>;
    /// A page of a scenario's board, oldest card first, of the conversations `filter`
    /// matches.
    async fn board(
        &mut self,
        org: OrganizationId,
        scenario: ScenarioId,
        step: Option<StepId>,
        include_inactive: bool,
        filter: &ChatSearch,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<ScenarioLink>, StoreError>;
    /// Cards per step, of the conversations `filter` matches.
    async fn board_counts(
        &mut self,
        org: OrganizationId,
        scenario: ScenarioId,
        include_inactive: bool,
        filter: &ChatSearch,
    ) -> Result<Vec<(StepId, i64)>, StoreError>;
    /// The open (pending or processing) payments of the contacts whose conversations are
    /// active in each step of the board and match `filter`: step, currency and the sum in
    /// hundredths. A contact's payments count once per step.
    async fn board_open_payments(
        &mut self,
        org: OrganizationId,
        scenario: ScenarioId,
        filter: &ChatSearch,
    ) -> Result<Vec<(StepId, String, i64)>, StoreError>;
    /// The active links in the scenario, matching `filter`, of these conversations and of
    /// the conversations of these contacts.
    async fn board_links_of(
        &mut self,
        org: OrganizationId,
        scenario: ScenarioId,
        filter: &ChatSearch,
        conversations: &[ConversationId],
        contacts: &[stagecoach_domain::ids::ContactId],
    ) -> Result<Vec<ScenarioLink>, StoreError>;
    /// The pending auto-advances of these conversations.
    async fn pending_auto_advances(
        &mut self,
        org: OrganizationId,
        conversations: &[ConversationId],
    ) -> Result<Vec<PendingAutoAdvance>, StoreError>;
    /// How many conversations are active in a step.
    async fn active_in_step(
        &mut self,
        org: OrganizationId,
        step: StepId,
    ) -> Result<i64, StoreError>;

    async fn insert_stay(&mut self, stay: &Stay) -> Result<(), StoreError>;
    /// Ends an active stay (it becomes inactive).
    async fn close_stay(
        &mut self,
        org: OrganizationId,
        stay: StayId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn get_stay(
        &mut self,
        org: OrganizationId,
        id: StayId,
    ) -> Result<Option<Stay>, StoreError>;
    /// A page of stays, newest first, and how many match.
    async fn list_stays(
        &mut self,
        org: OrganizationId,
        filter: &StayFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Stay>, i64), StoreError>;

    /// Replaces the conversation's pending auto-advance.
    async fn set_auto_advance(
        &mut self,
        plan: &PendingAutoAdvance,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn auto_advance(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
    ) -> Result<Option<PendingAutoAdvance>, StoreError>;
    /// Removes the pending auto-advance; true when there was one.
    async fn cancel_auto_advance(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
    ) -> Result<bool, StoreError>;
    /// Removes the auto-advance of exactly this stay; false when it is gone already (fired
    /// elsewhere, or the stay ended), which makes firing at most once.
    async fn take_auto_advance(
        &mut self,
        conversation: ConversationId,
        stay: StayId,
    ) -> Result<bool, StoreError>;
    /// Claims up to `limit` due auto-advances until `lease_until` (not scoped to an
    /// organization: this is the worker's view). Concurrent claimers never get the same row.
    async fn claim_due_auto_advances(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<PendingAutoAdvance>, StoreError>;
    /// The due auto-advances a claim would take, counted: a range of `auto_advances_due`.
    async fn auto_advance_backlog(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<AutoAdvanceBacklog, StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct LinkRow {
        id: Uuid,
        organization_id: Uuid,
        conversation_id: Uuid,
        scenario_id: Uuid,
        step_id: Uuid,
        stay_id: Uuid,
        available: bool,
        created_at: i64,
        updated_at: i64,
    }
}

impl LinkRow {
    pub(crate) fn into_domain(self) -> Result<ScenarioLink, StoreError> {
        Ok(ScenarioLink {
            id: ScenarioLinkId(self.id),
            organization_id: OrganizationId(self.organization_id),
            conversation_id: ConversationId(self.conversation_id),
            scenario_id: ScenarioId(self.scenario_id),
            step_id: StepId(self.step_id),
            stay_id: StayId(self.stay_id),
            available: self.available,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

crate::sql::row_struct! {
    pub(crate) struct StayRow {
        id: Uuid,
        organization_id: Uuid,
        conversation_id: Uuid,
        scenario_id: Uuid,
        step_id: Uuid,
        status: String,
        entered_at: i64,
        exited_at: Option<i64>,
        created_at: i64,
        updated_at: i64,
    }
}

impl StayRow {
    pub(crate) fn into_domain(self) -> Result<Stay, StoreError> {
        Ok(Stay {
            id: StayId(self.id),
            organization_id: OrganizationId(self.organization_id),
            conversation_id: ConversationId(self.conversation_id),
            scenario_id: ScenarioId(self.scenario_id),
            step_id: StepId(self.step_id),
            status: parse_enum("status", &self.status, StayStatus::parse)?,
            entered_at: time(self.entered_at)?,
            exited_at: opt_time(self.exited_at)?,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

crate::sql::row_struct! {
    pub(crate) struct AutoAdvanceRow {
        conversation_id: Uuid,
        organization_id: Uuid,
        link_id: Uuid,
        stay_id: Uuid,
        step_id: Uuid,
        target_step_id: Uuid,
        due_at: i64,
    }
}

impl AutoAdvanceRow {
    pub(crate) fn into_domain(self) -> Result<PendingAutoAdvance, StoreError> {
        Ok(PendingAutoAdvance {
            conversation_id: ConversationId(self.conversation_id),
            organization_id: OrganizationId(self.organization_id),
            link_id: ScenarioLinkId(self.link_id),
            stay_id: StayId(self.stay_id),
            step_id: StepId(self.step_id),
            target_step_id: StepId(self.target_step_id),
            due_at: time(self.due_at)?,
        })
    }
}

/// The `WHERE` of a board query over `scenario_links l`: the scenario (and step), active
/// links unless `include_inactive`, and the conversations `filter` matches (joined as `v`
/// only when there is a filter, so that the plain board reads links alone).
macro_rules! push_board_where {
    ($qb:expr, $org:expr, $scenario:expr, $step:expr, $include_inactive:expr, $filter:expr, $text_match:expr) => {{
        let filter: &$crate::repos::conversations::ChatSearch = $filter;
        let step: Option<stagecoach_domain::ids::StepId> = $step;
        if filter.is_empty() {
            $qb.push(" WHERE l.organization_id = ").push_bind($org.0);
        } else {
            $qb.push(" JOIN conversations v ON v.id = l.conversation_id");
            $crate::repos::conversations::push_chat_search!($qb, $org, filter, $text_match);
            $qb.push(" AND l.organization_id = ").push_bind($org.0);
        }
        $qb.push(" AND l.scenario_id = ").push_bind($scenario.0);
        if let Some(step) = step {
            $qb.push(" AND l.step_id = ").push_bind(step.0);
        }
        if !$include_inactive {
            $qb.push(" AND l.available = ").push_bind(true);
        }
    }};
}
pub(crate) use push_board_where;

/// The claim is the one statement where the engines differ: PostgreSQL skips rows another
/// worker has locked; SQLite has a single writer, so there is nothing to skip.
pub(crate) const CLAIM_SQLITE: &str = "UPDATE auto_advances SET claimed_until = $2 \
     WHERE conversation_id IN (SELECT conversation_id FROM auto_advances \
     WHERE due_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1) \
     ORDER BY due_at LIMIT $3) \
     RETURNING conversation_id, organization_id, link_id, stay_id, step_id, target_step_id, due_at";
pub(crate) const CLAIM_POSTGRES: &str = "UPDATE auto_advances SET claimed_until = $2 \
     WHERE conversation_id IN (SELECT conversation_id FROM auto_advances \
     WHERE due_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1) \
     ORDER BY due_at LIMIT $3 FOR NO KEY UPDATE SKIP LOCKED) \
     RETURNING conversation_id, organization_id, link_id, stay_id, step_id, target_step_id, due_at";

macro_rules! impl_board {
    ($tx:ty, claim_sql = $claim:expr, text_match = $text_match:expr) => {
        #[async_trait::async_trait]
        impl $crate::repos::board::Board for $tx {
            async fn active_link(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
            ) -> Result<Option<stagecoach_domain::conversation::ScenarioLink>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::board::LinkRow>(
                    "SELECT * FROM scenario_links WHERE organization_id = $1 AND conversation_id = $2 \
                     AND available ORDER BY updated_at DESC LIMIT 1",
                )
                .bind(org.0)
                .bind(conversation.0)
                .fetch_optional(self.conn())
                .await?
                .map(|r| r.into_domain())
                .transpose()
            }

            async fn scenario_link(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
                scenario: stagecoach_domain::ids::ScenarioId,
            ) -> Result<Option<stagecoach_domain::conversation::ScenarioLink>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::board::LinkRow>(
                    "SELECT * FROM scenario_links WHERE organization_id = $1 AND conversation_id = $2 \
                     AND scenario_id = $3",
                )
                .bind(org.0)
                .bind(conversation.0)
                .bind(scenario.0)
                .fetch_optional(self.conn())
                .await?
                .map(|r| r.into_domain())
                .transpose()
            }

            async fn save_link(
                &mut self,
                l: &stagecoach_domain::conversation::ScenarioLink,
            ) -> Result<(), $crate::StoreError> {
                self.note_change($crate::changes::Change::Conversation(l.organization_id, l.conversation_id));
                $crate::repos::board::upsert_link(l).execute(self.conn()).await?;
                $crate::repos::conversations::refresh_open_assignments(self.conn(), l.conversation_id.0)
                    .await
            }

            async fn board(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                scenario: stagecoach_domain::ids::ScenarioId,
                step: Option<stagecoach_domain::ids::StepId>,
                include_inactive: bool,
                filter: &$crate::repos::conversations::ChatSearch,
                offset: i64,
                limit: i64,
            ) -> Result<Vec<stagecoach_domain::conversation::ScenarioLink>, $crate::StoreError> {
                let mut qb = $crate::sql::QueryBuilder::new("SELECT l.* FROM scenario_links l");
                $crate::repos::board::push_board_where!(qb, org, scenario, step, include_inactive, filter, $text_match);
                qb.push(" ORDER BY l.created_at, l.id LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
                let rows: Vec<$crate::repos::board::LinkRow> = qb.build_query_as().fetch_all(self.conn()).await?;
                rows.into_iter().map(|r| r.into_domain()).collect()
            }

            async fn board_counts(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                scenario: stagecoach_domain::ids::ScenarioId,
                include_inactive: bool,
                filter: &$crate::repos::conversations::ChatSearch,
            ) -> Result<Vec<(stagecoach_domain::ids::StepId, i64)>, $crate::StoreError> {
                let mut qb = $crate::sql::QueryBuilder::new("SELECT l.step_id, COUNT(*) FROM scenario_links l");
                $crate::repos::board::push_board_where!(qb, org, scenario, None, include_inactive, filter, $text_match);
                qb.push(" GROUP BY l.step_id");
                let rows: Vec<(uuid::Uuid, i64)> = qb.build_query_as().fetch_all(self.conn()).await?;
                Ok(rows.into_iter().map(|(id, n)| (stagecoach_domain::ids::StepId(id), n)).collect())
            }

            async fn board_open_payments(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                scenario: stagecoach_domain::ids::ScenarioId,
                filter: &$crate::repos::conversations::ChatSearch,
            ) -> Result<Vec<(stagecoach_domain::ids::StepId, String, i64)>, $crate::StoreError> {
                // Driven from the open payments (few, found by lead_actions_payments), not
                // from every card of the board: contact, then its conversations, then their
                // cards on this board. A payment counts once per step.
                let mut qb = $crate::sql::QueryBuilder::new(
                    "SELECT p.step_id, p.currency, CAST(SUM(p.amount) AS BIGINT) FROM \
                     (SELECT DISTINCT a.id, l.step_id, a.currency, a.amount_hundredths AS amount \
                     FROM lead_actions a \
                     JOIN conversations v ON v.organization_id = a.organization_id AND v.contact_id = a.contact_id \
                     JOIN scenario_links l ON l.conversation_id = v.id",
                );
                $crate::repos::conversations::push_chat_search!(qb, org, filter, $text_match);
                qb.push(" AND l.scenario_id = ")
                    .push_bind(scenario.0)
                    .push(" AND l.available = ")
                    .push_bind(true)
                    .push(" AND a.organization_id = ")
                    .push_bind(org.0)
                    .push(
                        " AND a.kind = 'PAYMENT' AND a.status IN ('PENDING', 'PROCESSING')) p \
                         GROUP BY p.step_id, p.currency",
                    );
                let rows: Vec<(uuid::Uuid, String, i64)> = qb.build_query_as().fetch_all(self.conn()).await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, currency, total)| (stagecoach_domain::ids::StepId(id), currency, total))
                    .collect())
            }

            async fn board_links_of(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                scenario: stagecoach_domain::ids::ScenarioId,
                filter: &$crate::repos::conversations::ChatSearch,
                conversations: &[stagecoach_domain::ids::ConversationId],
                contacts: &[stagecoach_domain::ids::ContactId],
            ) -> Result<Vec<stagecoach_domain::conversation::ScenarioLink>, $crate::StoreError> {
                if conversations.is_empty() && contacts.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = $crate::sql::QueryBuilder::new("SELECT l.* FROM scenario_links l");
                $crate::repos::board::push_board_where!(qb, org, scenario, None, false, filter, $text_match);
                qb.push(" AND (");
                if !conversations.is_empty() {
                    qb.push("l.conversation_id IN ");
                    $crate::repos::push_list!(qb, conversations.iter().map(|c| c.0));
                }
                if !contacts.is_empty() {
                    if !conversations.is_empty() {
                        qb.push(" OR ");
                    }
                    qb.push("l.conversation_id IN (SELECT w.id FROM conversations w WHERE w.organization_id = ")
                        .push_bind(org.0)
                        .push(" AND w.contact_id IN ");
                    $crate::repos::push_list!(qb, contacts.iter().map(|c| c.0));
                    qb.push(")");
                }
                qb.push(")");
                let rows: Vec<$crate::repos::board::LinkRow> = qb.build_query_as().fetch_all(self.conn()).await?;
                rows.into_iter().map(|r| r.into_domain()).collect()
            }

            async fn pending_auto_advances(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversations: &[stagecoach_domain::ids::ConversationId],
            ) -> Result<Vec<$crate::repos::board::PendingAutoAdvance>, $crate::StoreError> {
                if conversations.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = $crate::sql::QueryBuilder::new(
                    "SELECT conversation_id, organization_id, link_id, stay_id, step_id, target_step_id, due_at \
                     FROM auto_advances WHERE organization_id = ",
                );
                qb.push_bind(org.0).push(" AND conversation_id IN ");
                $crate::repos::push_list!(qb, conversations.iter().map(|c| c.0));
                let rows: Vec<$crate::repos::board::AutoAdvanceRow> = qb.build_query_as().fetch_all(self.conn()).await?;
                rows.into_iter().map(|r| r.into_domain()).collect()
            }

            async fn active_in_step(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                step: stagecoach_domain::ids::StepId,
            ) -> Result<i64, $crate::StoreError> {
                let n: i64 = $crate::sql::query_scalar(
                    "SELECT COUNT(*) FROM scenario_links WHERE organization_id = $1 AND step_id = $2 AND available",
                )
                .bind(org.0)
                .bind(step.0)
                .fetch_one(self.conn())
                .await?;
                Ok(n)
            }

            async fn insert_stay(
                &mut self,
                s: &stagecoach_domain::conversation::Stay,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO stays (id, organization_id, conversation_id, scenario_id, step_id, status, \
                     entered_at, exited_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(s.id.0)
                .bind(s.organization_id.0)
                .bind(s.conversation_id.0)
                .bind(s.scenario_id.0)
                .bind(s.step_id.0)
                .bind(s.status.as_str())
                .bind($crate::rows::millis(s.entered_at))
                .bind(s.exited_at.map($crate::rows::millis))
                .bind($crate::rows::millis(s.created_at))
                .bind($crate::rows::millis(s.updated_at))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn close_stay(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                stay: stagecoach_domain::ids::StayId,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "UPDATE stays SET status = 'inactive', exited_at = $3, updated_at = $3 \
                     WHERE organization_id = $1 AND id = $2 AND status = 'active'",
                )
                .bind(org.0)
                .bind(stay.0)
                .bind($crate::rows::millis(now))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn get_stay(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::StayId,
            ) -> Result<Option<stagecoach_domain::conversation::Stay>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::board::StayRow>(
                    "SELECT * FROM stays WHERE organization_id = $1 AND id = $2",
                )
                .bind(org.0)
                .bind(id.0)
                .fetch_optional(self.conn())
                .await?
                .map(|r| r.into_domain())
                .transpose()
            }

            async fn list_stays(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                f: &$crate::repos::board::StayFilter,
                offset: i64,
                limit: i64,
            ) -> Result<(Vec<stagecoach_domain::conversation::Stay>, i64), $crate::StoreError> {
                fn push_filter(
                    qb: &mut $crate::sql::QueryBuilder,
                    org: stagecoach_domain::ids::OrganizationId,
                    f: &$crate::repos::board::StayFilter,
                ) {
                    qb.push(" WHERE organization_id = ").push_bind(org.0);
                    if let Some(c) = f.conversation { qb.push(" AND conversation_id = ").push_bind(c.0); }
                    if let Some(s) = f.scenario { qb.push(" AND scenario_id = ").push_bind(s.0); }
                    if let Some(s) = f.step { qb.push(" AND step_id = ").push_bind(s.0); }
                    if let Some(s) = f.status { qb.push(" AND status = ").push_bind(s.as_str()); }
                }
                let mut count = $crate::sql::QueryBuilder::new("SELECT COUNT(*) FROM stays");
                push_filter(&mut count, org, f);
                let total: i64 = count.build_query_scalar().fetch_one(self.conn()).await?;
                let mut page = $crate::sql::QueryBuilder::new("SELECT * FROM stays");
                push_filter(&mut page, org, f);
                page.push(" ORDER BY id DESC LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
                let rows: Vec<$crate::repos::board::StayRow> = page.build_query_as().fetch_all(self.conn()).await?;
                Ok((rows.into_iter().map(|r| r.into_domain()).collect::<Result<_, _>>()?, total))
            }

            async fn set_auto_advance(
                &mut self,
                p: &$crate::repos::board::PendingAutoAdvance,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                self.note_change($crate::changes::Change::Conversation(p.organization_id, p.conversation_id));
                // One statement: a conversation's pending auto-advance is replaced whole.
                $crate::sql::query(
                    "INSERT INTO auto_advances (conversation_id, organization_id, link_id, stay_id, step_id, \
                     target_step_id, due_at, claimed_until, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8) \
                     ON CONFLICT (conversation_id) DO UPDATE SET organization_id = $2, link_id = $3, stay_id = $4, \
                     step_id = $5, target_step_id = $6, due_at = $7, claimed_until = NULL, created_at = $8",
                )
                .bind(p.conversation_id.0)
                .bind(p.organization_id.0)
                .bind(p.link_id.0)
                .bind(p.stay_id.0)
                .bind(p.step_id.0)
                .bind(p.target_step_id.0)
                .bind($crate::rows::millis(p.due_at))
                .bind($crate::rows::millis(now))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn auto_advance(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
            ) -> Result<Option<$crate::repos::board::PendingAutoAdvance>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::board::AutoAdvanceRow>(
                    "SELECT conversation_id, organization_id, link_id, stay_id, step_id, target_step_id, due_at \
                     FROM auto_advances WHERE organization_id = $1 AND conversation_id = $2",
                )
                .bind(org.0)
                .bind(conversation.0)
                .fetch_optional(self.conn())
                .await?
                .map(|r| r.into_domain())
                .transpose()
            }

            async fn cancel_auto_advance(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
            ) -> Result<bool, $crate::StoreError> {
                let done = $crate::sql::query("DELETE FROM auto_advances WHERE organization_id = $1 AND conversation_id = $2")
                    .bind(org.0)
                    .bind(conversation.0)
                    .execute(self.conn())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn take_auto_advance(
                &mut self,
                conversation: stagecoach_domain::ids::ConversationId,
                stay: stagecoach_domain::ids::StayId,
            ) -> Result<bool, $crate::StoreError> {
                let done = $crate::sql::query("DELETE FROM auto_advances WHERE conversation_id = $1 AND stay_id = $2")
                    .bind(conversation.0)
                    .bind(stay.0)
                    .execute(self.conn())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn claim_due_auto_advances(
                &mut self,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<Vec<$crate::repos::board::PendingAutoAdvance>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::board::AutoAdvanceRow>($claim)
                    .bind($crate::rows::millis(now))
                    .bind($crate::rows::millis(lease_until))
                    .bind(limit)
                    .fetch_all(self.conn())
                    .await?;
                rows.into_iter().map(|r| r.into_domain()).collect()
            }

            async fn auto_advance_backlog(
                &mut self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::repos::board::AutoAdvanceBacklog, $crate::StoreError> {
                let (due, oldest_due_at) = $crate::sql::query_as::<(i64, Option<i64>)>(
                    "SELECT COUNT(*), MIN(due_at) FROM auto_advances \
                     WHERE due_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1)",
                )
                .bind($crate::rows::millis(now))
                .fetch_one(self.conn())
                .await?;
                Ok($crate::repos::board::AutoAdvanceBacklog {
                    due,
                    oldest_due_at: $crate::rows::opt_time(oldest_due_at)?,
                })
            }
        }
    };
}
pub(crate) use impl_board;
