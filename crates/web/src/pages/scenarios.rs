//! The scenarios: listed with their figures, created, renamed, deleted.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use stagecoach_app::{AppError, Principal, Stagecoach};
use stagecoach_domain::ids::ScenarioId;
use stagecoach_domain::scope::{Area, Scope};

use super::{failure, page, refusal, write_refusal};
use crate::session::SignedIn;

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
    super::after_form(done, "/ui/scenarios", |message, status| {
        render_scenarios(core, who, Some(message), status)
    })
    .await
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
