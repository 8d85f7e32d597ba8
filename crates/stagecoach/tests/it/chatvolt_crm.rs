//! The rest of Chatvolt's CRM door: a conversation's tags (shared with steps and Texter's
//! labels), notes (with reminders announced once), contact variables, the counts and
//! event log of the boards, and the history and exports of conversations.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, assert_chatvolt_shape, assert_error};

backend_tests!(
    tags_are_listed_and_added_as_steps_and_texter_see_them,
    notes_are_written_changed_and_deleted_by_their_author,
    note_reminders_are_announced_once_when_due,
    contact_variables_are_kept_per_key_and_fill_texts,
    boards_are_counted_and_their_moves_logged,
    conversations_are_exported_whole_and_their_history_paged,
    inputs_the_contract_types_are_refused_when_wrong,
);

async fn tags_are_listed_and_added_as_steps_and_texter_see_them(app: TestApp) {
    let scenario = app.scenario("Sales").await;
    let step = app
        .step_with(
            &scenario,
            "Qualify",
            json!({"trigger": "t", "defaultTags": ["lead"]}),
        )
        .await;
    let conversation = app.conversation().await;
    app.add_to(&conversation, &step).await;
    let tags = format!("/conversations/{conversation}/tags");

    let (status, listed) = app.call(Method::GET, &tags, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed, json!({"success": true, "data": [{"tag": "lead"}]}));

    let (status, added) = app
        .call(Method::POST, &tags, Some(json!({"tagName": "  vip "})))
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(
        added,
        json!({"success": true, "data": {"tag": "vip", "tags": [{"tag": "lead"}, {"tag": "vip"}]}})
    );
    // Adding it again keeps it once.
    let (_, again) = app
        .call(Method::POST, &tags, Some(json!({"tagName": "vip"})))
        .await;
    assert_eq!(again["data"]["tags"].as_array().unwrap().len(), 2);
    // Texter sees the same tags as labels, and the timeline records the change.
    let (_, found) = app
        .call(
            Method::GET,
            "/server/api/v2/chats/search?labels[]=vip",
            None,
        )
        .await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(
        found["data"][0]["labels"],
        json!(["lead", "vip"]),
        "{found}"
    );
    let timeline = app.timeline_of(&conversation).await;
    assert!(
        timeline
            .iter()
            .any(|e| e["data"]["field"] == "tags" && e["data"]["value"] == json!(["lead", "vip"])),
        "{timeline:?}"
    );

    // Bad input is named and changes nothing.
    for body in [
        json!({}),
        json!({"tagName": "  "}),
        json!({"tagName": "x".repeat(101)}),
    ] {
        let (status, refused) = app.call(Method::POST, &tags, Some(body)).await;
        assert_error(status, &refused, StatusCode::BAD_REQUEST, &["tagName"]);
    }
    let (status, refused) = app
        .call(Method::POST, &tags, Some(json!({"tagName": 5})))
        .await;
    assert_error(status, &refused, StatusCode::BAD_REQUEST, &["tagName"]);
    let (_, listed) = app.call(Method::GET, &tags, None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);

    // Unknown conversations, and another organization's, are not found.
    let unknown = format!("/conversations/{}/tags", uuid::Uuid::now_v7());
    let (status, body) = app.call(Method::GET, &unknown, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["conversationId"]);
    let (status, body) = app
        .call(Method::POST, &unknown, Some(json!({"tagName": "x"})))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["conversationId"]);
    let (_, stranger) = app.other_tenant().await;
    let (status, body) = app
        .call_as(
            &stranger,
            Method::POST,
            &tags,
            Some(json!({"tagName": "x"})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["conversationId"]);
    let (status, _) = app.call_as(&stranger, Method::GET, &tags, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A second token of the app's organization, full access unless `scopes` are given.
async fn another_token(app: &TestApp, name: &str, scopes: Option<&[&str]>) -> String {
    app.core
        .create_token(
            app.org,
            name,
            scopes.map(|s| s.iter().map(|s| (*s).to_owned()).collect()),
            stagecoach_domain::enums::TokenType::Sync,
        )
        .await
        .unwrap()
        .secret
}

async fn notes_are_written_changed_and_deleted_by_their_author(app: TestApp) {
    let conversation = app.conversation().await;
    let notes = format!("/conversations/{conversation}/notes");
    let (status, note) = app
        .call(
            Method::POST,
            &notes,
            Some(json!({"note": "  Call back after lunch "})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    assert_chatvolt_shape("POST /conversations/{conversationId}/notes 201", &note);
    assert_eq!(note["note"], "Call back after lunch");
    assert_eq!(note["isPrivate"], false);
    assert_eq!(note["conversationId"], json!(conversation));
    assert_eq!(note["notificationDateTime"], serde_json::Value::Null);
    let id = note["id"].as_str().unwrap().to_owned();
    let one = format!("{notes}/{id}");

    // Bad input is named and writes nothing.
    for (body, field) in [
        (json!({}), "note"),
        (json!({"note": "   "}), "note"),
        (json!({"note": "x".repeat(501)}), "note"),
        (
            json!({"note": "x", "notificationDateTime": "tomorrow"}),
            "notificationDateTime",
        ),
        (
            json!({"note": "x", "notificationDateTime": "2099-01-01T00:00:00Z"}),
            "notificationDateTime",
        ),
        (json!({"note": "x", "isPrivate": "yes"}), "isPrivate"),
    ] {
        let (status, refused) = app.call(Method::POST, &notes, Some(body.clone())).await;
        assert_error(status, &refused, StatusCode::BAD_REQUEST, &[field]);
    }

    // A justification is for administrators only.
    let writer = another_token(&app, "writer", Some(&["conversations:write"])).await;
    let (status, refused) = app
        .call_as(
            &writer,
            Method::POST,
            &notes,
            Some(json!({"note": "why", "isJustify": true})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["code"], "MISSING_SCOPE");
    let (status, justified) = app
        .call(
            Method::POST,
            &notes,
            Some(json!({"note": "why", "isJustify": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{justified}");
    assert_eq!(justified["isJustification"], true);

    // A private note is its author's only.
    let (_, private) = app
        .call_as(
            &writer,
            Method::POST,
            &notes,
            Some(json!({"note": "between us", "isPrivate": true})),
        )
        .await;
    let private_id = private["id"].as_str().unwrap().to_owned();
    let (status, listed) = app.call(Method::GET, &notes, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_chatvolt_shape("GET /conversations/{conversationId}/notes 200", &listed);
    let texts = |list: &serde_json::Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|n| n["note"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(texts(&listed), ["Call back after lunch", "why"]);
    let (_, theirs) = app.call_as(&writer, Method::GET, &notes, None).await;
    assert_eq!(
        texts(&theirs),
        ["Call back after lunch", "why", "between us"]
    );
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("{notes}/{private_id}"),
            Some(json!({"note": "x"})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["noteId"]);

    // Only the author changes or deletes a note.
    let (status, body) = app
        .call_as(
            &writer,
            Method::PUT,
            &one,
            Some(json!({"note": "mine now"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "FORBIDDEN");
    let (status, _) = app.call_as(&writer, Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, changed) = app
        .call(
            Method::PUT,
            &one,
            Some(json!({"note": "Call back at 3", "isPrivate": true,
                        "notificationDateTime": "2026-12-31T15:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_chatvolt_shape(
        "PUT /conversations/{conversationId}/notes/{noteId} 200",
        &changed,
    );
    assert_eq!(changed["note"], "Call back at 3");
    assert_eq!(changed["notificationDateTime"], "2026-12-31T15:00:00Z");
    let (status, body) = app.call(Method::PUT, &one, Some(json!({"note": ""}))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["note"]);
    let (_, cleared) = app
        .call(
            Method::PUT,
            &one,
            Some(json!({"notificationDateTime": null})),
        )
        .await;
    assert_eq!(cleared["notificationDateTime"], serde_json::Value::Null);
    assert_eq!(cleared["note"], "Call back at 3", "absent fields are kept");

    // The timeline tells the story; the private note's text stays out of it.
    let timeline = app.timeline_of(&conversation).await;
    let kinds: Vec<&str> = timeline
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .filter(|k| k.starts_with("note_"))
        .collect();
    assert_eq!(
        kinds,
        [
            "note_added",
            "note_added",
            "note_added",
            "note_updated",
            "note_updated"
        ]
    );
    assert!(
        !serde_json::to_string(&timeline)
            .unwrap()
            .contains("between us")
    );

    let (status, _) = app.call(Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.call(Method::DELETE, &one, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["noteId"]);

    // Another organization sees none of it.
    let (_, stranger) = app.other_tenant().await;
    let (status, body) = app.call_as(&stranger, Method::GET, &notes, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["conversationId"]);
    let (status, body) = app
        .call_as(&stranger, Method::POST, &notes, Some(json!({"note": "x"})))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["conversationId"]);
}

async fn note_reminders_are_announced_once_when_due(app: TestApp) {
    let conversation = app.conversation().await;
    let notes = format!("/conversations/{conversation}/notes");
    let now = stagecoach_app::Clock::now(app.clock.as_ref());
    let due = now + chrono::Duration::hours(1);
    let (status, note) = app
        .call(
            Method::POST,
            &notes,
            Some(json!({"note": "Send the proposal", "notificationDateTime": due})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    assert_eq!(
        app.core.run_due_note_reminders(100).await.unwrap(),
        0,
        "not due yet"
    );

    // Two nodes' workers race for it when it falls due: one announces it.
    app.clock.advance(chrono::Duration::hours(2));
    let other = app.beside(|core| core).await;
    let (a, b) = tokio::join!(
        app.core.run_due_note_reminders(100),
        other.core.run_due_note_reminders(100)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    let announced = reminders_of(&app, &conversation).await;
    assert_eq!(announced.len(), 1, "{announced:?}");
    assert_eq!(announced[0]["payload"]["data"]["noteId"], note["id"]);
    assert_eq!(announced[0]["payload"]["data"]["note"], "Send the proposal");
    // A restarted node finds nothing left to announce.
    other.stop().await;
    let restarted = app.beside(|core| core).await;
    assert_eq!(restarted.core.run_due_note_reminders(100).await.unwrap(), 0);
    restarted.stop().await;

    // Moving the reminder arms it again; changing only the text does not.
    let one = format!("{notes}/{}", note["id"].as_str().unwrap());
    app.call(
        Method::PUT,
        &one,
        Some(json!({"note": "Send the proposal v2"})),
    )
    .await;
    assert_eq!(app.core.run_due_note_reminders(100).await.unwrap(), 0);
    let again = stagecoach_app::Clock::now(app.clock.as_ref()) + chrono::Duration::minutes(5);
    let (status, _) = app
        .call(
            Method::PUT,
            &one,
            Some(json!({"notificationDateTime": again})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(app.core.run_due_note_reminders(100).await.unwrap(), 1);
    assert_eq!(app.core.run_due_note_reminders(100).await.unwrap(), 0);
    assert_eq!(reminders_of(&app, &conversation).await.len(), 2);
    let timeline = app.timeline_of(&conversation).await;
    assert_eq!(
        timeline
            .iter()
            .filter(|e| e["type"] == "note_reminder_due")
            .count(),
        2
    );
}

/// The reminder events queued for a conversation.
async fn reminders_of(app: &TestApp, conversation: &str) -> Vec<serde_json::Value> {
    app.outbox_of(conversation)
        .await
        .into_iter()
        .filter(|o| {
            o["kind"] == "event" && o["payload"]["eventType"] == "conversation.note_reminder_due"
        })
        .collect()
}

async fn contact_variables_are_kept_per_key_and_fill_texts(app: TestApp) {
    let inbound = app.inbound("visitor-vars", "oi").await;
    let conversation = inbound["conversationId"].as_str().unwrap().to_owned();
    let contact = app.state_of(&conversation).await["contactId"]
        .as_str()
        .unwrap()
        .to_owned();
    let variables = "/contacts/variables";

    let (status, empty) = app
        .call(Method::GET, &format!("{variables}?id={contact}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(
        empty,
        json!({"variables": {"_sources": {}}, "variableList": []})
    );

    // By the contact's id, then by its conversation's, with PUT: one upsert per key.
    let (status, set) = app
        .call(
            Method::POST,
            variables,
            Some(json!({"id": contact, "key": "plano", "value": "pro", "source": "human"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_chatvolt_shape("POST /contacts/variables 200", &set);
    let (_, set) = app
        .call(
            Method::PUT,
            variables,
            Some(json!({"id": conversation, "key": "cart", "value": {"items": 2}, "source": "ai"})),
        )
        .await;
    assert_eq!(
        set,
        json!({"variables": {"plano": "pro", "cart": {"items": 2},
                             "_sources": {"plano": "human", "cart": "ai"}}})
    );
    let (_, set) = app
        .call(
            Method::POST,
            variables,
            Some(json!({"id": contact, "key": "plano", "value": "enterprise", "source": "ai"})),
        )
        .await;
    assert_eq!(set["variables"]["plano"], "enterprise");
    assert_eq!(set["variables"]["_sources"]["plano"], "ai");
    // The conversationid header names the contact when id is absent, as Chatvolt's AI
    // tools send it.
    let listed: serde_json::Value = app
        .request(Method::GET, variables)
        .header("conversationid", &conversation)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_chatvolt_shape("GET /contacts/variables 200", &listed);
    assert_eq!(
        listed["variableList"],
        json!([{"varName": "cart", "varValue": {"items": 2}, "source": "ai"},
               {"varName": "plano", "varValue": "enterprise", "source": "ai"}])
    );

    // Bad input is named and changes nothing.
    for (body, fields) in [
        (
            json!({"key": "k", "value": 1, "source": "human"}),
            vec!["id"],
        ),
        (
            json!({"id": contact, "key": "_sources", "value": 1, "source": "human"}),
            vec!["key"],
        ),
        (json!({"id": contact, "value": 1}), vec!["key", "source"]),
        (
            json!({"id": contact, "key": "k", "source": "robot"}),
            vec!["value", "source"],
        ),
        (
            json!({"id": contact, "key": "k", "value": "x".repeat(17_000), "source": "ai"}),
            vec!["value"],
        ),
    ] {
        let (status, refused) = app.call(Method::POST, variables, Some(body)).await;
        assert_error(status, &refused, StatusCode::BAD_REQUEST, &fields);
    }
    let unknown = uuid::Uuid::now_v7();
    let (status, body) = app
        .call(
            Method::POST,
            variables,
            Some(json!({"id": unknown, "key": "k", "value": 1, "source": "human"})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["id"]);
    // null is a value like any other.
    let (status, set) = app
        .call(
            Method::POST,
            variables,
            Some(json!({"id": contact, "key": "coupon", "value": null, "source": "human"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["variables"]["coupon"], serde_json::Value::Null);
    assert_eq!(set["variables"]["_sources"]["coupon"], "human");

    // Another organization sees none of it.
    let (_, stranger) = app.other_tenant().await;
    let (status, body) = app
        .call_as(
            &stranger,
            Method::GET,
            &format!("{variables}?id={contact}"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["id"]);

    // Message texts use them: a step's Z-API notification, as the provider receives it.
    let provider = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(json!({"messageId": "z1"})),
        )
        .mount(&provider)
        .await;
    let agent = app.agent("Notifier").await;
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/channels",
            Some(
                json!({"kind": "zapi", "name": "Alerts", "agentId": agent, "accountId": "INST-V",
                        "instanceToken": "it", "clientToken": "ct"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let scenario = app.scenario("Vars").await;
    let step = app
        .step_with(
            &scenario,
            "Offer",
            json!({"trigger": "t", "zapiAgentId": agent, "zapiPhoneNumber": "+55 11 90000-0000",
                   "zapiMessage": "Plano {{contact.variables.plano}}, {{contact.variables.cart.items}} itens"}),
        )
        .await;
    app.add_to(&conversation, &step).await;
    let worker = app
        .core
        .clone()
        .with_delivery_settings(stagecoach_app::DeliverySettings {
            providers: stagecoach_app::ProviderUrls {
                whatsapp: provider.uri(),
                zapi: provider.uri(),
            },
            ..stagecoach_app::DeliverySettings::default()
        });
    stagecoach_worker::deliver_due(&worker, crate::support::loopback_transport(), 20)
        .await
        .unwrap();
    let sent = provider.received_requests().await.unwrap();
    assert_eq!(sent.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(body["message"], "Plano enterprise, 2 itens");

    // Deleting one key, a missing key, then all of them.
    let (status, left) = app
        .call(
            Method::DELETE,
            &format!("{variables}?id={contact}&key=cart"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{left}");
    assert!(left["variables"].get("cart").is_none());
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("{variables}?id={contact}&key=cart"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["key"]);
    let (_, left) = app
        .call(Method::DELETE, &format!("{variables}?id={contact}"), None)
        .await;
    assert_eq!(left, json!({"variables": {"_sources": {}}}));
}

async fn boards_are_counted_and_their_moves_logged(app: TestApp) {
    let sales = app.scenario("Sales").await;
    let new = app.step(&sales, "New").await;
    let won = app.step(&sales, "Won").await;
    let support = app.scenario("Support").await;
    let triage = app.step(&support, "Triage").await;
    let (a, b, c) = (
        app.conversation().await,
        app.conversation().await,
        app.conversation().await,
    );
    for conversation in [&a, &b] {
        app.add_to(conversation, &new).await;
    }
    app.add_to(&c, &triage).await;
    let start = stagecoach_app::Clock::now(app.clock.as_ref());
    app.clock.advance(chrono::Duration::seconds(5));
    let (status, moved) = app
        .call(
            Method::POST,
            "/crm/step/move",
            Some(json!({"conversationId": a, "destStepId": won["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    let (status, removed) = app
        .call(
            Method::DELETE,
            &format!("/crm/scenario/{support}/conversation?conversationId={c}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{removed}");

    let (status, counts) = app.call(Method::GET, "/crm/conversation/count", None).await;
    assert_eq!(status, StatusCode::OK, "{counts}");
    assert_eq!(counts["success"], true);
    assert_eq!(counts["data"]["total"], 2, "{counts}");
    let sales_count = counts["data"]["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == json!(sales))
        .unwrap()
        .clone();
    assert_eq!(sales_count["total"], 2);
    assert_eq!(
        sales_count["steps"],
        json!([{"id": new["id"], "name": "New", "index": 0, "total": 1},
               {"id": won["id"], "name": "Won", "index": 1, "total": 1}])
    );
    let (_, with_removed) = app
        .call(
            Method::GET,
            &format!("/crm/conversation/count?scenarioId={support}&showInactiveConversations=true"),
            None,
        )
        .await;
    assert_eq!(with_removed["data"]["total"], 1, "{with_removed}");
    let (status, body) = app
        .call(
            Method::GET,
            &format!(
                "/crm/conversation/count?scenarioId={}",
                uuid::Uuid::now_v7()
            ),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["scenarioId"]);
    let (status, body) = app
        .call(
            Method::GET,
            "/crm/conversation/count?showInactiveConversations=maybe",
            None,
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        &["showInactiveConversations"],
    );

    // The log, newest first: a's move is an exit and an entry, c's removal is logged.
    let events = |query: String| {
        let app = app.clone();
        async move {
            let (status, body) = app
                .call(Method::GET, &format!("/crm/events{query}"), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    let of_a = events(format!("?conversationId={a}")).await;
    let kinds: Vec<(&str, Option<&str>)> = of_a["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["cause"].as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("STEP_ENTERED", Some("moved")),
            ("STEP_EXITED", None),
            ("STEP_ENTERED", Some("added"))
        ]
    );
    assert_eq!(of_a["data"][0]["stepId"], won["id"]);
    assert_eq!(of_a["data"][0]["previousStepId"], new["id"]);
    assert_eq!(
        of_a["pagination"],
        json!({"page": 1, "limit": 100, "total": 3})
    );
    let removals = events("?type=REMOVED_FROM_SCENARIO".into()).await;
    assert_eq!(removals["data"].as_array().unwrap().len(), 1, "{removals}");
    assert_eq!(removals["data"][0]["conversationId"], json!(c));
    let in_won = events(format!("?stepId={}", won["id"].as_str().unwrap())).await;
    assert_eq!(in_won["pagination"]["total"], 1);
    let in_support = events(format!("?scenarioId={support}")).await;
    assert_eq!(
        in_support["pagination"]["total"], 3,
        "entered, exited, removed: {in_support}"
    );
    let since = events(format!(
        "?startDate={}",
        (start + chrono::Duration::seconds(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    ))
    .await;
    assert_eq!(
        since["pagination"]["total"], 4,
        "a's move and c's removal: {since}"
    );
    let page_two = events("?limit=2&page=2".into()).await;
    assert_eq!(page_two["data"].as_array().unwrap().len(), 2);
    assert_eq!(page_two["pagination"]["total"], 7, "{page_two}");

    for (query, field) in [
        ("?type=MOVED", "type"),
        ("?limit=0", "limit"),
        ("?page=0", "page"),
        ("?startDate=yesterday", "startDate"),
        (
            "?startDate=2026-12-02T00:00:00Z&endDate=2026-12-01T00:00:00Z",
            "endDate",
        ),
    ] {
        let (status, body) = app
            .call(Method::GET, &format!("/crm/events{query}"), None)
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, &[field]);
    }
    let (_, stranger) = app.other_tenant().await;
    let (status, theirs) = app
        .call_as(&stranger, Method::GET, "/crm/events", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(theirs["pagination"]["total"], 0);
    let (_, theirs) = app
        .call_as(&stranger, Method::GET, "/crm/conversation/count", None)
        .await;
    assert_eq!(theirs["data"]["total"], 0);
}

async fn conversations_are_exported_whole_and_their_history_paged(app: TestApp) {
    // 55 conversations: more than one page of the export. One of them holds 505 messages
    // more than its first: more than one round of messages.
    let mut conversations = Vec::new();
    for i in 0..55 {
        let channel = if i % 5 == 0 { "whatsapp" } else { "website" };
        let from = if channel == "whatsapp" {
            format!("+55 11 97777-{i:04}")
        } else {
            format!("visitor-export-{i}")
        };
        let inbound = app.inbound_on(channel, &from, &format!("hello {i}")).await;
        conversations.push(inbound["conversationId"].as_str().unwrap().to_owned());
    }
    let big = conversations[1].clone();
    let register = format!("/conversations/{big}/message-register");
    for chunk in (0..505).collect::<Vec<_>>().chunks(16) {
        let mut calls = tokio::task::JoinSet::new();
        for n in chunk {
            let text = if *n == 0 {
                "=HYPERLINK(\"x\")".to_owned()
            } else {
                format!("line {n}, ok")
            };
            let (app, register) = (app.clone(), register.clone());
            calls.spawn(async move {
                app.call(
                    Method::POST,
                    &register,
                    Some(json!({"message": text, "from": "agent"})),
                )
                .await
            });
        }
        while let Some(call) = calls.join_next().await {
            let (status, body) = call.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }

    let response = app
        .request(Method::GET, "/conversations/export")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("conversations.json")
    );
    let exported: serde_json::Value = response.json().await.unwrap();
    assert_eq!(exported["success"], true);
    let all = exported["data"]["conversations"].as_array().unwrap();
    assert_eq!(all.len(), 55);
    let ids: std::collections::HashSet<&str> =
        all.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 55, "each conversation once");
    let big_export = all.iter().find(|c| c["id"] == json!(big)).unwrap();
    let messages = big_export["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 506);
    assert_eq!(messages[0]["text"], "hello 1");
    let times: Vec<&str> = messages
        .iter()
        .map(|m| m["createdAt"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    let message_ids: std::collections::HashSet<&str> =
        messages.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(message_ids.len(), 506, "no message twice across rounds");
    assert!(big_export["contact"]["name"].is_string() || big_export["contact"]["id"].is_string());

    // Filters narrow it; CSV has a row per message, formulas defused.
    let (_, only_whatsapp) = app
        .call(Method::GET, "/conversations/export?channel=whatsapp", None)
        .await;
    assert_eq!(
        only_whatsapp["data"]["conversations"]
            .as_array()
            .unwrap()
            .len(),
        11
    );
    let csv = app
        .request(Method::GET, "/conversations/export?format=csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(
        lines[0].starts_with("conversationId,conversationCreatedAt,channel"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 1 + 55 + 505);
    assert_eq!(
        lines.iter().filter(|l| l.starts_with(big.as_str())).count(),
        506
    );
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"x\"\")\""),
        "defused and quoted"
    );
    assert!(csv.contains("\"line 7, ok\""));

    // One conversation, in both formats.
    let (status, one) = app
        .call(Method::GET, &format!("/conversations/{big}/export"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["data"]["id"], json!(big));
    assert_eq!(one["data"]["messages"].as_array().unwrap().len(), 506);
    let one_csv = app
        .request(
            Method::GET,
            &format!("/conversations/{}/export?format=csv", conversations[2]),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(one_csv.split("\r\n").filter(|l| !l.is_empty()).count(), 2);
    let unknown = format!("/conversations/{}/export", uuid::Uuid::now_v7());
    let (status, body) = app.call(Method::GET, &unknown, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["conversationId"]);
    let (_, stranger) = app.other_tenant().await;
    let (status, _) = app
        .call_as(
            &stranger,
            Method::GET,
            &format!("/conversations/{big}/export"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, theirs) = app
        .call_as(&stranger, Method::GET, "/conversations/export", None)
        .await;
    assert_eq!(
        theirs,
        json!({"success": true, "data": {"conversations": []}})
    );

    // The history: pages of conversations with their latest messages.
    let (status, first) = app
        .call(
            Method::GET,
            "/conversations/history?limit=2&messageLimit=3",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let page = first["data"].as_array().unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["id"], json!(conversations[54]), "newest first");
    assert!(page[0]["messages"].as_array().unwrap().len() <= 3);
    let cursor = first["nextCursor"].as_str().unwrap();
    let (_, second) = app
        .call(
            Method::GET,
            &format!(
                "/conversations/history?limit=2&cursor={}",
                urlencode(cursor)
            ),
            None,
        )
        .await;
    assert_eq!(second["data"][0]["id"], json!(conversations[52]));
    let (_, last) = app
        .call(Method::GET, "/conversations/history?limit=100", None)
        .await;
    assert_eq!(last["data"].as_array().unwrap().len(), 55);
    assert!(last.get("nextCursor").is_none());

    for (path, field) in [
        ("/conversations/history?messageLimit=0", "messageLimit"),
        ("/conversations/history?format=csv", "format"),
        ("/conversations/history?limit=500", "limit"),
        ("/conversations/export?limit=5", "limit"),
        ("/conversations/export?format=xml", "format"),
        ("/conversations/export?channel=fax", "channel"),
    ] {
        let (status, body) = app.call(Method::GET, path, None).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, &[field]);
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// What schemathesis found driving Chatvolt's file: typed filters on data Stagecoach does
/// not keep, page numbers past any offset, and agent fields Chatvolt documents.
async fn inputs_the_contract_types_are_refused_when_wrong(app: TestApp) {
    app.conversation().await;
    for (query, field) in [
        ("npsStep=null", "npsStep"),
        ("frustrationMin=high", "frustrationMin"),
        ("npsCompleted=maybe", "npsCompleted"),
    ] {
        let (status, body) = app
            .call(Method::GET, &format!("/conversation?{query}"), None)
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, &[field]);
    }
    let (_, all) = app.call(Method::GET, "/conversation?npsStep=0", None).await;
    assert_eq!(
        all.as_array().unwrap().len(),
        1,
        "every conversation is at NPS step 0"
    );
    for query in [
        "npsStep=2",
        "npsCompleted=true",
        "adSourceId=ad1",
        "frustrationMin=0.5",
    ] {
        let (status, none) = app
            .call(Method::GET, &format!("/conversation?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(none, json!([]), "{query}");
    }

    let scenario = app.scenario("Paged").await;
    for path in [
        "/crm/conversationLog?page=2432902008176640001&limit=47".to_string(),
        format!("/crm/scenario/{scenario}/conversation?page=4611686018427387904&limit=50"),
        "/crm/events?page=2432902008176640001&limit=47".to_string(),
    ] {
        let (status, body) = app.call(Method::GET, &path, None).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, &["page"]);
    }

    let (status, agent) = app
        .call(
            Method::POST,
            "/agents",
            Some(
                json!({"name": "Compatible", "interfaceConfig": {"theme": "dark"},
                        "enableInactiveHours": false,
                        "configUrlExternal": {"url": "https://a.example", "header": "x"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{agent}");
    let id = agent["id"].as_str().unwrap();
    for (body, field) in [
        (json!({"tools": [{"type": "http"}]}), "tools"),
        (json!({"enableInactiveHours": "yes"}), "enableInactiveHours"),
        (
            json!({"configUrlExternal": {"url": 5}}),
            "configUrlExternal.url",
        ),
    ] {
        let (status, refused) = app
            .call(Method::PATCH, &format!("/agents/{id}"), Some(body))
            .await;
        assert_error(status, &refused, StatusCode::BAD_REQUEST, &[field]);
    }
}
