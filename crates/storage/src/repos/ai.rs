//! The AI agent's storage: an organization's model settings, the record of AI turns, and
//! the reads a turn makes before it answers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use stagecoach_domain::ai::{AiLimits, ModelCapabilities, OrganizationAi, TurnOutcome, TurnRecord};
use stagecoach_domain::conversation::Message;
use stagecoach_domain::ids::{
    AgentId, AiTurnId, ConversationId, MessageId, OrganizationId, OutboxId, StepId,
};
use uuid::Uuid;

use crate::StoreError;
use crate::rows::{from_json, parse_enum, time};

#[async_trait]
pub trait AiStore {
    /// The organization's settings, with its API key as stored (encrypted).
    async fn get_ai_settings(
        &mut self,
        org: OrganizationId,
    ) -> Result<Option<(OrganizationAi, Option<String>)>, StoreError>;
    /// Creates or replaces the organization's settings; `sealed_key` is the encrypted key.
    async fn put_ai_settings(
        &mut self,
        settings: &OrganizationAi,
        sealed_key: Option<&str>,
    ) -> Result<(), StoreError>;
    async fn delete_ai_settings(&mut self, org: OrganizationId) -> Result<bool, StoreError>;
    /// Fails with [`StoreError::UniqueViolation`] when the message already has a turn.
    async fn insert_ai_turn(&mut self, turn: &TurnRecord) -> Result<(), StoreError>;
    /// The conversation's turns, newest first.
    async fn list_ai_turns(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
        limit: i64,
    ) -> Result<Vec<TurnRecord>, StoreError>;
    /// Tokens (prompt and completion) the organization's turns used since `since`.
    async fn ai_tokens_since(
        &mut self,
        org: OrganizationId,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError>;
    /// Replies the AI sent in a conversation since `since`.
    async fn ai_replies_since(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError>;
    /// The conversation's newest message from the contact.
    async fn latest_inbound_message(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
    ) -> Result<Option<Message>, StoreError>;
    /// Whether anyone but an AI agent wrote to the contact after `since`.
    async fn human_wrote_since(
        &mut self,
        org: OrganizationId,
        conversation: ConversationId,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Queues work of a kind, due at `due_at` (an AI turn waits for the burst to end).
    #[allow(clippy::too_many_arguments)]
    async fn schedule_outbox(
        &mut self,
        org: OrganizationId,
        conversation: Option<ConversationId>,
        kind: &str,
        id: OutboxId,
        payload: &Value,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct AiSettingsRow {
        organization_id: Uuid,
        base_url: Option<String>,
        api_key_encrypted: Option<String>,
        model: Option<String>,
        supports_tools: bool,
        supports_json_schema: bool,
        replies_per_conversation_per_hour: i64,
        tokens_per_month: Option<i64>,
        updated_at: i64,
    }
}

impl AiSettingsRow {
    pub(crate) fn into_domain(self) -> Result<(OrganizationAi, Option<String>), StoreError> {
        Ok((
            OrganizationAi {
                organization_id: OrganizationId(self.organization_id),
                base_url: self.base_url,
                model: self.model,
                capabilities: ModelCapabilities {
                    tools: self.supports_tools,
                    json_schema: self.supports_json_schema,
                },
                has_api_key: self.api_key_encrypted.is_some(),
                limits: AiLimits {
                    replies_per_conversation_per_hour: self.replies_per_conversation_per_hour,
                    tokens_per_month: self.tokens_per_month,
                },
                updated_at: time(self.updated_at)?,
            },
            self.api_key_encrypted,
        ))
    }
}

crate::sql::row_struct! {
    pub(crate) struct AiTurnRow {
        id: Uuid,
        organization_id: Uuid,
        conversation_id: Uuid,
        message_id: Uuid,
        agent_id: Option<Uuid>,
        model: Option<String>,
        step_before: Option<Uuid>,
        step_after: Option<Uuid>,
        action: Option<String>,
        reason: Option<String>,
        decision: Option<String>,
        reply_message_id: Option<Uuid>,
        reply: Option<String>,
        tokens_in: i64,
        tokens_out: i64,
        latency_ms: i64,
        attempts: i64,
        outcome: String,
        error: Option<String>,
        created_at: i64,
        finished_at: i64,
    }
}

impl AiTurnRow {
    pub(crate) fn into_domain(self) -> Result<TurnRecord, StoreError> {
        Ok(TurnRecord {
            id: AiTurnId(self.id),
            organization_id: OrganizationId(self.organization_id),
            conversation_id: ConversationId(self.conversation_id),
            message_id: MessageId(self.message_id),
            agent_id: self.agent_id.map(AgentId),
            model: self.model,
            step_before: self.step_before.map(StepId),
            step_after: self.step_after.map(StepId),
            action: self.action,
            reason: self.reason,
            decision: from_json("decision", self.decision)?,
            reply_message_id: self.reply_message_id.map(MessageId),
            reply: self.reply,
            tokens_in: self.tokens_in,
            tokens_out: self.tokens_out,
            latency_ms: self.latency_ms,
            attempts: self.attempts,
            outcome: parse_enum("outcome", &self.outcome, TurnOutcome::parse)?,
            error: self.error,
            created_at: time(self.created_at)?,
            finished_at: time(self.finished_at)?,
        })
    }
}

macro_rules! impl_ai {
    ($tx:ty) => {
        #[async_trait::async_trait]
        impl $crate::repos::ai::AiStore for $tx {
            async fn get_ai_settings(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
            ) -> Result<Option<(stagecoach_domain::ai::OrganizationAi, Option<String>)>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::ai::AiSettingsRow>(
                    "SELECT * FROM ai_settings WHERE organization_id = $1",
                )
                .bind(org.0)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }

            async fn put_ai_settings(
                &mut self,
                s: &stagecoach_domain::ai::OrganizationAi,
                sealed_key: Option<&str>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO ai_settings (organization_id, base_url, api_key_encrypted, model, \
                     supports_tools, supports_json_schema, replies_per_conversation_per_hour, \
                     tokens_per_month, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (organization_id) DO UPDATE SET base_url = excluded.base_url, \
                     api_key_encrypted = excluded.api_key_encrypted, model = excluded.model, \
                     supports_tools = excluded.supports_tools, \
                     supports_json_schema = excluded.supports_json_schema, \
                     replies_per_conversation_per_hour = excluded.replies_per_conversation_per_hour, \
                     tokens_per_month = excluded.tokens_per_month, updated_at = excluded.updated_at",
                )
                .bind(s.organization_id.0)
                .bind(&s.base_url)
                .bind(sealed_key)
                .bind(&s.model)
                .bind(s.capabilities.tools)
                .bind(s.capabilities.json_schema)
                .bind(s.limits.replies_per_conversation_per_hour)
                .bind(s.limits.tokens_per_month)
                .bind($crate::rows::millis(s.updated_at))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn delete_ai_settings(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
            ) -> Result<bool, $crate::StoreError> {
                let done = $crate::sql::query("DELETE FROM ai_settings WHERE organization_id = $1")
                    .bind(org.0)
                    .execute(self.conn())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_ai_turn(
                &mut self,
                t: &stagecoach_domain::ai::TurnRecord,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO ai_turns (id, organization_id, conversation_id, message_id, agent_id, \
                     model, step_before, step_after, action, reason, decision, reply_message_id, reply, \
                     tokens_in, tokens_out, latency_ms, attempts, outcome, error, created_at, finished_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                     $18, $19, $20, $21)",
                )
                .bind(t.id.0)
                .bind(t.organization_id.0)
                .bind(t.conversation_id.0)
                .bind(t.message_id.0)
                .bind(t.agent_id.map(|a| a.0))
                .bind(&t.model)
                .bind(t.step_before.map(|s| s.0))
                .bind(t.step_after.map(|s| s.0))
                .bind(&t.action)
                .bind(&t.reason)
                .bind(t.decision.as_ref().map(|d| d.to_string()))
                .bind(t.reply_message_id.map(|m| m.0))
                .bind(&t.reply)
                .bind(t.tokens_in)
                .bind(t.tokens_out)
                .bind(t.latency_ms)
                .bind(t.attempts)
                .bind(t.outcome.as_str())
                .bind(&t.error)
                .bind($crate::rows::millis(t.created_at))
                .bind($crate::rows::millis(t.finished_at))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn list_ai_turns(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
                limit: i64,
            ) -> Result<Vec<stagecoach_domain::ai::TurnRecord>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::ai::AiTurnRow>(
                    "SELECT * FROM ai_turns WHERE organization_id = $1 AND conversation_id = $2 \
                     ORDER BY finished_at DESC, id DESC LIMIT $3",
                )
                .bind(org.0)
                .bind(conversation.0)
                .bind(limit)
                .fetch_all(self.conn())
                .await?;
                rows.into_iter().map(|r| r.into_domain()).collect()
            }

            async fn ai_tokens_since(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                since: chrono::DateTime<chrono::Utc>,
            ) -> Result<i64, $crate::StoreError> {
                let (total,): (Option<i64>,) = $crate::sql::query_as(
                    "SELECT CAST(SUM(tokens_in + tokens_out) AS BIGINT) FROM ai_turns \
                     WHERE organization_id = $1 AND finished_at >= $2",
                )
                .bind(org.0)
                .bind($crate::rows::millis(since))
                .fetch_one(self.conn())
                .await?;
                Ok(total.unwrap_or(0))
            }

            async fn ai_replies_since(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
                since: chrono::DateTime<chrono::Utc>,
            ) -> Result<i64, $crate::StoreError> {
                let (count,): (i64,) = $crate::sql::query_as(
                    "SELECT COUNT(*) FROM ai_turns WHERE organization_id = $1 AND conversation_id = $2 \
                     AND finished_at >= $3 AND reply_message_id IS NOT NULL",
                )
                .bind(org.0)
                .bind(conversation.0)
                .bind($crate::rows::millis(since))
                .fetch_one(self.conn())
                .await?;
                Ok(count)
            }

            async fn latest_inbound_message(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
            ) -> Result<Option<stagecoach_domain::conversation::Message>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::messages::MessageRow>(
                    "SELECT * FROM messages WHERE organization_id = $1 AND conversation_id = $2 \
                     AND direction = 'inbound' ORDER BY created_at DESC, id DESC LIMIT 1",
                )
                .bind(org.0)
                .bind(conversation.0)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }

            async fn human_wrote_since(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: stagecoach_domain::ids::ConversationId,
                since: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, $crate::StoreError> {
                let (count,): (i64,) = $crate::sql::query_as(
                    "SELECT COUNT(*) FROM messages WHERE organization_id = $1 AND conversation_id = $2 \
                     AND created_at > $3 AND direction = 'outbound' \
                     AND (author IS NULL OR author NOT LIKE 'ai:%')",
                )
                .bind(org.0)
                .bind(conversation.0)
                .bind($crate::rows::millis(since))
                .fetch_one(self.conn())
                .await?;
                Ok(count > 0)
            }

            async fn schedule_outbox(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: Option<stagecoach_domain::ids::ConversationId>,
                kind: &str,
                id: stagecoach_domain::ids::OutboxId,
                payload: &serde_json::Value,
                due_at: chrono::DateTime<chrono::Utc>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO outbox (id, organization_id, conversation_id, kind, payload, status, \
                     attempts, available_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $7)",
                )
                .bind(id.0)
                .bind(org.0)
                .bind(conversation.map(|c| c.0))
                .bind(kind)
                .bind(payload.to_string())
                .bind($crate::rows::millis(due_at))
                .bind($crate::rows::millis(now))
                .execute(self.conn())
                .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_ai;
