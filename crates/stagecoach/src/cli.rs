use clap::{Args, Parser, Subcommand, ValueEnum};
use stagecoach_domain::enums::{MembershipRole, TokenType};
use stagecoach_domain::ids::{ApiTokenId, MembershipId, OrganizationId};

/// The default database: a SQLite file under ./data, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/stagecoach.db";

/// Stagecoach: a self-hosted conversational CRM.
#[derive(Debug, Parser)]
#[command(name = "stagecoach", version)]
pub struct Cli {
    /// The database: sqlite://PATH (created when missing) or postgres://USER@HOST/DB.
    #[arg(long, global = true, env = "STAGECOACH_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,

    /// How logs are written to stderr. The level comes from RUST_LOG (default: info).
    #[arg(long, global = true, env = "STAGECOACH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// Parsed once at start: the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (migrates the database first, unless told not to).
    Serve(ServeArgs),
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Organizations (tenants).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Members of an organization.
    #[command(subcommand)]
    Member(MemberCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print a link that signs a browser in to the web UI as a member: valid 10 minutes,
    /// usable once. The session acts as the member, with their role's rights.
    LoginLink {
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
        /// The membership id (`stagecoach member list` prints it).
        #[arg(long, value_parser = parse_member)]
        member: MembershipId,
        /// Where browsers reach the server.
        #[arg(
            long,
            env = "STAGECOACH_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        base_url: url::Url,
    },
    /// Lead settings (fields, pipeline, custom action types).
    #[command(subcommand)]
    Leads(LeadsCommand),
    /// An organization's AI settings: its model endpoint and limits.
    #[command(subcommand)]
    Ai(AiCommand),
    /// Print the OpenAPI document.
    Openapi,
    /// Write a consistent copy of a SQLite database to a new file, while the server runs;
    /// prints the file's path.
    Backup(BackupArgs),
    /// Whole-database tools.
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The file to write. It must not exist yet: a backup never replaces a file.
    #[arg(long)]
    pub to: std::path::PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy a SQLite deployment into an empty PostgreSQL database, migrating it first.
    /// The source is only read; stop the server first, or writes made during the copy
    /// stay behind.
    Copy {
        /// The SQLite database to copy: sqlite://PATH.
        #[arg(long)]
        from: String,
        /// The empty PostgreSQL database to fill: postgres://USER@HOST/DB.
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "STAGECOACH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// What this process does: `all` serves HTTP and runs background work, `api` only
    /// serves HTTP, `worker` only runs background work (timers, queued writes, deliveries).
    #[arg(long, env = "STAGECOACH_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,
    /// The most bytes a conversation's CRM data may take (serialized JSON).
    #[arg(long, env = "STAGECOACH_MAX_CRM_DATA_BYTES", default_value_t = stagecoach_app::DEFAULT_CRM_DATA_LIMIT)]
    pub max_crm_data_bytes: usize,
    /// Serve Prometheus metrics at /metrics on this address (off when not given). A
    /// listener of its own, apart from the API's, so it can stay on a private network.
    #[arg(long, env = "STAGECOACH_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Days to keep outbox rows once delivered or failed, with their delivery attempts;
    /// the worker prunes older ones. `off` keeps them for good.
    #[arg(long, env = "STAGECOACH_RETENTION_DAYS", default_value = "30", value_parser = parse_retention_days)]
    pub retention_days: RetentionDays,
    /// Requests one API token may make: `N/s`, `N/min` or `N/h` (N at once, refilled
    /// evenly over the unit), or `off`. Beyond it the API answers 429 with `Retry-After`.
    /// Counted per process: each node behind a load balancer counts its own share.
    #[arg(long, env = "STAGECOACH_RATE_LIMIT_PER_TOKEN", default_value = "6000/min", value_parser = parse_rate)]
    pub rate_limit_per_token: RateSetting,
    /// Requests one organization may make with all its tokens together; as above.
    #[arg(long, env = "STAGECOACH_RATE_LIMIT_PER_ORG", default_value = "30000/min", value_parser = parse_rate)]
    pub rate_limit_per_org: RateSetting,
    /// Notifications one provider channel may post to its webhook; as above.
    #[arg(long, env = "STAGECOACH_RATE_LIMIT_PER_CHANNEL", default_value = "6000/min", value_parser = parse_rate)]
    pub rate_limit_per_channel: RateSetting,
    /// Do not apply migrations at start (run `stagecoach migrate` yourself).
    #[arg(long, env = "STAGECOACH_NO_MIGRATE")]
    pub no_migrate: bool,
    /// Networks outbound deliveries may reach although they are private, loopback or
    /// otherwise internal: CIDRs separated by commas (`10.1.0.0/16,127.0.0.1/32`).
    #[arg(long, env = "STAGECOACH_OUTBOUND_ALLOW_CIDRS", default_value = "")]
    pub outbound_allow_cidrs: String,
    /// Waits between delivery attempts, separated by commas; after the last, a delivery
    /// is marked failed.
    #[arg(
        long,
        env = "STAGECOACH_DELIVERY_SCHEDULE",
        default_value = "5s,5m,30m,2h,5h,10h,10h"
    )]
    pub delivery_schedule: String,
    /// Seconds a receiver has to answer a delivery.
    #[arg(long, env = "STAGECOACH_DELIVERY_TIMEOUT", default_value_t = 15)]
    pub delivery_timeout: u64,
    /// WhatsApp Cloud API base, up to the version.
    #[arg(
        long,
        env = "STAGECOACH_WHATSAPP_API_URL",
        default_value = "https://graph.facebook.com/v21.0"
    )]
    pub whatsapp_api_url: String,
    /// Z-API base.
    #[arg(
        long,
        env = "STAGECOACH_ZAPI_API_URL",
        default_value = "https://api.z-api.io"
    )]
    pub zapi_api_url: String,
    #[command(flatten)]
    pub secret_key: SecretKeyArgs,
    #[command(flatten)]
    pub ai: AiArgs,
}

/// The AI agent: the model endpoint of organizations without their own, and how turns run.
#[derive(Debug, Args)]
pub struct AiArgs {
    /// An OpenAI-compatible Chat Completions base URL (`https://api.openai.com/v1`, or
    /// `http://127.0.0.1:11434/v1` for Ollama) for organizations without their own.
    /// Without it, only organizations with their own endpoint get AI answers.
    #[arg(long, env = "STAGECOACH_AI_BASE_URL")]
    pub ai_base_url: Option<String>,
    /// The endpoint's API key. Prefer the key file or the environment: command lines are
    /// visible to other users of the machine.
    #[arg(long, env = "STAGECOACH_AI_API_KEY", hide_env_values = true)]
    pub ai_api_key: Option<String>,
    /// A file holding the endpoint's API key.
    #[arg(
        long,
        env = "STAGECOACH_AI_API_KEY_FILE",
        conflicts_with = "ai_api_key"
    )]
    pub ai_api_key_file: Option<std::path::PathBuf>,
    /// The model agents use unless they name their own.
    #[arg(long, env = "STAGECOACH_AI_MODEL", default_value = stagecoach_domain::agent::DEFAULT_MODEL_NAME)]
    pub ai_model: String,
    /// What the endpoint supports beyond plain chat, comma-separated: `tools` (named
    /// tool_choice), `json_schema` (structured output). Without either, the decision is
    /// asked for as JSON in the text.
    #[arg(long, env = "STAGECOACH_AI_SUPPORTS", default_value = "")]
    pub ai_supports: String,
    /// How long a turn waits after the contact's last message, so a burst is answered once.
    #[arg(long, env = "STAGECOACH_AI_REPLY_DELAY_MS", default_value_t = 3000)]
    pub ai_reply_delay_ms: u64,
    /// Seconds one model call may take.
    #[arg(long, env = "STAGECOACH_AI_TIMEOUT", default_value_t = 60)]
    pub ai_timeout: u64,
    /// Seconds after the contact's message within which an answer may still be sent;
    /// after them a person takes over.
    #[arg(long, env = "STAGECOACH_AI_DEADLINE", default_value_t = 120)]
    pub ai_deadline: u64,
}

/// The key stored secrets (webhook signing secrets, channel tokens) are encrypted with.
/// Every process of one deployment needs the same key.
#[derive(Debug, Args)]
pub struct SecretKeyArgs {
    /// The key itself: 32 bytes, base64. Takes precedence over the key file.
    #[arg(
        long = "secret-key",
        env = "STAGECOACH_SECRET_KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,
    /// A file holding the key; created with a fresh key when missing.
    #[arg(
        long = "secret-key-file",
        env = "STAGECOACH_SECRET_KEY_FILE",
        default_value = "data/secret.key"
    )]
    pub file: std::path::PathBuf,
}

/// How long settled outbox rows are kept: some whole days, or for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionDays {
    Days(u16),
    Off,
}

impl RetentionDays {
    pub fn as_duration(self) -> Option<std::time::Duration> {
        match self {
            RetentionDays::Days(days) => Some(std::time::Duration::from_secs(
                u64::from(days) * 24 * 60 * 60,
            )),
            RetentionDays::Off => None,
        }
    }
}

/// A rate limit setting: a rate, or `off`.
#[derive(Debug, Clone)]
pub struct RateSetting(pub Option<stagecoach_api::rate_limit::Rate>);

fn parse_rate(text: &str) -> Result<RateSetting, String> {
    stagecoach_api::rate_limit::parse_setting(text).map(RateSetting)
}

/// A number of days from 1 on, or `off`. Zero is refused rather than guessed at: it could
/// mean "keep nothing" as well as "never prune".
fn parse_retention_days(text: &str) -> Result<RetentionDays, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(RetentionDays::Off);
    }
    match text.parse::<u16>() {
        Ok(0) => Err(
            "0 is ambiguous: give a number of days from 1, or `off` to keep rows for good".into(),
        ),
        Ok(days) => Ok(RetentionDays::Days(days)),
        Err(_) => Err(format!(
            "{text:?} is not a number of days (1 to {}) or `off`",
            u16::MAX
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    All,
    Api,
    Worker,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization; prints its id.
    Create {
        #[arg(long)]
        name: String,
        /// Country calling code for phone numbers written without one (e.g. 55).
        #[arg(long)]
        default_calling_code: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// List an organization's members after a header row, tab-separated: membership id
    /// (what `selectedMembershipIdsForAssignee` takes), e-mail, name, role, availability.
    List {
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
    },
    /// Add a member to an organization; prints the membership id.
    Add {
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value_t = MemberRole::User)]
        role: MemberRole,
    },
    /// Remove a member: their assignments, web sessions and sign-in links go with them.
    Remove {
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
        #[arg(long, value_parser = parse_member)]
        member: MembershipId,
    },
}

#[derive(Debug, Subcommand)]
pub enum LeadsCommand {
    /// Print an organization's lead settings as JSON, or replace them with a file's.
    Settings {
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
        /// A JSON file with the new settings (the shape `leads settings` prints).
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AiCommand {
    /// Print an organization's AI settings as JSON: where its turns go, its limits, and
    /// the tokens used this month.
    Show {
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
    },
    /// Set an organization's own model endpoint and limits, replacing what was set (the
    /// API key is kept unless a new one is given); prints the settings.
    Set {
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
        /// An OpenAI-compatible Chat Completions base URL. Without it, the server's
        /// default endpoint serves the organization (with these limits and model).
        #[arg(long)]
        base_url: Option<String>,
        /// The model agents use unless they name their own.
        #[arg(long)]
        model: Option<String>,
        /// A file holding the endpoint's API key (stored encrypted, never shown).
        #[arg(long)]
        api_key_file: Option<std::path::PathBuf>,
        /// Remove the stored API key.
        #[arg(long, conflicts_with = "api_key_file")]
        no_api_key: bool,
        /// What the endpoint supports, comma-separated: `tools`, `json_schema`.
        #[arg(long, default_value = "")]
        supports: String,
        /// AI replies one conversation may get per hour; past it, a person takes over.
        #[arg(long, default_value_t = stagecoach_domain::ai::settings::DEFAULT_REPLIES_PER_CONVERSATION_PER_HOUR)]
        max_replies_per_hour: i64,
        /// Tokens the organization may use per calendar month; past it, a person takes
        /// over. Without it, no limit.
        #[arg(long)]
        max_tokens_per_month: Option<i64>,
    },
    /// Remove an organization's own AI settings: the server's default serves it.
    Clear {
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; prints the token, which is shown only this once.
    Create {
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
        #[arg(long)]
        name: String,
        /// Restrict the token to a scope (repeat for several). Without any, full access.
        /// Stagecoach's scopes are `AREA:read` and `AREA:write` (write includes read) for
        /// the areas scenarios, conversations, contacts, leads, webhooks and admin; Texter's
        /// names ("List all chats", …) open only Texter's endpoints that Texter gives them.
        #[arg(long = "scope", value_parser = parse_scope)]
        scopes: Vec<String>,
        /// `sync` tokens call the APIs; `async` tokens only feed queued ingestion.
        #[arg(long = "type", value_enum, default_value_t = TokenKind::Sync)]
        token_type: TokenKind,
    },
    /// List an organization's tokens after a header row, one per line, tab-separated: id,
    /// name, prefix, type, scopes (comma-separated, `*` for full access), created, last
    /// used, revoked.
    List {
        #[arg(long, value_parser = parse_org)]
        org: OrganizationId,
    },
    /// Revoke an API token by its id; it stops working at once.
    Revoke {
        #[arg(value_parser = parse_token_id)]
        token_id: ApiTokenId,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MemberRole {
    Owner,
    Admin,
    User,
}

impl From<MemberRole> for MembershipRole {
    fn from(role: MemberRole) -> Self {
        match role {
            MemberRole::Owner => MembershipRole::Owner,
            MemberRole::Admin => MembershipRole::Admin,
            MemberRole::User => MembershipRole::User,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TokenKind {
    Sync,
    Async,
}

impl From<TokenKind> for TokenType {
    fn from(kind: TokenKind) -> Self {
        match kind {
            TokenKind::Sync => TokenType::Sync,
            TokenKind::Async => TokenType::Async,
        }
    }
}

fn parse_org(text: &str) -> Result<OrganizationId, String> {
    OrganizationId::parse(text).ok_or_else(|| format!("{text:?} is not an organization id"))
}

fn parse_member(text: &str) -> Result<MembershipId, String> {
    MembershipId::parse(text).ok_or_else(|| format!("{text:?} is not a membership id"))
}

fn parse_scope(text: &str) -> Result<String, String> {
    if stagecoach_domain::scope::is_valid_name(text) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not a scope; the scopes are: {}",
            stagecoach_domain::scope::valid_names()
                .iter()
                .map(|name| format!("{name:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

fn parse_token_id(text: &str) -> Result<ApiTokenId, String> {
    ApiTokenId::parse(text).ok_or_else(|| format!("{text:?} is not a token id"))
}

#[cfg(test)]
mod tests {
    use super::{RetentionDays, parse_retention_days};

    #[test]
    fn retention_is_days_or_off_never_zero() {
        assert_eq!(parse_retention_days("30"), Ok(RetentionDays::Days(30)));
        assert_eq!(parse_retention_days("OFF"), Ok(RetentionDays::Off));
        assert!(parse_retention_days("0").unwrap_err().contains("off"));
        assert!(parse_retention_days("-1").is_err());
        assert!(parse_retention_days("7d").is_err());
        assert!(parse_retention_days("70000").is_err());
        assert_eq!(
            RetentionDays::Days(2).as_duration(),
            Some(std::time::Duration::from_secs(2 * 86_400))
        );
        assert_eq!(RetentionDays::Off.as_duration(), None);
    }
}
