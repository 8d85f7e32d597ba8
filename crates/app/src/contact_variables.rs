//! A contact's variables: read, set (an upsert per key) and removed through Chatvolt's
//! `/contacts/variables`, named by the contact's id or by one of its conversations' ids.

use serde_json::Value;
use stagecoach_domain::contact::Contact;
use stagecoach_domain::contact_variables::{self, ContactVariable, MAX_VARIABLES, VariableSource};
use stagecoach_domain::ids::{ContactId, ConversationId};
use stagecoach_storage::Transaction;

use crate::Stagecoach;
use crate::auth::Principal;
use crate::error::{AppError, Entity};

/// The contact `id` names: a contact's id, or a conversation's (its contact). `field`
/// is the input that named it.
async fn contact_named(
    tx: &mut dyn Transaction,
    who: &Principal,
    id: &str,
    field: &'static str,
) -> Result<Contact, AppError> {
    let org = who.organization_id;
    let not_found = || AppError::not_found(Entity::Contact, field);
    let Some(contact_id) = ContactId::parse(id.trim()) else {
        return Err(not_found());
    };
    if let Some(contact) = tx.get_contact(org, contact_id).await? {
        return Ok(contact);
    }
    let Some(conversation) = tx
        .get_conversation(org, ConversationId(contact_id.0))
        .await?
    else {
        return Err(not_found());
    };
    tx.get_contact(org, conversation.contact_id)
        .await?
        .ok_or_else(not_found)
}

impl Stagecoach {
    /// The contact's variables, by key. `id`: the contact's or a conversation's.
    pub async fn contact_variables(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<Vec<ContactVariable>, AppError> {
        let mut tx = self.store.begin_read().await?;
        let contact = contact_named(tx.as_mut(), who, id, "id").await?;
        Ok(tx
            .contact_variables(who.organization_id, contact.id)
            .await?)
    }

    /// Sets one variable (created when new) and answers them all.
    pub async fn set_contact_variable(
        &self,
        who: &Principal,
        id: &str,
        key: &str,
        value: Value,
        source: VariableSource,
    ) -> Result<Vec<ContactVariable>, AppError> {
        contact_variables::check(key, &value)?;
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let contact = contact_named(tx.as_mut(), who, id, "id").await?;
        let existing = tx
            .contact_variables(who.organization_id, contact.id)
            .await?;
        if existing.len() >= MAX_VARIABLES && !existing.iter().any(|v| v.key == key) {
            return Err(AppError::invalid(
                "key",
                format!("the contact has {MAX_VARIABLES} variables, the most it may keep"),
            ));
        }
        tx.upsert_contact_variable(&ContactVariable {
            organization_id: who.organization_id,
            contact_id: contact.id,
            key: key.to_owned(),
            value,
            source,
            created_at: now,
            updated_at: now,
        })
        .await?;
        let variables = tx
            .contact_variables(who.organization_id, contact.id)
            .await?;
        tx.commit().await?;
        Ok(variables)
    }

    /// Removes one variable (`key`), or all of them, and answers what is left.
    pub async fn delete_contact_variables(
        &self,
        who: &Principal,
        id: &str,
        key: Option<&str>,
    ) -> Result<Vec<ContactVariable>, AppError> {
        let mut tx = self.store.begin_write().await?;
        let contact = contact_named(tx.as_mut(), who, id, "id").await?;
        match key {
            Some(key) => {
                if !tx
                    .delete_contact_variable(who.organization_id, contact.id, key)
                    .await?
                {
                    return Err(AppError::not_found(Entity::ContactVariable, "key"));
                }
            }
            None => {
                tx.delete_contact_variables(who.organization_id, contact.id)
                    .await?
            }
        }
        let variables = tx
            .contact_variables(who.organization_id, contact.id)
            .await?;
        tx.commit().await?;
        Ok(variables)
    }
}
