//! Web UI sign-in: a browser that presents a valid API token gets a session cookie. Only a
//! hash of the cookie's secret is stored. The session acts as its token, with its scopes:
//! revoking the token ends it. It also ends when idle too long, at its absolute expiry,
//! and at logout.

use chrono::Duration;
use rand::distr::{Alphanumeric, SampleString};
use stagecoach_domain::enums::TokenType;
use stagecoach_storage::WebSession;

use crate::auth::hash_secret;
use crate::{AppError, Principal, Stagecoach};

/// A session unused this long ends.
pub const SESSION_IDLE: Duration = Duration::hours(8);
/// A session ends this long after sign-in, however active.
pub const SESSION_LIFETIME: Duration = Duration::days(7);
/// How stale `last_seen_at` may get before a request records it (reads stay reads).
const TOUCH_EVERY: Duration = Duration::seconds(60);
/// The cookie secret's length, in letters and digits (about 238 bits).
const SECRET_LEN: usize = 40;

/// A new session: the cookie's secret (shown to the browser only) and who it acts as.
#[derive(Debug, Clone)]
pub struct OpenedSession {
    pub secret: String,
    pub principal: Principal,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl Stagecoach {
    /// Signs a browser in with an API token. Async tokens (queued ingestion only) are
    /// refused, as everywhere but ingestion.
    pub async fn open_session(&self, token: &str) -> Result<OpenedSession, AppError> {
        let principal = self.authenticate(token.trim()).await?;
        if principal.token_type != TokenType::Sync {
            return Err(AppError::Unauthorized);
        }
        let now = self.now();
        let secret = format!(
            "scs_{}",
            Alphanumeric.sample_string(&mut rand::rng(), SECRET_LEN)
        );
        let session = WebSession {
            id: uuid::Uuid::now_v7(),
            organization_id: principal.organization_id,
            token_id: principal.token_id,
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

    /// Who a session cookie acts as; `Unauthorized` once it has ended.
    pub async fn session_principal(&self, secret: &str) -> Result<Principal, AppError> {
        let hash = hash_secret(secret);
        let now = self.now();
        let mut tx = self.store.begin_read().await?;
        let session = tx
            .find_session(&hash)
            .await?
            .ok_or(AppError::Unauthorized)?;
        let token = tx
            .get_api_token(session.organization_id, session.token_id)
            .await?
            .filter(|t| t.is_active());
        drop(tx);
        let expired = now >= session.expires_at || now - session.last_seen_at >= SESSION_IDLE;
        let Some(token) = token.filter(|_| !expired) else {
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
        Ok(Principal {
            organization_id: token.organization_id,
            token_id: token.id,
            token_type: token.token_type,
            scopes: token.scopes,
        })
    }

    /// Ends a session (logout). Ending one that has already ended is not an error.
    pub async fn close_session(&self, secret: &str) -> Result<(), AppError> {
        let mut tx = self.store.begin_write().await?;
        tx.delete_session(&hash_secret(secret)).await?;
        tx.commit().await?;
        Ok(())
    }
}
