//! Outbound delivery: webhook endpoints an organization subscribes to events, and the
//! delivery of queued webhooks (event subscriptions and step webhooks) with signatures,
//! retries and an attempt log.
//!
//! The worker drives it in three moves: [`Stagecoach::fan_out_events`] turns each queued
//! event into one delivery per subscribed endpoint, [`Stagecoach::claim_deliveries`] leases
//! due deliveries, and [`Stagecoach::perform_delivery`] sends one through a [`Transport`]
//! and records the attempt. Sending is the transport's business (HTTP, address policy);
//! what to send, and what an answer means, is decided here.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use stagecoach_domain::delivery::network::{Destination, destination, refusal};
use stagecoach_domain::delivery::providers::{provider_error, provider_message_id};
use stagecoach_domain::delivery::retry::{AfterFailure, DEFAULT_SCHEDULE, after_failure};
use stagecoach_domain::delivery::signing::{secret_from_key, sign};
use stagecoach_domain::delivery::targets::{
    DeliveredEvent, EVENT_TYPES, PayloadStyle, WebhookEndpoint, render_event,
};
use stagecoach_domain::engine::effects::OutboundEffect;
use stagecoach_domain::engine::timeline::Actor;
use stagecoach_domain::error::Errors;
use stagecoach_domain::ids::{AttemptId, ConversationId, EndpointId, OrganizationId, OutboxId};
use stagecoach_domain::step::check_http_url;
use stagecoach_storage::{Attempt, OutboxEntry, RedeliveryFilter, StoreError};

use crate::Stagecoach;
use crate::auth::Principal;
use crate::error::{AppError, Entity};
use crate::secrets::SecretBox;

/// Outbox kinds the HTTP delivery performs.
pub const WEBHOOK: &str = "webhook";
pub const STEP_WEBHOOK: &str = "step_webhook";
/// Every outbox kind the delivery performs: webhooks, and messages through channels.
pub(crate) const DELIVERY_KINDS: [&str; 6] = [
    WEBHOOK,
    STEP_WEBHOOK,
    "initial_message",
    "session_message",
    "zapi_notification",
    "whatsapp_template",
];

/// The most deliveries one bulk redelivery queues.
pub const MAX_BULK_REDELIVERY: i64 = 1000;
/// The statuses a bulk redelivery can select.
const REDELIVERABLE_STATUSES: [&str; 3] = ["failed", "done", "pending"];

/// Where providers' APIs are (configuration, so tests can stand in for them).
#[derive(Debug, Clone)]
pub struct ProviderUrls {
    /// WhatsApp Cloud API, up to the version: `https://graph.facebook.com/v21.0`.
    pub whatsapp: String,
    /// Z-API: `https://api.z-api.io`.
    pub zapi: String,
}

impl Default for ProviderUrls {
    fn default() -> Self {
        Self {
            whatsapp: "https://graph.facebook.com/v21.0".into(),
            zapi: "https://api.z-api.io".into(),
        }
    }
}

/// Meta requires a language on every template; steps that name none use this.
pub const DEFAULT_TEMPLATE_LANGUAGE: &str = "pt_BR";

/// How long a claimed delivery stays leased: well beyond the send timeout, so a live
/// worker finishes first; a crashed worker's claim comes back after it.
pub const DELIVERY_LEASE: Duration = Duration::from_secs(120);
/// How much of a receiver's answer the attempt log keeps.
pub const EXCERPT_LIMIT: usize = 1024;

/// How deliveries are retried.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// The waits after the 1st, 2nd, … failed attempt; after the last, the delivery fails.
    pub schedule: Vec<Duration>,
    pub providers: ProviderUrls,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            schedule: DEFAULT_SCHEDULE.to_vec(),
            providers: ProviderUrls::default(),
        }
    }
}

/// What a delivery comes to before anything is sent.
pub(crate) enum Plan {
    /// Send this. A provider's 4xx answer is final (the provider said no); a webhook
    /// receiver's is retried like any failure.
    Send {
        request: OutboundRequest,
        provider: bool,
    },
    /// Nothing leaves Stagecoach (a website chat reads its messages through the API).
    Nothing,
    /// It cannot be sent; retrying would not help.
    Fail(String),
}

/// An HTTP POST to make.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What came of sending a request.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// The receiver answered (any status; redirects are answers, not followed).
    Answered {
        status: u16,
        /// The `Retry-After` it sent, in seconds or as an HTTP date.
        retry_after: Option<Duration>,
        /// The start of its body, at most [`EXCERPT_LIMIT`] bytes.
        excerpt: String,
    },
    /// No answer: connection error, timeout.
    NotSent { error: String },
    /// The address policy refused the destination: retrying cannot help until the
    /// configuration changes (then redeliver).
    Refused { reason: String },
}

/// What came of performing a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver accepted it (or nothing had to leave Stagecoach).
    Delivered,
    /// It failed and is queued to be tried again.
    Retrying,
    /// It failed for good: the schedule ran out, or retrying cannot help.
    Failed,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retrying => "retrying",
            DeliveryOutcome::Failed => "failed",
        }
    }
}

/// Sends requests; the worker's HTTP client in production.
#[async_trait]
pub trait Transport: Send + Sync {
    async fn send(&self, request: OutboundRequest) -> SendOutcome;
}

/// A new endpoint subscription.
#[derive(Debug, Clone)]
pub struct EndpointInput {
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub style: PayloadStyle,
}

/// A new subscription, its signing secret (shown this once), and what creation noticed
/// about where it points.
#[derive(Debug, Clone)]
pub struct CreatedEndpoint {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
    pub warnings: Vec<String>,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<String>>,
    pub style: Option<PayloadStyle>,
    pub disabled: Option<bool>,
}

/// A delivery leased by a worker.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub organization_id: OrganizationId,
    pub entry: OutboxEntry,
}

fn check_endpoint(url: &str, event_types: &[String]) -> Result<(), AppError> {
    let mut errors = Errors::default();
    if let Err(message) = check_http_url(url) {
        errors.add("url", message);
    }
    for event_type in event_types {
        if !EVENT_TYPES.contains(&event_type.as_str()) {
            errors.add(
                "eventTypes",
                format!(
                    "{event_type:?} is not an event type; known: {}",
                    EVENT_TYPES.join(", ")
                ),
            );
        }
    }
    Ok(errors.into_result()?)
}

/// How long creating an endpoint waits for its host name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

impl Stagecoach {
    /// Refuses a URL whose address (a literal, or `localhost`) the outbound policy
    /// refuses, since every delivery to it would fail.
    pub(crate) fn check_reachable(&self, field: &'static str, url: &str) -> Result<(), AppError> {
        match destination(url, &self.outbound_allowed) {
            Destination::Refused { address, reason } => Err(AppError::invalid(
                field,
                format!(
                    "{address} is a {reason}, which deliveries may not reach; to allow it, \
                     start the server with --outbound-allow-cidrs including it"
                ),
            )),
            Destination::Allowed | Destination::Name(_) => Ok(()),
        }
    }

    /// Warnings about a URL whose host is a name: what it resolves to now, when the policy
    /// would refuse that, or that it does not resolve. Each delivery resolves it again.
    async fn reachability_warnings(&self, url: &str) -> Vec<String> {
        let Destination::Name(host) = destination(url, &self.outbound_allowed) else {
            return vec![];
        };
        let lookup = tokio::net::lookup_host((host.as_str(), 0));
        let addresses: Vec<std::net::IpAddr> =
            match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
                Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                Ok(Err(error)) => {
                    return vec![format!(
                        "{host} does not resolve now ({error}); deliveries will fail until it does"
                    )];
                }
                Err(_) => {
                    return vec![format!(
                        "{host} did not resolve within {}s; each delivery resolves it again",
                        RESOLVE_TIMEOUT.as_secs()
                    )];
                }
            };
        addresses
            .into_iter()
            .filter_map(|ip| {
                refusal(ip, &self.outbound_allowed).map(|reason| {
                    format!(
                        "{host} resolves to {ip}, a {reason}: deliveries to it will be refused \
                         unless --outbound-allow-cidrs includes it"
                    )
                })
            })
            .collect()
    }

    /// Replaces how deliveries are retried.
    pub fn with_delivery_settings(mut self, settings: DeliverySettings) -> Self {
        self.delivery = settings;
        self
    }

    /// Replaces the key secrets are stored under, and hands it to the store for the
    /// secrets it keeps inside rows (a step's webhook headers).
    pub fn with_secret_box(mut self, secrets: SecretBox) -> Self {
        self.store.use_sealer(std::sync::Arc::new(secrets.clone()));
        self.secrets = secrets;
        self
    }

    /// Seals the secrets stored in plain text before Stagecoach encrypted them (a step's
    /// webhook headers); returns how many. Run at start, after migrating.
    pub async fn seal_plain_secrets(&self) -> Result<u64, AppError> {
        let mut tx = self.store.begin_write().await?;
        let sealed = tx.seal_plain_step_headers().await?;
        tx.commit().await?;
        Ok(sealed)
    }

    /// Subscribes an endpoint; returns it with its signing secret (`whsec_…`), which is
    /// shown this once and stored encrypted.
    pub async fn create_endpoint(
        &self,
        who: &Principal,
        input: EndpointInput,
    ) -> Result<CreatedEndpoint, AppError> {
        check_endpoint(&input.url, &input.event_types)?;
        self.check_reachable("url", &input.url)?;
        let warnings = self.reachability_warnings(&input.url).await;
        let now = self.now();
        let endpoint = WebhookEndpoint {
            id: EndpointId::new(),
            organization_id: who.organization_id,
            url: input.url.trim().to_owned(),
            description: input.description,
            event_types: input.event_types,
            style: input.style,
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        let secret = secret_from_key(&rand::random::<[u8; 24]>());
        let mut tx = self.store.begin_write().await?;
        tx.insert_endpoint(&endpoint, &self.secrets.seal(&secret))
            .await?;
        tx.commit().await?;
        Ok(CreatedEndpoint {
            endpoint,
            secret,
            warnings,
        })
    }

    pub async fn endpoints(&self, who: &Principal) -> Result<Vec<WebhookEndpoint>, AppError> {
        let mut tx = self.store.begin_read().await?;
        let endpoints = tx.list_endpoints(who.organization_id).await?;
        Ok(endpoints.into_iter().map(|(e, _)| e).collect())
    }

    pub async fn endpoint(
        &self,
        who: &Principal,
        id: Option<EndpointId>,
    ) -> Result<WebhookEndpoint, AppError> {
        let id = id.ok_or(AppError::not_found(Entity::WebhookEndpoint, "id"))?;
        let mut tx = self.store.begin_read().await?;
        tx.get_endpoint(who.organization_id, id)
            .await?
            .map(|(e, _)| e)
            .ok_or(AppError::not_found(Entity::WebhookEndpoint, "id"))
    }

    pub async fn update_endpoint(
        &self,
        who: &Principal,
        id: Option<EndpointId>,
        patch: EndpointPatch,
    ) -> Result<WebhookEndpoint, AppError> {
        let id = id.ok_or(AppError::not_found(Entity::WebhookEndpoint, "id"))?;
        let mut tx = self.store.begin_write().await?;
        let (mut endpoint, _) = tx
            .get_endpoint(who.organization_id, id)
            .await?
            .ok_or(AppError::not_found(Entity::WebhookEndpoint, "id"))?;
        if let Some(url) = patch.url {
            // Only a new address is checked: an old one must not block disabling it.
            self.check_reachable("url", &url)?;
            endpoint.url = url.trim().to_owned();
        }
        if let Some(description) = patch.description {
            endpoint.description = description;
        }
        if let Some(event_types) = patch.event_types {
            endpoint.event_types = event_types;
        }
        if let Some(style) = patch.style {
            endpoint.style = style;
        }
        if let Some(disabled) = patch.disabled {
            endpoint.disabled = disabled;
        }
        check_endpoint(&endpoint.url, &endpoint.event_types)?;
        endpoint.updated_at = self.now();
        tx.update_endpoint(&endpoint).await?;
        tx.commit().await?;
        Ok(endpoint)
    }

    /// Removes an endpoint and its queued deliveries.
    pub async fn delete_endpoint(
        &self,
        who: &Principal,
        id: Option<EndpointId>,
    ) -> Result<(), AppError> {
        let id = id.ok_or(AppError::not_found(Entity::WebhookEndpoint, "id"))?;
        let mut tx = self.store.begin_write().await?;
        if !tx.delete_endpoint(who.organization_id, id).await? {
            return Err(AppError::not_found(Entity::WebhookEndpoint, "id"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deliveries (of a conversation, an endpoint, or all), newest first.
    pub async fn deliveries(
        &self,
        who: &Principal,
        conversation: Option<ConversationId>,
        endpoint: Option<EndpointId>,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>, AppError> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx
            .list_deliveries(who.organization_id, conversation, endpoint, limit)
            .await?)
    }

    /// One delivery and its attempts, oldest first.
    pub async fn delivery(
        &self,
        who: &Principal,
        id: Option<OutboxId>,
    ) -> Result<(OutboxEntry, Vec<Attempt>), AppError> {
        let id = id.ok_or(AppError::not_found(Entity::Delivery, "id"))?;
        let mut tx = self.store.begin_read().await?;
        let entry = tx
            .get_outbox(who.organization_id, id)
            .await?
            .ok_or(AppError::not_found(Entity::Delivery, "id"))?;
        let attempts = tx.list_attempts(who.organization_id, id).await?;
        Ok((entry, attempts))
    }

    /// Queues a delivery again, due now. Its `webhook-id` stays the same, so receivers
    /// that deduplicate see it as the same message. Attempts keep counting: a delivery
    /// past its schedule gets one more try, and fails again if that fails.
    pub async fn redeliver(
        &self,
        who: &Principal,
        id: Option<OutboxId>,
    ) -> Result<OutboxEntry, AppError> {
        let id = id.ok_or(AppError::not_found(Entity::Delivery, "id"))?;
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let entry = tx
            .get_outbox(who.organization_id, id)
            .await?
            .ok_or(AppError::not_found(Entity::Delivery, "id"))?;
        if !DELIVERY_KINDS.contains(&entry.kind.as_str()) {
            return Err(AppError::invalid(
                "id",
                format!(
                    "a {} is not an HTTP delivery and cannot be redelivered",
                    entry.kind
                ),
            ));
        }
        tx.redeliver(who.organization_id, id, now).await?;
        let entry = tx
            .get_outbox(who.organization_id, id)
            .await?
            .ok_or(AppError::not_found(Entity::Delivery, "id"))?;
        tx.commit().await?;
        Ok(entry)
    }

    /// Queues again, due now, every delivery of the organization that matches `filter`
    /// (by endpoint, status and creation period): at most `limit` (1 to
    /// [`MAX_BULK_REDELIVERY`]), oldest first. Returns how many were queued.
    pub async fn redeliver_matching(
        &self,
        who: &Principal,
        filter: RedeliveryFilter,
        limit: i64,
    ) -> Result<u64, AppError> {
        let mut errors = Errors::default();
        if !REDELIVERABLE_STATUSES.contains(&filter.status.as_str()) {
            errors.add(
                "status",
                format!(
                    "{:?} is not a delivery status; use one of {}",
                    filter.status,
                    REDELIVERABLE_STATUSES.join(", ")
                ),
            );
        }
        if !(1..=MAX_BULK_REDELIVERY).contains(&limit) {
            errors.add(
                "limit",
                format!("must be between 1 and {MAX_BULK_REDELIVERY}"),
            );
        }
        if let (Some(from), Some(before)) = (filter.created_from, filter.created_before)
            && from >= before
        {
            errors.add("createdBefore", "must be later than createdFrom");
        }
        errors.into_result()?;
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        if let Some(endpoint) = filter.endpoint {
            tx.get_endpoint(who.organization_id, endpoint)
                .await?
                .ok_or(AppError::not_found(Entity::WebhookEndpoint, "endpointId"))?;
        }
        let queued = tx
            .redeliver_matching(who.organization_id, &filter, now, limit)
            .await?;
        tx.commit().await?;
        Ok(queued)
    }

    /// Turns queued events into one webhook delivery per endpoint that wants them, in the
    /// same transaction as it marks each event done. Returns how many events it handled.
    pub async fn fan_out_events(&self, limit: i64) -> Result<usize, AppError> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        // Marked done as they are read: the deliveries commit with that mark, or neither.
        let events = tx.take_outbox("event", now, limit).await?;
        // Each organization's endpoints are read once per batch.
        let mut endpoints_of = HashMap::new();
        for (org, entry) in &events {
            let Ok(OutboundEffect::Event {
                event_type,
                conversation_id,
                contact_id,
                actor,
                data,
            }) = serde_json::from_value::<OutboundEffect>(entry.payload.clone())
            else {
                tx.fail_outbox(entry.id, "not an event", now).await?;
                continue;
            };
            if !endpoints_of.contains_key(org) {
                endpoints_of.insert(*org, tx.list_endpoints(*org).await?);
            }
            for (endpoint, _) in &endpoints_of[org] {
                if !endpoint.wants(&event_type) {
                    continue;
                }
                let id = OutboxId::new();
                let body = render_event(
                    endpoint.style,
                    &DeliveredEvent {
                        id: &entry.id.to_string(),
                        event_type: &event_type,
                        actor: &actor,
                        occurred_at: entry.created_at,
                        conversation_id: conversation_id.map(|c| c.to_string()),
                        contact_id: contact_id.map(|c| c.to_string()),
                        data: &data,
                    },
                );
                let payload = json!({"eventId": entry.id, "eventType": event_type, "body": body});
                tx.enqueue_delivery(
                    *org,
                    conversation_id,
                    Some(endpoint.id),
                    WEBHOOK,
                    id,
                    &payload,
                    entry.created_at,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(events.len())
    }

    /// Leases up to `limit` due deliveries for this worker.
    pub async fn claim_deliveries(&self, limit: i64) -> Result<Vec<ClaimedDelivery>, AppError> {
        let now = self.now();
        let mut claimed = Vec::new();
        let mut tx = self.store.begin_write().await?;
        // Each kind first gets its share, so a backlog of webhooks cannot starve
        // messages; what is left goes to whichever kinds still have work.
        let share = (limit / DELIVERY_KINDS.len() as i64).max(1);
        for (pass, kind) in DELIVERY_KINDS
            .iter()
            .chain(DELIVERY_KINDS.iter())
            .enumerate()
        {
            let room = limit - claimed.len() as i64;
            let left = if pass < DELIVERY_KINDS.len() {
                room.min(share)
            } else {
                room
            };
            if left <= 0 {
                continue;
            }
            for (organization_id, entry) in self
                .claim_for_this_worker(tx.as_mut(), kind, now, now + DELIVERY_LEASE, left)
                .await?
            {
                claimed.push(ClaimedDelivery {
                    organization_id,
                    entry,
                });
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Sends a claimed delivery and records the attempt: done on a 2xx answer, otherwise
    /// retried per the schedule (honouring `Retry-After` on 429 and 503) or, after the
    /// last attempt, failed.
    pub async fn perform_delivery(
        &self,
        claimed: ClaimedDelivery,
        transport: &dyn Transport,
    ) -> Result<DeliveryOutcome, AppError> {
        let ClaimedDelivery {
            organization_id: org,
            entry,
        } = claimed;
        let started_at = self.now();
        // A message written through the API keeps a status of its own.
        let message = match serde_json::from_value::<OutboundEffect>(entry.payload.clone()) {
            Ok(OutboundEffect::SessionMessage { message_id, .. }) => Some(message_id),
            Ok(OutboundEffect::WhatsappTemplate { message_id, .. }) => message_id,
            _ => None,
        };
        // `unsendable`: nothing to send to (no channel, a deleted endpoint); retrying
        // cannot help, so the failure is final.
        let (outcome, duration_ms, provider, unsendable) =
            match self.plan(org, &entry, started_at).await? {
                Plan::Send { request, provider } => {
                    let clock_start = std::time::Instant::now();
                    let outcome = transport.send(request).await;
                    let duration_ms = clock_start.elapsed().as_millis() as i64;
                    (outcome, duration_ms, provider, false)
                }
                Plan::Fail(error) => (SendOutcome::NotSent { error }, 0, false, true),
                Plan::Nothing => {
                    let mut tx = self.store.begin_write().await?;
                    tx.finish_outbox(entry.id, "done", started_at).await?;
                    if let Some(message) = message {
                        tx.set_message_status(org, message, "sent", None).await?;
                    }
                    tx.commit().await?;
                    return Ok(DeliveryOutcome::Delivered);
                }
            };

        let now = self.now();
        let mut final_answer = unsendable;
        let (status, retry_after, error, excerpt) = match outcome {
            SendOutcome::Answered {
                status, excerpt, ..
            } if (200..300).contains(&status) => (Some(status), None, None, Some(excerpt)),
            SendOutcome::Answered {
                status,
                retry_after,
                excerpt,
            } => {
                let honoured = matches!(status, 429 | 503).then_some(retry_after).flatten();
                let error = if (300..400).contains(&status) {
                    format!("HTTP {status}: redirects are not followed")
                } else if provider {
                    provider_error(status, &excerpt)
                } else {
                    format!("HTTP {status}")
                };
                final_answer = provider && (400..500).contains(&status) && status != 429;
                (Some(status), honoured, Some(error), Some(excerpt))
            }
            SendOutcome::NotSent { error } => (None, None, Some(error), None),
            SendOutcome::Refused { reason } => {
                final_answer = true;
                (None, None, Some(reason), None)
            }
        };

        let mut tx = self.store.begin_write().await?;
        tx.insert_attempt(&Attempt {
            id: AttemptId::new(),
            organization_id: org,
            outbox_id: entry.id,
            attempt: entry.attempts,
            started_at,
            duration_ms,
            http_status: status.map(i64::from),
            response_excerpt: excerpt.clone(),
            error: error.clone(),
        })
        .await?;
        let delivery_outcome = match error {
            None => {
                tx.finish_outbox(entry.id, "done", now).await?;
                if let Some(message) = message {
                    tx.set_message_status(org, message, "sent", None).await?;
                }
                if let Some(event) = sent_event(&entry) {
                    tx.enqueue(org, entry.conversation_id, OutboxId::new(), &event, now)
                        .await?;
                }
                DeliveryOutcome::Delivered
            }
            Some(error) => {
                let jitter = rand::random::<f64>() * 2.0 - 1.0;
                let next = if final_answer {
                    AfterFailure::GiveUp
                } else {
                    after_failure(
                        &self.delivery.schedule,
                        u32::try_from(entry.attempts).unwrap_or(u32::MAX),
                        retry_after,
                        jitter,
                    )
                };
                match next {
                    AfterFailure::RetryIn(wait) => {
                        let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                        tx.retry_outbox(entry.id, at, &error, now).await?;
                        DeliveryOutcome::Retrying
                    }
                    AfterFailure::GiveUp => {
                        tx.fail_outbox(entry.id, &error, now).await?;
                        if let Some(message) = message {
                            tx.set_message_status(org, message, "failed", None).await?;
                        }
                        DeliveryOutcome::Failed
                    }
                }
            }
        };
        tx.commit().await?;
        // The provider's id lets its status webhooks find the message. Recorded on its own:
        // a provider repeating an id must not undo the delivery's record.
        if let (DeliveryOutcome::Delivered, Some(message)) = (delivery_outcome, message)
            && let Some(provider_id) = excerpt.as_deref().and_then(provider_message_id)
        {
            let mut tx = self.store.begin_write().await?;
            match tx
                .set_message_status(org, message, "sent", Some(&provider_id))
                .await
            {
                Ok(_) => tx.commit().await?,
                Err(StoreError::UniqueViolation) => {
                    tracing::warn!(%provider_id, "a provider gave two messages the same id");
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(delivery_outcome)
    }

    /// What a delivery comes to: the request it makes, or why there is none.
    async fn plan(
        &self,
        org: OrganizationId,
        entry: &OutboxEntry,
        now: DateTime<Utc>,
    ) -> Result<Plan, AppError> {
        // The outbox id is the message id: the same on every retry and redelivery.
        let message_id = entry.id.to_string();
        let timestamp = now.timestamp();
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("user-agent".to_owned(), "Stagecoach-Webhooks/1".to_owned()),
            ("webhook-id".to_owned(), message_id.clone()),
            ("webhook-timestamp".to_owned(), timestamp.to_string()),
        ];
        match entry.kind.as_str() {
            WEBHOOK => {
                let Some(endpoint_id) = entry.endpoint_id else {
                    return Ok(Plan::Fail("the delivery names no endpoint".into()));
                };
                let mut tx = self.store.begin_read().await?;
                let Some((endpoint, sealed)) = tx.get_endpoint(org, endpoint_id).await? else {
                    return Ok(Plan::Fail("the endpoint was deleted".into()));
                };
                if endpoint.disabled {
                    return Ok(Plan::Fail("the endpoint is disabled".into()));
                }
                let secret = match self.secrets.open(&sealed) {
                    Ok(secret) => secret,
                    Err(error) => return Ok(Plan::Fail(error.to_string())),
                };
                let body = serde_json::to_vec(entry.payload.get("body").unwrap_or(&Value::Null))
                    .expect("JSON serializes");
                let Ok(signature) = sign(&secret, &message_id, timestamp, &body) else {
                    return Ok(Plan::Fail("the endpoint's secret is malformed".into()));
                };
                headers.push(("webhook-signature".to_owned(), signature));
                Ok(Plan::Send {
                    request: OutboundRequest {
                        url: endpoint.url,
                        headers,
                        body,
                    },
                    provider: false,
                })
            }
            STEP_WEBHOOK => {
                let Ok(OutboundEffect::StepWebhook {
                    url,
                    headers: extra,
                    event,
                }) = serde_json::from_value::<OutboundEffect>(entry.payload.clone())
                else {
                    return Ok(Plan::Fail("not a step webhook".into()));
                };
                // The step's own headers (an integrator's auth token) go last and win.
                headers.retain(|(name, _)| !extra.keys().any(|k| k.eq_ignore_ascii_case(name)));
                headers.extend(extra);
                Ok(Plan::Send {
                    request: OutboundRequest {
                        url,
                        headers,
                        body: serde_json::to_vec(&event).expect("JSON serializes"),
                    },
                    provider: false,
                })
            }
            _ => match serde_json::from_value::<OutboundEffect>(entry.payload.clone()) {
                Ok(effect) => self.plan_message(org, entry, effect).await,
                Err(error) => Ok(Plan::Fail(format!("unreadable {}: {error}", entry.kind))),
            },
        }
    }
}

/// The `message.sent` event of a delivered message to a contact.
fn sent_event(entry: &OutboxEntry) -> Option<OutboundEffect> {
    let effect = serde_json::from_value::<OutboundEffect>(entry.payload.clone()).ok()?;
    let (conversation_id, data) = match effect {
        OutboundEffect::InitialMessage {
            conversation_id,
            text,
            ..
        } => (
            conversation_id,
            json!({"kind": "initial_message", "text": text}),
        ),
        OutboundEffect::SessionMessage {
            conversation_id,
            message_id,
            text,
            ..
        } => (
            conversation_id,
            json!({"kind": "session_message", "messageId": message_id, "text": text}),
        ),
        OutboundEffect::WhatsappTemplate {
            conversation_id,
            template_name,
            ..
        } => (
            conversation_id,
            json!({"kind": "whatsapp_template", "templateName": template_name}),
        ),
        _ => return None,
    };
    Some(OutboundEffect::Event {
        event_type: "message.sent".to_owned(),
        conversation_id: Some(conversation_id),
        contact_id: None,
        actor: Actor::system().label(),
        data: {
            let mut data = data;
            data["deliveryId"] = json!(entry.id);
            data
        },
    })
}
