//! Background work: firing due auto-advance timers, applying lead writes queued by
//! TeleCRM's async API, and delivering webhooks. It runs inside `stagecoach serve` (or
//! alone with `--role worker`), on as many processes as there are; claims with leases make
//! sure each piece of work is done by one worker at a time, and a crashed worker's work
//! comes back when its lease ends.

mod http;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use stagecoach_app::{AppError, Stagecoach, Transport};
use tokio::task::JoinSet;

pub use http::{DEFAULT_TIMEOUT, HttpTransport, install_tls_provider};

/// How often the worker looks for due work.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How many timers (or queued writes, or events) one pass claims; a pass that fills it
/// runs again at once.
const BATCH: i64 = 500;

/// How many deliveries one worker has in flight at most.
pub const MAX_IN_FLIGHT: usize = 32;

/// Runs the worker's loops until `shutdown` completes; deliveries in flight finish first.
pub async fn run(
    core: Stagecoach,
    transport: Arc<dyn Transport>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tracing::info!("worker started");
    let timers = tokio::spawn(run_timers(core.clone(), stopped.clone()));
    let deliveries = tokio::spawn(run_deliveries(core, transport, stopped));
    shutdown.await;
    let _ = stop.send(true);
    let _ = tokio::join!(timers, deliveries);
    tracing::info!("worker stopped");
}

async fn until_stopped(stopped: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Whether a pass handled a full batch (so more is waiting); a failed pass is logged.
fn filled_batch(handled: Result<usize, AppError>, failure: &str) -> bool {
    match handled {
        Ok(handled) => handled as i64 >= BATCH,
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

async fn run_timers(core: Stagecoach, mut stopped: tokio::sync::watch::Receiver<bool>) {
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
            timers |= filled_batch(pass, "could not claim due auto-advances");
        }
        let leads = filled_batch(
            core.process_queued_lead_writes(BATCH).await,
            "could not claim queued lead writes",
        );
        tokio::select! {
            () = until_stopped(&mut stopped) => break,
            () = tokio::time::sleep(pause(timers || leads)) => {}
        }
    }
}

async fn run_deliveries(
    core: Stagecoach,
    transport: Arc<dyn Transport>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut in_flight = JoinSet::new();
    loop {
        let events_waiting =
            filled_batch(core.fan_out_events(BATCH).await, "could not fan out events");
        let room = MAX_IN_FLIGHT - in_flight.len();
        let claimed = if room == 0 {
            Vec::new()
        } else {
            core.claim_deliveries(room as i64)
                .await
                .unwrap_or_else(|error| {
                    tracing::error!(%error, "could not claim deliveries");
                    Vec::new()
                })
        };
        let deliveries_waiting = room > 0 && claimed.len() == room;
        for delivery in claimed {
            let (core, transport) = (core.clone(), transport.clone());
            in_flight.spawn(async move {
                let id = delivery.entry.id;
                if let Err(error) = core.perform_delivery(delivery, transport.as_ref()).await {
                    // The lease runs out and another pass tries again.
                    tracing::error!(outbox.id = %id, %error, "could not record a delivery");
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
        delivered += usize::from(joined.expect("a delivery task panicked")?);
    }
    Ok(delivered)
}
