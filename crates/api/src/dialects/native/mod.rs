//! Stagecoach's own API, under `/v1`: what no vendor dialect covers (ingesting inbound
//! messages from channels, a conversation's timeline and outbox, lead settings, payment
//! totals, webhook endpoints and the delivery log, channels and their providers' webhooks). Errors: see [`error`].

mod ai;
mod channels;
pub(crate) mod error;
mod extract;
mod leads;
mod messages;
mod reports;
mod steps;
mod webhooks;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(messages::inbound))
        .routes(routes!(messages::conversation))
        .routes(routes!(messages::timeline))
        .routes(routes!(messages::outbox))
        .routes(routes!(leads::settings, leads::replace_settings))
        .routes(routes!(leads::organization_totals))
        .routes(routes!(leads::lead_totals))
        .routes(routes!(webhooks::create_endpoint, webhooks::list_endpoints))
        .routes(routes!(
            webhooks::get_endpoint,
            webhooks::update_endpoint,
            webhooks::delete_endpoint
        ))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::get_delivery))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(webhooks::redeliver_matching))
        .routes(routes!(channels::create_channel, channels::list_channels))
        .routes(routes!(channels::delete_channel))
        .routes(routes!(
            channels::whatsapp_verify,
            channels::whatsapp_receive
        ))
        .routes(routes!(channels::zapi_receive))
        .routes(routes!(
            ai::get_settings,
            ai::put_settings,
            ai::delete_settings
        ))
        .routes(routes!(ai::list_turns))
        .routes(routes!(steps::reorder))
        .routes(routes!(steps::preview_entry))
        .routes(routes!(reports::funnel))
        .routes(routes!(reports::time_in_step))
        .routes(routes!(reports::revenue))
}
