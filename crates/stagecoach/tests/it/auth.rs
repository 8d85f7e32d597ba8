use reqwest::{Method, StatusCode};
use stagecoach_domain::enums::TokenType;

use crate::support::{TestApp, assert_error};

backend_tests!(
    requests_without_a_valid_token_get_401,
    tokens_are_stored_only_as_hashes,
    bootstrap_happens_once
);

async fn requests_without_a_valid_token_get_401(app: TestApp) {
    let url = format!("{}/crm/scenario", app.base);
    let no_header = app.client.get(&url).send().await.unwrap();
    let (status, body) = crate::support::read(no_header).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, &[]);
    let basic = app
        .client
        .get(&url)
        .header("authorization", format!("Basic {}", app.token))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    for bad in [
        "garbage",
        "sc_",
        "sc_0000000000000000000000000000000000000000",
    ] {
        let (status, body) = app.call_as(bad, Method::GET, "/crm/scenario", None).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, &[]);
    }

    let revoked = app
        .core
        .create_token(app.org, "short-lived", None, TokenType::Sync)
        .await
        .unwrap();
    let (status, _) = app
        .call_as(&revoked.secret, Method::GET, "/crm/scenario", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    app.core.revoke_token(revoked.token.id).await.unwrap();
    let (status, body) = app
        .call_as(&revoked.secret, Method::GET, "/crm/scenario", None)
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, &[]);

    let ingest_only = app
        .core
        .create_token(app.org, "ingest", None, TokenType::Async)
        .await
        .unwrap();
    let (status, body) = app
        .call_as(&ingest_only.secret, Method::GET, "/crm/scenario", None)
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, &[]);
    let (status, body) = app
        .call_as(
            &ingest_only.secret,
            Method::POST,
            "/agents",
            Some(serde_json::json!({"name": "x"})),
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, &[]);
}

async fn tokens_are_stored_only_as_hashes(app: TestApp) {
    let (status, _) = app.call(Method::GET, "/crm/scenario", None).await;
    assert_eq!(status, StatusCode::OK);
    let rows: Vec<(String, String, Option<i64>)> = match app.db.backend {
        crate::support::Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
            sqlx::query_as("SELECT token_hash, display_prefix, last_used_at FROM api_tokens")
                .fetch_all(&pool)
                .await
                .unwrap()
        }
        crate::support::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
            sqlx::query_as("SELECT token_hash, display_prefix, last_used_at FROM api_tokens")
                .fetch_all(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(rows.len(), 1);
    let (hash, prefix, last_used) = &rows[0];
    assert_ne!(hash, &app.token);
    assert!(
        !hash.contains(&app.token[3..]),
        "the secret must not be stored"
    );
    assert_eq!(hash.len(), 64);
    assert!(app.token.starts_with(prefix.as_str()) && prefix.len() < 12);
    assert!(
        last_used.is_some(),
        "a used token records when it was last used"
    );
}

async fn bootstrap_happens_once(app: TestApp) {
    // The harness already created an organization, so this database is not empty.
    assert!(app.core.bootstrap_if_empty().await.unwrap().is_none());

    // On an empty database, two servers starting together bootstrap exactly once.
    let db = crate::support::TestDatabase::create(app.db.backend)
        .await
        .unwrap();
    let mut cores = Vec::new();
    for _ in 0..2 {
        let store = stagecoach_storage::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        cores.push(stagecoach_app::Stagecoach::new(
            store,
            std::sync::Arc::new(stagecoach_app::SystemClock),
        ));
    }
    let (a, b) = tokio::join!(cores[0].bootstrap_if_empty(), cores[1].bootstrap_if_empty());
    let made: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(made.len(), 1, "exactly one bootstrap");
    let principal = cores[1].authenticate(&made[0].token.secret).await.unwrap();
    assert_eq!(principal.organization_id, made[0].organization.id);
    for core in &cores {
        core.store().close().await;
    }
    db.drop_schema().await;
}
