//! Editing a scenario's steps: the native reorder and entry-preview endpoints, and the
//! step editor pages that use them.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, assert_native_error};
use crate::web::{get, post_form, sign_in, sign_in_scoped};

backend_tests!(
    steps_are_put_in_a_new_order_through_the_api,
    an_entry_preview_says_what_would_happen_and_writes_nothing,
    the_step_editor_saves_every_field_and_shows_errors_beside_them,
);

async fn step_named(app: &TestApp, scenario: &str, id: &str) -> Value {
    app.steps_of(scenario)
        .await
        .into_iter()
        .find(|s| s["id"] == id)
        .expect("the step is there")
}

fn ids(steps: &[Value]) -> Vec<String> {
    steps
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn steps_are_put_in_a_new_order_through_the_api(app: TestApp) {
    let scenario = app.scenario("Order").await;
    for name in ["A", "B", "C"] {
        app.step_with(&scenario, name, json!({})).await;
    }
    let before = ids(&app.steps_of(&scenario).await);
    let wanted = vec![before[2].clone(), before[0].clone(), before[1].clone()];
    let path = format!("/v1/scenarios/{scenario}/step-order");
    let (status, body) = app
        .call(Method::PUT, &path, Some(json!({"stepIds": wanted})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body.as_array()
            .unwrap()
            .iter()
            .map(|s| (s["name"].as_str().unwrap(), s["index"].as_i64().unwrap()))
            .collect::<Vec<_>>(),
        [("C", 0), ("A", 1), ("B", 2)]
    );
    let listed = app.steps_of(&scenario).await;
    assert_eq!(ids(&listed), wanted);
    assert_eq!(listed[0]["index"], 0, "Chatvolt's index follows");

    // Every step once, or nothing changes.
    let stranger = uuid::Uuid::now_v7().to_string();
    for refused in [
        json!({"stepIds": [wanted[0], wanted[1]]}),
        json!({"stepIds": [wanted[0], wanted[1], wanted[1]]}),
        json!({"stepIds": [wanted[0], wanted[1], stranger]}),
        json!({"stepIds": ["not-a-step", wanted[1], wanted[2]]}),
        json!({"stepIds": "A"}),
        json!({}),
    ] {
        let (status, body) = app.call(Method::PUT, &path, Some(refused.clone())).await;
        assert_native_error(status, &body, StatusCode::BAD_REQUEST, &["stepIds"]);
    }
    assert_eq!(ids(&app.steps_of(&scenario).await), wanted);

    // Another organization sees no such scenario.
    let (_, other) = app.other_tenant().await;
    let (status, _) = app
        .call_as(&other, Method::PUT, &path, Some(json!({"stepIds": wanted})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn an_entry_preview_says_what_would_happen_and_writes_nothing(app: TestApp) {
    let scenario = app.scenario("Preview").await;
    let ana = app.member(app.org, "ana@preview.example").await;
    let bia = app.member(app.org, "bia@preview.example").await;
    let start = app
        .step_with(
            &scenario,
            "Start",
            json!({"defaultTags": ["new", "cold"], "assigneeLogicType": "single_user",
                   "selectedMembershipIdsForAssignee": [ana.to_string()]}),
        )
        .await;
    let done = app.step_with(&scenario, "Done", json!({})).await;
    let hot = app
        .step_with(
            &scenario,
            "Hot",
            json!({"defaultPriority": "HIGH", "defaultStatus": "HUMAN_REQUESTED",
                   "defaultAiControl": false,
                   "defaultTags": ["hot"], "defaultTagsToRemove": ["cold"],
                   "assigneeLogicType": "fair_distribution_selected",
                   "selectedMembershipIdsForAssignee": [ana.to_string(), bia.to_string()],
                   "initialMessage": "Hello {{contact.name}}",
                   "zapiPhoneNumber": "5511999990000", "zapiMessage": "Hot lead",
                   "webhookUrl": "https://hooks.example.com/hot", "webhookHeader": {"X-Key": "secret"},
                   "autoNextStepId": done["id"], "autoNextTime": 30, "autoNextTimeUnit": "m"}),
        )
        .await;
    // Ana already has one open conversation in the scenario: this one.
    let conversation =
        app.inbound_on("whatsapp", "+55 11 93333-0001", "oi").await["conversationId"]
            .as_str()
            .unwrap()
            .to_owned();
    app.add_to(&conversation, &start).await;
    let state = app.state_of(&conversation).await;
    let timeline = app.timeline_of(&conversation).await.len();
    let outbox = app.outbox_of(&conversation).await.len();

    let path = format!("/v1/conversations/{conversation}/preview-entry");
    let (status, preview) = app
        .call(
            Method::POST,
            &path,
            Some(json!({"stepId": hot["id"], "sendInitialMessage": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["leavingStepId"], start["id"]);
    assert_eq!(
        preview["status"],
        json!({"before": "UNRESOLVED", "after": "HUMAN_REQUESTED"})
    );
    assert_eq!(preview["priority"]["after"], "HIGH");
    assert_eq!(
        preview["aiEnabled"],
        json!({"before": true, "after": false})
    );
    assert_eq!(preview["tagsAdded"], json!(["hot"]));
    assert_eq!(preview["tagsRemoved"], json!(["cold"]));
    let assignment = &preview["assignment"];
    assert_eq!(assignment["logic"], "fair_distribution_selected");
    assert_eq!(assignment["before"], json!([ana.to_string()]));
    assert_eq!(
        assignment["after"],
        json!([bia.to_string()]),
        "the least loaded"
    );
    assert_eq!(assignment["candidates"][0]["openConversations"], 1);
    assert_eq!(assignment["candidates"][1]["openConversations"], 0);
    let messages = preview["messages"].as_array().unwrap();
    assert_eq!(messages[0]["kind"], "initial_message");
    assert_eq!(messages[0]["sent"], true);
    assert_eq!(messages[1]["kind"], "zapi_notification");
    assert_eq!(messages[1]["to"], "5511999990000");
    assert_eq!(preview["webhookUrl"], "https://hooks.example.com/hot");
    assert!(
        !preview.to_string().contains("secret"),
        "headers are not shown"
    );
    assert_eq!(preview["autoAdvance"]["targetStepId"], done["id"]);
    assert_eq!(preview["leavesBoard"], false);

    // A move without the initial message, and a closed window, say why nothing is sent.
    let (_, preview) = app
        .call(Method::POST, &path, Some(json!({"stepId": hot["id"]})))
        .await;
    assert_eq!(preview["messages"][0]["sent"], false);
    assert!(
        preview["messages"][0]["skippedBecause"]
            .as_str()
            .unwrap()
            .contains("shouldSendInitialMessage")
    );
    app.clock.advance(chrono::Duration::hours(25));
    let (_, preview) = app
        .call(
            Method::POST,
            &path,
            Some(json!({"stepId": hot["id"], "sendInitialMessage": true})),
        )
        .await;
    assert!(
        preview["messages"][0]["skippedBecause"]
            .as_str()
            .unwrap()
            .contains("24-hour"),
        "{preview}"
    );

    // Nothing was written.
    assert_eq!(app.state_of(&conversation).await, state);
    assert_eq!(app.timeline_of(&conversation).await.len(), timeline);
    assert_eq!(app.outbox_of(&conversation).await.len(), outbox);

    // Refusals name the field.
    let (status, body) = app
        .call(
            Method::POST,
            &path,
            Some(json!({"stepId": uuid::Uuid::now_v7()})),
        )
        .await;
    assert_native_error(status, &body, StatusCode::NOT_FOUND, &["stepId"]);
    let (status, body) = app.call(Method::POST, &path, Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, other) = app.other_tenant().await;
    let (status, _) = app
        .call_as(
            &other,
            Method::POST,
            &path,
            Some(json!({"stepId": hot["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn the_step_editor_saves_every_field_and_shows_errors_beside_them(app: TestApp) {
    let scenario = app.scenario("Editor").await;
    let first = app.step_with(&scenario, "First", json!({})).await;
    let member = app.member(app.org, "editor@example.com").await;
    let agent = app.agent("Closer").await;
    let cookie = sign_in(&app, &app.token).await;

    let (status, page) = get(
        &app,
        &cookie,
        &format!("/ui/scenarios/{scenario}/steps/new"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("name=\"webhookUrl\"") && page.contains("Closer"));

    let member_id = member.to_string();
    let first_id = first["id"].as_str().unwrap();
    let fields: Vec<(&str, &str)> = vec![
        ("name", "Qualify"),
        ("agentId", &agent),
        ("trigger", "the contact asks about prices"),
        ("prompt", "Qualify the lead"),
        ("initialMessage", "Hi {{contact.name}}"),
        ("autoNextStepId", first_id),
        ("autoNextTime", "2"),
        ("autoNextTimeUnit", "h"),
        ("defaultStatus", "HUMAN_REQUESTED"),
        ("defaultPriority", "HIGH"),
        ("defaultAiControl", "off"),
        ("assigneeLogicType", "single_user"),
        ("selectedMembershipIdsForAssignee", &member_id),
        ("isRequired", "true"),
        ("defaultTags", "lead, vip"),
        ("defaultTagsToRemove", "cold"),
        ("requestContact.email", "true"),
        ("zapiPhoneNumber", "5511999990000"),
        ("zapiMessage", "New lead"),
        ("whatsappTemplateName", "welcome"),
        ("whatsappTemplateLanguageCode", "pt_BR"),
        ("webhookUrl", "https://hooks.example.com/qualify"),
        ("webhookHeader", "X-Key: k1\nX-Other: k2"),
    ];
    let (status, page) = post_form(
        &app,
        &cookie,
        &format!("/ui/scenarios/{scenario}/steps"),
        &fields,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let steps = app.steps_of(&scenario).await;
    let created = steps.iter().find(|s| s["name"] == "Qualify").unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    for (field, value) in [
        ("agentId", json!(agent)),
        ("trigger", json!("the contact asks about prices")),
        ("autoNextStepId", json!(first_id)),
        ("autoNextTime", json!(2)),
        ("autoNextTimeUnit", json!("h")),
        ("defaultStatus", json!("HUMAN_REQUESTED")),
        ("defaultAiControl", json!(false)),
        ("selectedMembershipIdsForAssignee", json!([member_id])),
        ("isRequired", json!(true)),
        ("defaultTags", json!(["lead", "vip"])),
        (
            "requestContact",
            json!({"name": false, "email": true, "phone": false}),
        ),
        ("whatsappTemplateLanguageCode", json!("pt_BR")),
        ("webhookHeader", json!({"X-Key": "k1", "X-Other": "k2"})),
    ] {
        assert_eq!(created[field], value, "{field}: {created}");
    }

    // The editor shows what is stored; a bad value is refused beside its field, and the
    // step stays as it was.
    let (status, page) = get(&app, &cookie, &format!("/ui/steps/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("the contact asks about prices") && page.contains("X-Other: k2"));
    let mut broken = fields.clone();
    broken.retain(|(name, _)| *name != "webhookUrl" && *name != "autoNextTime");
    broken.push(("webhookUrl", "ftp://files.example.com"));
    broken.push(("autoNextTime", "soon"));
    broken.push(("name", "Renamed"));
    let (status, page) = post_form(&app, &cookie, &format!("/ui/steps/{id}"), &broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("id=\"autoNextTime-error\""), "{page}");
    assert!(
        page.contains("ftp://files.example.com"),
        "the form keeps what was typed"
    );
    let stored = step_named(&app, &scenario, &id).await;
    assert_eq!(stored["name"], "Qualify", "nothing changed");
    // Read by the server's own rules: the URL's scheme.
    broken.retain(|(name, _)| *name != "autoNextTime");
    broken.push(("autoNextTime", "3"));
    let (status, page) = post_form(&app, &cookie, &format!("/ui/steps/{id}"), &broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error = page
        .split("id=\"webhookUrl-error\">")
        .nth(1)
        .expect("the message sits beside the URL field")
        .split('<')
        .next()
        .unwrap();
    assert!(error.contains("http"), "{error}");

    // Clearing a field in the form clears it in the step.
    let mut cleared = fields.clone();
    cleared.retain(|(name, _)| {
        !matches!(
            *name,
            "autoNextStepId" | "autoNextTime" | "autoNextTimeUnit" | "webhookHeader"
        )
    });
    let (status, _) = post_form(&app, &cookie, &format!("/ui/steps/{id}"), &cleared).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let stored = step_named(&app, &scenario, &id).await;
    assert_eq!(stored["autoNextStepId"], Value::Null);
    assert_eq!(stored["webhookHeader"], Value::Null);
    assert_eq!(stored["defaultPriority"], "HIGH", "the rest stays");

    // Reordering with the arrows.
    let (_, page) = get(&app, &cookie, &format!("/ui/scenarios/{scenario}/steps")).await;
    let order = page
        .split("aria-label=\"Move Qualify up\"")
        .next()
        .unwrap()
        .rsplit("name=\"order\" value=\"")
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let (status, _) = post_form(
        &app,
        &cookie,
        &format!("/ui/scenarios/{scenario}/steps/order"),
        &[("order", &order)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let names: Vec<_> = app
        .steps_of(&scenario)
        .await
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Qualify", "First"]);

    // The preview page, in words, changes nothing.
    let conversation = app.conversation().await;
    app.add_to(&conversation, &first).await;
    let state = app.state_of(&conversation).await;
    let (status, page) = get(
        &app,
        &cookie,
        &format!("/ui/steps/{id}/preview?conversation={conversation}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Leaves First and enters Qualify."), "{page}");
    assert!(
        page.contains("Priority changes from MEDIUM to HIGH."),
        "{page}"
    );
    assert!(page.contains("Assigned to Member."), "{page}");
    assert!(
        page.contains("is not sent"),
        "a move without the initial message"
    );
    assert_eq!(app.state_of(&conversation).await, state);

    // A step with conversations in it cannot be deleted; an empty one can.
    let (status, page) =
        post_form(&app, &cookie, &format!("/ui/steps/{first_id}/delete"), &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    let (status, _) = post_form(&app, &cookie, &format!("/ui/steps/{id}/delete"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(app.steps_of(&scenario).await.len(), 1);

    // A reader sees the steps but cannot change them.
    let reader = sign_in_scoped(&app, "reader", &["scenarios:read"]).await;
    assert_eq!(
        get(&app, &reader, &format!("/ui/scenarios/{scenario}/steps"))
            .await
            .0,
        StatusCode::OK
    );
    let (status, _) = post_form(&app, &reader, &format!("/ui/steps/{first_id}"), &fields).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
