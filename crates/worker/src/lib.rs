//! Background work. Today: firing due auto-advance timers. It runs inside `stagecoach serve`
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
        let pause = match core.run_due_auto_advances(BATCH).await {
            Ok(fired) if fired as i64 >= BATCH => Duration::ZERO,
            Ok(_) => POLL_INTERVAL,
            Err(error) => {
                tracing::error!(%error, "could not claim due auto-advances");
                POLL_INTERVAL
            }
        };
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(pause) => {}
        }
    }
    tracing::info!("worker stopped");
}
