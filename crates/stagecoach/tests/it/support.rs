//! The test harness: a server per test on a fresh database, a client for it, and a
//! validator for Chatvolt's OpenAPI response schemas.

use stagecoach_api::rate_limit::{RateLimitSettings, RateLimits};
use std::sync::{Arc, LazyLock};

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use stagecoach_app::{ManualClock, Stagecoach};
use stagecoach_domain::enums::{MembershipRole, TokenType};
use stagecoach_domain::ids::{MembershipId, OrganizationId};
use tokio::sync::oneshot;

pub const POSTGRES_ENV: &str = "STAGECOACH_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named test function (`async fn(TestApp)`) once per backend.
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use $crate::support::{Backend, TestApp};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = TestApp::start(Backend::Sqlite).await.expect("SQLite is always available");
                super::$name(app.clone()).await;
                app.cleanup().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = TestApp::start(Backend::Postgres).await else { return };
                super::$name(app.clone()).await;
                app.cleanup().await;
            }
        }
    )+};
}

/// A fresh database for one test: its URL, and what must be dropped afterwards.
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    postgres_schema: Option<(String, String)>,
    _folder: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// `None` when PostgreSQL is asked for but not configured (outside CI only: in CI a
    /// missing URL is a failure, never a silent skip).
    pub async fn create(backend: Backend) -> Option<TestDatabase> {
        match backend {
            Backend::Sqlite => {
                let folder = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", folder.path().join("test.db").display());
                Some(TestDatabase {
                    url,
                    backend,
                    postgres_schema: None,
                    _folder: Some(folder),
                })
            }
            Backend::Postgres => {
                let base = match std::env::var(POSTGRES_ENV) {
                    Ok(url) if !url.is_empty() => url,
                    _ => {
                        assert!(
                            std::env::var_os("CI").is_none(),
                            "{POSTGRES_ENV} must be set in CI"
                        );
                        eprintln!("skipped: set {POSTGRES_ENV} to run the PostgreSQL variant");
                        return None;
                    }
                };
                let schema = format!("sc_test_{}", uuid_simple());
                let mut conn = connect_pg(&base).await;
                install_trigram_extension(&mut conn).await;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test schema");
                let separator = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
                Some(TestDatabase {
                    url,
                    backend,
                    postgres_schema: Some((base, schema)),
                    _folder: None,
                })
            }
        }
    }

    /// The same database once more, for a second server on it (a restart); this handle
    /// neither owns nor drops it.
    pub fn again(&self) -> TestDatabase {
        TestDatabase {
            url: self.url.clone(),
            backend: self.backend,
            postgres_schema: None,
            _folder: None,
        }
    }

    /// The SQLite file, for a SQLite database.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self.url
            .strip_prefix("sqlite://")
            .map(std::path::PathBuf::from)
    }

    /// Runs one statement on the database, outside the app, as an operator's tool would;
    /// answers the first column of the first row, as text, when it selects one.
    pub async fn raw_sql(&self, statement: &str) -> Option<String> {
        use sqlx::Connection;
        let statement = sqlx::AssertSqlSafe(statement.to_owned());
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(statement)
                    .fetch_optional(&mut conn)
                    .await
                    .unwrap()
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(statement)
                    .fetch_optional(&mut conn)
                    .await
                    .unwrap()
            }
        }
    }

    pub async fn drop_schema(&self) {
        if let Some((base, schema)) = &self.postgres_schema {
            let mut conn = connect_pg(base).await;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .execute(&mut conn)
            .await
            .expect("drop test schema");
        }
    }
}

/// Migration 0009 installs pg_trgm where it is missing, in the first schema on the search
/// path. A test's path holds only its own schema, and an extension installed there would
/// be dropped with it, with every other test's indexes that use it. So the extension is
/// installed in `public` before any test migrates.
async fn install_trigram_extension(conn: &mut sqlx::PgConnection) {
    let created = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        .execute(&mut *conn)
        .await;
    if let Err(error) = created {
        // Test processes start together: another one may have installed it meanwhile.
        let installed: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')",
        )
        .fetch_one(&mut *conn)
        .await
        .expect("read pg_extension");
        assert!(installed, "cannot install pg_trgm: {error}");
    }
}

async fn connect_pg(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_ENV}: {e}"))
}

pub fn uuid_simple() -> String {
    OrganizationId::new().0.simple().to_string()
}

/// The server key of every test app, base64: a second instance on the same database (or
/// a `stagecoach serve` process) must be able to open the secrets the first stored.
pub const SECRET_KEY: &str = "c3RhZ2Vjb2FjaC10ZXN0LWtleS0zMi1ieXRlcy1sb24=";

pub fn secret_box() -> stagecoach_app::SecretBox {
    stagecoach_app::SecretBox::from_base64(SECRET_KEY).unwrap()
}

/// One running server with one organization and a token for it.
#[derive(Clone)]
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub token: String,
    pub org: OrganizationId,
    pub core: Stagecoach,
    /// The app's clock: it moves only when a test moves it.
    pub clock: Arc<ManualClock>,
    pub db: Arc<TestDatabase>,
    shutdown: Arc<std::sync::Mutex<Option<oneshot::Sender<()>>>>,
}

impl TestApp {
    pub async fn start(backend: Backend) -> Option<TestApp> {
        let db = TestDatabase::create(backend).await?;
        // Whole milliseconds: what the app stores, so what tests compute matches what it answers.
        let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 3);
        let mut app = TestApp::serve(db, OrganizationId::new(), String::new(), now).await;
        app.org = app
            .core
            .create_organization("Test org", None)
            .await
            .expect("org")
            .id;
        app.token = app
            .core
            .create_token(app.org, "test", None, TokenType::Sync)
            .await
            .expect("token")
            .secret;
        Some(app)
    }

    /// A server on a database that already holds `org`, whose `token` the test knows (a
    /// copy or a backup of another test app's database), with its clock at `now`.
    pub async fn serve(
        db: TestDatabase,
        org: OrganizationId,
        token: String,
        now: chrono::DateTime<chrono::Utc>,
    ) -> TestApp {
        TestApp::serve_with(db, org, token, now, |core| core, RateLimits::unlimited()).await
    }

    /// A second server on this app's database, organization and token, holding its
    /// callers to `limits`.
    pub async fn limited(&self, limits: RateLimitSettings) -> TestApp {
        let now = stagecoach_app::Clock::now(self.clock.as_ref());
        TestApp::serve_with(
            self.db.again(),
            self.org,
            self.token.clone(),
            now,
            |core| core,
            RateLimits::new(limits),
        )
        .await
    }

    /// A second server on this app's database, organization and token, its core changed
    /// by `configure` (a server started with other settings). Its clock starts at this
    /// app's time.
    pub async fn beside(&self, configure: impl FnOnce(Stagecoach) -> Stagecoach) -> TestApp {
        let now = stagecoach_app::Clock::now(self.clock.as_ref());
        TestApp::serve_with(
            self.db.again(),
            self.org,
            self.token.clone(),
            now,
            configure,
            RateLimits::unlimited(),
        )
        .await
    }

    async fn serve_with(
        db: TestDatabase,
        org: OrganizationId,
        token: String,
        now: chrono::DateTime<chrono::Utc>,
        configure: impl FnOnce(Stagecoach) -> Stagecoach,
        limits: RateLimits,
    ) -> TestApp {
        // One reqwest build serves the tests' client and the worker's: both need rustls' provider.
        stagecoach_worker::install_tls_provider();
        let store = stagecoach_storage::connect(&db.url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let clock = Arc::new(ManualClock::new(now));
        // As a server started with --outbound-allow-cidrs 127.0.0.1/32, so tests' receivers
        // on loopback can be subscribed.
        let loopback = vec!["127.0.0.1/32".parse().unwrap()];
        let core = Stagecoach::new(store, clock.clone())
            .with_secret_box(secret_box())
            .with_outbound_allow_list(loopback.clone())
            .with_model_client(Arc::new(
                stagecoach_worker::HttpModelClient::new(loopback.clone()).expect("model client"),
            ))
            .with_provider_client(Arc::new(
                stagecoach_worker::HttpProviderClient::new(
                    loopback,
                    std::time::Duration::from_secs(5),
                )
                .expect("provider client"),
            ));
        let core = configure(core);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let server_core = core.clone();
        tokio::spawn(async move {
            // One stop signal for the server and its live pages.
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let until_stopped = move || {
                let mut stopped = stopped.clone();
                async move {
                    let _ = stopped.wait_for(|s| *s).await;
                }
            };
            tokio::spawn(async move {
                let _ = rx.await;
                stop.send_replace(true);
            });
            let pages = stagecoach_web::router(server_core.clone(), until_stopped());
            stagecoach_api::serve(
                listener,
                server_core,
                None,
                Arc::new(limits),
                pages,
                until_stopped(),
            )
            .await
            .expect("server");
        });
        TestApp {
            base,
            client: reqwest::Client::new(),
            token,
            org,
            core,
            clock,
            db: Arc::new(db),
            shutdown: Arc::new(std::sync::Mutex::new(Some(tx))),
        }
    }

    /// A second server beside this one whose providers' APIs (WhatsApp's Cloud API,
    /// Z-API) are at `base`, a stand-in: the API's own calls to them go there.
    pub async fn with_providers_at(&self, base: &str) -> TestApp {
        let settings = stagecoach_app::DeliverySettings {
            providers: stagecoach_app::ProviderUrls {
                whatsapp: format!("{base}/v21.0"),
                zapi: base.to_owned(),
            },
            ..stagecoach_app::DeliverySettings::default()
        };
        self.beside(|core| core.with_delivery_settings(settings))
            .await
    }

    /// Stops the server and closes its store, keeping the database (and its folder).
    pub async fn stop(&self) {
        if let Some(tx) = self.shutdown.lock().unwrap().take() {
            let _ = tx.send(());
        }
        self.core.store().close().await;
    }

    pub async fn cleanup(&self) {
        self.stop().await;
        self.db.drop_schema().await;
    }

    /// A request with this app's token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_as(&self.token, method, path)
    }

    pub fn request_as(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    /// Sends a JSON body and returns the status and the JSON answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(&self.token, method, path, body).await
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.request_as(token, method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request sent")).await
    }

    /// A second organization with its own token, to test isolation.
    pub async fn other_tenant(&self) -> (OrganizationId, String) {
        let org = self
            .core
            .create_organization("Other org", None)
            .await
            .unwrap()
            .id;
        let token = self
            .core
            .create_token(org, "other", None, TokenType::Sync)
            .await
            .unwrap()
            .secret;
        (org, token)
    }

    pub async fn member(&self, org: OrganizationId, email: &str) -> MembershipId {
        self.core
            .add_member(org, email, "Member", MembershipRole::User)
            .await
            .unwrap()
            .id
    }

    pub async fn scenario(&self, name: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/crm/scenario",
                Some(serde_json::json!({ "name": name })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn step(&self, scenario: &str, name: &str) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                "/crm/step",
                Some(serde_json::json!({ "name": name, "scenarioId": scenario, "trigger": name })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn agent(&self, name: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/agents",
                Some(serde_json::json!({ "name": name })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// A message from `from` on the website channel; returns the inbound answer.
    pub async fn inbound(&self, from: &str, text: &str) -> Value {
        self.inbound_on("website", from, text).await
    }

    pub async fn inbound_on(&self, channel: &str, from: &str, text: &str) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                "/v1/messages/inbound",
                Some(serde_json::json!({"channel": channel, "from": from, "text": text})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// A new conversation (a first message from a new contact); returns its id.
    pub async fn conversation(&self) -> String {
        let from = format!("visitor-{}", uuid_simple());
        self.inbound(&from, "hello").await["conversationId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The native view of a conversation.
    pub async fn state_of(&self, conversation: &str) -> Value {
        let (status, body) = self
            .call(
                Method::GET,
                &format!("/v1/conversations/{conversation}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The types of the conversation's timeline entries, in order.
    pub async fn timeline_of(&self, conversation: &str) -> Vec<Value> {
        let (status, body) = self
            .call(
                Method::GET,
                &format!("/v1/conversations/{conversation}/timeline"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().unwrap().clone()
    }

    pub async fn outbox_of(&self, conversation: &str) -> Vec<Value> {
        let (status, body) = self
            .call(
                Method::GET,
                &format!("/v1/conversations/{conversation}/outbox"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().unwrap().clone()
    }

    /// The outbox without its event rows: the step effects and messages.
    pub async fn effects_of(&self, conversation: &str) -> Vec<Value> {
        let mut outbox = self.outbox_of(conversation).await;
        outbox.retain(|o| o["kind"] != "event");
        outbox
    }

    /// Creates a step from a JSON body (scenario id and name are filled in).
    pub async fn step_with(&self, scenario: &str, name: &str, mut body: Value) -> Value {
        body["scenarioId"] = serde_json::json!(scenario);
        body["name"] = serde_json::json!(name);
        if body.get("trigger").is_none() && body.get("prompt").is_none() {
            body["prompt"] = serde_json::json!("p");
        }
        let (status, step) = self.call(Method::POST, "/crm/step", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{step}");
        step
    }

    pub async fn add_to(&self, conversation: &str, step: &Value) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/crm/step/conversation",
            Some(serde_json::json!({"conversationId": conversation, "stepId": step["id"]})),
        )
        .await
    }

    pub async fn steps_of(&self, scenario: &str) -> Vec<Value> {
        let (status, body) = self
            .call(
                Method::GET,
                &format!("/crm/step?scenarioId={scenario}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().unwrap().clone()
    }
}

pub async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, body)
}

/// Asserts an error answer of the Chatvolt dialect: status, shape, and the fields named.
pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, fields: &[&str]) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert!(body["code"].is_string(), "{body}");
    assert_fields_named(&body["fields"], fields, body);
}

/// Asserts that an error's field list (`[{field, message}]`) names each of `fields`.
fn assert_fields_named(list: &Value, fields: &[&str], body: &Value) {
    let named: Vec<&str> = list
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    for field in fields {
        assert!(
            named.contains(field),
            "expected {field} among {named:?}: {body}"
        );
    }
}

static CHATVOLT: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../fixtures/chatvolt-schemas.json")).unwrap()
});

/// Checks a response body against the schema Chatvolt's OpenAPI file gives for
/// `"{METHOD} {path} {status}"`.
pub fn assert_chatvolt_shape(endpoint: &str, body: &Value) {
    let schema = &CHATVOLT["responses"][endpoint];
    assert!(!schema.is_null(), "no Chatvolt schema for {endpoint}");
    let mut problems = Vec::new();
    check(schema, body, "$", &mut problems);
    assert!(problems.is_empty(), "{endpoint}: {problems:#?}\n{body:#}");
}

/// The subset of OpenAPI 3.0 schemas the file uses for these answers.
fn check(schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return check(&CHATVOLT["schemas"][name], value, at, problems);
    }
    if let Some(alternatives) = schema["oneOf"].as_array() {
        let fits = alternatives.iter().any(|alternative| {
            let mut inner = Vec::new();
            check(alternative, value, at, &mut inner);
            inner.is_empty()
        });
        if !fits {
            problems.push(format!("{at}: matches none of the oneOf alternatives"));
        }
        return;
    }
    if value.is_null() {
        if schema["nullable"] != true {
            problems.push(format!("{at}: null but not nullable"));
        }
        return;
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(value)
    {
        problems.push(format!("{at}: {value} not in {options:?}"));
    }
    let type_ok = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !type_ok {
        problems.push(format!("{at}: {value} is not of type {}", schema["type"]));
        return;
    }
    if schema["format"] == "date-time"
        && chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap()).is_err()
    {
        problems.push(format!("{at}: {value} is not RFC 3339"));
    }
    let no_properties = serde_json::Map::new();
    let props = schema["properties"].as_object().unwrap_or(&no_properties);
    if let Some(object) = value.as_object() {
        for (name, sub) in props {
            if let Some(v) = object.get(name) {
                check(sub, v, &format!("{at}.{name}"), problems);
            }
        }
        if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object()) {
            for (name, v) in object.iter().filter(|(k, _)| !props.contains_key(*k)) {
                check(extra, v, &format!("{at}.{name}"), problems);
            }
        }
        for name in schema["required"].as_array().into_iter().flatten() {
            if !object.contains_key(name.as_str().unwrap()) {
                problems.push(format!("{at}: missing required {name}"));
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            check(items, v, &format!("{at}[{i}]"), problems);
        }
    }
}

/// Every documented property of a Chatvolt schema that the body lacks.
pub fn missing_properties(schema_name: &str, body: &Value) -> Vec<String> {
    CHATVOLT["schemas"][schema_name]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| body.get(k.as_str()).is_none())
        .cloned()
        .collect()
}

/// Asserts an error of the native dialect: status, shape, and the fields named.
pub fn assert_native_error(
    status: StatusCode,
    body: &Value,
    expected: StatusCode,
    fields: &[&str],
) {
    assert_eq!(status, expected, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(body["error"]["code"].is_string(), "{body}");
    assert_fields_named(&body["error"]["fields"], fields, body);
}

/// A transport that may reach the local receiver, as the tests' configuration allows.
pub fn loopback_transport() -> std::sync::Arc<dyn stagecoach_app::Transport> {
    let allowed = vec!["127.0.0.1/32".parse().unwrap()];
    std::sync::Arc::new(
        stagecoach_worker::HttpTransport::new(allowed, std::time::Duration::from_secs(5)).unwrap(),
    )
}
