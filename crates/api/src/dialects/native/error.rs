//! The native dialect's errors, in one body shape:
//!
//! ```json
//! {"error": {"code": "VALIDATION_ERROR", "message": "from: is required",
//!            "fields": [{"field": "from", "message": "is required"}]}}
//! ```

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use stagecoach_app::AppError;
use utoipa::ToSchema;

use crate::extract::Rejection;

#[derive(Debug, Serialize, ToSchema)]
pub struct NativeErrorBody {
    pub error: NativeError,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NativeError {
    /// `VALIDATION_ERROR`, `MALFORMED_JSON`, `PAYLOAD_TOO_LARGE`, `UNAUTHORIZED`,
    /// `MISSING_SCOPE`, `NOT_FOUND`, `CONFLICT`, `RATE_LIMITED` (429: past a rate limit, see
    /// `Retry-After`), `BUSY` (503: try again, see `Retry-After`) or `INTERNAL`.
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<NativeFieldError>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NativeFieldError {
    pub field: String,
    pub message: String,
}

/// Everything a native handler can answer instead of success.
#[derive(Debug, thiserror::Error)]
#[error("{0:?}")]
pub struct ApiError(Rejection);

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        ApiError(rejection)
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        ApiError(Rejection::App(error))
    }
}

impl From<stagecoach_domain::ValidationError> for ApiError {
    fn from(error: stagecoach_domain::ValidationError) -> Self {
        ApiError(Rejection::App(error.into()))
    }
}

fn field(field: &str, message: &str) -> Vec<NativeFieldError> {
    vec![NativeFieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    }]
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self.0 {
            Rejection::App(error) => crate::dialects::retry_after(error),
            _ => None,
        };
        let (status, code, message, fields) = match self.0 {
            Rejection::Malformed {
                field: Some(name),
                message,
            } => (
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                format!("{name}: {message}"),
                field(&name, &message),
            ),
            Rejection::Malformed {
                field: None,
                message,
            } => (StatusCode::BAD_REQUEST, "MALFORMED_JSON", message, vec![]),
            Rejection::TooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("request body is larger than {limit} bytes"),
                vec![],
            ),
            Rejection::App(AppError::Invalid(errors)) => (
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                errors.to_string(),
                errors
                    .0
                    .iter()
                    .map(|e| NativeFieldError {
                        field: e.field.to_string(),
                        message: e.message.clone(),
                    })
                    .collect(),
            ),
            Rejection::App(AppError::NotFound {
                entity,
                field: name,
            }) => (
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("{entity} not found"),
                field(
                    name,
                    &format!("no {entity} with this id in your organization"),
                ),
            ),
            Rejection::App(AppError::Conflict {
                field: name,
                message,
            }) => (
                StatusCode::CONFLICT,
                "CONFLICT",
                message.clone(),
                field(name, &message),
            ),
            Rejection::App(AppError::Immutable { field: name }) => (
                StatusCode::FORBIDDEN,
                "IMMUTABLE_FIELD",
                format!("{name} cannot be changed"),
                field(&name, "cannot be changed"),
            ),
            Rejection::App(AppError::WindowClosed) => (
                StatusCode::CONFLICT,
                "SESSION_WINDOW_CLOSED",
                AppError::WindowClosed.to_string(),
                vec![],
            ),
            Rejection::App(AppError::Unauthorized) => (
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "send a valid API token as 'Authorization: Bearer <token>'".to_owned(),
                vec![],
            ),
            Rejection::App(AppError::Undeliverable(message)) => {
                (StatusCode::CONFLICT, "NO_CHANNEL", message, vec![])
            }
            Rejection::App(AppError::AiUnavailable(message)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "AI_UNAVAILABLE",
                message,
                vec![],
            ),
            Rejection::App(error @ AppError::Provider { .. }) => {
                let (status, code) = crate::dialects::provider_status(&error);
                (status, code, error.to_string(), vec![])
            }
            Rejection::App(AppError::Forbidden(message)) => {
                (StatusCode::FORBIDDEN, "FORBIDDEN", message, vec![])
            }
            Rejection::App(error @ AppError::MissingScope(_)) => (
                StatusCode::FORBIDDEN,
                "MISSING_SCOPE",
                error.to_string(),
                vec![],
            ),
            Rejection::App(AppError::Unverified) => (
                StatusCode::UNAUTHORIZED,
                "UNVERIFIED_WEBHOOK",
                AppError::Unverified.to_string(),
                vec![],
            ),
            Rejection::App(error @ AppError::Store(_)) => {
                let (status, code, message) = crate::dialects::store_failure(&error);
                (status, code, message, vec![])
            }
            Rejection::App(AppError::IdempotencyKey(refusal)) => {
                let (status, code, message) = crate::dialects::idempotency_refused(refusal);
                (status, code, message, vec![])
            }
            Rejection::App(error @ AppError::RateLimited { .. }) => {
                let (status, code, message) = crate::dialects::rate_limited(&error);
                (status, code, message, vec![])
            }
        };
        crate::dialects::with_retry_after(
            (
                status,
                Json(NativeErrorBody {
                    error: NativeError {
                        code,
                        message,
                        fields,
                    },
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
    let body = NativeErrorBody {
        error: NativeError {
            code,
            message,
            fields: vec![],
        },
    };
    (status, Json(body)).into_response()
}
