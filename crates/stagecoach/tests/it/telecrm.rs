//! TeleCRM's lead API over Stagecoach's contacts.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stagecoach_domain::enums::TokenType;

use crate::support::TestApp;

backend_tests!(
    seed_002_examples_and_responses_byte_for_byte,
    payment_money_never_changes,
    leads_are_created_with_remarks_and_read_back,
    lead_updates_refuse_the_identifier_and_bad_values,
    lead_search_filters_fields_dates_and_actions,
    actions_are_created_in_request_order_and_scored,
    payment_totals_per_status_currency_and_step,
    token_types_and_the_async_api,
    enterprises_and_leads_of_others_are_not_found,
    team_members_and_metadata,
    every_refusal_names_its_field,
    amounts_are_written_with_their_currency_s_decimals,
);

fn base(app: &TestApp) -> String {
    format!("/autoupdate/v2/enterprise/{}", app.org)
}

/// Lead settings with custom action 1001 (a note) and a custom dropdown field.
async fn configure(app: &TestApp) {
    let (status, body) = app
        .call(Method::PUT, "/v1/lead-settings", Some(json!({
            "identifier": "phone",
            "customFields": [{"apiName": "city", "type": "DROPDOWN", "options": ["Delhi"]}, {"apiName": "budget", "type": "NUMBER"}],
            "pipeline": [
                {"stageType": "OPEN", "statuses": [{"label": "Fresh"}, {"label": "Contacted"}]},
                {"stageType": "WON", "statuses": [{"label": "Won"}]},
                {"stageType": "LOST", "statuses": [{"label": "Lost"}]}
            ],
            "lostReasons": ["Budget"],
            "actionTypes": [{"code": 1001, "displayName": "Follow-up", "score": 5, "fields": [{"apiName": "note", "type": "TEXT"}, {"apiName": "when", "type": "DATE"}]}]
        })))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn lead(app: &TestApp, fields: Value) -> String {
    let (status, body) = app
        .call(
            Method::POST,
            &format!("{}/lead", base(app)),
            Some(json!({"fields": fields})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["lead_id"].as_str().unwrap().to_owned()
}

async fn actions(app: &TestApp, lead: &str, actions: Value) -> Value {
    let (status, body) = app
        .call(
            Method::POST,
            &format!("{}/lead/{lead}/action", base(app)),
            Some(json!({"actions": actions})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Sends a raw body and returns the status and the exact answer text.
async fn raw(app: &TestApp, path: &str, body: &str) -> (StatusCode, String) {
    let response = app
        .request(Method::POST, path)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn seed_002_examples_and_responses_byte_for_byte(app: TestApp) {
    configure(&app).await;
    let lead = lead(&app, json!({"phone": "919999999999", "name": "Asha"})).await;
    let created = actions(
        &app,
        &lead,
        json!([
            {"type": "1001", "fields": {"note": "Call back"}},
            {"type": "PAYMENT", "amount": "5000", "currency": "INR", "status": "PENDING"}
        ]),
    )
    .await;
    let custom = created["actions"][0]["action_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let payment = created["actions"][1]["action_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = |action: &str| format!("{}/lead/{lead}/action/{action}", base(&app));

    // Example request 1: update a custom action's note.
    let (status, text) = raw(
        &app,
        &path(&custom),
        r#"{"type": "1001", "fields": {"note": "Follow-up completed"}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        text,
        r#"{"type":"1001","fields":{"note":"Follow-up completed"}}"#
    );

    // Example request 2: mark a payment as completed; the documented 200 body.
    let (status, text) = raw(
        &app,
        &path(&payment),
        r#"{"type": "PAYMENT", "status": "COMPLETED"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        text,
        r#"{"type":"PAYMENT","status":"COMPLETED","currency":"INR","amount":"5000.00"}"#
    );

    // The documented 400.
    let (status, text) = raw(
        &app,
        &path(&payment),
        r#"{"type": "PAYMENT", "amount": "6000"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        text,
        r#"{"error":{"code":"BAD_REQUEST","message":"Cannot update amount, currency, or paymentid fields for existing payment action."}}"#
    );

    // The documented 404.
    let (status, text) = raw(
        &app,
        &path("62ab16e"),
        r#"{"type": "PAYMENT", "status": "COMPLETED"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        text,
        r#"{"error":{"code":"ACTION_NOT_FOUND","message":"Action with ID 62ab16e was not found in the lead."}}"#
    );

    // GET answers the full current state too.
    let (_, custom_state) = app.call(Method::GET, &path(&custom), None).await;
    assert_eq!(
        custom_state,
        json!({"type": "1001", "fields": {"note": "Follow-up completed"}})
    );

    // The type must match; fields are checked against the type's schema.
    for (body, message) in [
        (
            json!({"type": "PAYMENT", "status": "COMPLETED"}),
            "must match",
        ),
        (
            json!({"type": "1001", "fields": {"note": 5}}),
            "fields.note",
        ),
        (
            json!({"type": "1001", "fields": {"nope": "x"}}),
            "fields.nope",
        ),
        (
            json!({"type": "1001", "fields": {"when": "2026-01-01"}}),
            "fields.when",
        ),
    ] {
        let (status, answer) = app.call(Method::POST, &path(&custom), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["code"], "BAD_REQUEST");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(message),
            "{answer}"
        );
    }
    let (status, answer) = app
        .call(
            Method::POST,
            &path(&payment),
            Some(json!({"type": "PAYMENT", "status": "PAID"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    // An action of another lead is not found in this one.
    let other = self::lead(&app, json!({"phone": "918888888888"})).await;
    let (status, answer) = app
        .call(
            Method::GET,
            &format!("{}/lead/{other}/action/{custom}", base(&app)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer["error"]["message"],
        format!("Action with ID {custom} was not found in the lead.")
    );
}

async fn payment_money_never_changes(app: TestApp) {
    configure(&app).await;
    let lead = lead(&app, json!({"phone": "919000000001"})).await;
    let created = actions(&app, &lead, json!([{"type": "PAYMENT", "amount": "1250.50", "currency": "USD", "status": "PENDING", "paymentid": "pay_1"}])).await;
    let payment = created["actions"][0]["action_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("{}/lead/{lead}/action/{payment}", base(&app));
    // Whatever the values, even the current ones, and in any combination.
    for body in [
        json!({"type": "PAYMENT", "amount": "1250.50"}),
        json!({"type": "PAYMENT", "currency": "USD"}),
        json!({"type": "PAYMENT", "paymentid": "pay_1"}),
        json!({"type": "PAYMENT", "status": "COMPLETED", "amount": "1"}),
        json!({"type": "PAYMENT", "amount": null}),
    ] {
        let (status, answer) = app.call(Method::POST, &path, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    }
    let (_, state) = app.call(Method::GET, &path, None).await;
    assert_eq!(
        state,
        json!({"type": "PAYMENT", "status": "PENDING", "currency": "USD", "amount": "1250.50"})
    );

    // Not even a direct write to the database can change the money.
    let sql_amount = "UPDATE lead_actions SET amount_text = '1', amount_hundredths = 100";
    let sql_currency = "UPDATE lead_actions SET currency = 'INR'";
    let sql_status = "UPDATE lead_actions SET status = 'FAILED'";
    let outcomes: Vec<bool> = match app.db.backend {
        crate::support::Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
            let mut out = Vec::new();
            for sql in [sql_amount, sql_currency, sql_status] {
                out.push(sqlx::query(sql).execute(&pool).await.is_ok());
            }
            out
        }
        crate::support::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
            let mut out = Vec::new();
            for sql in [sql_amount, sql_currency, sql_status] {
                out.push(sqlx::query(sql).execute(&pool).await.is_ok());
            }
            out
        }
    };
    assert_eq!(
        outcomes,
        [false, false, true],
        "the money is refused, the status is not"
    );
    let (_, state) = app.call(Method::GET, &path, None).await;
    assert_eq!(state["amount"], "1250.50");
    assert_eq!(state["currency"], "USD");

    // Every status change is kept in the lead's timeline, with the actor.
    app.call(
        Method::POST,
        &path,
        Some(json!({"type": "PAYMENT", "status": "PROCESSING"})),
    )
    .await;
    let (_, history) = app
        .call(
            Method::POST,
            &format!("{}/lead/{lead}/action/search", base(&app)),
            Some(json!({"type": "PAYMENT_STATUS_CHANGED"})),
        )
        .await;
    assert_eq!(history["total_count"], 1);
    let change = &history["data"][0];
    assert_eq!(change["fields"]["to"], "PROCESSING");
    assert_eq!(change["fields"]["from"], "FAILED");
    assert!(
        change["performed_by"]
            .as_str()
            .unwrap()
            .starts_with("api_token:")
    );
    let (status, answer) = app
        .call(
            Method::GET,
            &format!(
                "{}/lead/{lead}/action/{}",
                base(&app),
                change["action_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "system actions cannot be retrieved: {answer}"
    );
}

async fn leads_are_created_with_remarks_and_read_back(app: TestApp) {
    configure(&app).await;
    let member = app.member(app.org, "owner@example.com").await;
    let _ = member;
    let (status, created) = app
        .call(Method::POST, &format!("{}/lead", base(&app)), Some(json!({
            "fields": {"phone": "+91 99999 11111", "name": "Ravi Kumar", "email": "Ravi@Example.com", "rating": "3",
                "status": "contacted", "assignee": "owner@example.com", "city": "Mumbai", "budget": 5000, "unknown": 1},
            "actions": [{"type": "1001", "fields": {"note": "hi"}}]
        })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let remarks: Vec<(&str, &str)> = created["remarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["field"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        remarks,
        [("fields.rating", "IGNORED"), ("fields.unknown", "IGNORED")]
    );
    assert_eq!(
        created["remarks"][0]["remark"],
        "Rating must be between 1 and 5"
    );
    assert_eq!(created["actions"][0]["status"], "CREATED");
    let lead = created["lead_id"].as_str().unwrap();

    let (status, read) = app
        .call(
            Method::GET,
            &format!("{}/lead/{lead}?includeActions=true&limit=5", base(&app)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    let fields = &read["fields"];
    assert_eq!(fields["phone"], "919999911111");
    assert_eq!(fields["name"], "Ravi Kumar");
    assert_eq!(fields["email"], "ravi@example.com");
    assert_eq!(fields["status"], "Contacted");
    assert_eq!(fields["assignee"], "owner@example.com");
    assert_eq!(
        fields["city"], "Mumbai",
        "an unknown dropdown label becomes an option"
    );
    assert_eq!(fields["budget"], 5000);
    assert_eq!(fields["score"], 5, "the custom action's score");
    assert!(fields.get("rating").is_none());
    assert_eq!(read["actions"].as_array().unwrap().len(), 1);
    assert_eq!(read["actions_limit"], 5);
    let (_, settings) = app.call(Method::GET, "/v1/lead-settings", None).await;
    assert_eq!(
        settings["customFields"][0]["options"],
        json!(["Delhi", "Mumbai"])
    );
    let (_, without) = app
        .call(Method::GET, &format!("{}/lead/{lead}", base(&app)), None)
        .await;
    assert!(without.get("actions").is_none());

    // The lead is the contact Chatvolt's door sees, and the same phone in a chat.
    let chat = app.inbound_on("whatsapp", "919999911111", "hello").await;
    assert_eq!(chat["contactId"], lead);

    for (body, message) in [
        (json!({"fields": {"name": "No phone"}}), "identifier"),
        (json!({"fields": {"phone": "12"}}), "fields.phone"),
        (json!({}), "fields"),
    ] {
        let (status, answer) = app
            .call(Method::POST, &format!("{}/lead", base(&app)), Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(message),
            "{answer}"
        );
    }
    let (status, answer) = app
        .call(
            Method::POST,
            &format!("{}/lead", base(&app)),
            Some(json!({"fields": {"phone": "919999911111"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains(lead));
    let (status, answer) = app
        .call(
            Method::GET,
            &format!("{}/lead/{lead}?includeActions=true&limit=101", base(&app)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer["error"]["message"],
        "limit: must be between 1 and 100"
    );
}

async fn lead_updates_refuse_the_identifier_and_bad_values(app: TestApp) {
    configure(&app).await;
    let lead = lead(&app, json!({"phone": "919000000002", "name": "Old"})).await;
    let path = format!("{}/lead/{lead}", base(&app));
    let (status, updated) = app
        .call(
            Method::POST,
            &path,
            Some(json!({"fields": {"name": "New Name", "status": "Won", "budget": 7}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["fields"]["name"], "New Name");
    assert_eq!(updated["fields"]["status"], "Won");
    assert_eq!(updated["fields"]["phone"], "919000000002");
    let (status, answer) = app
        .call(
            Method::POST,
            &path,
            Some(json!({"fields": {"phone": "919000000003"}})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer,
        json!({"error": {"code": "INVALID_LEAD", "message": "fields.phone: Cannot modify lead identifier field"}})
    );
    let (status, answer) = app
        .call(
            Method::POST,
            &path,
            Some(json!({"fields": {"rating": 9, "name": "Changed"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (_, read) = app.call(Method::GET, &path, None).await;
    assert_eq!(
        read["fields"]["name"], "New Name",
        "a refused update changed nothing"
    );
    let (status, answer) = app
        .call(
            Method::POST,
            &format!("{}/lead/nope", base(&app)),
            Some(json!({"fields": {"name": "x"}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer,
        json!({"error": {"code": "LEAD_NOT_FOUND", "message": "Lead with ID nope was not found."}})
    );
}

async fn lead_search_filters_fields_dates_and_actions(app: TestApp) {
    configure(&app).await;
    let a = lead(&app, json!({"phone": "919000000010", "status": "Fresh"})).await;
    app.clock.advance(chrono::Duration::hours(1));
    let b = lead(&app, json!({"phone": "919000000011", "status": "Won"})).await;
    actions(
        &app,
        &b,
        json!([{"type": "PAYMENT", "amount": "10", "currency": "INR", "status": "COMPLETED"}]),
    )
    .await;
    let search = |body: Value| {
        let app = app.clone();
        async move {
            app.call(
                Method::POST,
                &format!("{}/lead/search?limit=10", base(&app)),
                Some(body),
            )
            .await
        }
    };
    let (status, all) = search(json!({})).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["total_count"], 2);
    assert_eq!(all["data"][0]["lead_id"], b, "newest first");
    let (_, won) = search(json!({"fields": {"status": "won"}})).await;
    assert_eq!(won["total_count"], 1);
    assert_eq!(won["data"][0]["lead_id"], b);
    let (_, either) = search(json!({"fields": {"status": ["Won", "Fresh"]}})).await;
    assert_eq!(either["total_count"], 2);
    let (_, by_phone) = search(json!({"fields": {"phone": "919000000010"}})).await;
    assert_eq!(by_phone["data"][0]["lead_id"], a);
    let (_, paid) = search(json!({"actions": {"type": "PAYMENT"}})).await;
    assert_eq!(paid["total_count"], 1);
    let cut = stagecoach_app::Clock::now(app.clock.as_ref()) - chrono::Duration::minutes(30);
    let (_, recent) =
        search(json!({"fields": {"created_on": {"from": cut.timestamp_millis()}}})).await;
    assert_eq!(recent["total_count"], 1);
    let (status, answer) =
        search(json!({"fields": {"created_on": {"from": "2026-01-01T00:00:00Z"}}})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "ISO dates are refused: {answer}"
    );
    let (status, _) = app
        .call(
            Method::POST,
            &format!("{}/lead/search?limit=0", base(&app)),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn actions_are_created_in_request_order_and_scored(app: TestApp) {
    configure(&app).await;
    let lead = lead(&app, json!({"phone": "919000000020"})).await;
    let created = actions(
        &app,
        &lead,
        json!([
            {"type": "1001", "fields": {"note": "ok", "when": "01/04/2026 10:00:00", "extra": 1}},
            {"type": "PAYMENT", "amount": "-5", "currency": "EUR", "status": "PENDING"},
            {"type": "1002"},
            {"type": "PAYMENT", "amount": "99.99", "currency": "AED", "status": "COMPLETED"}
        ]),
    )
    .await;
    let statuses: Vec<_> = created["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["CREATED", "IGNORED", "IGNORED", "CREATED"]);
    assert_eq!(created["actions"][1]["action_id"], Value::Null);
    let fields: Vec<_> = created["remarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "actions[0].fields.extra",
            "actions[1].amount",
            "actions[1].currency",
            "actions[2].type"
        ]
    );
    let (_, when) = app
        .call(
            Method::GET,
            &format!(
                "{}/lead/{lead}/action/{}",
                base(&app),
                created["actions"][0]["action_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(when["fields"]["when"], 1_775_037_600_000i64);

    let (status, answer) = app
        .call(
            Method::POST,
            &format!("{}/lead/{lead}/action", base(&app)),
            Some(json!({"actions": [{"type": "1001"}, {"type": "INCOMING_CALL"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer,
        json!({"error": {"code": "BAD_REQUEST", "message": "actions[1].type: Only custom actions and payment actions can be created"}})
    );
    let (_, read) = app
        .call(Method::GET, &format!("{}/lead/{lead}", base(&app)), None)
        .await;
    assert_eq!(
        read["fields"]["score"], 5,
        "the refused request recorded nothing"
    );
    let (_, found) = app
        .call(
            Method::POST,
            &format!("{}/lead/{lead}/action/search?limit=1", base(&app)),
            Some(json!({})),
        )
        .await;
    assert_eq!(found["total_count"], 2);
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    let (status, answer) = app
        .call(
            Method::POST,
            &format!("{}/lead/nope/action/search", base(&app)),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["error"]["code"], "LEAD_NOT_FOUND");
}

async fn payment_totals_per_status_currency_and_step(app: TestApp) {
    configure(&app).await;
    let scenario = app.scenario("Sales").await;
    let closing = app.step(&scenario, "Closing").await;
    let in_step = app.inbound_on("whatsapp", "919000000030", "hi").await;
    let lead_in_step = in_step["contactId"].as_str().unwrap().to_owned();
    app.add_to(in_step["conversationId"].as_str().unwrap(), &closing)
        .await;
    let elsewhere = lead(&app, json!({"phone": "919000000031"})).await;
    actions(
        &app,
        &lead_in_step,
        json!([
            {"type": "PAYMENT", "amount": "100.10", "currency": "INR", "status": "COMPLETED"},
            {"type": "PAYMENT", "amount": "50", "currency": "INR", "status": "COMPLETED"},
            {"type": "PAYMENT", "amount": "7", "currency": "USD", "status": "PENDING"}
        ]),
    )
    .await;
    actions(
        &app,
        &elsewhere,
        json!([{"type": "PAYMENT", "amount": "1000", "currency": "INR", "status": "COMPLETED"}]),
    )
    .await;

    let (status, totals) = app.call(Method::GET, "/v1/payments/totals", None).await;
    assert_eq!(status, StatusCode::OK, "{totals}");
    assert_eq!(
        totals,
        json!([
            {"status": "COMPLETED", "currency": "INR", "count": 3, "amount": "1150.10"},
            {"status": "PENDING", "currency": "USD", "count": 1, "amount": "7.00"}
        ])
    );
    let (_, by_step) = app
        .call(Method::GET, "/v1/payments/totals?groupBy=step", None)
        .await;
    let step_inr = by_step
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["stepId"] == closing["id"] && t["currency"] == "INR")
        .unwrap();
    assert_eq!(step_inr["amount"], "150.10");
    assert_eq!(step_inr["count"], 2);
    let none_inr = by_step
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["stepId"].is_null())
        .unwrap();
    assert_eq!(none_inr["amount"], "1000.00");
    let (_, mine) = app
        .call(
            Method::GET,
            &format!("/v1/leads/{elsewhere}/payments/totals"),
            None,
        )
        .await;
    assert_eq!(
        mine,
        json!([{"status": "COMPLETED", "currency": "INR", "count": 1, "amount": "1000.00"}])
    );
    let (status, _) = app
        .call(Method::GET, "/v1/payments/totals?groupBy=month", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn token_types_and_the_async_api(app: TestApp) {
    configure(&app).await;
    let async_token = app
        .core
        .create_token(app.org, "ingest", None, TokenType::Async)
        .await
        .unwrap()
        .secret;
    let (status, answer) = app
        .call_as(
            &async_token,
            Method::POST,
            &format!("{}/lead/search", base(&app)),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["error"]["code"], "NOT_AUTHORIZED");
    let async_path = format!("/enterprise/{}/autoupdatelead", app.org);
    let (status, answer) = app
        .call(
            Method::POST,
            &async_path,
            Some(json!({"fields": {"phone": "1"}})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "sync tokens cannot use the async API: {answer}"
    );
    assert_eq!(answer["error"]["code"], "NOT_AUTHORIZED");

    let (status, queued) = app
        .call_as(&async_token, Method::POST, &async_path, Some(json!({
            "fields": {"phone": "919000000040", "name": "Queued Lead"},
            "actions": [{"type": "ACTION_1001", "fields": {"note": "from a form"}}, {"type": "1001"}]
        })))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(queued, json!({"status": "QUEUED"}));
    app.call_as(
        &async_token,
        Method::POST,
        &async_path,
        Some(json!({"fields": {"name": "no identifier"}})),
    )
    .await;
    assert_eq!(
        app.core.process_queued_lead_writes(10).await.unwrap(),
        1,
        "one applied, one dropped"
    );
    let (_, found) = app
        .call(
            Method::POST,
            &format!("{}/lead/search", base(&app)),
            Some(json!({"fields": {"phone": "919000000040"}})),
        )
        .await;
    assert_eq!(found["total_count"], 1);
    let lead = found["data"][0]["lead_id"].as_str().unwrap();
    assert_eq!(found["data"][0]["fields"]["name"], "Queued Lead");
    let (_, actions) = app
        .call(
            Method::POST,
            &format!("{}/lead/{lead}/action/search", base(&app)),
            Some(json!({"type": "1001"})),
        )
        .await;
    assert_eq!(
        actions["total_count"], 1,
        "ACTION_1001 recorded, the sync spelling dropped"
    );
    // A second write to the same identifier updates the lead.
    app.call_as(
        &async_token,
        Method::POST,
        &async_path,
        Some(json!({"fields": {"phone": "+91 90000 00040", "status": "Won"}})),
    )
    .await;
    assert_eq!(app.core.process_queued_lead_writes(10).await.unwrap(), 1);
    let (_, read) = app
        .call(Method::GET, &format!("{}/lead/{lead}", base(&app)), None)
        .await;
    assert_eq!(read["fields"]["status"], "Won");
    assert_eq!(read["fields"]["name"], "Queued Lead");
    assert_eq!(
        app.core.process_queued_lead_writes(10).await.unwrap(),
        0,
        "each write is applied once"
    );
}

async fn enterprises_and_leads_of_others_are_not_found(app: TestApp) {
    configure(&app).await;
    let mine = lead(&app, json!({"phone": "919000000050"})).await;
    let (other_org, theirs) = app.other_tenant().await;
    let (status, answer) = app
        .call_as(
            &theirs,
            Method::GET,
            &format!("{}/lead/{mine}", base(&app)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer,
        json!({"error": {"code": "ENTERPRISE_NOT_FOUND", "message": "Enterprise not found."}})
    );
    let their_base = format!("/autoupdate/v2/enterprise/{other_org}");
    let (status, answer) = app
        .call_as(
            &theirs,
            Method::GET,
            &format!("{their_base}/lead/{mine}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["error"]["code"], "LEAD_NOT_FOUND");
    let (_, found) = app
        .call_as(
            &theirs,
            Method::POST,
            &format!("{their_base}/lead/search"),
            Some(json!({})),
        )
        .await;
    assert_eq!(found["total_count"], 0);
    let (status, _) = app
        .call_as(&theirs, Method::POST, &format!("{their_base}/lead/{mine}/action"), Some(json!({"actions": [{"type": "PAYMENT", "amount": "1", "currency": "INR", "status": "PENDING"}]})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, totals) = app.call(Method::GET, "/v1/payments/totals", None).await;
    assert_eq!(totals, json!([]));
}

async fn team_members_and_metadata(app: TestApp) {
    configure(&app).await;
    let base = base(&app);
    let (status, created) = app
        .call(Method::POST, &format!("{base}/team-members"), Some(json!({"name": "Priya", "email": "Priya@Example.com", "phone_number": "919876543210", "role": "CALLER"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "Invited");
    assert_eq!(created["role"], "CALLER");
    let (status, active) = app
        .call(Method::POST, &format!("{base}/team-members"), Some(json!({"name": "Arjun", "email": "arjun@example.com", "phone_number": "919876543211", "role": "ADMIN", "password": "s3cret!"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(active["status"], "Active");
    for body in [
        json!({"name": "x", "email": "x@example.com", "phone_number": "+9198", "role": "CALLER"}),
        json!({"name": "x", "email": "y@example.com", "phone_number": "919876543212", "role": "BOSS"}),
    ] {
        let (status, _) = app
            .call(Method::POST, &format!("{base}/team-members"), Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (_, list) = app
        .call(Method::GET, &format!("{base}/team-members?limit=10"), None)
        .await;
    let names: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Arjun", "Priya"], "ascending by name");
    let (status, answer) = app
        .call(Method::GET, &format!("{base}/team-members?limit=11"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer["error"]["message"],
        "limit: must be between 1 and 10"
    );
    let (_, priya) = app
        .call(
            Method::GET,
            &format!("{base}/team-members/priya@example.com"),
            None,
        )
        .await;
    assert_eq!(priya["phone_number"], "919876543210");
    let (status, answer) = app
        .call(
            Method::GET,
            &format!("{base}/team-members/nobody@example.com"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["error"]["code"], "TEAM_MEMBER_NOT_FOUND");
    let (_, changed) = app
        .call(
            Method::POST,
            &format!("{base}/teammember/state_change"),
            Some(json!({"state": "On Leave", "email": "priya@example.com"})),
        )
        .await;
    assert_eq!(
        changed,
        json!({"email": "priya@example.com", "status": "On Leave"})
    );
    let (status, _) = app
        .call(
            Method::POST,
            &format!("{base}/teammember/state_change"),
            Some(json!({"state": "Asleep", "email": "priya@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, metadata) = app
        .call(Method::GET, &format!("{base}/metadata"), None)
        .await;
    assert_eq!(metadata["id"], app.org.to_string());
    assert_eq!(metadata["leadIdentifierFieldId"], "phone");
    assert_eq!(metadata["teamSize"], 2);
    let (_, fields) = app
        .call(Method::GET, &format!("{base}/custom-fields"), None)
        .await;
    let phone = fields["customFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["apiName"] == "phone")
        .unwrap();
    assert_eq!(phone["isLeadid"], true);
    let (_, city) = app
        .call(Method::GET, &format!("{base}/custom-fields/city"), None)
        .await;
    assert_eq!(city["options"], json!([{"id": "Delhi", "label": "Delhi"}]));
    let (status, answer) = app
        .call(Method::GET, &format!("{base}/custom-fields/City"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer["error"],
        json!({"code": "NOT_FOUND", "message": "Could not find custom field with apiName City"})
    );
    let (_, custom_actions) = app
        .call(
            Method::GET,
            &format!("{base}/custom-actions?detail=true"),
            None,
        )
        .await;
    assert_eq!(custom_actions["customActions"][0]["code"], "ACTION_1001");
    assert_eq!(custom_actions["customActions"][0]["score"], 5);
    assert_eq!(
        custom_actions["customActions"][0]["fieldSchema"][0]["apiName"],
        "note"
    );
    let (_, pipeline) = app
        .call(Method::GET, &format!("{base}/lead-stage-pipeline"), None)
        .await;
    let types: Vec<_> = pipeline["leadStages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stageType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["OPEN", "WON", "LOST"]);
    assert_eq!(
        pipeline["activeLeadLostReasons"][0]["reasonLabel"],
        "Budget"
    );

    // Settings: validated whole; an action type in use cannot be removed.
    let lead = lead(&app, json!({"phone": "919000000060"})).await;
    actions(&app, &lead, json!([{"type": "1001"}])).await;
    let (status, answer) = app
        .call(Method::PUT, "/v1/lead-settings", Some(json!({"identifier": "phone", "pipeline": [{"stageType": "OPEN", "statuses": [{"label": "New"}]}]})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let (status, answer) = app
        .call(
            Method::PUT,
            "/v1/lead-settings",
            Some(json!({"identifier": "rating", "pipeline": []})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
}

/// A refusal for a field's sake names the field first in its message, in TeleCRM's body
/// shape; a refused payment status is told the valid ones.
async fn every_refusal_names_its_field(app: TestApp) {
    configure(&app).await;
    let base = base(&app);
    let lead = lead(&app, json!({"phone": "919000000070"})).await;
    let created = actions(
        &app,
        &lead,
        json!([
            {"type": "1001", "fields": {"note": "Call back"}},
            {"type": "PAYMENT", "amount": "199.90", "currency": "USD", "status": "PENDING"}
        ]),
    )
    .await;
    let custom = format!(
        "{base}/lead/{lead}/action/{}",
        created["actions"][0]["action_id"].as_str().unwrap()
    );
    let payment = format!(
        "{base}/lead/{lead}/action/{}",
        created["actions"][1]["action_id"].as_str().unwrap()
    );

    let (status, answer) = app
        .call(
            Method::POST,
            &payment,
            Some(json!({"type": "PAYMENT", "status": "PAID"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(
        answer,
        json!({"error": {"code": "BAD_REQUEST", "message":
            "status: must be one of PENDING, COMPLETED, FAILED, REFUNDED, CANCELLED, PROCESSING"}})
    );

    let lead_path = format!("{base}/lead/{lead}");
    let cases: Vec<(Method, String, Option<Value>, &str)> = vec![
        (
            Method::POST,
            custom.clone(),
            Some(json!({"fields": {"note": "x"}})),
            "type",
        ),
        (
            Method::POST,
            custom.clone(),
            Some(json!({"type": 1001.5})),
            "type",
        ),
        (
            Method::POST,
            custom.clone(),
            Some(json!({"type": "PAYMENT"})),
            "type",
        ),
        (
            Method::POST,
            custom.clone(),
            Some(json!({"type": "1001", "fields": []})),
            "fields",
        ),
        (
            Method::POST,
            custom.clone(),
            Some(json!({"type": "1001", "fields": {"note": 5}})),
            "fields.note",
        ),
        (
            Method::POST,
            custom.clone(),
            Some(json!({"type": "1001", "fields": {"nope": "x"}})),
            "fields.nope",
        ),
        (
            Method::POST,
            custom.clone(),
            Some(json!({"type": "1001", "fields": {"when": "2026-01-01"}})),
            "fields.when",
        ),
        (
            Method::POST,
            payment.clone(),
            Some(json!({"type": "PAYMENT", "status": 3})),
            "status",
        ),
        (
            Method::POST,
            format!("{base}/lead"),
            Some(json!({})),
            "fields",
        ),
        (
            Method::POST,
            format!("{base}/lead"),
            Some(json!({"fields": {"name": "No phone"}})),
            "fields.phone",
        ),
        (
            Method::POST,
            format!("{base}/lead"),
            Some(json!({"fields": {"phone": "12"}})),
            "fields.phone",
        ),
        (
            Method::POST,
            format!("{base}/lead"),
            Some(json!({"fields": {"phone": "919000000071"}, "actions": [{}]})),
            "actions[0].type",
        ),
        (
            Method::POST,
            lead_path.clone(),
            Some(json!({"fields": {"rating": 9}})),
            "fields.rating",
        ),
        (
            Method::POST,
            lead_path.clone(),
            Some(json!({"fields": {"city": 5}})),
            "fields.city",
        ),
        (
            Method::POST,
            lead_path.clone(),
            Some(json!({"fields": 5})),
            "fields",
        ),
        (Method::GET, format!("{lead_path}?limit=0"), None, "limit"),
        (Method::GET, format!("{lead_path}?skip=-1"), None, "skip"),
        (
            Method::POST,
            format!("{base}/lead/search"),
            Some(json!({"fields": {"created_on": {"from": "yesterday"}}})),
            "fields.created_on.from",
        ),
        (
            Method::POST,
            format!("{base}/lead/search"),
            Some(json!({"actions": {"performed_at": 5}})),
            "actions.performed_at",
        ),
        (
            Method::POST,
            format!("{base}/lead/search?limit=101"),
            Some(json!({})),
            "limit",
        ),
        (
            Method::POST,
            format!("{lead_path}/action/search"),
            Some(json!({"created_on": {"to": true}})),
            "created_on.to",
        ),
        (
            Method::POST,
            format!("{lead_path}/action"),
            Some(json!({"actions": []})),
            "actions",
        ),
        (
            Method::POST,
            format!("{lead_path}/action"),
            Some(json!({"actions": [{"type": "1001"}, {"type": "INCOMING_CALL"}]})),
            "actions[1].type",
        ),
        (
            Method::POST,
            format!("{lead_path}/action"),
            Some(json!({"actions": [{"type": "1001"}, {"fields": {}}]})),
            "actions[1].type",
        ),
        (
            Method::GET,
            format!("{base}/team-members?limit=11"),
            None,
            "limit",
        ),
        (
            Method::GET,
            format!("{base}/team-members/not-an-email"),
            None,
            "email",
        ),
        (
            Method::POST,
            format!("{base}/team-members"),
            Some(
                json!({"email": "a@example.com", "phone_number": "919876543210", "role": "CALLER"}),
            ),
            "name",
        ),
        (
            Method::POST,
            format!("{base}/team-members"),
            Some(
                json!({"name": "A", "email": "a@example.com", "phone_number": "919876543210", "role": "BOSS"}),
            ),
            "role",
        ),
        (
            Method::POST,
            format!("{base}/team-members"),
            Some(
                json!({"name": "A", "email": "a@example.com", "phone_number": "+91 98", "role": "CALLER"}),
            ),
            "phone_number",
        ),
        (
            Method::POST,
            format!("{base}/teammember/state_change"),
            Some(json!({"state": "Active"})),
            "email",
        ),
        (
            Method::POST,
            format!("{base}/teammember/state_change"),
            Some(json!({"state": "Asleep", "email": "a@example.com"})),
            "state",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, answer) = app.call(method.clone(), &path, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{method} {path} {body:?}: {answer}"
        );
        assert_eq!(answer["error"]["code"], "BAD_REQUEST", "{answer}");
        assert_eq!(answer["error"].as_object().unwrap().len(), 2, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{method} {path} {body:?}: {message}"
        );
    }
    let (_, state) = app.call(Method::GET, &payment, None).await;
    assert_eq!(state["status"], "PENDING", "refusals change nothing");
}

/// Money is written with its currency's decimals (ISO 4217's minor units: none for XOF,
/// two for the others) wherever it is answered, and a payment's amount may not have more.
async fn amounts_are_written_with_their_currency_s_decimals(app: TestApp) {
    configure(&app).await;
    let base = base(&app);
    let lead = lead(&app, json!({"phone": "919000000080"})).await;
    let created = actions(
        &app,
        &lead,
        json!([
            {"type": "PAYMENT", "amount": "199.9", "currency": "USD", "status": "COMPLETED"},
            {"type": "PAYMENT", "amount": "5000", "currency": "XOF", "status": "COMPLETED"},
            {"type": "PAYMENT", "amount": "5000.5", "currency": "XOF", "status": "COMPLETED"},
            {"type": "PAYMENT", "amount": "5000.00", "currency": "XOF", "status": "COMPLETED"},
            {"type": "PAYMENT", "amount": "1.234", "currency": "INR", "status": "COMPLETED"}
        ]),
    )
    .await;
    let outcomes: Vec<&str> = created["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["CREATED", "CREATED", "IGNORED", "IGNORED", "IGNORED"]
    );
    let remarks = created["remarks"].as_array().unwrap();
    let remark = |field: &str| {
        remarks
            .iter()
            .find(|r| r["field"] == field)
            .unwrap_or_else(|| panic!("no remark for {field}: {created}"))["remark"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(remark("actions[2].amount").contains("XOF has no decimals"));
    assert!(remark("actions[3].amount").contains("XOF has no decimals"));
    assert!(remark("actions[4].amount").contains("at most 2 decimals"));
    let usd = created["actions"][0]["action_id"].as_str().unwrap();
    let xof = created["actions"][1]["action_id"].as_str().unwrap();

    let (_, state) = app
        .call(
            Method::GET,
            &format!("{base}/lead/{lead}/action/{usd}"),
            None,
        )
        .await;
    assert_eq!(state["amount"], "199.90");
    let (_, state) = app
        .call(
            Method::GET,
            &format!("{base}/lead/{lead}/action/{xof}"),
            None,
        )
        .await;
    assert_eq!(state["amount"], "5000");
    let (_, updated) = app
        .call(
            Method::POST,
            &format!("{base}/lead/{lead}/action/{usd}"),
            Some(json!({"type": "PAYMENT", "status": "REFUNDED"})),
        )
        .await;
    assert_eq!(updated["amount"], "199.90");
    let (_, read) = app
        .call(
            Method::GET,
            &format!("{base}/lead/{lead}?includeActions=true"),
            None,
        )
        .await;
    let (_, searched) = app
        .call(
            Method::POST,
            &format!("{base}/lead/{lead}/action/search"),
            Some(json!({"type": "PAYMENT"})),
        )
        .await;
    for listing in [&read["actions"], &searched["data"]] {
        let amounts: Vec<(&str, &str)> = listing
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["type"] == "PAYMENT")
            .map(|a| {
                (
                    a["currency"].as_str().unwrap(),
                    a["amount"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(amounts.len(), 2, "{listing}");
        assert!(amounts.contains(&("USD", "199.90")), "{listing}");
        assert!(amounts.contains(&("XOF", "5000")), "{listing}");
    }

    let expected = json!([
        {"status": "COMPLETED", "currency": "XOF", "count": 1, "amount": "5000"},
        {"status": "REFUNDED", "currency": "USD", "count": 1, "amount": "199.90"}
    ]);
    let (status, totals) = app.call(Method::GET, "/v1/payments/totals", None).await;
    assert_eq!(status, StatusCode::OK, "{totals}");
    assert_eq!(totals, expected);
    let (_, totals) = app
        .call(
            Method::GET,
            &format!("/v1/leads/{lead}/payments/totals"),
            None,
        )
        .await;
    assert_eq!(totals, expected);
}
