//! Channels: an organization's connected numbers (WhatsApp Cloud API, Z-API) that messages
//! go out through and come in from. Their secrets are sealed before storage.

use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Value, json};
use stagecoach_domain::contact::Contact;
use stagecoach_domain::conversation::Conversation;
use stagecoach_domain::delivery::placeholders::render;
use stagecoach_domain::delivery::providers::{
    phone_digits, whatsapp_template, whatsapp_text, zapi_text,
};
use stagecoach_domain::delivery::signing::{secrets_match, verify_meta};
use stagecoach_domain::delivery::targets::{Channel, ChannelKind, ChannelSecrets};
use stagecoach_domain::engine::effects::OutboundEffect;
use stagecoach_domain::engine::timeline::{Actor, Event};
use stagecoach_domain::enums::Channel as EnumChannel;
use stagecoach_domain::error::Errors;
use stagecoach_domain::ids::{AgentId, ChannelId, OrganizationId};
use stagecoach_domain::{identifier, text};
use stagecoach_storage::{OutboxEntry, StoreError, Transaction};

use crate::Stagecoach;
use crate::auth::Principal;
use crate::delivery::{DEFAULT_TEMPLATE_LANGUAGE, OutboundRequest, Plan};
use crate::error::{AppError, Entity};
use crate::inbound::InboundMessage;

/// A channel to connect.
#[derive(Debug, Clone)]
pub struct ChannelInput {
    pub kind: ChannelKind,
    pub name: String,
    /// The agent that sends through it (steps name agents for Z-API and templates).
    pub agent_id: Option<AgentId>,
    /// The WhatsApp phone number id, or the Z-API instance id.
    pub account_id: String,
    /// WhatsApp: the business account that owns the number's templates.
    pub business_account_id: Option<String>,
    pub secrets: ChannelSecrets,
}

fn check_channel(input: &ChannelInput) -> Result<(), AppError> {
    let mut errors = Errors::default();
    if input.name.trim().is_empty() {
        errors.add("name", "must not be empty");
    }
    if input.account_id.trim().is_empty() {
        errors.add("accountId", "must not be empty");
    }
    identifier::check_length(&mut errors, "accountId", input.account_id.trim());
    if let Some(business_account) = &input.business_account_id {
        identifier::check_length(&mut errors, "businessAccountId", business_account.trim());
    }
    if input.kind == ChannelKind::Zapi && input.business_account_id.is_some() {
        errors.add(
            "businessAccountId",
            "is a WhatsApp Cloud API setting; a Z-API channel has none",
        );
    }
    let s = &input.secrets;
    let missing = |value: &Option<String>| value.as_deref().is_none_or(|v| v.trim().is_empty());
    match input.kind {
        ChannelKind::Whatsapp => {
            if missing(&s.access_token) {
                errors.add("accessToken", "is required for a WhatsApp channel");
            }
            if missing(&s.app_secret) {
                errors.add("appSecret", "is required to verify WhatsApp's webhooks");
            }
        }
        ChannelKind::Zapi => {
            if missing(&s.instance_token) {
                errors.add("instanceToken", "is required for a Z-API channel");
            }
            if missing(&s.client_token) {
                errors.add("clientToken", "is required for a Z-API channel");
            }
        }
    }
    Ok(errors.into_result()?)
}

fn random_token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

impl Stagecoach {
    /// Connects a channel. The inbound token (WhatsApp's verify token, Z-API's webhook
    /// token) is generated when not given; the answer is the only place it is shown.
    pub async fn create_channel(
        &self,
        who: &Principal,
        mut input: ChannelInput,
    ) -> Result<(Channel, ChannelSecrets), AppError> {
        check_channel(&input)?;
        // An empty inbound token would let anyone call the channel's webhook.
        let blank = |token: &mut Option<String>| {
            if token.as_deref().is_some_and(|t| t.trim().is_empty()) {
                *token = None;
            }
        };
        blank(&mut input.secrets.verify_token);
        blank(&mut input.secrets.webhook_token);
        match input.kind {
            ChannelKind::Whatsapp => {
                input.secrets.verify_token.get_or_insert_with(random_token);
            }
            ChannelKind::Zapi => {
                input.secrets.webhook_token.get_or_insert_with(random_token);
            }
        }
        let now = self.now();
        let channel = Channel {
            id: ChannelId::new(),
            organization_id: who.organization_id,
            kind: input.kind,
            name: input.name.trim().to_owned(),
            agent_id: input.agent_id,
            account_id: input.account_id.trim().to_owned(),
            business_account_id: input
                .business_account_id
                .as_deref()
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_owned),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin_write().await?;
        if let Some(agent) = channel.agent_id
            && tx.get_agent(who.organization_id, agent).await?.is_none()
        {
            return Err(AppError::not_found(Entity::Agent, "agentId"));
        }
        let sealed = self
            .secrets
            .seal(&serde_json::to_string(&input.secrets).expect("secrets serialize"));
        match tx.insert_channel(&channel, &sealed).await {
            Err(StoreError::UniqueViolation) => {
                return Err(AppError::Conflict {
                    field: "accountId",
                    message: format!(
                        "this {} account is connected already",
                        channel.kind.as_str()
                    ),
                });
            }
            other => other?,
        }
        tx.commit().await?;
        Ok((channel, input.secrets))
    }

    /// The organization's channels, secrets left out.
    pub async fn channels(&self, who: &Principal) -> Result<Vec<Channel>, AppError> {
        let mut tx = self.store.begin_read().await?;
        let channels = tx.list_channels(who.organization_id).await?;
        Ok(channels.into_iter().map(|(channel, _)| channel).collect())
    }

    pub async fn delete_channel(
        &self,
        who: &Principal,
        id: Option<ChannelId>,
    ) -> Result<(), AppError> {
        let id = id.ok_or(AppError::not_found(Entity::Channel, "id"))?;
        let mut tx = self.store.begin_write().await?;
        if !tx.delete_channel(who.organization_id, id).await? {
            return Err(AppError::not_found(Entity::Channel, "id"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// The channel of a kind that sends for `agent`: the agent's own, else the
    /// organization's first of that kind. Secrets opened.
    pub(crate) async fn sending_channel(
        &self,
        tx: &mut dyn Transaction,
        org: OrganizationId,
        kind: ChannelKind,
        agent: Option<AgentId>,
    ) -> Result<Option<(Channel, ChannelSecrets)>, AppError> {
        let mut candidates: Vec<(Channel, String)> = tx
            .list_channels(org)
            .await?
            .into_iter()
            .filter(|(c, _)| c.kind == kind)
            .collect();
        let position = candidates
            .iter()
            .position(|(c, _)| agent.is_some() && c.agent_id == agent)
            .unwrap_or(0);
        if candidates.is_empty() {
            return Ok(None);
        }
        self.open_channel(candidates.swap_remove(position))
            .map(Some)
    }

    /// Refuses a message to `conversation` that nothing could deliver: a WhatsApp or
    /// Z-API conversation while the organization has no channel of that kind. Website and
    /// dashboard chats need none (their messages are read through the API).
    pub(crate) async fn require_sending_channel(
        &self,
        tx: &mut dyn Transaction,
        conversation: &Conversation,
    ) -> Result<(), AppError> {
        let kind = match conversation.channel {
            EnumChannel::Whatsapp => ChannelKind::Whatsapp,
            EnumChannel::Zapi => ChannelKind::Zapi,
            EnumChannel::Website | EnumChannel::Dashboard => return Ok(()),
            other => {
                return Err(AppError::Undeliverable(format!(
                    "sending on {} is not supported yet",
                    other.as_str()
                )));
            }
        };
        let connected = tx
            .list_channels(conversation.organization_id)
            .await?
            .iter()
            .any(|(channel, _)| channel.kind == kind);
        if connected {
            Ok(())
        } else {
            Err(AppError::Undeliverable(format!(
                "no {} channel is connected, so nothing can deliver this message; \
                 connect one with POST /v1/channels",
                kind.as_str()
            )))
        }
    }

    /// A channel by id for its inbound webhook, secrets opened.
    pub(crate) async fn inbound_channel(
        &self,
        id: Option<ChannelId>,
        kind: ChannelKind,
    ) -> Result<(Channel, ChannelSecrets), AppError> {
        let id = id.ok_or(AppError::not_found(Entity::Channel, "channelId"))?;
        let mut tx = self.store.begin_read().await?;
        let stored = tx
            .channel_by_id(id)
            .await?
            .filter(|(c, _)| c.kind == kind)
            .ok_or(AppError::not_found(Entity::Channel, "channelId"))?;
        self.open_channel(stored)
    }

    /// A stored channel with its secrets decrypted.
    fn open_channel(
        &self,
        (channel, sealed): (Channel, String),
    ) -> Result<(Channel, ChannelSecrets), AppError> {
        let secrets = self
            .secrets
            .open(&sealed)
            .ok()
            .and_then(|json| serde_json::from_str(&json).ok())
            .ok_or_else(|| {
                AppError::Store(StoreError::Corrupt(format!(
                    "channel {} has secrets this server key cannot open",
                    channel.id
                )))
            })?;
        Ok((channel, secrets))
    }
}

/// Sending messages: the outbox's message kinds become provider requests.
impl Stagecoach {
    pub(crate) async fn plan_message(
        &self,
        org: OrganizationId,
        entry: &OutboxEntry,
        effect: OutboundEffect,
    ) -> Result<Plan, AppError> {
        let urls = &self.delivery.providers;
        let mut tx = self.store.begin_read().await?;
        let conversation_id = match &effect {
            OutboundEffect::InitialMessage {
                conversation_id, ..
            }
            | OutboundEffect::SessionMessage {
                conversation_id, ..
            }
            | OutboundEffect::ZapiNotification {
                conversation_id, ..
            }
            | OutboundEffect::WhatsappTemplate {
                conversation_id, ..
            } => *conversation_id,
            _ => return Ok(Plan::Fail(format!("{} is not a message", entry.kind))),
        };
        let Some(conversation) = tx.get_conversation(org, conversation_id).await? else {
            return Ok(Plan::Fail("the conversation was deleted".into()));
        };
        let contact = tx.get_contact(org, conversation.contact_id).await?;
        let contact_phone = contact.as_ref().and_then(|c| c.phone.clone());
        let values = self
            .placeholder_values(tx.as_mut(), org, &conversation, contact.as_ref())
            .await?;
        let mut unknown = Vec::new();
        let mut fill = |text: &str| {
            let (filled, missing) = render(text, &values);
            unknown.extend(missing);
            filled
        };

        let chosen_channel = match &effect {
            OutboundEffect::WhatsappTemplate { channel_id, .. } => *channel_id,
            _ => None,
        };
        // (channel kind, sending agent, recipient, what to send)
        let (kind, agent, to, message) = match effect {
            OutboundEffect::InitialMessage { channel, text, .. } => (
                channel,
                conversation.agent_id,
                contact_phone,
                Outgoing::Text(fill(&text)),
            ),
            OutboundEffect::SessionMessage { channel, text, .. } => (
                channel,
                conversation.agent_id,
                contact_phone,
                Outgoing::Text(text),
            ),
            OutboundEffect::ZapiNotification {
                agent_id,
                phone_number,
                message,
                ..
            } => (
                EnumChannel::Zapi,
                agent_id,
                Some(phone_number),
                Outgoing::Text(fill(&message)),
            ),
            OutboundEffect::WhatsappTemplate {
                agent_id,
                template_name,
                language_code,
                parameters,
                ..
            } => (
                EnumChannel::Whatsapp,
                agent_id,
                contact_phone,
                Outgoing::Template {
                    name: template_name,
                    language: language_code.unwrap_or_else(|| DEFAULT_TEMPLATE_LANGUAGE.to_owned()),
                    parameters: parameters.into_iter().map(|p| fill(&p)).collect(),
                },
            ),
            _ => unreachable!("matched above"),
        };
        let channel_kind = match kind {
            EnumChannel::Whatsapp => ChannelKind::Whatsapp,
            EnumChannel::Zapi => ChannelKind::Zapi,
            // Website and dashboard chats read their messages through the API.
            EnumChannel::Website | EnumChannel::Dashboard => return Ok(Plan::Nothing),
            other => {
                return Ok(Plan::Fail(format!(
                    "sending on {} is not supported yet",
                    other.as_str()
                )));
            }
        };
        let Some(to) = to.filter(|p| !phone_digits(p).is_empty()) else {
            return Ok(Plan::Fail("the contact has no phone number".into()));
        };
        let channel = match chosen_channel {
            Some(id) => match tx.channel_by_id(id).await? {
                Some(stored)
                    if stored.0.organization_id == org && stored.0.kind == channel_kind =>
                {
                    Some(self.open_channel(stored)?)
                }
                _ => None,
            },
            None => {
                self.sending_channel(tx.as_mut(), org, channel_kind, agent)
                    .await?
            }
        };
        let Some((channel, secrets)) = channel else {
            return Ok(Plan::Fail(format!(
                "no {} channel is connected",
                channel_kind.as_str()
            )));
        };
        drop(tx);
        // Noted once, not on every retry.
        if !unknown.is_empty() && entry.attempts <= 1 {
            let mut tx = self.store.begin_write().await?;
            tx.append_event(
                org,
                conversation.id,
                &Event::PlaceholdersUnknown {
                    outbox_id: entry.id,
                    placeholders: unknown,
                },
                &Actor::system(),
                self.now(),
            )
            .await?;
            tx.commit().await?;
        }

        let secret = |value: &Option<String>| value.clone().unwrap_or_default();
        let s = &secrets;
        let request = match (channel_kind, message) {
            (ChannelKind::Whatsapp, Outgoing::Text(text)) => whatsapp_text(
                &urls.whatsapp,
                &channel.account_id,
                &secret(&s.access_token),
                &to,
                &text,
            ),
            (
                ChannelKind::Whatsapp,
                Outgoing::Template {
                    name,
                    language,
                    parameters,
                },
            ) => whatsapp_template(
                &urls.whatsapp,
                &channel.account_id,
                &secret(&s.access_token),
                &to,
                &name,
                &language,
                &parameters,
            ),
            (ChannelKind::Zapi, Outgoing::Text(text)) => zapi_text(
                &urls.zapi,
                &channel.account_id,
                &secret(&s.instance_token),
                &secret(&s.client_token),
                &to,
                &text,
            ),
            (ChannelKind::Zapi, Outgoing::Template { .. }) => {
                return Ok(Plan::Fail("Z-API does not send templates".into()));
            }
        };
        let mut headers = request.headers;
        headers.push(("content-type".into(), "application/json".into()));
        Ok(Plan::Send {
            request: OutboundRequest {
                url: request.url,
                headers,
                body: serde_json::to_vec(&request.body).expect("JSON serializes"),
            },
            provider: true,
        })
    }

    /// What placeholders can name: the contact, the conversation, its current step and
    /// scenario, and its CRM data under `crm`.
    async fn placeholder_values(
        &self,
        tx: &mut dyn Transaction,
        org: OrganizationId,
        conversation: &Conversation,
        contact: Option<&Contact>,
    ) -> Result<Value, AppError> {
        let link = tx.active_link(org, conversation.id).await?;
        let (step, scenario) = match &link {
            Some(link) => (
                tx.get_step(org, link.step_id).await?,
                tx.get_scenario(org, link.scenario_id).await?,
            ),
            None => (None, None),
        };
        let name = contact.map(|c| {
            [c.first_name.as_deref(), c.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        });
        let variables = match contact {
            Some(contact) => stagecoach_domain::contact_variables::values(
                &tx.contact_variables(org, contact.id).await?,
            ),
            None => serde_json::Map::new(),
        };
        Ok(json!({
            "contact": {
                "variables": variables,
                "name": name.filter(|n| !n.is_empty()),
                "firstName": contact.and_then(|c| c.first_name.clone()),
                "lastName": contact.and_then(|c| c.last_name.clone()),
                "phone": contact.and_then(|c| c.phone.clone()),
                "email": contact.and_then(|c| c.email.clone()),
            },
            "conversation": {
                "id": conversation.id,
                "title": conversation.title,
                "status": conversation.status,
                "priority": conversation.priority,
            },
            "step": step.map(|s| json!({"id": s.id, "name": s.settings.name})),
            "scenario": scenario.map(|s| json!({"id": s.id, "name": s.name})),
            "crm": conversation.crm_data,
        }))
    }
}

/// What goes to the contact.
enum Outgoing {
    Text(String),
    Template {
        name: String,
        language: String,
        parameters: Vec<String>,
    },
}

/// What a provider's webhook brought in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookReceipt {
    /// Messages stored (redeliveries of known messages are not counted).
    pub received: usize,
    /// Status updates applied to messages sent through the channel.
    pub statuses: usize,
    /// Entries not handled (reactions, group messages, our own messages, statuses of
    /// messages Stagecoach did not send).
    pub ignored: usize,
}

/// Providers' inbound webhooks.
impl Stagecoach {
    /// WhatsApp's subscription check: echo the challenge when the verify token matches.
    pub async fn whatsapp_verification(
        &self,
        channel: Option<ChannelId>,
        mode: Option<&str>,
        token: Option<&str>,
        challenge: Option<&str>,
    ) -> Result<String, AppError> {
        let (_, secrets) = self.inbound_channel(channel, ChannelKind::Whatsapp).await?;
        let expected = secrets.verify_token.as_deref();
        match (mode, token, challenge) {
            (Some("subscribe"), Some(token), Some(challenge))
                if expected.is_some_and(|expected| secrets_match(token, expected)) =>
            {
                Ok(challenge.to_owned())
            }
            _ => Err(AppError::Unverified),
        }
    }

    /// A WhatsApp Cloud API notification, signed with the app secret
    /// (`X-Hub-Signature-256`). An unsigned or badly signed body is refused and nothing
    /// of it is stored.
    pub async fn receive_whatsapp_webhook(
        &self,
        channel: Option<ChannelId>,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<WebhookReceipt, AppError> {
        let (channel, secrets) = self.inbound_channel(channel, ChannelKind::Whatsapp).await?;
        let app_secret = secrets.app_secret.as_deref().unwrap_or_default();
        if !signature.is_some_and(|s| verify_meta(app_secret, body, s)) {
            return Err(AppError::Unverified);
        }
        let payload = provider_payload(body)?;
        let mut receipt = WebhookReceipt::default();
        self.learn_business_account(&channel, &payload).await?;
        let changes = payload["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|entry| entry["changes"].as_array().into_iter().flatten());
        let mut messages = Vec::new();
        let mut statuses = Vec::new();
        for change in changes {
            let value = &change["value"];
            // One Meta app may post every number's notifications to one callback: only
            // this channel's number belongs to this channel's organization.
            let number = value["metadata"]["phone_number_id"].as_str();
            if number.is_some_and(|number| number != channel.account_id) {
                receipt.ignored += value["messages"].as_array().map_or(0, Vec::len)
                    + value["statuses"].as_array().map_or(0, Vec::len);
                continue;
            }
            for status in value["statuses"].as_array().into_iter().flatten() {
                match (status["id"].as_str(), status["status"].as_str()) {
                    (Some(id), Some(state)) => statuses.push((id.to_owned(), state.to_owned())),
                    _ => receipt.ignored += 1,
                }
            }
            let names: Vec<(&str, &str)> = value["contacts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| Some((c["wa_id"].as_str()?, c["profile"]["name"].as_str()?)))
                .collect();
            for message in value["messages"].as_array().into_iter().flatten() {
                match whatsapp_inbound(message, &names) {
                    Some(inbound) => messages.push(inbound),
                    None => receipt.ignored += 1,
                }
            }
        }
        for inbound in messages {
            let stored = self
                .receive_message_as(channel.organization_id, Actor::channel(channel.id), inbound)
                .await?;
            receipt.received += usize::from(!stored.duplicate);
        }
        if !statuses.is_empty() {
            let org = channel.organization_id;
            let mut tx = self.store.begin_write().await?;
            for (external_id, state) in statuses {
                match tx
                    .find_message_by_external_id(org, EnumChannel::Whatsapp, &external_id)
                    .await?
                {
                    Some(message) => {
                        // Statuses arrive out of order; a late `sent` must not undo `read`.
                        if status_rank(&state) > status_rank(&message.status) {
                            tx.set_message_status(org, message.id, &state, None).await?;
                        }
                        receipt.statuses += 1;
                    }
                    None => receipt.ignored += 1,
                }
            }
            tx.commit().await?;
        }
        Ok(receipt)
    }

    /// Records the business account of a channel connected without one: Meta's
    /// notifications name it as the entry's `id`, beside the number's own changes.
    async fn learn_business_account(
        &self,
        channel: &Channel,
        payload: &Value,
    ) -> Result<(), AppError> {
        if channel.business_account_id.is_some() {
            return Ok(());
        }
        let ours = payload["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|entry| {
                entry["changes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|change| {
                        change["value"]["metadata"]["phone_number_id"].as_str()
                            == Some(channel.account_id.as_str())
                    })
            });
        let Some(business_account) = ours.and_then(|entry| entry["id"].as_str()) else {
            return Ok(());
        };
        let mut tx = self.store.begin_write().await?;
        tx.set_channel_business_account(channel.id, business_account, self.now())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A Z-API callback, authenticated by the channel's webhook token (`?token=`).
    pub async fn receive_zapi_webhook(
        &self,
        channel: Option<ChannelId>,
        token: Option<&str>,
        body: &[u8],
    ) -> Result<WebhookReceipt, AppError> {
        let (channel, secrets) = self.inbound_channel(channel, ChannelKind::Zapi).await?;
        let expected = secrets.webhook_token.as_deref();
        if !matches!((token, expected), (Some(t), Some(e)) if secrets_match(t, e)) {
            return Err(AppError::Unverified);
        }
        let payload = &provider_payload(body)?;
        let mut receipt = WebhookReceipt::default();
        let text = payload["text"]["message"].as_str();
        let phone = payload["phone"].as_str();
        let own_or_group =
            payload["fromMe"].as_bool() == Some(true) || payload["isGroup"].as_bool() == Some(true);
        let (Some(text), Some(phone), false) = (text, phone, own_or_group) else {
            receipt.ignored = 1;
            return Ok(receipt);
        };
        let inbound = InboundMessage {
            channel: EnumChannel::Zapi,
            from: phone.to_owned(),
            text: text.to_owned(),
            external_id: payload["messageId"].as_str().map(str::to_owned),
            name: payload["senderName"]
                .as_str()
                .or(payload["chatName"].as_str())
                .map(str::to_owned),
            email: None,
            sent_at: payload["momment"]
                .as_i64()
                .and_then(chrono::DateTime::from_timestamp_millis),
        };
        let stored = self
            .receive_message_as(channel.organization_id, Actor::channel(channel.id), inbound)
            .await?;
        receipt.received = usize::from(!stored.duplicate);
        Ok(receipt)
    }
}

/// A provider's JSON notification, with any U+0000 removed (see [`text::strip_nul`]).
fn provider_payload(body: &[u8]) -> Result<Value, AppError> {
    let mut payload: Value = serde_json::from_slice(body)
        .map_err(|e| AppError::invalid("body", format!("is not JSON: {e}")))?;
    text::strip_nul(&mut payload);
    Ok(payload)
}

/// How far along a sent message is; `failed` is final.
fn status_rank(status: &str) -> u8 {
    match status {
        "queued" => 0,
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        "failed" => 4,
        _ => 0,
    }
}

/// A WhatsApp message as an inbound message: its text, or the caption or kind of media.
fn whatsapp_inbound(message: &Value, names: &[(&str, &str)]) -> Option<InboundMessage> {
    let from = message["from"].as_str()?;
    let kind = message["type"].as_str().unwrap_or("unknown");
    let text = match kind {
        "text" => message["text"]["body"].as_str()?.to_owned(),
        "button" => message["button"]["text"].as_str()?.to_owned(),
        "interactive" => message["interactive"]["button_reply"]["title"]
            .as_str()
            .or(message["interactive"]["list_reply"]["title"].as_str())?
            .to_owned(),
        "reaction" | "unsupported" | "system" => return None,
        media => message[media]["caption"]
            .as_str()
            .map_or_else(|| format!("[{media}]"), str::to_owned),
    };
    Some(InboundMessage {
        channel: EnumChannel::Whatsapp,
        from: from.to_owned(),
        text,
        external_id: message["id"].as_str().map(str::to_owned),
        name: names
            .iter()
            .find(|(wa_id, _)| *wa_id == from)
            .map(|(_, name)| (*name).to_owned()),
        email: None,
        sent_at: message["timestamp"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
    })
}
