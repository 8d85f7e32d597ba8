//! TeleCRM's lead API: the sync API under `/autoupdate/v2/enterprise/{enterpriseId}` (leads,
//! actions and payments, team members, metadata) for `sync` tokens, and the queued
//! `/enterprise/{enterpriseId}/autoupdatelead` for `async` tokens. A lead is a contact; the
//! enterprise is the token's organization. Errors: see [`error`].

mod bodies;
pub(crate) mod error;
mod extract;
mod leads;
mod metadata;
mod team;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(leads::create))
        .routes(routes!(leads::search))
        .routes(routes!(leads::get, leads::update))
        .routes(routes!(leads::create_actions))
        .routes(routes!(leads::search_actions))
        .routes(routes!(leads::get_action, leads::update_action))
        .routes(routes!(leads::auto_update))
        .routes(routes!(team::list, team::create))
        .routes(routes!(team::get))
        .routes(routes!(team::state_change))
        .routes(routes!(metadata::metadata))
        .routes(routes!(metadata::custom_fields))
        .routes(routes!(metadata::custom_field))
        .routes(routes!(metadata::custom_actions))
        .routes(routes!(metadata::pipeline))
}
