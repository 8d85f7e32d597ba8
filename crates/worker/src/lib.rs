//! Background work: firing due auto-advance timers, announcing due note reminders,
//! applying lead writes queued by TeleCRM's async API, delivering webhooks, and pruning
//! what was delivered long ago. It
//! runs inside `stagecoach serve` (or alone with `--role worker`), on as many processes as
//! there are; claims with leases make sure each piece of work is done by one worker at a
//! time, and a crashed worker's work comes back when its lease ends.

mod ai;
mod http;
mod metrics;
mod provider;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use stagecoach_app::{AppError, DeliveryOutcome, Stagecoach, Transport};
use tokio::task::JoinSet;

pub use ai::HttpModelClient;
pub use http::{DEFAULT_TIMEOUT, HttpTransport, install_tls_provider};
pub use metrics::WorkerMetrics;
pub use provider::HttpProviderClient;

use metrics::Loop;

/// How often the worker looks for due work.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How many timers (or queued writes, or events) one pass claims; a pass that fills it
/// runs again at once.
const BATCH: i64 = 500;

/// How many deliveries one worker has in flight at most.
pub const MAX_IN_FLIGHT: usize = 32;

/// How many AI turns one worker runs at once (each mostly waits for its model).
pub const MAX_TURNS_IN_FLIGHT: usize = 8;

/// How often the worker looks for due AI turns: a reply should not wait a second more
/// than the configured delay.
const TURN_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How long delivered and failed outbox rows are kept by default.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// How often retention looks for rows to prune. Rows are kept for days, so a few minutes
/// late costs nothing.
const RETENTION_EVERY: Duration = Duration::from_secs(10 * 60);

/// How many outbox rows (with their attempts) one pruning statement deletes: a short
/// transaction that never holds the SQLite writer or PostgreSQL's row locks for long.
const RETENTION_BATCH: i64 = 500;

/// The pause between two pruning statements, so a large backlog of old rows is worked
/// off without crowding out the writes that serve requests.
const RETENTION_PAUSE: Duration = Duration::from_millis(100);

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How long outbox rows are kept once done or failed; `None` keeps them for good.
    pub retention: Option<Duration>,
    pub metrics: WorkerMetrics,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            retention: Some(DEFAULT_RETENTION),
            metrics: WorkerMetrics::default(),
        }
    }
}

/// Runs the worker's loops until `shutdown` completes; deliveries in flight finish first.
pub async fn run(
    core: Stagecoach,
    transport: Arc<dyn Transport>,
    settings: WorkerSettings,
    shutdown: impl Future<Output = ()>,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tracing::info!("worker started");
    let metrics = settings.metrics;
    for worker_loop in [
        Loop::AutoAdvances,
        Loop::LeadWrites,
        Loop::Events,
        Loop::Deliveries,
        Loop::AiTurns,
    ] {
        metrics.started(worker_loop);
    }
    if settings.retention.is_some() {
        metrics.started(Loop::Retention);
    }
    let timers = tokio::spawn(run_timers(core.clone(), metrics.clone(), stopped.clone()));
    let retention = settings.retention.map(|retention| {
        tokio::spawn(run_retention(
            core.clone(),
            retention,
            metrics.clone(),
            stopped.clone(),
        ))
    });
    let turns = tokio::spawn(run_ai_turns(core.clone(), metrics.clone(), stopped.clone()));
    let leases = tokio::spawn(keep_leases(core.clone(), stopped.clone()));
    let keys = tokio::spawn(expire_idempotency_keys(core.clone(), stopped.clone()));
    let deliveries = tokio::spawn(run_deliveries(core, transport, metrics, stopped));
    shutdown.await;
    let _ = stop.send(true);
    let _ = tokio::join!(timers, deliveries, turns, leases, keys);
    if let Some(retention) = retention {
        let _ = retention.await;
    }
    tracing::info!("worker stopped");
}

/// Beats this worker's heartbeat, renewing the leases of its work in flight and releasing
/// those of workers that stopped; at start first, so a restarted worker frees what a dead
/// one held as soon as that one's heartbeat is old enough.
async fn keep_leases(core: Stagecoach, mut stopped: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Err(error) = core.keep_leases().await {
            tracing::warn!(%error, "could not beat the worker's heartbeat");
        }
        tokio::select! {
            () = until_stopped(&mut stopped) => break,
            () = tokio::time::sleep(stagecoach_app::HEARTBEAT_INTERVAL) => {}
        }
    }
}

/// Beats this process's heartbeat until `shutdown`, for a server that serves the API
/// without running the worker: the heartbeat tells other servers that the idempotent
/// requests it holds are still running.
pub async fn beat_heartbeat(core: Stagecoach, shutdown: impl Future<Output = ()> + Send) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let beating = tokio::spawn(keep_leases(core, stopped));
    shutdown.await;
    let _ = stop.send(true);
    let _ = beating.await;
}

/// Deletes the idempotency keys past their 24 hours, a batch at a time, every few
/// minutes: whatever the outbox's retention, keys are never kept longer.
async fn expire_idempotency_keys(
    core: Stagecoach,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let expired = in_batches(&mut stopped, || {
            core.prune_idempotency_keys(RETENTION_BATCH)
        })
        .await;
        if let Err(error) = expired {
            tracing::warn!(%error, "could not delete expired idempotency keys");
        }
        tokio::select! {
            () = until_stopped(&mut stopped) => break,
            () = tokio::time::sleep(RETENTION_EVERY) => {}
        }
    }
}

async fn until_stopped(stopped: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Whether a pass handled a full batch (so more is waiting); a failed pass is logged.
fn filled_batch(
    metrics: &WorkerMetrics,
    worker_loop: Loop,
    handled: Result<usize, AppError>,
    failure: &str,
) -> bool {
    metrics.pass(worker_loop, &handled);
    match handled {
        Ok(handled) => handled as i64 >= BATCH,
        // PostgreSQL ended the pass's transaction to let another worker's through: nothing
        // of it was written, so the next pass, at once, does it again.
        Err(error) if error.is_contention() => {
            tracing::warn!(%error, "{failure}; trying again");
            true
        }
        Err(error) => {
            tracing::error!(%error, "{failure}");
            false
        }
    }
}

/// How long to wait before the next pass: no wait while work is waiting.
fn pause(more_waiting: bool) -> Duration {
    if more_waiting {
        Duration::ZERO
    } else {
        POLL_INTERVAL
    }
}

async fn run_timers(
    core: Stagecoach,
    metrics: WorkerMetrics,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        // Several passes at once where the database takes several writers.
        let mut passes = JoinSet::new();
        for _ in 0..core.timer_passes_at_once() {
            let core = core.clone();
            passes.spawn(async move { core.run_due_auto_advances(BATCH).await });
        }
        let mut timers = false;
        while let Some(pass) = passes.join_next().await {
            let pass = pass.expect("a timer pass panicked");
            timers |= filled_batch(
                &metrics,
                Loop::AutoAdvances,
                pass,
                "could not claim due auto-advances",
            );
        }
        let leads = filled_batch(
            &metrics,
            Loop::LeadWrites,
            core.process_queued_lead_writes(BATCH).await,
            "could not claim queued lead writes",
        );
        let reminders = filled_batch(
            &metrics,
            Loop::NoteReminders,
            core.run_due_note_reminders(BATCH).await,
            "could not announce due note reminders",
        );
        tokio::select! {
            () = until_stopped(&mut stopped) => break,
            () = tokio::time::sleep(pause(timers || leads || reminders)) => {}
        }
    }
}

async fn run_deliveries(
    core: Stagecoach,
    transport: Arc<dyn Transport>,
    metrics: WorkerMetrics,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut in_flight = JoinSet::new();
    loop {
        let events_waiting = filled_batch(
            &metrics,
            Loop::Events,
            core.fan_out_events(BATCH).await,
            "could not fan out events",
        );
        let room = MAX_IN_FLIGHT - in_flight.len();
        let claimed = if room == 0 {
            Vec::new()
        } else {
            let claimed = core.claim_deliveries(room as i64).await;
            metrics.pass(Loop::Deliveries, &claimed);
            claimed.unwrap_or_else(|error| {
                tracing::error!(%error, "could not claim deliveries");
                Vec::new()
            })
        };
        let deliveries_waiting = room > 0 && claimed.len() == room;
        for delivery in claimed {
            let (core, transport, metrics) = (core.clone(), transport.clone(), metrics.clone());
            in_flight.spawn(async move {
                let (id, kind) = (delivery.entry.id, delivery.entry.kind.clone());
                match core.perform_delivery(delivery, transport.as_ref()).await {
                    Ok(outcome) => metrics.delivery(&kind, Some(outcome)),
                    Err(error) => {
                        metrics.delivery(&kind, None);
                        // The lease runs out and another pass tries again.
                        tracing::error!(outbox.id = %id, %error, "could not record a delivery");
                    }
                }
            });
        }
        tokio::select! {
            () = until_stopped(&mut stopped) => break,
            () = tokio::time::sleep(pause(events_waiting || deliveries_waiting)) => {}
            // A finished delivery makes room: look for more at once.
            Some(_) = in_flight.join_next(), if room == 0 => {}
        }
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
}

async fn run_ai_turns(
    core: Stagecoach,
    metrics: WorkerMetrics,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut in_flight = JoinSet::new();
    loop {
        let room = MAX_TURNS_IN_FLIGHT - in_flight.len();
        let claimed = if room == 0 {
            Vec::new()
        } else {
            let claimed = core.claim_ai_turns(room as i64).await;
            metrics.pass(Loop::AiTurns, &claimed);
            claimed.unwrap_or_else(|error| {
                tracing::error!(%error, "could not claim AI turns");
                Vec::new()
            })
        };
        for turn in claimed {
            let core = core.clone();
            in_flight.spawn(async move {
                let id = turn.entry.id;
                match core.perform_ai_turn(turn).await {
                    Ok(Some(outcome)) => tracing::info!(turn = %id, %outcome, "AI turn finished"),
                    Ok(None) => {}
                    // The lease runs out and another pass tries again.
                    Err(error) => tracing::error!(turn = %id, %error, "could not run an AI turn"),
                }
            });
        }
        tokio::select! {
            () = until_stopped(&mut stopped) => break,
            () = tokio::time::sleep(TURN_POLL_INTERVAL) => {}
            Some(_) = in_flight.join_next(), if room == 0 => {}
        }
        while in_flight.try_join_next().is_some() {}
    }
    // A turn cut short comes back to another worker when its lease ends.
    in_flight.abort_all();
    while in_flight.join_next().await.is_some() {}
}

async fn run_retention(
    core: Stagecoach,
    retention: Duration,
    metrics: WorkerMetrics,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let pruned = prune_settled(&core, retention, &mut stopped).await;
        metrics.pass(Loop::Retention, &pruned);
        match pruned {
            Ok(0) => {}
            Ok(rows) => {
                metrics.pruned(rows);
                tracing::info!(rows, "pruned settled outbox rows past retention");
            }
            Err(error) => tracing::error!(%error, "could not prune settled outbox rows"),
        }
        tokio::select! {
            () = until_stopped(&mut stopped) => break,
            () = tokio::time::sleep(RETENTION_EVERY) => {}
        }
    }
}

/// Prunes, a batch at a time with a pause between batches, every outbox row that was done
/// or failed longer than `retention` ago, with its delivery attempts; returns how many.
/// Stops early, between batches, when the worker stops.
async fn prune_settled(
    core: &Stagecoach,
    retention: Duration,
    stopped: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<u64, AppError> {
    in_batches(stopped, || {
        core.prune_settled_outbox(retention, RETENTION_BATCH)
    })
    .await
}

/// Runs `prune` (one statement deleting up to [`RETENTION_BATCH`] rows) until a batch
/// comes back short, with a pause between batches; returns how many rows went. Stops
/// early, between batches, when the worker stops.
async fn in_batches<Prune, Pruned>(
    stopped: &mut tokio::sync::watch::Receiver<bool>,
    mut prune: Prune,
) -> Result<u64, AppError>
where
    Prune: FnMut() -> Pruned,
    Pruned: Future<Output = Result<u64, AppError>>,
{
    let mut pruned = 0;
    loop {
        let batch = prune().await?;
        pruned += batch;
        if batch < RETENTION_BATCH as u64 {
            return Ok(pruned);
        }
        tokio::select! {
            () = until_stopped(stopped) => return Ok(pruned),
            () = tokio::time::sleep(RETENTION_PAUSE) => {}
        }
    }
}

/// One retention pass: prunes every outbox row done or failed longer than `retention`
/// ago, a batch at a time; returns how many. For tests and operators' one-off runs; `run`
/// prunes on its own every few minutes.
pub async fn prune_expired(core: &Stagecoach, retention: Duration) -> Result<u64, AppError> {
    let (_never_stop, mut stopped) = tokio::sync::watch::channel(false);
    prune_settled(core, retention, &mut stopped).await
}

/// One delivery pass, waiting for every send: fans out queued events, then performs the
/// due deliveries (at most `limit`). Returns how many were delivered. For tests and
/// operators' one-off runs; `run` is the long-lived loop.
pub async fn deliver_due(
    core: &Stagecoach,
    transport: Arc<dyn Transport>,
    limit: i64,
) -> Result<usize, AppError> {
    core.fan_out_events(BATCH).await?;
    let mut sends = JoinSet::new();
    for delivery in core.claim_deliveries(limit).await? {
        let (core, transport) = (core.clone(), transport.clone());
        sends.spawn(async move { core.perform_delivery(delivery, transport.as_ref()).await });
    }
    let mut delivered = 0;
    while let Some(joined) = sends.join_next().await {
        let outcome = joined.expect("a delivery task panicked")?;
        delivered += usize::from(outcome == DeliveryOutcome::Delivered);
    }
    Ok(delivered)
}

/// One pass of AI turns, waiting for each: runs the due turns (at most `limit`) and
/// returns what each came to (`None`: put back to try later). For tests and operators'
/// one-off runs; `run` is the long-lived loop.
pub async fn answer_due(
    core: &Stagecoach,
    limit: i64,
) -> Result<Vec<Option<stagecoach_domain::ai::TurnOutcome>>, AppError> {
    let mut turns = JoinSet::new();
    for turn in core.claim_ai_turns(limit).await? {
        let core = core.clone();
        turns.spawn(async move { core.perform_ai_turn(turn).await });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = turns.join_next().await {
        outcomes.push(joined.expect("an AI turn panicked")?);
    }
    Ok(outcomes)
}
