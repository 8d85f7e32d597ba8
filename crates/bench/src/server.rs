//! The server under test: the `stagecoach` binary run as a child process, so that its
//! memory is its own and the load generator's is not counted.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// How to run `stagecoach` against the run's database.
#[derive(Clone)]
pub struct ServerBinary {
    pub path: PathBuf,
    pub database_url: String,
    pub dir: PathBuf,
    /// CPUs the server is confined to (a `taskset -c` list), if any.
    pub cpus: Option<String>,
}

impl ServerBinary {
    /// Runs an admin subcommand and returns what it printed on stdout, trimmed.
    pub async fn admin(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new(&self.path)
            .args(args)
            .arg("--database-url")
            .arg(&self.database_url)
            .env("RUST_LOG", "warn")
            .output()
            .await
            .with_context(|| format!("cannot run {}", self.path.display()))?;
        if !output.status.success() {
            bail!(
                "stagecoach {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8(output.stdout)?.trim().to_owned())
    }

    /// Starts `stagecoach serve` on a free loopback port and waits until it is ready.
    pub async fn serve(&self) -> anyhow::Result<RunningServer> {
        let port = free_port()?;
        let log = std::fs::File::create(self.dir.join("server.log"))?;
        let mut command = match &self.cpus {
            Some(cpus) => {
                let mut pinned = Command::new("taskset");
                pinned.arg("-c").arg(cpus).arg(&self.path);
                pinned
            }
            None => Command::new(&self.path),
        };
        let child = command
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--database-url")
            .arg(&self.database_url)
            .arg("--secret-key-file")
            .arg(self.dir.join("secret.key"))
            .env("RUST_LOG", "warn")
            // The load is one organization's, far past any limit meant for an integration.
            // Environment variables, which builds from before the limits ignore.
            .env("STAGECOACH_RATE_LIMIT_PER_TOKEN", "off")
            .env("STAGECOACH_RATE_LIMIT_PER_ORG", "off")
            .env("STAGECOACH_RATE_LIMIT_PER_CHANNEL", "off")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", self.path.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let server = RunningServer {
            child,
            pid,
            base: format!("http://127.0.0.1:{port}"),
            log: self.dir.join("server.log"),
        };
        server.wait_ready().await?;
        Ok(server)
    }
}

pub struct RunningServer {
    child: Child,
    pub pid: u32,
    pub base: String,
    log: PathBuf,
}

impl RunningServer {
    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(response) = client.get(format!("{}/readyz", self.base)).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "the server did not become ready in 60 s; its log: {}",
            self.log.display()
        )
    }

    /// CPU time the server has used so far (user and system), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds_of(self.pid)
    }

    /// The server's resident memory now and its peak so far, in bytes.
    pub fn memory(&self) -> Memory {
        memory_of(self.pid)
    }

    /// Samples the resident memory every 50 ms until the returned sampler is stopped.
    pub fn sample_memory(&self) -> MemorySampler {
        let peak = Arc::new(AtomicU64::new(0));
        let pid = self.pid;
        let task = tokio::spawn({
            let peak = peak.clone();
            async move {
                loop {
                    peak.fetch_max(memory_of(pid).resident, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        MemorySampler { peak, task }
    }

    /// Stops the server (SIGTERM-free: the benchmark does not need a graceful drain).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub resident: u64,
    pub peak: u64,
}

pub struct MemorySampler {
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl MemorySampler {
    /// The highest resident memory seen while sampling, in bytes.
    pub fn stop(self) -> u64 {
        self.task.abort();
        self.peak.load(Ordering::Relaxed)
    }
}

/// Reads VmRSS and VmHWM from /proc (Linux); zeros elsewhere.
fn memory_of(pid: u32) -> Memory {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Memory::default();
    };
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    Memory {
        resident: field("VmRSS:"),
        peak: field("VmHWM:"),
    }
}

/// utime + stime from /proc/<pid>/stat (Linux); 0 elsewhere. Linux reports them in
/// USER_HZ ticks, 100 per second on every architecture it supports.
pub fn cpu_seconds_of(pid: u32) -> f64 {
    const TICKS_PER_SECOND: f64 = 100.0;
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let Some((_, after_name)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / TICKS_PER_SECOND
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
