//! The OpenAPI document served at `/openapi.json` says what the server does: where it reads
//! each parameter, and which parameters and body fields it refuses to go without.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stagecoach_domain::enums::TokenType;

use crate::support::TestApp;

backend_tests!(
    parameters_are_documented_where_the_server_reads_them,
    texter_bodies_mark_what_the_server_requires,
    telecrm_bodies_are_documented_and_mark_what_the_server_requires,
);

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

/// The schema a request body or property points to, with its `$ref` followed.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            &document["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn body_schema<'a>(document: &'a Value, operation: &'a Value) -> &'a Value {
    resolve(
        document,
        &operation["requestBody"]["content"]["application/json"]["schema"],
    )
}

fn required_of(schema: &Value) -> BTreeSet<String> {
    schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
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
        "get /v1/reports/funnel scenarioId",
        "get /v1/reports/time-in-step scenarioId",
        "get /v1/reports/revenue scenarioId",
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
    for report in ["funnel", "time-in-step", "revenue"] {
        let (status, body) = app
            .call(Method::GET, &format!("/v1/reports/{report}"), None)
            .await;
        crate::support::assert_native_error(
            status,
            &body,
            StatusCode::BAD_REQUEST,
            &["scenarioId"],
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

async fn texter_bodies_mark_what_the_server_requires(app: TestApp) {
    let document = document(&app).await;
    let chat = app.conversation().await;
    // Each operation with a body: the fields the document marks required, and the fields
    // the server names when it is sent `{}`. Those differ only where the server wants one
    // field of a group (assign: one of phone and chatId, one of agentUid and agentEmail;
    // chat labels: one of add, remove and set), which each body's description says.
    let table: [(&str, &str, &[&str], &[&str]); 7] = [
        (
            "post",
            "/server/api/v2/chats/{chatId}/crm-data",
            &["data"],
            &["data"],
        ),
        (
            "post",
            "/server/api/v2/chats/assign",
            &[],
            &["chatId", "agentUid"],
        ),
        ("patch", "/server/api/v2/chats/{chatId}", &[], &[]),
        (
            "post",
            "/server/api/v2/chats/{chatId}/labels",
            &[],
            &["add"],
        ),
        (
            "post",
            "/server/api/v2/labels",
            &["id", "name"],
            &["id", "name"],
        ),
        ("patch", "/server/api/v2/labels/{labelId}", &[], &[]),
        (
            "post",
            "/server/api/v2/messages/send/{chatId}",
            &["type", "text"],
            &["type", "text"],
        ),
    ];
    // Resolving reads a missing body as `{}`: its body is optional, and has no required field.
    let resolve = ("post", "/server/api/v2/chats/{chatId}/resolve");
    let documented: BTreeSet<(String, String)> = operations(&document)
        .into_iter()
        .filter(|(_, path, op)| path.starts_with("/server/api/v2/") && !op["requestBody"].is_null())
        .map(|(method, path, _)| (method, path))
        .collect();
    let covered: BTreeSet<(String, String)> = table
        .iter()
        .map(|(method, path, _, _)| (*method, *path))
        .chain([resolve])
        .map(|(method, path)| (method.to_owned(), path.to_owned()))
        .collect();
    assert_eq!(documented, covered, "every Texter body is checked here");

    for (method, template, required, named) in table {
        let operation = &document["paths"][template][method];
        assert_eq!(
            operation["requestBody"]["required"], true,
            "{method} {template}"
        );
        assert_eq!(
            required_of(body_schema(&document, operation)),
            set(required),
            "{method} {template}"
        );
        let path = template
            .replace("{chatId}", &chat)
            .replace("{labelId}", "failed-message");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app
            .request(method.clone(), &path)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        if named.is_empty() {
            // Some answer the text `OK`.
            assert_eq!(response.status(), StatusCode::OK, "{method} {path}");
        } else {
            let (status, body) = crate::support::read(response).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
            let mut answered = fields_named(&body);
            answered.sort();
            let mut expected: Vec<String> = named.iter().map(|n| (*n).to_owned()).collect();
            expected.sort();
            assert_eq!(answered, expected, "{method} {path}: {body}");
        }
    }

    let operation = &document["paths"][resolve.1][resolve.0];
    assert_ne!(operation["requestBody"]["required"], true);
    assert!(required_of(body_schema(&document, operation)).is_empty());
    let response = app
        .request(
            Method::POST,
            &format!("/server/api/v2/chats/{chat}/resolve"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// The fields a schema requires; of a `oneOf`, those every alternative requires.
fn required_of_any(document: &Value, schema: &Value) -> BTreeSet<String> {
    match schema["oneOf"].as_array() {
        Some(alternatives) => alternatives
            .iter()
            .map(|a| required_of(resolve(document, a)))
            .reduce(|a, b| a.intersection(&b).cloned().collect())
            .unwrap_or_default(),
        None => required_of(schema),
    }
}

/// The fields a TeleCRM refusal names: `a: …; b: …`.
fn telecrm_fields_named(body: &Value) -> BTreeSet<String> {
    let message = body["error"]["message"].as_str().unwrap();
    message
        .split("; ")
        .map(|part| {
            part.split_once(": ")
                .unwrap_or_else(|| panic!("{message}"))
                .0
                .to_owned()
        })
        .collect()
}

async fn telecrm_bodies_are_documented_and_mark_what_the_server_requires(app: TestApp) {
    let document = document(&app).await;
    let enterprise = format!("/autoupdate/v2/enterprise/{}", app.org);
    let (status, lead) = app
        .call(
            Method::POST,
            &format!("{enterprise}/lead"),
            Some(json!({"fields": {"phone": "919000000090"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{lead}");
    let lead = lead["lead_id"].as_str().unwrap().to_owned();
    let (_, created) = app
        .call(
            Method::POST,
            &format!("{enterprise}/lead/{lead}/action"),
            Some(json!({"actions": [{"type": "PAYMENT", "amount": "10", "currency": "INR", "status": "PENDING"}]})),
        )
        .await;
    let payment = created["actions"][0]["action_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let async_token = app
        .core
        .create_token(app.org, "ingest", None, TokenType::Async)
        .await
        .unwrap()
        .secret;

    let mut with_bodies = 0;
    for (method, path, operation) in operations(&document) {
        if !operation["operationId"]
            .as_str()
            .unwrap()
            .starts_with("telecrm")
        {
            continue;
        }
        // Summaries are one plain sentence for the reader, with no note for the makers.
        let summary = operation["summary"].as_str().unwrap();
        assert!(
            !summary.contains('\n') && !summary.to_lowercase().contains("seed"),
            "{summary}"
        );
        if operation["requestBody"].is_null() {
            continue;
        }
        with_bodies += 1;
        // Every body is described: its properties, or the shapes it may take.
        let schema = body_schema(&document, &operation);
        let described = |s: &Value| s["properties"].is_object();
        let alternatives = schema["oneOf"].as_array().cloned().unwrap_or_default();
        assert!(
            described(schema)
                || (!alternatives.is_empty()
                    && alternatives
                        .iter()
                        .all(|a| described(resolve(&document, a)))),
            "{method} {path}: {schema}"
        );
        // The fields it marks required are those the server asks for when `{}` is sent; a
        // body not marked required may be left out.
        let required = required_of_any(&document, schema);
        let url = path
            .replace("{enterpriseId}", &app.org.to_string())
            .replace("{leadId}", &lead)
            .replace("{actionId}", &payment);
        let token = if path.starts_with("/enterprise/") {
            &async_token
        } else {
            &app.token
        };
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, body) = app
            .call_as(token, method.clone(), &url, Some(json!({})))
            .await;
        if required.is_empty() {
            assert!(status.is_success(), "{method} {path}: {body}");
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
            assert_eq!(telecrm_fields_named(&body), required, "{method} {path}");
        }
        if operation["requestBody"]["required"] != true {
            let response = app
                .request_as(token, method.clone(), &url)
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_success(),
                "{method} {path} without a body"
            );
        }
    }
    assert_eq!(with_bodies, 9);

    // An action update: the payment's statuses are listed, and each is accepted.
    let operation = &document["paths"]["/autoupdate/v2/enterprise/{enterpriseId}/lead/{leadId}/action/{actionId}"]
        ["post"];
    let alternatives = body_schema(&document, operation)["oneOf"]
        .as_array()
        .unwrap()
        .clone();
    let payment_update = alternatives
        .iter()
        .map(|a| resolve(&document, a))
        .find(|a| !a["properties"]["status"].is_null())
        .expect("a payment alternative");
    let statuses = resolve(&document, &payment_update["properties"]["status"])["enum"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(statuses.len(), 6);
    for status in statuses {
        let (code, state) = app
            .call(
                Method::POST,
                &format!("{enterprise}/lead/{lead}/action/{payment}"),
                Some(json!({"type": "PAYMENT", "status": status})),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{state}");
        assert_eq!(state["status"], status);
    }
}
