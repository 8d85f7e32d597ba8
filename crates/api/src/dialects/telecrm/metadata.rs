//! TeleCRM's enterprise metadata: the discovery surface over the lead settings.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use stagecoach_domain::leads::settings::{FieldDefinition, LeadSettings, STANDARD_FIELDS};
use utoipa::IntoParams;

use super::error::{ApiError, Result, TelecrmErrorBody};
use super::extract::{Caller, Params, enterprise};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DetailQuery {
    /// The detailed shape.
    pub detail: Option<bool>,
}

fn all_fields(settings: &LeadSettings) -> Vec<FieldDefinition> {
    STANDARD_FIELDS
        .iter()
        .filter_map(|(name, _)| settings.field(name))
        .chain(settings.custom_fields.iter().cloned())
        .collect()
}

fn field(def: &FieldDefinition, settings: &LeadSettings, detail: bool) -> Value {
    let mut out = json!({
        "type": def.field_type,
        "apiName": def.api_name,
        "lockAfterCreate": def.lock_after_create || def.api_name == settings.identifier,
        "isLeadid": def.api_name == settings.identifier,
        "options": def.options,
    });
    if detail {
        out["id"] = json!(def.api_name);
        out["description"] = json!(def.description);
        out["options"] = def
            .options
            .iter()
            .map(|o| json!({"id": o, "label": o}))
            .collect();
    }
    out
}

/// The enterprise: name, id, identifier field.
#[utoipa::path(get, operation_id = "telecrmMetadata", path = "/autoupdate/v2/enterprise/{enterpriseId}/metadata", tag = "TeleCRM",
    params(("enterpriseId" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = TelecrmErrorBody), (status = 404, body = TelecrmErrorBody)))]
pub async fn metadata(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(enterprise_id): Path<String>,
) -> Result<Json<Value>> {
    enterprise(&who, &enterprise_id)?;
    let organization = state.core.organization(&who).await?;
    let settings = state.core.lead_settings(&who).await?;
    let (_, team_size) = state.core.team_members(&who, 0, 1).await?;
    Ok(Json(json!({
        "name": organization.name,
        "id": organization.id,
        "creationTimeStamp": organization.created_at.timestamp_millis(),
        "teamSize": team_size,
        "industry": null,
        "website": null,
        "leadIdentifierFieldId": settings.identifier,
        "integrations": ["WHATSAPP"],
    })))
}

/// Every lead field, standard and custom.
#[utoipa::path(get, operation_id = "telecrmCustomFields", path = "/autoupdate/v2/enterprise/{enterpriseId}/custom-fields", tag = "TeleCRM",
    params(("enterpriseId" = String, Path), DetailQuery),
    responses((status = 200, body = Object), (status = 401, body = TelecrmErrorBody), (status = 404, body = TelecrmErrorBody)))]
pub async fn custom_fields(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(enterprise_id): Path<String>,
    Params(q): Params<DetailQuery>,
) -> Result<Json<Value>> {
    enterprise(&who, &enterprise_id)?;
    let settings = state.core.lead_settings(&who).await?;
    let detail = q.detail.unwrap_or(false);
    let fields: Vec<Value> = all_fields(&settings)
        .iter()
        .map(|f| field(f, &settings, detail))
        .collect();
    Ok(Json(json!({"customFields": fields})))
}

/// One lead field by api name (case-sensitive), in the detailed shape.
#[utoipa::path(get, operation_id = "telecrmCustomField", path = "/autoupdate/v2/enterprise/{enterpriseId}/custom-fields/{apiName}", tag = "TeleCRM",
    params(("enterpriseId" = String, Path), ("apiName" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = TelecrmErrorBody), (status = 404, body = TelecrmErrorBody)))]
pub async fn custom_field(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((enterprise_id, api_name)): Path<(String, String)>,
) -> Result<Json<Value>> {
    enterprise(&who, &enterprise_id)?;
    let settings = state.core.lead_settings(&who).await?;
    let def = settings.field(&api_name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "Could not find custom field with apiName {api_name}"
        ))
    })?;
    Ok(Json(field(&def, &settings, true)))
}

/// The custom action types, written `ACTION_<code>`.
#[utoipa::path(get, operation_id = "telecrmCustomActions", path = "/autoupdate/v2/enterprise/{enterpriseId}/custom-actions", tag = "TeleCRM",
    params(("enterpriseId" = String, Path), DetailQuery),
    responses((status = 200, body = Object), (status = 401, body = TelecrmErrorBody), (status = 404, body = TelecrmErrorBody)))]
pub async fn custom_actions(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(enterprise_id): Path<String>,
    Params(q): Params<DetailQuery>,
) -> Result<Json<Value>> {
    enterprise(&who, &enterprise_id)?;
    let settings = state.core.lead_settings(&who).await?;
    let detail = q.detail.unwrap_or(false);
    let actions: Vec<Value> = settings
        .action_types
        .iter()
        .map(|a| {
            let mut out = json!({"code": format!("ACTION_{}", a.code), "displayName": a.display_name, "score": a.score, "source": "USER"});
            if detail {
                out["id"] = json!(a.code.to_string());
                out["description"] = json!(a.description);
                out["fieldSchema"] = a.fields.iter().map(|f| json!({"apiName": f.api_name, "type": f.field_type, "options": f.options})).collect();
            }
            out
        })
        .collect();
    Ok(Json(json!({"customActions": actions})))
}

/// The lead stage pipeline and lost reasons.
#[utoipa::path(get, operation_id = "telecrmLeadStagePipeline", path = "/autoupdate/v2/enterprise/{enterpriseId}/lead-stage-pipeline", tag = "TeleCRM",
    params(("enterpriseId" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = TelecrmErrorBody), (status = 404, body = TelecrmErrorBody)))]
pub async fn pipeline(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(enterprise_id): Path<String>,
) -> Result<Json<Value>> {
    enterprise(&who, &enterprise_id)?;
    let settings = state.core.lead_settings(&who).await?;
    let stages: Vec<Value> = settings
        .pipeline
        .iter()
        .enumerate()
        .map(|(i, stage)| {
            json!({
                "stageid": format!("stage-{}", i + 1),
                "stageType": stage.stage_type,
                "visibility": true,
                "activeStatuses": stage.statuses.iter().map(|s| json!({"statusid": s.label.to_lowercase().replace(' ', "-"), "label": s.label, "color": s.color})).collect::<Vec<_>>(),
                "archivedStatuses": [],
            })
        })
        .collect();
    let reasons: Vec<Value> = settings
        .lost_reasons
        .iter()
        .enumerate()
        .map(|(i, r)| json!({"reasonid": format!("reason-{}", i + 1), "reasonLabel": r, "isDefault": i == 0}))
        .collect();
    Ok(Json(
        json!({"leadStages": stages, "activeLeadLostReasons": reasons, "archivedLeadLostReasons": []}),
    ))
}
