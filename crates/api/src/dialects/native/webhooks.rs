//! Webhook endpoints (event subscriptions) and the delivery log: list deliveries of a
//! conversation or endpoint, see each attempt, redeliver.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stagecoach_app::{
    Attempt, EndpointInput, EndpointPatch, MAX_BULK_REDELIVERY, OutboxEntry, RedeliveryFilter,
};
use stagecoach_domain::delivery::targets::{PayloadStyle, WebhookEndpoint};
use stagecoach_domain::ids::{ConversationId, EndpointId, OutboxId};
use utoipa::{IntoParams, ToSchema};

use super::error::{NativeErrorBody, Result};
use super::extract::{Body, Caller, Params};
use crate::AppState;

/// A new subscription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewEndpointBody {
    /// Where events are POSTed (http or https).
    pub url: String,
    pub description: Option<String>,
    /// The event types to receive; absent or empty: all of them.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// The payload shape (default `stagecoach`).
    pub style: Option<PayloadStyle>,
}

/// Changes to a subscription; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointPatchBody {
    pub url: Option<String>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "crate::nullable::present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<String>>,
    pub style: Option<PayloadStyle>,
    /// A disabled endpoint receives nothing; its pending deliveries fail.
    pub disabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointBody {
    pub id: String,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub style: PayloadStyle,
    pub disabled: bool,
    /// The signing secret (`whsec_…`): only in the answer to the creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Only in the answer to the creation, when there is something to say: the URL's
    /// host name does not resolve now, or resolves to an address deliveries may not reach.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn endpoint_body(endpoint: WebhookEndpoint, secret: Option<String>) -> EndpointBody {
    EndpointBody {
        id: endpoint.id.to_string(),
        url: endpoint.url,
        description: endpoint.description,
        event_types: endpoint.event_types,
        style: endpoint.style,
        disabled: endpoint.disabled,
        secret,
        warnings: Vec::new(),
        created_at: endpoint.created_at,
        updated_at: endpoint.updated_at,
    }
}

/// Subscribe an endpoint to events. The answer carries its signing secret, once.
#[utoipa::path(post, operation_id = "createWebhookEndpoint", path = "/v1/webhook-endpoints", tag = "Stagecoach",
    request_body = NewEndpointBody,
    responses((status = 201, body = EndpointBody), (status = 400, body = NativeErrorBody), (status = 401, body = NativeErrorBody)))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<NewEndpointBody>,
) -> Result<(StatusCode, Json<EndpointBody>)> {
    let created = state
        .core
        .create_endpoint(
            &who,
            EndpointInput {
                url: body.url,
                description: body.description,
                event_types: body.event_types,
                style: body.style.unwrap_or(PayloadStyle::Stagecoach),
            },
        )
        .await?;
    let mut answer = endpoint_body(created.endpoint, Some(created.secret));
    answer.warnings = created.warnings;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// The organization's endpoints.
#[utoipa::path(get, operation_id = "listWebhookEndpoints", path = "/v1/webhook-endpoints", tag = "Stagecoach",
    responses((status = 200, body = Vec<EndpointBody>), (status = 401, body = NativeErrorBody)))]
pub async fn list_endpoints(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Vec<EndpointBody>>> {
    let endpoints = state.core.endpoints(&who).await?;
    Ok(Json(
        endpoints
            .into_iter()
            .map(|e| endpoint_body(e, None))
            .collect(),
    ))
}

#[utoipa::path(get, operation_id = "getWebhookEndpoint", path = "/v1/webhook-endpoints/{id}", tag = "Stagecoach",
    params(("id" = String, Path)),
    responses((status = 200, body = EndpointBody), (status = 401, body = NativeErrorBody), (status = 404, body = NativeErrorBody)))]
pub async fn get_endpoint(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<EndpointBody>> {
    let endpoint = state.core.endpoint(&who, EndpointId::parse(&id)).await?;
    Ok(Json(endpoint_body(endpoint, None)))
}

#[utoipa::path(patch, operation_id = "updateWebhookEndpoint", path = "/v1/webhook-endpoints/{id}", tag = "Stagecoach",
    params(("id" = String, Path)), request_body = EndpointPatchBody,
    responses((status = 200, body = EndpointBody), (status = 400, body = NativeErrorBody), (status = 401, body = NativeErrorBody),
        (status = 404, body = NativeErrorBody)))]
pub async fn update_endpoint(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Body(body): Body<EndpointPatchBody>,
) -> Result<Json<EndpointBody>> {
    let endpoint = state
        .core
        .update_endpoint(
            &who,
            EndpointId::parse(&id),
            EndpointPatch {
                url: body.url,
                description: body.description,
                event_types: body.event_types,
                style: body.style,
                disabled: body.disabled,
            },
        )
        .await?;
    Ok(Json(endpoint_body(endpoint, None)))
}

/// Remove an endpoint and its deliveries.
#[utoipa::path(delete, operation_id = "deleteWebhookEndpoint", path = "/v1/webhook-endpoints/{id}", tag = "Stagecoach",
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = NativeErrorBody), (status = 404, body = NativeErrorBody)))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state
        .core
        .delete_endpoint(&who, EndpointId::parse(&id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A delivery: one outbound request and how it went.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryBody {
    /// Also the `webhook-id` header of its requests.
    pub id: String,
    /// `webhook`, `step_webhook`, `event`, `initial_message`, …
    pub kind: String,
    /// `pending`, `done` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub conversation_id: Option<String>,
    pub endpoint_id: Option<String>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it is next due (while pending).
    pub available_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    /// Its attempts, oldest first (only when reading one delivery).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<AttemptBody>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptBody {
    pub attempt: i64,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub http_status: Option<i64>,
    /// The start of the receiver's answer.
    pub response: Option<String>,
    pub error: Option<String>,
}

pub(super) fn delivery_body(entry: OutboxEntry, attempts: Option<Vec<Attempt>>) -> DeliveryBody {
    DeliveryBody {
        id: entry.id.to_string(),
        kind: entry.kind,
        status: entry.status,
        attempts: entry.attempts,
        conversation_id: entry.conversation_id.map(|c| c.to_string()),
        endpoint_id: entry.endpoint_id.map(|e| e.to_string()),
        last_error: entry.last_error,
        available_at: entry.available_at,
        payload: entry.payload,
        created_at: entry.created_at,
        attempt_log: attempts.map(|attempts| {
            attempts
                .into_iter()
                .map(|a| AttemptBody {
                    attempt: a.attempt,
                    started_at: a.started_at,
                    duration_ms: a.duration_ms,
                    http_status: a.http_status,
                    response: a.response_excerpt,
                    error: a.error,
                })
                .collect()
        }),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct DeliveriesQuery {
    pub conversation_id: Option<String>,
    pub endpoint_id: Option<String>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<i64>,
}

/// Deliveries, newest first: of a conversation, of an endpoint, or all.
#[utoipa::path(get, operation_id = "listDeliveries", path = "/v1/deliveries", tag = "Stagecoach", params(DeliveriesQuery),
    responses((status = 200, body = Vec<DeliveryBody>), (status = 400, body = NativeErrorBody), (status = 401, body = NativeErrorBody)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(q): Params<DeliveriesQuery>,
) -> Result<Json<Vec<DeliveryBody>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(stagecoach_domain::ValidationError::single(
            "limit",
            "must be between 1 and 500",
        )
        .into());
    }
    let conversation = match q.conversation_id.as_deref() {
        None => None,
        Some(raw) => Some(ConversationId::parse(raw).ok_or_else(|| {
            stagecoach_domain::ValidationError::single("conversationId", "is not an id")
        })?),
    };
    let endpoint = match q.endpoint_id.as_deref() {
        None => None,
        Some(raw) => Some(EndpointId::parse(raw).ok_or_else(|| {
            stagecoach_domain::ValidationError::single("endpointId", "is not an id")
        })?),
    };
    let entries = state
        .core
        .deliveries(&who, conversation, endpoint, limit)
        .await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| delivery_body(e, None))
            .collect(),
    ))
}

/// One delivery with its attempts.
#[utoipa::path(get, operation_id = "getDelivery", path = "/v1/deliveries/{id}", tag = "Stagecoach",
    params(("id" = String, Path)),
    responses((status = 200, body = DeliveryBody), (status = 401, body = NativeErrorBody), (status = 404, body = NativeErrorBody)))]
pub async fn get_delivery(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<DeliveryBody>> {
    let (entry, attempts) = state.core.delivery(&who, OutboxId::parse(&id)).await?;
    Ok(Json(delivery_body(entry, Some(attempts))))
}

/// Send a delivery again, now (same `webhook-id`).
#[utoipa::path(post, operation_id = "redeliver", path = "/v1/deliveries/{id}/redeliver", tag = "Stagecoach",
    params(("id" = String, Path)),
    responses((status = 202, body = DeliveryBody), (status = 401, body = NativeErrorBody), (status = 404, body = NativeErrorBody)))]
pub async fn redeliver(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<DeliveryBody>)> {
    let entry = state.core.redeliver(&who, OutboxId::parse(&id)).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery_body(entry, None))))
}

/// Which deliveries to send again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkRedeliveryBody {
    /// Only this endpoint's deliveries (otherwise every webhook and message delivery).
    pub endpoint_id: Option<String>,
    /// `failed` (the default), `done` or `pending`.
    pub status: Option<String>,
    /// Only deliveries created at or after this time.
    pub created_from: Option<DateTime<Utc>>,
    /// Only deliveries created before this time.
    pub created_before: Option<DateTime<Utc>>,
    /// At most this many, oldest first (default and maximum 1000).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkRedeliveryAnswer {
    /// How many deliveries were queued again, due now.
    pub redelivered: u64,
    /// Whether the limit was reached: more may match, so call again.
    pub limit_reached: bool,
}

/// Send again, now, every delivery that matches: by endpoint, status and creation period
/// (each keeps its `webhook-id`).
#[utoipa::path(post, operation_id = "redeliverMatching", path = "/v1/deliveries/redeliver", tag = "Stagecoach",
    request_body = BulkRedeliveryBody,
    responses((status = 202, body = BulkRedeliveryAnswer), (status = 400, body = NativeErrorBody), (status = 401, body = NativeErrorBody),
        (status = 403, body = NativeErrorBody), (status = 404, body = NativeErrorBody)))]
pub async fn redeliver_matching(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<BulkRedeliveryBody>,
) -> Result<(StatusCode, Json<BulkRedeliveryAnswer>)> {
    let endpoint = match body.endpoint_id.as_deref() {
        None => None,
        Some(raw) => Some(EndpointId::parse(raw).ok_or_else(|| {
            stagecoach_domain::ValidationError::single("endpointId", "is not an id")
        })?),
    };
    let limit = body.limit.unwrap_or(MAX_BULK_REDELIVERY);
    let filter = RedeliveryFilter {
        endpoint,
        status: body.status.unwrap_or_else(|| "failed".to_owned()),
        created_from: body.created_from,
        created_before: body.created_before,
    };
    let redelivered = state.core.redeliver_matching(&who, filter, limit).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(BulkRedeliveryAnswer {
            redelivered,
            limit_reached: redelivered as i64 >= limit,
        }),
    ))
}
