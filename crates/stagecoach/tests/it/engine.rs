//! The step-entry engine through its ways in: adding, moving, triggers and timers.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, assert_chatvolt_shape, assert_error};

backend_tests!(
    an_initial_message_nothing_can_deliver_says_why,
    adding_applies_every_rule_of_the_step,
    add_finds_the_step_by_id_index_or_scenario_and_refuses_a_second_add,
    move_sends_the_initial_message_only_when_asked,
    whatsapp_messages_outside_24_hours_are_blocked,
    a_conversation_is_active_in_one_scenario_at_a_time,
    removal_from_a_scenario_and_removal_steps,
    board_pages_and_counts,
    triggers_enroll_and_move_conversations,
    inbound_messages_are_stored_once_and_contacts_matched_by_phone,
    auto_advance_fires_when_due_and_only_then,
    auto_advance_survives_a_restart_and_fires_once_across_instances,
    leaving_a_step_early_cancels_its_timer,
    zero_delay_cycles_stop_at_the_loop_guard,
    fair_distribution_spreads_and_honours_existing_load,
    fair_distribution_counts_only_open_conversations_on_the_board,
    conversation_logs_record_every_stay,
    a_step_holding_conversations_cannot_be_deleted,
    other_organizations_cannot_touch_conversations,
);

fn kinds(timeline: &[Value]) -> Vec<String> {
    timeline
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn adding_applies_every_rule_of_the_step(app: TestApp) {
    let scenario = app.scenario("Sales").await;
    let agent = app.agent("Closer").await;
    let member = app.member(app.org, "ana@example.com").await;
    let step = app
        .step_with(
            &scenario,
            "Qualify",
            json!({
                "agentId": agent,
                "defaultStatus": "HUMAN_REQUESTED",
                "defaultPriority": "HIGH",
                "defaultAiControl": false,
                "defaultTags": ["lead", "vip"],
                "defaultTagsToRemove": ["vip"],
                "assigneeLogicType": "single_user",
                "selectedMembershipIdsForAssignee": [member.to_string()],
                "requestContact": {"name": true, "email": true, "phone": false},
                "initialMessage": "Hi {{contact.name}}",
                "zapiPhoneNumber": "5511999990000",
                "zapiMessage": "New lead",
                "whatsappTemplateName": "welcome",
                "whatsappTemplateLanguageCode": "pt_BR",
                "webhookUrl": "https://hooks.example.com/stage",
                "webhookHeader": {"X-Key": "k"},
            }),
        )
        .await;
    let conversation = app.conversation().await;
    let (status, result) = app.add_to(&conversation, &step).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_chatvolt_shape("POST /crm/step/conversation 200", &result);
    assert_eq!(result["success"], true);
    assert_eq!(result["newStepId"], step["id"]);
    assert_eq!(result["messageSent"], true);
    assert_eq!(result["initialMessage"], "Hi {{contact.name}}");
    assert_eq!(result["stepAgentId"], agent);
    assert_eq!(result["blockedBy24hRule"], false);
    assert_eq!(result["zapiPhoneNumber"], "5511999990000");

    let state = app.state_of(&conversation).await;
    assert_eq!(state["agentId"], agent);
    assert_eq!(state["status"], "HUMAN_REQUESTED");
    assert_eq!(state["priority"], "HIGH");
    assert_eq!(state["aiEnabled"], false);
    assert_eq!(state["tags"], json!(["lead"]));
    assert_eq!(state["assignees"], json!([member.to_string()]));
    assert_eq!(
        state["contactFieldsToCollect"],
        json!({"name": true, "email": true, "phone": false})
    );
    assert_eq!(state["scenarios"][0]["stepId"], step["id"]);
    assert_eq!(state["scenarios"][0]["available"], true);

    let outbox = app.effects_of(&conversation).await;
    let kinds_out: Vec<_> = outbox.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds_out,
        [
            "initial_message",
            "zapi_notification",
            "whatsapp_template",
            "step_webhook"
        ]
    );
    assert!(outbox.iter().all(|o| o["status"] == "pending"));
    assert_eq!(outbox[0]["payload"]["text"], "Hi {{contact.name}}");
    let hook = &outbox[3]["payload"];
    assert_eq!(hook["url"], "https://hooks.example.com/stage");
    assert_eq!(hook["headers"]["X-Key"], "k");
    assert_eq!(hook["event"]["eventType"], "STEP_ENTERED");
    assert_eq!(hook["event"]["stepId"], step["id"]);
    assert_eq!(hook["event"]["tags"], json!(["lead"]));

    let timeline = app.timeline_of(&conversation).await;
    let kinds = kinds(&timeline);
    assert!(
        kinds.starts_with(&["message_received".into(), "step_entered".into()]),
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| *k == "effect_queued").count(), 4);
    let entered = timeline
        .iter()
        .find(|e| e["type"] == "step_entered")
        .unwrap();
    assert_eq!(entered["data"]["cause"], "added");
    assert!(entered["actor"].as_str().unwrap().starts_with("api_token:"));
}

async fn add_finds_the_step_by_id_index_or_scenario_and_refuses_a_second_add(app: TestApp) {
    let scenario = app.scenario("S").await;
    let first = app.step(&scenario, "first").await;
    let second = app.step(&scenario, "second").await;
    let other = app.scenario("Other").await;

    let a = app.conversation().await;
    let (_, result) = app
        .call(
            Method::POST,
            "/crm/step/conversation",
            Some(json!({"conversationId": a, "scenarioId": scenario})),
        )
        .await;
    assert_eq!(
        result["newStepId"], first["id"],
        "scenario alone: the first step"
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/crm/step/conversation",
            Some(json!({"conversationId": a, "scenarioId": scenario})),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, &["conversationId"]);

    let b = app.conversation().await;
    let (_, result) = app
        .call(
            Method::POST,
            "/crm/step/conversation",
            Some(json!({"conversationId": b, "scenarioId": scenario, "stepIndex": 1})),
        )
        .await;
    assert_eq!(result["newStepId"], second["id"]);

    let c = app.conversation().await;
    let cases = [
        (
            json!({"conversationId": c, "stepId": second["id"], "scenarioId": other}),
            StatusCode::BAD_REQUEST,
            "scenarioId",
        ),
        (
            json!({"conversationId": c, "scenarioId": scenario, "stepIndex": 7}),
            StatusCode::NOT_FOUND,
            "stepIndex",
        ),
        (
            json!({"conversationId": c, "stepId": "nope"}),
            StatusCode::NOT_FOUND,
            "stepId",
        ),
        (
            json!({"conversationId": "nope", "stepId": first["id"]}),
            StatusCode::NOT_FOUND,
            "conversationId",
        ),
        (
            json!({"stepId": first["id"]}),
            StatusCode::BAD_REQUEST,
            "conversationId",
        ),
        (
            json!({"conversationId": c}),
            StatusCode::BAD_REQUEST,
            "scenarioId",
        ),
    ];
    for (body, expected, field) in cases {
        let (status, answer) = app
            .call(Method::POST, "/crm/step/conversation", Some(body))
            .await;
        assert_error(status, &answer, expected, &[field]);
    }
    assert_eq!(
        app.state_of(&c).await["scenarios"],
        json!([]),
        "refused adds changed nothing"
    );
}

async fn move_sends_the_initial_message_only_when_asked(app: TestApp) {
    let scenario = app.scenario("S").await;
    let first = app.step(&scenario, "first").await;
    let second = app
        .step_with(&scenario, "second", json!({"initialMessage": "Welcome"}))
        .await;
    let third = app
        .step_with(&scenario, "third", json!({"initialMessage": "Bye"}))
        .await;
    let conversation = app.conversation().await;
    app.add_to(&conversation, &first).await;

    let (status, moved) = app
        .call(
            Method::POST,
            "/crm/step/move",
            Some(json!({"conversationId": conversation, "destStepId": second["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_chatvolt_shape("POST /crm/step/move 200", &moved);
    assert_eq!(moved["newStepId"], second["id"]);
    assert_eq!(moved["messageSent"], false);
    assert!(app.effects_of(&conversation).await.is_empty());

    let (_, moved) = app
        .call(
            Method::POST,
            "/crm/step/move",
            Some(
                json!({"conversationId": conversation, "scenarioId": scenario,
            "destStepIndex": 2, "shouldSendInitialMessage": true}),
            ),
        )
        .await;
    assert_eq!(moved["newStepId"], third["id"]);
    assert_eq!(moved["messageSent"], true);
    assert_eq!(
        moved["message"],
        "Conversation moved to step third and initial message queued."
    );
    let outbox = app.effects_of(&conversation).await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["payload"]["text"], "Bye");

    let other = app.scenario("Other").await;
    let (status, body) = app
        .call(Method::POST, "/crm/step/move", Some(json!({"conversationId": conversation, "scenarioId": other, "destStepId": first["id"]})))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["scenarioId"]);
    let (status, body) = app
        .call(
            Method::POST,
            "/crm/step/move",
            Some(json!({"conversationId": conversation})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["destStepId"]);
    assert_eq!(
        app.state_of(&conversation).await["scenarios"][0]["stepId"],
        third["id"]
    );
}

async fn whatsapp_messages_outside_24_hours_are_blocked(app: TestApp) {
    let scenario = app.scenario("S").await;
    let step = app
        .step_with(&scenario, "greet", json!({"initialMessage": "Hello"}))
        .await;
    let (_, inbound) = app
        .call(
            Method::POST,
            "/v1/messages/inbound",
            Some(json!({"channel": "whatsapp", "from": "+55 11 98765-4321",
            "text": "hi", "timestamp": (chrono::Utc::now() - Duration::hours(25)).to_rfc3339()})),
        )
        .await;
    let conversation = inbound["conversationId"].as_str().unwrap().to_owned();
    let (_, result) = app.add_to(&conversation, &step).await;
    assert_eq!(result["blockedBy24hRule"], true);
    assert_eq!(result["messageSent"], false);
    assert!(result["sendMessageError"].is_string());
    assert!(app.effects_of(&conversation).await.is_empty());
    let timeline = app.timeline_of(&conversation).await;
    assert!(
        timeline
            .iter()
            .any(|e| e["type"] == "effect_skipped" && e["data"]["effect"] == "initialMessage")
    );

    // A fresh message reopens the window.
    app.inbound_on("whatsapp", "5511987654321", "oi").await;
    let (status, moved) = app
        .call(Method::POST, "/crm/step/move", Some(json!({"conversationId": conversation, "destStepId": step["id"], "shouldSendInitialMessage": true})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(moved["blockedBy24hRule"], false);
    assert_eq!(app.effects_of(&conversation).await.len(), 1);
}

async fn a_conversation_is_active_in_one_scenario_at_a_time(app: TestApp) {
    let first = app.scenario("First").await;
    let second = app.scenario("Second").await;
    let a = app
        .step_with(&first, "a", json!({"autoNextStepId": null}))
        .await;
    let b = app.step(&second, "b").await;
    let later = app.step(&first, "later").await;
    app.call(Method::PUT, "/crm/step", Some(json!({"id": a["id"], "autoNextStepId": later["id"], "autoNextTime": 1, "autoNextTimeUnit": "h"}))).await;
    let conversation = app.conversation().await;
    app.add_to(&conversation, &a).await;
    assert!(app.state_of(&conversation).await["nextAutoAdvance"].is_object());
    let (status, _) = app.add_to(&conversation, &b).await;
    assert_eq!(status, StatusCode::OK);

    let state = app.state_of(&conversation).await;
    let places = state["scenarios"].as_array().unwrap();
    let active: Vec<_> = places.iter().filter(|p| p["available"] == true).collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["scenarioId"], second);
    assert_eq!(
        state["nextAutoAdvance"],
        Value::Null,
        "the old stay's timer is cancelled"
    );

    let (_, board) = app
        .call(
            Method::GET,
            &format!("/crm/scenario/{first}/conversation"),
            None,
        )
        .await;
    assert_eq!(board, json!([]));
    let (_, board) = app
        .call(
            Method::GET,
            &format!("/crm/scenario/{first}/conversation?showInactiveConversations=true"),
            None,
        )
        .await;
    assert_eq!(board[0]["available"], false);
    // Re-adding to the first scenario is allowed again: it is not active there.
    let (status, _) = app.add_to(&conversation, &a).await;
    assert_eq!(status, StatusCode::OK);
}

async fn removal_from_a_scenario_and_removal_steps(app: TestApp) {
    let scenario = app.scenario("S").await;
    let start = app.step(&scenario, "start").await;
    let done = app
        .step_with(
            &scenario,
            "done",
            json!({"isConversationRemovalStep": true, "defaultStatus": "RESOLVED"}),
        )
        .await;
    let conversation = app.conversation().await;
    app.add_to(&conversation, &start).await;

    let path = format!("/crm/scenario/{scenario}/conversation");
    let (status, body) = app.call(Method::DELETE, &path, None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["conversationId"]);
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("{path}?conversationId={conversation}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["message"],
        "Conversation successfully removed from scenario"
    );
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("{path}?conversationId={conversation}"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["conversationId"]);
    let (_, board) = app.call(Method::GET, &path, None).await;
    assert_eq!(board, json!([]));
    assert!(
        kinds(&app.timeline_of(&conversation).await).contains(&"removed_from_scenario".to_owned())
    );

    let other = app.conversation().await;
    app.add_to(&other, &start).await;
    let (_, moved) = app
        .call(
            Method::POST,
            "/crm/step/move",
            Some(json!({"conversationId": other, "destStepId": done["id"]})),
        )
        .await;
    assert_eq!(moved["success"], true);
    let state = app.state_of(&other).await;
    assert_eq!(
        state["status"], "RESOLVED",
        "the rest of the step applies first"
    );
    assert_eq!(state["scenarios"][0]["available"], false);
    let (_, board) = app.call(Method::GET, &path, None).await;
    assert_eq!(board, json!([]));
}

async fn board_pages_and_counts(app: TestApp) {
    let scenario = app.scenario("S").await;
    let first = app.step(&scenario, "first").await;
    let second = app.step(&scenario, "second").await;
    let mut in_first = Vec::new();
    for _ in 0..3 {
        let c = app.conversation().await;
        app.add_to(&c, &first).await;
        in_first.push(c);
    }
    let c = app.conversation().await;
    app.add_to(&c, &second).await;

    let path = format!("/crm/scenario/{scenario}/conversation");
    let (status, board) = app.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_chatvolt_shape("GET /crm/scenario/{scenarioId}/conversation 200", &board);
    assert_eq!(board.as_array().unwrap().len(), 4);
    assert_eq!(board[0]["conversationId"], in_first[0]);
    assert_eq!(board[0]["step"]["id"], first["id"]);
    assert_eq!(board[0]["conversation"]["channel"], "website");
    // Each step is rendered once per page: every card still carries its own step, whole.
    for card in board.as_array().unwrap() {
        let step = if card["stepId"] == first["id"] {
            &first
        } else {
            &second
        };
        assert_eq!(card["step"]["id"], step["id"]);
        assert_eq!(card["step"]["name"], step["name"]);
        assert_eq!(card["step"]["scenarioId"], scenario);
    }
    assert_eq!(board[3]["step"]["id"], second["id"]);

    let (_, page) = app
        .call(
            Method::GET,
            &format!(
                "{path}?stepId={}&limit=2&page=1",
                first["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    let ids: Vec<_> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversationId"].clone())
        .collect();
    assert_eq!(ids, vec![json!(in_first[2])]);

    let (_, count) = app
        .call(
            Method::GET,
            &format!(
                "{path}?isCount=true&stepId={}",
                first["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_chatvolt_shape("GET /crm/scenario/{scenarioId}/conversation 200", &count);
    assert_eq!(count, json!({"count": 3}));
    let (_, counts) = app
        .call(Method::GET, &format!("{path}?isCount=true"), None)
        .await;
    assert_chatvolt_shape("GET /crm/scenario/{scenarioId}/conversation 200", &counts);
    assert_eq!(counts[first["id"].as_str().unwrap()], 3);
    assert_eq!(counts[second["id"].as_str().unwrap()], 1);

    let (status, body) = app
        .call(Method::GET, &format!("{path}?limit=0"), None)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["limit"]);
    let (status, body) = app
        .call(Method::GET, "/crm/scenario/nope/conversation", None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["scenarioId"]);
}

async fn triggers_enroll_and_move_conversations(app: TestApp) {
    let scenario = app.scenario("Sales").await;
    let start = app
        .step_with(&scenario, "start", json!({"trigger": "oi, olá"}))
        .await;
    let pricing = app
        .step_with(&scenario, "pricing", json!({"trigger": "preço"}))
        .await;
    let _prompt_only = app
        .step_with(
            &scenario,
            "classified",
            json!({"prompt": "when they say preço"}),
        )
        .await;
    let orders = app
        .step_with(
            &scenario,
            "orders",
            json!({"trigger": "/pedido\\s*#?\\d+/"}),
        )
        .await;

    // A conversation in no scenario is enrolled by the first matching step.
    let first = app.inbound("ana", "Qual o PRECO?").await;
    assert_eq!(first["entered"]["stepId"], pricing["id"]);
    assert_eq!(first["entered"]["scenarioId"], scenario);
    let conversation = first["conversationId"].as_str().unwrap().to_owned();
    let entered = app
        .timeline_of(&conversation)
        .await
        .into_iter()
        .find(|e| e["type"] == "step_entered")
        .unwrap();
    assert_eq!(entered["data"]["cause"], "trigger");
    assert_eq!(entered["actor"], "trigger");

    // Inside its scenario, the current step is excluded and nothing matching stays put.
    let again = app.inbound("ana", "e o preço?").await;
    assert_eq!(again["entered"], Value::Null);
    let moved = app.inbound("ana", "meu Pedido #123").await;
    assert_eq!(moved["entered"]["stepId"], orders["id"]);
    let back = app.inbound("ana", "olá de novo").await;
    assert_eq!(back["entered"]["stepId"], start["id"]);
    let none = app.inbound("bruno", "bom dia").await;
    assert_eq!(none["entered"], Value::Null);
    assert_eq!(
        app.state_of(none["conversationId"].as_str().unwrap()).await["scenarios"],
        json!([])
    );
}

async fn inbound_messages_are_stored_once_and_contacts_matched_by_phone(app: TestApp) {
    let org = app
        .core
        .create_organization("BR", Some("55"))
        .await
        .unwrap()
        .id;
    let token = app
        .core
        .create_token(org, "br", None, stagecoach_domain::enums::TokenType::Sync)
        .await
        .unwrap()
        .secret;
    let send = |from: &'static str, id: Option<&'static str>| {
        let app = app.clone();
        let token = token.clone();
        async move {
            let mut body =
                json!({"channel": "whatsapp", "from": from, "text": "oi", "name": "Ana Souza"});
            if let Some(id) = id {
                body["externalId"] = json!(id);
            }
            app.call_as(&token, Method::POST, "/v1/messages/inbound", Some(body))
                .await
        }
    };
    let (status, first) = send("+55 11 98765-4321", Some("wamid.1")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["contactCreated"], true);
    assert_eq!(first["conversationCreated"], true);
    let (_, repeat) = send("+55 11 98765-4321", Some("wamid.1")).await;
    assert_eq!(repeat["duplicate"], true);
    assert_eq!(repeat["messageId"], first["messageId"]);
    assert_eq!(repeat["conversationId"], first["conversationId"]);
    for spelling in ["5511987654321", "(11) 98765-4321"] {
        let (_, next) = send(spelling, None).await;
        assert_eq!(next["contactId"], first["contactId"], "{spelling}");
        assert_eq!(next["conversationId"], first["conversationId"]);
        assert_eq!(next["duplicate"], false);
    }
    let (status, state) = app
        .call_as(
            &token,
            Method::GET,
            &format!(
                "/v1/conversations/{}",
                first["conversationId"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        state["unreadCount"], 3,
        "the redelivered message changed nothing"
    );
    assert!(state["lastInboundAt"].is_string());

    let (status, body) = app
        .call_as(
            &token,
            Method::POST,
            "/v1/messages/inbound",
            Some(json!({"channel": "fax", "from": "1", "text": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["fields"][0]["field"], "channel");
    let (status, body) = app
        .call_as(
            &token,
            Method::POST,
            "/v1/messages/inbound",
            Some(json!({"text": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
}

/// A two-step scenario whose first step advances after two hours.
async fn two_hour_scenario(app: &TestApp) -> (Value, Value) {
    let scenario = app.scenario("Follow-up").await;
    let first = app.step(&scenario, "waiting").await;
    let second = app
        .step_with(&scenario, "nudged", json!({"defaultPriority": "HIGH"}))
        .await;
    let (status, _) = app
        .call(
            Method::PUT,
            "/crm/step",
            Some(json!({"id": first["id"], "autoNextStepId": second["id"],
            "autoNextTime": 2, "autoNextTimeUnit": "h"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    (first, second)
}

async fn auto_advance_fires_when_due_and_only_then(app: TestApp) {
    let (first, second) = two_hour_scenario(&app).await;
    let conversation = app.conversation().await;
    app.add_to(&conversation, &first).await;
    let state = app.state_of(&conversation).await;
    let due =
        chrono::DateTime::parse_from_rfc3339(state["nextAutoAdvance"]["dueAt"].as_str().unwrap())
            .unwrap();
    assert_eq!(
        due,
        stagecoach_app::Clock::now(app.clock.as_ref()) + Duration::hours(2)
    );
    assert_eq!(state["nextAutoAdvance"]["targetStepId"], second["id"]);

    app.clock.advance(Duration::hours(2) - Duration::seconds(1));
    assert_eq!(app.core.run_due_auto_advances(100).await.unwrap(), 0);
    assert_eq!(
        app.state_of(&conversation).await["scenarios"][0]["stepId"],
        first["id"]
    );

    app.clock.advance(Duration::seconds(1));
    assert_eq!(app.core.run_due_auto_advances(100).await.unwrap(), 1);
    let state = app.state_of(&conversation).await;
    assert_eq!(state["scenarios"][0]["stepId"], second["id"]);
    assert_eq!(state["priority"], "HIGH");
    assert_eq!(state["nextAutoAdvance"], Value::Null);
    assert_eq!(
        app.core.run_due_auto_advances(100).await.unwrap(),
        0,
        "fires once"
    );
    let kinds = kinds(&app.timeline_of(&conversation).await);
    assert!(
        kinds.contains(&"timer_armed".to_owned()) && kinds.contains(&"timer_fired".to_owned()),
        "{kinds:?}"
    );
    assert!(
        !kinds.contains(&"timer_cancelled".to_owned()),
        "a timer that fired was not cancelled: {kinds:?}"
    );
}

async fn auto_advance_survives_a_restart_and_fires_once_across_instances(app: TestApp) {
    let (first, second) = two_hour_scenario(&app).await;
    let mut conversations = Vec::new();
    for _ in 0..6 {
        let c = app.conversation().await;
        app.add_to(&c, &first).await;
        conversations.push(c);
    }
    // "Restart": two fresh app instances on the same database, with a clock past due.
    let later = stagecoach_app::Clock::now(app.clock.as_ref()) + Duration::hours(3);
    let mut instances = Vec::new();
    for _ in 0..2 {
        let store = stagecoach_storage::connect(&app.db.url).await.unwrap();
        let clock = std::sync::Arc::new(stagecoach_app::ManualClock::new(later));
        instances.push(stagecoach_app::Stagecoach::new(store, clock));
    }
    let (a, b) = tokio::join!(
        instances[0].run_due_auto_advances(100),
        instances[1].run_due_auto_advances(100)
    );
    assert_eq!(
        a.unwrap() + b.unwrap(),
        conversations.len(),
        "each timer fired exactly once"
    );
    for c in &conversations {
        let state = app.state_of(c).await;
        assert_eq!(state["scenarios"][0]["stepId"], second["id"]);
        let fired = kinds(&app.timeline_of(c).await)
            .iter()
            .filter(|k| *k == "timer_fired")
            .count();
        assert_eq!(fired, 1);
    }
    for instance in &instances {
        instance.store().close().await;
    }
}

async fn leaving_a_step_early_cancels_its_timer(app: TestApp) {
    let (first, second) = two_hour_scenario(&app).await;
    let conversation = app.conversation().await;
    app.add_to(&conversation, &first).await;
    app.call(
        Method::POST,
        "/crm/step/move",
        Some(json!({"conversationId": conversation, "destStepId": second["id"]})),
    )
    .await;
    app.call(
        Method::POST,
        "/crm/step/move",
        Some(json!({"conversationId": conversation, "destStepId": first["id"]})),
    )
    .await;
    // Back in the first step: a new stay, a new timer, due two hours after re-entry.
    app.clock.advance(Duration::hours(1));
    assert_eq!(app.core.run_due_auto_advances(100).await.unwrap(), 0);
    let kinds = kinds(&app.timeline_of(&conversation).await);
    assert!(kinds.contains(&"timer_cancelled".to_owned()), "{kinds:?}");
    assert_eq!(
        app.state_of(&conversation).await["scenarios"][0]["stepId"],
        first["id"]
    );
    app.clock.advance(Duration::hours(1));
    assert_eq!(app.core.run_due_auto_advances(100).await.unwrap(), 1);
}

async fn zero_delay_cycles_stop_at_the_loop_guard(app: TestApp) {
    let scenario = app.scenario("Loop").await;
    let a = app.step(&scenario, "a").await;
    let b = app
        .step_with(&scenario, "b", json!({"autoNextStepId": a["id"]}))
        .await;
    app.call(
        Method::PUT,
        "/crm/step",
        Some(json!({"id": a["id"], "autoNextStepId": b["id"]})),
    )
    .await;
    let conversation = app.conversation().await;
    let (status, result) = app.add_to(&conversation, &a).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    let timeline = app.timeline_of(&conversation).await;
    let entries = timeline
        .iter()
        .filter(|e| e["type"] == "step_entered")
        .count();
    assert_eq!(
        entries,
        stagecoach_domain::engine::entry::MAX_CHAINED_ENTRIES
    );
    let stopped = timeline
        .iter()
        .find(|e| e["type"] == "loop_guard_stopped")
        .expect("the guard says so");
    assert_eq!(
        stopped["data"]["limit"],
        stagecoach_domain::engine::entry::MAX_CHAINED_ENTRIES
    );
    let state = app.state_of(&conversation).await;
    assert_eq!(
        state["nextAutoAdvance"],
        Value::Null,
        "nothing left to spin"
    );
    assert_eq!(result["newStepId"], state["scenarios"][0]["stepId"]);
}

async fn fair_distribution_spreads_and_honours_existing_load(app: TestApp) {
    let scenario = app.scenario("Support").await;
    let members: Vec<String> =
        futures_join(&app, ["m1@example.com", "m2@example.com", "m3@example.com"]).await;
    let fair = app
        .step_with(
            &scenario,
            "fair",
            json!({"assigneeLogicType": "fair_distribution_selected",
            "selectedMembershipIdsForAssignee": members}),
        )
        .await;
    let mut per_member = std::collections::HashMap::<String, usize>::new();
    for _ in 0..30 {
        let c = app.conversation().await;
        app.add_to(&c, &fair).await;
        let state = app.state_of(&c).await;
        *per_member
            .entry(state["assignees"][0].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_member.len(), 3);
    assert!(per_member.values().all(|n| *n == 10), "{per_member:?}");

    // Existing load counts: give the first member five more open conversations here.
    let single = app
        .step_with(
            &scenario,
            "single",
            json!({"assigneeLogicType": "single_user",
            "selectedMembershipIdsForAssignee": [members[0]]}),
        )
        .await;
    for _ in 0..5 {
        let c = app.conversation().await;
        app.add_to(&c, &single).await;
    }
    let mut next = std::collections::HashMap::<String, usize>::new();
    for _ in 0..10 {
        let c = app.conversation().await;
        app.add_to(&c, &fair).await;
        let state = app.state_of(&c).await;
        *next
            .entry(state["assignees"][0].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(
        next.get(&members[0]),
        None,
        "the busiest member gets none: {next:?}"
    );
    assert_eq!(next[&members[1]] + next[&members[2]], 10);
    // The timeline says why: every candidate with its load.
    let c = app.conversation().await;
    app.add_to(&c, &fair).await;
    let timeline = app.timeline_of(&c).await;
    let chosen = timeline
        .iter()
        .find(|e| e["type"] == "assignee_chosen")
        .expect("the decision is recorded");
    let candidates = chosen["data"]["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 3);
    assert!(
        candidates
            .iter()
            .all(|l| l["openConversations"].is_i64() && l["membershipId"].is_string())
    );
    assert_eq!(
        chosen["data"]["chosen"],
        app.state_of(&c).await["assignees"][0]
    );
}

/// Loads follow every way a conversation stops counting: resolved, taken off the board,
/// unassigned, deleted. (They are kept in a table of their own, rewritten on every save,
/// and on SQLite counted by triggers, which cascading deletes fire too.)
async fn fair_distribution_counts_only_open_conversations_on_the_board(app: TestApp) {
    let scenario = app.scenario("Sales").await;
    let members: Vec<String> = futures_join(&app, ["a@example.com", "b@example.com"]).await;
    let fair = app
        .step_with(
            &scenario,
            "fair",
            json!({"assigneeLogicType": "fair_distribution_selected",
            "selectedMembershipIdsForAssignee": members}),
        )
        .await;
    let single = app
        .step_with(
            &scenario,
            "single",
            json!({"assigneeLogicType": "single_user",
            "selectedMembershipIdsForAssignee": [members[0]]}),
        )
        .await;
    let next_pick = || async {
        let c = app.conversation().await;
        app.add_to(&c, &fair).await;
        let assignee = app.state_of(&c).await["assignees"][0]
            .as_str()
            .unwrap()
            .to_owned();
        (c, assignee)
    };
    let next_assignee = || async { next_pick().await.1 };
    // Member a: three open conversations; member b: one.
    let mut busy = Vec::new();
    for _ in 0..3 {
        let c = app.conversation().await;
        app.add_to(&c, &single).await;
        busy.push(c);
    }
    assert_eq!(next_assignee().await, members[1]);
    assert_eq!(
        next_assignee().await,
        members[1],
        "b still has fewer (1 < 3)"
    );

    // One of a's is resolved, one leaves the board, one loses its assignee: a has none.
    let resolved = app
        .call(
            Method::POST,
            &format!("/conversations/{}/set-status", busy[0]),
            Some(json!({"status": "RESOLVED"})),
        )
        .await;
    assert_eq!(resolved.0, StatusCode::OK, "{}", resolved.1);
    let removed = app
        .call(
            Method::DELETE,
            &format!(
                "/crm/scenario/{scenario}/conversation?conversationId={}",
                busy[1]
            ),
            None,
        )
        .await;
    assert_eq!(removed.0, StatusCode::OK, "{}", removed.1);
    let unassigned = app
        .call(
            Method::POST,
            &format!("/conversations/{}/unassign", busy[2]),
            Some(json!({})),
        )
        .await;
    assert_eq!(unassigned.0, StatusCode::OK, "{}", unassigned.1);
    assert_eq!(next_assignee().await, members[0], "a: 0 open, b: 2 open");
    assert_eq!(next_assignee().await, members[0], "a: 1 open, b: 2 open");

    // Reopening counts again.
    app.call(
        Method::POST,
        &format!("/conversations/{}/set-status", busy[0]),
        Some(json!({"status": "UNRESOLVED"})),
    )
    .await;
    let (of_b, picked) = next_pick().await;
    assert_eq!(picked, members[1], "a: 3 open, b: 2 open");

    // Deleting a conversation, or the contact it belongs to, takes it out of the count.
    let deleted = app
        .call(Method::DELETE, &format!("/conversation/{}", busy[0]), None)
        .await;
    assert_eq!(deleted.0, StatusCode::OK, "{}", deleted.1);
    assert_eq!(next_assignee().await, members[0], "a: 2 open, b: 3 open");
    let contact = app.state_of(&of_b).await["contactId"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = app
        .call(Method::DELETE, &format!("/contacts/{contact}"), None)
        .await;
    assert_eq!(deleted.0, StatusCode::OK, "{}", deleted.1);
    let (of_b, picked) = next_pick().await;
    assert_eq!(picked, members[1], "a: 3 open, b: 2 open");

    // A move within the scenario (which skips the refresh), then one to another
    // scenario (which takes the conversation off this board and out of b's count).
    let elsewhere = app.scenario("Elsewhere").await;
    let away = app.step_with(&elsewhere, "away", json!({})).await;
    let plain = app.step_with(&scenario, "plain", json!({})).await;
    for (conversation, step) in [(&of_b, &plain), (&of_b, &away)] {
        let (status, moved) = app
            .call(
                Method::POST,
                "/crm/step/move",
                Some(json!({"conversationId": conversation, "destStepId": step["id"]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{moved}");
    }
    assert_eq!(next_assignee().await, members[1], "a: 3 open, b: 2 open");
}

async fn futures_join<const N: usize>(app: &TestApp, emails: [&str; N]) -> Vec<String> {
    let mut ids = Vec::new();
    for email in emails {
        ids.push(app.member(app.org, email).await.to_string());
    }
    ids
}

async fn conversation_logs_record_every_stay(app: TestApp) {
    let scenario = app.scenario("S").await;
    let first = app.step(&scenario, "first").await;
    let second = app.step(&scenario, "second").await;
    let conversation = app.conversation().await;
    app.add_to(&conversation, &first).await;
    app.call(
        Method::POST,
        "/crm/step/move",
        Some(json!({"conversationId": conversation, "destStepId": second["id"]})),
    )
    .await;

    let (status, logs) = app
        .call(
            Method::GET,
            &format!("/crm/conversationLog?conversationId={conversation}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{logs}");
    assert_chatvolt_shape("GET /crm/conversationLog 200", &logs);
    let data = logs["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["stepId"], second["id"], "newest first");
    assert_eq!(data[0]["status"], "active");
    assert_eq!(data[1]["status"], "inactive");
    assert!(data[1]["exitedAt"].is_string());
    assert_eq!(data[0]["scenario"]["name"], "S");
    assert_eq!(data[0]["step"]["index"], 1);
    assert_eq!(
        logs["pagination"],
        json!({"page": 1, "limit": 20, "total": 2, "totalPages": 1})
    );

    let (_, active) = app
        .call(
            Method::GET,
            &format!("/crm/conversationLog?scenarioId={scenario}&status=active&limit=1"),
            None,
        )
        .await;
    assert_eq!(active["pagination"]["total"], 1);
    let id = data[1]["id"].as_str().unwrap();
    let (status, one) = app
        .call(Method::GET, &format!("/crm/conversationLog/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_chatvolt_shape("GET /crm/conversationLog/{logId} 200", &one);
    assert_eq!(one, data[1]);
    // Logs are the engine's record: clients cannot write them.
    for (method, path) in [
        (Method::POST, "/crm/conversationLog".to_owned()),
        (Method::PUT, format!("/crm/conversationLog/{id}")),
        (Method::PATCH, format!("/crm/conversationLog/{id}")),
        (Method::DELETE, format!("/crm/conversationLog/{id}")),
    ] {
        let (status, body) = app
            .call(method, &path, Some(json!({"status": "inactive"})))
            .await;
        assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED, &[]);
        assert_eq!(body["code"], "READ_ONLY");
    }
    let (_, unchanged) = app
        .call(Method::GET, &format!("/crm/conversationLog/{id}"), None)
        .await;
    assert_eq!(unchanged, data[1]);
    let (status, body) = app
        .call(Method::GET, "/crm/conversationLog?page=0", None)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["page"]);
    let (status, body) = app
        .call(Method::GET, "/crm/conversationLog/nope", None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["logId"]);
}

async fn a_step_holding_conversations_cannot_be_deleted(app: TestApp) {
    let scenario = app.scenario("S").await;
    let step = app.step(&scenario, "busy").await;
    let conversation = app.conversation().await;
    app.add_to(&conversation, &step).await;
    let (status, body) = app
        .call(Method::DELETE, "/crm/step", Some(json!({"id": step["id"]})))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, &["id"]);
    app.call(
        Method::DELETE,
        &format!("/crm/scenario/{scenario}/conversation?conversationId={conversation}"),
        None,
    )
    .await;
    let (status, _) = app
        .call(Method::DELETE, "/crm/step", Some(json!({"id": step["id"]})))
        .await;
    assert_eq!(status, StatusCode::OK);
    // The stay stays in the history even though its step is gone.
    let (_, logs) = app
        .call(
            Method::GET,
            &format!("/crm/conversationLog?conversationId={conversation}"),
            None,
        )
        .await;
    assert_eq!(logs["data"][0]["step"]["index"], Value::Null);
}

async fn other_organizations_cannot_touch_conversations(app: TestApp) {
    let scenario = app.scenario("Mine").await;
    let step = app.step(&scenario, "mine").await;
    let conversation = app.conversation().await;
    app.add_to(&conversation, &step).await;
    let (_, theirs) = app.other_tenant().await;
    let (_, their_scenario) = app
        .call_as(
            &theirs,
            Method::POST,
            "/crm/scenario",
            Some(json!({"name": "T"})),
        )
        .await;
    let their_scenario = their_scenario["id"].as_str().unwrap().to_owned();
    let attempts = [
        (
            Method::GET,
            format!("/v1/conversations/{conversation}"),
            None,
        ),
        (
            Method::GET,
            format!("/v1/conversations/{conversation}/timeline"),
            None,
        ),
        (
            Method::GET,
            format!("/v1/conversations/{conversation}/outbox"),
            None,
        ),
        (
            Method::POST,
            "/crm/step/conversation".to_owned(),
            Some(json!({"conversationId": conversation, "scenarioId": their_scenario})),
        ),
        (
            Method::POST,
            "/crm/step/move".to_owned(),
            Some(json!({"conversationId": conversation, "destStepId": step["id"]})),
        ),
        (
            Method::GET,
            format!("/crm/scenario/{scenario}/conversation"),
            None,
        ),
        (
            Method::DELETE,
            format!("/crm/scenario/{scenario}/conversation?conversationId={conversation}"),
            None,
        ),
    ];
    for (method, path, body) in attempts {
        let (status, answer) = app.call_as(&theirs, method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
    }
    let (_, logs) = app
        .call_as(
            &theirs,
            Method::GET,
            &format!("/crm/conversationLog?conversationId={conversation}"),
            None,
        )
        .await;
    assert_eq!(logs["pagination"]["total"], 0);
    // The same phone number in another organization is another contact.
    let mine = app.inbound("5511911112222", "oi").await;
    let (_, other) = app
        .call_as(
            &theirs,
            Method::POST,
            "/v1/messages/inbound",
            Some(json!({"channel": "website", "from": "5511911112222", "text": "oi"})),
        )
        .await;
    assert_ne!(mine["contactId"], other["contactId"]);
    assert_eq!(
        app.state_of(&conversation).await["scenarios"][0]["stepId"],
        step["id"]
    );
}

/// A WhatsApp conversation while no WhatsApp channel is connected: the step's initial
/// message cannot go out, and the answer says so instead of `messageSent: true`.
async fn an_initial_message_nothing_can_deliver_says_why(app: TestApp) {
    let scenario = app.scenario("Sales").await;
    let welcome = app
        .step_with(&scenario, "Welcome", json!({"initialMessage": "Olá!"}))
        .await;
    let next = app
        .step_with(&scenario, "Next", json!({"initialMessage": "Tudo bem?"}))
        .await;
    let whatsapp = app.inbound_on("whatsapp", "+5511955554444", "oi").await["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, added) = app.add_to(&whatsapp, &welcome).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_chatvolt_shape("POST /crm/step/conversation 200", &added);
    assert_eq!(added["messageSent"], false, "{added}");
    let why = added["sendMessageError"].as_str().expect("the reason");
    assert!(why.contains("no whatsapp channel is connected"), "{why}");

    let (status, connected) = app
        .call(
            Method::POST,
            "/v1/channels",
            Some(
                json!({"kind": "whatsapp", "name": "Sales", "accountId": "5501",
                        "accessToken": "EAAG", "appSecret": "shh"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{connected}");
    let (status, moved) = app
        .call(
            Method::POST,
            "/crm/step/move",
            Some(json!({"conversationId": whatsapp, "destStepId": next["id"],
                        "shouldSendInitialMessage": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["messageSent"], true, "{moved}");
    assert_eq!(moved["messageError"], Value::Null);

    // A website chat needs no channel: its messages are read through the API.
    let website = app.conversation().await;
    let (_, added) = app.add_to(&website, &welcome).await;
    assert_eq!(added["messageSent"], true, "{added}");
}
