//! The `stagecoach` binary as operators and scripts use it: stdout carries only what a
//! script needs, errors exit non-zero.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Backend, TestApp};

backend_tests!(admin_commands_print_ids_and_tokens_for_scripts);

/// Run from the wrong folder, an admin command names the database it looked for and
/// creates nothing; `migrate` creates a new one.
#[test]
fn admin_commands_refuse_to_create_a_database() {
    let folder = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}",
        folder.path().join("data/stagecoach.db").display()
    );
    let output = stagecoach(
        &url,
        &[
            "token",
            "list",
            "--org",
            "01a1ff49-3745-704a-958f-a3173794f412",
        ],
    );
    assert!(!output.status.success() && output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("there is no database at") && stderr.contains("stagecoach.db"),
        "{stderr}"
    );
    assert!(!folder.path().join("data").exists(), "nothing was created");

    let migrated = stagecoach(&url, &["migrate"]);
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let org = stagecoach(&url, &["org", "create", "--name", "Acme"]);
    assert!(org.status.success());
    let stderr = String::from_utf8_lossy(&org.stderr);
    let expected = folder.path().join("data/stagecoach.db");
    assert!(
        stderr.contains(&format!("stagecoach: database {}", expected.display())),
        "the command says which database it opened: {stderr}"
    );
}

/// A reader that stops early (`stagecoach openapi | head`) ends the command quietly.
#[test]
fn a_closed_stdout_ends_output_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .arg("openapi")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim(), "{");
    // The pipe's reading end closes here, before the document is written out.
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn stagecoach(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .args(args)
        .env("STAGECOACH_DATABASE_URL", url)
        .env("NO_COLOR", "1")
        .output()
        .expect("run stagecoach")
}

fn stdout_line(output: &Output) -> String {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(
        text.lines().count(),
        1,
        "exactly one line on stdout: {text:?}"
    );
    text.trim().to_owned()
}

async fn admin_commands_print_ids_and_tokens_for_scripts(app: TestApp) {
    let url = app.db.url.clone();
    let org = stdout_line(&stagecoach(&url, &["org", "create", "--name", "Acme"]));
    assert!(
        stagecoach_domain::ids::OrganizationId::parse(&org).is_some(),
        "{org}"
    );

    let member = stdout_line(&stagecoach(
        &url,
        &[
            "member",
            "add",
            "--org",
            &org,
            "--email",
            "Ana@Acme.com",
            "--name",
            "Ana",
            "--role",
            "admin",
        ],
    ));
    assert!(stagecoach_domain::ids::MembershipId::parse(&member).is_some());
    let duplicate = stagecoach(
        &url,
        &[
            "member",
            "add",
            "--org",
            &org,
            "--email",
            "ana@acme.com",
            "--name",
            "Ana",
        ],
    );
    assert!(!duplicate.status.success());
    assert!(duplicate.stdout.is_empty());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already a member"));

    let token = stdout_line(&stagecoach(
        &url,
        &[
            "token",
            "create",
            "--org",
            &org,
            "--name",
            "ci",
            "--scope",
            "scenarios:write",
            "--scope",
            "Manage labels",
            "--type",
            "sync",
        ],
    ));
    assert!(token.starts_with("sc_"));
    let (status, created) = app
        .call_as(
            &token,
            Method::POST,
            "/crm/scenario",
            Some(json!({"name": "From CLI token"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["organizationId"], org,
        "the token acts for the organization it was made for"
    );
    let (status, refused) = app
        .call_as(&token, Method::GET, "/v1/webhook-endpoints", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["code"], "MISSING_SCOPE");

    let bad_scope = stagecoach(
        &url,
        &[
            "token",
            "create",
            "--org",
            &org,
            "--name",
            "x",
            "--scope",
            "everything",
        ],
    );
    assert!(!bad_scope.status.success() && bad_scope.stdout.is_empty());
    let complaint = String::from_utf8_lossy(&bad_scope.stderr);
    assert!(
        complaint.contains("\"leads:read\"") && complaint.contains("\"List all chats\""),
        "the valid scopes are listed: {complaint}"
    );

    let listing =
        String::from_utf8(stagecoach(&url, &["token", "list", "--org", &org]).stdout).unwrap();
    let mut rows = listing.lines();
    assert_eq!(
        rows.next(),
        Some("ID\tNAME\tPREFIX\tTYPE\tSCOPES\tCREATED\tLAST USED\tREVOKED")
    );
    let columns: Vec<&str> = rows.next().expect("the token's row").split('\t').collect();
    assert_eq!(columns[1], "ci");
    assert!(token.starts_with(columns[2]));
    assert_eq!(columns[4], "scenarios:write,Manage labels");
    let revoked = stagecoach(&url, &["token", "revoke", columns[0]]);
    assert!(revoked.status.success() && revoked.stdout.is_empty());
    let (status, _) = app
        .call_as(&token, Method::GET, "/crm/scenario", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let members =
        String::from_utf8(stagecoach(&url, &["member", "list", "--org", &org]).stdout).unwrap();
    let mut rows = members.lines();
    assert_eq!(
        rows.next(),
        Some("MEMBERSHIP ID\tEMAIL\tNAME\tROLE\tAVAILABILITY")
    );
    assert_eq!(
        rows.next(),
        Some(format!("{member}\tana@acme.com\tAna\tADMIN\tActive").as_str())
    );
    assert_eq!(rows.next(), None);

    let unknown_org = stagecoach(
        &url,
        &[
            "token",
            "create",
            "--org",
            "01a1ff49-3745-704a-958f-a3173794f412",
            "--name",
            "x",
        ],
    );
    assert!(!unknown_org.status.success() && unknown_org.stdout.is_empty());
    let bad_org = stagecoach(&url, &["token", "create", "--org", "acme", "--name", "x"]);
    assert!(!bad_org.status.success());

    if app.db.backend == Backend::Sqlite {
        first_start_prints_a_working_token().await;
    }
}

/// `stagecoach serve` on an empty database bootstraps an organization and prints its token
/// once, on stdout.
async fn first_start_prints_a_working_token() {
    let folder = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}",
        folder.path().join("fresh/stagecoach.db").display()
    );
    // Port 0: the server picks a free port and logs it (a port picked here could be taken
    // by another test's connection before the server binds it).
    let mut server = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_stagecoach"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                &url,
                "--log-format",
                "json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = server.0.stdout.take().unwrap();
    let stderr = server.0.stderr.take().unwrap();
    let (token, listen) = tokio::task::spawn_blocking(move || {
        let token = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                line.trim()
                    .strip_prefix("sc_")
                    .map(|rest| format!("sc_{rest}"))
            });
        let mut logs = BufReader::new(stderr).lines().map_while(Result::ok);
        let mut seen = Vec::new();
        let listen = logs.by_ref().find_map(|line| {
            seen.push(line.clone());
            let entry: serde_json::Value = serde_json::from_str(&line).ok()?;
            entry["address"].as_str().map(str::to_owned)
        });
        // Keep reading, as a log collector would.
        std::thread::spawn(move || logs.for_each(drop));
        let listen = listen.ok_or(seen);
        (token, listen)
    })
    .await
    .unwrap();
    let token = token.expect("the bootstrap token on stdout");
    let listen =
        listen.unwrap_or_else(|logs| panic!("no listening address in the logs: {logs:#?}"));
    stagecoach_worker::install_tls_provider();
    let client = reqwest::Client::new();
    let mut answer = None;
    for _ in 0..100 {
        match client
            .post(format!("http://{listen}/crm/scenario"))
            .bearer_auth(&token)
            .body(r#"{"name":"Quick start"}"#)
            .send()
            .await
        {
            Ok(response) => {
                answer = Some(response.status());
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    drop(server);
    assert_eq!(
        answer,
        Some(StatusCode::CREATED),
        "curl-style create with the printed token"
    );
}

/// Stops the server even when an assertion fails first.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
