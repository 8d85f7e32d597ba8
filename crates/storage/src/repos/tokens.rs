use async_trait::async_trait;
use chrono::{DateTime, Utc};
use stagecoach_domain::enums::TokenType;
use stagecoach_domain::ids::{ApiTokenId, OrganizationId};
use stagecoach_domain::token::ApiToken;
use uuid::Uuid;

use crate::StoreError;
use crate::rows::{from_json, opt_time, parse_enum, time};

#[async_trait]
pub trait ApiTokens {
    /// Stores a token under the hash of its secret; the secret itself is never stored.
    async fn insert_api_token(&mut self, token: &ApiToken, hash: &str) -> Result<(), StoreError>;
    /// The token whose secret hashes to `hash`, revoked or not: this is how a request is
    /// authenticated, before any organization is known.
    async fn find_api_token_by_hash(&mut self, hash: &str) -> Result<Option<ApiToken>, StoreError>;
    /// One of the organization's tokens, revoked or not.
    async fn get_api_token(
        &mut self,
        org: OrganizationId,
        id: ApiTokenId,
    ) -> Result<Option<ApiToken>, StoreError>;
    /// The organization's tokens, oldest first.
    async fn list_api_tokens(&mut self, org: OrganizationId) -> Result<Vec<ApiToken>, StoreError>;
    async fn touch_api_token(
        &mut self,
        id: ApiTokenId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Revokes a token (an operator action, so not scoped to an organization). `None` when
    /// there is no such token; a token already revoked keeps its first revocation time.
    async fn revoke_api_token(
        &mut self,
        id: ApiTokenId,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiToken>, StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct ApiTokenRow {
        id: Uuid,
        organization_id: Uuid,
        name: String,
        display_prefix: String,
        token_type: String,
        scopes: Option<String>,
        created_at: i64,
        last_used_at: Option<i64>,
        revoked_at: Option<i64>,
    }
}

impl ApiTokenRow {
    pub(crate) fn into_domain(self) -> Result<ApiToken, StoreError> {
        Ok(ApiToken {
            id: ApiTokenId(self.id),
            organization_id: OrganizationId(self.organization_id),
            name: self.name,
            token_type: parse_enum("token_type", &self.token_type, TokenType::parse)?,
            scopes: from_json("scopes", self.scopes)?,
            display_prefix: self.display_prefix,
            created_at: time(self.created_at)?,
            last_used_at: opt_time(self.last_used_at)?,
            revoked_at: opt_time(self.revoked_at)?,
        })
    }
}

macro_rules! impl_api_tokens {
    ($tx:ty) => {
        #[async_trait::async_trait]
        impl $crate::repos::tokens::ApiTokens for $tx {
            async fn insert_api_token(
                &mut self,
                t: &stagecoach_domain::token::ApiToken,
                hash: &str,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO api_tokens (id, organization_id, name, token_hash, display_prefix, \
                     token_type, scopes, created_at, last_used_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(t.id.0)
                .bind(t.organization_id.0)
                .bind(&t.name)
                .bind(hash)
                .bind(&t.display_prefix)
                .bind(t.token_type.as_str())
                .bind($crate::rows::to_json(&t.scopes))
                .bind($crate::rows::millis(t.created_at))
                .bind(t.last_used_at.map($crate::rows::millis))
                .bind(t.revoked_at.map($crate::rows::millis))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn find_api_token_by_hash(
                &mut self,
                hash: &str,
            ) -> Result<Option<stagecoach_domain::token::ApiToken>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::tokens::ApiTokenRow>(
                    "SELECT id, organization_id, name, display_prefix, token_type, scopes, \
                     created_at, last_used_at, revoked_at FROM api_tokens WHERE token_hash = $1",
                )
                .bind(hash)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }

            async fn get_api_token(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::ApiTokenId,
            ) -> Result<Option<stagecoach_domain::token::ApiToken>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::tokens::ApiTokenRow>(
                    "SELECT id, organization_id, name, display_prefix, token_type, scopes, \
                     created_at, last_used_at, revoked_at FROM api_tokens \
                     WHERE organization_id = $1 AND id = $2",
                )
                .bind(org.0)
                .bind(id.0)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }

            async fn list_api_tokens(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
            ) -> Result<Vec<stagecoach_domain::token::ApiToken>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::tokens::ApiTokenRow>(
                    "SELECT id, organization_id, name, display_prefix, token_type, scopes, \
                     created_at, last_used_at, revoked_at FROM api_tokens \
                     WHERE organization_id = $1 ORDER BY id",
                )
                .bind(org.0)
                .fetch_all(self.conn())
                .await?;
                rows.into_iter().map(|row| row.into_domain()).collect()
            }

            async fn touch_api_token(
                &mut self,
                id: stagecoach_domain::ids::ApiTokenId,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                    .bind(id.0)
                    .bind($crate::rows::millis(now))
                    .execute(self.conn())
                    .await?;
                Ok(())
            }

            async fn revoke_api_token(
                &mut self,
                id: stagecoach_domain::ids::ApiTokenId,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<stagecoach_domain::token::ApiToken>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::tokens::ApiTokenRow>(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 \
                     RETURNING id, organization_id, name, display_prefix, token_type, scopes, \
                     created_at, last_used_at, revoked_at",
                )
                .bind(id.0)
                .bind($crate::rows::millis(now))
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }
        }
    };
}
pub(crate) use impl_api_tokens;
