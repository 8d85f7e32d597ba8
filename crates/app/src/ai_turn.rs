//! AI turns: a contact's message on a conversation whose AI is on queues a turn (a
//! durable job in the outbox, keyed by the message); the worker runs it once the burst of
//! messages has ended. A turn reads the conversation, asks the model for one decision,
//! and applies what Stagecoach accepts of it, in one transaction that first checks the
//! turn is still wanted. The model proposes; Stagecoach decides.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use stagecoach_domain::agent::Agent;
use stagecoach_domain::ai::decision::{
    Decision, DecisionAction, LearnedContact, grounded, judge, parse_decision,
};
use stagecoach_domain::ai::prompt::{HISTORY_MESSAGES, PromptInput, Said, Stage, build_messages};
use stagecoach_domain::ai::wire::{
    ChatMessage, ChatRequest, ModelReply, Role, error_message, read_response, request_body,
};
use stagecoach_domain::ai::{
    AiLimits, Candidate, DecisionFormat, TurnOutcome, TurnRecord, Verdict, candidate_steps,
    settings::effective_model,
};
use stagecoach_domain::contact::normalize_phone;
use stagecoach_domain::conversation::{Conversation, Message};
use stagecoach_domain::engine::timeline::{Actor, EntryCause, Event};
use stagecoach_domain::enums::{Channel, ConversationStatus, MessageDirection};
use stagecoach_domain::ids::{
    AgentId, AiTurnId, ConversationId, MessageId, OrganizationId, OutboxId, StepId,
};
use stagecoach_domain::organization::normalize_email;
use stagecoach_domain::step::Step;
use stagecoach_storage::{OutboxEntry, StoreError, Transaction};

use crate::ai::{ModelAnswer, ModelEndpoint, month_start};
use crate::chats::outbound_message;
use crate::engine::EntryContext;
use crate::{AppError, Stagecoach};

/// The outbox kind of AI turns.
pub const AI_TURN: &str = "ai_turn";

/// What a queued turn carries.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TurnJob {
    id: AiTurnId,
    org: OrganizationId,
    conversation_id: ConversationId,
    message_id: MessageId,
    /// A keyword trigger already routed the message: the model replies but does not move.
    keyword_routed: bool,
    /// When the contact's message came in.
    queued_at: DateTime<Utc>,
    /// How many times the job was claimed, this time included.
    runs: i64,
}

impl TurnJob {
    fn of(org: OrganizationId, entry: &OutboxEntry) -> Option<TurnJob> {
        let id = |name: &str| entry.payload[name].as_str().and_then(uuid_of);
        Some(TurnJob {
            id: AiTurnId(entry.id.0),
            org,
            conversation_id: ConversationId(id("conversationId")?),
            message_id: MessageId(id("messageId")?),
            keyword_routed: entry.payload["keywordRouted"].as_bool().unwrap_or(false),
            queued_at: entry.created_at,
            runs: entry.attempts,
        })
    }
}

fn uuid_of(text: &str) -> Option<uuid::Uuid> {
    text.parse().ok()
}

/// A turn leased by a worker.
#[derive(Debug, Clone)]
pub struct ClaimedTurn {
    pub organization_id: OrganizationId,
    pub entry: OutboxEntry,
}

/// What a query to an agent (Chatvolt's `POST /agents/{id}/query`) may change for its
/// one turn.
#[derive(Debug, Clone, Default)]
pub struct TurnOverrides {
    /// The agent that answers, instead of the conversation's.
    pub agent: Option<AgentId>,
    pub system_prompt: Option<String>,
    pub model: Option<String>,
    pub temperature: Option<f64>,
}

/// Everything a turn needs to call the model.
struct Prepared {
    agent: Agent,
    endpoint: ModelEndpoint,
    model: String,
    temperature: f64,
    format: DecisionFormat,
    messages: Vec<ChatMessage>,
    candidates: Vec<Candidate>,
    step_before: Option<StepId>,
    trigger_at: DateTime<Utc>,
    /// What the contact wrote in the messages shown to the model.
    contact_wrote: Vec<String>,
}

/// Why a turn ends before calling the model.
enum Preparation {
    Ready(Box<Prepared>),
    /// Record this outcome and apply nothing but, for the hand-off outcomes, the hand-off.
    Settle {
        outcome: TurnOutcome,
        reason: String,
        agent: Option<AgentId>,
        step_before: Option<StepId>,
    },
    /// Nothing answers the conversation any more (no agent, no endpoint): end the job.
    Drop(&'static str),
}

/// What calling the model came to.
enum Called {
    Decided {
        decision: Decision,
        raw: Value,
    },
    /// The answer was not a decision, even after the repair attempt.
    Invalid(String),
    /// Try again later (timeouts, 408, 429, 5xx).
    Retry {
        after: Option<Duration>,
        error: String,
    },
    /// It cannot succeed (another 4xx, a refused address).
    Final(String),
}

/// Why one model call gave no answer to read.
enum CallFailure {
    Retry {
        after: Option<Duration>,
        error: String,
    },
    Final(String),
}

/// The usage a turn's calls add up to.
#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    calls: i64,
    tokens_in: i64,
    tokens_out: i64,
    latency_ms: i64,
}

/// What a finished turn did.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnResult {
    pub turn_id: AiTurnId,
    pub outcome: TurnOutcome,
    pub reply: Option<String>,
    pub reply_message_id: Option<MessageId>,
    pub action: Option<String>,
    pub step_id: Option<StepId>,
    pub reason: Option<String>,
    pub tokens_in: i64,
    pub tokens_out: i64,
}

impl Stagecoach {
    /// Queues a turn for a contact's message when the conversation's AI would answer it:
    /// AI on, no human requested, an agent and a model endpoint to answer with.
    pub(crate) async fn queue_ai_turn(
        &self,
        tx: &mut dyn Transaction,
        conversation: &Conversation,
        message: &Message,
        keyword_routed: bool,
    ) -> Result<(), AppError> {
        if !conversation.ai_enabled || conversation.status == ConversationStatus::HumanRequested {
            return Ok(());
        }
        let org = conversation.organization_id;
        if self.agent_of(tx, conversation).await?.is_none() {
            return Ok(());
        }
        let stored = tx.get_ai_settings(org).await?;
        if self.endpoint_of(stored.as_ref())?.is_none() {
            return Ok(());
        }
        let now = self.now();
        let due = now + chrono::Duration::from_std(self.ai.reply_delay).unwrap_or_default();
        let payload = json!({
            "conversationId": conversation.id,
            "messageId": message.id,
            "keywordRouted": keyword_routed,
        });
        tx.schedule_outbox(
            org,
            Some(conversation.id),
            AI_TURN,
            OutboxId::new(),
            &payload,
            due,
            now,
        )
        .await?;
        Ok(())
    }

    /// The agent that answers a conversation: its own (a step sets it), else the agent
    /// of the channel it came in on.
    async fn agent_of(
        &self,
        tx: &mut dyn Transaction,
        conversation: &Conversation,
    ) -> Result<Option<AgentId>, AppError> {
        if let Some(agent) = conversation.agent_id {
            return Ok(Some(agent));
        }
        let kind = match conversation.channel {
            Channel::Whatsapp => stagecoach_domain::delivery::targets::ChannelKind::Whatsapp,
            Channel::Zapi => stagecoach_domain::delivery::targets::ChannelKind::Zapi,
            _ => return Ok(None),
        };
        Ok(tx
            .list_channels(conversation.organization_id)
            .await?
            .into_iter()
            .find(|(c, _)| c.kind == kind && c.agent_id.is_some())
            .and_then(|(c, _)| c.agent_id))
    }

    /// How long a claimed turn stays leased: its model calls (a repair included) and the
    /// writes after them. A crashed worker's turn comes back after it.
    fn turn_lease(&self) -> Duration {
        self.ai.request_timeout * 2 + Duration::from_secs(30)
    }

    /// Leases up to `limit` turns that are due.
    pub async fn claim_ai_turns(&self, limit: i64) -> Result<Vec<ClaimedTurn>, AppError> {
        let now = self.now();
        let lease = chrono::Duration::from_std(self.turn_lease()).unwrap_or_default();
        let mut tx = self.store.begin_write().await?;
        let claimed = self
            .claim_for_this_worker(tx.as_mut(), AI_TURN, now, now + lease, limit)
            .await?;
        tx.commit().await?;
        Ok(claimed
            .into_iter()
            .map(|(organization_id, entry)| ClaimedTurn {
                organization_id,
                entry,
            })
            .collect())
    }

    /// Runs a claimed turn. `None` when it was put back to try again later (or another
    /// worker finished it first).
    pub async fn perform_ai_turn(
        &self,
        claimed: ClaimedTurn,
    ) -> Result<Option<TurnOutcome>, AppError> {
        let Some(job) = TurnJob::of(claimed.organization_id, &claimed.entry) else {
            let mut tx = self.store.begin_write().await?;
            tx.fail_outbox(claimed.entry.id, "not an AI turn", self.now())
                .await?;
            tx.commit().await?;
            return Ok(None);
        };
        let prepared = match self.prepare_turn(&job, &TurnOverrides::default()).await? {
            Preparation::Ready(prepared) => prepared,
            Preparation::Settle {
                outcome,
                reason,
                agent,
                step_before,
            } => {
                let settled = self
                    .settle(
                        &job,
                        outcome,
                        reason,
                        agent,
                        step_before,
                        Usage::default(),
                        None,
                    )
                    .await?;
                return Ok(settled.map(|r| r.outcome));
            }
            Preparation::Drop(why) => {
                tracing::debug!(turn = %job.id, why, "AI turn dropped");
                let mut tx = self.store.begin_write().await?;
                tx.finish_outbox(OutboxId(job.id.0), "done", self.now())
                    .await?;
                tx.commit().await?;
                return Ok(None);
            }
        };
        let mut usage = Usage::default();
        let called = self.call_for_decision(&prepared, &mut usage).await;
        let result = self.conclude(&job, *prepared, called, usage, false).await?;
        Ok(result.map(|r| r.outcome))
    }

    /// Runs a turn for a message at once, without the queue (an agent query): up to
    /// `max_calls` model calls, waiting between them at most `longest_wait`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn run_turn_now(
        &self,
        org: OrganizationId,
        conversation_id: ConversationId,
        message_id: MessageId,
        keyword_routed: bool,
        overrides: &TurnOverrides,
        max_calls: u32,
        longest_wait: Duration,
    ) -> Result<TurnResult, AppError> {
        let job = TurnJob {
            id: AiTurnId::new(),
            org,
            conversation_id,
            message_id,
            keyword_routed,
            queued_at: self.now(),
            runs: 1,
        };
        let result = match self.prepare_turn(&job, overrides).await? {
            Preparation::Drop(why) => return Err(AppError::AiUnavailable(why.to_owned())),
            Preparation::Settle {
                outcome,
                reason,
                agent,
                step_before,
            } => {
                self.settle(
                    &job,
                    outcome,
                    reason,
                    agent,
                    step_before,
                    Usage::default(),
                    None,
                )
                .await?
            }
            Preparation::Ready(prepared) => {
                let mut usage = Usage::default();
                let mut called = self.call_for_decision(&prepared, &mut usage).await;
                for retry in 1..max_calls {
                    let Called::Retry { after, .. } = &called else {
                        break;
                    };
                    let wait = after.unwrap_or_else(|| backoff(i64::from(retry)));
                    if wait > longest_wait {
                        break;
                    }
                    tokio::time::sleep(wait).await;
                    called = self.call_for_decision(&prepared, &mut usage).await;
                }
                self.conclude(&job, *prepared, called, usage, true).await?
            }
        };
        let result = result.ok_or_else(|| {
            AppError::AiUnavailable("the turn was recorded by another run".into())
        })?;
        if result.outcome == TurnOutcome::FailedOver {
            return Err(AppError::AiUnavailable(
                result
                    .reason
                    .unwrap_or_else(|| "the model did not answer".into()),
            ));
        }
        Ok(result)
    }

    /// Acts on what the model call came to: retries later, hands off, or applies.
    async fn conclude(
        &self,
        job: &TurnJob,
        prepared: Prepared,
        called: Called,
        usage: Usage,
        inline: bool,
    ) -> Result<Option<TurnResult>, AppError> {
        let (outcome, reason) = match called {
            Called::Decided { decision, raw } => {
                return self
                    .apply_decision(job, prepared, decision, raw, usage)
                    .await;
            }
            Called::Retry { after, error } => {
                let now = self.now();
                let wait = after.unwrap_or_else(|| backoff(job.runs));
                let deadline = job.queued_at
                    + chrono::Duration::from_std(self.ai.deadline).unwrap_or_default();
                let next = now + chrono::Duration::from_std(wait).unwrap_or_default();
                if !inline && next < deadline {
                    let mut tx = self.store.begin_write().await?;
                    tx.retry_outbox(OutboxId(job.id.0), next, &error, now)
                        .await?;
                    tx.commit().await?;
                    return Ok(None);
                }
                let reason = format!(
                    "the model did not answer within {} s ({error}); a person takes over",
                    self.ai.deadline.as_secs()
                );
                (TurnOutcome::FailedOver, reason)
            }
            Called::Final(error) => (
                TurnOutcome::FailedOver,
                format!("the model cannot answer ({error}); a person takes over"),
            ),
            Called::Invalid(error) => (
                TurnOutcome::Invalid,
                format!("the model's answer was not a decision: {error}"),
            ),
        };
        let model = Some(prepared.model);
        let (agent, step_before) = (Some(prepared.agent.id), prepared.step_before);
        self.settle(job, outcome, reason, agent, step_before, usage, model)
            .await
    }

    /// Reads what the turn needs and checks it is still wanted.
    async fn prepare_turn(
        &self,
        job: &TurnJob,
        overrides: &TurnOverrides,
    ) -> Result<Preparation, AppError> {
        let org = job.org;
        let now = self.now();
        let mut tx = self.store.begin_read().await?;
        let Some(conversation) = tx.get_conversation(org, job.conversation_id).await? else {
            return Ok(Preparation::Drop("the conversation was deleted"));
        };
        let link = tx.active_link(org, conversation.id).await?;
        let step_before = link.as_ref().map(|l| l.step_id);
        let agent_id = match overrides.agent {
            Some(agent) => Some(agent),
            None => self.agent_of(tx.as_mut(), &conversation).await?,
        };
        let settle = |outcome, reason: String| Preparation::Settle {
            outcome,
            reason,
            agent: agent_id,
            step_before,
        };
        let latest = tx.latest_inbound_message(org, conversation.id).await?;
        let Some(trigger) = latest.as_ref().filter(|m| m.id == job.message_id) else {
            return Ok(settle(
                TurnOutcome::Superseded,
                "a newer message from the contact is answered instead".into(),
            ));
        };
        let trigger_at = trigger.created_at;
        if let Some(why) = still_unwanted(tx.as_mut(), &conversation, trigger_at).await? {
            return Ok(settle(TurnOutcome::Stale, why));
        }
        let Some(agent_id) = agent_id else {
            return Ok(Preparation::Drop("no agent answers the conversation"));
        };
        let Some(agent) = tx.get_agent(org, agent_id).await? else {
            return Ok(Preparation::Drop("the agent was deleted"));
        };
        let stored = tx.get_ai_settings(org).await?;
        let Some(endpoint) = self.endpoint_of(stored.as_ref())? else {
            return Ok(Preparation::Drop(
                "no model endpoint serves the organization",
            ));
        };
        let limits: AiLimits = stored.as_ref().map(|(s, _)| s.limits).unwrap_or_default();
        let deadline =
            job.queued_at + chrono::Duration::from_std(self.ai.deadline).unwrap_or_default();
        if now >= deadline {
            return Ok(settle(
                TurnOutcome::FailedOver,
                format!(
                    "no answer within {} s of the contact's message; a person takes over",
                    self.ai.deadline.as_secs()
                ),
            ));
        }
        let replies = tx
            .ai_replies_since(org, conversation.id, now - chrono::Duration::hours(1))
            .await?;
        if replies >= limits.replies_per_conversation_per_hour {
            return Ok(settle(
                TurnOutcome::OverBudget,
                format!(
                    "the AI replied {replies} times in the last hour, the limit for one conversation; a person takes over"
                ),
            ));
        }
        if let Some(budget) = limits.tokens_per_month {
            let used = tx.ai_tokens_since(org, month_start(now)).await?;
            if used >= budget {
                return Ok(settle(
                    TurnOutcome::OverBudget,
                    format!(
                        "the organization used {used} of its {budget} AI tokens this month; a person takes over"
                    ),
                ));
            }
        }
        if self.breakers.is_open(&endpoint.base_url, now) {
            return Ok(settle(
                TurnOutcome::FailedOver,
                "the model endpoint kept failing, so its circuit breaker is open; a person takes over"
                    .into(),
            ));
        }

        // The stage, and the steps the model may choose.
        let (stage_step, scenario_name, steps): (Option<Step>, Option<String>, Vec<Step>) =
            match &link {
                Some(link) => {
                    let steps = tx.list_steps(org, link.scenario_id, None).await?;
                    let scenario = tx.get_scenario(org, link.scenario_id).await?;
                    let here = steps.iter().find(|s| s.id == link.step_id).cloned();
                    (here, scenario.map(|s| s.name), steps)
                }
                None => {
                    let mut steps = Vec::new();
                    for scenario in tx.list_scenarios(org, None).await? {
                        steps.extend(tx.list_steps(org, scenario.id, None).await?);
                    }
                    (None, None, steps)
                }
            };
        let candidates = if job.keyword_routed {
            Vec::new()
        } else {
            candidate_steps(&steps, stage_step.as_ref())
        };
        let contact = tx.get_contact(org, conversation.contact_id).await?;
        let variables = tx.contact_variables(org, conversation.contact_id).await?;
        let history = tx
            .last_messages(org, conversation.id, HISTORY_MESSAGES as i64)
            .await?;
        drop(tx);

        let to_collect = conversation.contact_fields_to_collect;
        let mut fields_to_collect = Vec::new();
        let has = |value: Option<&String>| value.is_some_and(|v| !v.is_empty());
        if to_collect.name && !has(contact.as_ref().and_then(|c| c.first_name.as_ref())) {
            fields_to_collect.push("name");
        }
        if to_collect.email && !has(contact.as_ref().and_then(|c| c.email.as_ref())) {
            fields_to_collect.push("email");
        }
        if to_collect.phone && !has(contact.as_ref().and_then(|c| c.phone.as_ref())) {
            fields_to_collect.push("phone");
        }
        let known = json!({
            "name": contact.as_ref().and_then(|c| c.display_name()),
            "phone": contact.as_ref().and_then(|c| c.phone.clone()),
            "email": contact.as_ref().and_then(|c| c.email.clone()),
            "details": contact.as_ref().map(|c| Value::Object(c.metadata.clone())),
            // The contact's variables (set by people or by the AI through the API).
            "variables": Value::Object(stagecoach_domain::contact_variables::values(&variables)),
            "conversationTags": conversation.tags,
            "crmData": Value::Object(conversation.crm_data.clone()),
        });
        let said: Vec<Said> = history
            .iter()
            .map(|m| Said {
                by_contact: m.direction == MessageDirection::Inbound,
                text: &m.text,
            })
            .collect();
        let contact_wrote = history
            .iter()
            .filter(|m| m.direction == MessageDirection::Inbound)
            .map(|m| m.text.clone())
            .collect();
        let format = DecisionFormat::for_capabilities(endpoint.capabilities);
        let today = now.format("%Y-%m-%d").to_string();
        let system_prompt = overrides
            .system_prompt
            .as_deref()
            .or(agent.settings.system_prompt.as_deref());
        let messages = build_messages(&PromptInput {
            agent_name: &agent.settings.name,
            system_prompt,
            stage: stage_step.as_ref().map(|step| Stage {
                scenario: scenario_name.as_deref().unwrap_or(""),
                step: &step.settings.name,
                instructions: step.settings.prompt.as_deref(),
            }),
            known: &known,
            fields_to_collect: &fields_to_collect,
            candidates: &candidates,
            history: &said,
            format,
            today: &today,
        });
        let model = overrides
            .model
            .clone()
            .unwrap_or_else(|| effective_model(&agent.settings.model_name, &endpoint.model));
        Ok(Preparation::Ready(Box::new(Prepared {
            temperature: overrides.temperature.unwrap_or(agent.settings.temperature),
            agent,
            endpoint,
            model,
            format,
            messages,
            candidates,
            step_before,
            trigger_at,
            contact_wrote,
        })))
    }

    /// Asks the model for the decision, with one repair attempt when the answer is not one.
    async fn call_for_decision(&self, prepared: &Prepared, usage: &mut Usage) -> Called {
        let mut messages = prepared.messages.clone();
        for attempt in 0..2 {
            let reply = match self.call_model(prepared, &messages, usage).await {
                Ok(reply) => reply,
                Err(CallFailure::Retry { after, error }) => return Called::Retry { after, error },
                Err(CallFailure::Final(error)) => return Called::Final(error),
            };
            let text = reply.decision_text().to_owned();
            // A move to a step that was not offered gets the repair attempt too; after it,
            // the turn is rejected.
            let parsed = parse_decision(&text).and_then(|decision| {
                match judge(&decision, &prepared.candidates) {
                    Verdict::Reject(why) if attempt == 0 => Err(why),
                    _ => Ok(decision),
                }
            });
            match parsed {
                Ok(decision) => {
                    let raw = stagecoach_domain::ai::decision::json_object_value(&text);
                    return Called::Decided { decision, raw };
                }
                Err(error) if attempt == 0 => {
                    messages.push(ChatMessage::new(Role::Assistant, text));
                    messages.push(ChatMessage::new(
                        Role::User,
                        format!(
                            "(From Stagecoach, not the customer.) Your answer could not be used: \
                             {error}. Answer again with only the decision as one JSON object."
                        ),
                    ));
                }
                Err(error) => return Called::Invalid(error),
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// One model call; the circuit breaker counts its failures.
    async fn call_model(
        &self,
        prepared: &Prepared,
        messages: &[ChatMessage],
        usage: &mut Usage,
    ) -> Result<ModelReply, CallFailure> {
        let body = request_body(&ChatRequest {
            model: &prepared.model,
            temperature: prepared.temperature,
            max_tokens: self.ai.max_reply_tokens,
            messages,
            format: prepared.format,
            candidates: &prepared.candidates,
        });
        let started = Instant::now();
        let answer = self
            .model
            .complete(&prepared.endpoint, &body, self.ai.request_timeout)
            .await;
        usage.calls += 1;
        usage.latency_ms += started.elapsed().as_millis() as i64;
        let base = &prepared.endpoint.base_url;
        let failure = |breakers: &crate::ai::Breakers, counts: bool, failed: CallFailure| {
            if counts {
                breakers.failed(base, self.now(), &self.ai);
            }
            Err(failed)
        };
        match answer {
            ModelAnswer::Answered { status, body, .. } if (200..300).contains(&status) => {
                match read_response(&body) {
                    Ok(reply) => {
                        self.breakers.succeeded(base);
                        usage.tokens_in += reply.prompt_tokens;
                        usage.tokens_out += reply.completion_tokens;
                        Ok(reply)
                    }
                    Err(error) => failure(
                        &self.breakers,
                        true,
                        CallFailure::Retry { after: None, error },
                    ),
                }
            }
            ModelAnswer::Answered {
                status,
                retry_after,
                body,
            } if status == 408 || status == 429 || status >= 500 => failure(
                &self.breakers,
                status != 429,
                CallFailure::Retry {
                    after: retry_after.filter(|_| matches!(status, 429 | 503)),
                    error: error_message(status, &body),
                },
            ),
            ModelAnswer::Answered { status, body, .. } => {
                Err(CallFailure::Final(error_message(status, &body)))
            }
            ModelAnswer::TimedOut => failure(
                &self.breakers,
                true,
                CallFailure::Retry {
                    after: None,
                    error: format!("no answer within {} s", self.ai.request_timeout.as_secs()),
                },
            ),
            ModelAnswer::NotSent { error } => failure(
                &self.breakers,
                true,
                CallFailure::Retry { after: None, error },
            ),
            ModelAnswer::Refused { reason } => Err(CallFailure::Final(reason)),
        }
    }

    /// Records a turn that ends without applying a decision; for the hand-off outcomes, a
    /// person takes over. `None` when another run recorded the turn first.
    #[allow(clippy::too_many_arguments)]
    async fn settle(
        &self,
        job: &TurnJob,
        outcome: TurnOutcome,
        reason: String,
        agent: Option<AgentId>,
        step_before: Option<StepId>,
        usage: Usage,
        model: Option<String>,
    ) -> Result<Option<TurnResult>, AppError> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let record = TurnRecord {
            id: job.id,
            organization_id: job.org,
            conversation_id: job.conversation_id,
            message_id: job.message_id,
            agent_id: agent,
            model,
            step_before,
            step_after: step_before,
            action: None,
            reason: Some(reason.clone()),
            decision: None,
            reply_message_id: None,
            reply: None,
            tokens_in: usage.tokens_in,
            tokens_out: usage.tokens_out,
            latency_ms: usage.latency_ms,
            attempts: attempts(job, usage),
            outcome,
            error: None,
            created_at: job.queued_at,
            finished_at: now,
        };
        // The conversation is locked before anything that refers to it is written: rows
        // with a foreign key to it take a share lock on it on PostgreSQL, and two turns
        // of one conversation holding that lock while waiting for this one deadlock.
        let conversation = tx.lock_conversation(job.org, job.conversation_id).await?;
        if !record_once(tx.as_mut(), &record).await? {
            return Ok(None);
        }
        let actor = agent.map_or_else(Actor::system, Actor::ai);
        if let Some(mut conversation) = conversation {
            let hands_off = matches!(outcome, TurnOutcome::FailedOver | TurnOutcome::OverBudget);
            if hands_off && conversation.status != ConversationStatus::HumanRequested {
                self.hand_to_human(tx.as_mut(), &mut conversation, &actor, reason.clone())
                    .await?;
            }
            tx.append_event(
                job.org,
                job.conversation_id,
                &turn_event(&record, agent),
                &actor,
                now,
            )
            .await?;
        }
        tx.finish_outbox(OutboxId(job.id.0), "done", now).await?;
        tx.commit().await?;
        Ok(Some(TurnResult {
            turn_id: job.id,
            outcome,
            reply: None,
            reply_message_id: None,
            action: None,
            step_id: None,
            reason: Some(reason),
            tokens_in: usage.tokens_in,
            tokens_out: usage.tokens_out,
        }))
    }

    /// Applies an accepted decision in one transaction, after checking the turn is still
    /// wanted: AI still on, no human wrote, no newer message from the contact.
    async fn apply_decision(
        &self,
        job: &TurnJob,
        prepared: Prepared,
        decision: Decision,
        raw: Value,
        usage: Usage,
    ) -> Result<Option<TurnResult>, AppError> {
        let org = job.org;
        let agent = prepared.agent.id;
        let actor = Actor::ai(agent);
        let verdict = judge(&decision, &prepared.candidates);
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let mut record = TurnRecord {
            id: job.id,
            organization_id: org,
            conversation_id: job.conversation_id,
            message_id: job.message_id,
            agent_id: Some(agent),
            model: Some(prepared.model.clone()),
            step_before: prepared.step_before,
            step_after: prepared.step_before,
            action: Some(decision.action.as_str().to_owned()),
            reason: Some(decision.reason.clone()),
            decision: Some(raw),
            reply_message_id: None,
            reply: decision.reply.clone(),
            tokens_in: usage.tokens_in,
            tokens_out: usage.tokens_out,
            latency_ms: usage.latency_ms,
            attempts: attempts(job, usage),
            outcome: TurnOutcome::NoReply,
            error: None,
            created_at: job.queued_at,
            finished_at: now,
        };
        let Some(mut conversation) = tx.lock_conversation(org, job.conversation_id).await? else {
            tx.finish_outbox(OutboxId(job.id.0), "done", now).await?;
            tx.commit().await?;
            return Ok(None);
        };
        let latest = tx.latest_inbound_message(org, conversation.id).await?;
        let stale = if latest.as_ref().map(|m| m.id) != Some(job.message_id) {
            Some((
                TurnOutcome::Superseded,
                "a newer message from the contact came in while the model was answering".to_owned(),
            ))
        } else {
            still_unwanted(tx.as_mut(), &conversation, prepared.trigger_at)
                .await?
                .map(|why| (TurnOutcome::Stale, why))
        };
        let refused = match (stale, &verdict) {
            (Some(stale), _) => Some(stale),
            (None, Verdict::Reject(why)) => Some((TurnOutcome::Rejected, why.clone())),
            (None, Verdict::Accept { .. }) => None,
        };
        if let Some((outcome, why)) = refused {
            record.outcome = outcome;
            record.error = Some(why);
            record.reply = None;
            if !record_once(tx.as_mut(), &record).await? {
                return Ok(None);
            }
            finish_turn(tx, &record, agent, &actor, now).await?;
            return Ok(Some(result_of(&record, None)));
        }
        let move_to = match verdict {
            Verdict::Accept { move_to } => move_to,
            Verdict::Reject(_) => None,
        };

        // The reply is recorded with the turn before anything else is written: a second
        // run of the same turn stops here.
        let reply = decision
            .reply
            .clone()
            .filter(|_| conversation.can_send_free_text(now));
        let reply_message = reply
            .as_ref()
            .map(|text| outbound_message(&conversation, text.clone(), &actor, now));
        record.reply_message_id = reply_message.as_ref().map(|m| m.id);
        record.reply = reply.clone();
        if decision.reply.is_some() && reply.is_none() {
            record.error = Some("the 24-hour window is closed: the reply was not sent".into());
        }
        record.outcome = match (&decision.action, move_to, &reply_message) {
            (DecisionAction::Handoff, _, _) => TurnOutcome::HandedOff,
            (DecisionAction::Resolve, _, _) => TurnOutcome::Resolved,
            (_, Some(_), _) => TurnOutcome::Moved,
            (_, None, Some(_)) => TurnOutcome::Sent,
            (_, None, None) => TurnOutcome::NoReply,
        };
        if !record_once(tx.as_mut(), &record).await? {
            return Ok(None);
        }

        let wrote: Vec<&str> = prepared.contact_wrote.iter().map(String::as_str).collect();
        let learned = grounded(&decision.contact, &wrote);
        self.learn_contact(tx.as_mut(), &mut conversation, &learned, now)
            .await?;
        if let Some(message) = &reply_message {
            self.queue_reply(tx.as_mut(), &mut conversation, message, &actor)
                .await?;
        }
        conversation.updated_at = now;
        tx.save_conversation(&conversation, now).await?;
        let mut step_after = prepared.step_before;
        match (&decision.action, move_to) {
            (DecisionAction::Handoff, _) => {
                let reason = format!("the AI agent asked for a person: {}", decision.reason);
                self.hand_to_human(tx.as_mut(), &mut conversation, &actor, reason)
                    .await?;
            }
            (DecisionAction::Resolve, _) => {
                let before = conversation.status;
                conversation.status = ConversationStatus::Resolved;
                tx.save_conversation(&conversation, now).await?;
                tx.append_event(
                    org,
                    conversation.id,
                    &Event::ConversationUpdated {
                        field: "status",
                        value: json!(ConversationStatus::Resolved),
                    },
                    &actor,
                    now,
                )
                .await?;
                if before != ConversationStatus::Resolved {
                    self.emit(
                        tx.as_mut(),
                        &conversation,
                        "conversation.status_changed",
                        &actor,
                        json!({"status": ConversationStatus::Resolved}),
                    )
                    .await?;
                }
            }
            (_, Some(step_id)) => {
                if let Some(step) = tx.get_step(org, step_id).await? {
                    let context = EntryContext {
                        cause: EntryCause::Ai,
                        actor: actor.clone(),
                        send_initial_message_on_move: false,
                    };
                    let report = self.enter(tx.as_mut(), conversation, step, context).await?;
                    step_after = Some(report.current_step_id);
                }
            }
            _ => {}
        }
        record.step_after = step_after;
        finish_turn(tx, &record, agent, &actor, now).await?;
        Ok(Some(result_of(&record, step_after)))
    }

    /// Writes the agent's reply: queued for the conversation's channel, or, when nothing
    /// can deliver it, stored and announced (`message.sent`) for an integration to deliver.
    async fn queue_reply(
        &self,
        tx: &mut dyn Transaction,
        conversation: &mut Conversation,
        message: &Message,
        actor: &Actor,
    ) -> Result<(), AppError> {
        match self.require_sending_channel(tx, conversation).await {
            Ok(()) => {
                return self
                    .queue_session_message(tx, conversation, message, actor)
                    .await;
            }
            Err(AppError::Undeliverable(_)) => {}
            Err(other) => return Err(other),
        }
        let message = Message {
            status: "sent".into(),
            ..message.clone()
        };
        tx.insert_message(&message).await?;
        conversation.last_message_at = Some(message.created_at);
        self.emit(
            tx,
            conversation,
            "message.sent",
            actor,
            json!({"kind": "session_message", "messageId": message.id, "text": message.text,
                   "delivered": false}),
        )
        .await
    }

    /// Fills the contact's empty name, e-mail and phone with what the contact wrote and
    /// the model picked out; a value that is malformed or belongs to another contact is
    /// ignored.
    async fn learn_contact(
        &self,
        tx: &mut dyn Transaction,
        conversation: &mut Conversation,
        learned: &LearnedContact,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        if learned.is_empty() {
            return Ok(());
        }
        let org = conversation.organization_id;
        let Some(mut contact) = tx.get_contact(org, conversation.contact_id).await? else {
            return Ok(());
        };
        let mut changed = false;
        if let Some(name) = &learned.name
            && contact.first_name.is_none()
            && contact.last_name.is_none()
            && name.chars().count() <= 200
        {
            let (first, last) = stagecoach_domain::contact::split_name(name);
            contact.first_name = first;
            contact.last_name = last;
            conversation.contact_fields_to_collect.name = false;
            changed = true;
        }
        if let Some(email) = &learned.email
            && contact.email.is_none()
            && let Ok(email) = normalize_email(email)
            && tx.find_contact_by_email(org, &email).await?.is_none()
        {
            contact.email = Some(email);
            conversation.contact_fields_to_collect.email = false;
            changed = true;
        }
        if let Some(phone) = &learned.phone
            && contact.phone.is_none()
        {
            let calling_code = tx
                .get_organization(org)
                .await?
                .and_then(|o| o.default_calling_code);
            if let Some(phone) = normalize_phone(phone, calling_code.as_deref())
                && tx.find_contact_by_phone(org, &phone).await?.is_none()
            {
                contact.phone = Some(phone);
                conversation.contact_fields_to_collect.phone = false;
                changed = true;
            }
        }
        if changed {
            contact.updated_at = now;
            tx.update_contact(&contact).await?;
        }
        Ok(())
    }

    /// Hands the conversation to a person: HUMAN_REQUESTED, AI off, a timeline note, and
    /// the `conversation.human_requested` event.
    pub(crate) async fn hand_to_human(
        &self,
        tx: &mut dyn Transaction,
        conversation: &mut Conversation,
        actor: &Actor,
        reason: String,
    ) -> Result<(), AppError> {
        let now = self.now();
        let before = conversation.status;
        conversation.status = ConversationStatus::HumanRequested;
        conversation.ai_enabled = false;
        conversation.updated_at = now;
        tx.save_conversation(conversation, now).await?;
        tx.append_event(
            conversation.organization_id,
            conversation.id,
            &Event::HandedToHuman {
                reason: reason.clone(),
            },
            actor,
            now,
        )
        .await?;
        if before != ConversationStatus::HumanRequested {
            self.emit(
                tx,
                conversation,
                "conversation.status_changed",
                actor,
                json!({"status": ConversationStatus::HumanRequested}),
            )
            .await?;
        }
        self.emit(
            tx,
            conversation,
            "conversation.human_requested",
            actor,
            json!({"reason": reason}),
        )
        .await?;
        Ok(())
    }

    /// Turns the conversation's AI off because a person wrote to the contact; a turn in
    /// flight sees it and drops its answer.
    pub(crate) async fn silence_ai(
        &self,
        tx: &mut dyn Transaction,
        conversation: &mut Conversation,
        actor: &Actor,
    ) -> Result<(), AppError> {
        if !conversation.ai_enabled {
            return Ok(());
        }
        conversation.ai_enabled = false;
        tx.append_event(
            conversation.organization_id,
            conversation.id,
            &Event::ConversationUpdated {
                field: "aiEnabled",
                value: json!(false),
            },
            actor,
            self.now(),
        )
        .await?;
        Ok(())
    }
}

/// Why a turn is no longer wanted, if it is not: AI off, a human requested, or a person
/// wrote to the contact since its message.
async fn still_unwanted(
    tx: &mut dyn Transaction,
    conversation: &Conversation,
    since: DateTime<Utc>,
) -> Result<Option<String>, AppError> {
    if !conversation.ai_enabled {
        return Ok(Some("AI is off for the conversation".into()));
    }
    if conversation.status == ConversationStatus::HumanRequested {
        return Ok(Some("a person was requested".into()));
    }
    if tx
        .human_wrote_since(conversation.organization_id, conversation.id, since)
        .await?
    {
        return Ok(Some("a person wrote to the contact since".into()));
    }
    Ok(None)
}

/// Ends a recorded turn: its timeline entry, its job done, and the commit.
async fn finish_turn(
    mut tx: Box<dyn Transaction>,
    record: &TurnRecord,
    agent: AgentId,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let event = turn_event(record, Some(agent));
    tx.append_event(
        record.organization_id,
        record.conversation_id,
        &event,
        actor,
        now,
    )
    .await?;
    tx.finish_outbox(OutboxId(record.id.0), "done", now).await?;
    tx.commit().await?;
    Ok(())
}

/// Inserts the record; `false` when the turn was recorded already (another run of it
/// finished first), and the transaction must not go on.
async fn record_once(tx: &mut dyn Transaction, record: &TurnRecord) -> Result<bool, AppError> {
    match tx.insert_ai_turn(record).await {
        Ok(()) => Ok(true),
        Err(StoreError::UniqueViolation) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

fn attempts(job: &TurnJob, usage: Usage) -> i64 {
    (job.runs - 1).max(0) + usage.calls
}

/// The wait before the `runs`-th retry: 1 s, 2 s, 4 s … up to 30 s.
fn backoff(runs: i64) -> Duration {
    let exponent = u32::try_from(runs.saturating_sub(1).clamp(0, 5)).unwrap_or(5);
    Duration::from_secs((1u64 << exponent).min(30))
}

fn turn_event(record: &TurnRecord, agent: Option<AgentId>) -> Event {
    Event::AiTurn {
        turn_id: record.id,
        agent_id: agent.unwrap_or_default(),
        outcome: record.outcome,
        action: record.action.clone().unwrap_or_else(|| "none".into()),
        step_id: record
            .step_after
            .filter(|after| Some(*after) != record.step_before),
        reason: record
            .error
            .clone()
            .or_else(|| record.reason.clone())
            .unwrap_or_default(),
    }
}

fn result_of(record: &TurnRecord, step_after: Option<StepId>) -> TurnResult {
    TurnResult {
        turn_id: record.id,
        outcome: record.outcome,
        reply: record.reply.clone(),
        reply_message_id: record.reply_message_id,
        action: record.action.clone(),
        step_id: step_after.filter(|s| Some(*s) != record.step_before),
        reason: record.error.clone().or_else(|| record.reason.clone()),
        tokens_in: record.tokens_in,
        tokens_out: record.tokens_out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_thirty_seconds() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(50), Duration::from_secs(30));
    }
}
