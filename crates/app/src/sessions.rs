//! Web UI sign-in. A browser that presents a valid API token, or a member's one-time
//! sign-in link, gets a session cookie; only a hash of the cookie's secret is stored.
//! A token's session acts as the token, with its scopes, and ends when the token is
//! revoked. A member's session acts as the member, with the role's scopes, and ends when
//! the member is removed. Every session also ends when idle too long, at its absolute
//! expiry, and at logout.

use chrono::Duration;
use rand::distr::{Alphanumeric, SampleString};
use stagecoach_domain::enums::TokenType;
use stagecoach_domain::ids::{MembershipId, OrganizationId};
use stagecoach_domain::scope::member_scopes;
use stagecoach_storage::{LoginLink, SessionOwner, WebSession};

use crate::auth::hash_secret;
use crate::{AppError, Entity, Principal, Stagecoach};

/// A session unused this long ends.
pub const SESSION_IDLE: Duration = Duration::hours(8);
/// A session ends this long after sign-in, however active.
pub const SESSION_LIFETIME: Duration = Duration::days(7);
/// How long a sign-in link may wait to be used.
pub const LOGIN_LINK_LIFETIME: Duration = Duration::minutes(10);
/// How stale `last_seen_at` may get before a request records it (reads stay reads).
const TOUCH_EVERY: Duration = Duration::seconds(60);
/// The length of a cookie's or a link's secret, in letters and digits (about 238 bits).
const SECRET_LEN: usize = 40;

/// A new session: the cookie's secret (shown to the browser only) and who it acts as.
#[derive(Debug, Clone)]
pub struct OpenedSession {
    pub secret: String,
    pub principal: Principal,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// A new sign-in link's secret, to put in the link, and when it stops working.
#[derive(Debug, Clone)]
pub struct NewLoginLink {
    pub secret: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

fn new_secret(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        Alphanumeric.sample_string(&mut rand::rng(), SECRET_LEN)
    )
}

impl Stagecoach {
    /// Signs a browser in with an API token. Async tokens (queued ingestion only) are
    /// refused, as everywhere but ingestion.
    pub async fn open_session(&self, token: &str) -> Result<OpenedSession, AppError> {
        let principal = self.authenticate(token.trim()).await?;
        let Some(token_id) = principal.token_id else {
            return Err(AppError::Unauthorized);
        };
        if principal.token_type != TokenType::Sync {
            return Err(AppError::Unauthorized);
        }
        self.insert_session(principal, SessionOwner::Token(token_id))
            .await
    }

    /// A one-time link that signs a browser in as the member, for the command line (the
    /// person who runs it can reach the database, so no token is asked for).
    pub async fn create_login_link(
        &self,
        org: OrganizationId,
        member: MembershipId,
    ) -> Result<NewLoginLink, AppError> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        tx.get_membership(org, member)
            .await?
            .ok_or(AppError::not_found(Entity::Membership, "member"))?;
        let secret = new_secret("scl_");
        let link = LoginLink {
            id: uuid::Uuid::now_v7(),
            organization_id: org,
            membership_id: member,
            created_at: now,
            expires_at: now + LOGIN_LINK_LIFETIME,
        };
        tx.insert_login_link(&link, &hash_secret(&secret)).await?;
        tx.commit().await?;
        Ok(NewLoginLink {
            secret,
            expires_at: link.expires_at,
        })
    }

    /// Signs a browser in from a sign-in link, which is used up whatever the outcome.
    pub async fn open_member_session(&self, link_secret: &str) -> Result<OpenedSession, AppError> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let link = tx.take_login_link(&hash_secret(link_secret.trim())).await?;
        tx.commit().await?;
        let link = link
            .filter(|l| now < l.expires_at)
            .ok_or(AppError::Unauthorized)?;
        let principal = self
            .member_principal(link.organization_id, link.membership_id)
            .await?
            .ok_or(AppError::Unauthorized)?;
        self.insert_session(principal, SessionOwner::Member(link.membership_id))
            .await
    }

    async fn insert_session(
        &self,
        principal: Principal,
        acts_as: SessionOwner,
    ) -> Result<OpenedSession, AppError> {
        let now = self.now();
        let secret = new_secret("scs_");
        let session = WebSession {
            id: uuid::Uuid::now_v7(),
            organization_id: principal.organization_id,
            acts_as,
            created_at: now,
            last_seen_at: now,
            expires_at: now + SESSION_LIFETIME,
        };
        let mut tx = self.store.begin_write().await?;
        tx.insert_session(&session, &hash_secret(&secret)).await?;
        tx.commit().await?;
        Ok(OpenedSession {
            secret,
            principal,
            expires_at: session.expires_at,
        })
    }

    /// The member as a caller, while they are a member.
    async fn member_principal(
        &self,
        org: OrganizationId,
        member: MembershipId,
    ) -> Result<Option<Principal>, AppError> {
        let mut tx = self.store.begin_read().await?;
        let membership = tx.get_membership(org, member).await?;
        Ok(membership.map(|m| Principal {
            organization_id: org,
            token_id: None,
            member: Some(m.id),
            token_type: TokenType::Sync,
            scopes: member_scopes(m.role)
                .map(|scopes| scopes.iter().map(ToString::to_string).collect()),
        }))
    }

    /// Who a session cookie acts as; `Unauthorized` once it has ended.
    pub async fn session_principal(&self, secret: &str) -> Result<Principal, AppError> {
        let hash = hash_secret(secret);
        let now = self.now();
        let mut tx = self.store.begin_read().await?;
        let session = tx
            .find_session(&hash)
            .await?
            .ok_or(AppError::Unauthorized)?;
        let principal = match session.acts_as {
            SessionOwner::Token(token) => tx
                .get_api_token(session.organization_id, token)
                .await?
                .filter(|t| t.is_active())
                .map(|token| Principal {
                    organization_id: token.organization_id,
                    token_id: Some(token.id),
                    member: None,
                    token_type: token.token_type,
                    scopes: token.scopes,
                }),
            SessionOwner::Member(member) => {
                drop(tx);
                self.member_principal(session.organization_id, member)
                    .await?
            }
        };
        let expired = now >= session.expires_at || now - session.last_seen_at >= SESSION_IDLE;
        let Some(principal) = principal.filter(|_| !expired) else {
            let mut tx = self.store.begin_write().await?;
            tx.delete_session(&hash).await?;
            tx.commit().await?;
            return Err(AppError::Unauthorized);
        };
        if now - session.last_seen_at >= TOUCH_EVERY {
            let mut tx = self.store.begin_write().await?;
            tx.touch_session(session.id, now).await?;
            tx.commit().await?;
        }
        Ok(principal)
    }

    /// Ends a session (logout). Ending one that has already ended is not an error.
    pub async fn close_session(&self, secret: &str) -> Result<(), AppError> {
        let mut tx = self.store.begin_write().await?;
        tx.delete_session(&hash_secret(secret)).await?;
        tx.commit().await?;
        Ok(())
    }
}
