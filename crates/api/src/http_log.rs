//! Request ids and one structured log line per request, with the route and (once the
//! token is checked) the organization. Headers are never logged, so tokens never are.

use std::time::Duration;

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::{HeaderName, Request, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub(crate) fn layer(app: Router) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<_>| {
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str)
                .to_owned();
            let request_id = request
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned();
            tracing::info_span!(
                "request",
                request.id = %request_id,
                http.method = %request.method(),
                http.route = %route,
                organization.id = tracing::field::Empty,
            )
        })
        .on_request(())
        .on_response(|response: &Response<_>, latency: Duration, _span: &Span| {
            tracing::info!(
                http.status = response.status().as_u16(),
                latency_ms = latency.as_secs_f64() * 1000.0,
                "request finished"
            );
        })
        .on_failure(());
    // Outermost first: the id is set before the span reads it, and copied to the response.
    app.layer(CatchPanicLayer::custom(
        crate::dialects::chatvolt::error::panic_response,
    ))
    .layer(PropagateRequestIdLayer::new(REQUEST_ID))
    .layer(trace)
    .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Called once a request is authenticated, so its log lines carry the tenant.
pub(crate) fn record_organization(id: &impl std::fmt::Display) {
    Span::current().record("organization.id", tracing::field::display(id));
}
