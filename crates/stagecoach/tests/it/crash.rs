//! The server killed with SIGKILL, again and again, under a small mixed load: every write
//! it acknowledged survives, and every timer fires exactly once (issue 19). The real
//! binary on a real database, each engine; bounded to a few seconds of load.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Backend, TestDatabase};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_and_timers_survive_sigkill_on_sqlite() {
    survives_sigkill(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_and_timers_survive_sigkill_on_postgres() {
    survives_sigkill(Backend::Postgres).await;
}

/// Kills during the load, then during the firing of the timers.
const KILLS_UNDER_LOAD: usize = 3;
const KILLS_WHILE_FIRING: usize = 2;

async fn survives_sigkill(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    stagecoach_worker::install_tls_provider();
    let folder = tempfile::tempdir().unwrap();
    let key = folder.path().join("secret.key");
    let client = reqwest::Client::new();
    let (mut server, token) = Server::start(&db.url, &key, true);
    let token = token.expect("the first start prints a token");
    let base = Arc::new(Mutex::new(server.base.clone()));
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let request = client
            .request(method, format!("{}{path}", base.lock().unwrap()))
            .bearer_auth(&token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move {
            let response = request.send().await.ok()?;
            let status = response.status();
            Some((
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            ))
        }
    };

    // A step a keyword leads into, which moves its conversations on after a minute.
    let (_, scenario) = call(
        reqwest::Method::POST,
        "/crm/scenario",
        Some(json!({"name": "Crash"})),
    )
    .await
    .unwrap();
    let step = |name: &str, trigger: Option<&str>| json!({"scenarioId": scenario["id"], "name": name, "trigger": trigger, "prompt": "p"});
    let (_, first) = call(
        reqwest::Method::POST,
        "/crm/step",
        Some(step("Interested", Some("quero"))),
    )
    .await
    .unwrap();
    let (_, later) = call(
        reqwest::Method::POST,
        "/crm/step",
        Some(step("Later", None)),
    )
    .await
    .unwrap();
    let (status, body) = call(
        reqwest::Method::PUT,
        "/crm/step",
        Some(json!({"id": first["id"], "autoNextStepId": later["id"], "autoNextTime": 1, "autoNextTimeUnit": "m"})),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");

    // Two lanes of inbound messages while the server is killed and restarted.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lanes: Vec<_> = (0..2)
        .map(|lane| {
            let (client, token, base, stop) =
                (client.clone(), token.clone(), base.clone(), stop.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let url = format!("{}/v1/messages/inbound", base.lock().unwrap());
                    let sent = client
                        .post(url)
                        .bearer_auth(&token)
                        .json(&json!({"channel": "website", "from": format!("crash-{lane}-{i}"),
                                      "text": "quero comprar", "externalId": format!("m-{lane}-{i}")}))
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status() == StatusCode::OK => {
                            let body: Value = response.json().await.unwrap();
                            acknowledged.push(body["conversationId"].as_str().unwrap().to_owned());
                        }
                        // Cut off by a kill, or refused while the server starts: not
                        // acknowledged, so nothing is owed.
                        _ => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
                acknowledged
            })
        })
        .collect();
    for _ in 0..KILLS_UNDER_LOAD {
        tokio::time::sleep(Duration::from_millis(700)).await;
        server = server.kill_and_restart(&db.url, &key);
        *base.lock().unwrap() = server.base.clone();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for lane in lanes {
        acknowledged.extend(lane.await.unwrap());
    }
    assert!(
        acknowledged.len() >= 20,
        "the load was served between kills: {} writes",
        acknowledged.len()
    );

    // Every acknowledged message's conversation is there, waiting in the first step.
    for conversation in &acknowledged {
        let (status, state) = call(
            reqwest::Method::GET,
            &format!("/v1/conversations/{conversation}"),
            None,
        )
        .await
        .unwrap();
        assert_eq!(status, StatusCode::OK, "acknowledged, then lost: {state}");
        assert_eq!(state["scenarios"][0]["stepId"], first["id"], "{state}");
    }

    // The minute passes (the timers are made due in the database), and the server is
    // killed while it fires them. A timer claimed by a killed server waits out its claim;
    // the claims are expired too, as a minute later they would be.
    db.raw_sql("UPDATE auto_advances SET due_at = 0").await;
    for _ in 0..KILLS_WHILE_FIRING {
        tokio::time::sleep(Duration::from_millis(150)).await;
        server = server.kill_and_restart(&db.url, &key);
        db.raw_sql("UPDATE auto_advances SET claimed_until = NULL")
            .await;
    }
    *base.lock().unwrap() = server.base.clone();
    let mut pending = i64::MAX;
    for _ in 0..200 {
        pending = db
            .raw_sql("SELECT CAST(COUNT(*) AS TEXT) FROM auto_advances")
            .await
            .and_then(|count| count.parse().ok())
            .unwrap();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pending, 0, "every timer fired");
    for conversation in &acknowledged {
        let (_, timeline) = call(
            reqwest::Method::GET,
            &format!("/v1/conversations/{conversation}/timeline"),
            None,
        )
        .await
        .unwrap();
        let entries = timeline["events"]
            .as_array()
            .or(timeline.as_array())
            .unwrap_or_else(|| panic!("{timeline}"));
        let into_later = entries
            .iter()
            .filter(|e| e["type"] == "step_entered" && e["data"]["stepId"] == later["id"])
            .count();
        assert_eq!(into_later, 1, "the timer fired once: {timeline}");
    }
    eprintln!(
        "{backend:?}: {} acknowledged writes and their timers survived {} kills",
        acknowledged.len(),
        KILLS_UNDER_LOAD + KILLS_WHILE_FIRING
    );
    drop(server);
    db.drop_schema().await;
}

/// The server binary, killed when dropped.
pub(crate) struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `stagecoach serve` on a free port and waits for its address; with `first`,
    /// also reads the token the first start prints.
    fn start(url: &str, key: &std::path::Path, first: bool) -> (Server, Option<String>) {
        Server::start_crashing_at(url, key, first, None)
    }

    /// [`Server::start`], set to stop dead at a crash point of a debug build (see
    /// `STAGECOACH_CRASH_AT` in the API's idempotency middleware).
    fn start_crashing_at(
        url: &str,
        key: &std::path::Path,
        first: bool,
        crash_at: Option<&str>,
    ) -> (Server, Option<String>) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stagecoach"));
        if let Some(point) = crash_at {
            command.env("STAGECOACH_CRASH_AT", point);
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .arg("--database-url")
            .arg(url)
            .arg("--secret-key-file")
            .arg(key)
            .env("RUST_LOG", "info")
            // Only the first start prints (the token); later ones must not fill a pipe.
            .stdout(if first { Stdio::piped() } else { Stdio::null() })
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let token = child.stdout.take().map(|stdout| {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .find_map(|line| {
                    line.trim()
                        .starts_with("sc_")
                        .then(|| line.trim().to_owned())
                })
                .expect("the token on stdout")
        });
        let mut logs = BufReader::new(stderr).lines().map_while(Result::ok);
        let address = logs
            .by_ref()
            .find_map(|line| {
                let entry: Value = serde_json::from_str(&line).ok()?;
                entry["address"].as_str().map(str::to_owned)
            })
            .expect("the listening address in the logs");
        // Keep reading, as a log collector would.
        std::thread::spawn(move || logs.for_each(drop));
        (
            Server {
                child,
                base: format!("http://{address}"),
            },
            token,
        )
    }

    /// Waits for a server that crashed on its own.
    #[cfg(debug_assertions)]
    fn wait_for_crash(mut self) {
        let status = self.child.wait().unwrap();
        assert!(!status.success(), "the server stopped dead: {status}");
    }

    /// SIGKILL, then a new server on the same database.
    fn kill_and_restart(mut self, url: &str, key: &std::path::Path) -> Server {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        Server::start(url, key, false).0
    }
}

// The crash points exist in debug builds only.
#[cfg(debug_assertions)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_requests_survive_a_crash_on_sqlite() {
    idempotent_requests_survive_a_crash(Backend::Sqlite).await;
}

#[cfg(debug_assertions)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_requests_survive_a_crash_on_postgres() {
    idempotent_requests_survive_a_crash(Backend::Postgres).await;
}

/// A server stops dead between a keyed request's work and its answer, another after
/// reserving a key but before doing the work. Retried on a restarted server under the
/// same keys: while a dead server's heartbeat is recent the retries are told to wait;
/// then the first is refused as done-but-unanswered (its work is not done again), and the
/// key of the second, which did nothing, serves the request sent with it next (here a
/// corrected one), once.
#[cfg(debug_assertions)]
async fn idempotent_requests_survive_a_crash(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    stagecoach_worker::install_tls_provider();
    let folder = tempfile::tempdir().unwrap();
    let secret_key = folder.path().join("secret.key");
    let client = reqwest::Client::new();
    let (server, token) = Server::start_crashing_at(
        &db.url,
        &secret_key,
        true,
        Some("idempotency-before-answer"),
    );
    let token = token.expect("the first start prints a token");
    let post = |base: &str, key: &str, name: &str| {
        client
            .post(format!("{base}/contacts"))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .json(&json!({"firstName": name}))
            .timeout(Duration::from_secs(10))
            .send()
    };
    let answer = |response: reqwest::Response| async move {
        let status = response.status();
        (status, response.json::<Value>().await.unwrap())
    };
    let done_first = format!("Ivo{}", crate::support::uuid_simple());
    let cut = post(&server.base, "done-not-answered", &done_first).await;
    assert!(
        cut.is_err(),
        "no answer from a server that stopped: {cut:?}"
    );
    server.wait_for_crash();

    let (server, _) =
        Server::start_crashing_at(&db.url, &secret_key, false, Some("idempotency-before-work"));
    // The first server stopped a moment ago: its request may as well be running.
    let (status, body) = answer(
        post(&server.base, "done-not-answered", &done_first)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "IDEMPOTENCY_KEY_IN_USE", "{body}");
    let never_done = format!("Jan{}", crate::support::uuid_simple());
    let cut = post(&server.base, "reserved-not-done", &never_done).await;
    assert!(
        cut.is_err(),
        "no answer from a server that stopped: {cut:?}"
    );
    server.wait_for_crash();

    let (server, _) = Server::start(&db.url, &secret_key, false);
    let count = |name: String| {
        let request = client
            .get(format!("{}/contacts?search={name}", server.base))
            .bearer_auth(&token)
            .send();
        async move {
            let body: Value = request.await.unwrap().json().await.unwrap();
            body["count"].as_i64().unwrap()
        }
    };
    let corrected = format!("Jana{}", crate::support::uuid_simple());
    let (status, body) = answer(
        post(&server.base, "reserved-not-done", &corrected)
            .await
            .unwrap(),
    )
    .await;
    // Another request under a key that may still be at work is refused.
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "IDEMPOTENCY_KEY_REUSED", "{body}");
    assert_eq!(count(done_first.clone()).await, 1, "the work was done");
    assert_eq!(count(never_done.clone()).await, 0, "the work was not done");

    // The dead servers' heartbeats age past the timeout (15 s); the second died later.
    let settled = |key: &'static str, name: String, waiting: &'static str| {
        let (post, answer) = (&post, &answer);
        let base = server.base.clone();
        async move {
            for _ in 0..80 {
                let answered = answer(post(&base, key, &name).await.unwrap()).await;
                if answered.1["code"] != waiting {
                    return answered;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            panic!("{key}: the dead server's request is still taken for running");
        }
    };
    let (status, lost) = settled(
        "done-not-answered",
        done_first.clone(),
        "IDEMPOTENCY_KEY_IN_USE",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{lost}");
    assert_eq!(lost["code"], "IDEMPOTENCY_ANSWER_LOST", "{lost}");
    assert_eq!(count(done_first).await, 1, "done once, not again");

    let (status, ran) = settled(
        "reserved-not-done",
        corrected.clone(),
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "taken over and run: {ran}");
    let again = post(&server.base, "reserved-not-done", &corrected)
        .await
        .unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(answer(again).await, (StatusCode::OK, ran));
    assert_eq!(count(corrected).await, 1, "run once");
    assert_eq!(
        count(never_done).await,
        0,
        "the abandoned request never ran"
    );
    drop(server);
    db.drop_schema().await;
}
