//! The run's report: a table for people, JSON for machines and for comparing runs.

use std::fmt::Write;

use serde::Serialize;

use crate::database::Engine;
use crate::load::Latency;
use crate::workloads::TimersOutcome;

#[derive(Debug, Serialize)]
pub struct Report {
    pub engine: Engine,
    pub conversations: usize,
    pub connections: usize,
    pub pinning: Option<crate::Pinning>,
    pub duration_s: f64,
    pub cpus: usize,
    pub started_at: String,
    /// Seconds spent seeding the conversations (not part of any workload).
    pub seed_s: f64,
    pub workloads: Vec<WorkloadReport>,
    pub timers: Option<TimersReport>,
    /// The server's resident-memory high-water mark over the whole run (VmHWM).
    pub server_peak_memory_mb: f64,
}

#[derive(Debug, Serialize)]
pub struct WorkloadReport {
    pub name: &'static str,
    pub description: &'static str,
    pub requests: u64,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub throughput_rps: f64,
    /// Throughput divided by the baseline's in the same run.
    pub ratio_to_baseline: Option<f64>,
    pub latency: Latency,
    /// The highest resident memory sampled while this workload ran.
    pub peak_memory_mb: f64,
    /// The server's CPU time (user and system) over the measured window, per request.
    pub server_cpu_ms_per_request: f64,
    /// The event streams that watched, for `live-moves`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streams: Option<crate::workloads::StreamsOutcome>,
}

#[derive(Debug, Serialize)]
pub struct TimersReport {
    #[serde(flatten)]
    pub outcome: TimersOutcome,
    pub peak_memory_mb: f64,
}

pub fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl Report {
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Stagecoach benchmark: {:?}, {} conversations, {} connections, {:.0} s per workload, {} CPUs (seeded in {:.1} s)",
            self.engine,
            self.conversations,
            self.connections,
            self.duration_s,
            self.cpus,
            self.seed_s
        );
        if let Some(p) = &self.pinning {
            let _ = writeln!(
                out,
                "server on CPUs {}, load generator on CPUs {}",
                p.server_cpus, p.generator_cpus
            );
        }
        let _ = writeln!(
            out,
            "{:<10} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>9} {:>7} {:>8} {:>8}",
            "workload",
            "requests",
            "req/s",
            "ratio",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "errors",
            "peak MB",
            "cpu ms"
        );
        for w in &self.workloads {
            let ratio = w
                .ratio_to_baseline
                .map_or("-".to_owned(), |r| format!("{:.0}%", r * 100.0));
            let _ = writeln!(
                out,
                "{:<10} {:>9} {:>10.0} {:>8} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>7} {:>8.0} {:>8.3}",
                w.name,
                w.requests,
                w.throughput_rps,
                ratio,
                w.latency.p50_ms,
                w.latency.p95_ms,
                w.latency.p99_ms,
                w.latency.max_ms,
                w.errors,
                w.peak_memory_mb,
                w.server_cpu_ms_per_request
            );
            if let Some(s) = &w.streams {
                let _ = writeln!(
                    out,
                    "  {} event streams heard {} board events ({:.1} per stream per second, {:.0} KB in all)",
                    s.streams,
                    s.events,
                    s.events as f64 / s.streams.max(1) as f64 / self.duration_s.max(f64::EPSILON),
                    s.bytes as f64 / 1024.0
                );
            }
        }
        if let Some(t) = &self.timers {
            let _ = writeln!(
                out,
                "timers: {} pending, {} due at once: drained in {:.2} s ({:.0}/s), last fired {:.2} s late, {} left, peak {:.0} MB",
                t.outcome.pending,
                t.outcome.due,
                t.outcome.drained_s,
                t.outcome.fired_per_s,
                t.outcome.last_fired_late_s,
                t.outcome.left,
                t.peak_memory_mb
            );
        }
        let _ = writeln!(
            out,
            "server peak memory (VmHWM): {:.0} MB",
            self.server_peak_memory_mb
        );
        for w in self.workloads.iter().filter(|w| w.errors > 0) {
            let _ = writeln!(
                out,
                "{} errors, e.g.: {}",
                w.name,
                w.error_samples.join(" | ")
            );
        }
        out
    }
}
