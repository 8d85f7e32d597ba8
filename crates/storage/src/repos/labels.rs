//! Labels: names and colours for tags. Tags in use without a label record are listed as
//! labels too (named after themselves), so every tag a step sets is a label.

use async_trait::async_trait;
use stagecoach_domain::ids::OrganizationId;
use stagecoach_domain::label::Label;
use uuid::Uuid;

use crate::StoreError;
use crate::rows::time;

#[async_trait]
pub trait Labels {
    /// Labels (records, then tags in use without one), by id, and how many there are.
    async fn list_labels(
        &mut self,
        org: OrganizationId,
        skip: i64,
        limit: i64,
    ) -> Result<(Vec<Label>, i64), StoreError>;
    async fn get_label(
        &mut self,
        org: OrganizationId,
        id: &str,
    ) -> Result<Option<Label>, StoreError>;
    /// Fails with [`StoreError::UniqueViolation`] when the id is taken.
    async fn insert_label(&mut self, label: &Label) -> Result<(), StoreError>;
    /// Inserts or updates the label record.
    async fn save_label(&mut self, label: &Label) -> Result<(), StoreError>;
    /// Deletes the label record and removes the tag from every conversation.
    async fn delete_label(&mut self, org: OrganizationId, id: &str) -> Result<(), StoreError>;
}

crate::sql::row_struct! {
    pub(crate) struct LabelRow {
        organization_id: Uuid,
        id: String,
        name: String,
        color: String,
        system: bool,
        created_at: i64,
        updated_at: i64,
    }
}

impl LabelRow {
    pub(crate) fn into_domain(self) -> Result<Label, StoreError> {
        Ok(Label {
            organization_id: OrganizationId(self.organization_id),
            id: self.id,
            name: self.name,
            color: self.color,
            system: self.system,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

/// Label records, and a virtual label for every tag in use without a record.
pub(crate) const ALL_LABELS: &str = "SELECT organization_id, id, name, color, system, created_at, updated_at \
     FROM labels WHERE organization_id = $1 \
     UNION ALL \
     SELECT DISTINCT t.organization_id, t.tag, t.tag, '#555555', FALSE, 0, 0 FROM conversation_tags t \
     WHERE t.organization_id = $1 AND NOT EXISTS \
     (SELECT 1 FROM labels l WHERE l.organization_id = $1 AND l.id = t.tag)";

macro_rules! impl_labels {
    ($tx:ty) => {
        #[async_trait::async_trait]
        impl $crate::repos::labels::Labels for $tx {
            async fn list_labels(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                skip: i64,
                limit: i64,
            ) -> Result<(Vec<stagecoach_domain::label::Label>, i64), $crate::StoreError> {
                let total: i64 = $crate::sql::query_scalar($crate::sql::AssertSqlSafe(format!(
                    "SELECT COUNT(*) FROM ({}) AS all_labels",
                    $crate::repos::labels::ALL_LABELS
                )))
                .bind(org.0)
                .fetch_one(self.conn())
                .await?;
                let rows = $crate::sql::query_as::<$crate::repos::labels::LabelRow>($crate::sql::AssertSqlSafe(format!(
                    "SELECT * FROM ({}) AS all_labels ORDER BY id LIMIT $2 OFFSET $3",
                    $crate::repos::labels::ALL_LABELS
                )))
                .bind(org.0)
                .bind(limit)
                .bind(skip)
                .fetch_all(self.conn())
                .await?;
                Ok((rows.into_iter().map(|r| r.into_domain()).collect::<Result<_, _>>()?, total))
            }

            async fn get_label(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: &str,
            ) -> Result<Option<stagecoach_domain::label::Label>, $crate::StoreError> {
                $crate::sql::query_as::<$crate::repos::labels::LabelRow>($crate::sql::AssertSqlSafe(format!(
                    "SELECT * FROM ({}) AS all_labels WHERE id = $2 LIMIT 1",
                    $crate::repos::labels::ALL_LABELS
                )))
                .bind(org.0)
                .bind(id)
                .fetch_optional(self.conn())
                .await?
                .map(|r| r.into_domain())
                .transpose()
            }

            async fn insert_label(
                &mut self,
                l: &stagecoach_domain::label::Label,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO labels (organization_id, id, name, color, system, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(l.organization_id.0)
                .bind(&l.id)
                .bind(&l.name)
                .bind(&l.color)
                .bind(l.system)
                .bind($crate::rows::millis(l.created_at))
                .bind($crate::rows::millis(l.updated_at))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn save_label(
                &mut self,
                l: &stagecoach_domain::label::Label,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query(
                    "INSERT INTO labels (organization_id, id, name, color, system, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (organization_id, id) \
                     DO UPDATE SET name = $3, color = $4, updated_at = $7",
                )
                .bind(l.organization_id.0)
                .bind(&l.id)
                .bind(&l.name)
                .bind(&l.color)
                .bind(l.system)
                .bind($crate::rows::millis(l.created_at))
                .bind($crate::rows::millis(l.updated_at))
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn delete_label(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: &str,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::query("DELETE FROM labels WHERE organization_id = $1 AND id = $2")
                    .bind(org.0)
                    .bind(id)
                    .execute(self.conn())
                    .await?;
                $crate::sql::query("DELETE FROM conversation_tags WHERE organization_id = $1 AND tag = $2")
                    .bind(org.0)
                    .bind(id)
                    .execute(self.conn())
                    .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_labels;
