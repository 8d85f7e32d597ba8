//! Faults and hostile input (issue 19): clients that vanish mid-request, concurrent
//! workers, input PostgreSQL cannot store.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use stagecoach_domain::engine::timeline::{Actor, Event};
use stagecoach_domain::ids::ConversationId;
use tokio::io::AsyncWriteExt;

use crate::support::{Backend, TestApp};

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
