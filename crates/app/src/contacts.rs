//! Contacts (also leads): listing, creating or updating, deleting.

use serde_json::{Map, Value};
use stagecoach_domain::Patch;
use stagecoach_domain::contact::{Contact, normalize_phone};
use stagecoach_domain::error::Errors;
use stagecoach_domain::identifier;
use stagecoach_domain::ids::ContactId;
use stagecoach_domain::organization::normalize_email;
use stagecoach_storage::{ContactFilter, StoreError};

use crate::{AppError, Entity, Principal, Stagecoach};

/// Why a contact with nothing to tell it apart is refused.
const UNIDENTIFIABLE: &str =
    "a contact needs at least one of phoneNumber, email, externalId, firstName or lastName";

/// The fields of a contact a client writes; absent fields stay, `null` clears.
#[derive(Debug, Clone, Default)]
pub struct ContactInput {
    pub first_name: Patch<String>,
    pub last_name: Patch<String>,
    pub phone: Patch<String>,
    pub email: Patch<String>,
    pub external_id: Patch<String>,
    pub picture: Patch<String>,
    /// Replaces the metadata wholesale.
    pub metadata: Patch<Map<String, Value>>,
}

impl Stagecoach {
    /// A page of contacts (oldest first) and how many match.
    pub async fn list_contacts(
        &self,
        who: &Principal,
        filter: &ContactFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Contact>, i64), AppError> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx
            .list_contacts(who.organization_id, filter, offset, limit)
            .await?)
    }

    /// Updates the contact `id` names; without an id, updates the contact with the same
    /// phone number (or else e-mail), or creates one. Phone numbers are stored as E.164
    /// digits, completed with the organization's default calling code.
    pub async fn save_contact(
        &self,
        who: &Principal,
        id: Option<Option<ContactId>>,
        input: ContactInput,
    ) -> Result<Contact, AppError> {
        let org = who.organization_id;
        let mut tx = self.store.begin_write().await?;
        let calling_code = tx
            .get_organization(org)
            .await?
            .and_then(|o| o.default_calling_code);
        let mut errors = Errors::default();
        let phone = match input.phone {
            Patch::Set(raw) => match normalize_phone(&raw, calling_code.as_deref()) {
                Some(phone) => Patch::Set(phone),
                None => {
                    errors.add("phoneNumber", "is not a phone number (6 to 15 digits)");
                    Patch::Absent
                }
            },
            other => other,
        };
        let email = match input.email {
            Patch::Set(raw) => match normalize_email(&raw) {
                Ok(email) => Patch::Set(email),
                Err(e) => {
                    errors.extend(e);
                    Patch::Absent
                }
            },
            other => other,
        };
        if let Patch::Set(external_id) = &input.external_id {
            identifier::check_length(&mut errors, "externalId", external_id);
        }
        errors.into_result()?;

        let now = self.now();
        let existing = match id {
            Some(id) => Some(
                match id {
                    Some(id) => tx.get_contact(org, id).await?,
                    None => None,
                }
                .ok_or(AppError::not_found(Entity::Contact, "id"))?,
            ),
            None => match (&phone, &email) {
                (Patch::Set(phone), _) if tx.find_contact_by_phone(org, phone).await?.is_some() => {
                    tx.find_contact_by_phone(org, phone).await?
                }
                (_, Patch::Set(email)) => tx.find_contact_by_email(org, email).await?,
                _ => None,
            },
        };
        let creating = existing.is_none();
        let base = existing.unwrap_or_else(|| Contact {
            id: ContactId::new(),
            organization_id: org,
            first_name: None,
            last_name: None,
            phone: None,
            email: None,
            external_id: None,
            picture: None,
            metadata: Map::new(),
            lead: Default::default(),
            created_at: now,
            updated_at: now,
        });
        let contact = Contact {
            first_name: input.first_name.apply(base.first_name),
            last_name: input.last_name.apply(base.last_name),
            phone: phone.apply(base.phone),
            email: email.apply(base.email),
            external_id: input.external_id.apply(base.external_id),
            picture: input.picture.apply(base.picture),
            metadata: input
                .metadata
                .apply(Some(base.metadata))
                .unwrap_or_default(),
            updated_at: now,
            ..base
        };
        if !contact.is_identifiable() {
            let mut errors = Errors::default();
            for field in [
                "phoneNumber",
                "email",
                "externalId",
                "firstName",
                "lastName",
            ] {
                errors.add(field, UNIDENTIFIABLE);
            }
            errors.into_result()?;
        }
        let written = if creating {
            tx.insert_contact(&contact).await
        } else {
            tx.update_contact(&contact).await
        };
        match written {
            Err(StoreError::UniqueViolation) => {
                return Err(AppError::Conflict {
                    field: "phoneNumber",
                    message: "another contact already has this phone number or e-mail".into(),
                });
            }
            other => other?,
        }
        tx.commit().await?;
        Ok(contact)
    }

    /// Deletes a contact with its conversations.
    pub async fn delete_contact(
        &self,
        who: &Principal,
        id: Option<ContactId>,
    ) -> Result<(), AppError> {
        let mut tx = self.store.begin_write().await?;
        let deleted = match id {
            Some(id) => tx.delete_contact(who.organization_id, id).await?,
            None => false,
        };
        if !deleted {
            return Err(AppError::not_found(Entity::Contact, "id"));
        }
        tx.commit().await?;
        Ok(())
    }
}
