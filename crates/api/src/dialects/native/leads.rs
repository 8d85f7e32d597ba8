//! Lead settings (fields, pipeline, custom action types) and payment totals.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stagecoach_domain::ids::ContactId;
use stagecoach_domain::leads::money::format_amount;
use stagecoach_domain::leads::settings::LeadSettings;
use utoipa::{IntoParams, ToSchema};

use super::error::{NativeErrorBody, Result};
use super::extract::{Body, Caller, Params};
use crate::AppState;

/// The organization's lead settings: identifier, custom fields, stage pipeline, lost
/// reasons and custom action types.
#[utoipa::path(get, operation_id = "getLeadSettings", path = "/v1/lead-settings", tag = "Stagecoach",
    responses((status = 200, body = Object), (status = 401, body = NativeErrorBody)))]
pub async fn settings(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<LeadSettings>> {
    Ok(Json(state.core.lead_settings(&who).await?))
}

/// Replace the lead settings (validated whole).
#[utoipa::path(put, operation_id = "putLeadSettings", path = "/v1/lead-settings", tag = "Stagecoach", request_body = Object,
    responses((status = 200, body = Object), (status = 400, body = NativeErrorBody), (status = 401, body = NativeErrorBody),
        (status = 409, body = NativeErrorBody)))]
pub async fn replace_settings(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(settings): Body<LeadSettings>,
) -> Result<Json<LeadSettings>> {
    Ok(Json(
        state
            .core
            .save_lead_settings(who.organization_id, settings)
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct TotalsQuery {
    /// `step`: also per scenario step of the lead's active conversation.
    pub group_by: Option<String>,
}

/// Payments of one status and currency (and step).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentTotalBody {
    pub status: &'static str,
    pub currency: String,
    /// The step, when grouping by step (null: the lead has no active conversation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_id: Option<Value>,
    pub count: i64,
    /// The exact sum, as a decimal string with the currency's decimals (`"199.90"`,
    /// `"5000"` in XOF).
    pub amount: String,
}

async fn totals(
    state: &AppState,
    who: &stagecoach_app::Principal,
    lead: Option<Option<ContactId>>,
    group_by: Option<&str>,
) -> Result<Json<Vec<PaymentTotalBody>>> {
    let by_step = match group_by {
        None => false,
        Some("step") => true,
        Some(_) => {
            return Err(
                stagecoach_domain::ValidationError::single("groupBy", "must be step").into(),
            );
        }
    };
    let rows = state.core.payment_totals(who, lead, by_step).await?;
    Ok(Json(
        rows.into_iter()
            .map(|t| PaymentTotalBody {
                status: t.status.as_str(),
                amount: format_amount(t.hundredths, &t.currency),
                currency: t.currency,
                step_id: by_step.then(|| {
                    t.step_id
                        .map_or(Value::Null, |s| Value::from(s.to_string()))
                }),
                count: t.count,
            })
            .collect(),
    ))
}

/// The organization's payment totals per status and currency (and step).
#[utoipa::path(get, operation_id = "getPaymentTotals", path = "/v1/payments/totals", tag = "Stagecoach", params(TotalsQuery),
    responses((status = 200, body = Vec<PaymentTotalBody>), (status = 400, body = NativeErrorBody), (status = 401, body = NativeErrorBody)))]
pub async fn organization_totals(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(q): Params<TotalsQuery>,
) -> Result<Json<Vec<PaymentTotalBody>>> {
    totals(&state, &who, None, q.group_by.as_deref()).await
}

/// A lead's payment totals per status and currency (and step).
#[utoipa::path(get, operation_id = "getLeadPaymentTotals", path = "/v1/leads/{leadId}/payments/totals", tag = "Stagecoach",
    params(("leadId" = String, Path), TotalsQuery),
    responses((status = 200, body = Vec<PaymentTotalBody>), (status = 401, body = NativeErrorBody), (status = 404, body = NativeErrorBody)))]
pub async fn lead_totals(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(lead): Path<String>,
    Params(q): Params<TotalsQuery>,
) -> Result<Json<Vec<PaymentTotalBody>>> {
    totals(
        &state,
        &who,
        Some(ContactId::parse(&lead)),
        q.group_by.as_deref(),
    )
    .await
}
