//! The public API dialects. Each is a thin translation onto the same use cases:
//! - [`chatvolt`]: Chatvolt's CRM API (`/crm/...`, `/agents`).
//! - [`native`]: Stagecoach's own API (`/v1/...`).
//! - [`texter`]: Texter's chat API (`/server/api/v2/...`).
//! - [`telecrm`]: TeleCRM's lead API (`/autoupdate/v2/enterprise/{id}/...`).
pub mod chatvolt;
pub mod native;
pub mod telecrm;
pub mod texter;

/// A provider's failure as every dialect answers it: 400 `PROVIDER_REFUSED` when the
/// provider refused the request as asked (the client can fix it), else 502
/// `PROVIDER_ERROR`.
pub(crate) fn provider_status(
    error: &stagecoach_app::AppError,
) -> (axum::http::StatusCode, &'static str) {
    if error.provider_refused_request() {
        (axum::http::StatusCode::BAD_REQUEST, "PROVIDER_REFUSED")
    } else {
        (axum::http::StatusCode::BAD_GATEWAY, "PROVIDER_ERROR")
    }
}

/// A failure in storage as every dialect answers it: the one place it is logged, and the
/// client learns no internals. A transaction PostgreSQL ended to let a concurrent one
/// through wrote nothing: 503 `BUSY`, to be tried again (with `Retry-After`, see
/// [`with_retry_after`]); anything else is 500 `INTERNAL`.
pub(crate) fn store_failure(
    error: &stagecoach_app::AppError,
) -> (axum::http::StatusCode, &'static str, String) {
    if error.is_contention() {
        tracing::warn!(%error, "request ended by the database; the client may retry");
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "BUSY",
            "the server is busy with concurrent changes to the same records; try again".to_owned(),
        )
    } else {
        tracing::error!(%error, "request failed in storage");
        (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error".to_owned(),
        )
    }
}

/// When a client may try again, in seconds: after a rate limit's wait, or at once (1 s)
/// after PostgreSQL ended its transaction for a concurrent one.
pub(crate) fn retry_after(error: &stagecoach_app::AppError) -> Option<u64> {
    match error {
        stagecoach_app::AppError::RateLimited {
            retry_after_secs, ..
        } => Some((*retry_after_secs).max(1)),
        stagecoach_app::AppError::IdempotencyKey(stagecoach_app::KeyRefusal::InFlight) => Some(1),
        error if error.is_contention() => Some(1),
        _ => None,
    }
}

/// Adds `Retry-After` to an answer, when there is a time to tell.
pub(crate) fn with_retry_after(
    mut response: axum::response::Response,
    seconds: Option<u64>,
) -> axum::response::Response {
    if let Some(seconds) = seconds {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(seconds),
        );
    }
    response
}

/// A request whose `Idempotency-Key` cannot be used as every dialect answers it: 422
/// `IDEMPOTENCY_KEY_REUSED` for a key sent with another request, 409
/// `IDEMPOTENCY_KEY_IN_USE` while the first is running (with `Retry-After`), 409
/// `IDEMPOTENCY_ANSWER_LOST` when its server stopped between the work and the answer.
pub(crate) fn idempotency_refused(
    refusal: stagecoach_app::KeyRefusal,
) -> (axum::http::StatusCode, &'static str, String) {
    use stagecoach_app::KeyRefusal;
    let status = match refusal {
        KeyRefusal::DifferentRequest => axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        KeyRefusal::InFlight | KeyRefusal::AnswerLost => axum::http::StatusCode::CONFLICT,
    };
    (status, refusal.code(), refusal.message().to_owned())
}

/// A rate limit's refusal as every dialect answers it: 429 `RATE_LIMITED`.
pub(crate) fn rate_limited(
    error: &stagecoach_app::AppError,
) -> (axum::http::StatusCode, &'static str, String) {
    (
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        error.to_string(),
    )
}
