//! The rest of Chatvolt's CRM door: a conversation's tags (shared with steps and Texter's
//! labels).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, assert_error};

backend_tests!(tags_are_listed_and_added_as_steps_and_texter_see_them,);

async fn tags_are_listed_and_added_as_steps_and_texter_see_them(app: TestApp) {
    let scenario = app.scenario("Sales").await;
    let step = app
        .step_with(
            &scenario,
            "Qualify",
            json!({"trigger": "t", "defaultTags": ["lead"]}),
        )
        .await;
    let conversation = app.conversation().await;
    app.add_to(&conversation, &step).await;
    let tags = format!("/conversations/{conversation}/tags");

    let (status, listed) = app.call(Method::GET, &tags, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed, json!({"success": true, "data": [{"tag": "lead"}]}));

    let (status, added) = app
        .call(Method::POST, &tags, Some(json!({"tagName": "  vip "})))
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(
        added,
        json!({"success": true, "data": {"tag": "vip", "tags": [{"tag": "lead"}, {"tag": "vip"}]}})
    );
    // Adding it again keeps it once.
    let (_, again) = app
        .call(Method::POST, &tags, Some(json!({"tagName": "vip"})))
        .await;
    assert_eq!(again["data"]["tags"].as_array().unwrap().len(), 2);
    // Texter sees the same tags as labels, and the timeline records the change.
    let (_, found) = app
        .call(
            Method::GET,
            "/server/api/v2/chats/search?labels[]=vip",
            None,
        )
        .await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(
        found["data"][0]["labels"],
        json!(["lead", "vip"]),
        "{found}"
    );
    let timeline = app.timeline_of(&conversation).await;
    assert!(
        timeline
            .iter()
            .any(|e| e["data"]["field"] == "tags" && e["data"]["value"] == json!(["lead", "vip"])),
        "{timeline:?}"
    );

    // Bad input is named and changes nothing.
    for body in [
        json!({}),
        json!({"tagName": "  "}),
        json!({"tagName": "x".repeat(101)}),
    ] {
        let (status, refused) = app.call(Method::POST, &tags, Some(body)).await;
        assert_error(status, &refused, StatusCode::BAD_REQUEST, &["tagName"]);
    }
    let (status, refused) = app
        .call(Method::POST, &tags, Some(json!({"tagName": 5})))
        .await;
    assert_error(status, &refused, StatusCode::BAD_REQUEST, &["tagName"]);
    let (_, listed) = app.call(Method::GET, &tags, None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);

    // Unknown conversations, and another organization's, are not found.
    let unknown = format!("/conversations/{}/tags", uuid::Uuid::now_v7());
    let (status, body) = app.call(Method::GET, &unknown, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["conversationId"]);
    let (status, body) = app
        .call(Method::POST, &unknown, Some(json!({"tagName": "x"})))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["conversationId"]);
    let (_, stranger) = app.other_tenant().await;
    let (status, body) = app
        .call_as(
            &stranger,
            Method::POST,
            &tags,
            Some(json!({"tagName": "x"})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, &["conversationId"]);
    let (status, _) = app.call_as(&stranger, Method::GET, &tags, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
