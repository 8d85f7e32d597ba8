use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestApp;

backend_tests!(
    health_checks_need_no_token,
    unknown_routes_answer_404_in_the_dialect_shape
);

async fn health_checks_need_no_token(app: TestApp) {
    for (path, body) in [
        ("/healthz", json!({"status": "ok"})),
        ("/readyz", json!({"status": "ready"})),
    ] {
        let response = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert!(response.headers().contains_key("x-request-id"));
        let (status, answer) = crate::support::read(response).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer, body);
    }
    let response = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    let (status, doc) = crate::support::read(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        doc,
        serde_json::to_value(stagecoach_api::openapi::document()).unwrap()
    );

    app.core.store().close().await;
    let response = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

async fn unknown_routes_answer_404_in_the_dialect_shape(app: TestApp) {
    let (status, body) = app
        .call(reqwest::Method::GET, "/crm/nothing-here", None)
        .await;
    crate::support::assert_error(status, &body, StatusCode::NOT_FOUND, &[]);
}
