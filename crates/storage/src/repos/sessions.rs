//! Web UI sessions: a hash of each cookie's secret, the token it acts as, and its times.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use stagecoach_domain::ids::{ApiTokenId, OrganizationId};
use uuid::Uuid;

use crate::StoreError;
use crate::rows::time;

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSession {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    pub token_id: ApiTokenId,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end, whatever the activity.
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait Sessions {
    async fn insert_session(
        &mut self,
        session: &WebSession,
        secret_hash: &str,
    ) -> Result<(), StoreError>;
    async fn find_session(&mut self, secret_hash: &str) -> Result<Option<WebSession>, StoreError>;
    async fn touch_session(&mut self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError>;
    async fn delete_session(&mut self, secret_hash: &str) -> Result<bool, StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct SessionRow {
        id: Uuid,
        organization_id: Uuid,
        token_id: Uuid,
        secret_hash: String,
        created_at: i64,
        last_seen_at: i64,
        expires_at: i64,
    }
}

impl SessionRow {
    pub(crate) fn into_domain(self) -> Result<WebSession, StoreError> {
        let _ = self.secret_hash;
        Ok(WebSession {
            id: self.id,
            organization_id: OrganizationId(self.organization_id),
            token_id: ApiTokenId(self.token_id),
            created_at: time(self.created_at)?,
            last_seen_at: time(self.last_seen_at)?,
            expires_at: time(self.expires_at)?,
        })
    }
}

macro_rules! impl_sessions {
    ($tx:ty) => {
        #[async_trait::async_trait]
        impl $crate::repos::sessions::Sessions for $tx {
            async fn insert_session(
                &mut self,
                s: &$crate::repos::sessions::WebSession,
                secret_hash: &str,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO web_sessions (id, organization_id, token_id, secret_hash, created_at, \
                     last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(s.id)
                .bind(s.organization_id.0)
                .bind(s.token_id.0)
                .bind(secret_hash)
                .bind($crate::rows::millis(s.created_at))
                .bind($crate::rows::millis(s.last_seen_at))
                .bind($crate::rows::millis(s.expires_at))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn find_session(
                &mut self,
                secret_hash: &str,
            ) -> Result<Option<$crate::repos::sessions::WebSession>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::sessions::SessionRow>(
                    "SELECT * FROM web_sessions WHERE secret_hash = $1",
                )
                .bind(secret_hash)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }

            async fn touch_session(
                &mut self,
                id: uuid::Uuid,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query("UPDATE web_sessions SET last_seen_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind($crate::rows::millis(at))
                    .execute(self.conn())
                    .await?;
                Ok(())
            }

            async fn delete_session(&mut self, secret_hash: &str) -> Result<bool, $crate::StoreError> {
                let done = $crate::sql::query("DELETE FROM web_sessions WHERE secret_hash = $1")
                    .bind(secret_hash)
                    .execute(self.conn())
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use impl_sessions;
