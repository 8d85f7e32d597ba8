//! Channels: step effects going out to WhatsApp Cloud API and Z-API (a local stand-in
//! provider records the exact requests), provider errors, and the providers' inbound
//! webhooks.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stagecoach_app::{DeliverySettings, ProviderUrls, Stagecoach};
use stagecoach_domain::delivery::signing::sign_meta;
use stagecoach_worker::deliver_due;
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    TestApp, assert_chatvolt_shape, assert_error, assert_native_error, loopback_transport,
};

backend_tests!(
    a_step_entry_sends_exactly_the_expected_provider_requests,
    provider_rejections_fail_and_outages_retry,
    whatsapp_webhooks_are_verified_before_anything_is_stored,
    zapi_webhooks_need_the_channel_token,
    channels_are_validated_and_keep_their_secrets,
    chatvolt_sends_now_within_the_window_and_templates_outside_it,
    message_statuses_follow_the_provider,
    templates_are_listed_page_by_page_from_the_business_account,
    templates_are_created_and_meta_refusals_passed_on,
    the_business_account_is_learned_from_a_signed_webhook,
);

/// The app sending to `provider` for both WhatsApp and Z-API.
fn pointed_at(app: &TestApp, provider: &MockServer) -> Stagecoach {
    app.core.clone().with_delivery_settings(DeliverySettings {
        providers: ProviderUrls {
            whatsapp: format!("{}/v21.0", provider.uri()),
            zapi: provider.uri(),
        },
        ..DeliverySettings::default()
    })
}

async fn connect(app: &TestApp, body: Value) -> Value {
    let (status, channel) = app.call(Method::POST, "/v1/channels", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    channel
}

async fn whatsapp_channel(app: &TestApp, agent: Option<&str>) -> Value {
    connect(
        app,
        json!({"kind": "whatsapp", "name": "Sales line", "agentId": agent,
               "accountId": format!("PN{}", crate::support::uuid_simple()),
               "accessToken": "wa-token", "appSecret": "app-secret", "verifyToken": "verify-me"}),
    )
    .await
}

async fn a_step_entry_sends_exactly_the_expected_provider_requests(app: TestApp) {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"messages": [{"id": "wamid.1"}]})),
        )
        .mount(&provider)
        .await;
    let agent = app.agent("Closer").await;
    let whatsapp = whatsapp_channel(&app, Some(&agent)).await;
    let pnid = whatsapp["accountId"].as_str().unwrap().to_owned();
    connect(
        &app,
        json!({"kind": "zapi", "name": "Alerts", "agentId": agent, "accountId": "INST1",
               "instanceToken": "itok", "clientToken": "ctok"}),
    )
    .await;
    let scenario = app.scenario("Sales").await;
    let step = app
        .step_with(
            &scenario,
            "Qualify",
            json!({
                "initialMessage": "Olá {{contact.name}}, etapa {{step.name}}{{crm.plan}}",
                "zapiPhoneNumber": "+55 11 99999-0000",
                "zapiMessage": "Novo lead em {{scenario.name}}: {{contact.phone}}",
                "zapiAgentId": agent,
                "whatsappTemplateName": "welcome",
                "whatsappTemplateLanguageCode": "pt_BR",
                "whatsappTemplateAgentId": agent,
            }),
        )
        .await;
    let (status, inbound) = app
        .call(
            Method::POST,
            "/v1/messages/inbound",
            Some(json!({"channel": "whatsapp", "from": "5511987654321", "text": "oi", "name": "Ana Souza"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{inbound}");
    let conversation = inbound["conversationId"].as_str().unwrap().to_owned();
    let (status, body) = app.add_to(&conversation, &step).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let core = pointed_at(&app, &provider);
    assert_eq!(
        deliver_due(&core, loopback_transport(), 20).await.unwrap(),
        3
    );
    let mut requests = provider.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3, "exactly three provider requests");
    requests.sort_by_key(|r| r.url.path().to_owned());

    let zapi = requests
        .iter()
        .find(|r| r.url.path() == "/instances/INST1/token/itok/send-text")
        .expect("the Z-API notification");
    assert_eq!(zapi.headers["client-token"], "ctok");
    assert_eq!(
        serde_json::from_slice::<Value>(&zapi.body).unwrap(),
        json!({"phone": "5511999990000", "message": "Novo lead em Sales: 5511987654321"})
    );

    let to_whatsapp: Vec<Value> = requests
        .iter()
        .filter(|r| r.url.path() == format!("/v21.0/{pnid}/messages"))
        .inspect(|r| assert_eq!(r.headers["authorization"], "Bearer wa-token"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(to_whatsapp.len(), 2);
    let text = to_whatsapp.iter().find(|b| b["type"] == "text").unwrap();
    assert_eq!(text["to"], "5511987654321");
    assert_eq!(text["messaging_product"], "whatsapp");
    assert_eq!(text["text"]["body"], "Olá Ana Souza, etapa Qualify");
    let template = to_whatsapp
        .iter()
        .find(|b| b["type"] == "template")
        .unwrap();
    assert_eq!(template["template"]["name"], "welcome");
    assert_eq!(template["template"]["language"]["code"], "pt_BR");

    let unknown: Vec<Value> = app
        .timeline_of(&conversation)
        .await
        .into_iter()
        .filter(|e| e["type"] == "placeholders_unknown")
        .collect();
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert_eq!(unknown[0]["data"]["placeholders"], json!(["crm.plan"]));
    assert!(
        app.effects_of(&conversation)
            .await
            .iter()
            .all(|o| o["status"] == "done")
    );
}

async fn provider_rejections_fail_and_outages_retry(app: TestApp) {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_json(
            json!({"phone": "5511900000001", "message": "rejected"}),
        ))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"error": "Instance not connected"})),
        )
        .mount(&provider)
        .await;
    Mock::given(method("POST"))
        .and(body_json(
            json!({"phone": "5511900000002", "message": "outage"}),
        ))
        .respond_with(ResponseTemplate::new(503))
        .mount(&provider)
        .await;
    connect(
        &app,
        json!({"kind": "zapi", "name": "Alerts", "accountId": format!("I{}", crate::support::uuid_simple()),
               "instanceToken": "t", "clientToken": "c"}),
    )
    .await;
    let scenario = app.scenario("Alerts").await;
    let mut conversations = Vec::new();
    for (phone, message) in [("5511900000001", "rejected"), ("5511900000002", "outage")] {
        let step = app
            .step_with(
                &scenario,
                message,
                json!({"zapiPhoneNumber": phone, "zapiMessage": message}),
            )
            .await;
        let conversation = app.conversation().await;
        app.add_to(&conversation, &step).await;
        conversations.push(conversation);
    }
    let core = pointed_at(&app, &provider);
    assert_eq!(
        deliver_due(&core, loopback_transport(), 20).await.unwrap(),
        0
    );

    let rejected = &app.effects_of(&conversations[0]).await[0];
    let (_, detail) = app
        .call(
            Method::GET,
            &format!("/v1/deliveries/{}", rejected["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(detail["status"], "failed", "{detail}");
    assert_eq!(detail["lastError"], "HTTP 400: Instance not connected");
    let outage = &app.effects_of(&conversations[1]).await[0];
    let (_, detail) = app
        .call(
            Method::GET,
            &format!("/v1/deliveries/{}", outage["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(detail["status"], "pending", "{detail}");
    assert_eq!(detail["attemptLog"][0]["httpStatus"], 503);
}

fn whatsapp_notification(message_id: &str, phone_number_id: &str) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Bruno Lima"}, "wa_id": "5521988887777"}],
        "messages": [{"from": "5521988887777", "id": message_id, "timestamp": "1763700000",
                      "type": "text", "text": {"body": "Quero um orçamento"}}],
        "statuses": [{"id": "wamid.out", "status": "delivered"}]
    }}]}]})
}

async fn whatsapp_webhooks_are_verified_before_anything_is_stored(app: TestApp) {
    let channel = whatsapp_channel(&app, None).await;
    assert_eq!(channel["inboundToken"], "verify-me");
    let hook = channel["webhookPath"].as_str().unwrap().to_owned();

    let challenge = app
        .client
        .get(format!(
            "{}{hook}?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=12345",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), StatusCode::OK);
    assert_eq!(challenge.text().await.unwrap(), "12345");
    let wrong = app
        .client
        .get(format!(
            "{}{hook}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let pnid = channel["accountId"].as_str().unwrap();
    let body = serde_json::to_vec(&whatsapp_notification("wamid.in.1", pnid)).unwrap();
    for signature in [None, Some(sign_meta("another-secret", &body))] {
        let mut request = app
            .client
            .post(format!("{}{hook}", app.base))
            .body(body.clone());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let error: Value = refused.json().await.unwrap();
        assert_eq!(error["error"]["code"], "UNVERIFIED_WEBHOOK");
    }
    let search = "/server/api/v2/chats/search?search=988887777";
    let (_, chats) = app.call(Method::GET, search, None).await;
    assert_eq!(chats["total"], 0, "nothing stored: {chats}");

    let accepted = app
        .client
        .post(format!("{}{hook}", app.base))
        .header("x-hub-signature-256", sign_meta("app-secret", &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);
    let receipt: Value = accepted.json().await.unwrap();
    assert_eq!(receipt, json!({"received": 1, "statuses": 0, "ignored": 1}));
    // Meta retries: the same message again is not stored twice.
    let again = app
        .client
        .post(format!("{}{hook}", app.base))
        .header("x-hub-signature-256", sign_meta("app-secret", &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.json::<Value>().await.unwrap()["received"], 0);
    let (_, chats) = app.call(Method::GET, search, None).await;
    assert_eq!(chats["total"], 1, "{chats}");

    // Another number of the same Meta app is not this channel's business.
    let other = serde_json::to_vec(&whatsapp_notification("wamid.in.2", "PN-other")).unwrap();
    let answer = app
        .client
        .post(format!("{}{hook}", app.base))
        .header("x-hub-signature-256", sign_meta("app-secret", &other))
        .body(other)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!({"received": 0, "statuses": 0, "ignored": 2})
    );
}

async fn zapi_webhooks_need_the_channel_token(app: TestApp) {
    let channel = connect(
        &app,
        json!({"kind": "zapi", "name": "Z", "accountId": format!("I{}", crate::support::uuid_simple()),
               "instanceToken": "t", "clientToken": "c", "webhookToken": "zap-secret"}),
    )
    .await;
    let hook = format!("{}{}", app.base, channel["webhookPath"].as_str().unwrap());
    let callback = json!({"type": "ReceivedCallback", "phone": "5511977776666", "fromMe": false,
        "isGroup": false, "messageId": "3EB0", "momment": 1763700000000_i64, "senderName": "Carla",
        "text": {"message": "Tem horário amanhã?"}});
    let refused = app
        .client
        .post(format!("{hook}?token=wrong"))
        .json(&callback)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let accepted = app
        .client
        .post(format!("{hook}?token=zap-secret"))
        .json(&callback)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);
    assert_eq!(
        accepted.json::<Value>().await.unwrap(),
        json!({"received": 1, "statuses": 0, "ignored": 0})
    );
    let own = app
        .client
        .post(format!("{hook}?token=zap-secret"))
        .json(&json!({"phone": "5511977776666", "fromMe": true, "text": {"message": "eco"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        own.json::<Value>().await.unwrap(),
        json!({"received": 0, "statuses": 0, "ignored": 1})
    );
}

async fn channels_are_validated_and_keep_their_secrets(app: TestApp) {
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/channels",
            Some(json!({"kind": "whatsapp", "name": "", "accountId": "PN1"})),
        )
        .await;
    assert_native_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        &["name", "accessToken", "appSecret"],
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/channels",
            Some(json!({"kind": "telegram", "name": "x", "accountId": "1"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["fields"][0]["field"], "kind");

    let channel = whatsapp_channel(&app, None).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/channels",
            Some(
                json!({"kind": "whatsapp", "name": "Again", "accountId": channel["accountId"],
                        "accessToken": "a", "appSecret": "b"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["fields"][0]["field"], "accountId");

    let (_, listed) = app.call(Method::GET, "/v1/channels", None).await;
    let text = listed.to_string();
    assert!(
        !text.contains("wa-token") && !text.contains("app-secret") && !text.contains("verify-me"),
        "{text}"
    );
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let (_, other) = app.other_tenant().await;
    let id = channel["id"].as_str().unwrap();
    let (status, _) = app
        .call_as(&other, Method::DELETE, &format!("/v1/channels/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, theirs) = app.call_as(&other, Method::GET, "/v1/channels", None).await;
    assert_eq!(theirs, json!([]));
    let (status, _) = app
        .call(Method::DELETE, &format!("/v1/channels/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

async fn chatvolt_sends_now_within_the_window_and_templates_outside_it(app: TestApp) {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"messages": [{"id": "wamid.2"}]})),
        )
        .mount(&provider)
        .await;
    let agent = app.agent("Closer").await;
    let channel = whatsapp_channel(&app, Some(&agent)).await;
    let pnid = channel["accountId"].as_str().unwrap().to_owned();
    let (_, inbound) = app
        .call(
            Method::POST,
            "/v1/messages/inbound",
            Some(json!({"channel": "whatsapp", "from": "5511987654321", "text": "oi"})),
        )
        .await;
    let conversation = inbound["conversationId"].as_str().unwrap().to_owned();

    let (status, sent) = app
        .call(
            Method::POST,
            &format!("/conversation/message/conversationId/{conversation}"),
            Some(json!({"message": "Seu pedido saiu"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["success"], true);
    assert_eq!(sent["message"]["text"], "Seu pedido saiu");
    let (status, by_phone) = app
        .call(
            Method::POST,
            "/conversation/message/phone/5511987654321",
            Some(json!({"message": "E chega amanhã", "agentId": agent, "channel": "whatsapp"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{by_phone}");
    assert_eq!(by_phone["message"]["conversationId"], conversation.as_str());
    let (status, body) = app
        .call(
            Method::POST,
            "/conversation/message/phone/5511987654321",
            Some(json!({"message": "x"})),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        &["agentId", "channel"],
    );

    let core = pointed_at(&app, &provider);
    assert_eq!(
        deliver_due(&core, loopback_transport(), 20).await.unwrap(),
        2
    );
    let texts: Vec<Value> = provider
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["text"]["body"].clone())
        .collect();
    assert_eq!(texts.len(), 2);
    assert!(texts.contains(&json!("Seu pedido saiu")) && texts.contains(&json!("E chega amanhã")));

    // A day later the window is closed: free text is refused and nothing is queued.
    app.clock.advance(chrono::Duration::hours(25));
    let queued = app.effects_of(&conversation).await.len();
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/conversation/message/conversationId/{conversation}"),
            Some(json!({"message": "Ainda aí?"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE, "{body}");
    assert_eq!(body["code"], "ERR_META_SESSION_EXPIRED_24H");
    assert_eq!(app.effects_of(&conversation).await.len(), queued);

    // A template still goes out, and places the conversation in a step.
    let scenario = app.scenario("Reactivation").await;
    let step = app.step(&scenario, "Contacted").await;
    let (status, answer) = app
        .call(
            Method::POST,
            &format!("/whatsapp/{pnid}/template-message"),
            Some(
                json!({"to": "+55 11 98765-4321", "text": "Temos novidades", "agentId": agent,
                        "templateName": "promo", "templateLangCode": "pt_BR",
                        "var_2": "b", "var_10": "c", "var_1": "a",
                        "crmScenarioId": scenario, "crmStepId": step["id"]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["id"], conversation.as_str());
    assert_eq!(answer["channel"], "whatsapp");
    assert_eq!(answer["channelExternalId"], "5511987654321");
    assert!(
        answer["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"] == "Temos novidades")
    );
    let state = app.state_of(&conversation).await;
    assert_eq!(state["scenarios"][0]["stepId"], step["id"]);

    assert_eq!(
        deliver_due(&core, loopback_transport(), 20).await.unwrap(),
        1
    );
    let requests = provider.received_requests().await.unwrap();
    let template: Value = serde_json::from_slice(&requests.last().unwrap().body).unwrap();
    assert_eq!(template["type"], "template");
    assert_eq!(template["template"]["name"], "promo");
    let parameters: Vec<Value> = template["template"]["components"][0]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].clone())
        .collect();
    assert_eq!(parameters, vec![json!("a"), json!("b"), json!("c")]);

    let (status, body) = app
        .call(
            Method::POST,
            "/whatsapp/unknown/template-message",
            Some(json!({"to": "5511", "text": "t", "agentId": agent, "templateName": "x", "templateLangCode": "en"})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["phoneNumberId"]);
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/whatsapp/{pnid}/template-message"),
            Some(json!({"buttons": []})),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        &[
            "to",
            "text",
            "agentId",
            "templateName",
            "templateLangCode",
            "buttons",
        ],
    );
}

async fn message_statuses_follow_the_provider(app: TestApp) {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"messages": [{"id": "wamid.S1"}]})),
        )
        .mount(&provider)
        .await;
    let channel = whatsapp_channel(&app, None).await;
    let hook = format!("{}{}", app.base, channel["webhookPath"].as_str().unwrap());
    let (_, inbound) = app
        .call(
            Method::POST,
            "/v1/messages/inbound",
            Some(json!({"channel": "whatsapp", "from": "5511912345678", "text": "oi"})),
        )
        .await;
    let chat = inbound["conversationId"].as_str().unwrap().to_owned();
    let (status, sent) = app
        .call(
            Method::POST,
            &format!("/server/api/v2/messages/send/{chat}"),
            Some(json!({"type": "text", "text": "Olá"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let outgoing = |messages: &Value| -> Value {
        messages["messages"]
            .as_array()
            .unwrap_or_else(|| panic!("not a page: {messages}"))
            .iter()
            .find(|m| m["direction"] == "outgoing")
            .cloned()
            .unwrap_or_else(|| panic!("no outgoing message in {messages}"))
    };
    let later = (chrono::Utc::now() + chrono::Duration::days(2)).timestamp_millis();
    let page = format!("/server/api/v2/messages/chat/{chat}?beforeTime={later}&beforeId=none");
    assert_eq!(
        outgoing(&app.call(Method::GET, &page, None).await.1)["status"],
        1,
        "queued"
    );

    let core = pointed_at(&app, &provider);
    assert_eq!(
        deliver_due(&core, loopback_transport(), 10).await.unwrap(),
        1
    );
    let message = outgoing(&app.call(Method::GET, &page, None).await.1);
    assert_eq!(message["status"], 0, "sent: {message}");
    assert_eq!(message["channelInfo"]["id"], "wamid.S1");

    let body = serde_json::to_vec(
        &json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {
        "statuses": [{"id": "wamid.S1", "status": "read", "recipient_id": "5511912345678"}]}}]}]}),
    )
    .unwrap();
    let answer = app
        .client
        .post(&hook)
        .header("x-hub-signature-256", sign_meta("app-secret", &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!({"received": 0, "statuses": 1, "ignored": 0})
    );
    assert_eq!(
        outgoing(&app.call(Method::GET, &page, None).await.1)["status"],
        3,
        "seen"
    );
}

fn meta_template(id: &str, name: &str, status: &str) -> Value {
    json!({"id": id, "name": name, "language": "pt_BR", "status": status, "category": "UTILITY",
           "components": [{"type": "BODY", "text": "Oi {{1}}, seu pedido saiu."}]})
}

async fn templates_are_listed_page_by_page_from_the_business_account(app: TestApp) {
    let provider = MockServer::start().await;
    let templates = "/v21.0/WABA-1/message_templates";
    Mock::given(method("GET"))
        .and(path(templates))
        .and(header("authorization", "Bearer wa-token"))
        .and(query_param("limit", "100"))
        .and(query_param_is_missing("after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [meta_template("1", "order_update", "APPROVED")],
            "paging": {"cursors": {"before": "A", "after": "Q1=="}, "next": "https://graph/next"}})))
        .expect(1)
        .mount(&provider)
        .await;
    Mock::given(method("GET"))
        .and(path(templates))
        .and(query_param("after", "Q1=="))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [meta_template("2", "promo", "PENDING")],
            "paging": {"cursors": {"before": "B", "after": "Q2=="}}})))
        .expect(1)
        .mount(&provider)
        .await;
    let server = app.with_providers_at(&provider.uri()).await;
    let agent = app.agent("Closer").await;
    connect(
        &app,
        json!({"kind": "whatsapp", "name": "Sales line", "agentId": agent,
               "accountId": format!("PN{}", crate::support::uuid_simple()),
               "businessAccountId": "WABA-1", "accessToken": "wa-token", "appSecret": "s"}),
    )
    .await;

    let (status, body) = server
        .call(
            Method::GET,
            &format!("/whatsapp/templates?agentId={agent}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_chatvolt_shape("GET /whatsapp/templates 200", &body);
    let names: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["order_update", "promo"]);
    assert_eq!(body["data"][1]["status"], "PENDING");
    assert_eq!(body["data"][0]["components"][0]["type"], "BODY");

    let (status, body) = server.call(Method::GET, "/whatsapp/templates", None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["agentId"]);
    let (status, body) = server
        .call(Method::GET, "/whatsapp/templates?agentId=nope", None)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, &["agentId"]);
    let stranger = stagecoach_domain::ids::AgentId::new();
    let (status, body) = server
        .call(
            Method::GET,
            &format!("/whatsapp/templates?agentId={stranger}"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["agentId"]);
    // Another organization's token sees its own (absent) channels, not these.
    let (_, other_token) = app.other_tenant().await;
    let (status, body) = server
        .call_as(
            &other_token,
            Method::GET,
            &format!("/whatsapp/templates?agentId={agent}"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["agentId"]);
    server.stop().await;
}

async fn templates_are_created_and_meta_refusals_passed_on(app: TestApp) {
    let provider = MockServer::start().await;
    let templates = "/v21.0/WABA-2/message_templates";
    let new = json!({"name": "order_update", "category": "UTILITY", "language": "pt_BR",
                     "components": [{"type": "BODY", "text": "Oi {{1}}"}]});
    Mock::given(method("POST"))
        .and(path(templates))
        .and(header("authorization", "Bearer wa-token"))
        .and(body_json(&new))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "5948", "status": "PENDING", "category": "UTILITY"})),
        )
        .expect(1)
        .mount(&provider)
        .await;
    Mock::given(method("POST"))
        .and(path(templates))
        .and(body_json(
            json!({"name": "taken", "category": "UTILITY", "language": "pt_BR",
                              "components": [{"type": "BODY", "text": "x"}]}),
        ))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "Invalid parameter", "type": "OAuthException", "code": 100,
            "error_user_msg": "Content in this language already exists"}})))
        .mount(&provider)
        .await;
    Mock::given(method("POST"))
        .and(path(templates))
        .and(body_json(
            json!({"name": "expired", "category": "UTILITY", "language": "pt_BR",
                              "components": [{"type": "BODY", "text": "x"}]}),
        ))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {
            "message": "Error validating access token", "code": 190}})))
        .mount(&provider)
        .await;
    let server = app.with_providers_at(&provider.uri()).await;
    let agent = app.agent("Closer").await;
    connect(
        &app,
        json!({"kind": "whatsapp", "name": "Sales line", "agentId": agent,
               "accountId": format!("PN{}", crate::support::uuid_simple()),
               "businessAccountId": "WABA-2", "accessToken": "wa-token", "appSecret": "s"}),
    )
    .await;

    let mut body = new.clone();
    body["agentId"] = json!(agent);
    let (status, created) = server
        .call(Method::POST, "/whatsapp/templates", Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(
        created,
        json!({"id": "5948", "status": "PENDING", "category": "UTILITY"})
    );

    let attempt = |name: &str| {
        json!({"agentId": agent, "name": name, "category": "UTILITY", "language": "pt_BR",
               "components": [{"type": "BODY", "text": "x"}]})
    };
    let (status, refused) = server
        .call(Method::POST, "/whatsapp/templates", Some(attempt("taken")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["code"], "PROVIDER_REFUSED");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("Invalid parameter (code 100)"),
        "{refused}"
    );
    let (status, failed) = server
        .call(
            Method::POST,
            "/whatsapp/templates",
            Some(attempt("expired")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{failed}");
    assert_eq!(failed["code"], "PROVIDER_ERROR");
    assert!(
        failed["error"].as_str().unwrap().contains("access token"),
        "{failed}"
    );

    // Input Meta could never take is refused here, every field named, and Meta is not asked.
    let before = provider.received_requests().await.unwrap().len();
    let (status, body) = server
        .call(
            Method::POST,
            "/whatsapp/templates",
            Some(json!({"name": "", "category": "utility", "components": ["body"]})),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        &["agentId", "language"],
    );
    let (status, body) = server
        .call(
            Method::POST,
            "/whatsapp/templates",
            Some(
                json!({"agentId": agent, "name": "", "category": "utility", "language": "pt_BR",
                        "components": ["body"]}),
            ),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        &["name", "category", "components[0]"],
    );
    assert_eq!(provider.received_requests().await.unwrap().len(), before);
    server.stop().await;
}

async fn the_business_account_is_learned_from_a_signed_webhook(app: TestApp) {
    let provider = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v21.0/WABA/message_templates"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .expect(1)
        .mount(&provider)
        .await;
    let server = app.with_providers_at(&provider.uri()).await;
    let agent = app.agent("Closer").await;
    let channel = whatsapp_channel(&app, Some(&agent)).await;
    assert_eq!(channel["businessAccountId"], Value::Null);
    let listing = format!("/whatsapp/templates?agentId={agent}");
    let (status, body) = server.call(Method::GET, &listing, None).await;
    assert_error(status, &body, StatusCode::CONFLICT, &["agentId"]);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("businessAccountId"),
        "{body}"
    );

    let pnid = channel["accountId"].as_str().unwrap();
    let notification = serde_json::to_vec(&whatsapp_notification("wamid.in.9", pnid)).unwrap();
    let accepted = app
        .client
        .post(format!(
            "{}{}",
            app.base,
            channel["webhookPath"].as_str().unwrap()
        ))
        .header(
            "x-hub-signature-256",
            sign_meta("app-secret", &notification),
        )
        .body(notification)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);
    let (_, channels) = app.call(Method::GET, "/v1/channels", None).await;
    assert_eq!(channels[0]["businessAccountId"], "WABA", "{channels}");
    let (status, body) = server.call(Method::GET, &listing, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"data": []}));

    // A Z-API channel has no business account.
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/channels",
            Some(
                json!({"kind": "zapi", "name": "Z", "accountId": "I1", "instanceToken": "t",
                        "clientToken": "c", "businessAccountId": "WABA"}),
            ),
        )
        .await;
    assert_native_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        &["businessAccountId"],
    );
    server.stop().await;
}
