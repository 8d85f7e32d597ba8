//! `stagecoach-bench`: a reproducible load benchmark. It starts the release server on a
//! fresh database, seeds a realistic organization, drives each workload over real HTTP
//! with a fixed number of connections, and reports throughput (also as a ratio to the
//! same run's no-storage baseline), latency percentiles, errors and the server's memory.

pub mod database;
pub mod load;
pub mod report;
pub mod seed;
pub mod server;
pub mod workloads;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use database::{BenchDb, FreshDatabase};
use load::LoadShape;
use report::{Report, TimersReport, WorkloadReport, megabytes};
use server::ServerBinary;
use workloads::Workload;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The `stagecoach` binary to benchmark.
    pub server_bin: PathBuf,
    /// None: SQLite in a fresh file. Some: a PostgreSQL server on which a fresh database
    /// is created for the run and dropped after it.
    pub postgres_url: Option<String>,
    pub conversations: usize,
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub workloads: Vec<Workload>,
    /// How long the timers get to drain before the run gives up on them.
    pub timers_limit: Duration,
    /// Keep the run's folder (the SQLite file, the server's log) for a closer look.
    pub keep: bool,
    /// CPUs the server and the load generator were confined to (`taskset` lists).
    pub pinning: Option<Pinning>,
    /// The machine's CPUs (counted before any pinning), for the report.
    pub cpus: usize,
}

/// Which CPUs the server and the load generator run on, so they do not compete.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pinning {
    pub server_cpus: String,
    pub generator_cpus: String,
}

/// Runs the benchmark; the server and its data are gone when it returns (unless `keep`).
pub async fn run(config: &BenchConfig) -> anyhow::Result<Report> {
    // Already installed is fine (a test process may have done it).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!(
        "stagecoach-bench-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir)?;
    let database = FreshDatabase::create(config.postgres_url.as_deref(), &dir).await?;
    let result = run_on(config, &database, &dir).await;
    database.finish().await?;
    if result.is_ok() && !config.keep {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!(
            "the run's files (server log included) are kept in {}",
            dir.display()
        );
    }
    result
}

async fn run_on(
    config: &BenchConfig,
    database: &FreshDatabase,
    dir: &std::path::Path,
) -> anyhow::Result<Report> {
    let started_at = chrono::Utc::now().to_rfc3339();
    let cli = ServerBinary {
        path: config.server_bin.clone(),
        database_url: database.url.clone(),
        dir: dir.to_owned(),
        cpus: config.pinning.as_ref().map(|p| p.server_cpus.clone()),
    };
    cli.admin(&["migrate"]).await?;
    let server = cli.serve().await?;
    let mut org = seed::configure(&cli, &server).await?;
    let db = BenchDb::connect(database).await?;
    let seeding = Instant::now();
    seed::load_conversations(&db, &mut org, config.conversations).await?;
    let seed_s = seeding.elapsed().as_secs_f64();
    let payments = if config.workloads.contains(&Workload::Actions) {
        seed::create_payments(&server, &org, config.conversations.min(200)).await?
    } else {
        Vec::new()
    };
    let (org, payments) = (Arc::new(org), Arc::new(payments));
    let shape = LoadShape {
        connections: config.connections,
        warmup: config.warmup,
        duration: config.duration,
    };

    let mut reports: Vec<WorkloadReport> = Vec::new();
    let mut timers = None;
    for workload in Workload::ALL
        .into_iter()
        .filter(|w| config.workloads.contains(w))
    {
        let sampler = server.sample_memory();
        if workload == Workload::Timers {
            let outcome =
                workloads::drain_timers(&db, config.conversations / 10, config.timers_limit)
                    .await?;
            timers = Some(TimersReport {
                outcome,
                peak_memory_mb: megabytes(sampler.stop()),
            });
            continue;
        }
        let maker = workloads::request_maker(workload, org.clone(), payments.clone());
        let streams = if workload == Workload::LiveMoves {
            Some(workloads::Streams::open(&server.base, &org, workloads::LIVE_STREAMS).await?)
        } else {
            None
        };
        // The server's CPU and the streams' events over the measured window: from the end
        // of the warm-up on.
        let measured_from = {
            let (pid, warmup) = (server.pid, shape.warmup);
            let counters = streams.as_ref().map(workloads::Streams::counters);
            tokio::spawn(async move {
                tokio::time::sleep(warmup).await;
                if let Some(counters) = counters {
                    counters.reset();
                }
                server::cpu_seconds_of(pid)
            })
        };
        let outcome = load::drive(&server.base, &org.token, shape, maker).await?;
        let cpu_s = server.cpu_seconds() - measured_from.await?;
        let streams = match streams {
            Some(streams) => Some(streams.close().await),
            None => None,
        };
        let throughput = outcome.requests as f64 / outcome.elapsed.as_secs_f64();
        let baseline = reports
            .iter()
            .find(|r| r.name == Workload::Baseline.name())
            .map(|r| r.throughput_rps);
        reports.push(WorkloadReport {
            name: workload.name(),
            description: workload.description(),
            requests: outcome.requests,
            errors: outcome.errors,
            error_samples: outcome.error_samples,
            throughput_rps: throughput,
            ratio_to_baseline: baseline.map(|b| throughput / b),
            latency: outcome.latency,
            peak_memory_mb: megabytes(sampler.stop()),
            server_cpu_ms_per_request: cpu_s * 1000.0 / outcome.requests.max(1) as f64,
            streams,
        });
    }
    let memory = server.memory();
    db.close().await;
    server.stop().await?;
    Ok(Report {
        engine: database.engine,
        conversations: config.conversations,
        connections: config.connections,
        pinning: config.pinning.clone(),
        duration_s: config.duration.as_secs_f64(),
        cpus: config.cpus,
        started_at,
        seed_s,
        workloads: reports,
        timers,
        server_peak_memory_mb: megabytes(memory.peak),
    })
}
