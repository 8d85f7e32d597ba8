//! The AI agent's rules: which steps a model may move a conversation to, what the model
//! is told, the one decision it answers with per turn, and how that answer is read and
//! checked. The model proposes; these rules decide what Stagecoach accepts. Calling the
//! model and applying the decision happen elsewhere (the app and the worker).

pub mod candidates;
pub mod decision;
pub mod prompt;
pub mod settings;
pub mod wire;

pub use candidates::{Candidate, candidate_steps, reads_as_condition};
pub use decision::{Decision, DecisionAction, DecisionFormat, LearnedContact, Verdict};
pub use settings::{AiLimits, ModelCapabilities, TurnOutcome};

use chrono::{DateTime, Utc};

use crate::ids::{AgentId, AiTurnId, ConversationId, MessageId, OrganizationId, StepId};

/// An organization's own model endpoint and limits. Without an endpoint (`base_url`
/// `None`) the server's default endpoint serves it; the limits apply either way.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationAi {
    pub organization_id: OrganizationId,
    pub base_url: Option<String>,
    /// The model agents use unless they name their own.
    pub model: Option<String>,
    pub capabilities: ModelCapabilities,
    pub has_api_key: bool,
    pub limits: AiLimits,
    pub updated_at: DateTime<Utc>,
}

/// The record of one AI turn.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnRecord {
    pub id: AiTurnId,
    pub organization_id: OrganizationId,
    pub conversation_id: ConversationId,
    /// The contact's message the turn answered.
    pub message_id: MessageId,
    pub agent_id: Option<AgentId>,
    pub model: Option<String>,
    pub step_before: Option<StepId>,
    pub step_after: Option<StepId>,
    /// `none`, `move`, `handoff` or `resolve`, when the model decided.
    pub action: Option<String>,
    pub reason: Option<String>,
    /// The decision as the model wrote it, when it parsed.
    pub decision: Option<serde_json::Value>,
    pub reply_message_id: Option<MessageId>,
    pub reply: Option<String>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub latency_ms: i64,
    /// Model calls made (the repair attempt and retries included).
    pub attempts: i64,
    pub outcome: TurnOutcome,
    pub error: Option<String>,
    /// When the contact's message came in.
    pub created_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}
