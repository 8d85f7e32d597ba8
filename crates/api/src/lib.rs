//! Stagecoach's HTTP server.
//!
//! Each public API dialect lives in its own module under [`dialects`]: it parses and
//! validates its shapes, calls the use cases of `stagecoach-app`, and renders its shapes,
//! with its error body defined in one place. Everything else here is shared plumbing:
//! health checks, the OpenAPI document and the pages rendered from it, request ids and
//! logging, metrics.

pub mod dialects;
mod docs;
mod extract;
mod fallback;
mod health;
mod http_log;
mod idempotency;
pub mod metrics;
mod nullable;
pub mod openapi;
pub mod rate_limit;
mod scopes;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use metrics::HttpMetrics;
use rate_limit::RateLimits;
use stagecoach_app::Stagecoach;
use tokio::net::TcpListener;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub core: Stagecoach,
    pub limits: Arc<RateLimits>,
}

/// The largest request body accepted; larger ones get 413 before any parsing.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The whole HTTP API, counting its requests into `metrics` when given and holding
/// callers to `limits`. `pages` are routes served beside it (the web UI), under the same
/// logging, metrics and body limit.
pub fn router(
    core: Stagecoach,
    metrics: Option<HttpMetrics>,
    limits: Arc<RateLimits>,
    pages: Router,
) -> Router {
    let state = AppState { core, limits };
    let (api, _spec) = openapi::split_router().split_for_parts();
    let app = api
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotent_posts,
        ))
        .route_layer(axum::middleware::from_fn(extract::refuse_nul_in_uri))
        .merge(health::routes())
        .route("/openapi.json", axum::routing::get(openapi::serve_document))
        .merge(docs::routes())
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .with_state(state)
        .merge(pages)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES));
    let app = http_log::layer(app);
    match metrics {
        Some(metrics) => metrics::layer(app, metrics),
        None => app,
    }
}

/// Serves the API on `listener` until `shutdown` completes, then finishes the requests in
/// flight.
pub async fn serve(
    listener: TcpListener,
    core: Stagecoach,
    metrics: Option<HttpMetrics>,
    limits: Arc<RateLimits>,
    pages: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(core, metrics, limits, pages))
        .with_graceful_shutdown(shutdown)
        .await
}
