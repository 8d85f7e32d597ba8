//! Outbound webhooks: event subscriptions and step webhooks, delivered over real HTTP to a
//! local receiver (wiremock), signed, retried, logged, guarded against internal addresses.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stagecoach_app::{DeliverySettings, Stagecoach, Transport};
use stagecoach_worker::{HttpTransport, deliver_due};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    TestApp, assert_native_error as assert_error, loopback_transport, secret_box,
};

backend_tests!(
    a_receiver_failing_three_times_gets_the_event_four_times_signed_alike,
    a_step_webhook_posts_step_entered_with_the_step_headers,
    internal_addresses_are_refused_unless_allowed,
    a_delivery_claimed_by_a_crashed_worker_is_delivered_later,
    a_stopped_workers_deliveries_are_sent_within_seconds,
    a_slow_delivery_keeps_its_lease_while_its_worker_beats,
    two_workers_never_send_the_same_delivery,
    redirects_fail_and_the_last_failure_gives_up,
    redelivery_keeps_the_webhook_id,
    endpoints_are_validated_and_private_to_their_organization,
    subscriptions_hear_what_happened_in_their_style,
    the_worker_loop_delivers_in_the_background,
    addresses_no_delivery_could_reach_are_refused_at_creation,
    bulk_redelivery_requeues_what_matches,
);

/// The app with a short retry schedule, so signatures stay within their time tolerance.
fn quick_retries(app: &TestApp, schedule: &[u64]) -> Stagecoach {
    app.core.clone().with_delivery_settings(DeliverySettings {
        schedule: schedule
            .iter()
            .map(|s| StdDuration::from_secs(*s))
            .collect(),
        ..DeliverySettings::default()
    })
}

async fn subscribe(app: &TestApp, url: &str, event_types: Value) -> (String, String) {
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": url, "eventTypes": event_types})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (body["id"].as_str().unwrap().to_owned(), secret)
}

/// A conversation entered into a fresh step; returns the conversation id.
async fn enter_a_step(app: &TestApp) -> String {
    let scenario = app.scenario("Sales").await;
    let step = app.step(&scenario, "New").await;
    let conversation = app.conversation().await;
    let (status, body) = app.add_to(&conversation, &step).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    conversation
}

async fn deliveries_of_endpoint(app: &TestApp, endpoint: &str) -> Vec<Value> {
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/v1/deliveries?endpointId={endpoint}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

async fn delivery(app: &TestApp, id: &str) -> Value {
    let (status, body) = app
        .call(Method::GET, &format!("/v1/deliveries/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn a_receiver_failing_three_times_gets_the_event_four_times_signed_alike(app: TestApp) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("not yet"))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&receiver)
        .await;
    let (endpoint, secret) = subscribe(
        &app,
        &format!("{}/hooks", receiver.uri()),
        json!(["conversation.step_entered"]),
    )
    .await;
    let conversation = enter_a_step(&app).await;

    let core = quick_retries(&app, &[1, 1, 1, 1]);
    let transport = loopback_transport();
    let mut delivered = 0;
    for _ in 0..4 {
        delivered += deliver_due(&core, transport.clone(), 10).await.unwrap();
        app.clock.advance(Duration::seconds(2));
    }
    assert_eq!(delivered, 1);

    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 4);
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    let ids: Vec<_> = requests
        .iter()
        .map(|r| r.headers["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    for request in &requests {
        verifier
            .verify(&request.body, &request.headers)
            .expect("a valid Standard Webhooks signature");
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["type"], "conversation.step_entered");
        assert_eq!(body["data"]["conversationId"], conversation.as_str());
        assert_eq!(body["data"]["stepName"], "New");
        assert!(body["actor"].is_string(), "{body}");
    }

    let list = deliveries_of_endpoint(&app, &endpoint).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], ids[0].as_str());
    let detail = delivery(&app, &ids[0]).await;
    assert_eq!(detail["status"], "done");
    assert_eq!(detail["attempts"], 4);
    let statuses: Vec<_> = detail["attemptLog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["httpStatus"].clone())
        .collect();
    assert_eq!(
        statuses,
        vec![json!(500), json!(500), json!(500), json!(200)]
    );
    assert_eq!(detail["attemptLog"][0]["response"], "not yet");
    assert_eq!(detail["attemptLog"][0]["error"], "HTTP 500");
}

async fn a_step_webhook_posts_step_entered_with_the_step_headers(app: TestApp) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm-events"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let scenario = app.scenario("Support").await;
    let step = app
        .step_with(
            &scenario,
            "Escalated",
            json!({"webhookUrl": format!("{}/crm-events", receiver.uri()),
                   "webhookHeader": {"Authorization": "Bearer integrator", "X-Source": "crm"},
                   "defaultStatus": "HUMAN_REQUESTED", "defaultPriority": "HIGH"}),
        )
        .await;
    let conversation = app.conversation().await;
    let (status, body) = app.add_to(&conversation, &step).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    assert_eq!(
        deliver_due(&app.core, loopback_transport(), 10)
            .await
            .unwrap(),
        1
    );
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "exactly one webhook");
    let request = &requests[0];
    assert_eq!(request.headers["authorization"], "Bearer integrator");
    assert_eq!(request.headers["x-source"], "crm");
    assert_eq!(request.headers["content-type"], "application/json");
    let event: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(event["eventType"], "STEP_ENTERED");
    assert_eq!(event["conversationId"], conversation.as_str());
    assert_eq!(event["stepId"], step["id"]);
    assert_eq!(event["scenarioId"], scenario.as_str());
    assert_eq!(event["status"], "HUMAN_REQUESTED");
    assert_eq!(event["priority"], "HIGH");
    assert_eq!(event["previousStepId"], Value::Null);
    assert!(
        event["actor"].is_string() && event["occurredAt"].is_string(),
        "{event}"
    );

    let outbox = app.outbox_of(&conversation).await;
    let webhook = outbox.iter().find(|o| o["kind"] == "step_webhook").unwrap();
    assert_eq!(webhook["status"], "done");
}

async fn internal_addresses_are_refused_unless_allowed(app: TestApp) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let port = receiver.address().port();
    let (v4, _) = subscribe(&app, &format!("http://127.0.0.1:{port}/a"), json!([])).await;
    let (mapped, _) = subscribe(
        &app,
        &format!("http://[::ffff:127.0.0.1]:{port}/b"),
        json!([]),
    )
    .await;
    let (named, _) = subscribe(&app, &format!("http://localhost:{port}/c"), json!([])).await;
    enter_a_step(&app).await;

    // A server with the default configuration: no internal network allowed.
    let default: Arc<dyn Transport> =
        Arc::new(HttpTransport::new(vec![], StdDuration::from_secs(5)).unwrap());
    assert_eq!(deliver_due(&app.core, default, 50).await.unwrap(), 0);
    assert!(receiver.received_requests().await.unwrap().is_empty());

    for (endpoint, why) in [
        (&v4, "127.0.0.1 is loopback"),
        (&mapped, "is loopback"),
        (&named, "localhost resolves to"),
    ] {
        let deliveries = deliveries_of_endpoint(&app, endpoint).await;
        assert!(!deliveries.is_empty(), "the endpoint got its events");
        for d in deliveries {
            let detail = delivery(&app, d["id"].as_str().unwrap()).await;
            assert_eq!(detail["status"], "failed", "a refusal is final: {detail}");
            let error = detail["attemptLog"][0]["error"].as_str().unwrap();
            assert!(error.contains("refused") && error.contains(why), "{error}");
            assert_eq!(detail["attemptLog"][0]["httpStatus"], Value::Null);
        }
    }
}

async fn a_delivery_claimed_by_a_crashed_worker_is_delivered_later(app: TestApp) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    subscribe(&app, &receiver.uri(), json!(["conversation.step_entered"])).await;
    enter_a_step(&app).await;

    // A worker claims the delivery, then dies before sending it.
    app.core.fan_out_events(10).await.unwrap();
    let claimed = app.core.claim_deliveries(10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    drop(claimed);

    // Nobody else may take it while the lease holds.
    let transport = loopback_transport();
    assert_eq!(
        deliver_due(&app.core, transport.clone(), 10).await.unwrap(),
        0
    );
    app.clock
        .advance(Duration::from_std(stagecoach_app::DELIVERY_LEASE).unwrap());
    assert_eq!(deliver_due(&app.core, transport, 10).await.unwrap(), 1);
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
}

async fn two_workers_never_send_the_same_delivery(app: TestApp) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(StdDuration::from_millis(20)))
        .mount(&receiver)
        .await;
    subscribe(&app, &receiver.uri(), json!(["conversation.step_entered"])).await;
    let scenario = app.scenario("Busy").await;
    let step = app.step(&scenario, "In").await;
    for _ in 0..12 {
        let conversation = app.conversation().await;
        app.add_to(&conversation, &step).await;
    }

    // Two worker processes on the same database.
    let mut workers = Vec::new();
    for _ in 0..2 {
        let store = stagecoach_storage::connect(&app.db.url).await.unwrap();
        workers.push(Stagecoach::new(store, app.clock.clone()).with_secret_box(secret_box()));
    }
    let transport = loopback_transport();
    let (a, b) = tokio::join!(
        async {
            let mut n = 0;
            for _ in 0..4 {
                n += deliver_due(&workers[0], transport.clone(), 4)
                    .await
                    .unwrap();
            }
            n
        },
        async {
            let mut n = 0;
            for _ in 0..4 {
                n += deliver_due(&workers[1], transport.clone(), 4)
                    .await
                    .unwrap();
            }
            n
        }
    );
    assert_eq!(a + b, 12, "every delivery sent once");
    let requests = receiver.received_requests().await.unwrap();
    let mut ids: Vec<_> = requests
        .iter()
        .map(|r| r.headers["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!((requests.len(), ids.len()), (12, 12));
    for worker in &workers {
        worker.store().close().await;
    }
}

async fn redirects_fail_and_the_last_failure_gives_up(app: TestApp) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "http://example.com/"))
        .mount(&receiver)
        .await;
    let (endpoint, _) =
        subscribe(&app, &receiver.uri(), json!(["conversation.step_entered"])).await;
    enter_a_step(&app).await;

    let core = quick_retries(&app, &[1]);
    let transport = loopback_transport();
    deliver_due(&core, transport.clone(), 10).await.unwrap();
    app.clock.advance(Duration::seconds(2));
    deliver_due(&core, transport, 10).await.unwrap();

    let list = deliveries_of_endpoint(&app, &endpoint).await;
    assert_eq!(list[0]["status"], "failed");
    assert_eq!(list[0]["attempts"], 2);
    assert_eq!(list[0]["lastError"], "HTTP 302: redirects are not followed");
    assert_eq!(
        receiver.received_requests().await.unwrap().len(),
        2,
        "the redirect was not followed"
    );
}

async fn redelivery_keeps_the_webhook_id(app: TestApp) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let (endpoint, _) =
        subscribe(&app, &receiver.uri(), json!(["conversation.step_entered"])).await;
    enter_a_step(&app).await;
    let transport = loopback_transport();
    assert_eq!(
        deliver_due(&app.core, transport.clone(), 10).await.unwrap(),
        1
    );
    let id = deliveries_of_endpoint(&app, &endpoint).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, body) = app
        .call(
            Method::POST,
            &format!("/v1/deliveries/{id}/redeliver"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "pending");
    assert_eq!(deliver_due(&app.core, transport, 10).await.unwrap(), 1);
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert!(
        requests
            .iter()
            .all(|r| r.headers["webhook-id"] == id.as_str())
    );
    assert_eq!(
        delivery(&app, &id).await["attemptLog"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Another organization sees none of it.
    let (_, other) = app.other_tenant().await;
    for (method, path) in [
        (Method::GET, format!("/v1/deliveries/{id}")),
        (Method::POST, format!("/v1/deliveries/{id}/redeliver")),
        (Method::GET, format!("/v1/webhook-endpoints/{endpoint}")),
        (Method::DELETE, format!("/v1/webhook-endpoints/{endpoint}")),
    ] {
        let (status, body) = app.call_as(&other, method, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (_, list) = app
        .call_as(&other, Method::GET, "/v1/deliveries", None)
        .await;
    assert_eq!(list, json!([]));
}

async fn endpoints_are_validated_and_private_to_their_organization(app: TestApp) {
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": "ftp://files", "eventTypes": ["message.received", "no.such"]})),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        &["url", "eventTypes"],
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": "https://x.example", "style": "soap"})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["style"]);
    let (_, list) = app.call(Method::GET, "/v1/webhook-endpoints", None).await;
    assert_eq!(list, json!([]), "nothing was created");

    let (id, _) = subscribe(
        &app,
        "https://hooks.example/in",
        json!(["message.received"]),
    )
    .await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/webhook-endpoints/{id}"),
            Some(json!({"disabled": true, "style": "texter", "description": "CRM"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["disabled"].clone(), body["style"].clone()),
        (json!(true), json!("texter"))
    );
    assert!(body.get("secret").is_none(), "the secret is shown once");
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/webhook-endpoints/{id}"),
            Some(json!({"url": "nope"})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["url"]);
    let (_, listed) = app.call(Method::GET, "/v1/webhook-endpoints", None).await;
    assert_eq!(
        listed[0]["url"], "https://hooks.example/in",
        "the bad patch changed nothing"
    );

    let (other_org, other) = app.other_tenant().await;
    let _ = other_org;
    let (_, theirs) = app
        .call_as(&other, Method::GET, "/v1/webhook-endpoints", None)
        .await;
    assert_eq!(theirs, json!([]));
    let (status, _) = app
        .call(Method::DELETE, &format!("/v1/webhook-endpoints/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .call(Method::GET, "/v1/deliveries?endpointId=bogus", None)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["endpointId"]);
}

async fn subscriptions_hear_what_happened_in_their_style(app: TestApp) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    for (style, route) in [
        ("stagecoach", "/own"),
        ("chatvolt", "/chatvolt"),
        ("texter", "/texter"),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(json!({"url": format!("{}{route}", receiver.uri()), "style": style})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let scenario = app.scenario("Support").await;
    let step = app
        .step_with(&scenario, "Resolved", json!({"defaultStatus": "RESOLVED"}))
        .await;
    let conversation = app.conversation().await;
    app.add_to(&conversation, &step).await;
    deliver_due(&app.core, loopback_transport(), 100)
        .await
        .unwrap();

    let requests = receiver.received_requests().await.unwrap();
    let bodies = |route: &str| -> Vec<Value> {
        requests
            .iter()
            .filter(|r| r.url.path() == route)
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    };
    let own: Vec<String> = bodies("/own")
        .iter()
        .map(|b| b["type"].as_str().unwrap().to_owned())
        .collect();
    for expected in [
        "conversation.created",
        "message.received",
        "conversation.step_entered",
        "conversation.status_changed",
    ] {
        assert!(own.iter().any(|t| t == expected), "{expected} in {own:?}");
    }
    let received = bodies("/own")
        .into_iter()
        .find(|b| b["type"] == "message.received")
        .unwrap();
    assert_eq!(received["data"]["text"], "hello");
    assert!(
        received["actor"]
            .as_str()
            .unwrap()
            .starts_with("api_token:"),
        "{received}"
    );
    let chatvolt: Vec<Value> = bodies("/chatvolt")
        .iter()
        .map(|b| b["eventType"].clone())
        .collect();
    assert!(
        chatvolt.contains(&json!("USER_MESSAGE_RECEIVED")),
        "{chatvolt:?}"
    );
    assert!(chatvolt.contains(&json!("STEP_ENTERED")), "{chatvolt:?}");
    let texter: Vec<Value> = bodies("/texter")
        .iter()
        .map(|b| b["eventName"].clone())
        .collect();
    assert!(texter.contains(&json!("newIncomingMessage")), "{texter:?}");
    assert!(texter.contains(&json!("chatResolved")), "{texter:?}");
}

async fn the_worker_loop_delivers_in_the_background(app: TestApp) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    subscribe(&app, &receiver.uri(), json!(["conversation.step_entered"])).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(stagecoach_worker::run(
        app.core.clone(),
        loopback_transport(),
        stagecoach_worker::WorkerSettings::default(),
        async {
            let _ = stopped.await;
        },
    ));
    enter_a_step(&app).await;
    // The loop polls every second; give it ample time on a slow machine.
    let mut waited = 0;
    while receiver.received_requests().await.unwrap().is_empty() && waited < 300 {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        waited += 1;
    }
    let _ = stop.send(());
    worker.await.unwrap();
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
}

async fn addresses_no_delivery_could_reach_are_refused_at_creation(app: TestApp) {
    for (url, address, why) in [
        ("http://10.1.2.3:8080/hook", "10.1.2.3", "private address"),
        (
            "http://169.254.169.254/latest",
            "169.254.169.254",
            "link-local",
        ),
        ("http://[fd00::1]/hook", "fd00::1", "unique local address"),
        ("http://127.0.0.2/hook", "127.0.0.2", "loopback"),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(json!({"url": url})),
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, &["url"]);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(address)
                && message.contains(why)
                && message.contains("--outbound-allow-cidrs"),
            "{message}"
        );
    }
    let (_, listed) = app.call(Method::GET, "/v1/webhook-endpoints", None).await;
    assert_eq!(listed, json!([]), "nothing was created");

    // A name is known only when it resolves: the endpoint is created, with a warning.
    let (status, created) = app
        .call(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": "https://hooks.stagecoach-test.invalid/in"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let warnings = created["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("hooks.stagecoach-test.invalid")),
        "{created}"
    );
    // Changing the address to a refused one is refused, and changes nothing.
    let id = created["id"].as_str().unwrap();
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/webhook-endpoints/{id}"),
            Some(json!({"url": "http://192.168.0.10/x", "description": "moved"})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["url"]);
    let (_, kept) = app
        .call(Method::GET, &format!("/v1/webhook-endpoints/{id}"), None)
        .await;
    assert_eq!(kept["url"], "https://hooks.stagecoach-test.invalid/in");
    assert_eq!(kept["description"], Value::Null);
    assert!(
        kept.get("warnings").is_none(),
        "warnings are for the creation answer: {kept}"
    );

    // A step's webhookUrl alike, in Chatvolt's error shape.
    let scenario = app.scenario("Sales").await;
    let (status, body) = app
        .call(
            Method::POST,
            "/crm/step",
            Some(
                json!({"name": "Hook", "scenarioId": scenario, "prompt": "x",
                        "webhookUrl": "http://10.0.0.7/step"}),
            ),
        )
        .await;
    crate::support::assert_error(status, &body, StatusCode::BAD_REQUEST, &["webhookUrl"]);
    assert!(
        body["error"].as_str().unwrap().contains("10.0.0.7"),
        "{body}"
    );
    let (_, steps) = app
        .call(
            Method::GET,
            &format!("/crm/step?scenarioId={scenario}"),
            None,
        )
        .await;
    assert_eq!(steps, json!([]));
}

async fn bulk_redelivery_requeues_what_matches(app: TestApp) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&receiver)
        .await;
    let (first, _) = subscribe(
        &app,
        &format!("{}/first", receiver.uri()),
        json!(["conversation.step_entered"]),
    )
    .await;
    let (second, _) = subscribe(
        &app,
        &format!("{}/second", receiver.uri()),
        json!(["conversation.step_entered"]),
    )
    .await;
    enter_a_step(&app).await;
    let core = quick_retries(&app, &[]);
    deliver_due(&core, loopback_transport(), 10).await.unwrap();
    for endpoint in [&first, &second] {
        assert_eq!(
            deliveries_of_endpoint(&app, endpoint).await[0]["status"],
            "failed"
        );
    }

    for (body, field) in [
        (json!({"status": "lost"}), "status"),
        (json!({"limit": 0}), "limit"),
        (json!({"endpointId": "nope"}), "endpointId"),
        (
            json!({"createdFrom": "2030-01-02T00:00:00Z", "createdBefore": "2030-01-01T00:00:00Z"}),
            "createdBefore",
        ),
    ] {
        let (status, answer) = app
            .call(Method::POST, "/v1/deliveries/redeliver", Some(body))
            .await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, &[field]);
    }
    let (_, other) = app.other_tenant().await;
    let (status, answer) = app
        .call_as(
            &other,
            Method::POST,
            "/v1/deliveries/redeliver",
            Some(json!({"endpointId": first})),
        )
        .await;
    assert_error(status, &answer, StatusCode::NOT_FOUND, &["endpointId"]);
    // Outside the period: nothing.
    let (status, answer) = app
        .call(
            Method::POST,
            "/v1/deliveries/redeliver",
            Some(json!({"createdBefore": "2001-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer, json!({"redelivered": 0, "limitReached": false}));

    let (status, answer) = app
        .call(
            Method::POST,
            "/v1/deliveries/redeliver",
            Some(json!({"endpointId": first, "status": "failed"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer, json!({"redelivered": 1, "limitReached": false}));
    assert_eq!(
        deliveries_of_endpoint(&app, &first).await[0]["status"],
        "pending"
    );
    assert_eq!(
        deliveries_of_endpoint(&app, &second).await[0]["status"],
        "failed"
    );

    // Every failed one, one at a time.
    let (_, answer) = app
        .call(
            Method::POST,
            "/v1/deliveries/redeliver",
            Some(json!({"limit": 1})),
        )
        .await;
    assert_eq!(answer, json!({"redelivered": 1, "limitReached": true}));
    assert_eq!(
        deliveries_of_endpoint(&app, &second).await[0]["status"],
        "pending"
    );
    let (_, answer) = app
        .call(Method::POST, "/v1/deliveries/redeliver", Some(json!({})))
        .await;
    assert_eq!(answer["redelivered"], 0);
}

/// A receiver that answers 200, subscribed to step entries, and one delivery for it
/// waiting to be claimed.
async fn one_delivery_waiting(app: &TestApp) -> MockServer {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    subscribe(app, &receiver.uri(), json!(["conversation.step_entered"])).await;
    enter_a_step(app).await;
    app.core.fan_out_events(10).await.unwrap();
    receiver
}

/// A second worker process on the same database, sharing the app's clock.
fn another_worker(app: &TestApp) -> Stagecoach {
    Stagecoach::new(Arc::clone(app.core.store()), app.clock.clone()).with_secret_box(secret_box())
}

async fn a_stopped_workers_deliveries_are_sent_within_seconds(app: TestApp) {
    let receiver = one_delivery_waiting(&app).await;

    // A worker claims the delivery, then its process dies with it in flight.
    let dead = another_worker(&app);
    assert_eq!(dead.claim_deliveries(10).await.unwrap().len(), 1);
    drop(dead);

    // While the dead worker's heartbeat is recent, its lease holds.
    let alive = another_worker(&app);
    let transport = loopback_transport();
    assert_eq!(alive.keep_leases().await.unwrap().released, 0);
    assert_eq!(deliver_due(&alive, transport.clone(), 10).await.unwrap(), 0);
    // Three missed beats later (not the two minutes of the lease), it is released.
    app.clock.advance(
        Duration::from_std(stagecoach_app::HEARTBEAT_TIMEOUT).unwrap() + Duration::seconds(1),
    );
    assert_eq!(alive.keep_leases().await.unwrap().released, 1);
    assert_eq!(deliver_due(&alive, transport, 10).await.unwrap(), 1);
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
}

async fn a_slow_delivery_keeps_its_lease_while_its_worker_beats(app: TestApp) {
    let receiver = one_delivery_waiting(&app).await;

    // A worker claims the delivery; its receiver takes minutes to answer, and the
    // worker keeps beating meanwhile.
    let slow = another_worker(&app);
    let claimed = slow.claim_deliveries(10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let other = another_worker(&app);
    let transport = loopback_transport();
    for _ in 0..6 {
        app.clock.advance(Duration::seconds(50));
        assert_eq!(slow.keep_leases().await.unwrap().renewed, 1);
        assert_eq!(other.keep_leases().await.unwrap().released, 0);
        assert_eq!(
            deliver_due(&other, transport.clone(), 10).await.unwrap(),
            0,
            "five minutes in, the delivery is still the slow worker's alone"
        );
    }
    assert!(receiver.received_requests().await.unwrap().is_empty());
    drop(claimed);
}
