//! The OpenAPI document served at `/openapi.json` says what the server does: where it reads
//! each parameter, and which parameters and body fields it refuses to go without.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::TestApp;

backend_tests!(parameters_are_documented_where_the_server_reads_them);

async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    let (status, document) = crate::support::read(response).await;
    assert_eq!(status, StatusCode::OK);
    document
}

/// Every operation of the document, as (method, path template, operation).
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().unwrap() {
            out.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    out
}

/// The names of the fields an error answer lists (`fields: [{field, message}]`, the shape
/// Chatvolt's and Texter's errors share).
fn fields_named(body: &Value) -> Vec<String> {
    body["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no fields in {body}"))
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect()
}

async fn parameters_are_documented_where_the_server_reads_them(app: TestApp) {
    let document = document(&app).await;
    let mut required_in_query = BTreeSet::new();
    for (method, path, operation) in operations(&document) {
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let name = parameter["name"].as_str().unwrap();
            let location = parameter["in"].as_str().unwrap();
            let in_template = path.contains(&format!("{{{name}}}"));
            assert_eq!(
                location == "path",
                in_template,
                "{method} {path}: parameter {name} is documented in {location}"
            );
            if location == "path" {
                assert_eq!(parameter["required"], true, "{method} {path} {name}");
            }
            if location == "query" && parameter["required"] == true {
                required_in_query.insert(format!("{method} {path} {name}"));
            }
        }
    }
    // The query parameters the server refuses to go without, and only those, are required.
    let expected: BTreeSet<String> = [
        "get /crm/step scenarioId",
        "delete /crm/scenario/{scenarioId}/conversation conversationId",
        "get /server/api/v2/messages/chat/{chatId} beforeTime",
        "get /server/api/v2/messages/chat/{chatId} beforeId",
        "post /webhooks/zapi/{channelId} token",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(required_in_query, expected);

    // What the document marks required, the server asks for by name.
    let scenario = app.scenario("Params").await;
    for (method, path, field) in [
        (Method::GET, "/crm/step".to_owned(), "scenarioId"),
        (
            Method::DELETE,
            format!("/crm/scenario/{scenario}/conversation"),
            "conversationId",
        ),
        (
            Method::GET,
            "/server/api/v2/messages/chat/0190a4a0-0000-7000-8000-000000000000".to_owned(),
            "beforeTime",
        ),
    ] {
        let (status, body) = app.call(method.clone(), &path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
        assert!(
            fields_named(&body).iter().any(|f| f == field),
            "{method} {path}: {body}"
        );
    }
    // And the optional query parameters are read from the query string.
    let (status, body) = app
        .call(
            Method::GET,
            &format!(
                "/autoupdate/v2/enterprise/{}/team-members?limit=11",
                app.org
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("10"),
        "{body}"
    );
}
