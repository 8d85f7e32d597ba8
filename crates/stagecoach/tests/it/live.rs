//! Live pages over real HTTP: the server-sent events of an open board and an open
//! conversation, for changes made through the API, on the same server or (PostgreSQL) on
//! another server of the same database.

use std::time::Duration;

use reqwest::header::COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stagecoach_app::Clock;

use crate::support::{Backend, TestApp};
use crate::web::{browser, sign_in};

backend_tests!(
    an_open_board_hears_the_cards_and_figures_a_move_changed,
    a_filtered_board_hears_a_card_leave_its_filter,
    a_card_moved_past_the_shown_cards_leaves_the_page,
    an_open_conversation_hears_a_new_message,
    a_change_on_one_server_reaches_a_board_on_another,
    a_server_stops_though_pages_are_open,
);

/// An open event stream, read event by event.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(app: &TestApp, cookie: &str, path: &str) -> Events {
        let response = browser()
            .get(format!("{}{path}", app.base))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Events {
            response,
            buffer: String::new(),
        }
    }

    /// The next event named `name` (keep-alive comments skipped), as JSON.
    async fn next(&mut self, name: &str) -> Value {
        let wanted = format!("event: {name}\n");
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                while let Some(end) = self.buffer.find("\n\n") {
                    let event: String = self.buffer.drain(..end + 2).collect();
                    if let Some(rest) = event.strip_prefix(&wanted) {
                        let data: String = rest
                            .lines()
                            .filter_map(|l| l.strip_prefix("data: "))
                            .collect();
                        return serde_json::from_str(&data).unwrap();
                    }
                }
                let chunk = self
                    .response
                    .chunk()
                    .await
                    .unwrap()
                    .expect("the stream ended");
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {name} event within 10 s"))
    }
}

fn count_of(update: &Value, step: &Value) -> i64 {
    update["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["step"] == *step)
        .unwrap()["count"]
        .as_i64()
        .unwrap()
}

async fn board_with_a_card(app: &TestApp) -> (String, Value, Value, String) {
    let scenario = app.scenario("Live").await;
    let new = app.step_with(&scenario, "New", json!({})).await;
    let won = app
        .step_with(&scenario, "Won", json!({"defaultTags": ["won"]}))
        .await;
    let conversation = app.conversation().await;
    app.add_to(&conversation, &new).await;
    (scenario, new, won, conversation)
}

async fn move_to(app: &TestApp, conversation: &str, step: &Value) {
    let (status, body) = app
        .call(
            Method::POST,
            "/crm/step/move",
            Some(json!({"conversationId": conversation, "destStepId": step["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn an_open_board_hears_the_cards_and_figures_a_move_changed(app: TestApp) {
    let (scenario, new, won, conversation) = board_with_a_card(&app).await;
    let cookie = sign_in(&app, &app.token).await;
    let mut events = Events::open(&app, &cookie, &format!("/ui/scenarios/{scenario}/live")).await;

    move_to(&app, &conversation, &won).await;
    let update = events.next("board").await;
    assert_eq!(count_of(&update, &new["id"]), 0);
    assert_eq!(count_of(&update, &won["id"]), 1);
    let card = &update["cards"][0];
    assert_eq!(card["id"], conversation.as_str());
    assert_eq!(card["step"], won["id"]);
    let html = card["html"].as_str().unwrap();
    assert!(
        html.contains(&format!("data-conversation-id=\"{conversation}\""))
            && html.contains(">won<"),
        "the card as it is now, rendered: {html}"
    );
    assert_eq!(
        update["cards"].as_array().unwrap().len(),
        1,
        "only what changed"
    );

    // A change in another organization says nothing to this board: the next event is
    // this organization's next change.
    let (_, other_token) = app.other_tenant().await;
    let (status, _) = app
        .call_as(
            &other_token,
            Method::POST,
            "/v1/messages/inbound",
            Some(json!({"channel": "website", "from": "theirs", "text": "oi"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Another change here arrives next, not theirs.
    move_to(&app, &conversation, &new).await;
    let update = events.next("board").await;
    assert_eq!(update["cards"][0]["step"], new["id"]);
}

async fn a_filtered_board_hears_a_card_leave_its_filter(app: TestApp) {
    let (scenario, _new, won, conversation) = board_with_a_card(&app).await;
    let cookie = sign_in(&app, &app.token).await;
    let mut events = Events::open(
        &app,
        &cookie,
        &format!("/ui/scenarios/{scenario}/live?priority=MEDIUM"),
    )
    .await;
    // Entering a step that raises the priority takes the card out of the filter.
    let hot = app
        .step_with(&scenario, "Hot", json!({"defaultPriority": "HIGH"}))
        .await;
    move_to(&app, &conversation, &hot).await;
    let update = loop {
        let update = events.next("board").await;
        if !update["gone"].as_array().unwrap().is_empty() {
            break update;
        }
        // A new step changes the columns: the page reloads; the feed says so too.
        assert!(update.get("columns").is_some() || update["resync"] == true);
    };
    assert_eq!(update["gone"], json!([conversation]));
    assert_eq!(update["cards"], json!([]));
    assert_eq!(
        count_of(&update, &hot["id"]),
        0,
        "the count follows the filter"
    );
    let _ = won;
}

async fn a_card_moved_past_the_shown_cards_leaves_the_page(app: TestApp) {
    let (scenario, new, won, _first) = board_with_a_card(&app).await;
    for _ in 0..50 {
        let conversation = app.conversation().await;
        app.add_to(&conversation, &won).await;
    }
    // The newest card of the board sorts after the 50 that Won shows.
    let late = app.conversation().await;
    app.add_to(&late, &new).await;
    let cookie = sign_in(&app, &app.token).await;
    let mut events = Events::open(&app, &cookie, &format!("/ui/scenarios/{scenario}/live")).await;
    move_to(&app, &late, &won).await;
    let update = events.next("board").await;
    assert_eq!(
        update["cards"],
        json!([]),
        "not rendered: the page does not show it"
    );
    assert_eq!(update["gone"], json!([late]), "its old card leaves New");
    assert_eq!(count_of(&update, &won["id"]), 51);
}

async fn an_open_conversation_hears_a_new_message(app: TestApp) {
    let inbound = app.inbound("live-visitor", "first").await;
    let conversation = inbound["conversationId"].as_str().unwrap().to_owned();
    let cookie = sign_in(&app, &app.token).await;
    let mut events = Events::open(
        &app,
        &cookie,
        &format!("/ui/conversations/{conversation}/live"),
    )
    .await;
    app.inbound("live-visitor", "second").await;
    events.next("conversation").await;
}

async fn a_change_on_one_server_reaches_a_board_on_another(app: TestApp) {
    if app.db.backend != Backend::Postgres {
        // One process per SQLite database: there is no other server to hear from.
        return;
    }
    let (scenario, _new, won, conversation) = board_with_a_card(&app).await;
    let other = TestApp::serve(app.db.again(), app.org, app.token.clone(), app.clock.now()).await;
    let cookie = sign_in(&other, &app.token).await;
    let mut events = Events::open(&other, &cookie, &format!("/ui/scenarios/{scenario}/live")).await;
    // The listener connects when the first stream opens; give it a moment to listen.
    tokio::time::sleep(Duration::from_millis(500)).await;
    move_to(&app, &conversation, &won).await;
    let update = events.next("board").await;
    assert_eq!(update["cards"][0]["step"], won["id"]);
    other.stop().await;
}

async fn a_server_stops_though_pages_are_open(app: TestApp) {
    let (scenario, ..) = board_with_a_card(&app).await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--role",
            "api",
            "--database-url",
            &app.db.url,
            "--secret-key",
            crate::support::SECRET_KEY,
            "--log-format",
            "json",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let address = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok);
        let address = lines.by_ref().find_map(|line| {
            serde_json::from_str::<Value>(&line).ok()?["address"]
                .as_str()
                .map(str::to_owned)
        });
        std::thread::spawn(move || lines.for_each(drop));
        address
    })
    .await
    .unwrap()
    .expect("the server logs its address");
    let mut server = app.clone();
    server.base = format!("http://{address}");
    let cookie = sign_in(&server, &app.token).await;
    let _board = Events::open(&server, &cookie, &format!("/ui/scenarios/{scenario}/live")).await;
    let _filtered = Events::open(
        &server,
        &cookie,
        &format!("/ui/scenarios/{scenario}/live?priority=HIGH"),
    )
    .await;
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // A graceful shutdown waits for open connections: the streams must end by themselves.
    let exited = tokio::task::spawn_blocking(move || {
        for _ in 0..300 {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        None
    })
    .await
    .unwrap();
    let status = exited.expect("the server stopped within 30 s of SIGTERM, streams open");
    assert!(status.success(), "{status}");
}
