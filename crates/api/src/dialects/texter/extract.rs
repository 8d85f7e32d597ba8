//! The Texter dialect's extractors, and its token scopes.

use stagecoach_app::Principal;

use super::error::TexterError;

crate::extract::dialect_extractors!(super::error::TexterError);

/// Texter's token scopes, by the names Texter gives them.
pub mod scope {
    pub const MANAGE_ALL_CHATS: &str = "Manage all chats";
    pub const LIST_ALL_CHATS: &str = "List all chats";
    pub const VIEW_ALL_CHATS: &str = "View all chats";
    pub const SEND_SESSION_MESSAGE: &str = "Send session message";
    pub const MANAGE_LABELS: &str = "Manage labels";
}

/// Refuses a token restricted to scopes that do not include `scope`. A token created with
/// no scopes has full access.
pub fn require(who: &Principal, scope: &'static str) -> Result<(), TexterError> {
    match &who.scopes {
        Some(scopes) if !scopes.iter().any(|s| s == scope) => Err(TexterError::MissingScope(scope)),
        _ => Ok(()),
    }
}
