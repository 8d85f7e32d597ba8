//! Settings: the organization's members, API tokens (a new one shown once), webhook
//! endpoints with their delivery log and a redeliver button, and channels (connect a
//! WhatsApp Cloud API number or a Z-API instance, disconnect one).
//! Members and tokens need `admin`, endpoints and channels `webhooks`; each section shows
//! only to a caller that may read it.

use askama::Template;
use axum::Form;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use stagecoach_app::{AppError, ChannelInput, EndpointInput, Principal, Stagecoach};
use stagecoach_domain::delivery::targets::{ChannelKind, ChannelSecrets, PayloadStyle};
use stagecoach_domain::enums::MembershipRole;
use stagecoach_domain::ids::{AgentId, ApiTokenId, ChannelId, EndpointId, OutboxId};
use stagecoach_domain::scope::{Area, Scope};

use super::{failure, page, refusal, when, write_refusal};
use crate::session::SignedIn;

struct MemberRow {
    name: String,
    email: String,
    role: String,
    availability: String,
}

struct TokenRow {
    id: String,
    name: String,
    prefix: String,
    scopes: String,
    created: String,
    last_used: String,
    revoked: bool,
}

struct EndpointRow {
    id: String,
    url: String,
    events: String,
    style: String,
    disabled: bool,
}

struct ChannelRow {
    id: String,
    kind: String,
    name: String,
    account: String,
    business_account: String,
    agent: String,
    webhook_path: String,
}

/// What a creation answers once and never again.
pub(crate) enum ShownOnce {
    /// A new API token's secret.
    Token(String),
    /// A new channel: where the provider must post, and the token it must present.
    Channel {
        kind: &'static str,
        webhook_path: String,
        inbound_token: String,
    },
}

#[derive(Template)]
#[template(path = "ui/settings.html")]
struct SettingsPage {
    problem: Option<String>,
    shown_once: Option<ShownOnce>,
    members: Option<Vec<MemberRow>>,
    tokens: Option<Vec<TokenRow>>,
    endpoints: Option<Vec<EndpointRow>>,
    channels: Option<Vec<ChannelRow>>,
    /// Agents a channel can send for: id and name.
    agents: Vec<(String, String)>,
    scopes: Vec<String>,
    roles: Vec<&'static str>,
    styles: Vec<&'static str>,
}

fn may(who: &Principal, scope: Scope) -> bool {
    refusal(who, scope).is_none()
}

async fn render_settings(
    core: &Stagecoach,
    who: &Principal,
    problem: Option<String>,
    shown_once: Option<ShownOnce>,
    status: StatusCode,
) -> Response {
    let org = who.organization_id;
    let when_opt = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(when).unwrap_or_default();
    let (members, tokens) = if may(who, Scope::read(Area::Admin)) {
        let members = match core.list_members(org).await {
            Ok(members) => members,
            Err(error) => return failure(&error),
        };
        let tokens = match core.list_tokens(org).await {
            Ok(tokens) => tokens,
            Err(error) => return failure(&error),
        };
        (
            Some(
                members
                    .into_iter()
                    .map(|m| MemberRow {
                        name: m.name,
                        email: m.email,
                        role: m.role.as_str().to_owned(),
                        availability: m.availability,
                    })
                    .collect(),
            ),
            Some(
                tokens
                    .into_iter()
                    .map(|t| TokenRow {
                        id: t.id.to_string(),
                        revoked: t.revoked_at.is_some(),
                        name: t.name,
                        prefix: t.display_prefix,
                        scopes: t
                            .scopes
                            .map_or_else(|| "everything".to_owned(), |s| s.join(", ")),
                        created: when(t.created_at),
                        last_used: when_opt(t.last_used_at),
                    })
                    .collect(),
            ),
        )
    } else {
        (None, None)
    };
    let agents: Vec<(String, String)> = core
        .list_agents(who)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|a| (a.id.to_string(), a.settings.name))
        .collect();
    let (endpoints, channels) = if may(who, Scope::read(Area::Webhooks)) {
        let endpoints = match core.endpoints(who).await {
            Ok(endpoints) => endpoints,
            Err(error) => return failure(&error),
        };
        let channels = match core.channels(who).await {
            Ok(channels) => channels,
            Err(error) => return failure(&error),
        };
        (
            Some(
                endpoints
                    .into_iter()
                    .map(|e| EndpointRow {
                        id: e.id.to_string(),
                        url: e.url,
                        events: if e.event_types.is_empty() {
                            "every event".into()
                        } else {
                            e.event_types.join(", ")
                        },
                        style: e.style.as_str().to_owned(),
                        disabled: e.disabled,
                    })
                    .collect(),
            ),
            Some(
                channels
                    .into_iter()
                    .map(|c| ChannelRow {
                        id: c.id.to_string(),
                        kind: c.kind.as_str().to_owned(),
                        webhook_path: webhook_path(c.kind, c.id),
                        agent: c
                            .agent_id
                            .and_then(|id| {
                                let id = id.to_string();
                                agents
                                    .iter()
                                    .find(|(a, _)| *a == id)
                                    .map(|(_, n)| n.clone())
                            })
                            .unwrap_or_default(),
                        name: c.name,
                        account: c.account_id,
                        business_account: c.business_account_id.unwrap_or_default(),
                    })
                    .collect(),
            ),
        )
    } else {
        (None, None)
    };
    page(
        &SettingsPage {
            problem,
            shown_once,
            members,
            tokens,
            endpoints,
            channels,
            agents,
            scopes: Scope::all().map(|s| s.to_string()).collect(),
            roles: MembershipRole::ALL.iter().map(|r| r.as_str()).collect(),
            styles: PayloadStyle::ALL.iter().map(|s| s.as_str()).collect(),
        },
        status,
    )
}

pub(crate) async fn settings(State(core): State<Stagecoach>, signed_in: SignedIn) -> Response {
    render_settings(&core, &signed_in.principal, None, None, StatusCode::OK).await
}

/// What a settings form came to: the page again, or the page saying why not.
async fn after_settings_change<T>(
    core: &Stagecoach,
    who: &Principal,
    done: Result<T, AppError>,
) -> Response {
    super::after_form(done, "/ui/settings", |message, status| {
        render_settings(core, who, Some(message), None, status)
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct MemberForm {
    email: String,
    name: String,
    role: String,
}

pub(crate) async fn add_member(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<MemberForm>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Admin)) {
        return refused;
    }
    let added = match MembershipRole::parse(&form.role) {
        Some(role) => {
            core.add_member(who.organization_id, &form.email, &form.name, role)
                .await
        }
        None => Err(AppError::Invalid(
            stagecoach_domain::ValidationError::single("role", "is not one of the roles offered"),
        )),
    };
    after_settings_change(&core, who, added).await
}

/// A new token: its name, and the scopes ticked (none ticked: everything).
pub(crate) async fn create_token(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    body: Bytes,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Admin)) {
        return refused;
    }
    let mut name = String::new();
    let mut scopes = Vec::new();
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "name" => name = value.into_owned(),
            "scope" => scopes.push(value.into_owned()),
            _ => {}
        }
    }
    let scopes = (!scopes.is_empty()).then_some(scopes);
    match core.create_token_as(who, &name, scopes).await {
        // Shown once, on this answer only: it is not stored anywhere readable.
        Ok(new) => {
            let once = ShownOnce::Token(new.secret);
            render_settings(&core, who, None, Some(once), StatusCode::CREATED).await
        }
        Err(error) => after_settings_change::<()>(&core, who, Err(error)).await,
    }
}

pub(crate) async fn revoke_token(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Admin)) {
        return refused;
    }
    let revoked = core.revoke_token_as(who, ApiTokenId::parse(&id)).await;
    after_settings_change(&core, who, revoked).await
}

#[derive(Deserialize)]
pub(crate) struct EndpointForm {
    url: String,
    #[serde(default)]
    events: String,
    style: String,
}

pub(crate) async fn create_endpoint(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<EndpointForm>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Webhooks)) {
        return refused;
    }
    let created = match PayloadStyle::ALL.iter().find(|s| s.as_str() == form.style) {
        Some(style) => {
            core.create_endpoint(
                who,
                EndpointInput {
                    url: form.url.trim().to_owned(),
                    description: None,
                    event_types: form
                        .events
                        .split([',', ' ', '\n'])
                        .map(str::trim)
                        .filter(|e| !e.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    style: *style,
                },
            )
            .await
        }
        None => Err(AppError::Invalid(
            stagecoach_domain::ValidationError::single("style", "is not one of the styles offered"),
        )),
    };
    after_settings_change(&core, who, created).await
}

pub(crate) async fn delete_endpoint(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Webhooks)) {
        return refused;
    }
    let deleted = core.delete_endpoint(who, EndpointId::parse(&id)).await;
    after_settings_change(&core, who, deleted).await
}

struct DeliveryRow {
    id: String,
    event: String,
    status: String,
    attempts: i64,
    created: String,
    last_error: String,
}

#[derive(Template)]
#[template(path = "ui/deliveries.html")]
struct DeliveriesPage {
    endpoint_id: String,
    url: String,
    deliveries: Vec<DeliveryRow>,
}

/// An endpoint's last 100 deliveries, newest first, each with a redeliver button.
pub(crate) async fn deliveries(
    State(core): State<Stagecoach>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = refusal(who, Scope::read(Area::Webhooks)) {
        return refused;
    }
    let endpoint = match core.endpoint(who, EndpointId::parse(&id)).await {
        Ok(endpoint) => endpoint,
        Err(error) => return failure(&error),
    };
    let deliveries = match core.deliveries(who, None, Some(endpoint.id), 100).await {
        Ok(deliveries) => deliveries,
        Err(error) => return failure(&error),
    };
    page(
        &DeliveriesPage {
            endpoint_id: endpoint.id.to_string(),
            url: endpoint.url,
            deliveries: deliveries
                .into_iter()
                .map(|d| DeliveryRow {
                    id: d.id.to_string(),
                    event: d.payload["type"]
                        .as_str()
                        .or_else(|| d.payload["eventType"].as_str())
                        .or_else(|| d.payload["eventName"].as_str())
                        .unwrap_or(&d.kind)
                        .to_owned(),
                    status: d.status,
                    attempts: d.attempts,
                    created: when(d.created_at),
                    last_error: d.last_error.unwrap_or_default(),
                })
                .collect(),
        },
        StatusCode::OK,
    )
}

pub(crate) async fn redeliver(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path((endpoint, delivery)): Path<(String, String)>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Webhooks)) {
        return refused;
    }
    match core.redeliver(who, OutboxId::parse(&delivery)).await {
        Ok(_) => Redirect::to(&format!("/ui/settings/webhooks/{endpoint}")).into_response(),
        Err(error) => failure(&error),
    }
}

/// Where a channel's provider posts, after this server's public address.
fn webhook_path(kind: ChannelKind, id: ChannelId) -> String {
    format!("/webhooks/{}/{id}", kind.as_str())
}

/// Both channel forms: `kind` says which. Blank fields are absent ones; the use case
/// says which are required for the kind.
#[derive(Deserialize)]
pub(crate) struct ChannelForm {
    kind: String,
    name: String,
    #[serde(default)]
    agent: String,
    account_id: String,
    #[serde(default)]
    business_account_id: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    app_secret: String,
    #[serde(default)]
    instance_token: String,
    #[serde(default)]
    client_token: String,
    /// The verify token (WhatsApp) or webhook token (Z-API); generated when blank.
    #[serde(default)]
    inbound_token: String,
}

fn given(value: String) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

pub(crate) async fn connect_channel(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<ChannelForm>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Webhooks)) {
        return refused;
    }
    let invalid = |field: &'static str, message: &str| {
        Err(AppError::Invalid(
            stagecoach_domain::ValidationError::single(field, message.to_owned()),
        ))
    };
    let Some(kind) = ChannelKind::parse(&form.kind) else {
        return after_settings_change::<()>(&core, who, invalid("kind", "is not a channel kind"))
            .await;
    };
    let agent_id = match given(form.agent) {
        None => None,
        Some(raw) => match AgentId::parse(&raw) {
            Some(agent) => Some(agent),
            None => {
                return after_settings_change::<()>(&core, who, invalid("agentId", "is not an id"))
                    .await;
            }
        },
    };
    let inbound_token = given(form.inbound_token);
    let (verify_token, webhook_token) = match kind {
        ChannelKind::Whatsapp => (inbound_token, None),
        ChannelKind::Zapi => (None, inbound_token),
    };
    let input = ChannelInput {
        kind,
        name: form.name,
        agent_id,
        account_id: form.account_id,
        business_account_id: given(form.business_account_id),
        secrets: ChannelSecrets {
            access_token: given(form.access_token),
            app_secret: given(form.app_secret),
            verify_token,
            instance_token: given(form.instance_token),
            client_token: given(form.client_token),
            webhook_token,
        },
    };
    match core.create_channel(who, input).await {
        Ok((channel, secrets)) => {
            let once = ShownOnce::Channel {
                kind: channel.kind.as_str(),
                webhook_path: webhook_path(channel.kind, channel.id),
                inbound_token: secrets
                    .inbound_token(channel.kind)
                    .unwrap_or_default()
                    .to_owned(),
            };
            render_settings(&core, who, None, Some(once), StatusCode::CREATED).await
        }
        Err(error) => after_settings_change::<()>(&core, who, Err(error)).await,
    }
}

pub(crate) async fn disconnect_channel(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Webhooks)) {
        return refused;
    }
    let deleted = core.delete_channel(who, ChannelId::parse(&id)).await;
    after_settings_change(&core, who, deleted).await
}
