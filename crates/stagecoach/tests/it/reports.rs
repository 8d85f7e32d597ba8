//! A scenario's reports: the native endpoints and the report page with its CSV, over the
//! same figures.

use chrono::Duration;
use reqwest::header::COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, assert_native_error};
use crate::web::{browser, get, sign_in, sign_in_scoped};

backend_tests!(
    reports_count_entries_times_and_payments_per_step,
    the_report_page_and_its_csv_show_the_same_figures,
);

/// Two steps; three conversations enter the first, two go on to the second after 10 and
/// 30 minutes, and the last one pays there. Returns the scenario and both steps.
async fn pipeline(app: &TestApp) -> (String, Value, Value) {
    let scenario = app.scenario("Reported").await;
    let first = app.step_with(&scenario, "First, then", json!({})).await;
    let second = app.step_with(&scenario, "Second", json!({})).await;
    let mut conversations = Vec::new();
    for i in 0..3 {
        let inbound = app
            .inbound_on("whatsapp", &format!("+55 11 92222-{i:04}"), "oi")
            .await;
        let conversation = inbound["conversationId"].as_str().unwrap().to_owned();
        app.add_to(&conversation, &first).await;
        conversations.push((
            conversation,
            inbound["contactId"].as_str().unwrap().to_owned(),
        ));
    }
    for (minutes, (conversation, _)) in [10, 20].into_iter().zip(&conversations) {
        app.clock.advance(Duration::minutes(minutes));
        let (status, body) = app
            .call(
                Method::POST,
                "/crm/step/move",
                Some(json!({"conversationId": conversation, "destStepId": second["id"]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let contact = &conversations[1].1;
    let (status, body) = app
        .call(
            Method::POST,
            &format!(
                "/autoupdate/v2/enterprise/{}/lead/{contact}/action",
                app.org
            ),
            Some(json!({"actions": [
                {"type": "PAYMENT", "amount": "150", "currency": "USD", "status": "COMPLETED"},
                {"type": "PAYMENT", "amount": "20.5", "currency": "USD", "status": "PENDING"}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (scenario, first, second)
}

/// The cells of a CSV line (RFC 4180 quoting).
fn csv_cells(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cells.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(String::new()),
            (c, _) => cells.last_mut().unwrap().push(c),
        }
    }
    cells
}

fn step<'a>(report: &'a Value, id: &Value) -> &'a Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stepId"] == *id)
        .unwrap()
}

async fn reports_count_entries_times_and_payments_per_step(app: TestApp) {
    let (scenario, first, second) = pipeline(&app).await;
    let (status, funnel) = app
        .call(
            Method::GET,
            &format!("/v1/reports/funnel?scenarioId={scenario}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{funnel}");
    assert_eq!(step(&funnel, &first["id"])["entered"], 3);
    assert_eq!(step(&funnel, &second["id"])["entered"], 2);
    assert_eq!(funnel["steps"][0]["name"], "First, then", "in step order");

    let (_, times) = app
        .call(
            Method::GET,
            &format!("/v1/reports/time-in-step?scenarioId={scenario}"),
            None,
        )
        .await;
    let first_times = step(&times, &first["id"]);
    assert_eq!(first_times["staysEnded"], 2);
    assert_eq!(first_times["medianSeconds"], 600.0, "10 and 30 minutes");
    assert_eq!(first_times["p90Seconds"], 1800.0);
    assert_eq!(step(&times, &second["id"])["medianSeconds"], Value::Null);

    let (_, revenue) = app
        .call(
            Method::GET,
            &format!("/v1/reports/revenue?scenarioId={scenario}"),
            None,
        )
        .await;
    assert_eq!(
        step(&revenue, &second["id"])["payments"],
        json!([
            {"status": "COMPLETED", "currency": "USD", "count": 1, "amount": "150.00"},
            {"status": "PENDING", "currency": "USD", "count": 1, "amount": "20.50"}
        ])
    );
    assert_eq!(step(&revenue, &first["id"])["payments"], json!([]));

    // A period before all of it is empty; bad periods are refused naming the field.
    let (_, empty) = app
        .call(
            Method::GET,
            &format!("/v1/reports/funnel?scenarioId={scenario}&from=2020-01-01&to=2020-01-31"),
            None,
        )
        .await;
    assert_eq!(step(&empty, &first["id"])["entered"], 0);
    assert_eq!(empty["from"], "2020-01-01T00:00:00Z");
    for (query, field) in [
        ("from=soon", "from"),
        ("from=2026-12-02&to=2026-12-01", "from"),
        ("to=2026-02-30", "to"),
    ] {
        let (status, body) = app
            .call(
                Method::GET,
                &format!("/v1/reports/funnel?scenarioId={scenario}&{query}"),
                None,
            )
            .await;
        assert_native_error(status, &body, StatusCode::BAD_REQUEST, &[field]);
    }
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/v1/reports/funnel?scenarioId={}", uuid::Uuid::now_v7()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, other) = app.other_tenant().await;
    let (status, _) = app
        .call_as(
            &other,
            Method::GET,
            &format!("/v1/reports/revenue?scenarioId={scenario}"),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another organization's scenario"
    );
}

async fn the_report_page_and_its_csv_show_the_same_figures(app: TestApp) {
    let (scenario, _, _) = pipeline(&app).await;
    let cookie = sign_in(&app, &app.token).await;
    let (status, page) = get(&app, &cookie, &format!("/ui/scenarios/{scenario}/report")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("<svg") && page.contains("Funnel"),
        "charts: {page}"
    );
    assert!(page.contains("Revenue: completed payments in USD"));
    // The table's cells, as the CSV carries them.
    let table = page
        .split("<tbody>")
        .nth(1)
        .unwrap()
        .split("</tbody>")
        .next()
        .unwrap();
    let rows: Vec<Vec<String>> = table
        .split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("data-value=\"")
                .skip(1)
                .map(|cell| cell.split('"').next().unwrap().to_owned())
                .collect()
        })
        .collect();
    let response = browser()
        .get(format!("{}/ui/scenarios/{scenario}/report.csv", app.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = response.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "Step,Entered,Stays ended,Median time (s),90th percentile (s),COMPLETED USD,PENDING USD"
    );
    assert_eq!(
        lines.next().unwrap(),
        "\"First, then\",3,2,600.000,1800.000,,",
        "a comma in a name is quoted"
    );
    let csv_rows: Vec<Vec<String>> = csv.lines().skip(1).map(csv_cells).collect();
    assert_eq!(csv_rows, rows, "the CSV holds the table's figures");

    // A reader of scenarios without leads:read sees no report (it shows revenue).
    let reader = sign_in_scoped(&app, "reader", &["scenarios:read"]).await;
    let (status, _) = get(&app, &reader, &format!("/ui/scenarios/{scenario}/report")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
