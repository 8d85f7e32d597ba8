//! The pages and the forms they post.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use stagecoach_app::{AppError, Principal, Stagecoach, StepRef};
use stagecoach_domain::ids::{ConversationId, ScenarioId, StepId};
use stagecoach_domain::scope::{Area, Requirement, Scope};

use crate::session::{SignedIn, cleared_cookie, cookie_secret, same_site, session_cookie};

/// How many cards a column shows.
const CARDS_PER_COLUMN: i64 = 50;

/// A page, or the error page when the template fails.
fn page(template: &impl Template, status: StatusCode) -> Response {
    match template.render() {
        Ok(html) => (
            status,
            [
                (header::CACHE_CONTROL, "no-store"),
                // Scripts only from this server, forms only to it, and no framing.
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
                     img-src 'self' data:; connect-src 'self'; form-action 'self'; \
                     frame-ancestors 'none'; base-uri 'none'",
                ),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            Html(html),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "a UI template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "ui/error.html")]
struct ErrorPage {
    message: String,
}

/// What a use case's refusal looks like in the browser.
pub(crate) fn failure(error: &AppError) -> Response {
    let status = match error {
        AppError::Invalid(_) | AppError::Immutable { .. } => StatusCode::BAD_REQUEST,
        AppError::NotFound { .. } => StatusCode::NOT_FOUND,
        AppError::Conflict { .. } | AppError::WindowClosed | AppError::Undeliverable(_) => {
            StatusCode::CONFLICT
        }
        AppError::Unauthorized => return Redirect::to("/ui/login").into_response(),
        AppError::MissingScope(_) | AppError::Unverified => StatusCode::FORBIDDEN,
        AppError::AiUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Store(store) => {
            tracing::error!(error = %store, "a UI request failed in storage");
            return page(
                &ErrorPage {
                    message: "Something went wrong on the server; try again.".into(),
                },
                StatusCode::INTERNAL_SERVER_ERROR,
            );
        }
    };
    page(
        &ErrorPage {
            message: error.to_string(),
        },
        status,
    )
}

fn cross_site() -> Response {
    page(
        &ErrorPage {
            message: "This form was sent from another site, so it was refused.".into(),
        },
        StatusCode::FORBIDDEN,
    )
}

/// The refusal page of a form post that came from another site, or whose token lacks
/// `scope`.
fn write_refusal(headers: &HeaderMap, who: &Principal, scope: Scope) -> Option<Response> {
    if !same_site(headers) {
        return Some(cross_site());
    }
    refusal(who, scope)
}

/// The refusal page when the signed-in token lacks `scope`.
fn refusal(who: &Principal, scope: Scope) -> Option<Response> {
    who.require(Requirement::new(scope))
        .err()
        .map(|error| failure(&error))
}

pub(crate) async fn home() -> Redirect {
    Redirect::to("/ui/scenarios")
}

#[derive(Template)]
#[template(path = "ui/login.html")]
struct LoginPage {
    problem: Option<String>,
}

pub(crate) async fn login_page(State(core): State<Stagecoach>, headers: HeaderMap) -> Response {
    if let Some(secret) = cookie_secret(&headers)
        && core.session_principal(&secret).await.is_ok()
    {
        return Redirect::to("/ui/scenarios").into_response();
    }
    page(&LoginPage { problem: None }, StatusCode::OK)
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    token: String,
}

pub(crate) async fn login(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_site(&headers) {
        return cross_site();
    }
    match core.open_session(&form.token).await {
        Ok(opened) => {
            // The browser keeps the cookie as long as the session may live.
            let max_age = stagecoach_app::SESSION_LIFETIME.num_seconds();
            (
                [(
                    header::SET_COOKIE,
                    session_cookie(&opened.secret, max_age, &headers),
                )],
                Redirect::to("/ui/scenarios"),
            )
                .into_response()
        }
        Err(AppError::Unauthorized) => page(
            &LoginPage {
                problem: Some(
                    "That token is not valid, was revoked, or only feeds queued ingestion.".into(),
                ),
            },
            StatusCode::UNAUTHORIZED,
        ),
        Err(error) => failure(&error),
    }
}

pub(crate) async fn logout(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
) -> Response {
    if !same_site(&headers) {
        return cross_site();
    }
    if let Err(error) = core.close_session(&signed_in.secret).await {
        return failure(&error);
    }
    (
        [(header::SET_COOKIE, cleared_cookie())],
        Redirect::to("/ui/login"),
    )
        .into_response()
}

struct ScenarioRow {
    id: String,
    name: String,
    steps: usize,
    conversations: i64,
}

#[derive(Template)]
#[template(path = "ui/scenarios.html")]
struct ScenariosPage {
    problem: Option<String>,
    scenarios: Vec<ScenarioRow>,
}

pub(crate) async fn scenarios(State(core): State<Stagecoach>, signed_in: SignedIn) -> Response {
    render_scenarios(&core, &signed_in.principal, None, StatusCode::OK).await
}

async fn render_scenarios(
    core: &Stagecoach,
    who: &Principal,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    if let Some(refused) = refusal(who, Scope::read(Area::Scenarios)) {
        return refused;
    }
    let listed = match core.list_scenarios(who, None).await {
        Ok(listed) => listed,
        Err(error) => return failure(&error),
    };
    let mut rows = Vec::with_capacity(listed.len());
    for scenario in listed {
        let counts = match core.board_counts(who, Some(scenario.id), false).await {
            Ok(counts) => counts,
            Err(error) => return failure(&error),
        };
        rows.push(ScenarioRow {
            id: scenario.id.to_string(),
            name: scenario.name,
            steps: counts.len(),
            conversations: counts.iter().map(|(_, n)| n).sum(),
        });
    }
    page(
        &ScenariosPage {
            problem,
            scenarios: rows,
        },
        status,
    )
}

#[derive(Deserialize)]
pub(crate) struct NameForm {
    name: String,
}

/// What a scenario form came to: back to the list, or the list with the reason.
async fn after_scenario_change<T>(
    core: &Stagecoach,
    who: &Principal,
    done: Result<T, AppError>,
) -> Response {
    match done {
        Ok(_) => Redirect::to("/ui/scenarios").into_response(),
        Err(error @ (AppError::Invalid(_) | AppError::Conflict { .. })) => {
            let status = if matches!(error, AppError::Invalid(_)) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::CONFLICT
            };
            let message = match &error {
                AppError::Invalid(errors) => errors
                    .0
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            };
            render_scenarios(core, who, Some(message), status).await
        }
        Err(error) => failure(&error),
    }
}

pub(crate) async fn create_scenario(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<NameForm>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Scenarios)) {
        return refused;
    }
    let created = core.create_scenario(who, &form.name, None).await;
    after_scenario_change(&core, who, created).await
}

pub(crate) async fn rename_scenario(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<NameForm>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Scenarios)) {
        return refused;
    }
    let renamed = core
        .update_scenario(
            who,
            ScenarioId::parse(&id),
            &form.name,
            stagecoach_domain::Patch::Absent,
        )
        .await;
    after_scenario_change(&core, who, renamed).await
}

pub(crate) async fn delete_scenario(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Scenarios)) {
        return refused;
    }
    let deleted = core.delete_scenario(who, ScenarioId::parse(&id)).await;
    after_scenario_change(&core, who, deleted).await
}

struct CardView {
    conversation_id: String,
    who: String,
    priority: String,
    status: String,
    ai_enabled: bool,
    tags: Vec<String>,
    in_step: String,
}

struct ColumnView {
    id: String,
    name: String,
    count: usize,
    /// Open (pending or processing) payments of the step's leads, per currency.
    open_payments: Vec<String>,
    cards: Vec<CardView>,
    /// The link that shows more of this column's cards, when there are more.
    more: Option<String>,
}

struct Target {
    id: String,
    name: String,
}

#[derive(Template)]
#[template(path = "ui/board.html")]
struct BoardPage {
    scenario_id: String,
    name: String,
    problem: Option<String>,
    columns: Vec<ColumnView>,
    targets: Vec<Target>,
}

/// How a page names a contact: by name, else phone, else e-mail.
fn contact_label(contact: Option<&stagecoach_domain::contact::Contact>) -> String {
    contact
        .and_then(|c| c.display_name())
        .or_else(|| contact.and_then(|c| c.phone.as_ref().map(|p| format!("+{p}"))))
        .or_else(|| contact.and_then(|c| c.email.clone()))
        .unwrap_or_else(|| "Unknown contact".into())
}

/// "3 min", "5 h", "2 d": how long ago, for a card.
fn since(at: chrono::DateTime<chrono::Utc>) -> String {
    let minutes = (chrono::Utc::now() - at).num_minutes().max(0);
    match minutes {
        0..=59 => format!("{minutes} min"),
        60..=2879 => format!("{} h", minutes / 60),
        _ => format!("{} d", minutes / 1440),
    }
}

/// Which column shows more cards than the first page, and how many.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct BoardQuery {
    expand: Option<String>,
    cards: Option<i64>,
}

/// The open payments per step (pending or processing), formatted per currency, when the
/// token may read leads.
async fn open_payments(core: &Stagecoach, who: &Principal) -> HashMap<StepId, Vec<String>> {
    use stagecoach_domain::leads::actions::PaymentStatus;
    if who
        .require(Requirement::new(Scope::read(Area::Leads)))
        .is_err()
    {
        return HashMap::new();
    }
    let totals = match core.payment_totals(who, None, true).await {
        Ok(totals) => totals,
        Err(error) => {
            tracing::warn!(%error, "could not read payment totals for a board");
            return HashMap::new();
        }
    };
    let mut sums: HashMap<StepId, std::collections::BTreeMap<String, i64>> = HashMap::new();
    for total in totals {
        if let Some(step) = total.step_id
            && matches!(
                total.status,
                PaymentStatus::Pending | PaymentStatus::Processing
            )
        {
            *sums
                .entry(step)
                .or_default()
                .entry(total.currency)
                .or_default() += total.hundredths;
        }
    }
    sums.into_iter()
        .map(|(step, by_currency)| {
            let shown = by_currency
                .into_iter()
                .map(|(code, hundredths)| {
                    let amount = stagecoach_domain::leads::money::format_amount(hundredths, &code);
                    format!("{code} {amount}")
                })
                .collect();
            (step, shown)
        })
        .collect()
}

async fn render_board(
    core: &Stagecoach,
    who: &Principal,
    scenario: ScenarioId,
    query: &BoardQuery,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let steps = match core.list_steps(who, Some(scenario), None).await {
        Ok(steps) => steps,
        Err(error) => return failure(&error),
    };
    let counts: HashMap<StepId, i64> = match core.board_counts(who, Some(scenario), false).await {
        Ok(counts) => counts.into_iter().collect(),
        Err(error) => return failure(&error),
    };
    let name = steps
        .first()
        .map(|s| s.scenario.name.clone())
        .unwrap_or_default();
    let mut payments = open_payments(core, who).await;
    let expanded = query.expand.as_deref().and_then(StepId::parse);
    let mut columns = Vec::with_capacity(steps.len());
    for view in &steps {
        let step = &view.step;
        let shown = match (expanded, query.cards) {
            (Some(id), Some(cards)) if id == step.id => cards.clamp(CARDS_PER_COLUMN, 1000),
            _ => CARDS_PER_COLUMN,
        };
        let count = usize::try_from(counts.get(&step.id).copied().unwrap_or(0)).unwrap_or(0);
        let more = (count > shown as usize).then(|| {
            format!(
                "/ui/scenarios/{scenario}?expand={}&cards={}#step-{}",
                step.id,
                shown + CARDS_PER_COLUMN,
                step.id
            )
        });
        let cards = match core
            .board(who, Some(scenario), Some(step.id), false, 0, shown)
            .await
        {
            Ok(cards) => cards,
            Err(error) => return failure(&error),
        };
        columns.push(ColumnView {
            id: step.id.to_string(),
            name: step.settings.name.clone(),
            count,
            open_payments: payments.remove(&step.id).unwrap_or_default(),
            more,
            cards: cards
                .into_iter()
                .map(|card| {
                    let who = contact_label(card.contact.as_ref());
                    CardView {
                        conversation_id: card.conversation.id.to_string(),
                        who,
                        priority: card.conversation.priority.as_str().to_owned(),
                        status: card.conversation.status.as_str().to_owned(),
                        ai_enabled: card.conversation.ai_enabled,
                        tags: card.conversation.tags.clone(),
                        in_step: since(card.link.updated_at),
                    }
                })
                .collect(),
        });
    }
    let targets = steps
        .iter()
        .map(|v| Target {
            id: v.step.id.to_string(),
            name: v.step.settings.name.clone(),
        })
        .collect();
    page(
        &BoardPage {
            scenario_id: scenario.to_string(),
            name,
            problem,
            columns,
            targets,
        },
        status,
    )
}

pub(crate) async fn board(
    State(core): State<Stagecoach>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<BoardQuery>,
) -> Response {
    let who = &signed_in.principal;
    // As the API's board: the scenario's steps, and the conversations in them.
    for scope in [
        Scope::read(Area::Scenarios),
        Scope::read(Area::Conversations),
    ] {
        if let Some(refused) = refusal(who, scope) {
            return refused;
        }
    }
    let Some(scenario) = ScenarioId::parse(&id) else {
        return failure(&AppError::NotFound {
            entity: stagecoach_app::Entity::Scenario,
            field: "id",
        });
    };
    render_board(&core, who, scenario, &query, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub(crate) struct MoveForm {
    from: String,
    to: String,
    scenario: String,
}

/// "Move to…" on a card: the conversation moves with the move's rules, unless it left
/// the step the card showed it in (then the board comes back, saying so).
pub(crate) async fn move_card(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<MoveForm>,
) -> Response {
    let who = &signed_in.principal;
    if let Some(refused) = write_refusal(&headers, who, Scope::write(Area::Conversations)) {
        return refused;
    }
    let (Some(from), Some(to), Some(scenario)) = (
        StepId::parse(&form.from),
        StepId::parse(&form.to),
        ScenarioId::parse(&form.scenario),
    ) else {
        return failure(&AppError::Invalid(
            stagecoach_domain::ValidationError::single("to", "the form names no valid step"),
        ));
    };
    let moved = core
        .move_card(
            who,
            ConversationId::parse(&id),
            from,
            StepRef::Id {
                step: Some(to),
                scenario: None,
            },
        )
        .await;
    // A drop on the board (board.js) wants a short answer, not a page.
    let from_script = headers
        .get("x-stagecoach-ui")
        .is_some_and(|v| v.as_bytes() == b"fetch");
    match moved {
        Ok(_) if from_script => StatusCode::NO_CONTENT.into_response(),
        Ok(_) => Redirect::to(&format!("/ui/scenarios/{scenario}")).into_response(),
        Err(error) if from_script => {
            let status = match error {
                AppError::Conflict { .. } => StatusCode::CONFLICT,
                AppError::NotFound { .. } => StatusCode::NOT_FOUND,
                AppError::Invalid(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            let message = match error {
                AppError::Conflict { message, .. } => message,
                AppError::Store(_) => "the move failed on the server; try again".into(),
                other => other.to_string(),
            };
            (status, message).into_response()
        }
        Err(AppError::Conflict { message, .. }) => {
            render_board(
                &core,
                who,
                scenario,
                &BoardQuery::default(),
                Some(message),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(error) => failure(&error),
    }
}

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

fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

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
                        m.author.unwrap_or_else(|| "business".into())
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
