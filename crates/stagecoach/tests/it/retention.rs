//! Retention: the worker prunes outbox rows (and their delivery attempts) that were done
//! or failed longer ago than the retention, a batch at a time, and never work that is
//! still pending. Time moves on the app's manual clock.

use std::time::Duration as StdDuration;

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stagecoach_app::DeliverySettings;
use stagecoach_domain::ids::OutboxId;
use stagecoach_worker::deliver_due;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{TestApp, loopback_transport};

backend_tests!(retention_prunes_what_settled_long_ago_and_keeps_pending_work);

const RETENTION: StdDuration = StdDuration::from_secs(30 * 24 * 60 * 60);

async fn subscribe(app: &TestApp, url: String) -> String {
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": url, "eventTypes": ["conversation.step_entered"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// A conversation entered into a fresh step; returns the conversation id.
async fn enter_a_step(app: &TestApp, scenario: &str) -> String {
    let scenario = app.scenario(scenario).await;
    let step = app.step(&scenario, "New").await;
    let conversation = app.conversation().await;
    let (status, body) = app.add_to(&conversation, &step).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    conversation
}

/// The conversation's outbox as (id, kind, status), oldest first.
async fn outbox(app: &TestApp, conversation: &str) -> Vec<(String, String, String)> {
    app.outbox_of(conversation)
        .await
        .iter()
        .map(|row| {
            let text = |field: &str| row[field].as_str().unwrap().to_owned();
            (text("id"), text("kind"), text("status"))
        })
        .collect()
}

/// The conversation's delivery to an endpoint (there is one per endpoint and step entry).
async fn delivery_to(app: &TestApp, conversation: &str, endpoint: &str) -> Value {
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/v1/deliveries?conversationId={conversation}&endpointId={endpoint}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list = body.as_array().unwrap();
    assert_eq!(list.len(), 1, "{body}");
    list[0].clone()
}

async fn delivery_status(app: &TestApp, id: &str) -> StatusCode {
    app.call(Method::GET, &format!("/v1/deliveries/{id}"), None)
        .await
        .0
}

async fn attempts_of(app: &TestApp, id: &str) -> usize {
    let mut tx = app.core.store().begin_read().await.unwrap();
    tx.list_attempts(app.org, OutboxId::parse(id).unwrap())
        .await
        .unwrap()
        .len()
}

async fn retention_prunes_what_settled_long_ago_and_keeps_pending_work(app: TestApp) {
    let receiver = MockServer::start().await;
    for (route, status) in [("/ok", 200), ("/retry", 500), ("/off", 200)] {
        Mock::given(method("POST"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(status))
            .mount(&receiver)
            .await;
    }
    let ok = subscribe(&app, format!("{}/ok", receiver.uri())).await;
    let retry = subscribe(&app, format!("{}/retry", receiver.uri())).await;
    let off = subscribe(&app, format!("{}/off", receiver.uri())).await;
    // A failed attempt is retried in 40 days (±20%): still pending after 31.
    let core = app.core.clone().with_delivery_settings(DeliverySettings {
        schedule: vec![StdDuration::from_secs(40 * 24 * 60 * 60)],
        ..DeliverySettings::default()
    });

    // Long ago: one delivery done, one waiting for its retry, one failed for good (its
    // endpoint was disabled between the fan-out and the attempt).
    let old = enter_a_step(&app, "Long ago").await;
    core.fan_out_events(100).await.unwrap();
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/webhook-endpoints/{off}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        deliver_due(&core, loopback_transport(), 50).await.unwrap(),
        1
    );
    let old_done = delivery_to(&app, &old, &ok).await;
    let old_retrying = delivery_to(&app, &old, &retry).await;
    let old_failed = delivery_to(&app, &old, &off).await;
    assert_eq!(old_done["status"], "done");
    assert_eq!(old_retrying["status"], "pending");
    assert_eq!(old_failed["status"], "failed");
    let old_done = old_done["id"].as_str().unwrap().to_owned();
    let old_retrying = old_retrying["id"].as_str().unwrap().to_owned();
    let old_failed = old_failed["id"].as_str().unwrap().to_owned();
    assert_eq!(attempts_of(&app, &old_done).await, 1);
    let old_rows = outbox(&app, &old).await;
    assert!(
        old_rows.iter().any(|(_, kind, _)| kind == "event"),
        "{old_rows:?}"
    );

    // A month later, recent work of every kind.
    app.clock.advance(Duration::days(31));
    let recent = enter_a_step(&app, "Recent").await;
    assert_eq!(
        deliver_due(&core, loopback_transport(), 50).await.unwrap(),
        1
    );
    let recent_done = delivery_to(&app, &recent, &ok).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let recent_rows = outbox(&app, &recent).await;
    assert!(
        recent_rows.iter().any(|(_, _, status)| status == "pending"),
        "{recent_rows:?}"
    );

    // Two rows a statement, until a statement finds nothing left.
    let mut pruned = 0;
    loop {
        let batch = app.core.prune_settled_outbox(RETENTION, 2).await.unwrap();
        assert!(batch <= 2, "a batch is bounded: {batch}");
        pruned += batch;
        if batch == 0 {
            break;
        }
    }
    let old_settled = old_rows.iter().filter(|(_, _, s)| s != "pending").count() as u64;
    assert!(
        pruned >= old_settled,
        "pruned {pruned} of {old_settled}: {old_rows:?}"
    );

    // Of the old conversation only the delivery still retrying is left, with its attempt.
    let left = outbox(&app, &old).await;
    assert_eq!(
        left,
        vec![(old_retrying.clone(), "webhook".into(), "pending".into())]
    );
    assert_eq!(attempts_of(&app, &old_retrying).await, 1);
    for gone in [&old_done, &old_failed] {
        assert_eq!(delivery_status(&app, gone).await, StatusCode::NOT_FOUND);
        assert_eq!(attempts_of(&app, gone).await, 0, "attempts go with it");
    }
    // Everything recent stays as it was.
    assert_eq!(outbox(&app, &recent).await, recent_rows);
    assert_eq!(attempts_of(&app, &recent_done).await, 1);

    // The worker's pass finds nothing more; once the recent rows are old, it takes them
    // too, and still leaves the pending ones.
    assert_eq!(
        stagecoach_worker::prune_expired(&app.core, RETENTION)
            .await
            .unwrap(),
        0
    );
    app.clock.advance(Duration::days(31));
    assert!(
        stagecoach_worker::prune_expired(&app.core, RETENTION)
            .await
            .unwrap()
            > 0
    );
    let recent_left = outbox(&app, &recent).await;
    assert!(
        !recent_left.is_empty() && recent_left.iter().all(|(_, _, s)| s == "pending"),
        "{recent_left:?}"
    );
    assert_eq!(
        outbox(&app, &old).await,
        vec![(old_retrying, "webhook".into(), "pending".into())]
    );
}
