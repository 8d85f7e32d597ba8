//! `stagecoach backup` and `stagecoach db copy`, run as an operator runs them: a deployment
//! filled through the HTTP API is backed up or copied, and a server started on the result
//! must answer every read as the original did.

use std::process::Output;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use stagecoach_app::Clock;

use crate::support::{Backend, TestApp, TestDatabase, loopback_transport};

const TEXTER: &str = "/server/api/v2";

/// Runs the binary without a database in its environment: each test names its own.
async fn stagecoach(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_stagecoach"))
            .args(&args)
            .env_remove("STAGECOACH_DATABASE_URL")
            .env("NO_COLOR", "1")
            .output()
            .expect("run stagecoach")
    })
    .await
    .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &Output) {
    assert!(output.status.success(), "stderr: {}", stderr(output));
}

/// What `populate` made, to read it back.
struct Deployment {
    org: stagecoach_domain::ids::OrganizationId,
    scenario: String,
    steps: Vec<String>,
    conversations: Vec<String>,
    /// The contacts that are leads with actions and payments.
    leads: Vec<String>,
    agent: String,
    /// The step members are fairly distributed in.
    fair_step: Value,
}

async fn ok(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = app.call(method, path, body).await;
    assert!(status.is_success(), "{path}: {status} {answer}");
    answer
}

/// A deployment touching most tables: members, a second token, an agent, a scenario whose
/// steps auto-advance to each other and distribute fairly, conversations on the board with
/// messages, CRM data and labels, lead settings, leads with actions and payments, a
/// webhook endpoint with a delivered event, and a channel.
async fn populate(app: &TestApp) -> Deployment {
    let members = [
        app.member(app.org, "ana@example.com").await.to_string(),
        app.member(app.org, "bruno@example.com").await.to_string(),
    ];
    app.core
        .create_token(
            app.org,
            "reports",
            Some(vec!["Manage labels".to_owned()]),
            stagecoach_domain::enums::TokenType::Sync,
        )
        .await
        .unwrap();
    let agent = app.agent("Closer").await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("thanks"))
        .mount(&receiver)
        .await;
    ok(
        app,
        Method::POST,
        "/v1/webhook-endpoints",
        Some(json!({"url": format!("{}/hooks", receiver.uri()),
                    "eventTypes": ["conversation.step_entered"], "description": "CRM sync"})),
    )
    .await;
    ok(
        app,
        Method::POST,
        "/v1/channels",
        Some(
            json!({"kind": "zapi", "name": "Alerts", "agentId": agent, "accountId": "INST1",
                    "instanceToken": "itok", "clientToken": "ctok"}),
        ),
    )
    .await;
    ok(app, Method::PUT, "/v1/lead-settings", Some(json!({
        "identifier": "phone",
        "customFields": [{"apiName": "city", "type": "DROPDOWN", "options": ["Delhi", "São Paulo"]}],
        "pipeline": [
            {"stageType": "OPEN", "statuses": [{"label": "Fresh"}, {"label": "Contacted"}]},
            {"stageType": "WON", "statuses": [{"label": "Won"}]},
            {"stageType": "LOST", "statuses": [{"label": "Lost"}]}
        ],
        "lostReasons": ["Budget"],
        "actionTypes": [{"code": 1001, "displayName": "Follow-up", "score": 5,
                         "fields": [{"apiName": "note", "type": "TEXT"}]}]
    }))).await;

    let scenario = app.scenario("Sales").await;
    let fair_step = app
        .step_with(
            &scenario,
            "New",
            json!({"assigneeLogicType": "fair_distribution_selected",
                   "selectedMembershipIdsForAssignee": members,
                   "defaultTags": ["lead"], "initialMessage": "Olá!", "defaultAiControl": false}),
        )
        .await;
    let follow_up = app
        .step_with(
            &scenario,
            "Follow-up",
            json!({"trigger": "preço", "autoNextStepId": fair_step["id"], "autoNextTime": 2,
                   "autoNextTimeUnit": "d", "isRequired": true}),
        )
        .await;
    // The first step advances to the second after a day: the two refer to each other.
    ok(
        app,
        Method::PUT,
        "/crm/step",
        Some(
            json!({"id": fair_step["id"], "autoNextStepId": follow_up["id"],
                    "autoNextTime": 1, "autoNextTimeUnit": "d"}),
        ),
    )
    .await;

    let mut conversations = Vec::new();
    let mut leads = Vec::new();
    for (channel, from, name) in [
        ("whatsapp", "+55 11 98765-4321", "Maria Silva"),
        ("whatsapp", "+55 11 91234-5678", "João Souza"),
        ("website", "visitor-42", "Visitor"),
    ] {
        let inbound = ok(
            app,
            Method::POST,
            "/v1/messages/inbound",
            Some(json!({"channel": channel, "from": from, "text": "hello", "name": name})),
        )
        .await;
        let conversation = inbound["conversationId"].as_str().unwrap().to_owned();
        let (status, body) = app.add_to(&conversation, &fair_step).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        conversations.push(conversation);
        leads.push(inbound["contactId"].as_str().unwrap().to_owned());
    }
    leads.truncate(1);
    // A message that fires the second step's trigger.
    app.inbound_on("whatsapp", "+55 11 91234-5678", "qual o preço?")
        .await;
    let maria = &conversations[0];
    ok(
        app,
        Method::POST,
        &format!("{TEXTER}/chats/{maria}/crm-data"),
        Some(json!({"data": {"plan": "premium", "customer": {"since": 2019, "vip": true}}})),
    )
    .await;
    ok(
        app,
        Method::POST,
        &format!("{TEXTER}/labels"),
        Some(json!({"id": "vip", "name": "VIP", "color": "#00aa00"})),
    )
    .await;
    let labelled = app
        .request(Method::POST, &format!("{TEXTER}/chats/{maria}/labels"))
        .json(&json!({"add": ["vip"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(labelled.status(), StatusCode::OK);

    let telecrm = format!("/autoupdate/v2/enterprise/{}", app.org);
    let created = ok(
        app,
        Method::POST,
        &format!("{telecrm}/lead"),
        Some(json!({"fields": {"phone": "919000000031", "name": "Ravi Kumar", "city": "Delhi"}})),
    )
    .await;
    leads.push(created["lead_id"].as_str().unwrap().to_owned());
    let mut recorded = Vec::new();
    for (lead, actions) in [
        (
            &leads[0],
            json!([
                {"type": "PAYMENT", "amount": "100.10", "currency": "INR", "status": "COMPLETED", "paymentid": "pay_1"},
                {"type": "PAYMENT", "amount": "7", "currency": "USD", "status": "PENDING"},
                {"type": 1001, "fields": {"note": "call back on Monday"}}
            ]),
        ),
        (
            &leads[1],
            json!([{"type": "PAYMENT", "amount": "1000", "currency": "INR", "status": "PENDING"}]),
        ),
    ] {
        recorded.push(
            ok(
                app,
                Method::POST,
                &format!("{telecrm}/lead/{lead}/action"),
                Some(json!({"actions": actions})),
            )
            .await,
        );
    }
    // A payment's status changes (its money never can).
    let ravi = &leads[1];
    let payment = recorded[1]["actions"][0]["action_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", recorded[1]));
    ok(
        app,
        Method::POST,
        &format!("{telecrm}/lead/{ravi}/action/{payment}"),
        Some(json!({"type": "PAYMENT", "status": "COMPLETED"})),
    )
    .await;

    // Deliver the events the step entries queued: attempts are logged.
    let delivered = stagecoach_worker::deliver_due(&app.core, loopback_transport(), 50)
        .await
        .unwrap();
    assert!(delivered > 0, "events were delivered");

    Deployment {
        org: app.org,
        scenario,
        steps: vec![
            fair_step["id"].as_str().unwrap().to_owned(),
            follow_up["id"].as_str().unwrap().to_owned(),
        ],
        conversations,
        leads,
        agent,
        fair_step,
    }
}

/// Every read the checks compare, labelled, with its status.
async fn read_back(app: &TestApp, deployment: &Deployment) -> Vec<(String, StatusCode, Value)> {
    let scenario = &deployment.scenario;
    let telecrm = format!("/autoupdate/v2/enterprise/{}", app.org);
    let later = app.clock.now().timestamp_millis() + 3_600_000;
    let mut paths = vec![
        "/crm/scenario".to_owned(),
        format!("/crm/step?scenarioId={scenario}"),
        format!("/crm/conversationLog?scenarioId={scenario}"),
        "/conversation".to_owned(),
        "/contacts".to_owned(),
        format!("/agents/{}", deployment.agent),
        format!("{TEXTER}/labels"),
        format!("{TEXTER}/chats/search"),
        format!("{TEXTER}/chats/search?search=maria"),
        format!("{TEXTER}/chats/search?search=98765"),
        format!("{TEXTER}/chats/search?labels[]=vip"),
        "/v1/lead-settings".to_owned(),
        "/v1/payments/totals".to_owned(),
        "/v1/payments/totals?groupBy=step".to_owned(),
        "/v1/webhook-endpoints".to_owned(),
        "/v1/deliveries".to_owned(),
        "/v1/channels".to_owned(),
        format!("{telecrm}/team-members"),
    ];
    for step in &deployment.steps {
        paths.push(format!(
            "/crm/scenario/{scenario}/conversation?stepId={step}"
        ));
        paths.push(format!(
            "/crm/scenario/{scenario}/conversation?stepId={step}&isCount=true"
        ));
    }
    for conversation in &deployment.conversations {
        paths.push(format!("/v1/conversations/{conversation}"));
        paths.push(format!("/v1/conversations/{conversation}/timeline"));
        paths.push(format!("/v1/conversations/{conversation}/outbox"));
        paths.push(format!("/conversation/{conversation}/messages/20"));
        paths.push(format!("{TEXTER}/chats/{conversation}"));
        paths.push(format!(
            "{TEXTER}/messages/chat/{conversation}?beforeTime={later}&beforeId=none"
        ));
    }
    for lead in &deployment.leads {
        paths.push(format!("{telecrm}/lead/{lead}?includeActions=true"));
        paths.push(format!("/v1/leads/{lead}/payments/totals"));
    }
    let mut reads = Vec::new();
    for path in paths {
        let (status, mut body) = app.call(Method::GET, &path, None).await;
        // The engines order the group without a step differently (SQLite sorts NULL
        // first, PostgreSQL last); the groups themselves must match.
        if path.ends_with("groupBy=step")
            && let Some(groups) = body.as_array_mut()
        {
            groups.sort_by_key(Value::to_string);
        }
        reads.push((path, status, body));
    }
    for lead in &deployment.leads {
        let path = format!("{telecrm}/lead/{lead}/action/search");
        let (status, body) = app.call(Method::POST, &path, Some(json!({}))).await;
        reads.push((path, status, body));
    }
    reads
}

/// The reads see what `populate` made, so that comparing them compares something.
fn assert_populated(reads: &[(String, StatusCode, Value)], deployment: &Deployment) {
    let read = |wanted: &str| {
        &reads
            .iter()
            .find(|(path, ..)| path == wanted)
            .unwrap_or_else(|| panic!("no read of {wanted}"))
            .2
    };
    let deliveries = read("/v1/deliveries").as_array().unwrap();
    assert!(!deliveries.is_empty());
    assert!(
        deliveries.iter().all(|d| d["attempts"] == 1),
        "{deliveries:?}"
    );
    for search in ["search=maria", "search=98765", "labels[]=vip"] {
        assert_eq!(read(&format!("{TEXTER}/chats/search?{search}"))["total"], 1);
    }
    let scenario = &deployment.scenario;
    for (step, cards) in deployment.steps.iter().zip([2, 1]) {
        let count = format!("/crm/scenario/{scenario}/conversation?stepId={step}&isCount=true");
        assert_eq!(read(&count)["count"], cards);
    }
    for conversation in &deployment.conversations {
        let state = read(&format!("/v1/conversations/{conversation}"));
        assert!(state["nextAutoAdvance"]["dueAt"].is_string(), "{state}");
    }
    let lead = format!(
        "/autoupdate/v2/enterprise/{}/lead/{}/action/search",
        deployment.org, deployment.leads[0]
    );
    assert_eq!(read(&lead)["total_count"], 3);
}

/// Every read answered alike, and successfully.
fn assert_same_reads(
    original: &[(String, StatusCode, Value)],
    copy: &[(String, StatusCode, Value)],
) {
    assert_eq!(original.len(), copy.len());
    for ((path, status, body), (_, copy_status, copy_body)) in original.iter().zip(copy) {
        assert!(status.is_success(), "{path}: {status} {body}");
        assert_eq!(
            (status, body),
            (copy_status, copy_body),
            "{path} answers differently on the copy"
        );
    }
}

/// The whole move: copy a SQLite deployment into PostgreSQL, serve the copy, and find the
/// same answers, the same token working, and the copy working on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_deployment_moves_to_postgres_and_answers_alike() {
    let Some(target) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let source = TestApp::start(Backend::Sqlite).await.unwrap();
    let deployment = populate(&source).await;
    let before = read_back(&source, &deployment).await;
    // Totals across payments of both leads, one of which changed status.
    let totals = &before
        .iter()
        .find(|(path, ..)| path == "/v1/payments/totals")
        .unwrap()
        .2;
    assert_eq!(
        totals,
        &json!([
            {"status": "COMPLETED", "currency": "INR", "count": 2, "amount": "1100.10"},
            {"status": "PENDING", "currency": "USD", "count": 1, "amount": "7.00"}
        ])
    );
    assert_populated(&before, &deployment);
    source.stop().await;
    let source_path = source.db.sqlite_path().unwrap();
    let source_bytes = std::fs::read(&source_path).unwrap();

    let copied = stagecoach(&["db", "copy", "--from", &source.db.url, "--to", &target.url]).await;
    assert_success(&copied);
    assert!(copied.stdout.is_empty(), "logs go to stderr");
    assert!(
        stderr(&copied).contains("every table's row count matches"),
        "{}",
        stderr(&copied)
    );
    assert_eq!(
        std::fs::read(&source_path).unwrap(),
        source_bytes,
        "the source is left as it was"
    );

    let now = source.clock.now();
    let copy = TestApp::serve(target, source.org, source.token.clone(), now).await;
    let after = read_back(&copy, &deployment).await;
    assert_same_reads(&before, &after);

    // Fair distribution reads each member's open conversations, which PostgreSQL counts
    // from the copied assignments (SQLite kept counts of its own): the next conversation
    // goes to the member with fewer.
    let mut loads = std::collections::BTreeMap::<String, usize>::new();
    for conversation in &deployment.conversations {
        let state = copy.state_of(conversation).await;
        *loads
            .entry(state["assignees"][0].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let lighter = loads.iter().min_by_key(|(_, n)| **n).unwrap().0.clone();
    assert_eq!(loads.len(), 2, "{loads:?}");
    let inbound = copy
        .inbound_on("whatsapp", "+55 11 95555-0000", "oi, sou a Clara")
        .await;
    let clara = inbound["conversationId"].as_str().unwrap();
    let (status, body) = copy.add_to(clara, &deployment.fair_step).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(copy.state_of(clara).await["assignees"][0], lighter.as_str());
    // Search finds old and new conversations alike.
    let (_, found) = copy
        .call(
            Method::GET,
            &format!("{TEXTER}/chats/search?search=5555"),
            None,
        )
        .await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["data"][0]["_id"], clara);
    copy.cleanup().await;
}

/// A failed copy writes nothing: here a value the target cannot take, met half-way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_copy_leaves_the_target_empty() {
    let Some(target) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let source = TestApp::start(Backend::Sqlite).await.unwrap();
    populate(&source).await;
    source.stop().await;
    // SQLite keeps whatever it is given; PostgreSQL's boolean cannot hold this.
    let pool = sqlx::SqlitePool::connect(&source.db.url).await.unwrap();
    sqlx::query("UPDATE scenario_links SET available = 'maybe'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let copied = stagecoach(&["db", "copy", "--from", &source.db.url, "--to", &target.url]).await;
    assert!(!copied.status.success());
    let message = stderr(&copied);
    assert!(
        message.contains("scenario_links.available") && message.contains("rolled back"),
        "{message}"
    );
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&target.url)
        .await
        .unwrap();
    for table in ["organizations", "steps", "conversations", "lead_actions"] {
        let rows: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(rows, 0, "{table} holds rows after a failed copy");
    }
    drop(conn);
    target.drop_schema().await;
}

/// A target that holds anything is refused, named, and left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_into_a_database_in_use_is_refused() {
    let Some(target) = TestApp::start(Backend::Postgres).await else {
        return;
    };
    let scenario = target.scenario("Already here").await;
    let before = ok(&target, Method::GET, "/crm/scenario", None).await;
    let source = TestApp::start(Backend::Sqlite).await.unwrap();
    source.scenario("Would be copied").await;
    source.stop().await;

    let copied = stagecoach(&[
        "db",
        "copy",
        "--from",
        &source.db.url,
        "--to",
        &target.db.url,
    ])
    .await;
    assert!(!copied.status.success());
    let message = stderr(&copied);
    assert!(message.contains("the target is not empty"), "{message}");
    let named = ["api_tokens", "labels", "organizations", "scenarios"]
        .iter()
        .any(|table| message.contains(&format!("table {table} has rows")));
    assert!(named, "{message}");
    assert_eq!(
        ok(&target, Method::GET, "/crm/scenario", None).await,
        before,
        "the target is untouched"
    );
    assert_eq!(before[0]["id"], scenario.as_str());

    // Other directions, and a source that does not exist (which is not created).
    let missing = source
        .db
        .sqlite_path()
        .unwrap()
        .with_file_name("missing.db");
    let missing_url = format!("sqlite://{}", missing.display());
    for (from, to, expected) in [
        (&target.db.url, &source.db.url, "pg_dump"),
        (&source.db.url, &source.db.url, "stagecoach backup"),
        (&missing_url, &target.db.url, "does not exist"),
    ] {
        let refused = stagecoach(&["db", "copy", "--from", from, "--to", to]).await;
        assert!(!refused.status.success());
        assert!(stderr(&refused).contains(expected), "{}", stderr(&refused));
    }
    assert!(!missing.exists());
    target.cleanup().await;
}

/// A backup taken while the server runs: a server on the backup answers alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_serves_the_same_data() {
    let source = TestApp::start(Backend::Sqlite).await.unwrap();
    let deployment = populate(&source).await;
    let before = read_back(&source, &deployment).await;
    assert_populated(&before, &deployment);
    let backup = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let backup_path = backup.sqlite_path().unwrap();
    let to = backup_path.to_str().unwrap();

    let written = stagecoach(&["backup", "--database-url", &source.db.url, "--to", to]).await;
    assert_success(&written);
    assert_eq!(
        String::from_utf8(written.stdout).unwrap(),
        format!("{to}\n")
    );
    let leftovers: Vec<_> = std::fs::read_dir(backup_path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        [backup_path.file_name().unwrap()],
        "no partial file"
    );

    // The source keeps serving writes meanwhile.
    source.scenario("After the backup").await;
    let again = stagecoach(&["backup", "--database-url", &source.db.url, "--to", to]).await;
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    let restored =
        TestApp::serve(backup, source.org, source.token.clone(), source.clock.now()).await;
    assert_same_reads(&before, &read_back(&restored, &deployment).await);
    restored.cleanup().await;
    source.cleanup().await;
}

/// What backup refuses: PostgreSQL (pg_dump's job), a missing source (never created).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_refuses_postgres_and_a_missing_database() {
    let folder = tempfile::tempdir().unwrap();
    let to = folder.path().join("backup.db");
    let to = to.to_str().unwrap();
    let postgres = stagecoach(&[
        "backup",
        "--database-url",
        "postgres://stagecoach:secret@db.example/stagecoach",
        "--to",
        to,
    ])
    .await;
    assert!(!postgres.status.success());
    assert!(postgres.stdout.is_empty());
    let message = stderr(&postgres);
    assert!(message.contains("pg_dump --format=custom"), "{message}");
    assert!(!message.contains("secret"), "{message}");

    let missing = folder.path().join("missing.db");
    let url = format!("sqlite://{}", missing.display());
    let refused = stagecoach(&["backup", "--database-url", &url, "--to", to]).await;
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("does not exist"),
        "{}",
        stderr(&refused)
    );
    assert!(!missing.exists(), "the source is not created");
    assert!(!std::path::Path::new(to).exists());
}
