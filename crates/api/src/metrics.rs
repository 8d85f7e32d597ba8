//! Prometheus metrics: the API's requests, counted by route template, and the scrape
//! endpoint. The endpoint is served on a listener of its own (`serve_metrics`), never on
//! the API's: what it shows (traffic, backlog) is for operators, and a separate address
//! can stay on a private network while the API faces the world.
//!
//! Labels never carry a raw path, an id or an organization: a request is counted under
//! the template of the route it matched (`/v1/conversations/{id}`), or `unmatched`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use stagecoach_app::{Backlog, Stagecoach};
use tokio::net::TcpListener;

/// The prefix of every Stagecoach metric's name.
const PREFIX: &str = "stagecoach";

/// The OpenMetrics text format, which Prometheus asks for and reads.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Request latency buckets, in seconds: from a cached read to a slow bulk write.
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// An empty registry that names metrics the way Stagecoach does (`stagecoach_…`). The
/// server, the worker and the binary register into one and hand it to [`serve_metrics`].
pub fn registry() -> Registry {
    Registry::with_prefix(PREFIX)
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// What the API counts of the requests it serves. Cheap to clone (the clones share the
/// values).
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
}

impl HttpMetrics {
    /// Metrics registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            latency: LatencyFamily::new_with_constructor(latency_histogram),
        };
        registry.register(
            "http_requests",
            "HTTP requests served, by method, route template and status",
            metrics.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests (up to the response head), by method and route template",
            metrics.latency.clone(),
        );
        metrics
    }

    fn observe(&self, method: &'static str, route: String, status: StatusCode, seconds: f64) {
        self.latency
            .get_or_create(&RouteLabels {
                method,
                route: route.clone(),
            })
            .observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status: status.as_u16(),
            })
            .inc();
    }
}

/// Counts every request of `app`, the fallback's and panicking handlers' too: applied
/// outside the other layers, it sees the answer the client gets.
pub(crate) fn layer(app: Router, metrics: HttpMetrics) -> Router {
    app.layer(axum::middleware::from_fn_with_state(metrics, count_request))
}

async fn count_request(
    State(metrics): State<HttpMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let method = method_label(request.method());
    // Read before the request moves on; the router put it there when a route matched.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    metrics.observe(method, route, response.status(), seconds);
    response
}

/// The standard methods by name; any other a client makes up counts as `other`, so
/// clients cannot mint label values.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[derive(Clone)]
struct Scrape {
    core: Stagecoach,
    registry: Arc<Registry>,
}

/// The metrics listener's routes: `GET /metrics`, and nothing else.
pub fn metrics_router(core: Stagecoach, registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(Scrape { core, registry })
}

/// Serves `/metrics` on `listener` until `shutdown` completes.
pub async fn serve_metrics(
    listener: TcpListener,
    core: Stagecoach,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, metrics_router(core, registry))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The registered metrics, then the backlog read from the database now. A database that
/// does not answer leaves the backlog out and says so in `stagecoach_database_up`; the
/// process's own metrics are still worth having then.
async fn scrape(State(scrape): State<Scrape>) -> Response {
    let backlog = match scrape.core.backlog().await {
        Ok(backlog) => Some(backlog),
        Err(error) => {
            tracing::warn!(%error, "metrics: could not read the backlog");
            None
        }
    };
    let mut text = String::new();
    let encoded = encode_registry(&mut text, &scrape.registry)
        .and_then(|()| encode_registry(&mut text, &backlog_registry(backlog.as_ref())))
        .and_then(|()| encode_eof(&mut text));
    match encoded {
        Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "metrics: could not encode");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

/// The backlog as gauges, in a registry made for this one scrape.
fn backlog_registry(backlog: Option<&Backlog>) -> Registry {
    let mut registry = registry();
    let up: Gauge = Gauge::default();
    up.set(i64::from(backlog.is_some()));
    registry.register(
        "database_up",
        "Whether this scrape could read the backlog from the database (1) or not (0)",
        up,
    );
    let Some(backlog) = backlog else {
        return registry;
    };
    let pending = Family::<KindLabels, Gauge>::default();
    let due = Family::<KindLabels, Gauge>::default();
    let oldest_due = Family::<KindLabels, Gauge<f64, AtomicU64>>::default();
    let failed = Family::<KindLabels, Gauge>::default();
    for kind in &backlog.outbox {
        let labels = KindLabels {
            kind: kind.kind.clone(),
        };
        pending.get_or_create(&labels).set(kind.pending);
        due.get_or_create(&labels).set(kind.due);
        oldest_due
            .get_or_create(&labels)
            .set(backlog.seconds_since(kind.oldest_due_at));
        failed.get_or_create(&labels).set(kind.failed);
    }
    registry.register(
        "outbox_pending",
        "Outbox rows still to do (queued, waiting for a retry, or being worked on), by kind",
        pending,
    );
    registry.register(
        "outbox_due",
        "Outbox rows due now that no worker holds yet, by kind",
        due,
    );
    registry.register(
        "outbox_oldest_due_age_seconds",
        "How long the longest-waiting due outbox row has waited since it fell due, by kind (0 when none is due)",
        oldest_due,
    );
    registry.register(
        "outbox_failed",
        "Outbox rows that gave up, kept until retention prunes them, by kind",
        failed,
    );
    let timers_due: Gauge = Gauge::default();
    timers_due.set(backlog.auto_advances.due);
    registry.register(
        "auto_advances_due",
        "Auto-advance timers due now that no worker holds yet",
        timers_due,
    );
    let timers_lag: Gauge<f64, AtomicU64> = Gauge::default();
    timers_lag.set(backlog.seconds_since(backlog.auto_advances.oldest_due_at));
    registry.register(
        "auto_advances_oldest_due_age_seconds",
        "How long the most overdue auto-advance timer has waited since it fell due (0 when none is due)",
        timers_lag,
    );
    registry
}

#[cfg(test)]
mod tests {
    use super::method_label;
    use axum::http::Method;

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
