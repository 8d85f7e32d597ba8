//! A conversation: its messages, timeline and settings, and the forms that change them.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use stagecoach_app::{AppError, Principal, Stagecoach};
use stagecoach_domain::ids::ConversationId;
use stagecoach_domain::scope::{Area, Scope};

use super::{contact_label, failure, page, refusal, when, write_refusal};
use crate::session::SignedIn;

struct MessageView {
    /// `inbound` or `outbound`, for the layout.
    side: &'static str,
    text: String,
    by: String,
    at: String,
    status: String,
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
    timeline: Vec<EntryView>,
}

/// How many of the latest messages and timeline entries the page shows.
const LATEST: usize = 50;

async fn render_conversation(
    core: &Stagecoach,
    who: &Principal,
    id: Option<ConversationId>,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let detail = match core.conversation_detail(who, id).await {
        Ok(detail) => detail,
        Err(error) => return failure(&error),
    };
    let conversation = &detail.conversation;
    let (_, messages) = match core
        .last_messages(who, Some(conversation.id), LATEST as i64)
        .await
    {
        Ok(found) => found,
        Err(error) => return failure(&error),
    };
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
    if let Ok(members) = core.list_members(who.organization_id).await {
        names.extend(members.into_iter().map(|m| (m.id.to_string(), m.name)));
    }
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
        messages: messages
            .into_iter()
            .map(|m| {
                let inbound = m.direction == stagecoach_domain::enums::MessageDirection::Inbound;
                MessageView {
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

pub(crate) async fn conversation(
    State(core): State<Stagecoach>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = refusal(who, Scope::read(Area::Conversations)) {
        return refused;
    }
    render_conversation(&core, who, ConversationId::parse(&id), None, StatusCode::OK).await
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
            let status = if matches!(error, AppError::Invalid(_)) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::CONFLICT
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
