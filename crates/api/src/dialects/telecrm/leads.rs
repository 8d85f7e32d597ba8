//! TeleCRM's leads and actions under `/autoupdate/v2/enterprise/{enterpriseId}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stagecoach_app::{ActionFilter, LeadQuery, LeadWrite, lead_fields};
use stagecoach_domain::ids::{ActionId, ContactId};
use stagecoach_domain::leads::actions::{LeadAction, PaymentStatus, Spelling};
use stagecoach_domain::leads::fields::DATE_FORMAT;
use stagecoach_domain::leads::money::format_amount;
use utoipa::{IntoParams, ToSchema};

use super::bodies::{ActionUpdateBody, AutoUpdateLeadBody, NewAction};
use super::error::{ApiError, Result, TelecrmErrorBody};
use super::extract::{AsyncCaller, Body, Caller, Params, enterprise};
use crate::AppState;

fn bad(field: impl Into<std::borrow::Cow<'static, str>>, message: impl Into<String>) -> ApiError {
    stagecoach_domain::ValidationError::single(field, message).into()
}

/// An action as TeleCRM shows it on its own (`GET …/action/{actionId}` and updates),
/// with its keys in TeleCRM's order: a payment, or a custom action.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum ActionState {
    Payment {
        /// `PAYMENT`.
        #[serde(rename = "type")]
        #[schema(value_type = String)]
        kind: &'static str,
        #[schema(value_type = PaymentStatus)]
        status: &'static str,
        currency: String,
        /// A decimal string with the currency's decimals (`"5000.00"`, `"5000"` in XOF).
        amount: String,
    },
    Other {
        /// The custom action type's code (`"1001"`).
        #[serde(rename = "type")]
        kind: String,
        /// Values by the type's field api names.
        #[schema(value_type = Object)]
        fields: Map<String, Value>,
    },
}

pub(crate) fn action_state(action: &LeadAction) -> ActionState {
    match (&action.payment, action.type_code) {
        (Some(p), _) => ActionState::Payment {
            kind: "PAYMENT",
            status: p.status.as_str(),
            currency: p.currency.clone(),
            amount: format_amount(p.amount.hundredths, &p.currency),
        },
        (None, Some(code)) => ActionState::Other {
            kind: code.to_string(),
            fields: action.fields.clone(),
        },
        (None, None) => ActionState::Other {
            kind: action.kind.clone(),
            fields: action.fields.clone(),
        },
    }
}

/// An action in a lead's timeline listing.
fn action_entry(action: &LeadAction) -> Value {
    let mut entry = serde_json::to_value(action_state(action)).expect("actions serialize");
    let object = entry.as_object_mut().expect("actions render as objects");
    object.insert("action_id".into(), json!(action.id));
    if let Some(p) = &action.payment
        && let Some(id) = &p.payment_id
    {
        object.insert("paymentid".into(), json!(id));
    }
    object.insert("performed_by".into(), json!(action.performed_by));
    object.insert(
        "created_on".into(),
        json!(action.created_at.timestamp_millis()),
    );
    entry
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateLeadBody {
    /// Lead fields by api name (see `custom-fields`); must include the identifier field.
    /// A bad value other than the identifier's is skipped and reported in `remarks`.
    #[schema(required = true, value_type = Object)]
    pub fields: Option<Value>,
    /// Custom (`"1001"`) and `PAYMENT` actions to record on the new lead.
    #[schema(value_type = Option<Vec<NewAction>>)]
    pub actions: Option<Vec<Value>>,
}

fn write_answer(write: LeadWrite) -> Value {
    json!({
        "lead_id": write.lead_id,
        "actions": write.actions.iter().map(|a| match a.action_id {
            Some(id) => json!({"action_id": id, "status": "CREATED"}),
            None => json!({"action_id": null, "status": "IGNORED"}),
        }).collect::<Vec<_>>(),
        "remarks": write.remarks.iter().map(|r| json!({"field": r.field, "status": "IGNORED", "remark": r.remark})).collect::<Vec<_>>(),
    })
}

fn object_of(value: Option<Value>, field: &'static str) -> Result<Map<String, Value>> {
    match value {
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(bad(field, "must be an object")),
        None => Err(bad(field, "is required")),
    }
}

/// Create a lead; fields and actions that fail their checks are skipped and reported.
#[utoipa::path(post, operation_id = "telecrmCreateLead", path = "/autoupdate/v2/enterprise/{enterpriseId}/lead", tag = "TeleCRM",
    params(("enterpriseId" = String, Path)), request_body = CreateLeadBody,
    responses((status = 201, body = Object), (status = 400, body = TelecrmErrorBody), (status = 401, body = TelecrmErrorBody),
        (status = 404, body = TelecrmErrorBody), (status = 409, body = TelecrmErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(enterprise_id): Path<String>,
    Body(body): Body<CreateLeadBody>,
) -> Result<(StatusCode, Json<Value>)> {
    enterprise(&who, &enterprise_id)?;
    let fields = object_of(body.fields, "fields")?;
    let write = state
        .core
        .create_lead(&who, fields, body.actions.unwrap_or_default())
        .await?;
    Ok((StatusCode::CREATED, Json(write_answer(write))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct GetLeadQuery {
    pub include_actions: Option<bool>,
    pub skip: Option<i64>,
    /// 1 to 100 (default 10).
    pub limit: Option<i64>,
}

fn page(skip: Option<i64>, limit: Option<i64>, max: i64) -> Result<(i64, i64)> {
    let (skip, limit) = (skip.unwrap_or(0), limit.unwrap_or(10));
    if !(1..=max).contains(&limit) {
        return Err(bad("limit", format!("must be between 1 and {max}")));
    }
    if skip < 0 {
        return Err(bad("skip", "must be 0 or more"));
    }
    Ok((skip, limit))
}

/// A lead's fields, and optionally a page of its actions.
#[utoipa::path(get, operation_id = "telecrmGetLead", path = "/autoupdate/v2/enterprise/{enterpriseId}/lead/{leadId}", tag = "TeleCRM",
    params(("enterpriseId" = String, Path), ("leadId" = String, Path), GetLeadQuery),
    responses((status = 200, body = Object), (status = 400, body = TelecrmErrorBody), (status = 401, body = TelecrmErrorBody),
        (status = 404, body = TelecrmErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((enterprise_id, lead)): Path<(String, String)>,
    Params(q): Params<GetLeadQuery>,
) -> Result<Json<Value>> {
    enterprise(&who, &enterprise_id)?;
    let (skip, limit) = page(q.skip, q.limit, 100)?;
    let id = ContactId::parse(&lead);
    let (contact, _) = state
        .core
        .lead(&who, id)
        .await
        .map_err(|e| ApiError::from(e).naming(&lead, None))?;
    let members = member_emails(&state, &who).await?;
    let mut answer = json!({"fields": lead_fields(&contact, &members)});
    if q.include_actions.unwrap_or(false) {
        let (actions, _) = state
            .core
            .search_lead_actions(&who, id, &ActionFilter::default(), skip, limit)
            .await?;
        answer["actions"] = actions.iter().map(action_entry).collect();
        answer["actions_skip"] = json!(skip);
        answer["actions_limit"] = json!(limit);
    }
    Ok(Json(answer))
}

async fn member_emails(
    state: &AppState,
    who: &stagecoach_app::Principal,
) -> Result<Vec<(stagecoach_domain::ids::MembershipId, String)>> {
    let (members, _) = state.core.team_members(who, 0, 100_000).await?;
    Ok(members.into_iter().map(|m| (m.id, m.email)).collect())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateLeadBody {
    /// The fields to change, by api name; one bad value refuses the update. The
    /// identifier field cannot be sent.
    #[schema(required = true, value_type = Object)]
    pub fields: Option<Value>,
}

/// Change some fields of a lead (never its identifier: 403 `INVALID_LEAD`).
#[utoipa::path(post, operation_id = "telecrmUpdateLead", path = "/autoupdate/v2/enterprise/{enterpriseId}/lead/{leadId}", tag = "TeleCRM",
    params(("enterpriseId" = String, Path), ("leadId" = String, Path)), request_body = UpdateLeadBody,
    responses((status = 200, body = Object), (status = 400, body = TelecrmErrorBody), (status = 401, body = TelecrmErrorBody),
        (status = 403, body = TelecrmErrorBody), (status = 404, body = TelecrmErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((enterprise_id, lead)): Path<(String, String)>,
    Body(body): Body<UpdateLeadBody>,
) -> Result<Json<Value>> {
    enterprise(&who, &enterprise_id)?;
    let fields = object_of(body.fields, "fields")?;
    let (contact, _) = state
        .core
        .update_lead(&who, ContactId::parse(&lead), fields)
        .await
        .map_err(|e| ApiError::from(e).naming(&lead, None))?;
    let members = member_emails(&state, &who).await?;
    Ok(Json(json!({"fields": lead_fields(&contact, &members)})))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    pub skip: Option<i64>,
    /// 1 to 100 (default 10).
    pub limit: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct LeadSearchBody {
    /// Field filters by api name: a value or an array of values (any of them);
    /// `created_on` takes `{from, to}`, each epoch milliseconds or `dd/MM/yyyy HH:mm:ss`.
    #[schema(value_type = Option<Object>)]
    pub fields: Option<Map<String, Value>>,
    /// Leads with at least one action matching `type` (a type or an array of them),
    /// `performed_by` (actor labels) and `performed_at` (`{from, to}`).
    #[schema(value_type = Option<Object>)]
    pub actions: Option<Map<String, Value>>,
}

/// A time as TeleCRM accepts it: epoch milliseconds or `dd/MM/yyyy HH:mm:ss`.
fn time_of(value: &Value, field: String) -> Result<DateTime<Utc>> {
    let parsed = match value {
        Value::Number(n) => n.as_i64().and_then(DateTime::from_timestamp_millis),
        Value::String(s) => NaiveDateTime::parse_from_str(s.trim(), DATE_FORMAT)
            .ok()
            .map(|t| t.and_utc()),
        _ => None,
    };
    parsed.ok_or_else(|| bad(field, "must be epoch milliseconds or dd/MM/yyyy HH:mm:ss"))
}

/// A time window's two ends; either may be open.
type TimeWindow = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A time window `{from, to}` (either may be left out); `field` is its path in the body.
fn range(value: Option<&Value>, field: &'static str) -> Result<TimeWindow> {
    match value {
        None => Ok((None, None)),
        Some(Value::Object(r)) => Ok((
            r.get("from")
                .map(|v| time_of(v, format!("{field}.from")))
                .transpose()?,
            r.get("to")
                .map(|v| time_of(v, format!("{field}.to")))
                .transpose()?,
        )),
        Some(_) => Err(bad(field, "must be an object: {from, to}")),
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::Number(n)) => vec![n.to_string()],
        _ => vec![],
    }
}

/// Search leads, newest first. Stagecoach also answers each lead's id.
#[utoipa::path(post, operation_id = "telecrmSearchLeads", path = "/autoupdate/v2/enterprise/{enterpriseId}/lead/search", tag = "TeleCRM",
    params(("enterpriseId" = String, Path), SearchQuery), request_body = Option<LeadSearchBody>,
    responses((status = 200, body = Object), (status = 400, body = TelecrmErrorBody), (status = 401, body = TelecrmErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(enterprise_id): Path<String>,
    Params(q): Params<SearchQuery>,
    body: axum::body::Bytes,
) -> Result<Json<Value>> {
    enterprise(&who, &enterprise_id)?;
    let (skip, limit) = page(q.skip, q.limit, 100)?;
    let body: LeadSearchBody = if body.iter().all(u8::is_ascii_whitespace) {
        LeadSearchBody::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    let mut query = LeadQuery::default();
    for (name, value) in body.fields.unwrap_or_default() {
        if name == "created_on" {
            (query.created_from, query.created_to) = range(Some(&value), "fields.created_on")?;
            continue;
        }
        let values = match value {
            Value::Array(items) => items,
            other => vec![other],
        };
        query.fields.push((name, values));
    }
    if let Some(actions) = body.actions {
        let (from, to) = range(actions.get("performed_at"), "actions.performed_at")?;
        // Actions record who performed them as an actor label (`api_token:<id>`, …).
        let performed_by = strings(actions.get("performed_by"));
        query.actions = Some(ActionFilter {
            types: strings(actions.get("type")),
            from,
            to,
            performed_by,
        });
    }
    let (leads, total) = state.core.search_leads(&who, &query, skip, limit).await?;
    let members = member_emails(&state, &who).await?;
    let data: Vec<Value> = leads
        .iter()
        .map(|c| json!({"lead_id": c.id, "fields": lead_fields(c, &members)}))
        .collect();
    Ok(Json(
        json!({"data": data, "total_count": total, "skip": skip, "limit": limit}),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateActionsBody {
    /// At least one action.
    #[schema(required = true, value_type = Vec<NewAction>, min_items = 1)]
    pub actions: Option<Vec<Value>>,
}

/// Record actions on a lead, each answered `CREATED` or `IGNORED` in request order.
#[utoipa::path(post, operation_id = "telecrmCreateActions", path = "/autoupdate/v2/enterprise/{enterpriseId}/lead/{leadId}/action", tag = "TeleCRM",
    params(("enterpriseId" = String, Path), ("leadId" = String, Path)), request_body = CreateActionsBody,
    responses((status = 200, body = Object), (status = 400, body = TelecrmErrorBody), (status = 401, body = TelecrmErrorBody),
        (status = 404, body = TelecrmErrorBody)))]
pub async fn create_actions(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((enterprise_id, lead)): Path<(String, String)>,
    Body(body): Body<CreateActionsBody>,
) -> Result<Json<Value>> {
    enterprise(&who, &enterprise_id)?;
    let actions = body
        .actions
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad("actions", "must hold at least one action"))?;
    let write = state
        .core
        .add_actions(&who, ContactId::parse(&lead), actions, Spelling::Sync)
        .await
        .map_err(|e| ApiError::from(e).naming(&lead, None))?;
    Ok(Json(write_answer(write)))
}

/// A custom or payment action of a lead.
#[utoipa::path(get, operation_id = "telecrmGetAction", path = "/autoupdate/v2/enterprise/{enterpriseId}/lead/{leadId}/action/{actionId}", tag = "TeleCRM",
    params(("enterpriseId" = String, Path), ("leadId" = String, Path), ("actionId" = String, Path)),
    responses((status = 200, body = ActionState), (status = 400, body = TelecrmErrorBody), (status = 401, body = TelecrmErrorBody),
        (status = 404, body = TelecrmErrorBody)))]
pub async fn get_action(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((enterprise_id, lead, action)): Path<(String, String, String)>,
) -> Result<Json<ActionState>> {
    enterprise(&who, &enterprise_id)?;
    let found = state
        .core
        .lead_action(&who, ContactId::parse(&lead), ActionId::parse(&action))
        .await
        .map_err(|e| ApiError::from(e).naming(&lead, Some(&action)))?;
    Ok(Json(action_state(&found)))
}

/// Update a custom action's fields or a payment's status.
///
/// A custom action changes only the fields sent, each checked against its type's schema.
/// A payment changes only its status: its amount, currency and payment id never change.
/// Answers the action's whole state.
#[utoipa::path(post, operation_id = "telecrmUpdateAction", path = "/autoupdate/v2/enterprise/{enterpriseId}/lead/{leadId}/action/{actionId}", tag = "TeleCRM",
    params(("enterpriseId" = String, Path), ("leadId" = String, Path), ("actionId" = String, Path)), request_body = ActionUpdateBody,
    responses((status = 200, body = ActionState), (status = 400, body = TelecrmErrorBody), (status = 401, body = TelecrmErrorBody),
        (status = 404, body = TelecrmErrorBody)))]
pub async fn update_action(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((enterprise_id, lead, action)): Path<(String, String, String)>,
    Body(body): Body<Map<String, Value>>,
) -> Result<Json<ActionState>> {
    enterprise(&who, &enterprise_id)?;
    let updated = state
        .core
        .update_lead_action(
            &who,
            ContactId::parse(&lead),
            ActionId::parse(&action),
            body,
        )
        .await
        .map_err(|e| ApiError::from(e).naming(&lead, Some(&action)))?;
    Ok(Json(action_state(&updated)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ActionSearchBody {
    /// An action type, or an array of them (any): a custom code, `PAYMENT`, or a system
    /// type such as `PAYMENT_STATUS_CHANGED`.
    #[schema(value_type = Option<String>)]
    #[serde(rename = "type")]
    pub kind: Option<Value>,
    /// `{from, to}`, each epoch milliseconds or `dd/MM/yyyy HH:mm:ss`.
    #[schema(value_type = Option<Object>)]
    pub created_on: Option<Value>,
    /// Who performed the actions (actor labels such as `api_token:<id>`).
    #[schema(value_type = Option<Vec<String>>)]
    pub performed_by: Option<Value>,
}

/// Search a lead's actions of every type, newest first.
#[utoipa::path(post, operation_id = "telecrmSearchActions", path = "/autoupdate/v2/enterprise/{enterpriseId}/lead/{leadId}/action/search", tag = "TeleCRM",
    params(("enterpriseId" = String, Path), ("leadId" = String, Path), SearchQuery), request_body = Option<ActionSearchBody>,
    responses((status = 200, body = Object), (status = 400, body = TelecrmErrorBody), (status = 401, body = TelecrmErrorBody),
        (status = 404, body = TelecrmErrorBody)))]
pub async fn search_actions(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((enterprise_id, lead)): Path<(String, String)>,
    Params(q): Params<SearchQuery>,
    body: axum::body::Bytes,
) -> Result<Json<Value>> {
    enterprise(&who, &enterprise_id)?;
    let (skip, limit) = page(q.skip, q.limit, 100)?;
    let body: ActionSearchBody = if body.iter().all(u8::is_ascii_whitespace) {
        ActionSearchBody::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    let (from, to) = range(body.created_on.as_ref(), "created_on")?;
    let filter = ActionFilter {
        types: strings(body.kind.as_ref()),
        from,
        to,
        performed_by: strings(body.performed_by.as_ref()),
    };
    let (actions, total) = state
        .core
        .search_lead_actions(&who, ContactId::parse(&lead), &filter, skip, limit)
        .await
        .map_err(|e| ApiError::from(e).naming(&lead, None))?;
    Ok(Json(
        json!({"data": actions.iter().map(action_entry).collect::<Vec<_>>(), "total_count": total, "skip": skip, "limit": limit}),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// `QUEUED`.
    pub status: &'static str,
}

/// The async API: create or update a lead by its identifier, in the background.
#[utoipa::path(post, operation_id = "telecrmAutoUpdateLead", path = "/enterprise/{enterpriseId}/autoupdatelead", tag = "TeleCRM",
    params(("enterpriseId" = String, Path)), request_body = AutoUpdateLeadBody,
    responses((status = 200, body = Queued), (status = 400, body = TelecrmErrorBody), (status = 401, body = TelecrmErrorBody),
        (status = 404, body = TelecrmErrorBody)))]
pub async fn auto_update(
    State(state): State<AppState>,
    AsyncCaller(who): AsyncCaller,
    Path(enterprise_id): Path<String>,
    Body(body): Body<Value>,
) -> Result<Json<Queued>> {
    enterprise(&who, &enterprise_id)?;
    if !body.is_object() {
        return Err(bad("body", "must be an object with fields and actions"));
    }
    state.core.queue_lead_write(&who, body).await?;
    Ok(Json(Queued { status: "QUEUED" }))
}
