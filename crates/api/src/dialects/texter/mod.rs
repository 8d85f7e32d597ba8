//! Texter's chat API, under `/server/api/v2`: chats (Stagecoach conversations), their CRM
//! data and its five merge modes, labels (the conversations' tags) and messages. Tokens
//! restricted to scopes are checked against Texter's scope names. Errors: see [`error`].

mod chats;
pub(crate) mod error;
mod extract;
mod labels;
mod messages;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(chats::update_crm_data))
        .routes(routes!(chats::search))
        .routes(routes!(chats::get, chats::update))
        .routes(routes!(chats::assign))
        .routes(routes!(chats::resolve))
        .routes(routes!(chats::labels))
        .routes(routes!(labels::list, labels::create))
        .routes(routes!(labels::get, labels::update, labels::delete))
        .routes(routes!(messages::list))
        .routes(routes!(messages::send))
}
