//! Lead settings, lead actions and payment totals.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use stagecoach_domain::contact::Contact;
use stagecoach_domain::ids::{ActionId, ContactId, OrganizationId, StepId};
use stagecoach_domain::leads::actions::{Amount, LeadAction, PaymentRecord, PaymentStatus};
use stagecoach_domain::leads::settings::LeadSettings;
use uuid::Uuid;

use crate::StoreError;
use crate::rows::{from_json, parse_enum, time};

/// Filters of a lead's action search.
#[derive(Debug, Clone, Default)]
pub struct ActionFilter {
    /// Kinds as written: `PAYMENT`, a custom code `"1001"`, or a system kind.
    pub types: Vec<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub performed_by: Vec<String>,
}

/// Payments of one status and currency (and, when asked, one scenario step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentTotal {
    pub status: PaymentStatus,
    pub currency: String,
    /// The step of the lead's active conversation, when grouping by step.
    pub step_id: Option<StepId>,
    pub count: i64,
    pub hundredths: i64,
}

#[async_trait]
pub trait Leads {
    async fn lead_settings(
        &mut self,
        org: OrganizationId,
    ) -> Result<Option<LeadSettings>, StoreError>;
    async fn save_lead_settings(
        &mut self,
        org: OrganizationId,
        settings: &LeadSettings,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn find_contact_by_lead_key(
        &mut self,
        org: OrganizationId,
        key: &str,
    ) -> Result<Option<Contact>, StoreError>;
    /// The organization's leads created in a window, newest first.
    async fn list_leads(
        &mut self,
        org: OrganizationId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<Contact>, StoreError>;
    async fn insert_action(&mut self, action: &LeadAction) -> Result<(), StoreError>;
    async fn get_action(
        &mut self,
        org: OrganizationId,
        contact: ContactId,
        id: ActionId,
    ) -> Result<Option<LeadAction>, StoreError>;
    /// Changes a payment's status; the money columns are never written here (and a trigger
    /// refuses any write that would change them).
    async fn set_payment_status(
        &mut self,
        org: OrganizationId,
        id: ActionId,
        status: PaymentStatus,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn set_action_fields(
        &mut self,
        org: OrganizationId,
        id: ActionId,
        fields: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// A page of a lead's actions, newest first, and how many match.
    async fn list_actions(
        &mut self,
        org: OrganizationId,
        contact: ContactId,
        filter: &ActionFilter,
        skip: i64,
        limit: i64,
    ) -> Result<(Vec<LeadAction>, i64), StoreError>;
    /// Whether any action of the organization has this custom code.
    async fn custom_code_in_use(
        &mut self,
        org: OrganizationId,
        code: u32,
    ) -> Result<bool, StoreError>;
    /// Payment totals per status and currency, for one lead or the whole organization,
    /// optionally also per step of the lead's active conversation.
    async fn payment_totals(
        &mut self,
        org: OrganizationId,
        contact: Option<ContactId>,
        by_step: bool,
    ) -> Result<Vec<PaymentTotal>, StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct ActionRow {
        id: Uuid,
        organization_id: Uuid,
        contact_id: Uuid,
        kind: String,
        type_code: Option<i64>,
        fields: String,
        amount_text: Option<String>,
        amount_hundredths: Option<i64>,
        currency: Option<String>,
        payment_id: Option<String>,
        status: Option<String>,
        performed_by: String,
        created_at: i64,
        updated_at: i64,
    }
}

impl ActionRow {
    pub(crate) fn into_domain(self) -> Result<LeadAction, StoreError> {
        let payment = match (
            self.amount_text,
            self.amount_hundredths,
            self.currency,
            self.status,
        ) {
            (Some(text), Some(hundredths), Some(currency), Some(status)) => Some(PaymentRecord {
                amount: Amount { text, hundredths },
                currency,
                payment_id: self.payment_id,
                status: parse_enum("status", &status, PaymentStatus::parse)?,
            }),
            _ => None,
        };
        Ok(LeadAction {
            id: ActionId(self.id),
            organization_id: OrganizationId(self.organization_id),
            contact_id: ContactId(self.contact_id),
            kind: self.kind,
            type_code: self.type_code.and_then(|c| u32::try_from(c).ok()),
            fields: from_json("fields", Some(self.fields))?.unwrap_or_default(),
            payment,
            performed_by: self.performed_by,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

macro_rules! push_action_filter {
    ($qb:expr, $org:expr, $contact:expr, $f:expr) => {{
        let f: &$crate::repos::leads::ActionFilter = $f;
        $qb.push(" WHERE organization_id = ")
            .push_bind($org.0)
            .push(" AND contact_id = ")
            .push_bind($contact.0);
        if !f.types.is_empty() {
            // A custom code is matched on type_code, other types on kind.
            let codes: Vec<i64> = f
                .types
                .iter()
                .filter_map(|t| t.parse::<i64>().ok())
                .collect();
            let kinds: Vec<String> = f
                .types
                .iter()
                .filter(|t| t.parse::<i64>().is_err())
                .cloned()
                .collect();
            $qb.push(" AND (1 = 0");
            for code in codes {
                $qb.push(" OR (kind = 'CUSTOM' AND type_code = ")
                    .push_bind(code)
                    .push(")");
            }
            for kind in kinds {
                $qb.push(" OR kind = ").push_bind(kind);
            }
            $qb.push(")");
        }
        if let Some(from) = f.from {
            $qb.push(" AND created_at >= ")
                .push_bind($crate::rows::millis(from));
        }
        if let Some(to) = f.to {
            $qb.push(" AND created_at <= ")
                .push_bind($crate::rows::millis(to));
        }
        if !f.performed_by.is_empty() {
            $qb.push(" AND performed_by IN ");
            $crate::repos::push_list!($qb, f.performed_by.iter().cloned());
        }
    }};
}
pub(crate) use push_action_filter;

macro_rules! impl_leads {
    ($tx:ty) => {
        #[async_trait::async_trait]
        impl $crate::repos::leads::Leads for $tx {
            async fn lead_settings(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
            ) -> Result<Option<stagecoach_domain::leads::settings::LeadSettings>, $crate::StoreError> {
                let document: Option<String> =
                    $crate::sql::query_scalar("SELECT document FROM lead_settings WHERE organization_id = $1")
                        .bind(org.0)
                        .fetch_optional(self.conn())
                        .await?;
                $crate::rows::from_json("lead_settings", document)
            }

            async fn save_lead_settings(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                settings: &stagecoach_domain::leads::settings::LeadSettings,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO lead_settings (organization_id, document, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (organization_id) DO UPDATE SET document = $2, updated_at = $3",
                )
                .bind(org.0)
                .bind(serde_json::to_string(settings).expect("settings serialize"))
                .bind($crate::rows::millis(now))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn find_contact_by_lead_key(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                key: &str,
            ) -> Result<Option<stagecoach_domain::contact::Contact>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::contacts::ContactRow>(
                    "SELECT * FROM contacts WHERE organization_id = $1 AND lead_key = $2",
                )
                .bind(org.0)
                .bind(key)
                .fetch_optional(self.conn())
                .await?
                .map(|r| r.into_domain())
                .transpose()
            }

            async fn list_leads(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                from: Option<chrono::DateTime<chrono::Utc>>,
                to: Option<chrono::DateTime<chrono::Utc>>,
            ) -> Result<Vec<stagecoach_domain::contact::Contact>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::contacts::ContactRow>(
                    "SELECT * FROM contacts WHERE organization_id = $1 AND ($2 IS NULL OR created_at >= $2) \
                     AND ($3 IS NULL OR created_at <= $3) ORDER BY created_at DESC, id DESC",
                )
                .bind(org.0)
                .bind(from.map($crate::rows::millis))
                .bind(to.map($crate::rows::millis))
                .fetch_all(self.conn())
                .await?;
                rows.into_iter().map(|r| r.into_domain()).collect()
            }

            async fn insert_action(
                &mut self,
                a: &stagecoach_domain::leads::actions::LeadAction,
            ) -> Result<(), $crate::StoreError> {
                self.note_change($crate::changes::Change::Contact(a.organization_id, a.contact_id));
                let p = a.payment.as_ref();
                $crate::sql::query(
                    "INSERT INTO lead_actions (id, organization_id, contact_id, kind, type_code, fields, \
                     amount_text, amount_hundredths, currency, payment_id, status, performed_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(a.id.0)
                .bind(a.organization_id.0)
                .bind(a.contact_id.0)
                .bind(&a.kind)
                .bind(a.type_code.map(i64::from))
                .bind(serde_json::to_string(&a.fields).expect("a JSON map serializes"))
                .bind(p.map(|p| p.amount.text.clone()))
                .bind(p.map(|p| p.amount.hundredths))
                .bind(p.map(|p| p.currency.clone()))
                .bind(p.and_then(|p| p.payment_id.clone()))
                .bind(p.map(|p| p.status.as_str()))
                .bind(&a.performed_by)
                .bind($crate::rows::millis(a.created_at))
                .bind($crate::rows::millis(a.updated_at))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn get_action(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                contact: stagecoach_domain::ids::ContactId,
                id: stagecoach_domain::ids::ActionId,
            ) -> Result<Option<stagecoach_domain::leads::actions::LeadAction>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::leads::ActionRow>(
                    "SELECT * FROM lead_actions WHERE organization_id = $1 AND contact_id = $2 AND id = $3",
                )
                .bind(org.0)
                .bind(contact.0)
                .bind(id.0)
                .fetch_optional(self.conn())
                .await?
                .map(|r| r.into_domain())
                .transpose()
            }

            async fn set_payment_status(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::ActionId,
                status: stagecoach_domain::leads::actions::PaymentStatus,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                let contact: Option<uuid::Uuid> = $crate::sql::query_scalar(
                    "UPDATE lead_actions SET status = $3, updated_at = $4 WHERE organization_id = $1 AND id = $2 \
                     RETURNING contact_id",
                )
                .bind(org.0)
                .bind(id.0)
                .bind(status.as_str())
                .bind($crate::rows::millis(now))
                .fetch_optional(self.conn())
                .await?;
                if let Some(contact) = contact {
                    self.note_change($crate::changes::Change::Contact(org, stagecoach_domain::ids::ContactId(contact)));
                }
                Ok(())
            }

            async fn set_action_fields(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::ActionId,
                fields: &serde_json::Map<String, serde_json::Value>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query("UPDATE lead_actions SET fields = $3, updated_at = $4 WHERE organization_id = $1 AND id = $2")
                    .bind(org.0)
                    .bind(id.0)
                    .bind(serde_json::to_string(fields).expect("a JSON map serializes"))
                    .bind($crate::rows::millis(now))
                    .execute(self.conn())
                    .await?;
                Ok(())
            }

            async fn list_actions(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                contact: stagecoach_domain::ids::ContactId,
                filter: &$crate::repos::leads::ActionFilter,
                skip: i64,
                limit: i64,
            ) -> Result<(Vec<stagecoach_domain::leads::actions::LeadAction>, i64), $crate::StoreError> {
                let mut count = $crate::sql::QueryBuilder::new("SELECT COUNT(*) FROM lead_actions");
                $crate::repos::leads::push_action_filter!(count, org, contact, filter);
                let total: i64 = count.build_query_scalar().fetch_one(self.conn()).await?;
                let mut page = $crate::sql::QueryBuilder::new("SELECT * FROM lead_actions");
                $crate::repos::leads::push_action_filter!(page, org, contact, filter);
                page.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(skip);
                let rows: Vec<$crate::repos::leads::ActionRow> = page.build_query_as().fetch_all(self.conn()).await?;
                Ok((rows.into_iter().map(|r| r.into_domain()).collect::<Result<_, _>>()?, total))
            }

            async fn custom_code_in_use(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                code: u32,
            ) -> Result<bool, $crate::StoreError> {
                let n: i64 = $crate::sql::query_scalar(
                    "SELECT COUNT(*) FROM lead_actions WHERE organization_id = $1 AND kind = 'CUSTOM' AND type_code = $2",
                )
                .bind(org.0)
                .bind(i64::from(code))
                .fetch_one(self.conn())
                .await?;
                Ok(n > 0)
            }

            async fn payment_totals(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                contact: Option<stagecoach_domain::ids::ContactId>,
                by_step: bool,
            ) -> Result<Vec<$crate::repos::leads::PaymentTotal>, $crate::StoreError> {
                // With steps: the step of the lead's active conversation, its most recently
                // updated available board link.
                let (step_column, step_group) = if by_step {
                    (
                        ", (SELECT l.step_id FROM scenario_links l JOIN conversations v ON v.id = l.conversation_id \
                         WHERE v.contact_id = a.contact_id AND l.available ORDER BY l.updated_at DESC LIMIT 1) AS step_id",
                        ", step_id",
                    )
                } else {
                    ("", "")
                };
                let sql = format!(
                    "SELECT status, currency{step_group}, COUNT(*) AS n, CAST(SUM(amount_hundredths) AS BIGINT) AS total FROM \
                     (SELECT a.status, a.currency, a.amount_hundredths{step_column} FROM lead_actions a \
                      WHERE a.organization_id = $1 AND a.kind = 'PAYMENT' AND ($2 IS NULL OR a.contact_id = $2)) AS p \
                     GROUP BY status, currency{step_group} ORDER BY status, currency"
                );
                let rows = $crate::sql::query($crate::sql::AssertSqlSafe(sql))
                    .bind(org.0)
                    .bind(contact.map(|c| c.0))
                    .fetch_all(self.conn())
                    .await?;
                rows.into_iter()
                    .map(|row| {
                        let status: String = row.try_get("status")?;
                        Ok($crate::repos::leads::PaymentTotal {
                            status: $crate::rows::parse_enum(
                                "status",
                                &status,
                                stagecoach_domain::leads::actions::PaymentStatus::parse,
                            )?,
                            currency: row.try_get("currency")?,
                            step_id: if by_step {
                                row.try_get::<Option<uuid::Uuid>>("step_id")?.map(stagecoach_domain::ids::StepId)
                            } else {
                                None
                            },
                            count: row.try_get("n")?,
                            hundredths: row.try_get::<Option<i64>>("total")?.unwrap_or(0),
                        })
                    })
                    .collect()
            }
        }
    };
}
pub(crate) use impl_leads;
