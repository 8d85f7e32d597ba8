//! Least privilege in every door: each operation of the OpenAPI document refuses a token
//! that lacks its scopes, in its dialect's error shape, and opens to one that holds them.
//! A route added without a scope makes this fail: the document lists no scope for it, and
//! the server refuses every restricted token there.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stagecoach_domain::enums::TokenType;
use stagecoach_domain::scope::Scope;

use crate::support::TestApp;

backend_tests!(
    every_operation_refuses_a_token_without_its_scope,
    texter_scope_names_open_only_texter_endpoints,
    unknown_routes_and_methods_answer_in_the_dialect_shape
);

/// The code of an error answer, wherever the dialect keeps it.
fn error_code(body: &Value) -> Option<&str> {
    body["code"].as_str().or(body["error"]["code"].as_str())
}

/// A concrete path for a templated one: ids that parse, values that fit.
fn concrete(path: &str, org: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = start + rest[start..].find('}').unwrap();
        let value = match &rest[start + 1..end] {
            "enterpriseId" => org.to_owned(),
            "type" => "conversationId".to_owned(),
            "count" => "5".to_owned(),
            "email" => "ana@example.com".to_owned(),
            "apiName" => "budget".to_owned(),
            _ => uuid::Uuid::now_v7().to_string(),
        };
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

async fn token(app: &TestApp, scopes: Vec<String>, token_type: TokenType) -> String {
    app.core
        .create_token(app.org, "scoped", Some(scopes), token_type)
        .await
        .unwrap()
        .secret
}

async fn every_operation_refuses_a_token_without_its_scope(app: TestApp) {
    let (status, document) = app.call(Method::GET, "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let org = app.org.to_string();
    let mut tokens: BTreeMap<(Vec<String>, bool), String> = BTreeMap::new();
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let label = format!("{} {path}", method.to_uppercase());
            let security = operation["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{label}: the document lists no scope"));
            if security.is_empty() {
                continue; // The providers' webhooks take no token.
            }
            let opening: Vec<String> = security
                .iter()
                .flat_map(|alternative| alternative["bearerAuth"].as_array().unwrap().clone())
                .map(|name| name.as_str().unwrap().to_owned())
                .collect();
            assert!(!opening.is_empty(), "{label}: no scope opens it");
            // TeleCRM's async API takes async tokens only.
            let asynchronous = path.ends_with("/autoupdatelead");
            let token_type = if asynchronous {
                TokenType::Async
            } else {
                TokenType::Sync
            };
            let lacking: Vec<String> = Scope::all()
                .map(|scope| scope.to_string())
                .filter(|name| !opening.contains(name))
                .collect();
            let holding = vec![opening[0].clone()];
            for scopes in [lacking.clone(), holding.clone()] {
                if !tokens.contains_key(&(scopes.clone(), asynchronous)) {
                    let secret = token(&app, scopes.clone(), token_type).await;
                    tokens.insert((scopes, asynchronous), secret);
                }
            }
            let url = concrete(path, &org);
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));

            let without = &tokens[&(lacking, asynchronous)];
            let (status, answer) = app
                .call_as(without, method.clone(), &url, body.clone())
                .await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{label} without {opening:?}: {answer}"
            );
            assert_eq!(
                error_code(&answer),
                Some("MISSING_SCOPE"),
                "{label}: {answer}"
            );
            let message = answer["error"]["message"]
                .as_str()
                .or(answer["error"].as_str())
                .or(answer["message"].as_str())
                .unwrap_or_default();
            assert!(
                opening.iter().any(|name| message.contains(name.as_str())),
                "{label}: the refusal names the missing scope: {answer}"
            );

            let with = &tokens[&(holding, asynchronous)];
            let (status, answer) = app.call_as(with, method, &url, body).await;
            assert_ne!(
                status,
                StatusCode::FORBIDDEN,
                "{label} with {}: {answer}",
                opening[0]
            );
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{label}: {answer}");
            checked += 1;
        }
    }
    assert!(checked > 80, "only {checked} operations were walked");
}

async fn texter_scope_names_open_only_texter_endpoints(app: TestApp) {
    let list_chats = token(&app, vec!["List all chats".into()], TokenType::Sync).await;
    let (status, _) = app
        .call_as(
            &list_chats,
            Method::GET,
            "/server/api/v2/chats/search",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Texter asks for no scope to read labels: any Texter scope opens them.
    let (status, _) = app
        .call_as(&list_chats, Method::GET, "/server/api/v2/labels", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = app
        .call_as(
            &list_chats,
            Method::POST,
            "/server/api/v2/labels",
            Some(json!({"id": "vip", "name": "VIP"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["missingScope"], "Manage labels");
    for (method, path) in [
        (Method::GET, "/crm/scenario".to_owned()),
        (Method::GET, "/conversation".to_owned()),
        (Method::GET, "/v1/webhook-endpoints".to_owned()),
        (
            Method::GET,
            format!("/autoupdate/v2/enterprise/{}/metadata", app.org),
        ),
    ] {
        let (status, answer) = app.call_as(&list_chats, method, &path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {answer}");
        assert_eq!(
            error_code(&answer),
            Some("MISSING_SCOPE"),
            "{path}: {answer}"
        );
    }
    // The area scope opens Texter's endpoints and the other doors' alike.
    let reader = token(&app, vec!["conversations:read".into()], TokenType::Sync).await;
    for path in ["/server/api/v2/chats/search", "/conversation"] {
        let (status, answer) = app.call_as(&reader, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    }
    let (status, answer) = app
        .call_as(
            &reader,
            Method::POST,
            "/crm/scenario",
            Some(json!({"name": "Nope"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (_, scenarios) = app.call(Method::GET, "/crm/scenario", None).await;
    assert_eq!(scenarios, json!([]), "the refused write changed nothing");
}

async fn unknown_routes_and_methods_answer_in_the_dialect_shape(app: TestApp) {
    let org = app.org;
    let cases = [
        (
            Method::GET,
            "/crm/nothing-here".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PATCH,
            "/crm/scenario".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (Method::GET, "/v1/nothing".to_owned(), StatusCode::NOT_FOUND),
        (
            Method::GET,
            "/v1/messages/inbound".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            Method::GET,
            "/server/api/v2/nothing".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/server/api/v2/chats/search".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            Method::GET,
            format!("/autoupdate/v2/enterprise/{org}/nothing"),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            format!("/autoupdate/v2/enterprise/{org}/lead"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ];
    for (method, path, expected) in cases {
        let (status, body) = app.call(method.clone(), &path, None).await;
        assert_eq!(status, expected, "{method} {path}: {body}");
        let code = if expected == StatusCode::NOT_FOUND {
            "NOT_FOUND"
        } else {
            "METHOD_NOT_ALLOWED"
        };
        if path.starts_with("/crm") {
            assert_eq!(body["success"], false, "{body}");
            assert_eq!(body["code"], code, "{body}");
            assert!(body["error"].is_string(), "{body}");
        } else if path.starts_with("/server/api/v2") {
            assert_eq!(body["success"], false, "{body}");
            assert_eq!(body["code"], code, "{body}");
            assert!(body["message"].is_string(), "{body}");
        } else {
            assert_eq!(body["error"]["code"], code, "{body}");
            assert!(body["error"]["message"].is_string(), "{body}");
        }
    }
}
