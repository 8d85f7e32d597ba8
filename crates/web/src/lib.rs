//! The web UI, under `/ui/`: pages rendered on the server from askama templates, over the
//! same use cases the API dialects call. Every action is a plain HTML form, so it works
//! without JavaScript. No business rule lives here: a page shows what the use cases
//! answer, and a form calls one.
//!
//! Signing in trades an API token, or a member's one-time link from `stagecoach
//! login-link`, for a session cookie (`HttpOnly`, `SameSite=Lax`, `Secure` over HTTPS);
//! the browser then acts as that token or member. Writes that come with the
//! cookie from another site are refused (`Sec-Fetch-Site`, else `Origin` against `Host`).

mod assets;
mod live;
mod pages;
mod session;

use axum::Router;
use axum::routing::{get, post};
use stagecoach_app::Stagecoach;

pub use session::COOKIE;

/// The UI's routes, to merge into the server's router. Its live pages' streams end when
/// `shutdown` completes, so that the server's graceful shutdown can finish.
pub fn router(
    core: Stagecoach,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Router {
    // Live pages hear the store's changes; with PostgreSQL that starts this server's
    // listener, which is best listening before the first page opens.
    drop(core.changes());
    Router::new()
        .route("/ui", get(pages::home))
        .route("/ui/", get(pages::home))
        .route("/ui/login", get(pages::login_page).post(pages::login))
        .route(
            "/ui/login/link/{secret}",
            get(pages::login_link_page).post(pages::login_with_link),
        )
        .route("/ui/static/{name}", get(assets::asset))
        .route("/ui/logout", post(pages::logout))
        .route(
            "/ui/scenarios",
            get(pages::scenarios).post(pages::create_scenario),
        )
        .route("/ui/scenarios/{id}/rename", post(pages::rename_scenario))
        .route("/ui/scenarios/{id}/delete", post(pages::delete_scenario))
        .route("/ui/scenarios/{id}", get(pages::board))
        .route("/ui/scenarios/{id}/live", get(live::board_events))
        .route("/ui/scenarios/{id}/report", get(pages::report))
        .route("/ui/scenarios/{id}/report.csv", get(pages::report_csv))
        .route(
            "/ui/scenarios/{id}/steps",
            get(pages::steps).post(pages::create_step),
        )
        .route("/ui/scenarios/{id}/steps/new", get(pages::new_step))
        .route("/ui/scenarios/{id}/steps/order", post(pages::reorder))
        .route(
            "/ui/steps/{id}",
            get(pages::edit_step).post(pages::save_step),
        )
        .route("/ui/steps/{id}/delete", post(pages::delete_step))
        .route("/ui/steps/{id}/preview", get(pages::preview))
        .route("/ui/settings", get(pages::settings))
        .route("/ui/settings/members", post(pages::add_member))
        .route("/ui/settings/tokens", post(pages::create_token))
        .route("/ui/settings/tokens/{id}/revoke", post(pages::revoke_token))
        .route("/ui/settings/webhooks", post(pages::create_endpoint))
        .route("/ui/settings/channels", post(pages::connect_channel))
        .route(
            "/ui/settings/channels/{id}/delete",
            post(pages::disconnect_channel),
        )
        .route("/ui/settings/webhooks/{id}", get(pages::deliveries))
        .route(
            "/ui/settings/webhooks/{id}/delete",
            post(pages::delete_endpoint),
        )
        .route(
            "/ui/settings/webhooks/{id}/deliveries/{delivery}/redeliver",
            post(pages::redeliver),
        )
        .route("/ui/conversations/{id}", get(pages::conversation))
        .route(
            "/ui/conversations/{id}/live",
            get(live::conversation_events),
        )
        .route("/ui/conversations/{id}/move", post(pages::move_card))
        .route("/ui/conversations/{id}/messages", post(pages::send_message))
        .route(
            "/ui/conversations/{id}/template",
            post(pages::send_template),
        )
        .route("/ui/conversations/{id}/ai", post(pages::set_ai))
        .route("/ui/conversations/{id}/fields", post(pages::change_fields))
        .route(
            "/ui/conversations/{id}/crm-data",
            post(pages::update_crm_data),
        )
        .route_layer(axum::middleware::from_fn(pages::refuse_nul))
        .layer(axum::Extension(live::Live::new(shutdown)))
        .with_state(core)
}
