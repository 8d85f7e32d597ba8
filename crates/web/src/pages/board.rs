//! A scenario's board, and moving cards on it.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use stagecoach_app::{AppError, BoardRequest, ChatSearch, Principal, Stagecoach, StepRef};
use stagecoach_domain::ValidationError;
use stagecoach_domain::enums::{ConversationStatus, Priority};
use stagecoach_domain::error::Errors;
use stagecoach_domain::ids::{ConversationId, MembershipId, ScenarioId, StepId};
use stagecoach_domain::scope::{Area, Scope};

use super::{contact_label, failure, page, refusal, write_refusal};
use crate::session::SignedIn;

/// How many cards a column shows at first, and how many more each "Show more" adds.
pub(crate) const CARDS_PER_COLUMN: i64 = 50;
/// The most cards one column shows.
const MOST_CARDS: i64 = 1000;
/// How much of the last message a card shows.
const PREVIEW_CHARS: usize = 80;

pub(crate) struct CardView {
    pub(crate) conversation_id: String,
    pub(crate) who: String,
    pub(crate) priority: String,
    pub(crate) status: String,
    pub(crate) ai_enabled: bool,
    pub(crate) tags: Vec<String>,
    pub(crate) assignees: Vec<String>,
    pub(crate) in_step: String,
    /// Where the card sorts in its column (when it joined the board), for live updates.
    pub(crate) order: i64,
    /// The start of the last message, and how long ago it came.
    pub(crate) last_message: Option<(String, String)>,
    /// The next auto-advance: when (RFC 3339, for the countdown script) and how soon.
    pub(crate) auto_advance: Option<(String, String)>,
}

struct ColumnView {
    id: String,
    name: String,
    count: i64,
    /// Open (pending or processing) payments of the step's conversations, per currency.
    open_payments: String,
    cards: Vec<CardView>,
    /// The link that shows more of this column's cards, when there are more.
    more: Option<String>,
}

struct Choice {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "ui/board.html")]
struct BoardPage {
    scenario_id: String,
    name: String,
    problem: Option<String>,
    columns: Vec<ColumnView>,
    /// Steps a card can be moved to.
    targets: Vec<Choice>,
    /// The filter as asked, to fill the form again.
    filter: BoardQuery,
    /// Whether any filter is set.
    filtered: bool,
    /// The query string of the filter, for links and the move form.
    filter_query: String,
    members: Vec<Choice>,
    priorities: Vec<&'static str>,
    statuses: Vec<&'static str>,
}

/// "3 min", "5 h", "2 d": a span of time, for a card.
fn span(minutes: i64) -> String {
    match minutes.max(0) {
        m @ 0..=59 => format!("{m} min"),
        m @ 60..=2879 => format!("{} h", m / 60),
        m => format!("{} d", m / 1440),
    }
}

fn since(at: DateTime<Utc>) -> String {
    span((Utc::now() - at).num_minutes())
}

fn until(at: DateTime<Utc>) -> String {
    let seconds = (at - Utc::now()).num_seconds();
    if seconds <= 0 {
        "now".into()
    } else {
        format!("in {}", span((seconds + 59) / 60))
    }
}

/// The board's query string: the filter, and which column shows more cards.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct BoardQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    status: String,
    expand: Option<String>,
    cards: Option<i64>,
}

impl BoardQuery {
    /// The filter's search, or which field is wrong.
    pub(crate) fn search(&self) -> Result<ChatSearch, AppError> {
        let mut errors = Errors::default();
        let mut search = ChatSearch::default();
        let text = self.q.trim();
        if !text.is_empty() {
            search.text = Some(text.to_owned());
        }
        let tag = self.tag.trim();
        if !tag.is_empty() {
            search.tags.push(tag.to_owned());
        }
        match self.assignee.as_str() {
            "" => {}
            "nobody" => search.assignee = Some(None),
            other => match MembershipId::parse(other) {
                Some(member) => search.assignee = Some(Some(member)),
                None => errors.add("assignee", "is not a member id, nor \"nobody\""),
            },
        }
        if !self.priority.is_empty() {
            match Priority::parse(&self.priority) {
                Some(priority) => search.priorities.push(priority),
                None => errors.add("priority", "is not one of LOW, MEDIUM, HIGH"),
            }
        }
        if !self.status.is_empty() {
            match ConversationStatus::parse(&self.status) {
                Some(status) => search.statuses.push(status),
                None => errors.add(
                    "status",
                    "is not one of RESOLVED, UNRESOLVED, HUMAN_REQUESTED",
                ),
            }
        }
        errors
            .into_result()
            .map(|()| search)
            .map_err(AppError::Invalid)
    }

    /// The filter alone, as a query string (empty when there is no filter).
    pub(crate) fn filter_query(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("q", &self.q),
            ("assignee", &self.assignee),
            ("tag", &self.tag),
            ("priority", &self.priority),
            ("status", &self.status),
        ] {
            if !value.is_empty() {
                query.append_pair(name, value);
            }
        }
        query.finish()
    }
}

pub(crate) fn card_view(
    card: &stagecoach_app::BoardViewCard,
    member_names: &HashMap<MembershipId, String>,
) -> CardView {
    let conversation = &card.conversation;
    CardView {
        conversation_id: conversation.id.to_string(),
        who: contact_label(card.contact.as_ref()),
        priority: conversation.priority.as_str().to_owned(),
        status: conversation.status.as_str().to_owned(),
        ai_enabled: conversation.ai_enabled,
        tags: conversation.tags.clone(),
        assignees: conversation
            .assignees
            .iter()
            .map(|id| {
                member_names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| "a former member".into())
            })
            .collect(),
        in_step: since(card.link.updated_at),
        order: card.link.created_at.timestamp_millis(),
        last_message: card.last_message.as_ref().map(|m| {
            let text = m.text.trim();
            let mut preview: String = text.chars().take(PREVIEW_CHARS).collect();
            if preview.len() < text.len() {
                preview.push('…');
            }
            (preview, since(m.created_at))
        }),
        auto_advance: card
            .auto_advance_due
            .map(|due| (due.to_rfc3339(), until(due))),
    }
}

/// The open payments of a column, formatted per currency, on one line (empty when there
/// are none or the caller may not see them).
pub(crate) fn payments_line(sums: Option<&[(String, i64)]>) -> String {
    sums.unwrap_or_default()
        .iter()
        .map(|(code, hundredths)| {
            let amount = stagecoach_domain::leads::money::format_amount(*hundredths, code);
            format!("{code} {amount}")
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// One card rendered alone, as a live update sends it.
#[derive(Template)]
#[template(path = "ui/card_fragment.html")]
struct CardFragmentPage<'a> {
    card: CardView,
    column_id: String,
    scenario_id: &'a str,
    filter_query: &'a str,
    targets: &'a [Choice],
}

/// What every card of a board shares, to render changed cards one by one.
pub(crate) struct CardFragment {
    scenario_id: String,
    filter_query: String,
    targets: Vec<Choice>,
}

impl CardFragment {
    pub(crate) fn new(
        scenario: ScenarioId,
        query: &BoardQuery,
        columns: &[stagecoach_app::BoardColumn],
    ) -> Self {
        CardFragment {
            scenario_id: scenario.to_string(),
            filter_query: query.filter_query(),
            targets: columns
                .iter()
                .map(|c| Choice {
                    value: c.step.id.to_string(),
                    label: c.step.settings.name.clone(),
                })
                .collect(),
        }
    }

    pub(crate) fn render(
        &self,
        card: &stagecoach_app::BoardViewCard,
        member_names: &HashMap<MembershipId, String>,
    ) -> String {
        let fragment = CardFragmentPage {
            card: card_view(card, member_names),
            column_id: card.link.step_id.to_string(),
            scenario_id: &self.scenario_id,
            filter_query: &self.filter_query,
            targets: &self.targets,
        };
        fragment.render().unwrap_or_default()
    }
}

async fn render_board(
    core: &Stagecoach,
    who: &Principal,
    scenario: ScenarioId,
    query: BoardQuery,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let search = match query.search() {
        Ok(search) => search,
        Err(error) => return failure(&error),
    };
    let longer = query
        .expand
        .as_deref()
        .and_then(StepId::parse)
        .zip(query.cards)
        .map(|(step, cards)| (step, cards.clamp(CARDS_PER_COLUMN, MOST_CARDS)));
    let request = BoardRequest {
        filter: search,
        cards_per_column: CARDS_PER_COLUMN,
        longer,
    };
    let view = match core.board_view(who, scenario, &request).await {
        Ok(view) => view,
        Err(error) => return failure(&error),
    };
    let filter_query = query.filter_query();
    let columns = view
        .columns
        .iter()
        .map(|column| {
            let step = &column.step;
            let shown = column.cards.len() as i64;
            let more = (column.count > shown).then(|| {
                let mut link = url::form_urlencoded::Serializer::new(filter_query.clone());
                link.append_pair("expand", &step.id.to_string());
                link.append_pair("cards", &(shown + CARDS_PER_COLUMN).to_string());
                format!(
                    "/ui/scenarios/{scenario}?{}#step-{}",
                    link.finish(),
                    step.id
                )
            });
            ColumnView {
                id: step.id.to_string(),
                name: step.settings.name.clone(),
                count: column.count,
                open_payments: payments_line(column.open_payments.as_deref()),
                cards: column
                    .cards
                    .iter()
                    .map(|c| card_view(c, &view.member_names))
                    .collect(),
                more,
            }
        })
        .collect();
    let targets = view
        .columns
        .iter()
        .map(|c| Choice {
            value: c.step.id.to_string(),
            label: c.step.settings.name.clone(),
        })
        .collect();
    let mut members: Vec<Choice> = view
        .member_names
        .iter()
        .map(|(id, name)| Choice {
            value: id.to_string(),
            label: name.clone(),
        })
        .collect();
    members.sort_by(|a, b| a.label.cmp(&b.label));
    page(
        &BoardPage {
            scenario_id: scenario.to_string(),
            name: view.scenario.name.clone(),
            problem,
            columns,
            targets,
            filtered: !filter_query.is_empty(),
            filter_query,
            filter: query,
            members,
            priorities: Priority::ALL.iter().map(|p| p.as_str()).collect(),
            statuses: ConversationStatus::ALL.iter().map(|s| s.as_str()).collect(),
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
    render_board(&core, who, scenario, query, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub(crate) struct MoveForm {
    from: String,
    to: String,
    scenario: String,
    /// The board's filter, to come back to.
    #[serde(default)]
    filter: String,
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
        return failure(&AppError::Invalid(ValidationError::single(
            "to",
            "the form names no valid step",
        )));
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
    // Back to the board as it was filtered; the filter is parsed again there.
    let filter: BoardQuery = filter_from_query(&form.filter);
    match moved {
        Ok(_) if from_script => StatusCode::NO_CONTENT.into_response(),
        Ok(_) => {
            let query = filter.filter_query();
            let back = if query.is_empty() {
                format!("/ui/scenarios/{scenario}")
            } else {
                format!("/ui/scenarios/{scenario}?{query}")
            };
            Redirect::to(&back).into_response()
        }
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
                filter,
                Some(message),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(error) => failure(&error),
    }
}

/// The filter a move form carried back (a query string); anything unreadable is no filter.
fn filter_from_query(text: &str) -> BoardQuery {
    let mut filter = BoardQuery::default();
    for (name, value) in url::form_urlencoded::parse(text.as_bytes()) {
        let value = value.into_owned();
        match name.as_ref() {
            "q" => filter.q = value,
            "assignee" => filter.assignee = value,
            "tag" => filter.tag = value,
            "priority" => filter.priority = value,
            "status" => filter.status = value,
            _ => {}
        }
    }
    filter
}
