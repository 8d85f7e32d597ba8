//! Chatvolt's contacts: list with filters, create or update, delete.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stagecoach_app::{ContactFilter, ContactInput};
use stagecoach_domain::contact::Contact;
use stagecoach_domain::enums::{Channel, ConversationStatus, Priority};
use stagecoach_domain::error::Errors;
use stagecoach_domain::ids::{AgentId, ContactId, ScenarioId, StepId};
use utoipa::{IntoParams, ToSchema};

use super::error::{ErrorBody, Result};
use super::extract::{Body, Caller, Params};
use crate::AppState;
use crate::nullable::{patch, present};

/// A contact (`Contact`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactBody {
    pub id: String,
    pub organization_id: String,
    pub email: Option<String>,
    /// E.164, with its `+`.
    pub phone_number: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub external_id: Option<String>,
    pub picture: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Contact> for ContactBody {
    fn from(c: Contact) -> Self {
        ContactBody {
            id: c.id.to_string(),
            organization_id: c.organization_id.to_string(),
            email: c.email,
            phone_number: c.phone.map(|p| format!("+{p}")),
            first_name: c.first_name,
            last_name: c.last_name,
            external_id: c.external_id,
            picture: c.picture,
            metadata: c.metadata,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ContactQuery {
    /// Default 0.
    pub offset: Option<i64>,
    /// 1 to 1000 (default 100).
    pub limit: Option<i64>,
    /// Part of the e-mail, phone, first or last name.
    pub search: Option<String>,
    /// Comma-separated: contacts with a conversation carrying any of them.
    pub tags: Option<String>,
    pub crm_scenario: Option<String>,
    pub crm_step: Option<String>,
    pub conversation_status: Option<ConversationStatus>,
    pub agent: Option<String>,
    pub priority: Option<Priority>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub has_email: Option<bool>,
    pub has_phone: Option<bool>,
    pub channel: Option<Channel>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactList {
    pub contacts: Vec<ContactBody>,
    pub count: i64,
}

/// List contacts, oldest first.
#[utoipa::path(get, operation_id = "listContacts", path = "/contacts", tag = "Contacts", params(ContactQuery),
    responses((status = 200, body = ContactList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(q): Params<ContactQuery>,
) -> Result<Json<ContactList>> {
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(100);
    let mut errors = Errors::default();
    if offset < 0 {
        errors.add("offset", "must be 0 or more");
    }
    if !(1..=1000).contains(&limit) {
        errors.add("limit", "must be between 1 and 1000");
    }
    errors.into_result()?;
    let filter = ContactFilter {
        search: q.search.filter(|s| !s.trim().is_empty()),
        tags: q
            .tags
            .map(|t| {
                t.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        scenario: q.crm_scenario.as_deref().map(ScenarioId::parse_filter),
        step: q.crm_step.as_deref().map(StepId::parse_filter),
        conversation_status: q.conversation_status,
        agent: q.agent.as_deref().map(AgentId::parse_filter),
        priority: q.priority,
        channel: q.channel,
        created_from: q.start_date,
        created_to: q.end_date,
        has_email: q.has_email,
        has_phone: q.has_phone,
    };
    let (contacts, count) = state
        .core
        .list_contacts(&who, &filter, offset, limit)
        .await?;
    Ok(Json(ContactList {
        contacts: contacts.into_iter().map(Into::into).collect(),
        count,
    }))
}

/// The body of `POST /contacts`: with `id`, that contact is updated; without, the contact
/// with the same phone number (or else e-mail) is, or a new one is created.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactPayload {
    pub id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub phone_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub picture: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Option<Map<String, Value>>>,
}

/// Create or update a contact.
#[utoipa::path(post, operation_id = "saveContact", path = "/contacts", tag = "Contacts", request_body = ContactPayload,
    responses((status = 200, body = ContactBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn save(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<ContactPayload>,
) -> Result<Json<ContactBody>> {
    let id = body.id.as_deref().map(ContactId::parse);
    let input = ContactInput {
        first_name: patch(body.first_name),
        last_name: patch(body.last_name),
        phone: patch(body.phone_number),
        email: patch(body.email),
        external_id: patch(body.external_id),
        picture: patch(body.picture),
        metadata: patch(body.metadata),
    };
    Ok(Json(state.core.save_contact(&who, id, input).await?.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactDeleted {
    /// `Contact deleted successfully.`
    pub message: &'static str,
}

/// Delete a contact with its conversations.
#[utoipa::path(delete, operation_id = "deleteContact", path = "/contacts/{id}", tag = "Contacts",
    params(("id" = String, Path)),
    responses((status = 200, body = ContactDeleted), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<ContactDeleted>> {
    state
        .core
        .delete_contact(&who, ContactId::parse(&id))
        .await?;
    Ok(Json(ContactDeleted {
        message: "Contact deleted successfully.",
    }))
}
