//! Texter's chat API over the same conversations the other doors see.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stagecoach_domain::enums::TokenType;

use crate::support::{Backend, TestApp, TestDatabase};

backend_tests!(
    seed_003_crm_data_request_answers_a_chat,
    a_search_of_digits_looks_at_phone_numbers_only,
    the_search_follows_renames_titles_and_deletions_within_the_tenant,
    the_search_ignores_case_and_accents_on_both_sides,
    names_and_titles_stored_before_folding_are_found_once_migrated,
    every_merge_mode_keeps_its_documented_behaviour,
    crm_data_input_is_checked_and_bounded,
    concurrent_merges_keep_every_key,
    chat_search_get_assign_resolve_and_patch,
    labels_are_tags_both_ways,
    messages_page_and_send_within_the_window,
    scopes_are_enforced_and_tenants_isolated,
);

const API: &str = "/server/api/v2";

async fn crm(app: &TestApp, chat: &str, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        &format!("{API}/chats/{chat}/crm-data"),
        Some(body),
    )
    .await
}

fn assert_texter_error(
    status: StatusCode,
    body: &Value,
    expected: StatusCode,
    field: Option<&str>,
) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["code"].is_string(), "{body}");
    if let Some(field) = field {
        assert_eq!(body["field"], field, "{body}");
    }
}

async fn seed_003_crm_data_request_answers_a_chat(app: TestApp) {
    let chat = app.inbound_on("whatsapp", "+972521234567", "hi").await["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, answer) = crm(
        &app,
        &chat,
        json!({"data": {"plan": "premium", "tags": ["vip", "whale"],
               "customer": {"first_name": "Niv", "last_name": "Shteingart", "lead_id": 641225}}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["success"], true);
    assert_eq!(answer["_id"], chat);
    assert_eq!(
        answer["crmData"],
        json!({"plan": "premium", "tags": ["vip", "whale"], "customer": {"first_name": "Niv", "last_name": "Shteingart", "lead_id": 641225}})
    );
    // The seed's Chat object fields, with their types.
    for (field, check) in [
        ("title", Value::is_string as fn(&Value) -> bool),
        ("personId", Value::is_string),
        ("channelInfo", Value::is_object),
        ("unreadCount", Value::is_number),
        ("labels", Value::is_array),
        ("lastMessage", Value::is_object),
        ("last_message_timestamp", Value::is_number),
        ("lastIncomingMessageTimestamp", Value::is_number),
        ("created", Value::is_string),
        ("updatedAt", Value::is_string),
        ("crmData", Value::is_object),
        ("externalBot", Value::is_boolean),
        ("status", Value::is_number),
        ("channel", Value::is_string),
        ("clientPhoneE164", Value::is_string),
    ] {
        assert!(check(&answer[field]), "{field}: {}", answer[field]);
    }
    assert_eq!(answer["channelInfo"]["name"], "whatsapp");
    assert_eq!(answer["channelInfo"]["id"], "972521234567");
    assert_eq!(answer["clientPhoneE164"], "+972521234567");
    assert_eq!(answer["status"], 0, "open, unassigned, AI on: BOT");
    assert_eq!(answer["lastMessage"], json!({"type": "text", "text": "hi"}));
    // The same data through Chatvolt's door.
    let (_, detail) = app
        .call(Method::GET, &format!("/conversation/{chat}"), None)
        .await;
    assert_eq!(detail["metadata"], answer["crmData"]);
    let timeline = app.timeline_of(&chat).await;
    let update = timeline
        .iter()
        .find(|e| e["type"] == "crm_data_updated")
        .unwrap();
    assert_eq!(
        update["data"]["changedKeys"],
        json!(["customer", "plan", "tags"])
    );
    let outbox = app.outbox_of(&chat).await;
    let event = outbox
        .iter()
        .find(|o| o["kind"] == "event" && o["payload"]["eventType"] == "chat.crm_data.updated")
        .expect("an event for subscriptions");
    assert_eq!(
        event["payload"]["data"]["changedKeys"],
        json!(["customer", "plan", "tags"])
    );
    assert!(
        event["payload"]["actor"]
            .as_str()
            .unwrap()
            .starts_with("api_token:")
    );
}

async fn every_merge_mode_keeps_its_documented_behaviour(app: TestApp) {
    let before = json!({"plan": "basic", "customer": {"id": 7, "name": "Niv"}, "tags": ["a", "b", "c"], "note": null});
    let data = json!({"plan": "premium", "customer": {"email": "n@x.io"}, "tags": ["vip"], "note": "x", "new": 1});
    let cases = [
        ("replace", data.clone()),
        (
            "assign",
            json!({"plan": "premium", "customer": {"email": "n@x.io"}, "tags": ["vip"], "note": "x", "new": 1}),
        ),
        (
            "merge",
            json!({"plan": "premium", "customer": {"id": 7, "name": "Niv", "email": "n@x.io"}, "tags": ["vip", "b", "c"], "note": "x", "new": 1}),
        ),
        (
            "defaults",
            json!({"plan": "basic", "customer": {"id": 7, "name": "Niv"}, "tags": ["a", "b", "c"], "note": null, "new": 1}),
        ),
        (
            "defaultsDeep",
            json!({"plan": "basic", "customer": {"id": 7, "name": "Niv", "email": "n@x.io"}, "tags": ["a", "b", "c"], "note": null, "new": 1}),
        ),
    ];
    for (mode, expected) in cases {
        let chat = app.conversation().await;
        let (status, _) = crm(
            &app,
            &chat,
            json!({"data": before, "mergingMode": "replace"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, answer) = crm(&app, &chat, json!({"data": data, "mergingMode": mode})).await;
        assert_eq!(status, StatusCode::OK, "{mode}: {answer}");
        assert_eq!(answer["crmData"], expected, "{mode}");
    }
    // Without a mode: merge.
    let chat = app.conversation().await;
    crm(&app, &chat, json!({"data": {"a": {"x": 1}}})).await;
    let (_, answer) = crm(&app, &chat, json!({"data": {"a": {"y": 2}}})).await;
    assert_eq!(answer["crmData"], json!({"a": {"x": 1, "y": 2}}));
}

async fn crm_data_input_is_checked_and_bounded(app: TestApp) {
    let chat = app.conversation().await;
    crm(&app, &chat, json!({"data": {"keep": true}})).await;
    for (body, field) in [
        (json!({"data": [1, 2]}), "data"),
        (json!({"data": "text"}), "data"),
        (json!({}), "data"),
        (
            json!({"data": {}, "mergingMode": "deepMerge"}),
            "mergingMode",
        ),
    ] {
        let (status, answer) = crm(&app, &chat, body).await;
        assert_texter_error(status, &answer, StatusCode::BAD_REQUEST, Some(field));
    }
    let (_, answer) = crm(&app, &chat, json!({"data": {}, "mergingMode": "x"})).await;
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("replace, assign, merge, defaults, defaultsDeep")
    );
    // Over the 64 KiB bound: refused, nothing changed.
    let big = "x".repeat(70 * 1024);
    let (status, answer) = crm(&app, &chat, json!({"data": {"blob": big}})).await;
    assert_texter_error(status, &answer, StatusCode::BAD_REQUEST, Some("data"));
    let (status, answer) = crm(
        &app,
        &chat,
        json!({"data": {"blob": "x".repeat(60 * 1024)}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = crm(
        &app,
        &chat,
        json!({"data": {"more": "y".repeat(10 * 1024)}}),
    )
    .await;
    assert_texter_error(status, &refused, StatusCode::BAD_REQUEST, Some("data"));
    let (_, detail) = app
        .call(Method::GET, &format!("/conversation/{chat}"), None)
        .await;
    assert_eq!(detail["metadata"], answer["crmData"]);
    let (status, body) = crm(&app, "nope", json!({"data": {}})).await;
    assert_texter_error(status, &body, StatusCode::NOT_FOUND, Some("chatId"));
}

async fn concurrent_merges_keep_every_key(app: TestApp) {
    let chat = app.conversation().await;
    let writes = (0..16).map(|i| {
        let app = app.clone();
        let chat = chat.clone();
        tokio::spawn(async move {
            let (status, body) = crm(
                &app,
                &chat,
                json!({"data": {format!("k{i}"): i, "nested": {format!("n{i}"): i}}}),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        })
    });
    for write in writes.collect::<Vec<_>>() {
        write.await.unwrap();
    }
    let (_, detail) = app
        .call(Method::GET, &format!("/conversation/{chat}"), None)
        .await;
    let data = detail["metadata"].as_object().unwrap();
    for i in 0..16 {
        assert_eq!(data[&format!("k{i}")], i, "k{i} lost");
        assert_eq!(data["nested"][format!("n{i}")], i, "n{i} lost");
    }
}

async fn chat_search_get_assign_resolve_and_patch(app: TestApp) {
    let ana = app.inbound_on("whatsapp", "+5511987654321", "oi").await["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock.advance(chrono::Duration::seconds(1));
    let bruno = app.inbound("bruno-visitor", "hello").await["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let member = app.member(app.org, "agent@example.com").await;

    let (status, found) = app
        .call(Method::GET, &format!("{API}/chats/search"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["total"], 2);
    assert_eq!(found["data"][0]["_id"], bruno, "newest last message first");
    assert!(
        found["data"][0].get("lastMessage").is_none(),
        "search omits lastMessage"
    );
    let (_, by_phone) = app
        .call(
            Method::GET,
            &format!("{API}/chats/search?search=98765"),
            None,
        )
        .await;
    assert_eq!(by_phone["total"], 1);
    assert_eq!(by_phone["data"][0]["_id"], ana);
    let (_, by_channel) = app
        .call(
            Method::GET,
            &format!("{API}/chats/search?channel[name]=whatsapp&channel[accountId]=1"),
            None,
        )
        .await;
    assert_eq!(by_channel["total"], 1);

    // Assign by phone: the chat waits for that agent (PENDING), Chatvolt sees HUMAN_REQUESTED.
    let response = app
        .request(Method::POST, &format!("{API}/chats/assign"))
        .json(&json!({"phone": "5511987654321", "agentEmail": "agent@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "OK");
    let (_, pending) = app
        .call(
            Method::GET,
            &format!("{API}/chats/search?statuses[]=PENDING"),
            None,
        )
        .await;
    assert_eq!(pending["total"], 1);
    assert_eq!(pending["data"][0]["status"], 1);
    assert_eq!(pending["data"][0]["agent"]["uid"], member.to_string());
    let state = app.state_of(&ana).await;
    assert_eq!(state["status"], "HUMAN_REQUESTED");
    assert_eq!(state["aiEnabled"], false);

    // Chatvolt's set-status is visible here, and the other way round.
    app.call(
        Method::POST,
        &format!("/conversations/{ana}/set-status"),
        Some(json!({"status": "UNRESOLVED"})),
    )
    .await;
    let (status, public) = app
        .call(Method::GET, &format!("{API}/chats/{ana}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(public["status"], 2, "assigned and open: ASSIGNED");
    assert_eq!(public["success"], true);
    for hidden in ["_id", "labels", "crmData", "displayName"] {
        assert!(
            public.get(hidden).is_none(),
            "{hidden} is not in the public view"
        );
    }
    let (status, resolved) = app
        .call(
            Method::POST,
            &format!("{API}/chats/{ana}/resolve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resolved, json!({"success": true}));
    assert_eq!(app.state_of(&ana).await["status"], "RESOLVED");
    let (_, statuses) = app
        .call(
            Method::GET,
            &format!("{API}/chats/search?statuses[]=RESOLVED&statuses[]=BOT"),
            None,
        )
        .await;
    assert_eq!(statuses["total"], 2);
    // The next message goes back to the bot.
    app.inbound_on("whatsapp", "5511987654321", "again").await;
    let (_, public) = app
        .call(Method::GET, &format!("{API}/chats/{ana}"), None)
        .await;
    assert_eq!(public["status"], 0);

    let (status, patched) = app
        .call(
            Method::PATCH,
            &format!("{API}/chats/{bruno}"),
            Some(json!({"displayName": "Bruno (VIP)", "externalBot": true,
            "crmData": {"only": 1}, "crmDeepLink": "https://crm.example.com/p/1"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["displayName"], "Bruno (VIP)");
    assert_eq!(patched["externalBot"], true);
    assert_eq!(patched["crmData"], json!({"only": 1}));
    assert_eq!(patched["crmDeepLink"], "https://crm.example.com/p/1");
    let outbox = app.outbox_of(&bruno).await;
    let events: Vec<_> = outbox
        .iter()
        .map(|o| o["payload"]["eventType"].clone())
        .collect();
    assert!(
        events.contains(&json!("chat.external_bot.updated")),
        "{events:?}"
    );

    for (method, path, body, field) in [
        (
            Method::GET,
            format!("{API}/chats/search?statuses[]=SOLVED"),
            None,
            "statuses",
        ),
        (
            Method::GET,
            format!("{API}/chats/search?search=a"),
            None,
            "search",
        ),
        (
            Method::GET,
            format!("{API}/chats/search?channel[name]=whatsapp"),
            None,
            "channel",
        ),
        (
            Method::GET,
            format!("{API}/chats/search?limit=0"),
            None,
            "limit",
        ),
        (
            Method::POST,
            format!("{API}/chats/assign"),
            Some(json!({"chatId": bruno})),
            "agentUid",
        ),
        (
            Method::POST,
            format!("{API}/chats/assign"),
            Some(json!({"agentUid": member.to_string()})),
            "chatId",
        ),
        (
            Method::POST,
            format!("{API}/chats/assign"),
            Some(json!({"chatId": bruno, "agentUid": member.to_string(), "departmentId": "d"})),
            "departmentId",
        ),
        (
            Method::POST,
            format!("{API}/chats/{bruno}/resolve"),
            Some(json!({"notifyClient": true})),
            "notifyClient",
        ),
        (
            Method::PATCH,
            format!("{API}/chats/{bruno}"),
            Some(json!({"crmData": 5})),
            "crmData",
        ),
    ] {
        let (status, answer) = app.call(method, &path, body).await;
        assert_texter_error(status, &answer, StatusCode::BAD_REQUEST, Some(field));
    }
    let (status, answer) = app
        .call(
            Method::POST,
            &format!("{API}/chats/assign"),
            Some(json!({"phone": "5599999999999", "agentUid": member.to_string()})),
        )
        .await;
    assert_texter_error(status, &answer, StatusCode::NOT_FOUND, Some("phone"));
}

async fn labels_are_tags_both_ways(app: TestApp) {
    let (status, list) = app.call(Method::GET, &format!("{API}/labels"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["labels"],
        json!([{"id": "failed-message", "name": "Failed message", "color": "#d32f2f", "system": true}])
    );
    let (status, created) = app
        .call(
            Method::POST,
            &format!("{API}/labels"),
            Some(json!({"id": "vip", "name": "VIP", "color": "#00aa00"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let (status, body) = app
        .call(
            Method::POST,
            &format!("{API}/labels"),
            Some(json!({"id": "vip", "name": "again"})),
        )
        .await;
    assert_texter_error(status, &body, StatusCode::CONFLICT, Some("id"));
    for (body, field) in [
        (json!({"name": "x"}), "id"),
        (json!({"id": "x", "name": "x", "color": "red"}), "color"),
    ] {
        let (status, answer) = app
            .call(Method::POST, &format!("{API}/labels"), Some(body))
            .await;
        assert_texter_error(status, &answer, StatusCode::BAD_REQUEST, Some(field));
    }

    // A label set on a chat is a tag a step can remove…
    let scenario = app.scenario("S").await;
    let step = app
        .step_with(
            &scenario,
            "strip",
            json!({"defaultTagsToRemove": ["vip"], "defaultTags": ["from-step"]}),
        )
        .await;
    let chat = app.conversation().await;
    let set = |body: Value| {
        let app = app.clone();
        let chat = chat.clone();
        async move {
            let response = app
                .request(Method::POST, &format!("{API}/chats/{chat}/labels"))
                .json(&body)
                .send()
                .await
                .unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    assert_eq!(
        set(json!({"add": ["vip", "billing"]})).await,
        (StatusCode::OK, "OK".to_owned())
    );
    assert_eq!(app.state_of(&chat).await["tags"], json!(["vip", "billing"]));
    app.add_to(&chat, &step).await;
    // …and a tag a step adds is a label.
    let (_, found) = app
        .call(
            Method::GET,
            &format!("{API}/chats/search?labels[]=from-step"),
            None,
        )
        .await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["data"][0]["labels"], json!(["billing", "from-step"]));
    let (_, label) = app
        .call(Method::GET, &format!("{API}/labels/from-step"), None)
        .await;
    assert_eq!(label["name"], "from-step");
    assert_eq!(set(json!({"remove": ["billing"]})).await.0, StatusCode::OK);
    assert_eq!(set(json!({"set": []})).await.0, StatusCode::OK);
    assert_eq!(app.state_of(&chat).await["tags"], json!([]));
    for body in [
        json!({}),
        json!({"add": ["a"], "remove": ["b"]}),
        json!({"add": []}),
    ] {
        let (status, _) = set(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    let response = app
        .request(Method::PATCH, &format!("{API}/labels/failed-message"))
        .json(&json!({"name": "Failed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "OK");
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("{API}/labels/failed-message"),
            None,
        )
        .await;
    assert_texter_error(status, &body, StatusCode::CONFLICT, Some("labelId"));
    // Deleting a label takes it off the chats.
    assert_eq!(set(json!({"add": ["vip"]})).await.0, StatusCode::OK);
    let response = app
        .request(Method::DELETE, &format!("{API}/labels/vip"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.state_of(&chat).await["tags"], json!([]));
    let (status, body) = app
        .call(Method::GET, &format!("{API}/labels/vip"), None)
        .await;
    assert_texter_error(status, &body, StatusCode::NOT_FOUND, Some("labelId"));
    let (_, list) = app
        .call(Method::GET, &format!("{API}/labels?limit=1&skip=0"), None)
        .await;
    assert_eq!(list["labels"].as_array().unwrap().len(), 1);
    assert_eq!(list["total"], 1);
    assert_eq!(list["labels"][0]["name"], "Failed");
}

async fn messages_page_and_send_within_the_window(app: TestApp) {
    let first = app.inbound_on("whatsapp", "+5511911112222", "one").await;
    let chat = first["conversationId"].as_str().unwrap().to_owned();
    for text in ["two", "three"] {
        app.clock.advance(chrono::Duration::seconds(1));
        app.inbound_on("whatsapp", "+5511911112222", text).await;
    }
    let now = chrono::Utc::now().timestamp_millis() + 3_600_000;
    let (status, page) = app
        .call(
            Method::GET,
            &format!("{API}/messages/chat/{chat}?beforeTime={now}&beforeId=none&limit=2"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let texts: Vec<_> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["two", "three"], "the newest two, oldest first");
    assert_eq!(page["messages"][0]["direction"], "incoming");
    let oldest = &page["messages"][0];
    let (_, earlier) = app
        .call(
            Method::GET,
            &format!(
                "{API}/messages/chat/{chat}?beforeTime={}&beforeId={}",
                oldest["timestamp"],
                oldest["_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    let texts: Vec<_> = earlier["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["one"]);
    assert!(page["minTime"].as_i64().unwrap() < page["maxTime"].as_i64().unwrap());
    let (status, body) = app
        .call(Method::GET, &format!("{API}/messages/chat/{chat}"), None)
        .await;
    assert_texter_error(status, &body, StatusCode::BAD_REQUEST, Some("beforeTime"));

    // Nothing can deliver a WhatsApp message before a WhatsApp channel is connected.
    let (status, refused) = app
        .call(
            Method::POST,
            &format!("{API}/messages/send/{chat}"),
            Some(json!({"type": "text", "text": "Olá!"})),
        )
        .await;
    assert_texter_error(status, &refused, StatusCode::CONFLICT, None);
    assert_eq!(refused["code"], "NO_CHANNEL");
    assert!(
        !app.outbox_of(&chat)
            .await
            .iter()
            .any(|o| o["kind"] == "session_message"),
        "nothing was queued"
    );
    let (status, channel) = app
        .call(
            Method::POST,
            "/v1/channels",
            Some(
                json!({"kind": "whatsapp", "name": "Sales", "accountId": "1098",
                        "accessToken": "EAAG", "appSecret": "shh"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");

    let (status, sent) = app
        .call(
            Method::POST,
            &format!("{API}/messages/send/{chat}"),
            Some(json!({"type": "text", "text": "Olá!"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["success"], true);
    assert_eq!(sent["messages"][0]["direction"], "outgoing");
    assert_eq!(sent["messages"][0]["status"], 1, "queued for delivery");
    let outbox = app.outbox_of(&chat).await;
    assert!(
        outbox
            .iter()
            .any(|o| o["kind"] == "session_message" && o["payload"]["text"] == "Olá!")
    );
    for (body, field) in [
        (json!({"type": "media"}), "type"),
        (json!({"type": "text", "text": ""}), "text"),
    ] {
        let (status, answer) = app
            .call(
                Method::POST,
                &format!("{API}/messages/send/{chat}"),
                Some(body),
            )
            .await;
        assert_texter_error(status, &answer, StatusCode::BAD_REQUEST, Some(field));
    }
    // Outside the 24-hour window: refused, nothing queued.
    app.clock.advance(chrono::Duration::hours(25));
    let before = app.outbox_of(&chat).await.len();
    let (status, refused) = app
        .call(
            Method::POST,
            &format!("{API}/messages/send/{chat}"),
            Some(json!({"type": "text", "text": "late"})),
        )
        .await;
    assert_texter_error(status, &refused, StatusCode::BAD_REQUEST, None);
    assert_eq!(refused["code"], "SESSION_WINDOW_CLOSED");
    assert_eq!(app.outbox_of(&chat).await.len(), before);
}

async fn scopes_are_enforced_and_tenants_isolated(app: TestApp) {
    let chat = app.conversation().await;
    let listing_only = app
        .core
        .create_token(
            app.org,
            "listing",
            Some(vec!["List all chats".into()]),
            TokenType::Sync,
        )
        .await
        .unwrap()
        .secret;
    let (status, _) = app
        .call_as(
            &listing_only,
            Method::GET,
            &format!("{API}/chats/search"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for (method, path, body, scope) in [
        (
            Method::POST,
            format!("{API}/chats/{chat}/crm-data"),
            Some(json!({"data": {}})),
            "Manage all chats",
        ),
        (
            Method::GET,
            format!("{API}/chats/{chat}"),
            None,
            "Send session message",
        ),
        (
            Method::GET,
            format!("{API}/messages/chat/{chat}?beforeTime=1&beforeId=x"),
            None,
            "View all chats",
        ),
        (
            Method::POST,
            format!("{API}/labels"),
            Some(json!({"id": "x", "name": "x"})),
            "Manage labels",
        ),
    ] {
        let (status, answer) = app.call_as(&listing_only, method, &path, body).await;
        assert_texter_error(status, &answer, StatusCode::FORBIDDEN, None);
        assert_eq!(answer["missingScope"], scope);
    }
    // Labels can be read with any valid token.
    let (status, _) = app
        .call_as(&listing_only, Method::GET, &format!("{API}/labels"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .call_as("sc_nope", Method::GET, &format!("{API}/labels"), None)
        .await;
    assert_texter_error(status, &body, StatusCode::UNAUTHORIZED, None);

    let (_, theirs) = app.other_tenant().await;
    let (_, found) = app
        .call_as(&theirs, Method::GET, &format!("{API}/chats/search"), None)
        .await;
    assert_eq!(found["total"], 0);
    for (method, path, body) in [
        (
            Method::POST,
            format!("{API}/chats/{chat}/crm-data"),
            Some(json!({"data": {"x": 1}})),
        ),
        (Method::GET, format!("{API}/chats/{chat}"), None),
        (
            Method::POST,
            format!("{API}/chats/{chat}/labels"),
            Some(json!({"add": ["x"]})),
        ),
        (
            Method::POST,
            format!("{API}/messages/send/{chat}"),
            Some(json!({"type": "text", "text": "x"})),
        ),
    ] {
        let (status, answer) = app.call_as(&theirs, method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
    }
    assert_eq!(app.state_of(&chat).await["crmData"], json!({}));
}

/// Digits (and phone punctuation) search phone numbers alone, wherever the digits sit in
/// them; any other text searches names and titles too. The total comes with every page, and a
/// page past the end still tells it.
async fn a_search_of_digits_looks_at_phone_numbers_only(app: TestApp) {
    let ana = app.inbound_on("whatsapp", "+5511987654321", "oi").await["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/messages/inbound",
            Some(json!({"channel": "website", "from": "visitor-1", "text": "hi", "name": "Room 98765"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let room = body["conversationId"].as_str().unwrap().to_owned();
    let search = |text: &str, skip: i64| {
        let path = format!("{API}/chats/search?search={text}&skip={skip}");
        let app = &app;
        async move {
            let (status, found) = app.call(Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{found}");
            found
        }
    };
    for digits in ["98765", "(11)%2098765-4321", "+55%2011%209876"] {
        let found = search(digits, 0).await;
        assert_eq!(found["total"], 1, "{digits}: {found}");
        assert_eq!(found["data"][0]["_id"], ana, "{digits}");
    }
    let found = search("room", 0).await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["data"][0]["_id"], room);
    // Words with digits look at names, titles and phones alike.
    let found = search("room%2098765", 0).await;
    assert_eq!(found["total"], 2, "{found}");
    let past_end = search("98765", 5).await;
    assert_eq!(past_end["data"], json!([]));
    assert_eq!(past_end["total"], 1);
}

/// The search reads trigram indexes that the storage keeps beside the data: a renamed
/// contact, a changed phone or title and a deleted chat must show at once, and another
/// organization's matching chats never.
async fn the_search_follows_renames_titles_and_deletions_within_the_tenant(app: TestApp) {
    let chat = app.inbound_on("whatsapp", "+5511987654321", "oi").await["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let found = |text: &str, token: Option<String>| {
        let path = format!("{API}/chats/search?search={text}");
        let app = &app;
        async move {
            let token = token.unwrap_or_else(|| app.token.clone());
            let (status, found) = app.call_as(&token, Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{found}");
            found["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|chat| chat["_id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let (status, contact) = app
        .call(
            Method::POST,
            "/contacts",
            Some(json!({"phoneNumber": "+5511987654321", "firstName": "Beatriz", "lastName": "Lima"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{contact}");
    assert_eq!(found("beatriz%20li", None).await, [chat.as_str()]);
    assert_eq!(found("98765", None).await, [chat.as_str()]);

    let (status, body) = app
        .call(
            Method::POST,
            "/contacts",
            Some(
                json!({"id": contact["id"], "firstName": "Carla", "phoneNumber": "+5521911112222"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        found("beatriz", None).await.is_empty(),
        "the old name is gone"
    );
    assert!(
        found("98765", None).await.is_empty(),
        "the old phone is gone"
    );
    assert_eq!(found("carla%20lima", None).await, [chat.as_str()]);
    assert_eq!(found("91111", None).await, [chat.as_str()]);
    assert_eq!(found("21%20911112222", None).await, [chat.as_str()]);
    assert!(
        found("5511911112222", None).await.is_empty(),
        "the whole number must match, not only its last digits"
    );

    for (title, hit) in [(json!("Quarterly renewal"), true), (Value::Null, false)] {
        let (status, body) = app
            .call(
                Method::PATCH,
                &format!("{API}/chats/{chat}"),
                Some(json!({"displayName": title})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            found("renewal", None).await.len(),
            usize::from(hit),
            "{title}"
        );
    }

    // The same name and number in another organization: each sees its own chat only.
    let (other, theirs) = app.other_tenant().await;
    let (status, body) = app
        .call_as(
            &theirs,
            Method::POST,
            "/v1/messages/inbound",
            Some(json!({"channel": "whatsapp", "from": "+5521911112222", "text": "oi", "name": "Carla Lima"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let their_chat = body["conversationId"].as_str().unwrap().to_owned();
    assert_ne!(their_chat, chat, "{other}");
    assert_eq!(found("carla", None).await, [chat.as_str()]);
    assert_eq!(
        found("91111", Some(theirs.clone())).await,
        [their_chat.as_str()]
    );

    let (status, body) = app
        .call(Method::DELETE, &format!("/conversation/{chat}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(found("carla", None).await.is_empty());
    assert!(found("91111", None).await.is_empty());
    assert_eq!(found("carla", Some(theirs)).await, [their_chat.as_str()]);
}

/// The ids of the chats a search finds, sorted.
async fn chats_found(app: &TestApp, token: &str, text: &str) -> Vec<String> {
    let path = format!("{API}/chats/search?search={text}");
    let (status, found) = app.call_as(token, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{text}: {found}");
    let mut ids: Vec<String> = found["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|chat| chat["_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn chat_named(app: &TestApp, token: &str, phone: &str, name: &str) -> String {
    let (status, body) = app
        .call_as(
            token,
            Method::POST,
            "/v1/messages/inbound",
            Some(json!({"channel": "whatsapp", "from": phone, "text": "oi", "name": name})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["conversationId"].as_str().unwrap().to_owned()
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    ids.sort();
    ids
}

/// Names and titles match ignoring case and accents, whichever side carries them, as step
/// triggers do; a search of digits still looks at phone numbers alone.
async fn the_search_ignores_case_and_accents_on_both_sides(app: TestApp) {
    let token = app.token.clone();
    let joao = chat_named(&app, &token, "+5511900000001", "João Silva").await;
    let plain_joao = chat_named(&app, &token, "+5511900000002", "Joao Pedro").await;
    let conceicao = chat_named(&app, &token, "+5511900000003", "Conceição").await;
    let muller = chat_named(&app, &token, "+5511900000004", "MÜLLER").await;
    let pena = chat_named(&app, &token, "+5511900000005", "Nuño Peña").await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("{API}/chats/{pena}"),
            Some(json!({"displayName": "Renovação ANUAL"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let both_joaos = sorted(&[&joao, &plain_joao]);
    for (text, expected) in [
        ("joao", both_joaos.clone()),
        ("JOAO", both_joaos.clone()),
        // An accented search finds unaccented names too.
        ("Jo%C3%A3o", both_joaos.clone()),
        ("JO%C3%83O", both_joaos.clone()),
        // "a" followed by a combining tilde: the decomposed spelling of "ã".
        ("joa%CC%83o", both_joaos.clone()),
        ("joao%20silva", sorted(&[&joao])),
        ("conceicao", sorted(&[&conceicao])),
        ("CONCEI%C3%87%C3%83O", sorted(&[&conceicao])),
        ("muller", sorted(&[&muller])),
        ("M%C3%BCller", sorted(&[&muller])),
        ("nuno%20pena", sorted(&[&pena])),
        // The title, folded as names are: "Renovação" and "Conceição" both hold "ção".
        ("renovacao%20anual", sorted(&[&pena])),
        ("%C3%A7%C3%A3o", sorted(&[&conceicao, &pena])),
        ("xavier", vec![]),
    ] {
        assert_eq!(chats_found(&app, &token, text).await, expected, "{text}");
    }
    assert_eq!(
        chats_found(&app, &token, "900000004").await,
        sorted(&[&muller]),
        "digits look at phone numbers"
    );

    // A rename is followed, folded.
    let (status, body) = app
        .call(
            Method::POST,
            "/contacts",
            Some(json!({"phoneNumber": "+5511900000004", "firstName": "Gonçalves"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(chats_found(&app, &token, "muller").await.is_empty());
    assert_eq!(
        chats_found(&app, &token, "GONCALVES").await,
        sorted(&[&muller])
    );

    // Another organization's João is its own.
    let (_, theirs) = app.other_tenant().await;
    let their_joao = chat_named(&app, &theirs, "+5511900000001", "JOÃO").await;
    assert_eq!(chats_found(&app, &token, "joao").await, both_joaos);
    assert_eq!(
        chats_found(&app, &theirs, "joao").await,
        sorted(&[&their_joao])
    );
}

/// The columns of a conversation as migration 0009 left them, and the values of those
/// after the id, organization, contact and title.
const OLD_CONVERSATION: &str = "(id, organization_id, contact_id, title, channel, status, \
     priority, ai_enabled, crm_data, contact_fields_to_collect, unread_count, created_at, \
     updated_at)";
const OLD_DEFAULTS: &str = "'whatsapp', 'UNRESOLVED', 'MEDIUM', TRUE, '{}', \
     '{\"name\":false,\"email\":false,\"phone\":false}', 0, 0, 0";

/// A database migrated before the folded copies existed (migration 0011) holds names and
/// titles without them: migrating it folds them, so the search finds those rows as it
/// finds new ones, and migrating again changes nothing.
async fn names_and_titles_stored_before_folding_are_found_once_migrated(app: TestApp) {
    let backend = app.db.backend;
    let db = TestDatabase::create(backend)
        .await
        .expect("the same backend");
    let engine = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    // The migrations before 0011, as a database of that time had them.
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../storage/migrations")
        .join(engine);
    let before = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&migrations).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0011" {
            std::fs::copy(&path, before.path().join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(before.path()).await.unwrap();
    let (org, contact, chat) = (
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
    );
    // One chat to look for, and more than a batch of folding (1,000 rows) beside it.
    let new_id = match backend {
        Backend::Sqlite => "randomblob(16)",
        Backend::Postgres => "gen_random_uuid()",
    };
    let statements: [(String, Vec<uuid::Uuid>); 5] = [
        (
            "INSERT INTO organizations (id, name, created_at, updated_at) \
             VALUES ($1, 'Old org', 0, 0)"
                .into(),
            vec![org],
        ),
        (
            "INSERT INTO contacts (id, organization_id, first_name, last_name, phone, metadata, \
             created_at, updated_at) \
             VALUES ($1, $2, 'João', 'CONCEIÇÃO', '+5511900000009', '{}', 0, 0)"
                .into(),
            vec![contact, org],
        ),
        (
            format!(
                "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500) \
                 INSERT INTO contacts (id, organization_id, first_name, last_name, phone, \
                 metadata, created_at, updated_at) \
                 SELECT {new_id}, $1, 'Ação', CAST(i AS TEXT), '+55118' || CAST(i AS TEXT), \
                 '{{}}', 0, 0 FROM n"
            ),
            vec![org],
        ),
        (
            format!(
                "INSERT INTO conversations {OLD_CONVERSATION} VALUES ($1, $2, $3, 'Renovação', {OLD_DEFAULTS})"
            ),
            vec![chat, org, contact],
        ),
        (
            format!(
                "INSERT INTO conversations {OLD_CONVERSATION} \
                 SELECT {new_id}, organization_id, id, NULL, {OLD_DEFAULTS} \
                 FROM contacts WHERE first_name = 'Ação'"
            ),
            vec![],
        ),
    ];
    match backend {
        Backend::Sqlite => {
            let options: sqlx::sqlite::SqliteConnectOptions = db.url.parse().unwrap();
            let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
                .await
                .unwrap();
            migrator.run(&pool).await.unwrap();
            for (sql, ids) in &statements {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
                for id in ids {
                    query = query.bind(*id);
                }
                query.execute(&pool).await.expect(sql);
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            migrator.run(&pool).await.unwrap();
            for (sql, ids) in &statements {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
                for id in ids {
                    query = query.bind(*id);
                }
                query.execute(&pool).await.expect(sql);
            }
            pool.close().await;
        }
    }

    if backend == Backend::Postgres {
        // Nodes starting together on PostgreSQL migrate and fold at the same time.
        let nodes = [
            stagecoach_storage::connect(&db.url).await.unwrap(),
            stagecoach_storage::connect(&db.url).await.unwrap(),
        ];
        let (first, second) = tokio::join!(nodes[0].migrate(), nodes[1].migrate());
        first.expect("the first node migrates");
        second.expect("the second node migrates");
        for node in nodes {
            node.close().await;
        }
    }
    let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 3);
    let org = stagecoach_domain::ids::OrganizationId(org);
    let upgraded = TestApp::serve(db, org, String::new(), now).await;
    let token = upgraded
        .core
        .create_token(org, "test", None, TokenType::Sync)
        .await
        .unwrap()
        .secret;
    let chat = chat.to_string();
    for text in [
        "joao",
        "JOAO%20CONCEICAO",
        "Concei%C3%A7%C3%A3o",
        "renovacao",
    ] {
        assert_eq!(
            chats_found(&upgraded, &token, text).await,
            [chat.as_str()],
            "{text}"
        );
    }
    let path = format!("{API}/chats/search?search=acao");
    let (status, found) = upgraded.call_as(&token, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    // The 1,500 contacts named "Ação", and the chat titled "Renovação".
    assert_eq!(found["total"], 1501, "every batch was folded");
    assert_eq!(
        chats_found(&upgraded, &token, "A%C3%87%C3%83O%201499")
            .await
            .len(),
        1
    );
    upgraded
        .core
        .store()
        .migrate()
        .await
        .expect("migrating again");
    assert_eq!(
        chats_found(&upgraded, &token, "renovacao").await,
        [chat.as_str()]
    );
    upgraded.cleanup().await;
}
