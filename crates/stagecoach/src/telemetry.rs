use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Logs go to stderr, so stdout stays for what scripts read.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A failed log write must never reach a request: by default tracing reports its own
    // write errors with eprintln!, which panics when stderr is gone (a closed pipe, a full
    // disk, a restarted collector).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
}
