//! `Idempotency-Key` on the POSTs of every dialect (issue 19): a retry is answered what the
//! first request was answered and does nothing again; the key with another request is
//! refused; a retry while the first runs is refused; keys are per organization and token.
//! The crashes between reservation, work and answer are in `crash.rs`'s neighbour below.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use stagecoach_app::Admission;

use crate::model::{FakeModel, Reply, decision};
use crate::support::{TestApp, uuid_simple};

backend_tests!(
    every_dialect_answers_a_retry_with_the_first_answer_and_does_nothing_again,
    a_key_sent_with_another_request_is_refused_in_the_dialect_s_shape,
    a_refusal_that_changed_nothing_leaves_the_key_free_for_the_corrected_request,
    keys_belong_to_their_token_and_organization,
    a_retry_while_the_first_request_runs_is_refused,
    concurrent_requests_with_one_key_do_the_work_once,
    a_key_that_is_not_printable_ascii_or_too_long_is_refused,
    a_key_is_kept_for_24_hours,
    a_request_another_server_took_over_writes_nothing,
    a_call_to_a_provider_is_work_done_so_its_failure_is_kept_and_not_sent_twice,
);

const KEY: &str = "Idempotency-Key";

/// What a keyed request was answered: status, headers, body.
async fn send(
    app: &TestApp,
    token: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> (StatusCode, HeaderMap, Value) {
    let response = app
        .request_as(token, Method::POST, path)
        .header(KEY, key)
        .json(body)
        .send()
        .await
        .expect("request sent");
    let (status, headers) = (response.status(), response.headers().clone());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, headers, body)
}

async fn keyed(
    app: &TestApp,
    path: &str,
    key: &str,
    body: &Value,
) -> (StatusCode, HeaderMap, Value) {
    send(app, &app.token, path, key, body).await
}

fn replayed(headers: &HeaderMap) -> bool {
    headers
        .get("idempotent-replayed")
        .is_some_and(|value| value == "true")
}

/// How many contacts the Chatvolt dialect finds by `search`.
async fn contacts_named(app: &TestApp, token: &str, search: &str) -> i64 {
    let (status, body) = app
        .call_as(
            token,
            Method::GET,
            &format!("/contacts?search={search}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["count"].as_i64().unwrap()
}

/// The error code wherever the dialect puts it.
fn code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .or_else(|| body["code"].as_str())
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

async fn every_dialect_answers_a_retry_with_the_first_answer_and_does_nothing_again(app: TestApp) {
    // Chatvolt: a contact (a second one would be created without the key).
    let name = format!("Ana{}", uuid_simple());
    let body = json!({"firstName": name});
    let first = keyed(&app, "/contacts", "chatvolt-1", &body).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.2);
    assert!(!replayed(&first.1));
    let again = keyed(&app, "/contacts", "chatvolt-1", &body).await;
    assert_eq!((again.0, &again.2), (first.0, &first.2));
    assert!(replayed(&again.1), "{:?}", again.1);
    assert_eq!(
        again.1.get("content-type").unwrap(),
        first.1.get("content-type").unwrap()
    );
    assert_eq!(contacts_named(&app, &app.token, &name).await, 1);

    // Stagecoach's own: an inbound message (a retry would store it twice).
    let from = format!("visitor-{}", uuid_simple());
    let message = json!({"channel": "website", "from": from, "text": "oi"});
    let first = keyed(&app, "/v1/messages/inbound", "native-1", &message).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.2);
    let again = keyed(&app, "/v1/messages/inbound", "native-1", &message).await;
    assert_eq!((again.0, &again.2), (first.0, &first.2));
    assert!(replayed(&again.1));
    let conversation = first.2["conversationId"].as_str().unwrap();
    let later = (chrono::Utc::now() + chrono::Duration::days(2)).timestamp_millis();
    let (_, messages) = app
        .call(
            Method::GET,
            &format!(
                "/server/api/v2/messages/chat/{conversation}?beforeTime={later}&beforeId=none"
            ),
            None,
        )
        .await;
    let inbound = messages["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("{messages}"))
        .len();
    assert_eq!(inbound, 1, "{messages}");

    // Texter: a label with a chosen id (a second create would be refused as taken).
    let label = format!("l{}", &uuid_simple()[..12]);
    let body = json!({"id": label, "name": "VIP"});
    let first = keyed(&app, "/server/api/v2/labels", "texter-1", &body).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.2);
    let again = keyed(&app, "/server/api/v2/labels", "texter-1", &body).await;
    assert_eq!((again.0, &again.2), (first.0, &first.2));
    assert!(replayed(&again.1));

    // TeleCRM: a payment on a lead (a retry would record it twice).
    let base = format!("/autoupdate/v2/enterprise/{}", app.org);
    let (status, lead) = app
        .call(
            Method::POST,
            &format!("{base}/lead"),
            Some(json!({"fields": {"phone": "919999999999", "name": "Asha"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{lead}");
    let path = format!("{base}/lead/{}/action", lead["lead_id"].as_str().unwrap());
    let payment = json!({"actions": [{"type": "PAYMENT", "amount": "5000", "currency": "INR", "status": "PENDING"}]});
    let first = keyed(&app, &path, "telecrm-1", &payment).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.2);
    let again = keyed(&app, &path, "telecrm-1", &payment).await;
    assert_eq!((again.0, &again.2), (first.0, &first.2));
    assert!(replayed(&again.1));
    let (status, found) = app
        .call(Method::POST, &format!("{path}/search"), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        found.to_string().matches("\"PAYMENT\"").count(),
        1,
        "one payment: {found}"
    );
}

async fn a_key_sent_with_another_request_is_refused_in_the_dialect_s_shape(app: TestApp) {
    let name = format!("Bia{}", uuid_simple());
    let (status, _, body) = keyed(&app, "/contacts", "k-1", &json!({"firstName": name})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let other = format!("Caio{}", uuid_simple());
    let (status, _, refused) = keyed(&app, "/contacts", "k-1", &json!({"firstName": other})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["success"], false, "Chatvolt's shape: {refused}");
    assert_eq!(code(&refused), "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(contacts_named(&app, &app.token, &other).await, 0);

    // The same key on another path is another request too, in that path's dialect.
    let message = json!({"channel": "website", "from": "x", "text": "oi"});
    let (status, _, refused) = keyed(&app, "/v1/messages/inbound", "k-1", &message).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(
        refused["error"]["code"], "IDEMPOTENCY_KEY_REUSED",
        "{refused}"
    );
    let (status, _, refused) = keyed(
        &app,
        "/server/api/v2/labels",
        "k-1",
        &json!({"id": "a", "name": "A"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["success"], false, "Texter's shape: {refused}");
    assert_eq!(refused["code"], "IDEMPOTENCY_KEY_REUSED", "{refused}");
    let path = format!("/autoupdate/v2/enterprise/{}/lead", app.org);
    let (status, _, refused) = keyed(
        &app,
        &path,
        "k-1",
        &json!({"fields": {"phone": "919999999998"}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(
        refused["error"]["code"], "IDEMPOTENCY_KEY_REUSED",
        "{refused}"
    );

    // The first request's answer is still there for its retries.
    let (status, headers, again) =
        keyed(&app, "/contacts", "k-1", &json!({"firstName": name})).await;
    assert_eq!((status, &again), (StatusCode::OK, &body));
    assert!(replayed(&headers));
}

async fn a_refusal_that_changed_nothing_leaves_the_key_free_for_the_corrected_request(
    app: TestApp,
) {
    let (status, _, refused) = keyed(&app, "/contacts", "fix-me", &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let name = format!("Duda{}", uuid_simple());
    let (status, headers, body) =
        keyed(&app, "/contacts", "fix-me", &json!({"firstName": name})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!replayed(&headers), "the refusal was not kept");
    assert_eq!(contacts_named(&app, &app.token, &name).await, 1);
}

async fn keys_belong_to_their_token_and_organization(app: TestApp) {
    let second_token = app
        .core
        .create_token(
            app.org,
            "second",
            None,
            stagecoach_domain::enums::TokenType::Sync,
        )
        .await
        .unwrap()
        .secret;
    let (_, other_org_token) = app.other_tenant().await;
    let name = format!("Eva{}", uuid_simple());
    let body = json!({"firstName": name});
    for token in [&app.token, &second_token, &other_org_token] {
        let (status, headers, answer) = send(&app, token, "/contacts", "shared-key", &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(!replayed(&headers), "each token's key is its own");
    }
    assert_eq!(contacts_named(&app, &app.token, &name).await, 2);
    assert_eq!(contacts_named(&app, &other_org_token, &name).await, 1);
}

async fn a_retry_while_the_first_request_runs_is_refused(app: TestApp) {
    // This server beats no heartbeat (tests do not run the worker's loops): it knows its
    // own requests in hand without one.
    let model = FakeModel::start().await;
    let (status, settings) = app
        .call(
            Method::PUT,
            "/v1/ai/settings",
            Some(json!({"baseUrl": model.base_url, "model": "fake-model", "apiKey": "sk-test-1"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    let (status, agent) = app
        .call(
            Method::POST,
            "/agents",
            Some(json!({"name": "Baker", "systemPrompt": "You are the assistant of Padaria Sol."})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{agent}");
    let path = format!("/agents/{}/query", agent["id"].as_str().unwrap());
    model.push(Reply::Held(decision(
        Some("Abrimos às 7h."),
        "none",
        None,
        "hours",
    )));
    let question = json!({"query": "Que horas abrem?", "visitorId": "visitor-7"});
    let first = tokio::spawn({
        let (app, path, question) = (app.clone(), path.clone(), question.clone());
        async move { keyed(&app, &path, "ask-1", &question).await }
    });
    model.wait_for(1).await;
    let (status, headers, refused) = keyed(&app, &path, "ask-1", &question).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(code(&refused), "IDEMPOTENCY_KEY_IN_USE");
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    model.release();
    let (status, _, answered) = first.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{answered}");
    assert_eq!(answered["answer"], "Abrimos às 7h.");
    let (status, headers, again) = keyed(&app, &path, "ask-1", &question).await;
    assert_eq!((status, &again), (StatusCode::OK, &answered));
    assert!(replayed(&headers));
    assert_eq!(model.received().len(), 1, "the model was asked once");
}

async fn concurrent_requests_with_one_key_do_the_work_once(app: TestApp) {
    let name = format!("Fia{}", uuid_simple());
    let body = json!({"firstName": name});
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (app, body) = (app.clone(), body.clone());
            tokio::spawn(async move { keyed(&app, "/contacts", "race", &body).await })
        })
        .collect();
    let mut created = Vec::new();
    for racer in racers {
        let (status, _, answer) = racer.await.unwrap();
        match status {
            StatusCode::OK => created.push(answer),
            StatusCode::CONFLICT => assert_eq!(code(&answer), "IDEMPOTENCY_KEY_IN_USE"),
            other => panic!("{other}: {answer}"),
        }
    }
    assert!(!created.is_empty());
    assert!(
        created.iter().all(|answer| answer == &created[0]),
        "{created:?}"
    );
    assert_eq!(contacts_named(&app, &app.token, &name).await, 1);
}

async fn a_key_that_is_not_printable_ascii_or_too_long_is_refused(app: TestApp) {
    let name = format!("Gil{}", uuid_simple());
    let body = json!({"firstName": name});
    let long = "k".repeat(256);
    let (status, _, refused) = keyed(&app, "/contacts", &long, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["fields"][0]["field"], KEY, "{refused}");
    let (status, _, refused) = keyed(&app, "/v1/messages/inbound", "", &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"]["fields"][0]["field"], KEY, "{refused}");
    assert_eq!(contacts_named(&app, &app.token, &name).await, 0);
}

async fn a_key_is_kept_for_24_hours(app: TestApp) {
    let name = format!("Hugo{}", uuid_simple());
    let (status, _, _) = keyed(&app, "/contacts", "daily", &json!({"firstName": name})).await;
    assert_eq!(status, StatusCode::OK);
    app.clock.advance(chrono::Duration::hours(23));
    let (_, headers, _) = keyed(&app, "/contacts", "daily", &json!({"firstName": name})).await;
    assert!(replayed(&headers));
    app.clock.advance(chrono::Duration::hours(2));
    let (status, headers, _) = keyed(&app, "/contacts", "daily", &json!({"firstName": name})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!replayed(&headers), "a day later the key is new");
    assert_eq!(contacts_named(&app, &app.token, &name).await, 2);
    // The worker's expiry deletes what is a day old.
    app.clock.advance(chrono::Duration::hours(25));
    assert!(app.core.prune_idempotency_keys(100).await.unwrap() >= 1);
}

/// A server that others took for stopped (its heartbeat late) while it ran a keyed
/// request, and whose key another server took over: its writes are refused at commit as
/// contention (503 `BUSY` to its client), so the request's work is done by one server only.
async fn a_request_another_server_took_over_writes_nothing(app: TestApp) {
    let caller = app.core.authenticate(&app.token).await.unwrap();
    let admitted = app.core.admit_idempotent(&caller, "fenced", "hash-1").await;
    let Ok(Admission::Run(reservation)) = admitted else {
        panic!("reserved: {admitted:?}");
    };
    let uuid = |id: uuid::Uuid| match app.core.store().backend() {
        stagecoach_storage::Backend::Sqlite => format!("X'{}'", id.simple()),
        stagecoach_storage::Backend::Postgres => format!("'{id}'"),
    };
    let (their_run, their_server) = (uuid(uuid::Uuid::now_v7()), uuid(uuid::Uuid::now_v7()));
    app.db
        .raw_sql(&format!(
            "UPDATE idempotency_keys SET reservation_id = {their_run}, server_id = {their_server}"
        ))
        .await;
    let name = format!("Fenced{}", uuid_simple());
    let written = app
        .core
        .run_reserved(&reservation, app.core.create_scenario(&caller, &name, None))
        .await;
    assert!(written.unwrap_err().is_contention());
    let (status, scenarios) = app.call(Method::GET, "/crm/scenario", None).await;
    assert_eq!(status, StatusCode::OK, "{scenarios}");
    assert!(!scenarios.to_string().contains(&name), "{scenarios}");

    // Outside any reservation the same write goes through.
    app.core
        .create_scenario(&caller, &name, None)
        .await
        .unwrap();
}

/// Creating a WhatsApp template is a call to Meta that leaves no row behind: it counts as
/// the request's work before it is made, so a failure after it (502, Meta may have acted)
/// is kept, and a retry does not call Meta again.
async fn a_call_to_a_provider_is_work_done_so_its_failure_is_kept_and_not_sent_twice(app: TestApp) {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream timeout"))
        .expect(1)
        .mount(&provider)
        .await;
    let server = app.with_providers_at(&provider.uri()).await;
    let agent = app.agent("Closer").await;
    let (status, channel) = app
        .call(
            Method::POST,
            "/v1/channels",
            Some(json!({"kind": "whatsapp", "name": "Line", "agentId": agent,
                        "accountId": format!("PN{}", uuid_simple()),
                        "businessAccountId": "WABA-9", "accessToken": "wa-token", "appSecret": "s"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let template = json!({"agentId": agent, "name": "order_update", "category": "UTILITY",
                          "language": "pt_BR", "components": [{"type": "BODY", "text": "Oi"}]});
    let (status, headers, failed) = keyed(&server, "/whatsapp/templates", "tpl-1", &template).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{failed}");
    assert!(!replayed(&headers));
    let (status, headers, again) = keyed(&server, "/whatsapp/templates", "tpl-1", &template).await;
    assert_eq!((status, &again), (StatusCode::BAD_GATEWAY, &failed));
    assert!(replayed(&headers));
    provider.verify().await;
}
