//! Chatvolt's conversation and contact endpoints.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, assert_chatvolt_shape, assert_error};

backend_tests!(
    conversations_read_as_chatvolt_shows_them,
    conversation_list_filters_and_pages_with_a_cursor,
    status_priority_ai_and_assignment,
    messages_are_registered_and_read_back,
    contacts_are_listed_saved_and_deleted,
    deleting_a_conversation_takes_its_history,
);

async fn conversations_read_as_chatvolt_shows_them(app: TestApp) {
    let scenario = app.scenario("Sales").await;
    let member = app.member(app.org, "ana@example.com").await;
    let step = app
        .step_with(
            &scenario,
            "Qualify",
            json!({"defaultTags": ["lead"], "assigneeLogicType": "single_user",
            "selectedMembershipIdsForAssignee": [member.to_string()], "autoNextStepId": null}),
        )
        .await;
    let conversation = app.conversation().await;
    app.add_to(&conversation, &step).await;
    let (status, detail) = app
        .call(Method::GET, &format!("/conversation/{conversation}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_chatvolt_shape("GET /conversation/{conversationId} 200", &detail);
    assert_eq!(detail["tags"], json!([{"tag": "lead"}]));
    assert_eq!(detail["assignees"][0]["user"]["email"], "ana@example.com");
    assert_eq!(
        detail["crmScenarioConversations"][0]["scenario"]["name"],
        "Sales"
    );
    assert_eq!(
        detail["crmScenarioConversations"][0]["step"]["name"],
        "Qualify"
    );
    assert_eq!(detail["crmScenarioConversations"][0]["available"], true);
    assert_eq!(detail["participantsContacts"].as_array().unwrap().len(), 1);
    assert_eq!(detail["unreadMessagesCount"], 1);
    let (status, body) = app.call(Method::GET, "/conversation/nope", None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["conversationId"]);
}

async fn conversation_list_filters_and_pages_with_a_cursor(app: TestApp) {
    let scenario = app.scenario("S").await;
    let first = app.step(&scenario, "first").await;
    let second = app
        .step_with(&scenario, "second", json!({"defaultTags": ["hot"]}))
        .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        app.clock.advance(chrono::Duration::seconds(1));
        let c = app.conversation().await;
        app.add_to(&c, if i % 2 == 0 { &first } else { &second })
            .await;
        ids.push(c);
    }
    let (status, all) = app.call(Method::GET, "/conversation", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_chatvolt_shape("GET /conversation 200", &all);
    let listed: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(listed, newest_first);

    let (_, page1) = app.call(Method::GET, "/conversation?limit=2", None).await;
    assert_eq!(page1.as_array().unwrap().len(), 2);
    let last = &page1[1];
    let cursor = json!({"lastCreatedAt": last["createdAt"], "lastId": last["id"]}).to_string();
    let url = reqwest::Url::parse_with_params(
        &format!("{}/conversation", app.base),
        &[("limit", "2"), ("cursor", cursor.as_str())],
    )
    .unwrap();
    let page2 = crate::support::read(
        app.client
            .get(url)
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap(),
    )
    .await
    .1;
    let second_page: Vec<&str> = page2
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(second_page, newest_first[2..4]);

    let step_filter = format!(
        "/conversation?crmScenarioId={scenario}&crmStepId={}",
        second["id"].as_str().unwrap()
    );
    let (_, in_second) = app.call(Method::GET, &step_filter, None).await;
    assert_eq!(in_second.as_array().unwrap().len(), 2);
    let (_, hot) = app.call(Method::GET, "/conversation?tag=hot", None).await;
    assert_eq!(hot.as_array().unwrap().len(), 2);
    let (_, unassigned) = app
        .call(
            Method::GET,
            "/conversation?assigneeId=unassigned&agentId=null&status=UNRESOLVED&ai=enabled",
            None,
        )
        .await;
    assert_eq!(unassigned.as_array().unwrap().len(), 5);
    let (_, none) = app
        .call(Method::GET, "/conversation?createdAt=2999-01-01", None)
        .await;
    assert_eq!(none, json!([]));

    for (query, field) in [
        ("crmStepId=x", "crmStepId"),
        ("createdAt=yesterday", "createdAt"),
        ("limit=101", "limit"),
        ("cursor=abc", "cursor"),
        ("ai=maybe", "ai"),
    ] {
        let (status, body) = app
            .call(Method::GET, &format!("/conversation?{query}"), None)
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, &[field]);
    }
    let (status, _) = app
        .call(Method::GET, "/conversation?status=OPEN", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn status_priority_ai_and_assignment(app: TestApp) {
    let conversation = app.conversation().await;
    let base = format!("/conversations/{conversation}");
    let (status, body) = app
        .call(
            Method::POST,
            &format!("{base}/set-status"),
            Some(json!({"status": "RESOLVED"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_chatvolt_shape("POST /conversations/{conversationId}/set-status 200", &body);
    assert_eq!(body["message"], "Conversation Status changed.");
    let (_, body) = app
        .call(
            Method::POST,
            &format!("{base}/set-priority"),
            Some(json!({"priority": "HIGH"})),
        )
        .await;
    assert_eq!(body["message"], "Conversation Priority changed.");
    let (_, body) = app
        .call(
            Method::POST,
            &format!("{base}/set-ai-enabled"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(body["message"], "AI is Off.");
    let state = app.state_of(&conversation).await;
    assert_eq!(
        (
            state["status"].as_str(),
            state["priority"].as_str(),
            state["aiEnabled"].as_bool()
        ),
        (Some("RESOLVED"), Some("HIGH"), Some(false))
    );

    for (path, body, field) in [
        ("set-status", json!({}), "status"),
        ("set-status", json!({"status": "DONE"}), "status"),
        ("set-priority", json!({"priority": 3}), "priority"),
        ("set-ai-enabled", json!({"enabled": "yes"}), "enabled"),
        ("assign", json!({}), "email"),
        (
            "assign",
            json!({"email": "a@example.com", "membershipId": "x"}),
            "email",
        ),
    ] {
        let (status, answer) = app
            .call(Method::POST, &format!("{base}/{path}"), Some(body))
            .await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, &[field]);
    }

    let ana = app.member(app.org, "ana@example.com").await;
    let bia = app.member(app.org, "bia@example.com").await;
    let (status, body) = app
        .call(
            Method::POST,
            &format!("{base}/assign"),
            Some(json!({"email": "ANA@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Conversation Assigned.");
    let (status, body) = app
        .call(
            Method::POST,
            &format!("{base}/assign"),
            Some(json!({"membershipId": bia.to_string()})),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, &["force"]);
    let (status, _) = app
        .call(
            Method::POST,
            &format!("{base}/assign"),
            Some(json!({"id": bia.to_string(), "force": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.state_of(&conversation).await["assignees"],
        json!([bia.to_string()])
    );
    let (status, body) = app
        .call(
            Method::POST,
            &format!("{base}/assign"),
            Some(json!({"email": "nobody@example.com"})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["email"]);
    let (_, body) = app
        .call(Method::POST, &format!("{base}/unassign"), None)
        .await;
    assert_eq!(body["message"], "Conversation unassigned.");
    assert_eq!(app.state_of(&conversation).await["assignees"], json!([]));
    let _ = ana;

    let updates: Vec<Value> = app
        .timeline_of(&conversation)
        .await
        .into_iter()
        .filter(|e| e["type"] == "conversation_updated")
        .collect();
    let fields: Vec<&str> = updates
        .iter()
        .map(|e| e["data"]["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "status",
            "priority",
            "aiEnabled",
            "assignees",
            "assignees",
            "assignees"
        ]
    );
    assert!(
        updates
            .iter()
            .all(|e| e["actor"].as_str().unwrap().starts_with("api_token:"))
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/conversations/nope/set-status",
            Some(json!({"status": "RESOLVED"})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["conversationId"]);
}

async fn messages_are_registered_and_read_back(app: TestApp) {
    let conversation = app.conversation().await;
    let (status, registered) = app
        .call(
            Method::POST,
            &format!("/conversations/{conversation}/message-register"),
            Some(json!({"message": "Sent from our ERP", "from": "agent"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    assert_chatvolt_shape(
        "POST /conversations/{conversationId}/message-register 200",
        &registered,
    );
    assert_eq!(registered["message"]["from"], "agent");
    let (status, last) = app
        .call(
            Method::GET,
            &format!("/conversation/{conversation}/messages/5"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_chatvolt_shape(
        "GET /conversation/{conversationId}/messages/{count} 200",
        &last,
    );
    let texts: Vec<_> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["from"].clone(), m["text"].clone()))
        .collect();
    assert_eq!(
        texts,
        vec![
            (json!("human"), json!("hello")),
            (json!("agent"), json!("Sent from our ERP"))
        ]
    );
    let (_, one) = app
        .call(
            Method::GET,
            &format!("/conversation/{conversation}/messages/1"),
            None,
        )
        .await;
    assert_eq!(one["messages"].as_array().unwrap().len(), 1);
    for bad in ["0", "101", "two"] {
        let (status, body) = app
            .call(
                Method::GET,
                &format!("/conversation/{conversation}/messages/{bad}"),
                None,
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, &["count"]);
    }
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/conversations/{conversation}/message-register"),
            Some(json!({"message": " "})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["message"]);
}

async fn contacts_are_listed_saved_and_deleted(app: TestApp) {
    let (status, created) = app
        .call(
            Method::POST,
            "/contacts",
            Some(
                json!({"firstName": "Ana", "phoneNumber": "+55 11 98765-4321",
            "email": "Ana@Example.com", "metadata": {"plan": "pro"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_chatvolt_shape("POST /contacts 200", &created);
    assert_eq!(created["phoneNumber"], "+5511987654321");
    assert_eq!(created["email"], "ana@example.com");
    // Without an id, the same phone updates the same contact.
    let (_, again) = app
        .call(
            Method::POST,
            "/contacts",
            Some(json!({"phoneNumber": "5511987654321", "lastName": "Souza"})),
        )
        .await;
    assert_eq!(again["id"], created["id"]);
    assert_eq!(again["firstName"], "Ana");
    assert_eq!(again["lastName"], "Souza");
    // With an id, that contact; null clears.
    let (_, cleared) = app
        .call(
            Method::POST,
            "/contacts",
            Some(json!({"id": created["id"], "email": null})),
        )
        .await;
    assert_eq!(cleared["email"], Value::Null);
    let (_, other) = app
        .call(
            Method::POST,
            "/contacts",
            Some(json!({"firstName": "Bruno", "email": "bruno@example.com"})),
        )
        .await;
    let (status, body) = app
        .call(
            Method::POST,
            "/contacts",
            Some(json!({"id": other["id"], "phoneNumber": "+5511987654321"})),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, &["phoneNumber"]);
    for (body, field) in [
        (json!({"phoneNumber": "12"}), "phoneNumber"),
        (json!({"email": "nope"}), "email"),
        (json!({"metadata": [1]}), "metadata"),
    ] {
        let (status, answer) = app.call(Method::POST, "/contacts", Some(body)).await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, &[field]);
    }
    let (status, body) = app
        .call(
            Method::POST,
            "/contacts",
            Some(json!({"id": "nope", "firstName": "x"})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["id"]);

    let (status, list) = app.call(Method::GET, "/contacts?search=souza", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_chatvolt_shape("GET /contacts 200", &list);
    assert_eq!(list["count"], 1);
    assert_eq!(list["contacts"][0]["id"], created["id"]);
    let (_, with_email) = app.call(Method::GET, "/contacts?hasEmail=true", None).await;
    assert_eq!(with_email["count"], 1);
    let (_, page) = app
        .call(Method::GET, "/contacts?limit=1&offset=1", None)
        .await;
    assert_eq!(page["count"], 2);
    assert_eq!(page["contacts"][0]["id"], other["id"]);
    let (status, body) = app.call(Method::GET, "/contacts?limit=0", None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["limit"]);

    let scenario = app.scenario("S").await;
    let step = app
        .step_with(&scenario, "s", json!({"defaultTags": ["vip"]}))
        .await;
    let from_chat = app.inbound("5511900001111", "oi").await;
    app.add_to(from_chat["conversationId"].as_str().unwrap(), &step)
        .await;
    let (_, by_step) = app
        .call(
            Method::GET,
            &format!(
                "/contacts?crmScenario={scenario}&crmStep={}&tags=vip,other",
                step["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(by_step["count"], 1);
    assert_eq!(by_step["contacts"][0]["id"], from_chat["contactId"]);

    let (status, deleted) = app
        .call(
            Method::DELETE,
            &format!("/contacts/{}", other["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_chatvolt_shape("DELETE /contacts/{id} 200", &deleted);
    assert_eq!(deleted["message"], "Contact deleted successfully.");
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/contacts/{}", other["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["id"]);
}

async fn deleting_a_conversation_takes_its_history(app: TestApp) {
    let scenario = app.scenario("S").await;
    let step = app.step(&scenario, "s").await;
    let conversation = app.conversation().await;
    app.add_to(&conversation, &step).await;
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/conversation/{conversation}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_chatvolt_shape("DELETE /conversation/{conversationId} 200", &body);
    assert_eq!(
        body,
        json!({"success": true, "message": "Conversation deleted."})
    );
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/v1/conversations/{conversation}/timeline"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, board) = app
        .call(
            Method::GET,
            &format!("/crm/scenario/{scenario}/conversation?showInactiveConversations=true"),
            None,
        )
        .await;
    assert_eq!(board, json!([]));
    let (_, logs) = app
        .call(
            Method::GET,
            &format!("/crm/conversationLog?conversationId={conversation}"),
            None,
        )
        .await;
    assert_eq!(logs["pagination"]["total"], 0);
    // The step is free to go now.
    let (status, _) = app
        .call(Method::DELETE, "/crm/step", Some(json!({"id": step["id"]})))
        .await;
    assert_eq!(status, StatusCode::OK);
}
