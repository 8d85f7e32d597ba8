//! The web UI over real HTTP: signing in with a token or a member's link, the scenarios
//! and the board with its filters, moving a card with the "Move to…" form (and a stale
//! move refused), and the session's limits.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::TestApp;

backend_tests!(
    forms_holding_a_nul_character_are_refused,
    signing_in_with_a_token_opens_a_session_that_ends_with_it,
    the_board_shows_columns_and_moves_cards,
    cross_site_writes_are_refused,
    the_conversation_page_shows_the_history_and_sends,
    scenarios_are_created_renamed_and_deleted_from_the_list,
    columns_sum_open_payments_and_load_more_cards,
    board_filters_narrow_cards_and_their_figures,
    a_sign_in_link_opens_a_member_session_once,
    the_conversation_page_changes_its_fields_and_crm_data,
    settings_manage_members_tokens_and_webhooks,
    older_messages_come_in_pages,
    outside_the_window_the_composer_offers_the_templates,
    channels_are_connected_and_disconnected_from_settings,
);

/// A client that follows no redirects, so tests see them.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in with `token` as a same-origin form post; returns the cookie pair.
pub(crate) async fn sign_in(app: &TestApp, token: &str) -> String {
    let response = browser()
        .post(format!("{}/ui/login", app.base))
        .header("origin", app.base.clone())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/ui/scenarios");
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains(token), "the cookie is not the token");
    cookie.split(';').next().unwrap().to_owned()
}

/// Signs in with a new sync token named `name` that holds only `scopes`.
pub(crate) async fn sign_in_scoped(app: &TestApp, name: &str, scopes: &[&str]) -> String {
    let token = app
        .core
        .create_token(
            app.org,
            name,
            Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
            stagecoach_domain::enums::TokenType::Sync,
        )
        .await
        .unwrap();
    sign_in(app, &token.secret).await
}

pub(crate) async fn get(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let response = browser()
        .get(format!("{}{path}", app.base))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// A same-origin form post with the session cookie.
pub(crate) async fn post_form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let response = browser()
        .post(format!("{}{path}", app.base))
        .header("origin", app.base.clone())
        .header(COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn signing_in_with_a_token_opens_a_session_that_ends_with_it(app: TestApp) {
    // Signed out: every page leads to the login page.
    let response = browser()
        .get(format!("{}/ui/scenarios", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/ui/login");
    let (status, page) = get(&app, "", "/ui/login").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("name=\"token\""));

    // A wrong token is refused on the page itself.
    let response = browser()
        .post(format!("{}/ui/login", app.base))
        .header("origin", app.base.clone())
        .form(&[("token", "sc_not_a_real_token_at_all_0000000000000000")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.text().await.unwrap().contains("not valid"));

    let token = app
        .core
        .create_token(
            app.org,
            "ui",
            None,
            stagecoach_domain::enums::TokenType::Sync,
        )
        .await
        .unwrap();
    let cookie = sign_in(&app, &token.secret).await;
    let (status, _) = get(&app, &cookie, "/ui/scenarios").await;
    assert_eq!(status, StatusCode::OK);

    // Logging out ends the session.
    let response = browser()
        .post(format!("{}/ui/logout", app.base))
        .header("origin", app.base.clone())
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        response.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        get(&app, &cookie, "/ui/scenarios").await.0,
        StatusCode::SEE_OTHER
    );

    // Revoking the token ends its sessions; so does idling past the limit.
    let cookie = sign_in(&app, &token.secret).await;
    app.core.revoke_token(token.token.id).await.unwrap();
    assert_eq!(
        get(&app, &cookie, "/ui/scenarios").await.0,
        StatusCode::SEE_OTHER
    );
    let cookie = sign_in(&app, &app.token).await;
    assert_eq!(get(&app, &cookie, "/ui/scenarios").await.0, StatusCode::OK);
    app.clock
        .advance(stagecoach_app::SESSION_IDLE + chrono::Duration::seconds(1));
    assert_eq!(
        get(&app, &cookie, "/ui/scenarios").await.0,
        StatusCode::SEE_OTHER
    );
}

async fn the_board_shows_columns_and_moves_cards(app: TestApp) {
    let scenario = app.scenario("Sales <funnel>").await;
    let welcome = app.step_with(&scenario, "Welcome", json!({})).await;
    let pricing = app
        .step_with(&scenario, "Pricing", json!({"defaultTags": ["pricing"]}))
        .await;
    let conversation =
        app.inbound_on("whatsapp", "+55 11 97777-0001", "oi").await["conversationId"]
            .as_str()
            .unwrap()
            .to_owned();
    app.add_to(&conversation, &welcome).await;
    let cookie = sign_in(&app, &app.token).await;

    let (status, page) = get(&app, &cookie, "/ui/scenarios").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Sales &#60;funnel&#62;"),
        "names are escaped: {page}"
    );
    let (status, board) = get(&app, &cookie, &format!("/ui/scenarios/{scenario}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(board.contains(">Welcome<") && board.contains(">Pricing<"));
    assert!(
        board.contains("+5511977770001"),
        "the card shows the phone: {board}"
    );
    assert!(board.contains(&format!("data-conversation-id=\"{conversation}\"")));

    // "Move to…" moves the conversation with the move's rules, as the signed-in token.
    let move_path = format!("/ui/conversations/{conversation}/move");
    let form = [
        ("from", welcome["id"].as_str().unwrap()),
        ("to", pricing["id"].as_str().unwrap()),
        ("scenario", scenario.as_str()),
    ];
    let (status, _) = post_form(&app, &cookie, &move_path, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let state = app.state_of(&conversation).await;
    assert_eq!(state["scenarios"][0]["stepId"], pricing["id"]);
    assert_eq!(state["tags"], json!(["pricing"]));
    let timeline = app.timeline_of(&conversation).await;
    let moved = timeline
        .iter()
        .rev()
        .find(|e| e["type"] == "step_entered")
        .unwrap();
    assert_eq!(moved["data"]["cause"], "moved");
    assert!(moved["actor"].as_str().unwrap().starts_with("api_token:"));

    // The same form again is stale: the card is no longer in Welcome.
    let (status, page) = post_form(&app, &cookie, &move_path, &form).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("no longer in the step"));
    assert_eq!(
        app.state_of(&conversation).await["scenarios"][0]["stepId"],
        pricing["id"]
    );

    // A token acts in the browser with its scopes.
    let reader_cookie = sign_in_scoped(&app, "reader", &["scenarios:read"]).await;
    assert_eq!(
        get(&app, &reader_cookie, "/ui/scenarios").await.0,
        StatusCode::OK
    );
    let (status, page) = get(&app, &reader_cookie, &format!("/ui/scenarios/{scenario}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("conversations:read"), "{page}");

    // Another organization's scenario is not there.
    let (_, other_token) = app.other_tenant().await;
    let other_cookie = sign_in(&app, &other_token).await;
    let (status, _) = get(&app, &other_cookie, &format!("/ui/scenarios/{scenario}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call(Method::GET, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
}

async fn cross_site_writes_are_refused(app: TestApp) {
    let cookie = sign_in(&app, &app.token).await;
    let response = browser()
        .post(format!("{}/ui/logout", app.base))
        .header("origin", "https://evil.example")
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = browser()
        .post(format!("{}/ui/logout", app.base))
        .header("sec-fetch-site", "cross-site")
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        get(&app, &cookie, "/ui/scenarios").await.0,
        StatusCode::OK,
        "still signed in"
    );
}

async fn the_conversation_page_shows_the_history_and_sends(app: TestApp) {
    let scenario = app.scenario("Support").await;
    let triage = app.step_with(&scenario, "Triage", json!({})).await;
    let conversation =
        app.inbound("visitor-ui-1", "My order <b>is late</b>").await["conversationId"]
            .as_str()
            .unwrap()
            .to_owned();
    app.add_to(&conversation, &triage).await;
    let cookie = sign_in(&app, &app.token).await;
    let path = format!("/ui/conversations/{conversation}");
    let (status, page) = get(&app, &cookie, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("My order &#60;b&#62;is late&#60;/b&#62;"),
        "escaped: {page}"
    );
    assert!(page.contains("Support · Triage"));
    assert!(
        page.contains("The contact wrote."),
        "the timeline in plain words"
    );
    assert!(
        page.contains("Entered step Triage by API token"),
        "steps by name: {page}"
    );
    assert!(page.contains("Turn AI off"));

    // Sending from the page queues the message and takes over from the AI agent.
    let (status, _) = post_form(
        &app,
        &cookie,
        &format!("{path}/messages"),
        &[("text", "We are on it!")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let state = app.state_of(&conversation).await;
    assert_eq!(state["aiEnabled"], false);
    let sent: Vec<_> = app
        .effects_of(&conversation)
        .await
        .into_iter()
        .filter(|o| o["kind"] == "session_message")
        .collect();
    assert_eq!(sent.len(), 1);
    let (_, page) = get(&app, &cookie, &path).await;
    assert!(page.contains("We are on it!") && page.contains("Turn AI on"));

    // Turning AI back on, and an empty message refused on the page.
    let (status, _) = post_form(&app, &cookie, &format!("{path}/ai"), &[("enabled", "true")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(app.state_of(&conversation).await["aiEnabled"], true);
    let (status, page) = post_form(
        &app,
        &cookie,
        &format!("{path}/messages"),
        &[("text", "   ")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("write a message first"), "{page}");

    // A WhatsApp conversation with no connected number cannot be written to.
    let whatsapp = app.inbound_on("whatsapp", "+55 11 96666-0001", "oi").await["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, page) = post_form(
        &app,
        &cookie,
        &format!("/ui/conversations/{whatsapp}/messages"),
        &[("text", "hello")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("no whatsapp channel is connected"), "{page}");
    let (status, _) = get(
        &app,
        &cookie,
        &format!("/ui/conversations/{}", uuid::Uuid::now_v7()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn scenarios_are_created_renamed_and_deleted_from_the_list(app: TestApp) {
    let cookie = sign_in(&app, &app.token).await;
    let (status, _) = post_form(&app, &cookie, "/ui/scenarios", &[("name", "Onboarding")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, listed) = app.call(Method::GET, "/crm/scenario", None).await;
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed[0]["name"], "Onboarding");

    let (status, page) = post_form(
        &app,
        &cookie,
        &format!("/ui/scenarios/{id}/rename"),
        &[("name", "   ")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("name:"),
        "the message names the field: {page}"
    );
    let (status, _) = post_form(
        &app,
        &cookie,
        &format!("/ui/scenarios/{id}/rename"),
        &[("name", "Welcome")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, listed) = app.call(Method::GET, "/crm/scenario", None).await;
    assert_eq!(listed[0]["name"], "Welcome");

    let (status, _) = post_form(&app, &cookie, &format!("/ui/scenarios/{id}/delete"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, listed) = app.call(Method::GET, "/crm/scenario", None).await;
    assert_eq!(listed, json!([]));
    let (status, _) = post_form(&app, &cookie, &format!("/ui/scenarios/{id}/delete"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn columns_sum_open_payments_and_load_more_cards(app: TestApp) {
    let scenario = app.scenario("Deals").await;
    let open = app.step_with(&scenario, "Open", json!({})).await;
    app.step_with(&scenario, "Won", json!({})).await;
    let mut first_contact = None;
    for i in 0..51 {
        let inbound = app
            .inbound_on("whatsapp", &format!("+55 11 95555-{i:04}"), "oi")
            .await;
        app.add_to(inbound["conversationId"].as_str().unwrap(), &open)
            .await;
        first_contact.get_or_insert(inbound["contactId"].as_str().unwrap().to_owned());
    }
    let lead = first_contact.unwrap();
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/autoupdate/v2/enterprise/{}/lead/{lead}/action", app.org),
            Some(json!({"actions": [
                {"type": "PAYMENT", "amount": "7", "currency": "USD", "status": "PENDING"},
                {"type": "PAYMENT", "amount": "12.50", "currency": "USD", "status": "PROCESSING"},
                {"type": "PAYMENT", "amount": "100", "currency": "USD", "status": "COMPLETED"}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cookie = sign_in(&app, &app.token).await;
    let path = format!("/ui/scenarios/{scenario}");
    let (status, board) = get(&app, &cookie, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        board.contains("USD 19.50"),
        "only open payments are summed: {board}"
    );
    assert_eq!(board.matches("class=\"card\"").count(), 50);
    assert!(board.contains("Show more (1 not shown)"), "{board}");
    let more = format!("{path}?expand={}&cards=100", open["id"].as_str().unwrap());
    let (_, board) = get(&app, &cookie, &more).await;
    assert_eq!(board.matches("class=\"card\"").count(), 51);
    assert!(!board.contains("Show more"));
}

async fn board_filters_narrow_cards_and_their_figures(app: TestApp) {
    let scenario = app.scenario("Filtered").await;
    let ana = app.member(app.org, "ana@filters.example").await;
    let plain = app.step_with(&scenario, "Plain", json!({})).await;
    let hot = app
        .step_with(
            &scenario,
            "Hot",
            json!({"defaultPriority": "HIGH", "defaultTags": ["hot"],
                   "assigneeLogicType": "single_user",
                   "selectedMembershipIdsForAssignee": [ana.to_string()],
                   "autoNextTime": 2, "autoNextTimeUnit": "h", "autoNextStepId": plain["id"]}),
        )
        .await;
    let mut contacts = Vec::new();
    for (i, step) in [&plain, &plain, &hot].into_iter().enumerate() {
        let inbound = app
            .inbound_on(
                "whatsapp",
                &format!("+55 11 94444-{i:04}"),
                &format!("message number {i}"),
            )
            .await;
        app.add_to(inbound["conversationId"].as_str().unwrap(), step)
            .await;
        contacts.push(inbound["contactId"].as_str().unwrap().to_owned());
    }
    for (contact, amount) in [(&contacts[0], "10"), (&contacts[2], "25")] {
        let (status, body) = app
            .call(
                Method::POST,
                &format!(
                    "/autoupdate/v2/enterprise/{}/lead/{contact}/action",
                    app.org
                ),
                Some(json!({"actions": [
                    {"type": "PAYMENT", "amount": amount, "currency": "USD", "status": "PENDING"}
                ]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let cookie = sign_in(&app, &app.token).await;
    let path = format!("/ui/scenarios/{scenario}");
    let counts = |board: &str| -> Vec<String> {
        board
            .split("class=\"count\">")
            .skip(1)
            .map(|rest| rest.split('<').next().unwrap().to_owned())
            .collect()
    };

    let (status, board) = get(&app, &cookie, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(counts(&board), ["2", "1"]);
    assert!(board.contains("USD 10.00") && board.contains("USD 25.00"));
    assert!(
        board.contains("message number 1"),
        "the last message: {board}"
    );
    assert!(board.contains("Assigned to Member"), "{board}");
    assert!(
        board.contains("class=\"countdown\"") && board.contains("in 2 h"),
        "the auto-advance countdown: {board}"
    );

    // Each filter narrows the cards, the counts and the sums alike.
    for query in [
        "priority=HIGH".to_owned(),
        "tag=hot".to_owned(),
        format!("assignee={ana}"),
        "q=94444-0002".to_owned(),
    ] {
        let (status, board) = get(&app, &cookie, &format!("{path}?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert_eq!(counts(&board), ["0", "1"], "{query}");
        assert_eq!(board.matches("class=\"card\"").count(), 1, "{query}");
        assert!(
            !board.contains("USD 10.00") && board.contains("USD 25.00"),
            "{query}"
        );
        assert!(board.contains(">Clear</a>"), "{query}");
    }
    let (_, board) = get(&app, &cookie, &format!("{path}?assignee=nobody")).await;
    assert_eq!(counts(&board), ["2", "0"]);
    let (_, board) = get(&app, &cookie, &format!("{path}?status=RESOLVED")).await;
    assert_eq!(counts(&board), ["0", "0"]);

    // A wrong value is refused, naming the field.
    let (status, page) = get(&app, &cookie, &format!("{path}?priority=URGENT")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("priority"), "{page}");
    let (status, _) = get(&app, &cookie, &format!("{path}?assignee=someone")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A move from a filtered board comes back to it.
    let (_, board) = get(&app, &cookie, &format!("{path}?tag=hot")).await;
    let card = board
        .split("data-conversation-id=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let response = browser()
        .post(format!("{}/ui/conversations/{card}/move", app.base))
        .header("origin", app.base.clone())
        .header(COOKIE, &cookie)
        .form(&[
            ("from", hot["id"].as_str().unwrap()),
            ("to", plain["id"].as_str().unwrap()),
            ("scenario", scenario.as_str()),
            ("filter", "tag=hot"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], format!("{path}?tag=hot"));
}

async fn a_sign_in_link_opens_a_member_session_once(app: TestApp) {
    let scenario = app.scenario("Members").await;
    let first = app.step_with(&scenario, "First", json!({})).await;
    let second = app.step_with(&scenario, "Second", json!({})).await;
    let conversation = app.conversation().await;
    app.add_to(&conversation, &first).await;
    let member = app.member(app.org, "link@example.com").await;

    // The command prints the link; opening it asks for a click and spends nothing.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .args([
            "login-link",
            "--org",
            &app.org.to_string(),
            "--member",
            &member.to_string(),
            "--base-url",
            &format!("{}/", app.base),
        ])
        .env("STAGECOACH_DATABASE_URL", &app.db.url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let link = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let path = link
        .strip_prefix(&app.base)
        .expect("the link is on the base URL")
        .to_owned();
    assert!(path.starts_with("/ui/login/link/scl_"), "{link}");
    for _ in 0..2 {
        let (status, page) = get(&app, "", &path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(&format!("action=\"{path}\"")), "{page}");
    }

    // A cross-site post does not spend it either; the first real click does.
    let response = browser()
        .post(format!("{}{path}", app.base))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = browser()
        .post(format!("{}{path}", app.base))
        .header("origin", app.base.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let response = browser()
        .post(format!("{}{path}", app.base))
        .header("origin", app.base.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "usable once");
    assert!(response.text().await.unwrap().contains("used already"));

    // The session acts as the member: the timeline names them.
    let (status, _) = post_form(
        &app,
        &cookie,
        &format!("/ui/conversations/{conversation}/move"),
        &[
            ("from", first["id"].as_str().unwrap()),
            ("to", second["id"].as_str().unwrap()),
            ("scenario", scenario.as_str()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let timeline = app.timeline_of(&conversation).await;
    let moved = timeline
        .iter()
        .rev()
        .find(|e| e["type"] == "step_entered")
        .unwrap();
    assert_eq!(moved["actor"], format!("member:{member}"));
    let (status, _) = post_form(
        &app,
        &cookie,
        &format!("/ui/conversations/{conversation}/messages"),
        &[("text", "Hello from a member")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = get(&app, &cookie, &format!("/ui/conversations/{conversation}")).await;
    assert!(page.contains("by member Member"), "named: {page}");
    assert!(
        page.contains("<div class=\"meta\">Member · "),
        "the message's author by name: {page}"
    );

    // A user member works conversations but does not edit the pipeline.
    let (status, page) = post_form(&app, &cookie, "/ui/scenarios", &[("name", "Nope")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("scenarios:write"), "{page}");

    // A link waits 10 minutes at most.
    let late = app.core.create_login_link(app.org, member).await.unwrap();
    app.clock.advance(chrono::Duration::minutes(11));
    let response = browser()
        .post(format!("{}/ui/login/link/{}", app.base, late.secret))
        .header("origin", app.base.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "expired");

    // Removing the member ends their session.
    assert_eq!(get(&app, &cookie, "/ui/scenarios").await.0, StatusCode::OK);
    app.core.remove_member(app.org, member).await.unwrap();
    assert_eq!(
        get(&app, &cookie, "/ui/scenarios").await.0,
        StatusCode::SEE_OTHER
    );
    let other = app.member(app.org, "other@example.com").await;
    let (other_org, _) = app.other_tenant().await;
    assert!(
        app.core.create_login_link(other_org, other).await.is_err(),
        "a link is for a member of the organization named"
    );
}

async fn the_conversation_page_changes_its_fields_and_crm_data(app: TestApp) {
    let inbound = app.inbound_on("whatsapp", "+55 11 91111-0001", "oi").await;
    let conversation = inbound["conversationId"].as_str().unwrap().to_owned();
    let contact = inbound["contactId"].as_str().unwrap().to_owned();
    let ana = app.member(app.org, "ana@fields.example").await.to_string();
    let cookie = sign_in(&app, &app.token).await;
    let path = format!("/ui/conversations/{conversation}");
    let fields = format!("{path}/fields");
    for form in [
        vec![("status", "HUMAN_REQUESTED")],
        vec![("priority", "HIGH")],
        vec![("add", "vip")],
        vec![("add", "late")],
        vec![("remove", "vip")],
        vec![("member", ana.as_str())],
    ] {
        let (status, page) = post_form(&app, &cookie, &fields, &form).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{form:?}: {page}");
    }
    let state = app.state_of(&conversation).await;
    assert_eq!(state["status"], "HUMAN_REQUESTED");
    assert_eq!(state["priority"], "HIGH");
    assert_eq!(state["tags"], json!(["late"]));
    assert_eq!(state["assignees"], json!([ana]));
    let (_, page) = get(&app, &cookie, &path).await;
    assert!(page.contains("Member") && page.contains(">late<"), "{page}");
    let (status, _) = post_form(&app, &cookie, &fields, &[("member", "")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(app.state_of(&conversation).await["assignees"], json!([]));
    let (status, page) = post_form(&app, &cookie, &fields, &[("priority", "URGENT")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("priority"), "{page}");

    // CRM data in lodash's modes; what is not a JSON object is refused, naming data.
    let crm = format!("{path}/crm-data");
    for (mode, data) in [
        ("merge", r#"{"plan": "gold", "n": {"a": 1}}"#),
        ("merge", r#"{"n": {"b": 2}}"#),
        ("defaults", r#"{"plan": "silver", "new": true}"#),
    ] {
        let (status, page) =
            post_form(&app, &cookie, &crm, &[("mode", mode), ("data", data)]).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    }
    assert_eq!(
        app.state_of(&conversation).await["crmData"],
        json!({"plan": "gold", "n": {"a": 1, "b": 2}, "new": true})
    );
    for (mode, data, field) in [
        ("merge", "{not json", "data"),
        ("merge", "[1, 2]", "data"),
        ("blend", "{}", "mergingMode"),
    ] {
        let (status, page) =
            post_form(&app, &cookie, &crm, &[("mode", mode), ("data", data)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{data}");
        assert!(page.contains(field), "{field}: {page}");
    }

    // The contact's lead actions, for a caller that may read leads.
    let (status, body) = app
        .call(
            Method::POST,
            &format!(
                "/autoupdate/v2/enterprise/{}/lead/{contact}/action",
                app.org
            ),
            Some(json!({"actions": [
                {"type": "PAYMENT", "amount": "10.50", "currency": "USD", "status": "PENDING"}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, page) = get(&app, &cookie, &path).await;
    assert!(page.contains("payment: USD 10.50 · PENDING"), "{page}");
}

async fn settings_manage_members_tokens_and_webhooks(app: TestApp) {
    let cookie = sign_in(&app, &app.token).await;
    let (status, page) = get(&app, &cookie, "/ui/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Members") && page.contains("Webhook endpoints"));

    let (status, _) = post_form(
        &app,
        &cookie,
        "/ui/settings/members",
        &[
            ("name", "Bia Settings"),
            ("email", "bia@settings.example"),
            ("role", "USER"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, page) = post_form(
        &app,
        &cookie,
        "/ui/settings/members",
        &[
            ("name", "Bia Again"),
            ("email", "BIA@settings.example"),
            ("role", "USER"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");

    // A token is shown once, and works with the scopes ticked.
    let (status, page) = post_form(
        &app,
        &cookie,
        "/ui/settings/tokens",
        &[("name", "reporting"), ("scope", "scenarios:read")],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = page
        .split("<code id=\"new-token\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.call_as(&secret, Method::GET, "/crm/scenario", None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        app.call_as(&secret, Method::GET, "/v1/webhook-endpoints", None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (_, page) = get(&app, &cookie, "/ui/settings").await;
    assert!(!page.contains(&secret), "never shown again");

    // A restricted caller cannot mint more than it holds.
    let limited = sign_in_scoped(&app, "admins", &["admin:write"]).await;
    let (status, page) = post_form(
        &app,
        &limited,
        "/ui/settings/tokens",
        &[("name", "all of it")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("scopes"), "{page}");
    let (status, _) = post_form(
        &app,
        &limited,
        "/ui/settings/tokens",
        &[("name", "more"), ("scope", "webhooks:write")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Revoking: this organization's tokens only.
    let tokens = app.core.list_tokens(app.org).await.unwrap();
    let reporting = tokens.iter().find(|t| t.name == "reporting").unwrap();
    let (other_org, _) = app.other_tenant().await;
    let theirs = app
        .core
        .create_token(
            other_org,
            "theirs",
            None,
            stagecoach_domain::enums::TokenType::Sync,
        )
        .await
        .unwrap();
    let (status, _) = post_form(
        &app,
        &cookie,
        &format!("/ui/settings/tokens/{}/revoke", theirs.token.id),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.call_as(&theirs.secret, Method::GET, "/crm/scenario", None)
            .await
            .0,
        StatusCode::OK,
        "another organization's token still works"
    );
    let (status, _) = post_form(
        &app,
        &cookie,
        &format!("/ui/settings/tokens/{}/revoke", reporting.id),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.call_as(&secret, Method::GET, "/crm/scenario", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // Webhook endpoints: created, listed with their deliveries, deleted.
    let (status, page) = post_form(
        &app,
        &cookie,
        "/ui/settings/webhooks",
        &[
            ("url", "ftp://nope.example"),
            ("events", ""),
            ("style", "stagecoach"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    let (status, _) = post_form(
        &app,
        &cookie,
        "/ui/settings/webhooks",
        &[
            ("url", "https://hooks.example.com/in"),
            ("events", "conversation.step_entered"),
            ("style", "chatvolt"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, listed) = app.call(Method::GET, "/v1/webhook-endpoints", None).await;
    assert_eq!(listed[0]["url"], "https://hooks.example.com/in");
    assert_eq!(listed[0]["style"], "chatvolt");
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    let (status, page) = get(&app, &cookie, &format!("/ui/settings/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Nothing was sent"), "{page}");
    // A step entry makes a delivery; the page lists it and sends it again on request.
    let scenario = app.scenario("Hooked").await;
    let step = app.step_with(&scenario, "Entered", json!({})).await;
    let conversation = app.conversation().await;
    app.add_to(&conversation, &step).await;
    app.core.fan_out_events(100).await.unwrap();
    let (_, page) = get(&app, &cookie, &format!("/ui/settings/webhooks/{id}")).await;
    assert!(page.contains("conversation.step_entered"), "{page}");
    let delivery = page
        .split("/deliveries/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let (status, _) = post_form(
        &app,
        &cookie,
        &format!("/ui/settings/webhooks/{id}/deliveries/{delivery}/redeliver"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, redelivered) = app
        .call(Method::GET, &format!("/v1/deliveries/{delivery}"), None)
        .await;
    assert_eq!(redelivered["status"], "pending", "{redelivered}");
    let (status, _) = post_form(
        &app,
        &cookie,
        &format!("/ui/settings/webhooks/{id}/delete"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, listed) = app.call(Method::GET, "/v1/webhook-endpoints", None).await;
    assert_eq!(listed, json!([]));

    // A caller without admin or webhooks scopes sees neither section.
    let reader = sign_in_scoped(&app, "reader", &["scenarios:read"]).await;
    let (status, page) = get(&app, &reader, "/ui/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !page.contains("members-title") && page.contains("admin:read"),
        "{page}"
    );
    let (status, _) = post_form(&app, &reader, "/ui/settings/tokens", &[("name", "x")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn older_messages_come_in_pages(app: TestApp) {
    // 55 messages in the same millisecond (the test clock stands still): pages break
    // ties by id, so none is shown twice or skipped.
    let mut conversation = String::new();
    for i in 0..55 {
        conversation = app.inbound("pager", &format!("message #{i:02}")).await["conversationId"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    let cookie = sign_in(&app, &app.token).await;
    let path = format!("/ui/conversations/{conversation}");
    let shown = |page: &str| -> Vec<String> {
        page.split("message #")
            .skip(1)
            .map(|rest| rest[..2].to_owned())
            .collect()
    };
    let (status, latest) = get(&app, &cookie, &path).await;
    assert_eq!(status, StatusCode::OK);
    let numbers: Vec<String> = (5..55).map(|i| format!("{i:02}")).collect();
    assert_eq!(shown(&latest), numbers, "the last 50, oldest first");
    let older = latest
        .split("class=\"older-messages\" href=\"")
        .nth(1)
        .expect("a link to older messages")
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let (status, page) = get(&app, &cookie, &older).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown(&page), ["00", "01", "02", "03", "04"]);
    assert!(!page.contains("older-messages") && page.contains("Back to the latest"));
    let (status, page) = get(&app, &cookie, &format!("{path}?before=yesterday")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("before"), "{page}");
}

async fn outside_the_window_the_composer_offers_the_templates(app: TestApp) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let provider = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v21.0/WABA-UI/message_templates"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [
            {"id": "1", "name": "order_update", "language": "pt_BR", "status": "APPROVED",
             "category": "UTILITY", "components": [{"type": "BODY", "text": "Oi {{1}}, o pedido {{2}} saiu."}]},
            {"id": "2", "name": "promo_photo", "language": "pt_BR", "status": "APPROVED",
             "category": "MARKETING", "components": [{"type": "HEADER", "format": "IMAGE"},
                                                     {"type": "BODY", "text": "Veja"}]},
            {"id": "3", "name": "draft", "language": "pt_BR", "status": "PENDING",
             "category": "UTILITY", "components": [{"type": "BODY", "text": "x"}]}]})))
        .mount(&provider)
        .await;
    let server = app.with_providers_at(&provider.uri()).await;
    let (status, channel) = server
        .call(
            Method::POST,
            "/v1/channels",
            Some(
                json!({"kind": "whatsapp", "name": "Sales line", "accountId": "PN-UI",
                        "businessAccountId": "WABA-UI", "accessToken": "t", "appSecret": "s"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let conversation = server
        .inbound_on("whatsapp", "+55 11 95555-0101", "oi")
        .await["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = sign_in(&server, &server.token).await;
    let path = format!("/ui/conversations/{conversation}");

    // Inside the window: free text, and Meta is not asked for templates.
    let (_, page) = get(&server, &cookie, &path).await;
    assert!(page.contains("Write to the contact"), "{page}");
    assert!(provider.received_requests().await.unwrap().is_empty());

    server.clock.advance(chrono::Duration::hours(25));
    // A day later the session has gone idle: sign in again.
    let cookie = sign_in(&server, &server.token).await;
    let (status, page) = get(&server, &cookie, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !page.contains("Write to the contact"),
        "no free text: {page}"
    );
    assert!(page.contains("Oi {{1}}, o pedido {{2}} saiu."), "{page}");
    assert_eq!(page.matches("name=\"parameter\"").count(), 2, "{page}");
    assert!(page.contains("its header is image"), "{page}");
    assert!(page.contains("only approved templates"), "{page}");

    // A missing parameter is refused on the page; nothing is queued.
    let template = format!("{path}/template");
    let (status, page) = post_form(
        &server,
        &cookie,
        &template,
        &[
            ("name", "order_update"),
            ("language", "pt_BR"),
            ("parameter", "Ana"),
            ("parameter", " "),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("parameters[1]"), "{page}");
    let (status, page) = post_form(
        &server,
        &cookie,
        &template,
        &[("name", "promo_photo"), ("language", "pt_BR")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("needs a media file"), "{page}");
    assert!(server.effects_of(&conversation).await.is_empty());

    let (status, _) = post_form(
        &server,
        &cookie,
        &template,
        &[
            ("name", "order_update"),
            ("language", "pt_BR"),
            ("parameter", "Ana"),
            ("parameter", "#42"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let effects = server.effects_of(&conversation).await;
    assert_eq!(effects.len(), 1, "{effects:?}");
    assert_eq!(effects[0]["kind"], "whatsapp_template");
    let (_, page) = get(&server, &cookie, &path).await;
    assert!(
        page.contains("Oi Ana, o pedido #42 saiu."),
        "the copy in the history: {page}"
    );

    // A token that may only read conversations cannot send one.
    let reader = sign_in_scoped(&server, "reader", &["conversations:read"]).await;
    let (status, _) = post_form(
        &server,
        &reader,
        &template,
        &[
            ("name", "order_update"),
            ("language", "pt_BR"),
            ("parameter", "A"),
            ("parameter", "B"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    server.stop().await;
}

async fn channels_are_connected_and_disconnected_from_settings(app: TestApp) {
    let agent = app.agent("Closer").await;
    let cookie = sign_in(&app, &app.token).await;
    let (_, page) = get(&app, &cookie, "/ui/settings").await;
    assert!(
        page.contains("Connect a WhatsApp Cloud API number"),
        "{page}"
    );
    assert!(
        page.contains(&format!("<option value=\"{agent}\">Closer</option>")),
        "{page}"
    );

    // Missing secrets are named, and nothing is connected.
    let (status, page) = post_form(
        &app,
        &cookie,
        "/ui/settings/channels",
        &[
            ("kind", "whatsapp"),
            ("name", "Sales"),
            ("account_id", "PN-S"),
            ("access_token", " "),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("accessToken") && page.contains("appSecret"),
        "{page}"
    );
    let (_, channels) = app.call(Method::GET, "/v1/channels", None).await;
    assert_eq!(channels, json!([]));

    let (status, page) = post_form(
        &app,
        &cookie,
        "/ui/settings/channels",
        &[
            ("kind", "whatsapp"),
            ("name", "Sales"),
            ("account_id", "PN-S"),
            ("business_account_id", "WABA-S"),
            ("access_token", "tok"),
            ("app_secret", "sec"),
            ("agent", &agent),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    let (_, channels) = app.call(Method::GET, "/v1/channels", None).await;
    let channel = &channels[0];
    assert_eq!(channel["businessAccountId"], "WABA-S");
    assert_eq!(channel["agentId"], json!(agent));
    let path = channel["webhookPath"].as_str().unwrap();
    assert!(page.contains(path), "{page}");
    // The generated verify token is on this answer, and it is what Meta must echo.
    let token = page
        .split("id=\"new-inbound-token\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    assert!(token.len() >= 20, "{token}");
    let challenge = app
        .client
        .get(format!(
            "{}{path}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=777",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.text().await.unwrap(), "777");
    let (_, page) = get(&app, &cookie, "/ui/settings").await;
    assert!(!page.contains(&token), "shown once only");
    assert!(page.contains("WABA-S") && page.contains("Closer"), "{page}");

    // Z-API, with its own token given.
    let (status, page) = post_form(
        &app,
        &cookie,
        "/ui/settings/channels",
        &[
            ("kind", "zapi"),
            ("name", "Support"),
            ("account_id", "INST-1"),
            ("instance_token", "it"),
            ("client_token", "ct"),
            ("inbound_token", "zapi-hook-token"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    assert!(page.contains("zapi-hook-token"), "{page}");

    // A reader of webhooks sees the channels but may not disconnect them.
    let reader = sign_in_scoped(&app, "reader", &["webhooks:read"]).await;
    let id = channel["id"].as_str().unwrap();
    let (status, _) = post_form(
        &app,
        &reader,
        &format!("/ui/settings/channels/{id}/delete"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = post_form(
        &app,
        &cookie,
        &format!("/ui/settings/channels/{id}/delete"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, channels) = app.call(Method::GET, "/v1/channels", None).await;
    assert_eq!(channels.as_array().unwrap().len(), 1);
    assert_eq!(channels[0]["kind"], "zapi");
}

/// A NUL (U+0000) cannot be stored on PostgreSQL: a form holding one is refused with 400
/// on both engines, before anything is written.
async fn forms_holding_a_nul_character_are_refused(app: TestApp) {
    let cookie = sign_in(&app, &app.token).await;
    let (status, page) =
        post_form(&app, &cookie, "/ui/scenarios", &[("name", "Fun\u{0}nel")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("NUL character"), "{page}");
    let (_, scenarios) = app.call(reqwest::Method::GET, "/crm/scenario", None).await;
    assert_eq!(scenarios, serde_json::json!([]));
    let (status, _) = post_form(&app, &cookie, "/ui/scenarios", &[("name", "Funnel")]).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "a clean form still goes through"
    );
}
