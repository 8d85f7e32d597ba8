//! Chatvolt's CRM API: scenarios, steps and the agents they point at, with Chatvolt's paths,
//! bodies and answers. Errors: see [`error`].

mod agents;
mod board;
pub(crate) mod error;
mod extract;
mod logs;
mod nullable;
mod scenarios;
mod steps;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            scenarios::list,
            scenarios::create,
            scenarios::update,
            scenarios::delete
        ))
        .routes(routes!(
            steps::list,
            steps::create,
            steps::update,
            steps::delete
        ))
        .routes(routes!(board::add))
        .routes(routes!(board::move_conversation))
        .routes(routes!(board::list, board::remove))
        .routes(routes!(logs::list))
        .routes(routes!(logs::get))
        .routes(routes!(agents::create))
        .routes(routes!(agents::get, agents::update, agents::delete))
}
