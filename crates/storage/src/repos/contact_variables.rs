//! Contact variables, one row per key.

use async_trait::async_trait;
use stagecoach_domain::contact_variables::{ContactVariable, VariableSource};
use stagecoach_domain::ids::{ContactId, OrganizationId};
use uuid::Uuid;

use crate::StoreError;
use crate::rows::{parse_enum, time};

#[async_trait]
pub trait ContactVariables {
    /// The contact's variables, by key.
    async fn contact_variables(
        &mut self,
        org: OrganizationId,
        contact: ContactId,
    ) -> Result<Vec<ContactVariable>, StoreError>;
    /// Sets the key's value and source, creating it when new (its creation time is kept
    /// otherwise).
    async fn upsert_contact_variable(
        &mut self,
        variable: &ContactVariable,
    ) -> Result<(), StoreError>;
    /// Removes one key; false when the contact had none by that name.
    async fn delete_contact_variable(
        &mut self,
        org: OrganizationId,
        contact: ContactId,
        key: &str,
    ) -> Result<bool, StoreError>;
    async fn delete_contact_variables(
        &mut self,
        org: OrganizationId,
        contact: ContactId,
    ) -> Result<(), StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct ContactVariableRow {
        organization_id: Uuid,
        contact_id: Uuid,
        key: String,
        value: String,
        source: String,
        created_at: i64,
        updated_at: i64,
    }
}

impl ContactVariableRow {
    pub(crate) fn into_domain(self) -> Result<ContactVariable, StoreError> {
        Ok(ContactVariable {
            organization_id: OrganizationId(self.organization_id),
            contact_id: ContactId(self.contact_id),
            value: serde_json::from_str(&self.value).map_err(|e| {
                StoreError::Corrupt(format!("contact_variables.value is not JSON: {e}"))
            })?,
            source: parse_enum("source", &self.source, VariableSource::parse)?,
            key: self.key,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

macro_rules! impl_contact_variables {
    ($tx:ty) => {
        #[async_trait::async_trait]
        impl $crate::repos::contact_variables::ContactVariables for $tx {
            async fn contact_variables(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                contact: stagecoach_domain::ids::ContactId,
            ) -> Result<Vec<stagecoach_domain::contact_variables::ContactVariable>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::contact_variables::ContactVariableRow>(
                    "SELECT * FROM contact_variables WHERE organization_id = $1 AND contact_id = $2 ORDER BY key",
                )
                .bind(org.0)
                .bind(contact.0)
                .fetch_all(self.conn())
                .await?;
                rows.into_iter().map(|r| r.into_domain()).collect()
            }

            async fn upsert_contact_variable(
                &mut self,
                v: &stagecoach_domain::contact_variables::ContactVariable,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO contact_variables (organization_id, contact_id, key, value, source, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (contact_id, key) DO UPDATE \
                     SET value = excluded.value, source = excluded.source, updated_at = excluded.updated_at",
                )
                .bind(v.organization_id.0)
                .bind(v.contact_id.0)
                .bind(&v.key)
                .bind(v.value.to_string())
                .bind(v.source.as_str())
                .bind($crate::rows::millis(v.created_at))
                .bind($crate::rows::millis(v.updated_at))
                .execute(self.conn())
                .await?;
                self.note_change($crate::changes::Change::Contact(v.organization_id, v.contact_id));
                Ok(())
            }

            async fn delete_contact_variable(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                contact: stagecoach_domain::ids::ContactId,
                key: &str,
            ) -> Result<bool, $crate::StoreError> {
                let done = $crate::sql::query(
                    "DELETE FROM contact_variables WHERE organization_id = $1 AND contact_id = $2 AND key = $3",
                )
                .bind(org.0)
                .bind(contact.0)
                .bind(key)
                .execute(self.conn())
                .await?;
                self.note_change($crate::changes::Change::Contact(org, contact));
                Ok(done.rows_affected() == 1)
            }

            async fn delete_contact_variables(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                contact: stagecoach_domain::ids::ContactId,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query("DELETE FROM contact_variables WHERE organization_id = $1 AND contact_id = $2")
                    .bind(org.0)
                    .bind(contact.0)
                    .execute(self.conn())
                    .await?;
                self.note_change($crate::changes::Change::Contact(org, contact));
                Ok(())
            }
        }
    };
}
pub(crate) use impl_contact_variables;
