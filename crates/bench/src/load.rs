//! The load generator: a fixed number of connections, each sending its next request as
//! soon as the previous answer has been read in full (a closed loop). Every answer's
//! status is checked; anything but 2xx is an error, counted and sampled. No request is
//! skipped or retried, and requests still in flight when the time is up are waited for
//! and counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;

/// One request of a workload.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub body: Option<String>,
    /// A web UI session cookie (`name=value`), for the pages.
    pub cookie: Option<String>,
    pub idempotency_key: Option<String>,
}

impl Request {
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            body: None,
            cookie: None,
            idempotency_key: None,
        }
    }

    /// A page of the web UI, as a signed-in browser asks for it.
    pub fn page(path: impl Into<String>, cookie: &str) -> Self {
        Self {
            cookie: Some(cookie.to_owned()),
            ..Self::get(path)
        }
    }

    /// A POST sent with a new `Idempotency-Key`, as a careful integration sends each one.
    pub fn post_keyed(path: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            idempotency_key: Some(uuid::Uuid::now_v7().to_string()),
            ..Self::post(path, body)
        }
    }

    pub fn post(path: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            method: Method::POST,
            path: path.into(),
            body: Some(body.to_string()),
            cookie: None,
            idempotency_key: None,
        }
    }
}

/// Makes a workload's next request; called from every connection's loop.
pub type RequestMaker = Arc<dyn Fn() -> Request + Send + Sync>;

/// How hard and how long to drive a workload.
#[derive(Debug, Clone, Copy)]
pub struct LoadShape {
    pub connections: usize,
    /// Sent but not measured: connections open, caches warm.
    pub warmup: Duration,
    pub duration: Duration,
}

/// What the measured part of a run saw.
#[derive(Debug, Default)]
pub struct LoadOutcome {
    pub requests: u64,
    pub errors: u64,
    /// The first few failures, as `status: start of the answer`.
    pub error_samples: Vec<String>,
    pub elapsed: Duration,
    pub latency: Latency,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// Nearest-rank percentiles of latencies given in microseconds.
    pub fn of(mut micros: Vec<u64>) -> Self {
        if micros.is_empty() {
            return Self::default();
        }
        micros.sort_unstable();
        let rank = |p: f64| {
            let index = ((p / 100.0) * micros.len() as f64).ceil() as usize;
            micros[index.clamp(1, micros.len()) - 1] as f64 / 1000.0
        };
        Self {
            p50_ms: rank(50.0),
            p95_ms: rank(95.0),
            p99_ms: rank(99.0),
            max_ms: *micros.last().expect("not empty") as f64 / 1000.0,
        }
    }
}

const KEPT_ERROR_SAMPLES: usize = 5;

#[derive(Default)]
struct ConnectionTally {
    latencies_us: Vec<u64>,
    errors: u64,
    error_samples: Vec<String>,
}

/// Drives `make` over `shape.connections` connections to `base`, authenticated with
/// `token`, and reports the measured window.
pub async fn drive(
    base: &str,
    token: &str,
    shape: LoadShape,
    make: RequestMaker,
) -> anyhow::Result<LoadOutcome> {
    let start = Instant::now();
    let measure_from = start + shape.warmup;
    let stop_at = measure_from + shape.duration;
    let mut connections = tokio::task::JoinSet::new();
    for _ in 0..shape.connections {
        // One client per connection: each keeps exactly one keep-alive connection.
        let client = reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(60))
            .build()?;
        let (base, token, make) = (base.to_owned(), format!("Bearer {token}"), make.clone());
        connections.spawn(async move {
            let mut tally = ConnectionTally::default();
            loop {
                let sent = Instant::now();
                if sent >= stop_at {
                    break;
                }
                let request = make();
                let mut builder = client
                    .request(request.method, format!("{base}{}", request.path))
                    .header("authorization", &token);
                if let Some(cookie) = request.cookie {
                    builder = builder.header("cookie", cookie);
                }
                if let Some(key) = request.idempotency_key {
                    builder = builder.header("idempotency-key", key);
                }
                if let Some(body) = request.body {
                    builder = builder
                        .header("content-type", "application/json")
                        .body(body);
                }
                let answer = match builder.send().await {
                    Ok(response) => {
                        let status = response.status();
                        match response.bytes().await {
                            Ok(body) => Ok((status, body)),
                            Err(error) => Err(error.to_string()),
                        }
                    }
                    Err(error) => Err(error.to_string()),
                };
                let took = sent.elapsed();
                if sent < measure_from {
                    continue;
                }
                tally.latencies_us.push(took.as_micros() as u64);
                let failure = match answer {
                    Ok((status, _)) if status.is_success() => None,
                    Ok((status, body)) => Some(format!(
                        "{status}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    )),
                    Err(error) => Some(error),
                };
                if let Some(failure) = failure {
                    tally.errors += 1;
                    if tally.error_samples.len() < KEPT_ERROR_SAMPLES {
                        tally.error_samples.push(failure);
                    }
                }
            }
            tally
        });
    }
    let mut outcome = LoadOutcome::default();
    let mut latencies = Vec::new();
    while let Some(tally) = connections.join_next().await {
        let tally = tally?;
        outcome.requests += tally.latencies_us.len() as u64;
        outcome.errors += tally.errors;
        for sample in tally.error_samples {
            if outcome.error_samples.len() < KEPT_ERROR_SAMPLES {
                outcome.error_samples.push(sample);
            }
        }
        latencies.extend(tally.latencies_us);
    }
    outcome.elapsed = measure_from.elapsed();
    outcome.latency = Latency::of(latencies);
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let latency = Latency::of((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!(latency.p50_ms, 50.0);
        assert_eq!(latency.p95_ms, 95.0);
        assert_eq!(latency.p99_ms, 99.0);
        assert_eq!(latency.max_ms, 100.0);
        let single = Latency::of(vec![1500]);
        assert_eq!(
            (single.p50_ms, single.p99_ms, single.max_ms),
            (1.5, 1.5, 1.5)
        );
    }
}
