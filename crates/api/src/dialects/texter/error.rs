//! The Texter dialect's errors. Texter documents no error body, so the whole dialect uses
//! one, in the spirit of its `{success: …}` answers:
//!
//! ```json
//! {"success": false, "code": "VALIDATION_ERROR", "message": "data: must be a JSON object",
//!  "field": "data", "fields": [{"field": "data", "message": "must be a JSON object"}]}
//! ```
//!
//! A token without an endpoint's scope gets 403 with `code: "MISSING_SCOPE"` and the scope
//! in `missingScope`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use stagecoach_app::AppError;
use utoipa::ToSchema;

use crate::extract::Rejection;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TexterErrorBody {
    /// Always `false`.
    pub success: bool,
    /// `VALIDATION_ERROR`, `MALFORMED_JSON`, `PAYLOAD_TOO_LARGE`, `UNAUTHORIZED`,
    /// `MISSING_SCOPE`, `NOT_FOUND`, `CONFLICT`, `SESSION_WINDOW_CLOSED`, `NO_CHANNEL` (409:
    /// nothing can deliver the message), `RATE_LIMITED` (429: past a rate limit, see
    /// `Retry-After`), `BUSY` (503: try again, see `Retry-After`) or `INTERNAL`.
    pub code: &'static str,
    pub message: String,
    /// The first field at fault, if any.
    pub field: Option<String>,
    pub fields: Vec<TexterFieldError>,
    /// With `MISSING_SCOPE`: the scope to give the token (Texter's name for a Texter
    /// endpoint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_scope: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TexterFieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TexterError {
    #[error("{0:?}")]
    Request(Rejection),
}

impl From<Rejection> for TexterError {
    fn from(rejection: Rejection) -> Self {
        TexterError::Request(rejection)
    }
}

impl From<AppError> for TexterError {
    fn from(error: AppError) -> Self {
        TexterError::Request(Rejection::App(error))
    }
}

impl From<stagecoach_domain::ValidationError> for TexterError {
    fn from(error: stagecoach_domain::ValidationError) -> Self {
        TexterError::Request(Rejection::App(error.into()))
    }
}

fn one(field: &str, message: &str) -> Vec<TexterFieldError> {
    vec![TexterFieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    }]
}

impl IntoResponse for TexterError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            TexterError::Request(Rejection::App(error)) => crate::dialects::retry_after(error),
            _ => None,
        };
        let mut missing_scope = None;
        let (status, code, message, fields) = match self {
            TexterError::Request(Rejection::Malformed {
                field: Some(name),
                message,
            }) => (
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                format!("{name}: {message}"),
                one(&name, &message),
            ),
            TexterError::Request(Rejection::Malformed {
                field: None,
                message,
            }) => (StatusCode::BAD_REQUEST, "MALFORMED_JSON", message, vec![]),
            TexterError::Request(Rejection::TooLarge { limit }) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("request body is larger than {limit} bytes"),
                vec![],
            ),
            TexterError::Request(Rejection::App(error)) => match error {
                AppError::Invalid(errors) => (
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    errors.to_string(),
                    errors
                        .0
                        .iter()
                        .map(|e| TexterFieldError {
                            field: e.field.to_string(),
                            message: e.message.clone(),
                        })
                        .collect(),
                ),
                AppError::NotFound { entity, field } => (
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    format!("{entity} not found"),
                    one(
                        field,
                        &format!("no {entity} with this id in your organization"),
                    ),
                ),
                AppError::Conflict { field, message } => (
                    StatusCode::CONFLICT,
                    "CONFLICT",
                    message.clone(),
                    one(field, &message),
                ),
                AppError::Immutable { field } => (
                    StatusCode::FORBIDDEN,
                    "IMMUTABLE_FIELD",
                    format!("{field} cannot be changed"),
                    one(&field, "cannot be changed"),
                ),
                AppError::WindowClosed => (
                    StatusCode::BAD_REQUEST,
                    "SESSION_WINDOW_CLOSED",
                    format!("{}; send a template instead", AppError::WindowClosed),
                    vec![],
                ),
                AppError::Unauthorized => (
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    "send a valid API token as 'Authorization: Bearer <token>'".to_owned(),
                    vec![],
                ),
                AppError::Unverified => (
                    StatusCode::UNAUTHORIZED,
                    "UNVERIFIED_WEBHOOK",
                    AppError::Unverified.to_string(),
                    vec![],
                ),
                AppError::Undeliverable(message) => {
                    (StatusCode::CONFLICT, "NO_CHANNEL", message, vec![])
                }
                AppError::AiUnavailable(message) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "AI_UNAVAILABLE",
                    message,
                    vec![],
                ),
                error @ AppError::Provider { .. } => {
                    let (status, code) = crate::dialects::provider_status(&error);
                    (status, code, error.to_string(), vec![])
                }
                AppError::Forbidden(message) => {
                    (StatusCode::FORBIDDEN, "FORBIDDEN", message, vec![])
                }
                AppError::MissingScope(needed) => {
                    // Texter's own name when one would open the endpoint.
                    missing_scope = needed.map(|needed| match needed.texter_scope() {
                        Some(texter) => texter.name().to_owned(),
                        None => needed.scope.to_string(),
                    });
                    (
                        StatusCode::FORBIDDEN,
                        "MISSING_SCOPE",
                        AppError::MissingScope(needed).to_string(),
                        vec![],
                    )
                }
                error @ AppError::Store(_) => {
                    let (status, code, message) = crate::dialects::store_failure(&error);
                    (status, code, message, vec![])
                }
                AppError::IdempotencyKey(refusal) => {
                    let (status, code, message) = crate::dialects::idempotency_refused(refusal);
                    (status, code, message, vec![])
                }
                error @ AppError::RateLimited { .. } => {
                    let (status, code, message) = crate::dialects::rate_limited(&error);
                    (status, code, message, vec![])
                }
            },
        };
        let body = TexterErrorBody {
            success: false,
            code,
            message,
            field: fields.first().map(|f| f.field.clone()),
            fields,
            missing_scope,
        };
        crate::dialects::with_retry_after((status, Json(body)).into_response(), retry_after)
    }
}

pub type Result<T> = std::result::Result<T, TexterError>;

/// A request no route serves (see [`crate::fallback`]).
pub(crate) fn unmatched(status: StatusCode, code: &'static str, message: String) -> Response {
    let body = TexterErrorBody {
        success: false,
        code,
        message,
        field: None,
        fields: vec![],
        missing_scope: None,
    };
    (status, Json(body)).into_response()
}
