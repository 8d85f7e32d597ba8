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
