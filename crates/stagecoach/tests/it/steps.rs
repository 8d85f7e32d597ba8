use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, assert_chatvolt_shape, assert_error, missing_properties};

backend_tests!(
    step_create_round_trips_every_seed_field,
    step_create_requires_name_scenario_and_trigger_or_prompt,
    step_assignee_logic_needs_members_of_the_organization,
    step_auto_next_must_target_another_step_of_the_scenario,
    step_references_agents_of_the_organization,
    step_webhook_url_and_headers_are_checked,
    step_update_keeps_absent_and_clears_null,
    step_update_accepts_nested_and_flat_settings,
    step_update_refuses_read_only_changes,
    steps_are_appended_and_deletion_closes_the_gap,
    concurrent_step_creates_get_contiguous_indexes,
    step_list_requires_a_scenario,
    bad_input_is_refused_and_changes_nothing,
);

async fn create(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.call(Method::POST, "/crm/step", Some(body)).await
}

async fn update(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.call(Method::PUT, "/crm/step", Some(body)).await
}

async fn step_create_round_trips_every_seed_field(app: TestApp) {
    let scenario = app.scenario("Sales").await;
    let target = app.step(&scenario, "Target").await;
    let agent = app.agent("Ana").await;
    let zapi_agent = app.agent("Z-API sender").await;
    let template_agent = app.agent("Template sender").await;
    let (m1, m2) = (
        app.member(app.org, "a@example.com").await,
        app.member(app.org, "b@example.com").await,
    );
    let body = json!({
        "name": "Qualify",
        "scenarioId": scenario,
        "agentId": agent,
        "trigger": "preço, orçamento",
        "prompt": "Ask for the budget",
        "initialMessage": "Hi {{contact.name}}",
        "autoNextStepId": target["id"],
        "autoNextTime": 2,
        "autoNextTimeUnit": "h",
        "defaultStatus": "HUMAN_REQUESTED",
        "defaultPriority": "HIGH",
        "defaultAiControl": false,
        "assigneeLogicType": "fair_distribution_selected",
        "selectedMembershipIdsForAssignee": [m1.to_string(), m2.to_string()],
        "isRequired": true,
        "isConversationRemovalStep": false,
        "defaultTags": ["lead", "vip"],
        "defaultTagsToRemove": ["cold"],
        "requestContact": {"name": true, "email": false, "phone": true},
        "zapiAgentId": zapi_agent,
        "zapiPhoneNumber": "5511999990000",
        "zapiMessage": "New lead",
        "whatsappTemplateAgentId": template_agent,
        "whatsappTemplateName": "welcome",
        "whatsappTemplateLanguageCode": "pt_BR",
        "whatsappTemplateText": "Olá!",
        "webhookUrl": "https://hooks.example.com/stage",
        "webhookHeader": {"X-Api-Key": "k1"},
    });
    let (status, step) = create(&app, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{step}");
    assert_chatvolt_shape("POST /crm/step 201", &step);
    for (field, value) in body.as_object().unwrap() {
        assert_eq!(&step[field], value, "field {field}");
    }
    assert!(
        missing_properties("CrmStep", &step).is_empty(),
        "{:?}",
        missing_properties("CrmStep", &step)
    );
    assert_eq!(step["index"], 1);
    assert_eq!(step["organizationId"], app.org.to_string());
    assert_eq!(
        step["agent"],
        json!({"id": agent, "name": "Ana", "iconUrl": null})
    );
    assert_eq!(step["scenario"]["id"], scenario);
    assert_eq!(
        step["zapi"],
        json!({"agentId": zapi_agent, "phoneNumber": "5511999990000", "message": "New lead"})
    );
    assert_eq!(
        step["whatsapp"],
        json!({"templateAgentId": template_agent, "templateName": "welcome",
               "templateLanguageCode": "pt_BR", "templateText": "Olá!"})
    );
    let listed = app.steps_of(&scenario).await;
    assert_chatvolt_shape("GET /crm/step 200", &Value::Array(listed.clone()));
    assert_eq!(
        listed[1], step,
        "a read returns exactly what the create answered"
    );
    assert_eq!(target["zapi"], Value::Null);
    assert_eq!(target["agent"], Value::Null);
}

async fn step_create_requires_name_scenario_and_trigger_or_prompt(app: TestApp) {
    let scenario = app.scenario("S").await;
    let (status, body) = create(&app, json!({"trigger": "x"})).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        &["name", "scenarioId"],
    );
    let (status, body) = create(&app, json!({"name": "s", "scenarioId": scenario})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["trigger"]);
    let (status, body) = create(
        &app,
        json!({"name": "s", "scenarioId": scenario, "trigger": " ", "prompt": ""}),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["trigger"]);
    let (status, body) = create(
        &app,
        json!({"name": "s", "scenarioId": "nope", "prompt": "p"}),
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["scenarioId"]);
    assert!(app.steps_of(&scenario).await.is_empty());
    let (status, _) = create(
        &app,
        json!({"name": "s", "scenarioId": scenario, "prompt": "p"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn step_assignee_logic_needs_members_of_the_organization(app: TestApp) {
    let scenario = app.scenario("S").await;
    let (m1, m2) = (
        app.member(app.org, "a@example.com").await,
        app.member(app.org, "b@example.com").await,
    );
    let (other_org, _) = app.other_tenant().await;
    let foreign = app.member(other_org, "c@example.com").await;
    let base = |logic: &str, ids: Value| {
        json!({"name": "s", "scenarioId": scenario, "prompt": "p",
               "assigneeLogicType": logic, "selectedMembershipIdsForAssignee": ids})
    };
    for logic in [
        "single_user",
        "random_selected",
        "fair_distribution_selected",
    ] {
        for ids in [Value::Null, json!([])] {
            let (status, body) = create(&app, base(logic, ids)).await;
            assert_error(
                status,
                &body,
                StatusCode::BAD_REQUEST,
                &["selectedMembershipIdsForAssignee"],
            );
        }
        let (status, body) = create(&app, base(logic, json!([foreign.to_string()]))).await;
        assert_error(
            status,
            &body,
            StatusCode::BAD_REQUEST,
            &["selectedMembershipIdsForAssignee"],
        );
    }
    let (status, body) = create(
        &app,
        base("single_user", json!([m1.to_string(), m2.to_string()])),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        &["selectedMembershipIdsForAssignee"],
    );
    let (status, body) = create(&app, base("round_robin", json!([m1.to_string()]))).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        &["assigneeLogicType"],
    );
    assert!(app.steps_of(&scenario).await.is_empty());

    let (status, body) = create(&app, base("single_user", json!([m1.to_string()]))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = create(
        &app,
        base("random_selected", json!([m1.to_string(), m2.to_string()])),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    for logic in ["none", "clear"] {
        let (status, _) = create(&app, base(logic, Value::Null)).await;
        assert_eq!(status, StatusCode::CREATED);
    }
}

async fn step_auto_next_must_target_another_step_of_the_scenario(app: TestApp) {
    let scenario = app.scenario("S").await;
    let other_scenario = app.scenario("Other").await;
    let target = app.step(&scenario, "target").await;
    let elsewhere = app.step(&other_scenario, "elsewhere").await;
    let base = json!({"name": "s", "scenarioId": scenario, "prompt": "p"});
    let with = |extra: Value| {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let cases = [
        (
            json!({"autoNextStepId": elsewhere["id"], "autoNextTime": 5}),
            "autoNextStepId",
        ),
        (
            json!({"autoNextStepId": "garbage", "autoNextTime": 5}),
            "autoNextStepId",
        ),
        (
            json!({"autoNextStepId": target["id"], "autoNextTime": 0}),
            "autoNextTime",
        ),
        (
            json!({"autoNextStepId": target["id"], "autoNextTime": -3}),
            "autoNextTime",
        ),
        (
            json!({"autoNextStepId": target["id"], "autoNextTime": 1.5}),
            "autoNextTime",
        ),
        (json!({"autoNextTime": 5}), "autoNextTime"),
        (
            json!({"autoNextStepId": target["id"], "autoNextTimeUnit": "h"}),
            "autoNextTimeUnit",
        ),
        (
            json!({"autoNextStepId": target["id"], "autoNextTime": 1, "autoNextTimeUnit": "s"}),
            "autoNextTimeUnit",
        ),
    ];
    for (extra, field) in cases {
        let (status, body) = create(&app, with(extra.clone())).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, &[field]);
    }
    assert_eq!(app.steps_of(&scenario).await.len(), 1);

    // Seconds when there is no unit; a target alone is an immediate advance.
    let (status, body) = create(
        &app,
        with(json!({"autoNextStepId": target["id"], "autoNextTime": 90})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["autoNextTimeUnit"], Value::Null);
    let (status, _) = create(&app, with(json!({"autoNextStepId": target["id"]}))).await;
    assert_eq!(status, StatusCode::CREATED);
    // A step cannot advance to itself.
    let (status, body) = update(
        &app,
        json!({"id": target["id"], "autoNextStepId": target["id"]}),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["autoNextStepId"]);
}

async fn step_references_agents_of_the_organization(app: TestApp) {
    let scenario = app.scenario("S").await;
    let (_, other_token) = app.other_tenant().await;
    let (_, foreign_agent) = app
        .call_as(
            &other_token,
            Method::POST,
            "/agents",
            Some(json!({"name": "theirs"})),
        )
        .await;
    let foreign = foreign_agent["id"].as_str().unwrap();
    for field in ["agentId", "zapiAgentId", "whatsappTemplateAgentId"] {
        for id in [foreign, "not-an-id"] {
            let body = json!({"name": "s", "scenarioId": scenario, "prompt": "p", field: id});
            let (status, answer) = create(&app, body).await;
            assert_error(status, &answer, StatusCode::BAD_REQUEST, &[field]);
        }
    }
    let (status, answer) = create(
        &app,
        json!({"name": "s", "scenarioId": scenario, "prompt": "p",
        "zapi": {"agentId": foreign}}),
    )
    .await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, &["zapiAgentId"]);
    assert!(app.steps_of(&scenario).await.is_empty());
}

async fn step_webhook_url_and_headers_are_checked(app: TestApp) {
    let scenario = app.scenario("S").await;
    let base = |extra: Value| {
        let mut body = json!({"name": "s", "scenarioId": scenario, "prompt": "p"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    for url in [
        "ftp://example.com/x",
        "/relative",
        "example.com/hook",
        "https://",
    ] {
        let (status, body) = create(&app, base(json!({"webhookUrl": url}))).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, &["webhookUrl"]);
    }
    let (status, body) = create(&app, base(json!({"webhookHeader": {"X-Count": 3}}))).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        &["webhookHeader.X-Count"],
    );
    let (status, body) = create(&app, base(json!({"webhookHeader": ["X-Key"]}))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["webhookHeader"]);
    let (status, body) = create(&app, base(json!({"webhookHeader": {"Bad Name": "v"}}))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["webhookHeader"]);
    assert!(app.steps_of(&scenario).await.is_empty());
    let (status, body) = create(
        &app,
        base(json!({"webhookUrl": "http://crm.example.com:8080/in", "webhookHeader": {}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn step_update_keeps_absent_and_clears_null(app: TestApp) {
    let scenario = app.scenario("S").await;
    let target = app.step(&scenario, "target").await;
    let agent = app.agent("Ana").await;
    let (_, step) = create(&app, json!({"name": "s", "scenarioId": scenario, "trigger": "t", "prompt": "p",
        "agentId": agent, "autoNextStepId": target["id"], "autoNextTime": 3, "autoNextTimeUnit": "d",
        "defaultTags": ["a"]})).await;
    let id = step["id"].as_str().unwrap();

    let (status, body) = update(&app, json!({"id": id})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["id"]);
    let (status, body) = update(&app, json!({"name": "x"})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["id"]);
    let (status, body) = update(&app, json!({"id": "unknown", "name": "x"})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["id"]);

    let (status, renamed) = update(&app, json!({"id": id, "name": "Renamed"})).await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_chatvolt_shape("PUT /crm/step 200", &renamed);
    assert_eq!(renamed["name"], "Renamed");
    for kept in [
        "agentId",
        "autoNextStepId",
        "autoNextTime",
        "autoNextTimeUnit",
        "defaultTags",
        "trigger",
        "prompt",
    ] {
        assert_eq!(renamed[kept], step[kept], "{kept} must be kept");
    }
    assert_eq!(renamed["createdAt"], step["createdAt"]);

    let (status, cleared) = update(
        &app,
        json!({"id": id, "agentId": null, "autoNextStepId": null,
        "autoNextTime": null, "autoNextTimeUnit": null, "trigger": null}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    for gone in [
        "agentId",
        "autoNextStepId",
        "autoNextTime",
        "autoNextTimeUnit",
        "trigger",
        "agent",
    ] {
        assert_eq!(cleared[gone], Value::Null, "{gone} must be cleared");
    }
    assert_eq!(cleared["prompt"], "p");

    // Seed 000: null on the time or the target removes the auto-advance, its unit too.
    for clearing in [
        json!({"autoNextStepId": null, "autoNextTime": null}),
        json!({"autoNextStepId": null}),
        json!({"autoNextTime": null}),
    ] {
        let (status, set) = update(
            &app,
            json!({"id": id, "autoNextStepId": target["id"], "autoNextTime": 5, "autoNextTimeUnit": "h"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{set}");
        let mut body = clearing.clone();
        body["id"] = json!(id);
        let (status, cleared) = update(&app, body).await;
        assert_eq!(status, StatusCode::OK, "{clearing}: {cleared}");
        for gone in ["autoNextStepId", "autoNextTime", "autoNextTimeUnit"] {
            assert_eq!(cleared[gone], Value::Null, "{clearing}: {gone}");
        }
    }
    // A delay that names no step is still refused, and changes nothing.
    let (_, again) = update(&app, json!({"id": id, "name": "Again"})).await;
    let (status, body) = update(&app, json!({"id": id, "autoNextTime": 5})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["autoNextTime"]);
    // Clearing the only entry condition left is refused too.
    let (status, body) = update(&app, json!({"id": id, "prompt": null})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["trigger"]);
    let listed = app.steps_of(&scenario).await;
    assert_eq!(listed[1], again);
}

async fn step_update_accepts_nested_and_flat_settings(app: TestApp) {
    let scenario = app.scenario("S").await;
    let step = app.step(&scenario, "s").await;
    let id = step["id"].as_str().unwrap();
    let sender = app.agent("Sender").await;

    let (status, nested) = update(&app, json!({"id": id,
        "zapi": {"agentId": sender, "phoneNumber": "5511", "message": "hi"},
        "whatsapp": {"templateAgentId": sender, "templateName": "t", "templateLanguageCode": "en", "templateText": "x"}})).await;
    assert_eq!(status, StatusCode::OK, "{nested}");
    assert_eq!(nested["zapiAgentId"], sender);
    assert_eq!(nested["zapiPhoneNumber"], "5511");
    assert_eq!(nested["whatsappTemplateName"], "t");
    assert_eq!(nested["whatsapp"]["templateLanguageCode"], "en");

    let (status, flat) = update(
        &app,
        json!({"id": id, "zapiMessage": "bye", "whatsappTemplateText": null}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        flat["zapi"],
        json!({"agentId": sender, "phoneNumber": "5511", "message": "bye"})
    );
    assert_eq!(flat["whatsapp"]["templateText"], Value::Null);
    assert_eq!(flat["whatsapp"]["templateName"], "t");

    let (status, body) = update(
        &app,
        json!({"id": id, "zapiPhoneNumber": "1", "zapi": {"phoneNumber": "2"}}),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["zapiPhoneNumber"]);
    let (status, same) = update(
        &app,
        json!({"id": id, "zapiPhoneNumber": "3", "zapi": {"phoneNumber": "3"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same["zapiPhoneNumber"], "3");

    let (status, cleared) = update(&app, json!({"id": id, "zapi": null, "whatsapp": null})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cleared["zapi"], Value::Null);
    assert_eq!(cleared["whatsapp"], Value::Null);
    assert_eq!(cleared["zapiAgentId"], Value::Null);
    assert_eq!(cleared["whatsappTemplateAgentId"], Value::Null);
}

async fn step_update_refuses_read_only_changes(app: TestApp) {
    let scenario = app.scenario("S").await;
    let other = app.scenario("Other").await;
    let step = app.step(&scenario, "s").await;
    // Sending back what was read is fine.
    let mut echo = step.clone();
    echo["name"] = json!("echoed");
    let (status, body) = update(&app, echo).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = update(
        &app,
        json!({"id": step["id"], "scenarioId": other, "name": "x"}),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["scenarioId"]);
    let (status, body) = update(&app, json!({"id": step["id"], "index": 4, "name": "x"})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["index"]);
    assert_eq!(app.steps_of(&scenario).await[0]["name"], "echoed");
}

async fn steps_are_appended_and_deletion_closes_the_gap(app: TestApp) {
    let scenario = app.scenario("S").await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c", "d"] {
        ids.push(
            app.step(&scenario, name).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // "d" advances to "b", which is then deleted.
    let (status, _) = update(
        &app,
        json!({"id": ids[3], "autoNextStepId": ids[1], "autoNextTime": 1, "autoNextTimeUnit": "m"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, deleted) = app
        .call(Method::DELETE, "/crm/step", Some(json!({"id": ids[1]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_chatvolt_shape("DELETE /crm/step 200", &deleted);
    assert_eq!(deleted["name"], "b");
    assert_eq!(deleted["index"], 1);

    let steps = app.steps_of(&scenario).await;
    let names: Vec<_> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    let indexes: Vec<_> = steps.iter().map(|s| s["index"].as_i64().unwrap()).collect();
    assert_eq!(names, ["a", "c", "d"]);
    assert_eq!(indexes, [0, 1, 2]);
    for field in ["autoNextStepId", "autoNextTime", "autoNextTimeUnit"] {
        assert_eq!(
            steps[2][field],
            Value::Null,
            "{field} of the step that pointed at the deleted one"
        );
    }
    let (status, body) = app
        .call(Method::DELETE, "/crm/step", Some(json!({"id": ids[1]})))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["id"]);
    let (status, body) = app.call(Method::DELETE, "/crm/step", Some(json!({}))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["id"]);

    let appended = app.step(&scenario, "e").await;
    assert_eq!(appended["index"], 3);
}

async fn concurrent_step_creates_get_contiguous_indexes(app: TestApp) {
    let scenario = app.scenario("S").await;
    let creates = (0..12).map(|i| {
        let app = app.clone();
        let scenario = scenario.clone();
        tokio::spawn(async move { app.step(&scenario, &format!("s{i}")).await })
    });
    for handle in creates.collect::<Vec<_>>() {
        handle.await.unwrap();
    }
    let indexes: Vec<i64> = app
        .steps_of(&scenario)
        .await
        .iter()
        .map(|s| s["index"].as_i64().unwrap())
        .collect();
    assert_eq!(indexes, (0..12).collect::<Vec<_>>());
}

async fn step_list_requires_a_scenario(app: TestApp) {
    let (status, body) = app.call(Method::GET, "/crm/step", None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["scenarioId"]);
    let (status, body) = app
        .call(Method::GET, "/crm/step?scenarioId=missing", None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["scenarioId"]);
    let scenario = app.scenario("S").await;
    let agent = app.agent("A").await;
    app.step(&scenario, "first").await;
    let (_, second) = create(
        &app,
        json!({"name": "second", "scenarioId": scenario, "prompt": "p", "agentId": agent}),
    )
    .await;
    let (_, filtered) = app
        .call(
            Method::GET,
            &format!("/crm/step?scenarioId={scenario}&agentId={agent}"),
            None,
        )
        .await;
    assert_eq!(filtered, json!([second]));
}

async fn bad_input_is_refused_and_changes_nothing(app: TestApp) {
    let scenario = app.scenario("S").await;
    let step = app.step(&scenario, "s").await;
    let raw = |method: Method, body: Vec<u8>| {
        let app = app.clone();
        async move {
            // One connection per request: the server closes a connection whose body it
            // refused half-read, and a pooled connection would then fail the next request.
            let response = app
                .request(method, "/crm/step")
                .header("content-type", "application/json")
                .header("connection", "close")
                .body(body)
                .send()
                .await
                .unwrap();
            crate::support::read(response).await
        }
    };
    let (status, body) = raw(Method::PUT, b"{\"id\": ".to_vec()).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &[]);
    assert_eq!(body["code"], "MALFORMED_JSON");
    let (status, body) = raw(Method::PUT, b"[1,2]".to_vec()).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &[]);
    let (status, body) = raw(Method::POST, Vec::new()).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &[]);
    let mut huge = br#"{"id": ""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
    huge.extend(br#"", "name": "x"}"#);
    let (status, body) = raw(Method::PUT, huge).await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, &[]);

    let id = step["id"].clone();
    let cases = [
        (json!({"id": id, "isRequired": "yes"}), "isRequired"),
        (json!({"id": id, "defaultStatus": "OPEN"}), "defaultStatus"),
        (
            json!({"id": id, "defaultPriority": "URGENT"}),
            "defaultPriority",
        ),
        (json!({"id": id, "defaultTags": "vip"}), "defaultTags"),
        (
            json!({"id": id, "defaultTags": ["ok", 7]}),
            "defaultTags[1]",
        ),
        (
            json!({"id": id, "requestContact": {"name": "yes"}}),
            "requestContact.name",
        ),
        (
            json!({"id": id, "zapi": {"phoneNumber": 5511}}),
            "zapi.phoneNumber",
        ),
        (
            json!({"id": id, "name": "x", "defaultAiControl": 1}),
            "defaultAiControl",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = update(&app, body).await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, &[field]);
    }
    assert_eq!(
        app.steps_of(&scenario).await,
        vec![step],
        "refused updates changed nothing"
    );
}
