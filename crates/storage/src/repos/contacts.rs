use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use stagecoach_domain::contact::Contact;
use stagecoach_domain::enums::{Channel, ConversationStatus, Priority};
use stagecoach_domain::ids::{AgentId, ContactId, OrganizationId, ScenarioId, StepId};
use uuid::Uuid;

use crate::StoreError;
use crate::rows::{from_json, time};

/// Filters of a contact listing (Chatvolt's `GET /contacts`).
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    /// Matched against e-mail, phone, first and last name (case-insensitive substring).
    pub search: Option<String>,
    /// Contacts with a conversation carrying any of these tags.
    pub tags: Vec<String>,
    pub scenario: Option<ScenarioId>,
    pub step: Option<StepId>,
    pub conversation_status: Option<ConversationStatus>,
    pub agent: Option<AgentId>,
    pub priority: Option<Priority>,
    pub channel: Option<Channel>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub has_email: Option<bool>,
    pub has_phone: Option<bool>,
}

#[async_trait]
pub trait Contacts {
    /// Fails with [`StoreError::UniqueViolation`] when the phone or e-mail is taken.
    async fn insert_contact(&mut self, contact: &Contact) -> Result<(), StoreError>;
    /// Fails with [`StoreError::UniqueViolation`] when the new phone or e-mail is taken.
    async fn update_contact(&mut self, contact: &Contact) -> Result<(), StoreError>;
    async fn get_contact(
        &mut self,
        org: OrganizationId,
        id: ContactId,
    ) -> Result<Option<Contact>, StoreError>;
    /// Several contacts in one go (unknown ids are left out, order not kept).
    async fn get_contacts(
        &mut self,
        org: OrganizationId,
        ids: &[ContactId],
    ) -> Result<Vec<Contact>, StoreError>;
    async fn find_contact_by_phone(
        &mut self,
        org: OrganizationId,
        phone: &str,
    ) -> Result<Option<Contact>, StoreError>;
    async fn find_contact_by_email(
        &mut self,
        org: OrganizationId,
        email: &str,
    ) -> Result<Option<Contact>, StoreError>;
    /// The oldest contact with this external id.
    async fn find_contact_by_external_id(
        &mut self,
        org: OrganizationId,
        external_id: &str,
    ) -> Result<Option<Contact>, StoreError>;
    /// A page of contacts, oldest first, and how many match in all.
    async fn list_contacts(
        &mut self,
        org: OrganizationId,
        filter: &ContactFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Contact>, i64), StoreError>;
    /// Deletes the contact with its conversations.
    async fn delete_contact(
        &mut self,
        org: OrganizationId,
        id: ContactId,
    ) -> Result<bool, StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct ContactRow {
        id: Uuid,
        organization_id: Uuid,
        first_name: Option<String>,
        last_name: Option<String>,
        phone: Option<String>,
        email: Option<String>,
        external_id: Option<String>,
        picture: Option<String>,
        metadata: String,
        lead_key: Option<String>,
        lead_rating: Option<i64>,
        lead_status: Option<String>,
        lead_assignee_id: Option<Uuid>,
        lead_fields: String,
        lead_score: i64,
        created_at: i64,
        updated_at: i64,
    }
}

impl ContactRow {
    pub(crate) fn into_domain(self) -> Result<Contact, StoreError> {
        let metadata: Option<Map<String, Value>> = from_json("metadata", Some(self.metadata))?;
        let custom: Option<Map<String, Value>> = from_json("lead_fields", Some(self.lead_fields))?;
        Ok(Contact {
            id: ContactId(self.id),
            organization_id: OrganizationId(self.organization_id),
            first_name: self.first_name,
            last_name: self.last_name,
            phone: self.phone,
            email: self.email,
            external_id: self.external_id,
            picture: self.picture,
            metadata: metadata.unwrap_or_default(),
            lead: stagecoach_domain::contact::LeadProfile {
                key: self.lead_key,
                rating: self.lead_rating,
                status: self.lead_status,
                assignee: self
                    .lead_assignee_id
                    .map(stagecoach_domain::ids::MembershipId),
                custom: custom.unwrap_or_default(),
                score: self.lead_score,
            },
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

/// Appends the `WHERE` clause of a contact listing.
macro_rules! push_contact_filter {
    ($qb:expr, $org:expr, $f:expr) => {{
        let f: &$crate::repos::contacts::ContactFilter = $f;
        $qb.push(" WHERE c.organization_id = ").push_bind($org.0);
        if let Some(search) = &f.search {
            let pattern = format!("%{}%", search.to_lowercase());
            $qb.push(" AND (LOWER(COALESCE(c.email, '')) LIKE ").push_bind(pattern.clone())
                .push(" OR LOWER(COALESCE(c.phone, '')) LIKE ").push_bind(pattern.clone())
                .push(" OR LOWER(COALESCE(c.first_name, '')) LIKE ").push_bind(pattern.clone())
                .push(" OR LOWER(COALESCE(c.last_name, '')) LIKE ").push_bind(pattern)
                .push(")");
        }
        if let Some(has) = f.has_email {
            $qb.push(if has { " AND c.email IS NOT NULL" } else { " AND c.email IS NULL" });
        }
        if let Some(has) = f.has_phone {
            $qb.push(if has { " AND c.phone IS NOT NULL" } else { " AND c.phone IS NULL" });
        }
        if let Some(from) = f.created_from {
            $qb.push(" AND c.created_at >= ").push_bind($crate::rows::millis(from));
        }
        if let Some(to) = f.created_to {
            $qb.push(" AND c.created_at <= ").push_bind($crate::rows::millis(to));
        }
        let conversation_filtered = !f.tags.is_empty()
            || f.scenario.is_some()
            || f.step.is_some()
            || f.conversation_status.is_some()
            || f.agent.is_some()
            || f.priority.is_some()
            || f.channel.is_some();
        if conversation_filtered {
            $qb.push(" AND EXISTS (SELECT 1 FROM conversations v WHERE v.contact_id = c.id");
            if let Some(status) = f.conversation_status {
                $qb.push(" AND v.status = ").push_bind(status.as_str());
            }
            if let Some(priority) = f.priority {
                $qb.push(" AND v.priority = ").push_bind(priority.as_str());
            }
            if let Some(channel) = f.channel {
                $qb.push(" AND v.channel = ").push_bind(channel.as_str());
            }
            if let Some(agent) = f.agent {
                $qb.push(" AND v.agent_id = ").push_bind(agent.0);
            }
            if !f.tags.is_empty() {
                $qb.push(" AND EXISTS (SELECT 1 FROM conversation_tags t WHERE t.conversation_id = v.id AND t.tag IN ");
                $crate::repos::push_list!($qb, f.tags.iter().cloned());
                $qb.push(")");
            }
            if f.scenario.is_some() || f.step.is_some() {
                $qb.push(" AND EXISTS (SELECT 1 FROM scenario_links l WHERE l.conversation_id = v.id AND l.available");
                if let Some(scenario) = f.scenario {
                    $qb.push(" AND l.scenario_id = ").push_bind(scenario.0);
                }
                if let Some(step) = f.step {
                    $qb.push(" AND l.step_id = ").push_bind(step.0);
                }
                $qb.push(")");
            }
            $qb.push(")");
        }
    }};
}
pub(crate) use push_contact_filter;

macro_rules! impl_contacts {
    ($tx:ty) => {
        #[async_trait::async_trait]
        impl $crate::repos::contacts::Contacts for $tx {
            async fn insert_contact(
                &mut self,
                c: &stagecoach_domain::contact::Contact,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO contacts (id, organization_id, first_name, last_name, phone, email, \
                     external_id, picture, metadata, created_at, updated_at, lead_key, lead_rating, \
                     lead_status, lead_assignee_id, lead_fields, lead_score, search_name) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
                )
                .bind(c.id.0)
                .bind(c.organization_id.0)
                .bind(&c.first_name)
                .bind(&c.last_name)
                .bind(&c.phone)
                .bind(&c.email)
                .bind(&c.external_id)
                .bind(&c.picture)
                .bind(serde_json::to_string(&c.metadata).expect("a JSON map serializes"))
                .bind($crate::rows::millis(c.created_at))
                .bind($crate::rows::millis(c.updated_at))
                .bind(&c.lead.key)
                .bind(c.lead.rating)
                .bind(&c.lead.status)
                .bind(c.lead.assignee.map(|m| m.0))
                .bind(serde_json::to_string(&c.lead.custom).expect("a JSON map serializes"))
                .bind(c.lead.score)
                .bind($crate::repos::search_text::contact_search_name(
                    c.first_name.as_deref(),
                    c.last_name.as_deref(),
                ))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn update_contact(
                &mut self,
                c: &stagecoach_domain::contact::Contact,
            ) -> Result<(), $crate::StoreError> {
                self.note_change($crate::changes::Change::Contact(c.organization_id, c.id));
                $crate::sql::query(
                    "UPDATE contacts SET first_name = $3, last_name = $4, phone = $5, email = $6, \
                     external_id = $7, picture = $8, metadata = $9, updated_at = $10, lead_key = $11, \
                     lead_rating = $12, lead_status = $13, lead_assignee_id = $14, lead_fields = $15, \
                     lead_score = $16, search_name = $17 WHERE organization_id = $1 AND id = $2",
                )
                .bind(c.organization_id.0)
                .bind(c.id.0)
                .bind(&c.first_name)
                .bind(&c.last_name)
                .bind(&c.phone)
                .bind(&c.email)
                .bind(&c.external_id)
                .bind(&c.picture)
                .bind(serde_json::to_string(&c.metadata).expect("a JSON map serializes"))
                .bind($crate::rows::millis(c.updated_at))
                .bind(&c.lead.key)
                .bind(c.lead.rating)
                .bind(&c.lead.status)
                .bind(c.lead.assignee.map(|m| m.0))
                .bind(serde_json::to_string(&c.lead.custom).expect("a JSON map serializes"))
                .bind(c.lead.score)
                .bind($crate::repos::search_text::contact_search_name(
                    c.first_name.as_deref(),
                    c.last_name.as_deref(),
                ))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn get_contact(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::ContactId,
            ) -> Result<Option<stagecoach_domain::contact::Contact>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::contacts::ContactRow>(
                    "SELECT * FROM contacts WHERE organization_id = $1 AND id = $2",
                )
                .bind(org.0)
                .bind(id.0)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }

            async fn get_contacts(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                ids: &[stagecoach_domain::ids::ContactId],
            ) -> Result<Vec<stagecoach_domain::contact::Contact>, $crate::StoreError> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = $crate::sql::QueryBuilder::new("SELECT * FROM contacts WHERE organization_id = ");
                qb.push_bind(org.0).push(" AND id IN ");
                $crate::repos::push_list!(qb, ids.iter().map(|id| id.0));
                qb.build_query_as::<$crate::repos::contacts::ContactRow>()
                    .fetch_all(self.conn())
                    .await?
                    .into_iter()
                    .map(|row| row.into_domain())
                    .collect()
            }

            async fn find_contact_by_phone(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                phone: &str,
            ) -> Result<Option<stagecoach_domain::contact::Contact>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::contacts::ContactRow>(
                    "SELECT * FROM contacts WHERE organization_id = $1 AND phone = $2",
                )
                .bind(org.0)
                .bind(phone)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }

            async fn find_contact_by_email(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                email: &str,
            ) -> Result<Option<stagecoach_domain::contact::Contact>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::contacts::ContactRow>(
                    "SELECT * FROM contacts WHERE organization_id = $1 AND email = $2",
                )
                .bind(org.0)
                .bind(email)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }

            async fn find_contact_by_external_id(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                external_id: &str,
            ) -> Result<Option<stagecoach_domain::contact::Contact>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::contacts::ContactRow>(
                    "SELECT * FROM contacts WHERE organization_id = $1 AND external_id = $2 ORDER BY id LIMIT 1",
                )
                .bind(org.0)
                .bind(external_id)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }

            async fn list_contacts(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                filter: &$crate::repos::contacts::ContactFilter,
                offset: i64,
                limit: i64,
            ) -> Result<(Vec<stagecoach_domain::contact::Contact>, i64), $crate::StoreError> {
                let mut count = $crate::sql::QueryBuilder::new("SELECT COUNT(*) FROM contacts c");
                $crate::repos::contacts::push_contact_filter!(count, org, filter);
                let total: i64 = count.build_query_scalar().fetch_one(self.conn()).await?;
                let mut page = $crate::sql::QueryBuilder::new("SELECT c.* FROM contacts c");
                $crate::repos::contacts::push_contact_filter!(page, org, filter);
                page.push(" ORDER BY c.id LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
                let rows: Vec<$crate::repos::contacts::ContactRow> =
                    page.build_query_as().fetch_all(self.conn()).await?;
                let contacts = rows.into_iter().map(|r| r.into_domain()).collect::<Result<_, _>>()?;
                Ok((contacts, total))
            }

            async fn delete_contact(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::ContactId,
            ) -> Result<bool, $crate::StoreError> {
                let done = $crate::sql::query("DELETE FROM contacts WHERE organization_id = $1 AND id = $2")
                    .bind(org.0)
                    .bind(id.0)
                    .execute(self.conn())
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use impl_contacts;
