//! No token ever reads or changes another organization's data: everything of another
//! organization is answered exactly as if it did not exist.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, assert_error};

backend_tests!(another_organization_sees_nothing_and_changes_nothing);

async fn another_organization_sees_nothing_and_changes_nothing(app: TestApp) {
    let scenario = app.scenario("Mine").await;
    let step = app.step(&scenario, "mine").await;
    let agent = app.agent("Mine").await;
    let (_, theirs) = app.other_tenant().await;
    let step_id = step["id"].as_str().unwrap();

    let (_, list) = app
        .call_as(&theirs, Method::GET, "/crm/scenario", None)
        .await;
    assert_eq!(list, json!([]));
    let (status, body) = app
        .call_as(
            &theirs,
            Method::GET,
            &format!("/crm/step?scenarioId={scenario}"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["scenarioId"]);

    let attempts = [
        (
            Method::PUT,
            "/crm/scenario".to_owned(),
            Some(json!({"id": scenario, "name": "hacked"})),
        ),
        (
            Method::DELETE,
            "/crm/scenario".to_owned(),
            Some(json!({"id": scenario})),
        ),
        (
            Method::PUT,
            "/crm/step".to_owned(),
            Some(json!({"id": step_id, "name": "hacked"})),
        ),
        (
            Method::DELETE,
            "/crm/step".to_owned(),
            Some(json!({"id": step_id})),
        ),
        (
            Method::POST,
            "/crm/step".to_owned(),
            Some(json!({"name": "x", "scenarioId": scenario, "prompt": "p"})),
        ),
        (Method::GET, format!("/agents/{agent}"), None),
        (
            Method::PATCH,
            format!("/agents/{agent}"),
            Some(json!({"name": "hacked"})),
        ),
        (Method::DELETE, format!("/agents/{agent}"), None),
    ];
    for (method, path, body) in attempts {
        let (status, answer) = app.call_as(&theirs, method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        assert_eq!(answer["code"], "NOT_FOUND");
    }

    // Their own scenario cannot borrow my agent, my step or my member.
    let member = app.member(app.org, "mine@example.com").await;
    let (_, their_scenario) = app
        .call_as(
            &theirs,
            Method::POST,
            "/crm/scenario",
            Some(json!({"name": "Theirs"})),
        )
        .await;
    let (status, answer) = app
        .call_as(&theirs, Method::POST, "/crm/step", Some(json!({"name": "x", "scenarioId": their_scenario["id"],
            "prompt": "p", "agentId": agent, "autoNextStepId": step_id, "assigneeLogicType": "single_user",
            "selectedMembershipIdsForAssignee": [member.to_string()]})))
        .await;
    assert_error(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        &[
            "agentId",
            "autoNextStepId",
            "selectedMembershipIdsForAssignee",
        ],
    );

    // And everything of mine is as it was.
    let steps = app.steps_of(&scenario).await;
    assert_eq!(steps, vec![step]);
    let (status, mine) = app
        .call(Method::GET, &format!("/agents/{agent}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["name"], "Mine");
}
