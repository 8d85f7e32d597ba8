//! `stagecoach-bench`: see the crate documentation and BENCHMARKS.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use stagecoach_bench::workloads::Workload;
use stagecoach_bench::{BenchConfig, Pinning, run};

/// Load benchmark: starts `stagecoach serve` on a fresh database, seeds an organization
/// and drives every workload over HTTP on loopback.
#[derive(Debug, Parser)]
#[command(name = "stagecoach-bench")]
struct Args {
    /// `quick` (20,000 conversations, 5 s per workload, under 2 minutes) or `full`
    /// (100,000 conversations, 20 s per workload).
    #[arg(long, value_enum, default_value_t = Mode::Full)]
    mode: Mode,
    /// Conversations to seed (overrides the mode's). Timers: all of them have a pending
    /// auto-advance and a tenth fall due at once.
    #[arg(long)]
    conversations: Option<usize>,
    /// Seconds each workload is measured (overrides the mode's).
    #[arg(long)]
    duration: Option<f64>,
    /// Concurrent connections of the load generator.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Benchmark on PostgreSQL: a server URL on which a fresh database is created for the
    /// run and dropped after it. Without it, SQLite in a fresh file.
    #[arg(long, env = "STAGECOACH_BENCH_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// Only these workloads (repeat or separate with commas).
    #[arg(long, value_enum, value_delimiter = ',')]
    workload: Vec<Workload>,
    /// The server binary (default: `stagecoach` next to this one, i.e. target/release).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Where to write the JSON report (default: target/bench/<engine>-<conversations>.json).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keep the run's folder (SQLite file, server log) instead of deleting it.
    #[arg(long)]
    keep: bool,
    /// Do not pin: by default, on a machine with 2 CPUs or more and `taskset`, the server
    /// runs on CPU 0 and the load generator on the others, so they do not compete.
    #[arg(long)]
    no_pin: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Mode {
    Quick,
    Full,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Before the runtime starts: its threads inherit this thread's CPUs.
    let pinning = if args.no_pin {
        None
    } else {
        pin_generator(cpus)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(bench(args, pinning, cpus)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Confines this process to CPUs 1.. and leaves CPU 0 to the server; None when the
/// machine has a single CPU or no `taskset`.
fn pin_generator(cpus: usize) -> Option<Pinning> {
    if cpus < 2 {
        return None;
    }
    let generator_cpus = if cpus == 2 {
        "1".to_owned()
    } else {
        format!("1-{}", cpus - 1)
    };
    let pinned = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", &generator_cpus])
        .arg(std::process::id().to_string())
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    pinned.then(|| Pinning {
        server_cpus: "0".to_owned(),
        generator_cpus,
    })
}

async fn bench(args: Args, pinning: Option<Pinning>, cpus: usize) -> anyhow::Result<()> {
    let (conversations, duration) = match args.mode {
        Mode::Quick => (20_000, 5.0),
        Mode::Full => (100_000, 20.0),
    };
    let server_bin = match args.server_bin {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .context("the benchmark binary has no folder")?
            .join("stagecoach"),
    };
    let conversations = args.conversations.unwrap_or(conversations);
    if conversations < 10 {
        anyhow::bail!("--conversations must be at least 10 (a tenth of them fall due as timers)");
    }
    let config = BenchConfig {
        server_bin,
        postgres_url: args.postgres_url,
        conversations,
        connections: args.connections,
        warmup: Duration::from_secs(1),
        duration: Duration::from_secs_f64(args.duration.unwrap_or(duration)),
        workloads: if args.workload.is_empty() {
            Workload::ALL.to_vec()
        } else {
            args.workload
        },
        timers_limit: Duration::from_secs(300),
        keep: args.keep,
        pinning,
        cpus,
    };
    let report = run(&config).await?;
    print!("{}", report.table());
    let engine = serde_json::to_value(report.engine)?;
    let json = args.json.unwrap_or_else(|| {
        PathBuf::from(format!(
            "target/bench/{}-{}.json",
            engine.as_str().unwrap_or("run"),
            config.conversations
        ))
    });
    if let Some(folder) = json.parent() {
        std::fs::create_dir_all(folder)?;
    }
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)?;
    println!("report written to {}", json.display());
    Ok(())
}
