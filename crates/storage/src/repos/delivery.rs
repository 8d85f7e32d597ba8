//! Webhook endpoints, channels and delivery attempts. Secrets arrive here encrypted and
//! leave encrypted: this layer never sees them in clear.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use stagecoach_domain::delivery::targets::{Channel, ChannelKind, PayloadStyle, WebhookEndpoint};
use stagecoach_domain::ids::{
    AgentId, AttemptId, ChannelId, ConversationId, EndpointId, OrganizationId, OutboxId,
};
use uuid::Uuid;

use crate::rows::{from_json, parse_enum, time};
use crate::{OutboxEntry, StoreError};

/// One attempt at a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub id: AttemptId,
    pub organization_id: OrganizationId,
    pub outbox_id: OutboxId,
    pub attempt: i64,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub http_status: Option<i64>,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

#[async_trait]
pub trait Deliveries {
    async fn insert_endpoint(
        &mut self,
        endpoint: &WebhookEndpoint,
        secret_encrypted: &str,
    ) -> Result<(), StoreError>;
    async fn update_endpoint(&mut self, endpoint: &WebhookEndpoint) -> Result<(), StoreError>;
    async fn list_endpoints(
        &mut self,
        org: OrganizationId,
    ) -> Result<Vec<(WebhookEndpoint, String)>, StoreError>;
    async fn get_endpoint(
        &mut self,
        org: OrganizationId,
        id: EndpointId,
    ) -> Result<Option<(WebhookEndpoint, String)>, StoreError>;
    async fn delete_endpoint(
        &mut self,
        org: OrganizationId,
        id: EndpointId,
    ) -> Result<bool, StoreError>;

    /// Fails with [`StoreError::UniqueViolation`] when the organization has connected the
    /// account already.
    async fn insert_channel(
        &mut self,
        channel: &Channel,
        secrets_encrypted: &str,
    ) -> Result<(), StoreError>;
    /// The organization's channels, each with its encrypted secrets.
    async fn list_channels(
        &mut self,
        org: OrganizationId,
    ) -> Result<Vec<(Channel, String)>, StoreError>;
    /// A channel by id, whatever its organization: providers call its webhook by id.
    async fn channel_by_id(
        &mut self,
        id: ChannelId,
    ) -> Result<Option<(Channel, String)>, StoreError>;
    /// Records the WhatsApp business account a channel's number belongs to.
    async fn set_channel_business_account(
        &mut self,
        id: ChannelId,
        business_account_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn delete_channel(
        &mut self,
        org: OrganizationId,
        id: ChannelId,
    ) -> Result<bool, StoreError>;

    /// Queues a delivery (to an endpoint, when given).
    async fn enqueue_delivery(
        &mut self,
        org: OrganizationId,
        conversation: Option<ConversationId>,
        endpoint: Option<EndpointId>,
        kind: &str,
        id: OutboxId,
        payload: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn get_outbox(
        &mut self,
        org: OrganizationId,
        id: OutboxId,
    ) -> Result<Option<OutboxEntry>, StoreError>;
    /// Deliveries of a conversation or an endpoint (or all), newest first.
    async fn list_deliveries(
        &mut self,
        org: OrganizationId,
        conversation: Option<ConversationId>,
        endpoint: Option<EndpointId>,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Tries again later: the row stays pending.
    async fn retry_outbox(
        &mut self,
        id: OutboxId,
        at: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Gives up: the row is failed.
    async fn fail_outbox(
        &mut self,
        id: OutboxId,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Puts a delivery back in the queue, due now.
    async fn redeliver(
        &mut self,
        org: OrganizationId,
        id: OutboxId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Puts the deliveries that match `filter` back in the queue, due now: at most
    /// `limit` of them, oldest first. Returns how many.
    async fn redeliver_matching(
        &mut self,
        org: OrganizationId,
        filter: &RedeliveryFilter,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, StoreError>;
    async fn insert_attempt(&mut self, attempt: &Attempt) -> Result<(), StoreError>;
    async fn list_attempts(
        &mut self,
        org: OrganizationId,
        outbox: OutboxId,
    ) -> Result<Vec<Attempt>, StoreError>;
}

/// Which deliveries a bulk redelivery takes.
#[derive(Debug, Clone, PartialEq)]
pub struct RedeliveryFilter {
    pub endpoint: Option<EndpointId>,
    /// `failed`, `done` or `pending`.
    pub status: String,
    /// Created at or after this.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before this.
    pub created_before: Option<DateTime<Utc>>,
}

crate::sql::row_struct! {
    pub(crate) struct EndpointRow {
        id: Uuid,
        organization_id: Uuid,
        url: String,
        description: Option<String>,
        event_types: String,
        style: String,
        secret_encrypted: String,
        disabled: bool,
        created_at: i64,
        updated_at: i64,
    }
}

impl EndpointRow {
    pub(crate) fn into_domain(self) -> Result<(WebhookEndpoint, String), StoreError> {
        let style = parse_enum("style", &self.style, |s| {
            serde_json::from_value::<PayloadStyle>(Value::from(s)).ok()
        })?;
        Ok((
            WebhookEndpoint {
                id: EndpointId(self.id),
                organization_id: OrganizationId(self.organization_id),
                url: self.url,
                description: self.description,
                event_types: from_json("event_types", Some(self.event_types))?.unwrap_or_default(),
                style,
                disabled: self.disabled,
                created_at: time(self.created_at)?,
                updated_at: time(self.updated_at)?,
            },
            self.secret_encrypted,
        ))
    }
}

crate::sql::row_struct! {
    pub(crate) struct ChannelRow {
        id: Uuid,
        organization_id: Uuid,
        kind: String,
        name: String,
        agent_id: Option<Uuid>,
        account_id: String,
        business_account_id: Option<String>,
        secrets_encrypted: String,
        created_at: i64,
        updated_at: i64,
    }
}

impl ChannelRow {
    pub(crate) fn into_domain(self) -> Result<(Channel, String), StoreError> {
        Ok((
            Channel {
                id: ChannelId(self.id),
                organization_id: OrganizationId(self.organization_id),
                kind: parse_enum("kind", &self.kind, ChannelKind::parse)?,
                name: self.name,
                agent_id: self.agent_id.map(AgentId),
                account_id: self.account_id,
                business_account_id: self.business_account_id,
                created_at: time(self.created_at)?,
                updated_at: time(self.updated_at)?,
            },
            self.secrets_encrypted,
        ))
    }
}

crate::sql::row_struct! {
    pub(crate) struct AttemptRow {
        id: Uuid,
        organization_id: Uuid,
        outbox_id: Uuid,
        attempt: i64,
        started_at: i64,
        duration_ms: i64,
        http_status: Option<i64>,
        response_excerpt: Option<String>,
        error: Option<String>,
    }
}

impl AttemptRow {
    pub(crate) fn into_domain(self) -> Result<Attempt, StoreError> {
        Ok(Attempt {
            id: AttemptId(self.id),
            organization_id: OrganizationId(self.organization_id),
            outbox_id: OutboxId(self.outbox_id),
            attempt: self.attempt,
            started_at: time(self.started_at)?,
            duration_ms: self.duration_ms,
            http_status: self.http_status,
            response_excerpt: self.response_excerpt,
            error: self.error,
        })
    }
}

fn style_name(style: PayloadStyle) -> String {
    serde_json::to_value(style)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub(crate) fn endpoint_style(endpoint: &WebhookEndpoint) -> String {
    style_name(endpoint.style)
}

macro_rules! impl_deliveries {
    ($tx:ty) => {
        #[async_trait::async_trait]
        impl $crate::repos::delivery::Deliveries for $tx {
            async fn insert_endpoint(
                &mut self,
                e: &stagecoach_domain::delivery::targets::WebhookEndpoint,
                secret_encrypted: &str,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO webhook_endpoints (id, organization_id, url, description, event_types, style, \
                     secret_encrypted, disabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(e.id.0)
                .bind(e.organization_id.0)
                .bind(&e.url)
                .bind(&e.description)
                .bind(serde_json::to_string(&e.event_types).expect("strings serialize"))
                .bind($crate::repos::delivery::endpoint_style(e))
                .bind(secret_encrypted)
                .bind(e.disabled)
                .bind($crate::rows::millis(e.created_at))
                .bind($crate::rows::millis(e.updated_at))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn update_endpoint(
                &mut self,
                e: &stagecoach_domain::delivery::targets::WebhookEndpoint,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "UPDATE webhook_endpoints SET url = $3, description = $4, event_types = $5, style = $6, \
                     disabled = $7, updated_at = $8 WHERE organization_id = $1 AND id = $2",
                )
                .bind(e.organization_id.0)
                .bind(e.id.0)
                .bind(&e.url)
                .bind(&e.description)
                .bind(serde_json::to_string(&e.event_types).expect("strings serialize"))
                .bind($crate::repos::delivery::endpoint_style(e))
                .bind(e.disabled)
                .bind($crate::rows::millis(e.updated_at))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn list_endpoints(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
            ) -> Result<Vec<(stagecoach_domain::delivery::targets::WebhookEndpoint, String)>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::delivery::EndpointRow>(
                    "SELECT * FROM webhook_endpoints WHERE organization_id = $1 ORDER BY id",
                )
                .bind(org.0)
                .fetch_all(self.conn())
                .await?;
                rows.into_iter().map(|r| r.into_domain()).collect()
            }

            async fn get_endpoint(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::EndpointId,
            ) -> Result<Option<(stagecoach_domain::delivery::targets::WebhookEndpoint, String)>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::delivery::EndpointRow>(
                    "SELECT * FROM webhook_endpoints WHERE organization_id = $1 AND id = $2",
                )
                .bind(org.0)
                .bind(id.0)
                .fetch_optional(self.conn())
                .await?
                .map(|r| r.into_domain())
                .transpose()
            }

            async fn delete_endpoint(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::EndpointId,
            ) -> Result<bool, $crate::StoreError> {
                let done = $crate::sql::query("DELETE FROM webhook_endpoints WHERE organization_id = $1 AND id = $2")
                    .bind(org.0)
                    .bind(id.0)
                    .execute(self.conn())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_channel(
                &mut self,
                c: &stagecoach_domain::delivery::targets::Channel,
                secrets_encrypted: &str,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO channels (id, organization_id, kind, name, agent_id, account_id, business_account_id, \
                     secrets_encrypted, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(c.id.0)
                .bind(c.organization_id.0)
                .bind(c.kind.as_str())
                .bind(&c.name)
                .bind(c.agent_id.map(|a| a.0))
                .bind(&c.account_id)
                .bind(&c.business_account_id)
                .bind(secrets_encrypted)
                .bind($crate::rows::millis(c.created_at))
                .bind($crate::rows::millis(c.updated_at))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn list_channels(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
            ) -> Result<Vec<(stagecoach_domain::delivery::targets::Channel, String)>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::delivery::ChannelRow>(
                    "SELECT * FROM channels WHERE organization_id = $1 ORDER BY id",
                )
                .bind(org.0)
                .fetch_all(self.conn())
                .await?;
                rows.into_iter().map(|r| r.into_domain()).collect()
            }

            async fn channel_by_id(
                &mut self,
                id: stagecoach_domain::ids::ChannelId,
            ) -> Result<Option<(stagecoach_domain::delivery::targets::Channel, String)>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::delivery::ChannelRow>("SELECT * FROM channels WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(self.conn())
                    .await?
                    .map(|r| r.into_domain())
                    .transpose()
            }

            async fn set_channel_business_account(
                &mut self,
                id: stagecoach_domain::ids::ChannelId,
                business_account_id: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query("UPDATE channels SET business_account_id = $1, updated_at = $2 WHERE id = $3")
                    .bind(business_account_id)
                    .bind($crate::rows::millis(now))
                    .bind(id.0)
                    .execute(self.conn())
                    .await?;
                Ok(())
            }

            async fn delete_channel(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::ChannelId,
            ) -> Result<bool, $crate::StoreError> {
                let done = $crate::sql::query("DELETE FROM channels WHERE organization_id = $1 AND id = $2")
                    .bind(org.0)
                    .bind(id.0)
                    .execute(self.conn())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn enqueue_delivery(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: Option<stagecoach_domain::ids::ConversationId>,
                endpoint: Option<stagecoach_domain::ids::EndpointId>,
                kind: &str,
                id: stagecoach_domain::ids::OutboxId,
                payload: &serde_json::Value,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO outbox (id, organization_id, conversation_id, endpoint_id, kind, payload, status, \
                     attempts, available_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7)",
                )
                .bind(id.0)
                .bind(org.0)
                .bind(conversation.map(|c| c.0))
                .bind(endpoint.map(|e| e.0))
                .bind(kind)
                .bind(payload.to_string())
                .bind($crate::rows::millis(now))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn get_outbox(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::OutboxId,
            ) -> Result<Option<$crate::OutboxEntry>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::timeline::OutboxRow>(
                    "SELECT * FROM outbox WHERE organization_id = $1 AND id = $2",
                )
                .bind(org.0)
                .bind(id.0)
                .fetch_optional(self.conn())
                .await?
                .map(|r| r.into_entry())
                .transpose()
            }

            async fn list_deliveries(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                conversation: Option<stagecoach_domain::ids::ConversationId>,
                endpoint: Option<stagecoach_domain::ids::EndpointId>,
                limit: i64,
            ) -> Result<Vec<$crate::OutboxEntry>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::timeline::OutboxRow>(
                    "SELECT * FROM outbox WHERE organization_id = $1 AND ($2 IS NULL OR conversation_id = $2) \
                     AND ($3 IS NULL OR endpoint_id = $3) AND kind NOT IN ('event', 'lead_upsert') \
                     ORDER BY created_at DESC, id DESC LIMIT $4",
                )
                .bind(org.0)
                .bind(conversation.map(|c| c.0))
                .bind(endpoint.map(|e| e.0))
                .bind(limit)
                .fetch_all(self.conn())
                .await?;
                rows.into_iter().map(|r| r.into_entry()).collect()
            }

            async fn retry_outbox(
                &mut self,
                id: stagecoach_domain::ids::OutboxId,
                at: chrono::DateTime<chrono::Utc>,
                error: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query("UPDATE outbox SET available_at = $2, last_error = $3, updated_at = $4, leased_by = NULL \
                     WHERE id = $1 AND status = 'pending'")
                    .bind(id.0)
                    .bind($crate::rows::millis(at))
                    .bind(error)
                    .bind($crate::rows::millis(now))
                    .execute(self.conn())
                    .await?;
                Ok(())
            }

            async fn fail_outbox(
                &mut self,
                id: stagecoach_domain::ids::OutboxId,
                error: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query("UPDATE outbox SET status = 'failed', last_error = $2, updated_at = $3, leased_by = NULL \
                     WHERE id = $1 AND status = 'pending'")
                    .bind(id.0)
                    .bind(error)
                    .bind($crate::rows::millis(now))
                    .execute(self.conn())
                    .await?;
                Ok(())
            }

            async fn redeliver(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::OutboxId,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, $crate::StoreError> {
                let done = $crate::sql::query(
                    "UPDATE outbox SET status = 'pending', available_at = $3, updated_at = $3, leased_by = NULL \
                     WHERE organization_id = $1 AND id = $2",
                )
                .bind(org.0)
                .bind(id.0)
                .bind($crate::rows::millis(now))
                .execute(self.conn())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn redeliver_matching(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                filter: &$crate::repos::delivery::RedeliveryFilter,
                now: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<u64, $crate::StoreError> {
                let done = $crate::sql::query(
                    "UPDATE outbox SET status = 'pending', available_at = $6, updated_at = $6, leased_by = NULL \
                     WHERE id IN (SELECT id FROM outbox WHERE organization_id = $1 AND status = $2 \
                     AND ($3 IS NULL OR endpoint_id = $3) AND ($4 IS NULL OR created_at >= $4) \
                     AND ($5 IS NULL OR created_at < $5) AND kind NOT IN ('event', 'lead_upsert') \
                     ORDER BY created_at, id LIMIT $7)",
                )
                .bind(org.0)
                .bind(filter.status.clone())
                .bind(filter.endpoint.map(|e| e.0))
                .bind(filter.created_from.map($crate::rows::millis))
                .bind(filter.created_before.map($crate::rows::millis))
                .bind($crate::rows::millis(now))
                .bind(limit)
                .execute(self.conn())
                .await?;
                Ok(done.rows_affected())
            }

            async fn insert_attempt(
                &mut self,
                a: &$crate::repos::delivery::Attempt,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO delivery_attempts (id, organization_id, outbox_id, attempt, started_at, duration_ms, \
                     http_status, response_excerpt, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(a.id.0)
                .bind(a.organization_id.0)
                .bind(a.outbox_id.0)
                .bind(a.attempt)
                .bind($crate::rows::millis(a.started_at))
                .bind(a.duration_ms)
                .bind(a.http_status)
                .bind(&a.response_excerpt)
                .bind(&a.error)
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn list_attempts(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                outbox: stagecoach_domain::ids::OutboxId,
            ) -> Result<Vec<$crate::repos::delivery::Attempt>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::delivery::AttemptRow>(
                    "SELECT * FROM delivery_attempts WHERE organization_id = $1 AND outbox_id = $2 ORDER BY attempt, id",
                )
                .bind(org.0)
                .bind(outbox.0)
                .fetch_all(self.conn())
                .await?;
                rows.into_iter().map(|r| r.into_domain()).collect()
            }
        }
    };
}
pub(crate) use impl_deliveries;
