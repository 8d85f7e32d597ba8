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
use stagecoach_api::rate_limit::{RateLimitSettings, RateLimits};
use stagecoach_app::{
    AiConfig, AiSettingsInput, AiSettingsView, DeliverySettings, ModelEndpoint, ProviderUrls,
    SecretBox, Stagecoach, SystemClock, Transport,
};
use stagecoach_domain::ai::{AiLimits, ModelCapabilities};
use stagecoach_domain::delivery::network::parse_allow_list;
use stagecoach_domain::delivery::retry::parse_schedule;
use stagecoach_worker::{
    HttpModelClient, HttpProviderClient, HttpTransport, WorkerMetrics, WorkerSettings,
};
use tokio::net::TcpListener;

use cli::{
    AiArgs, AiCommand, Cli, Command, DbCommand, LeadsCommand, MemberCommand, OrgCommand, Role,
    SecretKeyArgs, ServeArgs, TokenCommand,
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

/// Writes a line to stdout. A reader that went away (`stagecoach openapi | head`) ends the
/// output quietly instead of failing the command.
fn out(text: impl std::fmt::Display) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result.context("cannot write to stdout"),
    }
}

/// The database a URL names, as a person should read it: a SQLite file's absolute path,
/// or the URL without its password.
fn database_label(url: &str) -> String {
    match stagecoach_storage::sqlite_file(url) {
        Some(path) => std::path::absolute(&path)
            .unwrap_or(path)
            .display()
            .to_string(),
        None => redact(url),
    }
}

/// Admin commands act on an existing deployment: on a SQLite file that does not exist,
/// they stop instead of creating an empty database (run from the wrong folder, they would
/// otherwise report "not found" for everything).
fn require_existing_database(url: &str) -> anyhow::Result<()> {
    if let Some(path) = stagecoach_storage::sqlite_file(url)
        && !path.exists()
    {
        anyhow::bail!(
            "there is no database at {} (from {url:?}, relative to {}). Run the command in the \
             folder the server runs in, or pass --database-url (or STAGECOACH_DATABASE_URL); \
             `stagecoach migrate` creates a new database",
            database_label(url),
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| "the current folder".to_owned()),
        );
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // These commands must not open the database as the others do, which would create a
    // missing SQLite file and migrate it.
    match &cli.command {
        Command::Openapi => {
            return out(serde_json::to_string_pretty(
                &stagecoach_api::openapi::document(),
            )?);
        }
        Command::Backup(backup) => return run_backup(&cli.database_url, &backup.to).await,
        Command::Db(DbCommand::Copy { from, to }) => return run_copy(from, to).await,
        _ => {}
    }
    let creates_database = matches!(cli.command, Command::Serve(_) | Command::Migrate);
    if creates_database {
        tracing::info!(database = %database_label(&cli.database_url), "opening the database");
    } else {
        require_existing_database(&cli.database_url)?;
        // On stderr, so a script reading stdout gets only what it asked for.
        eprintln!("stagecoach: database {}", database_label(&cli.database_url));
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
                .with_secret_box(load_secret_key(&serve.secret_key)?)
                .with_outbound_allow_list(allowed.clone())
                .with_ai(ai_config(&serve.ai)?)
                .with_model_client(Arc::new(
                    HttpModelClient::new(allowed.clone())
                        .context("cannot set up the model HTTP client")?,
                ))
                .with_provider_client(Arc::new(
                    HttpProviderClient::new(
                        allowed.clone(),
                        std::time::Duration::from_secs(serve.delivery_timeout),
                    )
                    .context("cannot set up the provider HTTP client")?,
                ));
            let transport = HttpTransport::new(
                allowed,
                std::time::Duration::from_secs(serve.delivery_timeout),
            )
            .context("cannot set up the outbound HTTP client")?;
            let sealed = core
                .seal_plain_secrets()
                .await
                .context("cannot encrypt the secrets stored in plain text")?;
            if sealed > 0 {
                tracing::info!(
                    sealed,
                    "encrypted step webhook headers stored in plain text"
                );
            }
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
            out(org.id)
        }
        Command::Member(MemberCommand::Add {
            org,
            email,
            name,
            role,
        }) => {
            store.migrate().await?;
            let membership = core.add_member(org, &email, &name, role.into()).await?;
            out(membership.id)
        }
        Command::Member(MemberCommand::Remove { org, member }) => {
            store.migrate().await?;
            core.remove_member(org, member).await?;
            tracing::info!(member.id = %member, "member removed");
            Ok(())
        }
        Command::LoginLink {
            org,
            member,
            base_url,
        } => {
            store.migrate().await?;
            let link = core.create_login_link(org, member).await?;
            let base = base_url.as_str().trim_end_matches('/');
            out(format_args!("{base}/ui/login/link/{}", link.secret))
        }
        Command::Member(MemberCommand::List { org }) => {
            store.migrate().await?;
            out("MEMBERSHIP ID\tEMAIL\tNAME\tROLE\tAVAILABILITY")?;
            for member in core.list_members(org).await? {
                out(format_args!(
                    "{}\t{}\t{}\t{}\t{}",
                    member.id, member.email, member.name, member.role, member.availability
                ))?;
            }
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
            out(new.secret)
        }
        Command::Token(TokenCommand::List { org }) => {
            store.migrate().await?;
            let tokens = core.list_tokens(org).await?;
            out("ID\tNAME\tPREFIX\tTYPE\tSCOPES\tCREATED\tLAST USED\tREVOKED")?;
            for token in tokens {
                let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                    t.map_or("-".to_owned(), |t| t.to_rfc3339())
                };
                out(format_args!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    token.id,
                    token.name,
                    token.display_prefix,
                    token.token_type,
                    token.scopes.map_or("*".to_owned(), |s| s.join(",")),
                    token.created_at.to_rfc3339(),
                    time(token.last_used_at),
                    time(token.revoked_at),
                ))?;
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
            out(serde_json::to_string_pretty(&settings)?)
        }
        Command::Ai(AiCommand::Show { org }) => {
            store.migrate().await?;
            out(ai_settings_json(
                &core.organization_ai_settings(org).await?,
            )?)
        }
        Command::Ai(AiCommand::Set {
            org,
            base_url,
            model,
            api_key_file,
            no_api_key,
            supports,
            max_replies_per_hour,
            max_tokens_per_month,
        }) => {
            store.migrate().await?;
            let api_key = match (api_key_file, no_api_key) {
                (Some(path), _) => Some(Some(read_key_file(&path)?)),
                (None, true) => Some(None),
                (None, false) => None,
            };
            let input = AiSettingsInput {
                base_url,
                api_key,
                model,
                capabilities: ModelCapabilities::parse_list(&supports)
                    .map_err(|e| anyhow::anyhow!("--supports: {e}"))?,
                limits: AiLimits {
                    replies_per_conversation_per_hour: max_replies_per_hour,
                    tokens_per_month: max_tokens_per_month,
                },
            };
            let view = core.put_organization_ai_settings(org, input).await?;
            out(ai_settings_json(&view)?)
        }
        Command::Ai(AiCommand::Clear { org }) => {
            store.migrate().await?;
            core.delete_organization_ai_settings(org).await?;
            Ok(())
        }
        Command::Openapi | Command::Backup(_) | Command::Db(_) => {
            unreachable!("handled before opening the database")
        }
    };
    store.close().await;
    result
}

/// `stagecoach backup`: prints the written file's path, the one thing a script needs.
async fn run_backup(database_url: &str, to: &std::path::Path) -> anyhow::Result<()> {
    tracing::info!(database = %redact(database_url), to = %to.display(), "backing up");
    let url = database_url.to_owned();
    let to = to.to_owned();
    let written =
        tokio::task::spawn_blocking(move || stagecoach_storage::backup::backup_sqlite(&url, &to))
            .await??;
    tracing::info!(path = %written.display(), "backup written");
    out(written.display())
}

/// `stagecoach db copy`: a progress bar on stderr while rows are written (drawn only when
/// stderr is a terminal), then one line of logs per table.
async fn run_copy(from: &str, to: &str) -> anyhow::Result<()> {
    tracing::info!(from = %redact(from), to = %redact(to), "copying the database");
    let bar = CopyBar::new();
    let copied = stagecoach_storage::copy::copy_sqlite_to_postgres(from, to, &bar).await;
    bar.0.finish_and_clear();
    let report = copied?;
    for (table, rows) in &report.tables {
        tracing::info!(table = %table, rows, "copied");
    }
    let rows: u64 = report.tables.iter().map(|(_, rows)| rows).sum();
    tracing::info!(
        tables = report.tables.len(),
        rows,
        "copy committed; every table's row count matches the source"
    );
    Ok(())
}

struct CopyBar(indicatif::ProgressBar);

impl CopyBar {
    fn new() -> CopyBar {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(0),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:>24} [{bar:40}] {human_pos}/{human_len} rows, {eta} left",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        CopyBar(bar)
    }
}

impl stagecoach_storage::copy::CopyProgress for CopyBar {
    fn started(&self, total_rows: u64) {
        self.0.set_length(total_rows);
    }

    fn table(&self, table: &str) {
        self.0.set_message(table.to_owned());
    }

    fn copied(&self, rows: u64) {
        self.0.inc(rows);
    }
}

async fn run_server(
    core: Stagecoach,
    transport: Arc<dyn Transport>,
    serve: &ServeArgs,
) -> anyhow::Result<()> {
    let (listen, role) = (serve.listen.as_str(), serve.role);
    if role != Role::Worker
        && let Some(bootstrap) = core.bootstrap_if_empty().await?
    {
        show_bootstrap(&bootstrap, listen);
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
    let heartbeat = (role == Role::Api).then(|| {
        tokio::spawn(stagecoach_worker::beat_heartbeat(
            core.clone(),
            until_stopped(),
        ))
    });
    match listener {
        Some(listener) => {
            // Beats once before the first request: from then on, other servers take
            // this one's idempotent requests in flight for running (see the heartbeat).
            if let Err(error) = core.keep_leases().await {
                tracing::warn!(%error, "could not beat the server's first heartbeat");
            }
            let pages = stagecoach_web::router(core.clone(), until_stopped());
            let limits = Arc::new(RateLimits::new(RateLimitSettings {
                per_token: serve.rate_limit_per_token.0.clone(),
                per_organization: serve.rate_limit_per_org.0.clone(),
                per_channel: serve.rate_limit_per_channel.0.clone(),
            }));
            tokio::spawn({
                let limits = Arc::clone(&limits);
                async move {
                    loop {
                        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                        limits.forget_idle();
                    }
                }
            });
            stagecoach_api::serve(
                listener,
                core.clone(),
                http_metrics,
                limits,
                pages,
                until_stopped(),
            )
            .await?;
            // Keyed requests whose clients hung up run on detached: let them keep their
            // answers, while the heartbeat still says this server lives.
            let unfinished = core
                .finish_reserved_requests(std::time::Duration::from_secs(10))
                .await;
            if unfinished > 0 {
                tracing::warn!(
                    unfinished,
                    "stopping with idempotent requests still running: retries with their keys wait until this server's heartbeat lapses"
                );
            }
        }
        None => until_stopped().await,
    }
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    if let Some(heartbeat) = heartbeat {
        let _ = heartbeat.await;
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

/// The AI agent's server-wide settings, from `serve`'s flags.
fn ai_config(args: &AiArgs) -> anyhow::Result<AiConfig> {
    let server_endpoint = match &args.ai_base_url {
        None => None,
        Some(raw) => {
            let base_url = stagecoach_domain::ai::settings::normalize_base_url(raw)
                .map_err(|e| anyhow::anyhow!("--ai-base-url: {e}"))?;
            let api_key = match (&args.ai_api_key, &args.ai_api_key_file) {
                (Some(key), _) => Some(key.trim().to_owned()),
                (None, Some(path)) => Some(read_key_file(path)?),
                (None, None) => None,
            };
            Some(ModelEndpoint {
                base_url,
                api_key: api_key.filter(|k| !k.is_empty()),
                model: args.ai_model.clone(),
                capabilities: ModelCapabilities::parse_list(&args.ai_supports)
                    .map_err(|e| anyhow::anyhow!("--ai-supports: {e}"))?,
            })
        }
    };
    Ok(AiConfig {
        server_endpoint,
        reply_delay: std::time::Duration::from_millis(args.ai_reply_delay_ms),
        request_timeout: std::time::Duration::from_secs(args.ai_timeout.max(1)),
        deadline: std::time::Duration::from_secs(args.ai_deadline.max(1)),
        ..AiConfig::default()
    })
}

/// An API key from a file, without surrounding whitespace.
fn read_key_file(path: &std::path::Path) -> anyhow::Result<String> {
    let key = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the API key file {}", path.display()))?;
    Ok(key.trim().to_owned())
}

/// An organization's AI settings as `stagecoach ai` prints them (the key never).
fn ai_settings_json(view: &AiSettingsView) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&serde_json::json!({
        "source": view.source.as_str(),
        "baseUrl": view.base_url,
        "model": view.model,
        "supportsTools": view.capabilities.tools,
        "supportsJsonSchema": view.capabilities.json_schema,
        "hasApiKey": view.stored.as_ref().is_some_and(|s| s.has_api_key),
        "maxRepliesPerConversationPerHour": view.limits.replies_per_conversation_per_hour,
        "maxTokensPerMonth": view.limits.tokens_per_month,
        "tokensUsedThisMonth": view.tokens_this_month,
    }))?)
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
