//! Stagecoach's own API, under `/v1`: what no vendor dialect covers (ingesting inbound
//! messages from channels, a conversation's timeline and outbox). Errors: see [`error`].

pub(crate) mod error;
mod extract;
mod messages;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(messages::inbound))
        .routes(routes!(messages::conversation))
        .routes(routes!(messages::timeline))
        .routes(routes!(messages::outbox))
}
