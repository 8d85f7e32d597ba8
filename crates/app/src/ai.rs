//! The AI agent's configuration: where an organization's model is (its own endpoint, or
//! the server's default), the limits that hand a conversation to a human, and the client
//! that calls the model. The turns themselves are in `ai_turn.rs`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use stagecoach_domain::ai::settings::normalize_base_url;
use stagecoach_domain::ai::{AiLimits, ModelCapabilities, OrganizationAi, TurnRecord};
use stagecoach_domain::ids::{ConversationId, OrganizationId};

use crate::{AppError, Entity, Principal, Stagecoach};

/// Where a model is and how to call it.
#[derive(Clone, PartialEq)]
pub struct ModelEndpoint {
    /// The API's base, without a trailing slash: `{base_url}/chat/completions` is called.
    pub base_url: String,
    pub api_key: Option<String>,
    /// The model agents use unless they name their own.
    pub model: String,
    pub capabilities: ModelCapabilities,
}

impl std::fmt::Debug for ModelEndpoint {
    // The key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelEndpoint")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "…"))
            .field("model", &self.model)
            .field("capabilities", &self.capabilities)
            .finish()
    }
}

/// What calling a model came to.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelAnswer {
    /// The endpoint answered (any status).
    Answered {
        status: u16,
        retry_after: Option<Duration>,
        body: Vec<u8>,
    },
    /// No answer within the timeout.
    TimedOut,
    /// No answer: connection refused, reset, a body cut short.
    NotSent { error: String },
    /// The address policy refused the endpoint's address.
    Refused { reason: String },
}

/// Calls Chat Completions endpoints; the worker's HTTP client in production.
#[async_trait]
pub trait ModelClient: Send + Sync {
    /// POSTs `body` (JSON text) to `{endpoint.base_url}/chat/completions`.
    async fn complete(
        &self,
        endpoint: &ModelEndpoint,
        body: &str,
        timeout: Duration,
    ) -> ModelAnswer;
}

/// The client of a core built without one: every call fails, and turns hand off.
pub(crate) struct NoModelClient;

#[async_trait]
impl ModelClient for NoModelClient {
    async fn complete(&self, _: &ModelEndpoint, _: &str, _: Duration) -> ModelAnswer {
        ModelAnswer::Refused {
            reason: "this process has no model client".into(),
        }
    }
}

/// How the AI agent runs, server-wide.
#[derive(Debug, Clone)]
pub struct AiConfig {
    /// The endpoint of organizations without their own (`--ai-base-url`).
    pub server_endpoint: Option<ModelEndpoint>,
    /// How long a turn waits after the contact's last message, so a burst is answered
    /// once.
    pub reply_delay: Duration,
    /// How long one model call may take.
    pub request_timeout: Duration,
    /// How long after the contact's message a turn may still answer; after it, a human
    /// takes over and a late answer is never sent.
    pub deadline: Duration,
    /// The most tokens a model may answer with.
    pub max_reply_tokens: u32,
    /// Consecutive failures of an endpoint that open its circuit breaker, and how long
    /// it stays open (turns hand off at once meanwhile).
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
}

impl Default for AiConfig {
    fn default() -> Self {
        AiConfig {
            server_endpoint: None,
            reply_delay: Duration::from_secs(3),
            request_timeout: Duration::from_secs(60),
            deadline: Duration::from_secs(120),
            max_reply_tokens: 800,
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(60),
        }
    }
}

/// Each endpoint's run of failures, per process.
#[derive(Debug, Default)]
pub(crate) struct Breakers {
    endpoints: Mutex<HashMap<String, Breaker>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Breaker {
    failures: u32,
    open_until: Option<DateTime<Utc>>,
}

impl Breakers {
    pub(crate) fn is_open(&self, base_url: &str, now: DateTime<Utc>) -> bool {
        let endpoints = self.endpoints.lock().expect("breakers lock");
        endpoints
            .get(base_url)
            .and_then(|b| b.open_until)
            .is_some_and(|until| now < until)
    }

    pub(crate) fn failed(&self, base_url: &str, now: DateTime<Utc>, config: &AiConfig) {
        let mut endpoints = self.endpoints.lock().expect("breakers lock");
        let breaker = endpoints.entry(base_url.to_owned()).or_default();
        breaker.failures += 1;
        if breaker.failures >= config.breaker_threshold {
            breaker.open_until =
                Some(now + chrono::Duration::from_std(config.breaker_cooldown).unwrap_or_default());
            breaker.failures = 0;
        }
    }

    pub(crate) fn succeeded(&self, base_url: &str) {
        self.endpoints
            .lock()
            .expect("breakers lock")
            .remove(base_url);
    }
}

/// An organization's AI settings as a client writes them. The API key is kept when
/// `api_key` is `None`, removed with `Some(None)`.
#[derive(Debug, Clone, Default)]
pub struct AiSettingsInput {
    pub base_url: Option<String>,
    pub api_key: Option<Option<String>>,
    pub model: Option<String>,
    pub capabilities: ModelCapabilities,
    pub limits: AiLimits,
}

/// Where an organization's turns go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointSource {
    /// Its own endpoint.
    Organization,
    /// The server's default endpoint.
    Server,
    /// Neither: its agents do not answer.
    None,
}

impl EndpointSource {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointSource::Organization => "organization",
            EndpointSource::Server => "server",
            EndpointSource::None => "none",
        }
    }
}

/// What an organization's AI settings come to.
#[derive(Debug, Clone)]
pub struct AiSettingsView {
    pub stored: Option<OrganizationAi>,
    pub source: EndpointSource,
    /// The endpoint turns use (its key left out).
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub capabilities: ModelCapabilities,
    pub limits: AiLimits,
    pub tokens_this_month: i64,
}

/// The first instant of `now`'s calendar month (UTC): monthly budgets count from it.
pub(crate) fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

impl Stagecoach {
    /// Sets how the AI agent runs server-wide.
    pub fn with_ai(mut self, config: AiConfig) -> Self {
        self.ai = std::sync::Arc::new(config);
        self
    }

    /// Replaces the client that calls models.
    pub fn with_model_client(mut self, client: std::sync::Arc<dyn ModelClient>) -> Self {
        self.model = client;
        self
    }

    pub fn ai_config(&self) -> &AiConfig {
        &self.ai
    }

    /// The organization's endpoint (its own, else the server's) with its key opened.
    pub(crate) fn endpoint_of(
        &self,
        stored: Option<&(OrganizationAi, Option<String>)>,
    ) -> Result<Option<ModelEndpoint>, AppError> {
        match stored {
            Some((settings, sealed)) if settings.base_url.is_some() => {
                let api_key = match sealed {
                    Some(sealed) => Some(self.secrets.open(sealed).map_err(|_| {
                        AppError::Store(stagecoach_storage::StoreError::Corrupt(
                            "the organization's model API key cannot be opened with this server key"
                                .into(),
                        ))
                    })?),
                    None => None,
                };
                Ok(Some(ModelEndpoint {
                    base_url: settings.base_url.clone().unwrap_or_default(),
                    api_key,
                    model: settings
                        .model
                        .clone()
                        .unwrap_or_else(|| stagecoach_domain::agent::DEFAULT_MODEL_NAME.into()),
                    capabilities: settings.capabilities,
                }))
            }
            Some((settings, _)) => Ok(self.ai.server_endpoint.clone().map(|mut server| {
                if let Some(model) = &settings.model {
                    server.model = model.clone();
                }
                server
            })),
            None => Ok(self.ai.server_endpoint.clone()),
        }
    }

    pub async fn ai_settings(&self, who: &Principal) -> Result<AiSettingsView, AppError> {
        self.organization_ai_settings(who.organization_id).await
    }

    /// [`Self::ai_settings`] for an operator (the CLI), by organization id.
    pub async fn organization_ai_settings(
        &self,
        org: OrganizationId,
    ) -> Result<AiSettingsView, AppError> {
        let mut tx = self.store.begin_read().await?;
        tx.get_organization(org)
            .await?
            .ok_or(AppError::not_found(Entity::Organization, "org"))?;
        let stored = tx.get_ai_settings(org).await?;
        let tokens_this_month = tx.ai_tokens_since(org, month_start(self.now())).await?;
        let endpoint = self.endpoint_of(stored.as_ref())?;
        let source = match (&stored, &endpoint) {
            (_, None) => EndpointSource::None,
            (Some((s, _)), Some(_)) if s.base_url.is_some() => EndpointSource::Organization,
            _ => EndpointSource::Server,
        };
        let limits = stored.as_ref().map(|(s, _)| s.limits).unwrap_or_default();
        Ok(AiSettingsView {
            stored: stored.map(|(s, _)| s),
            source,
            base_url: endpoint.as_ref().map(|e| e.base_url.clone()),
            model: endpoint.as_ref().map(|e| e.model.clone()),
            capabilities: endpoint.map(|e| e.capabilities).unwrap_or_default(),
            limits,
            tokens_this_month,
        })
    }

    /// Creates or replaces the organization's AI settings (the key is kept unless given).
    pub async fn put_ai_settings(
        &self,
        who: &Principal,
        input: AiSettingsInput,
    ) -> Result<AiSettingsView, AppError> {
        self.put_organization_ai_settings(who.organization_id, input)
            .await
    }

    /// [`Self::put_ai_settings`] for an operator (the CLI), by organization id.
    pub async fn put_organization_ai_settings(
        &self,
        org: OrganizationId,
        input: AiSettingsInput,
    ) -> Result<AiSettingsView, AppError> {
        let mut errors = stagecoach_domain::error::Errors::default();
        let base_url = match input.base_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => match normalize_base_url(raw) {
                Ok(url) => Some(url),
                Err(message) => {
                    errors.add("baseUrl", message);
                    None
                }
            },
        };
        let model = input
            .model
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty());
        if model.as_ref().is_some_and(|m| m.len() > 200) {
            errors.add("model", "must be at most 200 characters");
        }
        let api_key = input
            .api_key
            .map(|key| key.map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()));
        if let Some(Some(key)) = &api_key
            && key.len() > 4096
        {
            errors.add("apiKey", "must be at most 4096 characters");
        }
        let limits = match input.limits.validated() {
            Ok(limits) => limits,
            Err(e) => {
                errors.extend(e);
                input.limits
            }
        };
        errors.into_result()?;
        if let Some(url) = &base_url {
            self.check_reachable("baseUrl", url)?;
        }
        let mut tx = self.store.begin_write().await?;
        tx.get_organization(org)
            .await?
            .ok_or(AppError::not_found(Entity::Organization, "org"))?;
        let previous_key = tx.get_ai_settings(org).await?.and_then(|(_, key)| key);
        let sealed = match api_key {
            None => previous_key,
            Some(None) => None,
            Some(Some(key)) => Some(self.secrets.seal(&key)),
        };
        let settings = OrganizationAi {
            organization_id: org,
            base_url,
            model,
            capabilities: input.capabilities,
            has_api_key: sealed.is_some(),
            limits,
            updated_at: self.now(),
        };
        tx.put_ai_settings(&settings, sealed.as_deref()).await?;
        tx.commit().await?;
        self.organization_ai_settings(org).await
    }

    /// Removes the organization's own AI settings: the server's default serves it again.
    pub async fn delete_ai_settings(&self, who: &Principal) -> Result<(), AppError> {
        self.delete_organization_ai_settings(who.organization_id)
            .await
    }

    /// [`Self::delete_ai_settings`] for an operator (the CLI), by organization id.
    pub async fn delete_organization_ai_settings(
        &self,
        org: OrganizationId,
    ) -> Result<(), AppError> {
        let mut tx = self.store.begin_write().await?;
        tx.delete_ai_settings(org).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The conversation's AI turns, newest first.
    pub async fn ai_turns(
        &self,
        who: &Principal,
        conversation: Option<ConversationId>,
        limit: i64,
    ) -> Result<Vec<TurnRecord>, AppError> {
        let mut tx = self.store.begin_read().await?;
        let id = conversation.ok_or(AppError::not_found(Entity::Conversation, "id"))?;
        let org: OrganizationId = who.organization_id;
        tx.get_conversation(org, id)
            .await?
            .ok_or(AppError::not_found(Entity::Conversation, "id"))?;
        Ok(tx.list_ai_turns(org, id, limit.clamp(1, 500)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_start_on_the_first_at_midnight() {
        let now = Utc.with_ymd_and_hms(2026, 12, 17, 13, 5, 0).unwrap();
        assert_eq!(
            month_start(now),
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn breakers_open_after_the_threshold_and_close_after_the_cooldown() {
        let config = AiConfig {
            breaker_threshold: 2,
            ..AiConfig::default()
        };
        let breakers = Breakers::default();
        let now = Utc::now();
        breakers.failed("http://m", now, &config);
        assert!(!breakers.is_open("http://m", now));
        breakers.failed("http://m", now, &config);
        assert!(breakers.is_open("http://m", now));
        assert!(!breakers.is_open("http://other", now));
        assert!(!breakers.is_open("http://m", now + chrono::Duration::seconds(61)));
        breakers.succeeded("http://m");
        assert!(!breakers.is_open("http://m", now));
    }
}
