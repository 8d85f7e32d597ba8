use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, assert_chatvolt_shape, assert_error};

backend_tests!(
    scenario_lifecycle_speaks_chatvolt,
    scenario_create_requires_a_name,
    scenario_update_requires_id_and_name_and_keeps_or_clears_description,
    scenario_delete_takes_its_steps,
    scenario_list_filters_by_agent,
);

async fn scenario_lifecycle_speaks_chatvolt(app: TestApp) {
    let (status, created) = app
        .call(
            Method::POST,
            "/crm/scenario",
            Some(json!({"name": "Sales", "description": "Inbound leads"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_chatvolt_shape("POST /crm/scenario 201", &created);
    assert_eq!(created["name"], "Sales");
    assert_eq!(created["description"], "Inbound leads");
    assert_eq!(created["organizationId"], app.org.to_string());
    assert_eq!(created["createdAt"], created["updatedAt"]);
    let id = created["id"].as_str().unwrap();

    let (status, list) = app.call(Method::GET, "/crm/scenario", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_chatvolt_shape("GET /crm/scenario 200", &list);
    assert_eq!(list.as_array().unwrap(), &vec![created.clone()]);

    let (status, updated) = app
        .call(
            Method::PUT,
            "/crm/scenario",
            Some(json!({"id": id, "name": "Sales BR"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_chatvolt_shape("PUT /crm/scenario 200", &updated);
    assert_eq!(updated["message"], "Scenario updated");
    assert_eq!(updated["scenario"]["name"], "Sales BR");
    assert_eq!(updated["scenario"]["createdAt"], created["createdAt"]);

    let (status, deleted) = app
        .call(Method::DELETE, "/crm/scenario", Some(json!({"id": id})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_chatvolt_shape("DELETE /crm/scenario 200", &deleted);
    assert_eq!(deleted["message"], "Scenario deleted");
    assert_eq!(deleted["scenario"]["id"], id);
    assert!(deleted["user"].is_string());

    let (_, list) = app.call(Method::GET, "/crm/scenario", None).await;
    assert_eq!(list, json!([]));
    let (status, body) = app
        .call(Method::DELETE, "/crm/scenario", Some(json!({"id": id})))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["id"]);
}

async fn scenario_create_requires_a_name(app: TestApp) {
    for body in [
        json!({}),
        json!({"name": null}),
        json!({"name": "   "}),
        json!({"description": "x"}),
    ] {
        let (status, answer) = app
            .call(Method::POST, "/crm/scenario", Some(body.clone()))
            .await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, &["name"]);
    }
    let (status, answer) = app
        .call(Method::POST, "/crm/scenario", Some(json!({"name": 5})))
        .await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, &["name"]);
    let (_, list) = app.call(Method::GET, "/crm/scenario", None).await;
    assert_eq!(list, json!([]), "a refused create wrote nothing");
}

async fn scenario_update_requires_id_and_name_and_keeps_or_clears_description(app: TestApp) {
    let (_, created) = app
        .call(
            Method::POST,
            "/crm/scenario",
            Some(json!({"name": "A", "description": "d"})),
        )
        .await;
    let id = created["id"].as_str().unwrap();

    let (status, body) = app
        .call(Method::PUT, "/crm/scenario", Some(json!({"name": "B"})))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["id"]);
    let (status, body) = app
        .call(Method::PUT, "/crm/scenario", Some(json!({"id": id})))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["name"]);
    let (status, body) = app
        .call(
            Method::PUT,
            "/crm/scenario",
            Some(json!({"id": "clnotanid", "name": "B"})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["id"]);

    let (_, kept) = app
        .call(
            Method::PUT,
            "/crm/scenario",
            Some(json!({"id": id, "name": "B"})),
        )
        .await;
    assert_eq!(kept["scenario"]["description"], "d");
    let (_, cleared) = app
        .call(
            Method::PUT,
            "/crm/scenario",
            Some(json!({"id": id, "name": "B", "description": null})),
        )
        .await;
    assert_eq!(cleared["scenario"]["description"], serde_json::Value::Null);
}

async fn scenario_delete_takes_its_steps(app: TestApp) {
    let scenario = app.scenario("Doomed").await;
    let step = app.step(&scenario, "one").await;
    let (status, _) = app
        .call(
            Method::DELETE,
            "/crm/scenario",
            Some(json!({"id": scenario})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .call(
            Method::PUT,
            "/crm/step",
            Some(json!({"id": step["id"], "name": "x"})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["id"]);
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/crm/step?scenarioId={scenario}"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["scenarioId"]);
}

async fn scenario_list_filters_by_agent(app: TestApp) {
    let agent = app.agent("Closer").await;
    let with_agent = app.scenario("With agent").await;
    let _without = app.scenario("Without agent").await;
    let (status, _) = app
        .call(
            Method::POST,
            "/crm/step",
            Some(json!({"name": "s", "scenarioId": with_agent, "prompt": "p", "agentId": agent})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, list) = app
        .call(Method::GET, &format!("/crm/scenario?agentId={agent}"), None)
        .await;
    let ids: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(with_agent)]);
    let (_, all) = app.call(Method::GET, "/crm/scenario", None).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (_, none) = app
        .call(Method::GET, "/crm/scenario?agentId=nonsense", None)
        .await;
    assert_eq!(none, json!([]));
}
