//! Web UI sessions: a hash of each cookie's secret, the token or member it acts as, and
//! its times; and the one-time sign-in links that open member sessions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use stagecoach_domain::ids::{ApiTokenId, MembershipId, OrganizationId};
use uuid::Uuid;

use crate::StoreError;
use crate::rows::time;

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSession {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    pub acts_as: SessionOwner,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end, whatever the activity.
    pub expires_at: DateTime<Utc>,
}

/// Whom a session acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOwner {
    /// Opened with an API token: acts as it, with its scopes.
    Token(ApiTokenId),
    /// Opened from a sign-in link: acts as the member.
    Member(MembershipId),
}

/// A one-time sign-in link for a member, not yet used.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginLink {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    pub membership_id: MembershipId,
    pub created_at: DateTime<Utc>,
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
    async fn insert_login_link(
        &mut self,
        link: &LoginLink,
        secret_hash: &str,
    ) -> Result<(), StoreError>;
    /// Removes the link and answers it: a second taker finds nothing.
    async fn take_login_link(&mut self, secret_hash: &str)
    -> Result<Option<LoginLink>, StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct SessionRow {
        id: Uuid,
        organization_id: Uuid,
        token_id: Option<Uuid>,
        secret_hash: String,
        created_at: i64,
        last_seen_at: i64,
        expires_at: i64,
        membership_id: Option<Uuid>,
    }
}

crate::sql::row_struct! {
    pub(crate) struct LoginLinkRow {
        id: Uuid,
        organization_id: Uuid,
        membership_id: Uuid,
        created_at: i64,
        expires_at: i64,
    }
}

impl LoginLinkRow {
    pub(crate) fn into_domain(self) -> Result<LoginLink, StoreError> {
        Ok(LoginLink {
            id: self.id,
            organization_id: OrganizationId(self.organization_id),
            membership_id: MembershipId(self.membership_id),
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
        })
    }
}

impl SessionRow {
    pub(crate) fn into_domain(self) -> Result<WebSession, StoreError> {
        let _ = self.secret_hash;
        let acts_as = match (self.token_id, self.membership_id) {
            (Some(token), None) => SessionOwner::Token(ApiTokenId(token)),
            (None, Some(member)) => SessionOwner::Member(MembershipId(member)),
            _ => {
                return Err(StoreError::Corrupt(
                    "web_sessions: a session acts as exactly one token or member".into(),
                ));
            }
        };
        Ok(WebSession {
            id: self.id,
            organization_id: OrganizationId(self.organization_id),
            acts_as,
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
                    "INSERT INTO web_sessions (id, organization_id, token_id, membership_id, secret_hash, \
                     created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(s.id)
                .bind(s.organization_id.0)
                .bind(match s.acts_as {
                    $crate::repos::sessions::SessionOwner::Token(id) => Some(id.0),
                    $crate::repos::sessions::SessionOwner::Member(_) => None,
                })
                .bind(match s.acts_as {
                    $crate::repos::sessions::SessionOwner::Member(id) => Some(id.0),
                    $crate::repos::sessions::SessionOwner::Token(_) => None,
                })
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

            async fn insert_login_link(
                &mut self,
                l: &$crate::repos::sessions::LoginLink,
                secret_hash: &str,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO login_links (id, organization_id, membership_id, secret_hash, created_at, \
                     expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(l.id)
                .bind(l.organization_id.0)
                .bind(l.membership_id.0)
                .bind(secret_hash)
                .bind($crate::rows::millis(l.created_at))
                .bind($crate::rows::millis(l.expires_at))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn take_login_link(
                &mut self,
                secret_hash: &str,
            ) -> Result<Option<$crate::repos::sessions::LoginLink>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::sessions::LoginLinkRow>(
                    "DELETE FROM login_links WHERE secret_hash = $1 \
                     RETURNING id, organization_id, membership_id, created_at, expires_at",
                )
                .bind(secret_hash)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }
        }
    };
}
pub(crate) use impl_sessions;
