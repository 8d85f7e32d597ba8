use async_trait::async_trait;
use chrono::{DateTime, Utc};
use stagecoach_domain::enums::{AssigneeLogic, ConversationStatus, Priority, TimeUnit};
use stagecoach_domain::ids::{AgentId, MembershipId, OrganizationId, ScenarioId, StepId};
use stagecoach_domain::step::{Step, StepSettings};
use uuid::Uuid;

use crate::StoreError;
use crate::rows::{from_json, opt_enum, time};

#[async_trait]
pub trait Steps {
    async fn insert_step(&mut self, step: &Step) -> Result<(), StoreError>;
    /// A scenario's steps in index order; with `agent`, only the steps that agent handles.
    async fn list_steps(
        &mut self,
        org: OrganizationId,
        scenario: ScenarioId,
        agent: Option<AgentId>,
    ) -> Result<Vec<Step>, StoreError>;
    async fn get_step(
        &mut self,
        org: OrganizationId,
        id: StepId,
    ) -> Result<Option<Step>, StoreError>;
    async fn count_steps(
        &mut self,
        org: OrganizationId,
        scenario: ScenarioId,
    ) -> Result<i64, StoreError>;
    /// Writes the step's settings and `updated_at` (its place and scenario never change here).
    async fn update_step(&mut self, step: &Step) -> Result<(), StoreError>;
    async fn delete_step(&mut self, org: OrganizationId, id: StepId) -> Result<bool, StoreError>;
    /// Moves every step after `removed_index` one place up, so indexes stay 0..n.
    async fn close_index_gap(
        &mut self,
        org: OrganizationId,
        scenario: ScenarioId,
        removed_index: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Gives the scenario's steps the indexes 0..n in the order of `order`, which lists
    /// every step of the scenario once.
    async fn reorder_steps(
        &mut self,
        org: OrganizationId,
        scenario: ScenarioId,
        order: &[StepId],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Removes the auto-advance (target, time and unit) of every step that advanced to
    /// `target`, which is about to disappear.
    async fn detach_auto_next(
        &mut self,
        org: OrganizationId,
        target: StepId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Seals every step's webhook headers still stored in plain text (written before the
    /// store sealed them); returns how many. Needs the store's sealer: without one it
    /// seals nothing.
    async fn seal_plain_step_headers(&mut self) -> Result<u64, StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct StepRow {
        id: Uuid,
        organization_id: Uuid,
        scenario_id: Uuid,
        step_index: i64,
        name: String,
        agent_id: Option<Uuid>,
        trigger_text: Option<String>,
        prompt: Option<String>,
        initial_message: Option<String>,
        auto_next_step_id: Option<Uuid>,
        auto_next_time: Option<i64>,
        auto_next_time_unit: Option<String>,
        default_status: Option<String>,
        default_priority: Option<String>,
        default_ai_control: Option<bool>,
        assignee_logic_type: Option<String>,
        selected_membership_ids: Option<String>,
        is_required: Option<bool>,
        is_conversation_removal_step: Option<bool>,
        default_tags: Option<String>,
        default_tags_to_remove: Option<String>,
        request_contact: Option<String>,
        zapi_agent_id: Option<Uuid>,
        zapi_phone_number: Option<String>,
        zapi_message: Option<String>,
        whatsapp_template_agent_id: Option<Uuid>,
        whatsapp_template_name: Option<String>,
        whatsapp_template_language_code: Option<String>,
        whatsapp_template_text: Option<String>,
        webhook_url: Option<String>,
        webhook_header: Option<String>,
        created_at: i64,
        updated_at: i64,
    }
}

impl StepRow {
    pub(crate) fn into_domain(
        self,
        sealer: Option<&dyn crate::Sealer>,
    ) -> Result<Step, StoreError> {
        let selected: Option<Vec<MembershipId>> =
            from_json("selected_membership_ids", self.selected_membership_ids)?;
        Ok(Step {
            id: StepId(self.id),
            organization_id: OrganizationId(self.organization_id),
            scenario_id: ScenarioId(self.scenario_id),
            index: self.step_index,
            settings: StepSettings {
                name: self.name,
                agent_id: self.agent_id.map(AgentId),
                trigger: self.trigger_text,
                prompt: self.prompt,
                initial_message: self.initial_message,
                auto_next_step_id: self.auto_next_step_id.map(StepId),
                auto_next_time: self.auto_next_time,
                auto_next_time_unit: opt_enum(
                    "auto_next_time_unit",
                    self.auto_next_time_unit,
                    TimeUnit::parse,
                )?,
                default_status: opt_enum(
                    "default_status",
                    self.default_status,
                    ConversationStatus::parse,
                )?,
                default_priority: opt_enum(
                    "default_priority",
                    self.default_priority,
                    Priority::parse,
                )?,
                default_ai_control: self.default_ai_control,
                assignee_logic_type: opt_enum(
                    "assignee_logic_type",
                    self.assignee_logic_type,
                    AssigneeLogic::parse,
                )?,
                selected_membership_ids: selected,
                is_required: self.is_required,
                is_conversation_removal_step: self.is_conversation_removal_step,
                default_tags: from_json("default_tags", self.default_tags)?,
                default_tags_to_remove: from_json(
                    "default_tags_to_remove",
                    self.default_tags_to_remove,
                )?,
                request_contact: from_json("request_contact", self.request_contact)?,
                zapi_agent_id: self.zapi_agent_id.map(AgentId),
                zapi_phone_number: self.zapi_phone_number,
                zapi_message: self.zapi_message,
                whatsapp_template_agent_id: self.whatsapp_template_agent_id.map(AgentId),
                whatsapp_template_name: self.whatsapp_template_name,
                whatsapp_template_language_code: self.whatsapp_template_language_code,
                whatsapp_template_text: self.whatsapp_template_text,
                webhook_url: self.webhook_url,
                webhook_header: crate::rows::from_sealed_json(
                    sealer,
                    "webhook_header",
                    self.webhook_header,
                )?,
            },
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

/// Binds a step's settings to placeholders `$first` onwards, in the order of
/// [`SETTINGS_COLUMNS`].
macro_rules! bind_step_settings {
    ($query:expr, $s:expr, $sealer:expr) => {{
        let s: &stagecoach_domain::step::StepSettings = $s;
        $query
            .bind(&s.name)
            .bind(s.agent_id.map(|id| id.0))
            .bind(&s.trigger)
            .bind(&s.prompt)
            .bind(&s.initial_message)
            .bind(s.auto_next_step_id.map(|id| id.0))
            .bind(s.auto_next_time)
            .bind(s.auto_next_time_unit.map(|u| u.as_str()))
            .bind(s.default_status.map(|v| v.as_str()))
            .bind(s.default_priority.map(|v| v.as_str()))
            .bind(s.default_ai_control)
            .bind(s.assignee_logic_type.map(|v| v.as_str()))
            .bind($crate::rows::to_json(&s.selected_membership_ids))
            .bind(s.is_required)
            .bind(s.is_conversation_removal_step)
            .bind($crate::rows::to_json(&s.default_tags))
            .bind($crate::rows::to_json(&s.default_tags_to_remove))
            .bind($crate::rows::to_json(&s.request_contact))
            .bind(s.zapi_agent_id.map(|id| id.0))
            .bind(&s.zapi_phone_number)
            .bind(&s.zapi_message)
            .bind(s.whatsapp_template_agent_id.map(|id| id.0))
            .bind(&s.whatsapp_template_name)
            .bind(&s.whatsapp_template_language_code)
            .bind(&s.whatsapp_template_text)
            .bind(&s.webhook_url)
            .bind($crate::rows::to_sealed_json($sealer, &s.webhook_header))
    }};
}
pub(crate) use bind_step_settings;

macro_rules! impl_steps {
    ($tx:ty) => {
        #[async_trait::async_trait]
        impl $crate::repos::steps::Steps for $tx {
            async fn insert_step(
                &mut self,
                step: &stagecoach_domain::step::Step,
            ) -> Result<(), $crate::StoreError> {
                let query = $crate::sql::query(
                    "INSERT INTO steps (name, agent_id, trigger_text, prompt, initial_message, \
                     auto_next_step_id, auto_next_time, auto_next_time_unit, default_status, \
                     default_priority, default_ai_control, assignee_logic_type, \
                     selected_membership_ids, is_required, is_conversation_removal_step, \
                     default_tags, default_tags_to_remove, request_contact, zapi_agent_id, \
                     zapi_phone_number, zapi_message, whatsapp_template_agent_id, \
                     whatsapp_template_name, whatsapp_template_language_code, \
                     whatsapp_template_text, webhook_url, webhook_header, \
                     id, organization_id, scenario_id, step_index, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                     $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, \
                     $28, $29, $30, $31, $32, $33)",
                );
                $crate::repos::steps::bind_step_settings!(query, &step.settings, self.sealer())
                    .bind(step.id.0)
                    .bind(step.organization_id.0)
                    .bind(step.scenario_id.0)
                    .bind(step.index)
                    .bind($crate::rows::millis(step.created_at))
                    .bind($crate::rows::millis(step.updated_at))
                    .execute(self.conn())
                    .await?;
                Ok(())
            }

            async fn list_steps(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                scenario: stagecoach_domain::ids::ScenarioId,
                agent: Option<stagecoach_domain::ids::AgentId>,
            ) -> Result<Vec<stagecoach_domain::step::Step>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::steps::StepRow>(
                    "SELECT * FROM steps WHERE organization_id = $1 AND scenario_id = $2 \
                     AND ($3 IS NULL OR agent_id = $3) ORDER BY step_index",
                )
                .bind(org.0)
                .bind(scenario.0)
                .bind(agent.map(|a| a.0))
                .fetch_all(self.conn())
                .await?;
                let sealer = self.sealer();
                rows.into_iter().map(|row| row.into_domain(sealer)).collect()
            }

            async fn get_step(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::StepId,
            ) -> Result<Option<stagecoach_domain::step::Step>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::steps::StepRow>(
                    "SELECT * FROM steps WHERE organization_id = $1 AND id = $2",
                )
                .bind(org.0)
                .bind(id.0)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain(self.sealer()))
                .transpose()
            }

            async fn count_steps(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                scenario: stagecoach_domain::ids::ScenarioId,
            ) -> Result<i64, $crate::StoreError> {
                let count: i64 = $crate::sql::query_scalar(
                    "SELECT COUNT(*) FROM steps WHERE organization_id = $1 AND scenario_id = $2",
                )
                .bind(org.0)
                .bind(scenario.0)
                .fetch_one(self.conn())
                .await?;
                Ok(count)
            }

            async fn update_step(
                &mut self,
                step: &stagecoach_domain::step::Step,
            ) -> Result<(), $crate::StoreError> {
                let query = $crate::sql::query(
                    "UPDATE steps SET name = $1, agent_id = $2, trigger_text = $3, prompt = $4, \
                     initial_message = $5, auto_next_step_id = $6, auto_next_time = $7, \
                     auto_next_time_unit = $8, default_status = $9, default_priority = $10, \
                     default_ai_control = $11, assignee_logic_type = $12, \
                     selected_membership_ids = $13, is_required = $14, \
                     is_conversation_removal_step = $15, default_tags = $16, \
                     default_tags_to_remove = $17, request_contact = $18, zapi_agent_id = $19, \
                     zapi_phone_number = $20, zapi_message = $21, \
                     whatsapp_template_agent_id = $22, whatsapp_template_name = $23, \
                     whatsapp_template_language_code = $24, whatsapp_template_text = $25, \
                     webhook_url = $26, webhook_header = $27, updated_at = $28 \
                     WHERE organization_id = $29 AND id = $30",
                );
                $crate::repos::steps::bind_step_settings!(query, &step.settings, self.sealer())
                    .bind($crate::rows::millis(step.updated_at))
                    .bind(step.organization_id.0)
                    .bind(step.id.0)
                    .execute(self.conn())
                    .await?;
                Ok(())
            }

            async fn seal_plain_step_headers(&mut self) -> Result<u64, $crate::StoreError> {
                let Some(sealer) = self.sealer.clone() else {
                    return Ok(0);
                };
                // Only plain JSON (see `rows::is_plain_json`): every server start runs this,
                // and once sealed, nothing comes back.
                let rows: Vec<(uuid::Uuid, String)> = $crate::sql::query_as(
                    "SELECT id, webhook_header FROM steps \
                     WHERE substr(ltrim(webhook_header), 1, 1) IN ('{', '[', 'n')",
                )
                .fetch_all(self.conn())
                .await?;
                let mut sealed = 0;
                for (id, header) in rows {
                    $crate::sql::query("UPDATE steps SET webhook_header = $1 WHERE id = $2")
                        .bind(sealer.seal(&header))
                        .bind(id)
                        .execute(self.conn())
                        .await?;
                    sealed += 1;
                }
                Ok(sealed)
            }

            async fn delete_step(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::StepId,
            ) -> Result<bool, $crate::StoreError> {
                let done = $crate::sql::query("DELETE FROM steps WHERE organization_id = $1 AND id = $2")
                    .bind(org.0)
                    .bind(id.0)
                    .execute(self.conn())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn close_index_gap(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                scenario: stagecoach_domain::ids::ScenarioId,
                removed_index: i64,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                // Two passes through negative indexes: neither engine defers the unique
                // (scenario_id, step_index) check to the end of a single UPDATE, and rows
                // are not updated in index order.
                $crate::sql::query(
                    "UPDATE steps SET step_index = -step_index, updated_at = $4 \
                     WHERE organization_id = $1 AND scenario_id = $2 AND step_index > $3",
                )
                .bind(org.0)
                .bind(scenario.0)
                .bind(removed_index)
                .bind($crate::rows::millis(now))
                .execute(self.conn())
                .await?;
                $crate::sql::query(
                    "UPDATE steps SET step_index = -step_index - 1 \
                     WHERE organization_id = $1 AND scenario_id = $2 AND step_index < 0",
                )
                .bind(org.0)
                .bind(scenario.0)
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn reorder_steps(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                scenario: stagecoach_domain::ids::ScenarioId,
                order: &[stagecoach_domain::ids::StepId],
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                // Out of the way first (negative indexes), as in close_index_gap.
                $crate::sql::query(
                    "UPDATE steps SET step_index = -step_index - 1 \
                     WHERE organization_id = $1 AND scenario_id = $2 AND step_index >= 0",
                )
                .bind(org.0)
                .bind(scenario.0)
                .execute(self.conn())
                .await?;
                for (index, step) in order.iter().enumerate() {
                    $crate::sql::query(
                        "UPDATE steps SET step_index = $3, updated_at = $4 \
                         WHERE organization_id = $1 AND id = $2",
                    )
                    .bind(org.0)
                    .bind(step.0)
                    .bind(index as i64)
                    .bind($crate::rows::millis(now))
                    .execute(self.conn())
                    .await?;
                }
                Ok(())
            }

            async fn detach_auto_next(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                target: stagecoach_domain::ids::StepId,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, $crate::StoreError> {
                let done = $crate::sql::query(
                    "UPDATE steps SET auto_next_step_id = NULL, auto_next_time = NULL, \
                     auto_next_time_unit = NULL, updated_at = $3 \
                     WHERE organization_id = $1 AND auto_next_step_id = $2",
                )
                .bind(org.0)
                .bind(target.0)
                .bind($crate::rows::millis(now))
                .execute(self.conn())
                .await?;
                Ok(done.rows_affected())
            }
        }
    };
}
pub(crate) use impl_steps;
