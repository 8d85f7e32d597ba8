//! A conversation: its messages, timeline and settings, and the forms that change them.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use stagecoach_app::{AppError, Principal, Stagecoach};
use stagecoach_domain::crm_data::MergeMode;
use stagecoach_domain::enums::{ConversationStatus, Priority};
use stagecoach_domain::ids::{ConversationId, MembershipId, MessageId};
use stagecoach_domain::scope::{Area, Scope};

use super::{contact_label, failure, page, refusal, when, write_refusal};
use crate::session::SignedIn;

struct MessageView {
    id: String,
    /// `inbound` or `outbound`, for the layout.
    side: &'static str,
    text: String,
    by: String,
    at: String,
    status: String,
}

/// A template the composer offers outside the 24-hour window.
struct TemplateView {
    name: String,
    language: String,
    category: String,
    body: String,
    /// `{{1}}`, `{{2}}`, … in order: the inputs its form asks for.
    parameters: Vec<String>,
    /// Why it cannot be sent from here, if it cannot.
    unsendable: Option<String>,
}

/// What the composer offers.
enum Composer {
    /// Free text (inside the window, or off WhatsApp).
    Text,
    /// Outside the window: the business account's templates.
    Templates(Vec<TemplateView>),
    /// Outside the window, and the templates could not be listed: why.
    NoTemplates(String),
}

struct EntryView {
    at: String,
    summary: String,
}

#[derive(Template)]
#[template(path = "ui/conversation.html")]
struct ConversationPage {
    id: String,
    who: String,
    problem: Option<String>,
    /// The board the conversation is on: scenario id and name.
    board: Option<(String, String)>,
    status: String,
    priority: String,
    channel: String,
    step: String,
    tags: Vec<String>,
    ai_enabled: bool,
    messages: Vec<MessageView>,
    composer: Composer,
    /// The cursor of the page before this one, when there are older messages.
    older: Option<String>,
    /// Whether this page shows older messages rather than the latest.
    paged: bool,
    timeline: Vec<EntryView>,
    /// The assignees by name.
    assignees: Vec<String>,
    /// Members to assign: id and name.
    members: Vec<(String, String)>,
    statuses: Vec<&'static str>,
    priorities: Vec<&'static str>,
    merge_modes: Vec<&'static str>,
    /// The CRM data, pretty-printed.
    crm_data: String,
    /// The contact's lead actions, newest first, when the caller may read leads.
    actions: Option<Vec<ActionView>>,
}

struct ActionView {
    at: String,
    kind: String,
    /// A payment's amount and status, or the action's fields.
    detail: String,
}

/// How many of the latest messages and timeline entries the page shows.
const LATEST: usize = 50;

/// Where a page of messages ends: a message's time (milliseconds) and id, written
/// `1764650000000-<id>`.
fn page_cursor(message: &stagecoach_domain::conversation::Message) -> String {
    format!("{}-{}", message.created_at.timestamp_millis(), message.id)
}

fn parse_cursor(text: &str) -> Option<(chrono::DateTime<chrono::Utc>, MessageId)> {
    let (millis, id) = text.split_once('-')?;
    let at = chrono::DateTime::from_timestamp_millis(millis.parse().ok()?)?;
    Some((at, MessageId::parse(id)?))
}

async fn render_conversation(
    core: &Stagecoach,
    who: &Principal,
    id: Option<ConversationId>,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    render_conversation_page(core, who, id, None, problem, status).await
}

async fn render_conversation_page(
    core: &Stagecoach,
    who: &Principal,
    id: Option<ConversationId>,
    before: Option<(chrono::DateTime<chrono::Utc>, MessageId)>,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let detail = match core.conversation_detail(who, id).await {
        Ok(detail) => detail,
        Err(error) => return failure(&error),
    };
    let conversation = &detail.conversation;
    let (messages, has_older) = match core
        .message_page(who, Some(conversation.id), before, LATEST as i64)
        .await
    {
        Ok(found) => found,
        Err(error) => return failure(&error),
    };
    let older = has_older
        .then(|| messages.first().map(page_cursor))
        .flatten();
    let timeline = match core.timeline(who, Some(conversation.id)).await {
        Ok(timeline) => timeline,
        Err(error) => return failure(&error),
    };
    // Steps, scenarios and the agent by name in the timeline.
    let mut names: HashMap<String, String> = HashMap::new();
    for (link, scenario, _) in &detail.links {
        names.insert(scenario.id.to_string(), scenario.name.clone());
        if let Ok(steps) = core.list_steps(who, Some(link.scenario_id), None).await {
            for view in steps {
                names.insert(view.step.id.to_string(), view.step.settings.name.clone());
            }
        }
    }
    if let Some(agent) = &detail.agent {
        names.insert(agent.id.to_string(), agent.settings.name.clone());
    }
    let members = core
        .list_members(who.organization_id)
        .await
        .unwrap_or_default();
    names.extend(members.iter().map(|m| (m.id.to_string(), m.name.clone())));
    if let Ok(tokens) = core.list_tokens(who.organization_id).await {
        names.extend(tokens.into_iter().map(|t| (t.id.to_string(), t.name)));
    }
    let may_read_leads = refusal(who, Scope::read(Area::Leads)).is_none();
    let actions = if may_read_leads {
        match core
            .search_lead_actions(
                who,
                Some(conversation.contact_id),
                &stagecoach_app::ActionFilter::default(),
                0,
                20,
            )
            .await
        {
            Ok((actions, _)) => Some(actions.iter().map(action_view).collect()),
            Err(AppError::NotFound { .. }) => Some(Vec::new()),
            Err(error) => return failure(&error),
        }
    } else {
        None
    };
    let composer = composer(core, who, conversation).await;
    let who_name = contact_label(detail.contact.as_ref());
    let active = detail.links.iter().find(|(link, _, _)| link.available);
    let page_view = ConversationPage {
        id: conversation.id.to_string(),
        who: who_name,
        problem,
        board: active.map(|(_, scenario, _)| (scenario.id.to_string(), scenario.name.clone())),
        status: conversation.status.as_str().to_owned(),
        priority: conversation.priority.as_str().to_owned(),
        channel: conversation.channel.as_str().to_owned(),
        step: active
            .and_then(|(_, scenario, step)| {
                step.as_ref()
                    .map(|s| format!("{} · {}", scenario.name, s.settings.name))
            })
            .unwrap_or_else(|| "in no scenario".into()),
        tags: conversation.tags.clone(),
        ai_enabled: conversation.ai_enabled,
        assignees: conversation
            .assignees
            .iter()
            .map(|id| {
                names
                    .get(&id.to_string())
                    .cloned()
                    .unwrap_or_else(|| "a former member".into())
            })
            .collect(),
        members: members
            .iter()
            .map(|m| (m.id.to_string(), m.name.clone()))
            .collect(),
        statuses: ConversationStatus::ALL.iter().map(|s| s.as_str()).collect(),
        priorities: Priority::ALL.iter().map(|p| p.as_str()).collect(),
        merge_modes: MergeMode::NAMES.to_vec(),
        crm_data: serde_json::to_string_pretty(&conversation.crm_data).unwrap_or_default(),
        actions,
        composer,
        older,
        paged: before.is_some(),
        messages: messages
            .into_iter()
            .map(|m| {
                let inbound = m.direction == stagecoach_domain::enums::MessageDirection::Inbound;
                MessageView {
                    id: m.id.to_string(),
                    side: if inbound { "inbound" } else { "outbound" },
                    text: m.text,
                    by: if inbound {
                        "contact".into()
                    } else {
                        // `member:<id>`, `ai:<id>`: the name when it is known.
                        match m.author {
                            Some(author) => author
                                .split_once(':')
                                .and_then(|(_, id)| names.get(id).cloned())
                                .unwrap_or(author),
                            None => "business".into(),
                        }
                    },
                    at: when(m.created_at),
                    status: m.status,
                }
            })
            .collect(),
        timeline: timeline
            .into_iter()
            .rev()
            .take(LATEST)
            .map(|e| EntryView {
                at: when(e.created_at),
                summary: stagecoach_domain::engine::summary::summarize_with(
                    &e.kind,
                    &e.actor,
                    &e.data,
                    &|id| names.get(id).cloned(),
                ),
            })
            .collect(),
    };
    page(&page_view, status)
}

/// Free text while it can be sent; outside WhatsApp's 24-hour window, the templates of
/// the channel's business account (listed from Meta, so only then).
async fn composer(
    core: &Stagecoach,
    who: &Principal,
    conversation: &stagecoach_domain::conversation::Conversation,
) -> Composer {
    if core.free_text_allowed(conversation) {
        return Composer::Text;
    }
    match core
        .conversation_templates(who, Some(conversation.id))
        .await
    {
        Ok(templates) => Composer::Templates(
            templates
                .into_iter()
                .map(|t| TemplateView {
                    parameters: (1..=t.parameter_count())
                        .map(|n| format!("{{{{{n}}}}}"))
                        .collect(),
                    unsendable: t.unsendable_reason(),
                    body: t.body_text().to_owned(),
                    name: t.name,
                    language: t.language,
                    category: t.category.to_lowercase(),
                })
                .collect(),
        ),
        Err(error) => Composer::NoTemplates(error.to_string()),
    }
}

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    /// Show the messages before this cursor rather than the latest.
    before: Option<String>,
}

pub(crate) async fn conversation(
    State(core): State<Stagecoach>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<PageQuery>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = refusal(who, Scope::read(Area::Conversations)) {
        return refused;
    }
    let before = match query.before.as_deref() {
        None | Some("") => None,
        Some(text) => match parse_cursor(text) {
            Some(cursor) => Some(cursor),
            None => {
                return failure(&invalid("before", "is not a position in the messages"));
            }
        },
    };
    render_conversation_page(
        &core,
        who,
        ConversationId::parse(&id),
        before,
        None,
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct MessageForm {
    text: String,
}

/// The composer: free text through the conversation's channel (a person writing turns the
/// AI agent off, as through the API).
pub(crate) async fn send_message(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<MessageForm>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Conversations)) {
        return refused;
    }
    let conversation = ConversationId::parse(&id);
    let text = form.text.trim().to_owned();
    let sent = if text.is_empty() {
        Err(AppError::Invalid(
            stagecoach_domain::ValidationError::single("text", "is empty: write a message first"),
        ))
    } else {
        core.send_text(who, conversation, text).await
    };
    match sent {
        Ok(_) => Redirect::to(&format!("/ui/conversations/{id}")).into_response(),
        Err(
            error @ (AppError::WindowClosed | AppError::Undeliverable(_) | AppError::Invalid(_)),
        ) => {
            let status = super::form_refusal_status(&error);
            render_conversation(&core, who, conversation, Some(error.to_string()), status).await
        }
        Err(error) => failure(&error),
    }
}

/// The template form: `name`, `language`, and one `parameter` per `{{n}}`, in order.
pub(crate) async fn send_template(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Conversations)) {
        return refused;
    }
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .unwrap_or_default()
    };
    let parameters = fields
        .iter()
        .filter(|(key, _)| key == "parameter")
        .map(|(_, value)| value.clone())
        .collect();
    let conversation = ConversationId::parse(&id);
    let sent = core
        .send_conversation_template(
            who,
            conversation,
            field("name"),
            field("language"),
            parameters,
        )
        .await;
    match sent {
        Ok(_) => Redirect::to(&format!("/ui/conversations/{id}")).into_response(),
        Err(
            error @ (AppError::Invalid(_)
            | AppError::Conflict { .. }
            | AppError::Undeliverable(_)
            | AppError::Provider { .. }),
        ) => {
            let status = match &error {
                AppError::Provider { .. } => super::provider_status(&error),
                _ => super::form_refusal_status(&error),
            };
            render_conversation(&core, who, conversation, Some(error.to_string()), status).await
        }
        Err(error) => failure(&error),
    }
}

#[derive(Deserialize)]
pub(crate) struct AiForm {
    enabled: bool,
}

pub(crate) async fn set_ai(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<AiForm>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Conversations)) {
        return refused;
    }
    match core
        .set_ai_enabled(who, ConversationId::parse(&id), form.enabled)
        .await
    {
        Ok(_) => Redirect::to(&format!("/ui/conversations/{id}")).into_response(),
        Err(error) => failure(&error),
    }
}

fn action_view(action: &stagecoach_domain::leads::actions::LeadAction) -> ActionView {
    let detail = match &action.payment {
        Some(p) => format!("{} {} · {}", p.currency, p.amount.text, p.status.as_str()),
        None => action
            .fields
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(text) => format!("{k}: {text}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    let kind = match action.type_code {
        Some(code) if action.kind == "CUSTOM" => format!("action {code}"),
        _ => action.kind.to_lowercase().replace('_', " "),
    };
    ActionView {
        at: when(action.created_at),
        kind,
        detail,
    }
}

/// What a form on the conversation page came to: the page again, or the page saying why
/// not (the use case's refusal, with its status).
async fn after_change<T>(
    core: &Stagecoach,
    who: &Principal,
    id: &str,
    done: Result<T, AppError>,
) -> Response {
    super::after_form(
        done,
        &format!("/ui/conversations/{id}"),
        |message, status| {
            render_conversation(core, who, ConversationId::parse(id), Some(message), status)
        },
    )
    .await
}

fn invalid(field: &'static str, message: &str) -> AppError {
    AppError::Invalid(stagecoach_domain::ValidationError::single(field, message))
}

#[derive(Deserialize)]
pub(crate) struct FieldsForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    priority: String,
    /// A tag to add.
    #[serde(default)]
    add: String,
    /// A tag to remove.
    #[serde(default)]
    remove: String,
    /// A member to assign; empty: nobody.
    member: Option<String>,
}

/// The conversation's status, priority, tags and assignee: one form each, one handler.
pub(crate) async fn change_fields(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<FieldsForm>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Conversations)) {
        return refused;
    }
    let conversation = ConversationId::parse(&id);
    let done: Result<(), AppError> = if !form.status.is_empty() {
        match ConversationStatus::parse(&form.status) {
            Some(status) => core.set_status(who, conversation, status).await.map(drop),
            None => Err(invalid("status", "is not one of the statuses offered")),
        }
    } else if !form.priority.is_empty() {
        match Priority::parse(&form.priority) {
            Some(priority) => core
                .set_priority(who, conversation, priority)
                .await
                .map(drop),
            None => Err(invalid("priority", "is not one of the priorities offered")),
        }
    } else if !form.add.trim().is_empty() {
        core.change_labels(
            who,
            conversation,
            stagecoach_app::LabelChange::Add(vec![form.add.trim().to_owned()]),
        )
        .await
    } else if !form.remove.is_empty() {
        core.change_labels(
            who,
            conversation,
            stagecoach_app::LabelChange::Remove(vec![form.remove]),
        )
        .await
    } else if let Some(member) = form.member {
        if member.is_empty() {
            core.unassign(who, conversation).await.map(drop)
        } else {
            // The person choosing in the page means it: an assignee is replaced.
            core.assign(
                who,
                conversation,
                stagecoach_app::AssigneeRef::Membership(MembershipId::parse(&member)),
                true,
            )
            .await
            .map(drop)
        }
    } else {
        Err(invalid("status", "the form changes nothing"))
    };
    after_change(&core, who, &id, done).await
}

#[derive(Deserialize)]
pub(crate) struct CrmDataForm {
    mode: String,
    data: String,
}

/// CRM data, merged into what the conversation holds in one of lodash's modes.
pub(crate) async fn update_crm_data(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CrmDataForm>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Conversations)) {
        return refused;
    }
    let mode = serde_json::from_value::<MergeMode>(serde_json::Value::String(form.mode));
    let data = serde_json::from_str::<serde_json::Value>(&form.data);
    let done = match (mode, data) {
        (Err(_), _) => Err(invalid("mergingMode", "is not one of the modes offered")),
        (_, Err(error)) => Err(AppError::Invalid(
            stagecoach_domain::ValidationError::single(
                "data",
                format!("is not valid JSON: {error}"),
            ),
        )),
        (Ok(mode), Ok(serde_json::Value::Object(data))) => core
            .update_crm_data(who, ConversationId::parse(&id), mode, data)
            .await
            .map(drop),
        (Ok(_), Ok(_)) => Err(invalid("data", "must be a JSON object: {\"key\": value}")),
    };
    after_change(&core, who, &id, done).await
}
