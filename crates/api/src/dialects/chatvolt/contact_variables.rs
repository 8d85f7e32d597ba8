//! `/contacts/variables`: a contact's variables (`GET`, upsert with `POST` or `PUT`,
//! `DELETE` one key or all). The contact is named by `id`: its own id or one of its
//! conversations' ids; without `id`, the `conversationid` header Chatvolt's AI tools send.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stagecoach_domain::contact_variables::{self, ContactVariable, VariableSource};
use stagecoach_domain::{FieldError, ValidationError};
use utoipa::{IntoParams, ToSchema};

use super::error::{ErrorBody, Result};
use super::extract::{Body, Caller, Params};
use crate::AppState;
use crate::nullable::present;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VariablesQuery {
    /// The contact's id, or one of its conversations' ids.
    pub id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// The contact's id, or one of its conversations' ids.
    pub id: Option<String>,
    /// The key to remove; without it, every variable of the contact goes.
    pub key: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VariableBody {
    /// The contact's id, or one of its conversations' ids.
    pub id: Option<String>,
    /// 1 to 100 characters, not starting with `_`.
    pub key: Option<String>,
    /// Any JSON value (at most 16 KB).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Object)]
    pub value: Option<Option<Value>>,
    /// `human` or `ai`.
    pub source: Option<String>,
}

/// The variables as one object; `_sources` says where each came from.
#[derive(Debug, Serialize, ToSchema)]
pub struct VariablesAnswer {
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VariableItem {
    pub var_name: String,
    #[schema(value_type = Object)]
    pub var_value: Value,
    /// `human` or `ai`.
    pub source: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VariablesList {
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
    pub variable_list: Vec<VariableItem>,
}

/// The contact `id` names, else the `conversationid` header's conversation.
fn contact_ref(
    id: Option<String>,
    headers: &HeaderMap,
) -> std::result::Result<String, ValidationError> {
    id.filter(|id| !id.trim().is_empty())
        .or_else(|| {
            headers
                .get("conversationid")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .ok_or_else(|| {
            ValidationError::single("id", "is required: a contact's id or a conversation's")
        })
}

fn answer(variables: &[ContactVariable]) -> Json<VariablesAnswer> {
    Json(VariablesAnswer {
        variables: contact_variables::as_object(variables),
    })
}

/// A contact's variables.
#[utoipa::path(get, operation_id = "getContactVariables", path = "/contacts/variables", tag = "Contacts",
    params(VariablesQuery),
    responses((status = 200, body = VariablesList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    headers: HeaderMap,
    Params(query): Params<VariablesQuery>,
) -> Result<Json<VariablesList>> {
    let id = contact_ref(query.id, &headers)?;
    let variables = state.core.contact_variables(&who, &id).await?;
    Ok(Json(VariablesList {
        variable_list: variables
            .iter()
            .map(|v| VariableItem {
                var_name: v.key.clone(),
                var_value: v.value.clone(),
                source: v.source.as_str(),
            })
            .collect(),
        variables: contact_variables::as_object(&variables),
    }))
}

async fn upsert(
    state: AppState,
    who: stagecoach_app::Principal,
    headers: HeaderMap,
    body: VariableBody,
) -> Result<Json<VariablesAnswer>> {
    let id = contact_ref(body.id, &headers);
    let source = body
        .source
        .as_deref()
        .map(|text| VariableSource::parse(text).ok_or("must be human or ai"))
        .unwrap_or(Err("is required: human or ai"));
    // `null` is a value; only an absent `value` is missing.
    let value = body.value.map(Option::unwrap_or_default);
    let (id, key, value, source) = match (id, body.key, value, source) {
        (Ok(id), Some(key), Some(value), Ok(source)) => (id, key, value, source),
        (id, key, value, source) => {
            let mut refused = id.err().map(|e| e.0).unwrap_or_default();
            if key.is_none() {
                refused.push(FieldError::new("key", "is required"));
            }
            if value.is_none() {
                refused.push(FieldError::new(
                    "value",
                    "is required (any JSON value, null included)",
                ));
            }
            if let Err(message) = source {
                refused.push(FieldError::new("source", message));
            }
            return Err(ValidationError(refused).into());
        }
    };
    let variables = state
        .core
        .set_contact_variable(&who, &id, &key, value, source)
        .await?;
    Ok(answer(&variables))
}

/// Set a variable (created when new).
#[utoipa::path(post, operation_id = "setContactVariable", path = "/contacts/variables", tag = "Contacts",
    request_body = VariableBody,
    responses((status = 200, body = VariablesAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    headers: HeaderMap,
    Body(body): Body<VariableBody>,
) -> Result<Json<VariablesAnswer>> {
    upsert(state, who, headers, body).await
}

/// Set a variable: the same as `POST`.
#[utoipa::path(put, operation_id = "updateContactVariable", path = "/contacts/variables", tag = "Contacts",
    request_body = VariableBody,
    responses((status = 200, body = VariablesAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(who): Caller,
    headers: HeaderMap,
    Body(body): Body<VariableBody>,
) -> Result<Json<VariablesAnswer>> {
    upsert(state, who, headers, body).await
}

/// Remove a variable, or all of them; answers what is left.
#[utoipa::path(delete, operation_id = "deleteContactVariables", path = "/contacts/variables", tag = "Contacts",
    params(DeleteQuery),
    responses((status = 200, body = VariablesAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    headers: HeaderMap,
    Params(query): Params<DeleteQuery>,
) -> Result<Json<VariablesAnswer>> {
    let id = contact_ref(query.id, &headers)?;
    let variables = state
        .core
        .delete_contact_variables(&who, &id, query.key.as_deref())
        .await?;
    Ok(answer(&variables))
}
