//! The TeleCRM dialect's extractors: sync tokens for `/autoupdate/v2`, async tokens for
//! the queued `autoupdatelead` endpoint, and the enterprise in the path.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use stagecoach_app::Principal;
use stagecoach_domain::enums::TokenType;

use super::error::ApiError;
use crate::AppState;

crate::extract::dialect_extractors!(super::error::ApiError);

/// The caller of the async API, authenticated by an `async` token.
pub struct AsyncCaller(pub Principal);

impl FromRequestParts<AppState> for AsyncCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        crate::extract::authenticate(parts, state, TokenType::Async)
            .await
            .map(AsyncCaller)
            .map_err(ApiError::from)
    }
}

/// The enterprise in the path must be the token's organization; any other is answered as
/// not found, never with its data.
pub fn enterprise(who: &Principal, enterprise_id: &str) -> Result<(), ApiError> {
    if who.organization_id.to_string() == enterprise_id.trim() {
        Ok(())
    } else {
        Err(ApiError::EnterpriseNotFound)
    }
}
