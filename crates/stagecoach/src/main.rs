//! `stagecoach`: one binary to serve the API, migrate the database and administer
//! organizations, members and tokens.
//!
//! Admin commands print what a script needs on stdout and nothing else; logs go to stderr.

mod cli;
mod telemetry;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use stagecoach_api::metrics::HttpMetrics;
use stagecoach_app::{
    DeliverySettings, ProviderUrls, SecretBox, Stagecoach, SystemClock, Transport,
};
use stagecoach_domain::delivery::network::parse_allow_list;
use stagecoach_domain::delivery::retry::parse_schedule;
use stagecoach_worker::{HttpTransport, WorkerMetrics, WorkerSettings};
use tokio::net::TcpListener;

use cli::{
    Cli, Command, LeadsCommand, MemberCommand, OrgCommand, Role, SecretKeyArgs, ServeArgs,
    TokenCommand,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Openapi = cli.command {
        println!(
            "{}",
            serde_json::to_string_pretty(&stagecoach_api::openapi::document())?
        );
        return Ok(());
    }
    let store = stagecoach_storage::connect(&cli.database_url)
        .await
        .with_context(|| format!("cannot open the database at {}", redact(&cli.database_url)))?;
    let core = Stagecoach::new(store.clone(), Arc::new(SystemClock));
    let result = match cli.command {
        Command::Serve(serve) => {
            if !serve.no_migrate {
                store
                    .migrate()
                    .await
                    .context("cannot migrate the database")?;
            }
            let schedule = parse_schedule(&serve.delivery_schedule)
                .map_err(|e| anyhow::anyhow!("--delivery-schedule: {e}"))?;
            let allowed = parse_allow_list(&serve.outbound_allow_cidrs)
                .map_err(|e| anyhow::anyhow!("--outbound-allow-cidrs: {e}"))?;
            let core = core
                .with_crm_data_limit(serve.max_crm_data_bytes)
                .with_delivery_settings(DeliverySettings {
                    schedule,
                    providers: ProviderUrls {
                        whatsapp: serve.whatsapp_api_url.clone(),
                        zapi: serve.zapi_api_url.clone(),
                    },
                })
                .with_secret_box(load_secret_key(&serve.secret_key)?);
            let transport = HttpTransport::new(
                allowed,
                std::time::Duration::from_secs(serve.delivery_timeout),
            )
            .context("cannot set up the outbound HTTP client")?;
            run_server(core, Arc::new(transport), &serve).await
        }
        Command::Migrate => {
            store
                .migrate()
                .await
                .context("cannot migrate the database")?;
            tracing::info!("database migrated");
            Ok(())
        }
        Command::Org(OrgCommand::Create {
            name,
            default_calling_code,
        }) => {
            store.migrate().await?;
            let org = core
                .create_organization(&name, default_calling_code.as_deref())
                .await?;
            println!("{}", org.id);
            Ok(())
        }
        Command::Member(MemberCommand::Add {
            org,
            email,
            name,
            role,
        }) => {
            store.migrate().await?;
            let membership = core.add_member(org, &email, &name, role.into()).await?;
            println!("{}", membership.id);
            Ok(())
        }
        Command::Token(TokenCommand::Create {
            org,
            name,
            scopes,
            token_type,
        }) => {
            store.migrate().await?;
            let scopes = (!scopes.is_empty()).then_some(scopes);
            let new = core
                .create_token(org, &name, scopes, token_type.into())
                .await?;
            println!("{}", new.secret);
            Ok(())
        }
        Command::Token(TokenCommand::List { org }) => {
            store.migrate().await?;
            for token in core.list_tokens(org).await? {
                let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                    t.map_or("-".to_owned(), |t| t.to_rfc3339())
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    token.id,
                    token.name,
                    token.display_prefix,
                    token.token_type,
                    token.scopes.map_or("*".to_owned(), |s| s.join(",")),
                    token.created_at.to_rfc3339(),
                    time(token.last_used_at),
                    time(token.revoked_at),
                );
            }
            Ok(())
        }
        Command::Token(TokenCommand::Revoke { token_id }) => {
            store.migrate().await?;
            let token = core.revoke_token(token_id).await?;
            tracing::info!(token.id = %token.id, token.name = %token.name, "token revoked");
            Ok(())
        }
        Command::Leads(LeadsCommand::Settings { org, file }) => {
            store.migrate().await?;
            let settings = match file {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    let wanted = serde_json::from_str(&text).with_context(|| {
                        format!("{} is not a lead settings document", path.display())
                    })?;
                    core.save_lead_settings(org, wanted).await?
                }
                None => core.lead_settings_of(org).await?,
            };
            println!("{}", serde_json::to_string_pretty(&settings)?);
            Ok(())
        }
        Command::Openapi => unreachable!("handled before opening the database"),
    };
    store.close().await;
    result
}

async fn run_server(
    core: Stagecoach,
    transport: Arc<dyn Transport>,
    serve: &ServeArgs,
) -> anyhow::Result<()> {
    let (listen, role) = (serve.listen.as_str(), serve.role);
    if role != Role::Worker {
        if let Some(bootstrap) = core.bootstrap_if_empty().await? {
            show_bootstrap(&bootstrap, listen);
        }
    }
    // Both listeners are bound before anything runs, so a taken address stops the start.
    let listener = if role == Role::Worker {
        None
    } else {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!(address = %listener.local_addr()?, "serving HTTP");
        Some(listener)
    };
    let metrics_listener = match &serve.metrics_listen {
        Some(address) => {
            let metrics_listener = TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen for metrics on {address}"))?;
            tracing::info!(
                metrics.address = %metrics_listener.local_addr()?,
                "serving metrics at /metrics"
            );
            Some(metrics_listener)
        }
        None => None,
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let signal = tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    // Each part counts into the registry when it runs here; without a metrics listener
    // nothing is counted, as no one could read it.
    let mut registry = stagecoach_api::metrics::registry();
    let (http_metrics, worker_metrics) = match metrics_listener {
        Some(_) => (
            (role != Role::Worker).then(|| HttpMetrics::register(&mut registry)),
            if role == Role::Api {
                WorkerMetrics::default()
            } else {
                WorkerMetrics::register(&mut registry)
            },
        ),
        None => (None, WorkerMetrics::default()),
    };
    let metrics_server = metrics_listener.map(|listener| {
        tokio::spawn(stagecoach_api::metrics::serve_metrics(
            listener,
            core.clone(),
            Arc::new(registry),
            until_stopped(),
        ))
    });
    let worker = (role != Role::Api).then(|| {
        tokio::spawn(stagecoach_worker::run(
            core.clone(),
            transport,
            WorkerSettings {
                retention: serve.retention_days.as_duration(),
                metrics: worker_metrics,
            },
            until_stopped(),
        ))
    });
    match listener {
        Some(listener) => {
            stagecoach_api::serve(listener, core, http_metrics, until_stopped()).await?;
        }
        None => until_stopped().await,
    }
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    if let Some(metrics_server) = metrics_server {
        match metrics_server.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "the metrics listener failed"),
            Err(error) => tracing::error!(%error, "the metrics listener panicked"),
        }
    }
    signal.abort();
    tracing::info!("stopped");
    Ok(())
}

/// The server's secret key: given, read from its file, or generated into a new file
/// (readable by its owner only).
fn load_secret_key(args: &SecretKeyArgs) -> anyhow::Result<SecretBox> {
    if let Some(key) = &args.key {
        return SecretBox::from_base64(key).context("--secret-key");
    }
    let path = &args.file;
    match std::fs::read_to_string(path) {
        Ok(text) => SecretBox::from_base64(&text)
            .with_context(|| format!("the secret key file {}", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretBox::generate_key();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(path)
                .with_context(|| format!("cannot create the secret key file {}", path.display()))?;
            std::io::Write::write_all(&mut file, format!("{key}\n").as_bytes())?;
            tracing::warn!(path = %path.display(), "generated a new secret key; back it up with the database");
            Ok(SecretBox::from_base64(&key)?)
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Shows the bootstrap token once, on stdout rather than in the logs, which may be kept
/// and shipped. A stdout that cannot be written to must not stop the server.
fn show_bootstrap(bootstrap: &stagecoach_app::Bootstrap, listen: &str) {
    use std::io::Write;
    let shown = writeln!(
        std::io::stdout(),
        "\nStagecoach created organization {} (\"{}\") and an API token for it.\n\
         It is shown only this once; keep it somewhere safe:\n\n    {}\n\n\
         Try: curl -H 'Authorization: Bearer {}' http://{}/crm/scenario\n",
        bootstrap.organization.id,
        bootstrap.organization.name,
        bootstrap.token.secret,
        bootstrap.token.secret,
        listen,
    )
    .and_then(|()| std::io::stdout().flush());
    if shown.is_err() {
        tracing::warn!(
            organization.id = %bootstrap.organization.id,
            "could not print the bootstrap token; create one with `stagecoach token create`"
        );
    }
}

/// Completes on Ctrl-C or SIGTERM, so in-flight requests can finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// A database URL without its password, fit for an error message.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
