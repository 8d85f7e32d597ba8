//! The worker's own metrics: the health of each loop and what came of deliveries. What
//! waits in the database is read at scrape time instead (`Stagecoach::backlog`).

use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use stagecoach_app::DeliveryOutcome;

/// The worker's loops, as the `loop` label names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loop {
    AutoAdvances,
    LeadWrites,
    Events,
    Deliveries,
    Retention,
    AiTurns,
    NoteReminders,
}

impl Loop {
    fn name(self) -> &'static str {
        match self {
            Loop::AutoAdvances => "auto_advances",
            Loop::LeadWrites => "lead_writes",
            Loop::Events => "events",
            Loop::Deliveries => "deliveries",
            Loop::Retention => "retention",
            Loop::AiTurns => "ai_turns",
            Loop::NoteReminders => "note_reminders",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoopLabels {
    r#loop: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    kind: String,
    outcome: &'static str,
}

/// Counters the worker updates as it goes. Cheap to clone (the clones share the values).
/// A default one counts into nothing that is exposed: register one to expose it.
#[derive(Debug, Clone, Default)]
pub struct WorkerMetrics {
    passes: Family<LoopLabels, Counter>,
    failures: Family<LoopLabels, Counter>,
    last_success: Family<LoopLabels, Gauge<f64, AtomicU64>>,
    deliveries: Family<DeliveryLabels, Counter>,
    pruned: Counter,
}

impl WorkerMetrics {
    /// Metrics registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "worker_passes",
            "Passes of each worker loop (one claim and its work)",
            metrics.passes.clone(),
        );
        registry.register(
            "worker_pass_failures",
            "Passes of each worker loop that failed (the error is logged)",
            metrics.failures.clone(),
        );
        registry.register(
            "worker_last_success_timestamp_seconds",
            "When each worker loop last finished a pass without error (Unix time)",
            metrics.last_success.clone(),
        );
        registry.register(
            "deliveries",
            "Delivery attempts by outbox kind and outcome (delivered, retrying, failed, or error when the outcome could not be recorded)",
            metrics.deliveries.clone(),
        );
        registry.register(
            "outbox_pruned",
            "Settled outbox rows deleted by retention",
            metrics.pruned.clone(),
        );
        metrics
    }

    /// Shows a loop's counters, at zero, from the moment it starts.
    pub(crate) fn started(&self, worker_loop: Loop) {
        let labels = LoopLabels {
            r#loop: worker_loop.name(),
        };
        let _ = self.passes.get_or_create(&labels);
        let _ = self.failures.get_or_create(&labels);
    }

    /// Counts a pass of a loop, and when it succeeded, stamps the time.
    pub(crate) fn pass<T, E>(&self, worker_loop: Loop, result: &Result<T, E>) {
        let labels = LoopLabels {
            r#loop: worker_loop.name(),
        };
        self.passes.get_or_create(&labels).inc();
        match result {
            Ok(_) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |since| since.as_secs_f64());
                self.last_success.get_or_create(&labels).set(now);
            }
            Err(_) => {
                self.failures.get_or_create(&labels).inc();
            }
        }
    }

    /// Counts a delivery by what came of it; `None` when recording it failed.
    pub(crate) fn delivery(&self, kind: &str, outcome: Option<DeliveryOutcome>) {
        let labels = DeliveryLabels {
            kind: kind.to_owned(),
            outcome: outcome.map_or("error", DeliveryOutcome::as_str),
        };
        self.deliveries.get_or_create(&labels).inc();
    }

    pub(crate) fn pruned(&self, rows: u64) {
        self.pruned.inc_by(rows);
    }
}
