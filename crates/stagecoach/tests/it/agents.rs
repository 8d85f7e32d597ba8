use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, assert_chatvolt_shape, assert_error};

backend_tests!(
    agent_lifecycle,
    agent_input_is_validated,
    deleting_an_agent_frees_its_steps
);

async fn agent_lifecycle(app: TestApp) {
    let (status, created) = app
        .call(Method::POST, "/agents", Some(json!({"name": "Ana", "description": "Sales agent",
            "modelName": "gpt-4o", "temperature": 0.5, "systemPrompt": "Be brief", "handle": "@Ana-Sales"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_chatvolt_shape("POST /agents 200", &created);
    assert_eq!(created["handle"], "ana-sales");
    assert_eq!(created["visibility"], "private");
    assert_eq!(created["organizationId"], app.org.to_string());
    let id = created["id"].as_str().unwrap();

    let (_, by_id) = app.call(Method::GET, &format!("/agents/{id}"), None).await;
    assert_chatvolt_shape("GET /agents/{id} 200", &by_id);
    assert_eq!(by_id, created);
    let (_, by_handle) = app.call(Method::GET, "/agents/@ana-sales", None).await;
    assert_eq!(by_handle, created);

    let (status, patched) = app
        .call(
            Method::PATCH,
            &format!("/agents/{id}"),
            Some(json!({"description": null, "temperature": 1.0, "visibility": "public"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_chatvolt_shape("PATCH /agents/{id} 200", &patched);
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(patched["temperature"], 1.0);
    assert_eq!(patched["visibility"], "public");
    assert_eq!(patched["name"], "Ana");
    assert_eq!(patched["systemPrompt"], "Be brief");

    let (status, deleted) = app
        .call(Method::DELETE, &format!("/agents/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_chatvolt_shape("DELETE /agents/{id} 200", &deleted);
    let (status, body) = app.call(Method::GET, &format!("/agents/{id}"), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["id"]);
}

async fn agent_input_is_validated(app: TestApp) {
    let cases = [
        (json!({}), "name"),
        (json!({"name": "  "}), "name"),
        (json!({"name": "a", "temperature": 1.5}), "temperature"),
        (json!({"name": "a", "temperature": "hot"}), "temperature"),
        (json!({"name": "a", "visibility": "secret"}), "visibility"),
        (json!({"name": "a", "handle": "has space"}), "handle"),
        (json!({"name": "a", "iconUrl": "not a url"}), "iconUrl"),
    ];
    for (body, field) in cases {
        let (status, answer) = app.call(Method::POST, "/agents", Some(body)).await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, &[field]);
    }
    let (status, _) = app
        .call(
            Method::POST,
            "/agents",
            Some(json!({"name": "a", "handle": "taken"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .call(
            Method::POST,
            "/agents",
            Some(json!({"name": "b", "handle": "taken"})),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, &["handle"]);
    let (status, body) = app
        .call(Method::PATCH, "/agents/@nobody", Some(json!({"name": "x"})))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["id"]);
}

async fn deleting_an_agent_frees_its_steps(app: TestApp) {
    let scenario = app.scenario("S").await;
    let agent = app.agent("Temp").await;
    let (status, step) = app
        .call(
            Method::POST,
            "/crm/step",
            Some(json!({"name": "s", "scenarioId": scenario, "prompt": "p",
            "agentId": agent, "zapiAgentId": agent, "whatsappTemplateAgentId": agent})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{step}");
    let (status, _) = app
        .call(Method::DELETE, &format!("/agents/{agent}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let steps = app.steps_of(&scenario).await;
    for field in ["agentId", "agent", "zapiAgentId", "whatsappTemplateAgentId"] {
        assert_eq!(steps[0][field], Value::Null, "{field}");
    }
}
