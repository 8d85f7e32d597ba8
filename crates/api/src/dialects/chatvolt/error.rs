//! The Chatvolt dialect's errors: every failure of a `/crm` or `/agents` endpoint is
//! rendered here, in one body shape.
//!
//! Chatvolt documents `{success: false, error}` for its CRM conversation endpoints and no
//! body for the others, so the whole dialect uses that shape, extended with a stable `code`
//! and the offending `fields`:
//!
//! ```json
//! {"success": false, "error": "name: must not be empty", "code": "VALIDATION_ERROR",
//!  "fields": [{"field": "name", "message": "must not be empty"}]}
//! ```

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use stagecoach_app::AppError;
use utoipa::ToSchema;

/// The body of every error answer of the Chatvolt dialect.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    /// A sentence for a person: what went wrong and, where it helps, how to fix it.
    pub error: String,
    /// A stable machine-readable code: `VALIDATION_ERROR`, `MALFORMED_JSON`,
    /// `PAYLOAD_TOO_LARGE`, `UNAUTHORIZED`, `MISSING_SCOPE` (403), `FORBIDDEN` (403: not the record's owner), `NOT_FOUND`, `CONFLICT`, `READ_ONLY`,
    /// `ERR_META_SESSION_EXPIRED_24H` (406), `NO_CHANNEL` (409: nothing can deliver the
    /// message), `PROVIDER_REFUSED` (400: WhatsApp's API refused the request, its reason
    /// passed on), `PROVIDER_ERROR` (502: WhatsApp's API failed or refused the channel's
    /// credentials), `RATE_LIMITED` (429: past a rate limit, see `Retry-After`), `BUSY`
    /// (503: try again, see `Retry-After`) or `INTERNAL`.
    pub code: &'static str,
    /// The input fields at fault, when there are any.
    pub fields: Vec<FieldErrorBody>,
}

/// One input field and what is wrong with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorBody {
    /// The field's path in the request, e.g. `autoNextTime`, `zapi.agentId` or
    /// `selectedMembershipIdsForAssignee[1]`.
    pub field: String,
    pub message: String,
}

/// Everything a Chatvolt handler can answer instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ChatvoltError {
    #[error(transparent)]
    App(#[from] AppError),
    /// The body is not JSON, or a field has the wrong type or an unknown enum value.
    #[error("{message}")]
    Malformed {
        field: Option<String>,
        message: String,
    },
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The resource exists but cannot be written through this API.
    #[error("{message}")]
    ReadOnly { message: &'static str },
}

impl ChatvoltError {
    fn parts(&self) -> (StatusCode, &'static str, String, Vec<FieldErrorBody>) {
        match self {
            ChatvoltError::App(AppError::Invalid(errors)) => (
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                errors.to_string(),
                errors
                    .0
                    .iter()
                    .map(|e| FieldErrorBody {
                        field: e.field.to_string(),
                        message: e.message.clone(),
                    })
                    .collect(),
            ),
            ChatvoltError::App(AppError::NotFound { entity, field }) => (
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("{entity} not found"),
                vec![FieldErrorBody {
                    field: (*field).to_owned(),
                    message: format!("no {entity} with this id in your organization"),
                }],
            ),
            ChatvoltError::App(AppError::Conflict { field, message }) => (
                StatusCode::CONFLICT,
                "CONFLICT",
                message.clone(),
                vec![FieldErrorBody {
                    field: (*field).to_owned(),
                    message: message.clone(),
                }],
            ),
            ChatvoltError::App(AppError::Immutable { field }) => (
                StatusCode::FORBIDDEN,
                "IMMUTABLE_FIELD",
                format!("{field} cannot be changed"),
                vec![FieldErrorBody {
                    field: field.clone(),
                    message: "cannot be changed".to_owned(),
                }],
            ),
            ChatvoltError::App(AppError::WindowClosed) => (
                StatusCode::NOT_ACCEPTABLE,
                "ERR_META_SESSION_EXPIRED_24H",
                AppError::WindowClosed.to_string(),
                vec![],
            ),
            ChatvoltError::App(AppError::Unauthorized) => (
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "send a valid API token as 'Authorization: Bearer <token>'".to_owned(),
                vec![],
            ),
            ChatvoltError::App(AppError::Undeliverable(message)) => {
                (StatusCode::CONFLICT, "NO_CHANNEL", message.clone(), vec![])
            }
            ChatvoltError::App(AppError::AiUnavailable(message)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "AI_UNAVAILABLE",
                message.clone(),
                vec![],
            ),
            ChatvoltError::App(error @ AppError::Provider { .. }) => {
                let (status, code) = crate::dialects::provider_status(error);
                (status, code, error.to_string(), vec![])
            }
            ChatvoltError::App(AppError::Forbidden(message)) => {
                (StatusCode::FORBIDDEN, "FORBIDDEN", message.clone(), vec![])
            }
            ChatvoltError::App(error @ AppError::MissingScope(_)) => (
                StatusCode::FORBIDDEN,
                "MISSING_SCOPE",
                error.to_string(),
                vec![],
            ),
            ChatvoltError::App(error @ AppError::Unverified) => (
                StatusCode::UNAUTHORIZED,
                "UNVERIFIED_WEBHOOK",
                error.to_string(),
                vec![],
            ),
            ChatvoltError::App(error @ AppError::Store(_)) => {
                let (status, code, message) = crate::dialects::store_failure(error);
                (status, code, message, vec![])
            }
            ChatvoltError::App(AppError::IdempotencyKey(refusal)) => {
                let (status, code, message) = crate::dialects::idempotency_refused(*refusal);
                (status, code, message, vec![])
            }
            ChatvoltError::App(error @ AppError::RateLimited { .. }) => {
                let (status, code, message) = crate::dialects::rate_limited(error);
                (status, code, message, vec![])
            }
            ChatvoltError::Malformed { field, message } => (
                StatusCode::BAD_REQUEST,
                if field.is_some() {
                    "VALIDATION_ERROR"
                } else {
                    "MALFORMED_JSON"
                },
                match field {
                    Some(field) => format!("{field}: {message}"),
                    None => message.clone(),
                },
                field
                    .iter()
                    .map(|f| FieldErrorBody {
                        field: f.clone(),
                        message: message.clone(),
                    })
                    .collect(),
            ),
            ChatvoltError::ReadOnly { message } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "READ_ONLY",
                (*message).to_owned(),
                vec![],
            ),
            ChatvoltError::TooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                self.to_string(),
                vec![],
            ),
        }
    }
}

impl IntoResponse for ChatvoltError {
    fn into_response(self) -> Response {
        let (status, code, error, fields) = self.parts();
        let retry_after = match &self {
            ChatvoltError::App(error) => crate::dialects::retry_after(error),
            _ => None,
        };
        crate::dialects::with_retry_after(
            (
                status,
                Json(ErrorBody {
                    success: false,
                    error,
                    code,
                    fields,
                }),
            )
                .into_response(),
            retry_after,
        )
    }
}

/// A request no route serves: an unknown path (404 `NOT_FOUND`) or a method the path
/// does not take (405 `METHOD_NOT_ALLOWED`).
pub(crate) fn unmatched(status: StatusCode, code: &'static str, message: String) -> Response {
    let body = ErrorBody {
        success: false,
        error: message,
        code,
        fields: vec![],
    };
    (status, Json(body)).into_response()
}

/// A handler panicked: answer 500 without internals (the panic itself is logged).
pub(crate) fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    let body = ErrorBody {
        success: false,
        error: "internal error".to_owned(),
        code: "INTERNAL",
        fields: vec![],
    };
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

impl From<crate::extract::Rejection> for ChatvoltError {
    fn from(rejection: crate::extract::Rejection) -> Self {
        match rejection {
            crate::extract::Rejection::Malformed { field, message } => {
                ChatvoltError::Malformed { field, message }
            }
            crate::extract::Rejection::TooLarge { limit } => ChatvoltError::TooLarge { limit },
            crate::extract::Rejection::App(error) => ChatvoltError::App(error),
        }
    }
}

impl From<stagecoach_domain::ValidationError> for ChatvoltError {
    fn from(error: stagecoach_domain::ValidationError) -> Self {
        ChatvoltError::App(error.into())
    }
}

pub type Result<T> = std::result::Result<T, ChatvoltError>;
