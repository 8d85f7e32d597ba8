//! Background work: firing due auto-advance timers, and applying lead writes queued by
//! TeleCRM's async API. It runs inside `stagecoach serve`
//! (or alone with `--role worker`), on as many processes as there are; the timers' claims
//! make sure each fires once.

use std::future::Future;
use std::time::Duration;

use stagecoach_app::Stagecoach;

/// How often the worker looks for due timers.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How many timers one pass claims; a pass that fills it runs again at once.
const BATCH: i64 = 500;

/// Fires due auto-advances until `shutdown` completes.
pub async fn run(core: Stagecoach, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    tracing::info!("worker started");
    loop {
        let timers = match core.run_due_auto_advances(BATCH).await {
            Ok(fired) => fired as i64 >= BATCH,
            Err(error) => {
                tracing::error!(%error, "could not claim due auto-advances");
                false
            }
        };
        let leads = match core.process_queued_lead_writes(BATCH).await {
            Ok(applied) => applied as i64 >= BATCH,
            Err(error) => {
                tracing::error!(%error, "could not claim queued lead writes");
                false
            }
        };
        // A full batch means more is waiting: go again at once.
        let pause = if timers || leads {
            Duration::ZERO
        } else {
            POLL_INTERVAL
        };
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(pause) => {}
        }
    }
    tracing::info!("worker stopped");
}
