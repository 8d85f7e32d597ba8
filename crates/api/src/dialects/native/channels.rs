//! Channels (connected WhatsApp Cloud API and Z-API numbers) and the providers' inbound
//! webhooks. The webhooks carry no API token: WhatsApp's are signed with the app secret,
//! Z-API's carry the channel's webhook token.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stagecoach_app::{ChannelInput, WebhookReceipt};
use stagecoach_domain::delivery::targets::{Channel, ChannelKind, ChannelSecrets};
use stagecoach_domain::ids::{AgentId, ChannelId};
use utoipa::ToSchema;

use super::error::{NativeErrorBody, Result};
use super::extract::{Body, Caller};
use crate::AppState;

/// A number to connect.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewChannelBody {
    /// `whatsapp` (Cloud API) or `zapi`.
    pub kind: ChannelKind,
    pub name: String,
    /// The agent that sends through it; steps name agents for Z-API and templates.
    pub agent_id: Option<String>,
    /// The WhatsApp phone number id, or the Z-API instance id.
    pub account_id: String,
    /// WhatsApp: the business account (WABA) that owns the number's message templates.
    /// Learned from Meta's first webhook when not given.
    pub business_account_id: Option<String>,
    /// WhatsApp: sends are authorized with it.
    pub access_token: Option<String>,
    /// WhatsApp: Meta signs webhooks with it.
    pub app_secret: Option<String>,
    /// WhatsApp: echoed by Meta when verifying the webhook (generated when absent).
    pub verify_token: Option<String>,
    /// Z-API: the instance token of send URLs.
    pub instance_token: Option<String>,
    /// Z-API: the account's `Client-Token`.
    pub client_token: Option<String>,
    /// Z-API: expected as `?token=` on its webhooks (generated when absent).
    pub webhook_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelBody {
    pub id: String,
    pub kind: ChannelKind,
    pub name: String,
    pub agent_id: Option<String>,
    pub account_id: String,
    /// WhatsApp: the business account that owns the templates, once known.
    pub business_account_id: Option<String>,
    /// Where the provider posts (append to this server's public URL).
    pub webhook_path: String,
    /// The verify token (WhatsApp) or webhook token (Z-API): only in the creation answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_token: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// `inbound_token`: shown in the answer to the creation only.
fn channel_body(channel: Channel, inbound_token: Option<String>) -> ChannelBody {
    ChannelBody {
        id: channel.id.to_string(),
        kind: channel.kind,
        webhook_path: format!("/webhooks/{}/{}", channel.kind.as_str(), channel.id),
        name: channel.name,
        agent_id: channel.agent_id.map(|a| a.to_string()),
        account_id: channel.account_id,
        business_account_id: channel.business_account_id,
        inbound_token,
        created_at: channel.created_at,
    }
}

/// Connect a number. The answer shows its inbound token, once.
#[utoipa::path(post, operation_id = "createChannel", path = "/v1/channels", tag = "Stagecoach", request_body = NewChannelBody,
    responses((status = 201, body = ChannelBody), (status = 400, body = NativeErrorBody), (status = 401, body = NativeErrorBody),
        (status = 404, body = NativeErrorBody), (status = 409, body = NativeErrorBody)))]
pub async fn create_channel(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<NewChannelBody>,
) -> Result<(StatusCode, Json<ChannelBody>)> {
    let agent_id = match body.agent_id.as_deref() {
        None => None,
        Some(raw) => Some(AgentId::parse(raw).ok_or_else(|| {
            stagecoach_domain::ValidationError::single("agentId", "is not an id")
        })?),
    };
    let (channel, secrets) = state
        .core
        .create_channel(
            &who,
            ChannelInput {
                kind: body.kind,
                name: body.name,
                agent_id,
                account_id: body.account_id,
                business_account_id: body.business_account_id,
                secrets: ChannelSecrets {
                    access_token: body.access_token,
                    app_secret: body.app_secret,
                    verify_token: body.verify_token,
                    instance_token: body.instance_token,
                    client_token: body.client_token,
                    webhook_token: body.webhook_token,
                },
            },
        )
        .await?;
    let inbound_token = secrets.inbound_token(channel.kind).map(str::to_owned);
    Ok((
        StatusCode::CREATED,
        Json(channel_body(channel, inbound_token)),
    ))
}

/// The organization's channels (secrets are never shown).
#[utoipa::path(get, operation_id = "listChannels", path = "/v1/channels", tag = "Stagecoach",
    responses((status = 200, body = Vec<ChannelBody>), (status = 401, body = NativeErrorBody)))]
pub async fn list_channels(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Vec<ChannelBody>>> {
    let channels = state.core.channels(&who).await?;
    Ok(Json(
        channels
            .into_iter()
            .map(|c| channel_body(c, None))
            .collect(),
    ))
}

/// Disconnect a number.
#[utoipa::path(delete, operation_id = "deleteChannel", path = "/v1/channels/{id}", tag = "Stagecoach",
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = NativeErrorBody), (status = 404, body = NativeErrorBody)))]
pub async fn delete_channel(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state
        .core
        .delete_channel(&who, ChannelId::parse(&id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookReceiptBody {
    pub received: usize,
    pub statuses: usize,
    pub ignored: usize,
}

fn receipt_body(receipt: WebhookReceipt) -> Json<WebhookReceiptBody> {
    Json(WebhookReceiptBody {
        received: receipt.received,
        statuses: receipt.statuses,
        ignored: receipt.ignored,
    })
}

/// WhatsApp's subscription check: answers `hub.challenge` when `hub.verify_token` matches.
#[utoipa::path(get, operation_id = "verifyWhatsappWebhook", path = "/webhooks/whatsapp/{channelId}", tag = "Channels",
    params(("channelId" = String, Path)),
    responses((status = 200, body = String), (status = 401, body = NativeErrorBody), (status = 404, body = NativeErrorBody)))]
pub async fn whatsapp_verify(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<String> {
    // Per channel, before any work: a flood from one number cannot starve the others.
    state.limits.check_channel(&channel)?;
    Ok(state
        .core
        .whatsapp_verification(
            ChannelId::parse(&channel),
            query.get("hub.mode").map(String::as_str),
            query.get("hub.verify_token").map(String::as_str),
            query.get("hub.challenge").map(String::as_str),
        )
        .await?)
}

/// WhatsApp Cloud API notifications, verified by `X-Hub-Signature-256`.
#[utoipa::path(post, operation_id = "receiveWhatsappWebhook", path = "/webhooks/whatsapp/{channelId}", tag = "Channels",
    params(("channelId" = String, Path)), request_body = Object,
    responses((status = 200, body = WebhookReceiptBody), (status = 400, body = NativeErrorBody), (status = 401, body = NativeErrorBody),
        (status = 404, body = NativeErrorBody)))]
pub async fn whatsapp_receive(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookReceiptBody>> {
    // Per channel, before any work: a flood from one number cannot starve the others.
    state.limits.check_channel(&channel)?;
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    let receipt = state
        .core
        .receive_whatsapp_webhook(ChannelId::parse(&channel), &body, signature)
        .await?;
    Ok(receipt_body(receipt))
}

/// Z-API callbacks (received messages), authenticated by `?token=`.
#[utoipa::path(post, operation_id = "receiveZapiWebhook", path = "/webhooks/zapi/{channelId}", tag = "Channels",
    params(("channelId" = String, Path), ("token" = String, Query)), request_body = Object,
    responses((status = 200, body = WebhookReceiptBody), (status = 400, body = NativeErrorBody), (status = 401, body = NativeErrorBody),
        (status = 404, body = NativeErrorBody)))]
pub async fn zapi_receive(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Json<WebhookReceiptBody>> {
    // Per channel, before any work: a flood from one number cannot starve the others.
    state.limits.check_channel(&channel)?;
    let receipt = state
        .core
        .receive_zapi_webhook(
            ChannelId::parse(&channel),
            query.get("token").map(String::as_str),
            &body,
        )
        .await?;
    Ok(receipt_body(receipt))
}
