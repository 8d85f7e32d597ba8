//! The TeleCRM dialect's errors: every one has the body `{"error": {"code", "message"}}`,
//! as TeleCRM documents, with TeleCRM's codes. A refusal for a field's sake names the field
//! first in its message (`status: must be one of …`); several are joined with `; `.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use stagecoach_app::{AppError, Entity};
use stagecoach_domain::leads::actions::IMMUTABLE_PAYMENT_MESSAGE;
use utoipa::ToSchema;

use crate::extract::Rejection;

#[derive(Debug, Serialize, ToSchema)]
pub struct TelecrmErrorBody {
    pub error: TelecrmError,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TelecrmError {
    /// `BAD_REQUEST`, `NOT_AUTHORIZED`, `INVALID_LEAD`, `LEAD_NOT_FOUND`, `ACTION_NOT_FOUND`,
    /// `TEAM_MEMBER_NOT_FOUND`, `ENTERPRISE_NOT_FOUND`, `NOT_FOUND`, `CONFLICT`, `MISSING_SCOPE`
    /// (403), `RATE_LIMITED` (429: past a rate limit, see `Retry-After`), `BUSY` (503: try
    /// again, see `Retry-After`) or `INTERNAL`.
    pub code: &'static str,
    pub message: String,
}

/// Everything a TeleCRM handler can answer instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0:?}")]
    Request(Rejection),
    #[error("enterprise not found")]
    EnterpriseNotFound,
    #[error("lead {0} not found")]
    LeadNotFound(String),
    #[error("action {0} not found")]
    ActionNotFound(String),
    #[error("{0}")]
    NotFound(String),
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        ApiError::Request(rejection)
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        ApiError::Request(Rejection::App(error))
    }
}

impl From<stagecoach_domain::ValidationError> for ApiError {
    fn from(error: stagecoach_domain::ValidationError) -> Self {
        ApiError::Request(Rejection::App(error.into()))
    }
}

impl ApiError {
    /// Names the lead and action of the path in not-found answers, as TeleCRM does.
    pub fn naming(self, lead: &str, action: Option<&str>) -> ApiError {
        match self {
            ApiError::Request(Rejection::App(AppError::NotFound {
                entity: Entity::Lead,
                ..
            })) => ApiError::LeadNotFound(lead.to_owned()),
            ApiError::Request(Rejection::App(AppError::NotFound {
                entity: Entity::Action,
                ..
            })) => ApiError::ActionNotFound(action.unwrap_or_default().to_owned()),
            other => other,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            ApiError::Request(Rejection::App(error)) => crate::dialects::retry_after(error),
            _ => None,
        };
        let bad = |message: String| (StatusCode::BAD_REQUEST, "BAD_REQUEST", message);
        let (status, code, message) = match self {
            ApiError::EnterpriseNotFound => (
                StatusCode::NOT_FOUND,
                "ENTERPRISE_NOT_FOUND",
                "Enterprise not found.".to_owned(),
            ),
            ApiError::LeadNotFound(id) => (
                StatusCode::NOT_FOUND,
                "LEAD_NOT_FOUND",
                format!("Lead with ID {id} was not found."),
            ),
            ApiError::ActionNotFound(id) => (
                StatusCode::NOT_FOUND,
                "ACTION_NOT_FOUND",
                format!("Action with ID {id} was not found in the lead."),
            ),
            ApiError::NotFound(message) => (StatusCode::NOT_FOUND, "NOT_FOUND", message),
            ApiError::Request(Rejection::Malformed {
                field: Some(field),
                message,
            }) => bad(format!("{field}: {message}")),
            ApiError::Request(Rejection::Malformed {
                field: None,
                message,
            }) => bad(message),
            ApiError::Request(Rejection::TooLarge { limit }) => {
                bad(format!("request body is larger than {limit} bytes"))
            }
            ApiError::Request(Rejection::App(error)) => match error {
                AppError::Invalid(errors) => match errors.0.as_slice() {
                    // TeleCRM documents this refusal word for word, and it names its fields.
                    [only] if only.message == IMMUTABLE_PAYMENT_MESSAGE => {
                        bad(only.message.clone())
                    }
                    _ => bad(errors.to_string()),
                },
                AppError::Immutable { field } => (
                    StatusCode::FORBIDDEN,
                    "INVALID_LEAD",
                    format!("{field}: Cannot modify lead identifier field"),
                ),
                AppError::NotFound {
                    entity: Entity::Lead,
                    ..
                } => (
                    StatusCode::NOT_FOUND,
                    "LEAD_NOT_FOUND",
                    "Lead was not found.".to_owned(),
                ),
                AppError::NotFound {
                    entity: Entity::Action,
                    ..
                } => (
                    StatusCode::NOT_FOUND,
                    "ACTION_NOT_FOUND",
                    "Action was not found in the lead.".to_owned(),
                ),
                AppError::NotFound {
                    entity: Entity::Membership,
                    ..
                } => (
                    StatusCode::NOT_FOUND,
                    "TEAM_MEMBER_NOT_FOUND",
                    "Team member not found.".to_owned(),
                ),
                AppError::NotFound { entity, .. } => (
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    format!("{entity} not found"),
                ),
                AppError::Conflict { message, .. } => (StatusCode::CONFLICT, "CONFLICT", message),
                AppError::WindowClosed => bad(AppError::WindowClosed.to_string()),
                AppError::Unauthorized => (
                    StatusCode::UNAUTHORIZED,
                    "NOT_AUTHORIZED",
                    "Missing, invalid or revoked token, or a token of the wrong type.".to_owned(),
                ),
                AppError::Unverified => (
                    StatusCode::UNAUTHORIZED,
                    "NOT_AUTHORIZED",
                    AppError::Unverified.to_string(),
                ),
                AppError::Undeliverable(message) => (StatusCode::CONFLICT, "NO_CHANNEL", message),
                AppError::AiUnavailable(message) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "AI_UNAVAILABLE", message)
                }
                error @ AppError::MissingScope(_) => {
                    (StatusCode::FORBIDDEN, "MISSING_SCOPE", error.to_string())
                }
                AppError::Forbidden(message) => (StatusCode::FORBIDDEN, "FORBIDDEN", message),
                error @ AppError::Provider { .. } => {
                    let (status, code) = crate::dialects::provider_status(&error);
                    (status, code, error.to_string())
                }
                error @ AppError::Store(_) => crate::dialects::store_failure(&error),
                error @ AppError::RateLimited { .. } => crate::dialects::rate_limited(&error),
                AppError::IdempotencyKey(refusal) => crate::dialects::idempotency_refused(refusal),
            },
        };
        crate::dialects::with_retry_after(
            (
                status,
                Json(TelecrmErrorBody {
                    error: TelecrmError { code, message },
                }),
            )
                .into_response(),
            retry_after,
        )
    }
}

pub type Result<T> = std::result::Result<T, ApiError>;

/// A request no route serves (see [`crate::fallback`]).
pub(crate) fn unmatched(status: StatusCode, code: &'static str, message: String) -> Response {
    let body = TelecrmErrorBody {
        error: TelecrmError { code, message },
    };
    (status, Json(body)).into_response()
}
