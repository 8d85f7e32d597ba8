use async_trait::async_trait;
use stagecoach_domain::enums::MembershipRole;
use stagecoach_domain::ids::{MembershipId, OrganizationId};
use stagecoach_domain::organization::Membership;
use uuid::Uuid;

use crate::StoreError;
use crate::rows::{parse_enum, time};

#[async_trait]
pub trait Memberships {
    /// A page of the organization's members by name, and how many there are.
    async fn list_memberships(
        &mut self,
        org: OrganizationId,
        skip: i64,
        limit: i64,
    ) -> Result<(Vec<Membership>, i64), StoreError>;
    async fn set_team_details(
        &mut self,
        org: OrganizationId,
        id: MembershipId,
        phone: Option<&str>,
        team_role: Option<&str>,
    ) -> Result<(), StoreError>;
    async fn set_availability(
        &mut self,
        org: OrganizationId,
        id: MembershipId,
        availability: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError>;
    async fn find_membership_by_email(
        &mut self,
        org: OrganizationId,
        email: &str,
    ) -> Result<Option<Membership>, StoreError>;
    /// Fails with [`StoreError::UniqueViolation`] when the e-mail is already a member.
    async fn insert_membership(&mut self, membership: &Membership) -> Result<(), StoreError>;
    async fn get_membership(
        &mut self,
        org: OrganizationId,
        id: MembershipId,
    ) -> Result<Option<Membership>, StoreError>;
    /// Removes the member with their assignments, web sessions and sign-in links; false
    /// when there was no such member.
    async fn delete_membership(
        &mut self,
        org: OrganizationId,
        id: MembershipId,
    ) -> Result<bool, StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct MembershipRow {
        id: Uuid,
        organization_id: Uuid,
        email: String,
        name: String,
        role: String,
        phone: Option<String>,
        availability: String,
        team_role: Option<String>,
        created_at: i64,
        updated_at: i64,
    }
}

impl MembershipRow {
    pub(crate) fn into_domain(self) -> Result<Membership, StoreError> {
        Ok(Membership {
            id: MembershipId(self.id),
            organization_id: OrganizationId(self.organization_id),
            email: self.email,
            name: self.name,
            role: parse_enum("role", &self.role, MembershipRole::parse)?,
            phone: self.phone,
            availability: self.availability,
            team_role: self.team_role,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

macro_rules! impl_memberships {
    ($tx:ty) => {
        #[async_trait::async_trait]
        impl $crate::repos::memberships::Memberships for $tx {
            async fn insert_membership(
                &mut self,
                m: &stagecoach_domain::organization::Membership,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO memberships \
                     (id, organization_id, email, name, role, created_at, updated_at, phone, availability, team_role) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(m.id.0)
                .bind(m.organization_id.0)
                .bind(&m.email)
                .bind(&m.name)
                .bind(m.role.as_str())
                .bind($crate::rows::millis(m.created_at))
                .bind($crate::rows::millis(m.updated_at))
                .bind(&m.phone)
                .bind(&m.availability)
                .bind(&m.team_role)
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn find_membership_by_email(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                email: &str,
            ) -> Result<Option<stagecoach_domain::organization::Membership>, $crate::StoreError>
            {
                $crate::sql::query_as::<$crate::repos::memberships::MembershipRow>(
                    "SELECT * FROM memberships WHERE organization_id = $1 AND email = $2",
                )
                .bind(org.0)
                .bind(email)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }

            async fn list_memberships(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                skip: i64,
                limit: i64,
            ) -> Result<(Vec<stagecoach_domain::organization::Membership>, i64), $crate::StoreError> {
                let total: i64 = $crate::sql::query_scalar("SELECT COUNT(*) FROM memberships WHERE organization_id = $1")
                    .bind(org.0)
                    .fetch_one(self.conn())
                    .await?;
                let rows = $crate::sql::query_as::<$crate::repos::memberships::MembershipRow>(
                    "SELECT * FROM memberships WHERE organization_id = $1 ORDER BY name, id LIMIT $2 OFFSET $3",
                )
                .bind(org.0)
                .bind(limit)
                .bind(skip)
                .fetch_all(self.conn())
                .await?;
                Ok((rows.into_iter().map(|r| r.into_domain()).collect::<Result<_, _>>()?, total))
            }

            async fn set_team_details(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::MembershipId,
                phone: Option<&str>,
                team_role: Option<&str>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query("UPDATE memberships SET phone = $3, team_role = $4 WHERE organization_id = $1 AND id = $2")
                    .bind(org.0)
                    .bind(id.0)
                    .bind(phone)
                    .bind(team_role)
                    .execute(self.conn())
                    .await?;
                Ok(())
            }

            async fn set_availability(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::MembershipId,
                availability: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "UPDATE memberships SET availability = $3, updated_at = $4 WHERE organization_id = $1 AND id = $2",
                )
                .bind(org.0)
                .bind(id.0)
                .bind(availability)
                .bind($crate::rows::millis(now))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn delete_membership(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::MembershipId,
            ) -> Result<bool, $crate::StoreError> {
                let done = $crate::sql::query("DELETE FROM memberships WHERE organization_id = $1 AND id = $2")
                    .bind(org.0)
                    .bind(id.0)
                    .execute(self.conn())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn get_membership(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::MembershipId,
            ) -> Result<Option<stagecoach_domain::organization::Membership>, $crate::StoreError>
            {
                $crate::sql::query_as::<$crate::repos::memberships::MembershipRow>(
                    "SELECT * FROM memberships WHERE organization_id = $1 AND id = $2",
                )
                .bind(org.0)
                .bind(id.0)
                .fetch_optional(self.conn())
                .await?
                .map(|row| row.into_domain())
                .transpose()
            }
        }
    };
}
pub(crate) use impl_memberships;
