//! Faults and hostile input (issue 19): clients that vanish mid-request, concurrent
//! workers, input PostgreSQL cannot store.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stagecoach_domain::engine::timeline::{Actor, Event};
use stagecoach_domain::enums::TokenType;
use stagecoach_domain::ids::ConversationId;
use tokio::io::AsyncWriteExt;

use stagecoach_api::rate_limit::RateLimitSettings;

use crate::support::{Backend, TestApp, assert_error, assert_native_error};

/// Runs the futures as tasks at once and answers their outputs in order.
async fn join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.expect("task panicked"));
    }
    outputs
}

backend_tests!(
    a_transaction_start_cut_short_leaves_no_transaction_open,
    clients_that_reset_mid_request_break_no_later_request,
    nul_characters_are_refused_naming_the_field_in_every_dialect,
    provider_notifications_are_taken_without_their_nul_characters,
    identifiers_longer_than_the_limit_are_refused,
    a_contact_needs_something_to_tell_it_apart,
    step_webhook_headers_are_shown_only_to_those_who_may_change_the_step,
    step_webhook_headers_are_stored_encrypted,
    callers_beyond_their_rate_limit_get_429_with_retry_after,
);

/// A caller that goes away while its transaction is being opened (a client reset drops
/// the request's future) must not leave the pooled connection inside that transaction:
/// the next borrower's writes would run in it, and a read-only one refuses them.
async fn a_transaction_start_cut_short_leaves_no_transaction_open(app: TestApp) {
    let conversation: ConversationId = ConversationId(app.conversation().await.parse().unwrap());
    let store = app.core.store();
    let mut rounds = 0;
    for micros in (0..1500).step_by(30) {
        // Dropped after a moment: some are cut short inside `BEGIN`'s round trip.
        let moment = Duration::from_micros(micros);
        let _ = tokio::time::timeout(moment, store.begin_read()).await;
        // As many writers at once as the pool has connections, so that one of them
        // borrows the connection the dropped caller held. (SQLite has one writer: there
        // they take turns, which is as good a check.)
        let writers = (0..10).map(|i| {
            let store = store.clone();
            let org = app.org;
            async move {
                let mut tx = store.begin_write().await?;
                let event = Event::EffectSkipped {
                    effect: "hardening",
                    reason: format!("writer {micros}/{i}"),
                };
                tx.append_event(
                    org,
                    conversation,
                    &event,
                    &Actor::timer(),
                    chrono::Utc::now(),
                )
                .await?;
                tx.commit().await
            }
        });
        for (i, written) in join_all(writers).await.into_iter().enumerate() {
            written.unwrap_or_else(|error| panic!("writer {i} after {micros} µs: {error}"));
        }
        rounds += 1;
    }
    let timeline = app.timeline_of(&conversation.to_string()).await;
    let written = timeline
        .iter()
        .filter(|entry| entry.to_string().contains("writer "))
        .count();
    assert_eq!(written, rounds * 10);
}

/// Hundreds of requests whose clients reset the connection a few milliseconds after
/// sending; every request after them is answered as usual.
async fn clients_that_reset_mid_request_break_no_later_request(app: TestApp) {
    let address = app.base.trim_start_matches("http://").to_owned();
    let resetters = (0..4).map(|lane| {
        let (address, token) = (address.clone(), app.token.clone());
        async move {
            for i in 0..75u64 {
                let body = json!({"name": format!("Reset {lane}-{i}")}).to_string();
                let request = format!(
                    "POST /crm/scenario HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
                     Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
                stream.write_all(request.as_bytes()).await.unwrap();
                tokio::time::sleep(Duration::from_micros((i * 397 + lane * 1009) % 4000)).await;
                // An abortive close: the server sees a reset, not an orderly end.
                stream.set_zero_linger().unwrap();
                drop(stream);
            }
        }
    });
    join_all(resetters).await;

    let writes = (0..40).map(|i| {
        let app = app.clone();
        async move {
            app.call(
                Method::POST,
                "/crm/scenario",
                Some(json!({"name": format!("After {i}")})),
            )
            .await
        }
    });
    for (status, body) in join_all(writes).await {
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, listed) = app.call(Method::GET, "/crm/scenario", None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let after = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"].as_str().unwrap().starts_with("After "))
        .count();
    assert_eq!(after, 40);
}

/// A conversation locked by one transaction (a step entry) does not block another from
/// inserting a row that references it (a delivery fanned out for it): blocking there is
/// half of the deadlock two workers met. PostgreSQL only: SQLite has one writer at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_conversation_does_not_block_rows_that_reference_it() {
    let Some(app) = TestApp::start(Backend::Postgres).await else {
        return;
    };
    let conversation: ConversationId = ConversationId(app.conversation().await.parse().unwrap());
    let store = app.core.store();
    let mut locker = store.begin_write().await.unwrap();
    assert!(
        locker
            .lock_conversation(app.org, conversation)
            .await
            .unwrap()
            .is_some()
    );
    let mut referrer = store.begin_write().await.unwrap();
    let event = Event::EffectSkipped {
        effect: "hardening",
        reason: "referrer".to_owned(),
    };
    let inserted = tokio::time::timeout(
        Duration::from_secs(5),
        referrer.append_event(
            app.org,
            conversation,
            &event,
            &Actor::timer(),
            chrono::Utc::now(),
        ),
    )
    .await;
    assert!(
        matches!(inserted, Ok(Ok(()))),
        "the insert waited for the lock: {inserted:?}"
    );
    referrer.commit().await.unwrap();
    locker.commit().await.unwrap();
    app.cleanup().await;
}

/// U+0000 cannot be stored in PostgreSQL text, so both engines refuse it at every door:
/// 400 in the dialect's shape, naming the field, and nothing written.
async fn nul_characters_are_refused_naming_the_field_in_every_dialect(app: TestApp) {
    // Chatvolt: a body field, a nested one, a query parameter, a path parameter.
    let (status, body) = app
        .call(
            Method::POST,
            "/crm/scenario",
            Some(json!({"name": "Vendas\u{0}"})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["name"]);
    let (_, scenarios) = app.call(Method::GET, "/crm/scenario", None).await;
    assert_eq!(scenarios, json!([]), "nothing was created");
    let scenario = app.scenario("Funnel").await;
    let (status, body) = app
        .call(
            Method::POST,
            "/crm/step",
            Some(
                json!({"scenarioId": scenario, "name": "Qualify", "tagsToAdd": ["ok", "b\u{0}d"]}),
            ),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["tagsToAdd[1]"]);
    let (status, body) = app.call(Method::GET, "/contacts?search=ana%00", None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["search"]);
    let (status, body) = app
        .call(
            Method::POST,
            "/conversation/message/phone/55119%0087",
            Some(json!({"message": "oi"})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["value"]);

    // Native: an inbound message's text.
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/messages/inbound",
            Some(json!({"channel": "website", "from": "visitor-nul", "text": "hi\u{0}"})),
        )
        .await;
    assert_native_error(status, &body, StatusCode::BAD_REQUEST, &["text"]);
    let (_, found) = app
        .call(Method::GET, "/contacts?search=visitor-nul", None)
        .await;
    assert_eq!(
        found["contacts"],
        json!([]),
        "no contact was created: {found}"
    );

    // Texter: a label's name, and a chat id in the path.
    let (status, body) = app
        .call(
            Method::POST,
            "/server/api/v2/labels",
            Some(json!({"name": "V\u{0}IP"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("name"), "{body}");
    let (status, body) = app
        .call(Method::GET, "/server/api/v2/chats/%00", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("chatId"), "{body}");

    // TeleCRM's async door refuses it up front instead of queueing a write that would fail.
    let async_token = app
        .core
        .create_token(app.org, "ingest", None, TokenType::Async)
        .await
        .unwrap()
        .secret;
    let (status, body) = app
        .call_as(
            &async_token,
            Method::POST,
            &format!("/enterprise/{}/autoupdatelead", app.org),
            Some(json!({"fields": {"phone": "919000000077", "name": "As\u{0}ha"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("fields.name"), "{body}");
    assert_eq!(app.core.process_queued_lead_writes(10).await.unwrap(), 0);
}

/// A connected Z-API channel whose webhook token is `zap-secret`.
async fn zapi_channel(app: &TestApp) -> Value {
    let (status, channel) = app
        .call(
            Method::POST,
            "/v1/channels",
            Some(json!({"kind": "zapi", "name": "Z", "accountId": format!("I{}", crate::support::uuid_simple()),
                   "instanceToken": "t", "clientToken": "c", "webhookToken": "zap-secret"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    channel
}

/// A provider is not refused for a NUL (it would only retry): the message is taken with
/// the character removed.
async fn provider_notifications_are_taken_without_their_nul_characters(app: TestApp) {
    let channel = zapi_channel(&app).await;
    let hook = format!(
        "{}{}?token=zap-secret",
        app.base,
        channel["webhookPath"].as_str().unwrap()
    );
    let callback = json!({"type": "ReceivedCallback", "phone": "55119777\u{0}76666", "fromMe": false,
        "isGroup": false, "messageId": "3EB0\u{0}1", "senderName": "Ca\u{0}rla",
        "text": {"message": "Tem hor\u{0}ário?"}});
    let answer = app.client.post(&hook).json(&callback).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!({"received": 1, "statuses": 0, "ignored": 0})
    );
    let (_, found) = app
        .call(Method::GET, "/contacts?search=5511977776666", None)
        .await;
    let contact = &found["contacts"][0];
    assert_eq!(contact["firstName"], "Carla", "{found}");
    let (_, conversations) = app.call(Method::GET, "/conversation", None).await;
    let conversation = conversations[0]["id"].as_str().unwrap();
    let (_, messages) = app
        .call(
            Method::GET,
            &format!("/conversation/{conversation}/messages/10"),
            None,
        )
        .await;
    assert_eq!(
        messages["messages"][0]["text"], "Tem horário?",
        "{messages}"
    );
}

/// Identifier-like fields are bounded (255 characters) the same on both engines; past
/// that PostgreSQL's index entries would overflow.
async fn identifiers_longer_than_the_limit_are_refused(app: TestApp) {
    let huge = "x".repeat(900_000);
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/messages/inbound",
            Some(json!({"channel": "website", "from": "visitor-long", "text": "hi", "externalId": huge})),
        )
        .await;
    assert_native_error(status, &body, StatusCode::BAD_REQUEST, &["externalId"]);
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/channels",
            Some(json!({"kind": "zapi", "name": "Z", "accountId": huge,
                   "instanceToken": "t", "clientToken": "c", "webhookToken": "w"})),
        )
        .await;
    assert_native_error(status, &body, StatusCode::BAD_REQUEST, &["accountId"]);
    let (status, body) = app
        .call(
            Method::POST,
            "/contacts",
            Some(json!({"firstName": "Ana", "externalId": "e".repeat(256)})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["externalId"]);
    let (status, body) = app
        .call(
            Method::POST,
            "/contacts",
            Some(json!({"email": format!("{}@example.com", "a".repeat(250))})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["email"]);
    let (_, contacts) = app.call(Method::GET, "/contacts", None).await;
    assert_eq!(
        contacts["contacts"],
        json!([]),
        "nothing was written: {contacts}"
    );
    // At the limit, taken.
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/messages/inbound",
            Some(json!({"channel": "website", "from": "f".repeat(255), "text": "hi", "externalId": "x".repeat(255)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn a_contact_needs_something_to_tell_it_apart(app: TestApp) {
    for blank in [json!({}), json!({"firstName": "  ", "metadata": {"a": 1}})] {
        let (status, body) = app.call(Method::POST, "/contacts", Some(blank)).await;
        assert_error(
            status,
            &body,
            StatusCode::BAD_REQUEST,
            &["phoneNumber", "email", "externalId", "firstName"],
        );
    }
    let (_, contacts) = app.call(Method::GET, "/contacts", None).await;
    assert_eq!(contacts["contacts"], json!([]), "{contacts}");
    let (status, ana) = app
        .call(Method::POST, "/contacts", Some(json!({"firstName": "Ana"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{ana}");
    // Nor may an update take the last of it away.
    let (status, body) = app
        .call(
            Method::POST,
            "/contacts",
            Some(json!({"id": ana["id"], "firstName": null})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["firstName"]);
}

/// A scenario with a step whose webhook sends `X-Key: s3cret`; its id and the step.
async fn step_with_a_secret_header(app: &TestApp) -> (String, Value) {
    let scenario = app.scenario("Hooks").await;
    let step = app
        .step_with(
            &scenario,
            "Notify",
            json!({"webhookUrl": "https://hooks.example.com/in", "webhookHeader": {"X-Key": "s3cret"}}),
        )
        .await;
    (scenario, step)
}

/// A step's webhook headers carry the receiver's secret: a token that may only read
/// scenarios sees their names, not their values.
async fn step_webhook_headers_are_shown_only_to_those_who_may_change_the_step(app: TestApp) {
    let (scenario, step) = step_with_a_secret_header(&app).await;
    let reader = app
        .core
        .create_token(
            app.org,
            "reader",
            Some(vec!["scenarios:read".to_owned()]),
            TokenType::Sync,
        )
        .await
        .unwrap()
        .secret;
    let listed = |token: String| {
        let app = app.clone();
        let scenario = scenario.clone();
        async move {
            let (status, steps) = app
                .call_as(
                    &token,
                    Method::GET,
                    &format!("/crm/step?scenarioId={scenario}"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{steps}");
            steps[0]["webhookHeader"].clone()
        }
    };
    assert_eq!(listed(app.token.clone()).await, json!({"X-Key": "s3cret"}));
    assert_eq!(listed(reader.clone()).await, json!({"X-Key": "********"}));
    assert!(
        step.to_string().contains("s3cret"),
        "the writer's own answer: {step}"
    );
}

/// A copy of the database alone reveals no step's webhook headers; headers stored before
/// they were encrypted are read as they are and encrypted at the next start.
async fn step_webhook_headers_are_stored_encrypted(app: TestApp) {
    let (scenario, _) = step_with_a_secret_header(&app).await;
    let stored = "SELECT webhook_header FROM steps WHERE webhook_header IS NOT NULL";
    let raw = app.db.raw_sql(stored).await.unwrap();
    assert!(raw.starts_with("v1:") && !raw.contains("s3cret"), "{raw}");
    let path = format!("/crm/step?scenarioId={scenario}");
    let header_of = |app: TestApp| {
        let path = path.clone();
        async move {
            let (_, steps) = app.call(Method::GET, &path, None).await;
            steps[0]["webhookHeader"].clone()
        }
    };
    assert_eq!(header_of(app.clone()).await, json!({"X-Key": "s3cret"}));

    // As a deployment from before the encryption holds it.
    app.db
        .raw_sql(r#"UPDATE steps SET webhook_header = '{"X-Key":"old"}'"#)
        .await;
    assert_eq!(header_of(app.clone()).await, json!({"X-Key": "old"}));
    assert_eq!(app.core.seal_plain_secrets().await.unwrap(), 1);
    let raw = app.db.raw_sql(stored).await.unwrap();
    assert!(raw.starts_with("v1:") && !raw.contains("old"), "{raw}");
    assert_eq!(header_of(app.clone()).await, json!({"X-Key": "old"}));
    assert_eq!(
        app.core.seal_plain_secrets().await.unwrap(),
        0,
        "nothing left to seal"
    );
}

/// Limits per token, per organization and per channel; 429 in the dialect's shape with
/// `Retry-After`; health checks never limited.
async fn callers_beyond_their_rate_limit_get_429_with_retry_after(app: TestApp) {
    let channel = zapi_channel(&app).await;
    let limited = app
        .limited(RateLimitSettings {
            per_token: Some("3/min".parse().unwrap()),
            per_organization: Some("5/min".parse().unwrap()),
            per_channel: Some("2/min".parse().unwrap()),
        })
        .await;
    for _ in 0..3 {
        let (status, body) = limited.call(Method::GET, "/crm/scenario", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let refused = limited
        .request(Method::GET, "/crm/scenario")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    let body: Value = refused.json().await.unwrap();
    assert_error(
        StatusCode::TOO_MANY_REQUESTS,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        &[],
    );
    assert_eq!(body["code"], "RATE_LIMITED", "{body}");

    // Another token of the organization has its own token limit, but shares the
    // organization's: two more requests, then Texter's shape of the refusal.
    let other = app
        .core
        .create_token(app.org, "second", None, TokenType::Sync)
        .await
        .unwrap()
        .secret;
    for _ in 0..2 {
        let (status, body) = limited
            .call_as(&other, Method::GET, "/server/api/v2/labels", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = limited
        .call_as(&other, Method::GET, "/server/api/v2/labels", None)
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "RATE_LIMITED", "{body}");

    // Health checks are never limited.
    for _ in 0..10 {
        let health = limited
            .client
            .get(format!("{}/healthz", limited.base))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), StatusCode::OK);
    }

    // A provider's webhook has its channel's own limit.
    let hook = format!(
        "{}{}?token=zap-secret",
        limited.base,
        channel["webhookPath"].as_str().unwrap()
    );
    let callback = json!({"phone": "5511977776666", "fromMe": false, "text": {"message": "oi"}});
    for _ in 0..2 {
        let answer = limited
            .client
            .post(&hook)
            .json(&callback)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
    }
    let answer = limited
        .client
        .post(&hook)
        .json(&callback)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(answer.headers().contains_key("retry-after"));
    limited.stop().await;
}

/// Two workers on one PostgreSQL database firing auto-advances (which lock conversations
/// as they enter steps) and fanning their events out to a subscriber (which inserts
/// deliveries that reference those conversations) at the same time: no pass fails, no
/// deadlock, and every timer fires once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_firing_timers_and_fanning_out_never_deadlock() {
    let Some(app) = TestApp::start(Backend::Postgres).await else {
        return;
    };
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": "http://127.0.0.1:9/hook", "eventTypes": ["conversation.step_entered"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let scenario = app.scenario("Timers").await;
    let first = app.step(&scenario, "Waiting").await;
    let later = app.step(&scenario, "Later").await;
    let (status, body) = app
        .call(
            Method::PUT,
            "/crm/step",
            Some(json!({"id": first["id"], "autoNextStepId": later["id"], "autoNextTime": 1, "autoNextTimeUnit": "m"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    const CONVERSATIONS: usize = 60;
    for _ in 0..CONVERSATIONS {
        let conversation = app.conversation().await;
        let (status, body) = app.add_to(&conversation, &first).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    app.clock.advance(chrono::Duration::minutes(2));

    let mut workers = Vec::new();
    for _ in 0..2 {
        let store = stagecoach_storage::connect(&app.db.url).await.unwrap();
        workers.push(
            stagecoach_app::Stagecoach::new(store, app.clock.clone())
                .with_secret_box(crate::support::secret_box()),
        );
    }
    let work = |core: stagecoach_app::Stagecoach| async move {
        let (mut fired, mut passes) = (0, 0);
        loop {
            // Small batches, interleaved, so that the two kinds of pass overlap often.
            let advanced = core.run_due_auto_advances(3).await.expect("a timer pass");
            let fanned = core.fan_out_events(3).await.expect("a fan-out pass");
            fired += advanced;
            passes += 1;
            if (advanced == 0 && fanned == 0) || passes > 500 {
                return fired;
            }
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(work(workers[0].clone())),
        tokio::spawn(work(workers[1].clone()))
    );
    assert_eq!(
        a.unwrap() + b.unwrap(),
        CONVERSATIONS,
        "every timer fired once"
    );
    for worker in &workers {
        worker.store().close().await;
    }
    app.cleanup().await;
}
