//! The load benchmark's smoke test: a tiny run of every workload against the real binary
//! finishes, reports each one, and sees no errors. It measures nothing: no time is
//! asserted.

use std::time::Duration;

use stagecoach_bench::workloads::Workload;
use stagecoach_bench::{BenchConfig, run};

use crate::support::POSTGRES_ENV;

fn tiny(postgres_url: Option<String>) -> BenchConfig {
    BenchConfig {
        server_bin: env!("CARGO_BIN_EXE_stagecoach").into(),
        postgres_url,
        conversations: 200,
        connections: 2,
        warmup: Duration::from_millis(100),
        duration: Duration::from_millis(300),
        workloads: Workload::ALL.to_vec(),
        timers_limit: Duration::from_secs(120),
        keep: false,
        pinning: None,
        cpus: 1,
    }
}

async fn every_workload_reports(config: BenchConfig) {
    let report = run(&config).await.expect("the benchmark runs");
    let names: Vec<&str> = report.workloads.iter().map(|w| w.name).collect();
    let expected: Vec<&str> = Workload::ALL
        .iter()
        .filter(|w| **w != Workload::Timers)
        .map(|w| w.name())
        .collect();
    assert_eq!(names, expected);
    for workload in &report.workloads {
        assert!(workload.requests > 0, "{} sent nothing", workload.name);
        assert_eq!(
            workload.errors, 0,
            "{} failed: {:?}",
            workload.name, workload.error_samples
        );
        assert!(workload.latency.max_ms >= workload.latency.p50_ms);
        if workload.name != "baseline" {
            assert!(workload.ratio_to_baseline.is_some());
        }
    }
    let live = report
        .workloads
        .iter()
        .find(|w| w.name == "live-moves")
        .and_then(|w| w.streams)
        .expect("live-moves reports its streams");
    assert_eq!(live.streams, 100);
    assert!(live.events > 0, "the streams heard the moves");
    assert!(report.table().contains("timers: 200 pending, 20 due"));
    let timers = report.timers.expect("the timers workload ran");
    assert_eq!((timers.outcome.pending, timers.outcome.due), (200, 20));
    assert_eq!(timers.outcome.left, 0, "every due timer fired");
    assert!(report.server_peak_memory_mb > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_smoke_on_sqlite() {
    every_workload_reports(tiny(None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_smoke_on_postgres() {
    let Ok(url) = std::env::var(POSTGRES_ENV) else {
        // Opt-in outside CI, as for every other test.
        assert!(
            std::env::var_os("CI").is_none(),
            "{POSTGRES_ENV} must be set in CI"
        );
        return;
    };
    every_workload_reports(tiny(Some(url))).await;
}
