use chrono::{DateTime, Duration, Utc};

use crate::enums::TokenType;
use crate::ids::{ApiTokenId, OrganizationId};

/// Every token starts with this, so a leaked one is easy to recognise (and to grep for).
pub const TOKEN_PREFIX: &str = "sc_";

/// How many characters of a token are kept in clear to tell tokens apart in listings.
pub const DISPLAY_PREFIX_LEN: usize = 10;

/// An API token as stored: the secret itself is never kept, only its hash.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub token_type: TokenType,
    /// `None` means full access; a list restricts the token to those scopes.
    pub scopes: Option<Vec<String>>,
    pub display_prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }

    /// Recording every use would turn every read into a write; once a minute is plenty to
    /// answer "is this token still used?".
    pub fn last_used_is_stale(&self, now: DateTime<Utc>) -> bool {
        match self.last_used_at {
            None => true,
            Some(at) => now - at >= Duration::seconds(60),
        }
    }
}

/// Whether a presented secret has the shape of one of ours, before any lookup.
pub fn looks_like_token(secret: &str) -> bool {
    secret.len() > TOKEN_PREFIX.len() + 20
        && secret.starts_with(TOKEN_PREFIX)
        && secret[TOKEN_PREFIX.len()..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape() {
        assert!(looks_like_token("sc_0123456789abcdefghijABCDEFGHIJ"));
        assert!(!looks_like_token("sc_short"));
        assert!(!looks_like_token("xx_0123456789abcdefghijABCDEFGHIJ"));
        assert!(!looks_like_token("sc_0123456789abcdefghij-ABCDEFGHIJ"));
    }

    #[test]
    fn last_used_refreshes_once_a_minute() {
        let now = Utc::now();
        let mut token = ApiToken {
            id: ApiTokenId::new(),
            organization_id: OrganizationId::new(),
            name: "ci".into(),
            token_type: TokenType::Sync,
            scopes: None,
            display_prefix: "sc_abcdefg".into(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        assert!(token.last_used_is_stale(now));
        token.last_used_at = Some(now - Duration::seconds(30));
        assert!(!token.last_used_is_stale(now));
        token.last_used_at = Some(now - Duration::seconds(61));
        assert!(token.last_used_is_stale(now));
    }
}
