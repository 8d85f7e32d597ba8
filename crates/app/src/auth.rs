use sha2::{Digest, Sha256};
use stagecoach_domain::engine::timeline::Actor;
use stagecoach_domain::enums::TokenType;
use stagecoach_domain::ids::{ApiTokenId, MembershipId, OrganizationId};
use stagecoach_domain::scope::Requirement;
use stagecoach_domain::token::looks_like_token;

use crate::{AppError, Stagecoach};

/// Who is calling: the organization a valid token belongs to, and what the token may do.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub organization_id: OrganizationId,
    /// The API token the caller presented, or that its web session was opened with.
    pub token_id: Option<ApiTokenId>,
    /// The member a web session opened from a sign-in link acts as.
    pub member: Option<MembershipId>,
    pub token_type: TokenType,
    /// `None`: full access.
    pub scopes: Option<Vec<String>>,
}

impl Principal {
    /// Who the timeline and webhooks name for what this caller does: the member, else
    /// the token.
    pub fn actor(&self) -> Actor {
        match (self.member, self.token_id) {
            (Some(member), _) => Actor::member(member),
            (None, Some(token)) => Actor::api_token(token),
            (None, None) => Actor::system(),
        }
    }

    /// Refuses a restricted token whose scopes do not meet `needed`.
    pub fn require(&self, needed: Requirement) -> Result<(), AppError> {
        match &self.scopes {
            Some(granted) if !needed.is_met_by(granted) => {
                Err(AppError::MissingScope(Some(needed)))
            }
            _ => Ok(()),
        }
    }
}

/// Tokens are long random strings, so a fast hash is enough to make the stored value
/// useless to a reader of the database, and it lets us find the token by its hash.
pub(crate) fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Stagecoach {
    /// Resolves a presented bearer secret to the principal it stands for.
    pub async fn authenticate(&self, secret: &str) -> Result<Principal, AppError> {
        if !looks_like_token(secret) {
            return Err(AppError::Unauthorized);
        }
        let mut tx = self.store.begin_read().await?;
        let token = tx.find_api_token_by_hash(&hash_secret(secret)).await?;
        drop(tx);
        let token = token
            .filter(|t| t.is_active())
            .ok_or(AppError::Unauthorized)?;
        let now = self.now();
        if token.last_used_is_stale(now) {
            // Bookkeeping only: a request must not fail because this write did.
            let touched = async {
                let mut tx = self.store.begin_write().await?;
                tx.touch_api_token(token.id, now).await?;
                tx.commit().await
            };
            if let Err(error) = touched.await {
                tracing::warn!(token.id = %token.id, %error, "could not record token use");
            }
        }
        Ok(Principal {
            organization_id: token.organization_id,
            token_id: Some(token.id),
            member: None,
            token_type: token.token_type,
            scopes: token.scopes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
