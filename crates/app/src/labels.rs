//! Labels: names and colours for conversation tags.

use stagecoach_domain::ids::OrganizationId;
use stagecoach_domain::label::{self, DEFAULT_COLOR, Label, SYSTEM_LABELS};
use stagecoach_storage::{StoreError, Transaction};

use crate::{AppError, Entity, Principal, Stagecoach};

impl Stagecoach {
    /// A page of labels by id, and how many there are.
    pub async fn list_labels(
        &self,
        who: &Principal,
        skip: i64,
        limit: i64,
    ) -> Result<(Vec<Label>, i64), AppError> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx.list_labels(who.organization_id, skip, limit).await?)
    }

    pub async fn get_label(&self, who: &Principal, id: &str) -> Result<Label, AppError> {
        let mut tx = self.store.begin_read().await?;
        tx.get_label(who.organization_id, id)
            .await?
            .ok_or(AppError::not_found(Entity::Label, "labelId"))
    }

    pub async fn create_label(
        &self,
        who: &Principal,
        id: &str,
        name: &str,
        color: Option<&str>,
    ) -> Result<Label, AppError> {
        label::check(Some(id), Some(name), color)?;
        let now = self.now();
        let created = Label {
            organization_id: who.organization_id,
            id: id.trim().to_owned(),
            name: name.trim().to_owned(),
            color: color.unwrap_or(DEFAULT_COLOR).to_owned(),
            system: false,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin_write().await?;
        match tx.insert_label(&created).await {
            Err(StoreError::UniqueViolation) => {
                return Err(AppError::Conflict {
                    field: "id",
                    message: format!("a label with id {:?} exists", created.id),
                });
            }
            other => other?,
        }
        tx.commit().await?;
        Ok(created)
    }

    /// Renames or recolours a label (system labels too). A tag in use without a label
    /// record gets one.
    pub async fn update_label(
        &self,
        who: &Principal,
        id: &str,
        name: Option<&str>,
        color: Option<&str>,
    ) -> Result<Label, AppError> {
        label::check(None, name, color)?;
        let mut tx = self.store.begin_write().await?;
        let mut current = tx
            .get_label(who.organization_id, id)
            .await?
            .ok_or(AppError::not_found(Entity::Label, "labelId"))?;
        let now = self.now();
        if current.created_at.timestamp_millis() == 0 {
            current.created_at = now;
        }
        if let Some(name) = name {
            current.name = name.trim().to_owned();
        }
        if let Some(color) = color {
            current.color = color.to_owned();
        }
        current.updated_at = now;
        tx.save_label(&current).await?;
        tx.commit().await?;
        Ok(current)
    }

    /// Deletes a label and takes it off every conversation. System labels stay.
    pub async fn delete_label(&self, who: &Principal, id: &str) -> Result<(), AppError> {
        let mut tx = self.store.begin_write().await?;
        let current = tx
            .get_label(who.organization_id, id)
            .await?
            .ok_or(AppError::not_found(Entity::Label, "labelId"))?;
        if current.system {
            return Err(AppError::Conflict {
                field: "labelId",
                message: "system labels cannot be deleted".into(),
            });
        }
        tx.delete_label(who.organization_id, id).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Gives a new organization its system labels.
pub(crate) async fn add_system_labels(
    tx: &mut dyn Transaction,
    org: OrganizationId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AppError> {
    for (id, name, color) in SYSTEM_LABELS {
        let system = Label {
            organization_id: org,
            id: (*id).to_owned(),
            name: (*name).to_owned(),
            color: (*color).to_owned(),
            system: true,
            created_at: now,
            updated_at: now,
        };
        tx.insert_label(&system).await?;
    }
    Ok(())
}
