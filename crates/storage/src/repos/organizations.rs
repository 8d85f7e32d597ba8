use async_trait::async_trait;
use chrono::{DateTime, Utc};
use stagecoach_domain::ids::OrganizationId;
use stagecoach_domain::organization::Organization;
use uuid::Uuid;

use crate::StoreError;
use crate::rows::time;

#[async_trait]
pub trait Organizations {
    async fn insert_organization(&mut self, org: &Organization) -> Result<(), StoreError>;
    async fn get_organization(
        &mut self,
        id: OrganizationId,
    ) -> Result<Option<Organization>, StoreError>;
    async fn count_organizations(&mut self) -> Result<i64, StoreError>;
    /// Marks the database as bootstrapped by `org`. Returns false when another process
    /// did it first, so exactly one bootstrap ever happens.
    async fn claim_bootstrap(
        &mut self,
        org: OrganizationId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct OrganizationRow {
        id: Uuid,
        name: String,
        default_calling_code: Option<String>,
        created_at: i64,
        updated_at: i64,
    }
}

impl OrganizationRow {
    pub(crate) fn into_domain(self) -> Result<Organization, StoreError> {
        Ok(Organization {
            id: OrganizationId(self.id),
            name: self.name,
            default_calling_code: self.default_calling_code,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

macro_rules! impl_organizations {
    ($tx:ty) => {
        #[async_trait::async_trait]
        impl $crate::repos::organizations::Organizations for $tx {
            async fn insert_organization(
                &mut self,
                org: &stagecoach_domain::organization::Organization,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO organizations (id, name, default_calling_code, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(org.id.0)
                .bind(&org.name)
                .bind(&org.default_calling_code)
                .bind($crate::rows::millis(org.created_at))
                .bind($crate::rows::millis(org.updated_at))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn get_organization(
                &mut self,
                id: stagecoach_domain::ids::OrganizationId,
            ) -> Result<Option<stagecoach_domain::organization::Organization>, $crate::StoreError>
            {
                $crate::sql::query_as::<$crate::repos::organizations::OrganizationRow>(
                    "SELECT id, name, default_calling_code, created_at, updated_at FROM organizations WHERE id = $1",
                )
                .bind(id.0)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }

            async fn count_organizations(&mut self) -> Result<i64, $crate::StoreError> {
                let count: i64 = $crate::sql::query_scalar("SELECT COUNT(*) FROM organizations")
                    .fetch_one(self.conn())
                    .await?;
                Ok(count)
            }

            async fn claim_bootstrap(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, $crate::StoreError> {
                let done = $crate::sql::query(
                    "INSERT INTO bootstrap (id, organization_id, created_at) VALUES (1, $1, $2) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(org.0)
                .bind($crate::rows::millis(now))
                .execute(self.conn())
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use impl_organizations;
