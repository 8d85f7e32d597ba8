//! A scenario's reports, for scripts: the funnel, time in step and revenue per step over a
//! period. The web UI's report page shows the same figures.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stagecoach_app::ScenarioReport;
use stagecoach_domain::ids::ScenarioId;
use utoipa::{IntoParams, ToSchema};

use super::error::{NativeErrorBody, Result};
use super::extract::{Caller, Params};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ReportQuery {
    pub scenario_id: String,
    /// The period's start: a date (`2026-11-01`, midnight UTC) or an RFC 3339 time.
    /// Default: 30 days before `to`.
    pub from: Option<String>,
    /// The period's end, excluded; a date counts whole. Default: now.
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportPeriod {
    pub scenario_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunnelStep {
    pub step_id: String,
    pub name: String,
    pub index: i64,
    /// Conversations that entered the step in the period.
    pub entered: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunnelReport {
    #[serde(flatten)]
    pub period: ReportPeriod,
    pub steps: Vec<FunnelStep>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepTimes {
    pub step_id: String,
    pub name: String,
    pub index: i64,
    /// Stays in the step that ended in the period.
    pub stays_ended: i64,
    /// Seconds, over those stays; `null` when none ended.
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeInStepReport {
    #[serde(flatten)]
    pub period: ReportPeriod,
    pub steps: Vec<StepTimes>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentSum {
    /// `PENDING`, `PROCESSING`, `COMPLETED`, `FAILED`, `REFUNDED` or `CANCELLED`.
    pub status: String,
    pub currency: String,
    pub count: i64,
    /// The sum, as a decimal in the currency's minor units (`1234.50`).
    pub amount: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepRevenue {
    pub step_id: String,
    pub name: String,
    pub index: i64,
    /// Payments recorded in the period while the contact's conversation stood in the step.
    pub payments: Vec<PaymentSum>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevenueReport {
    #[serde(flatten)]
    pub period: ReportPeriod,
    pub steps: Vec<StepRevenue>,
}

async fn report(
    state: &AppState,
    who: &stagecoach_app::Principal,
    q: &ReportQuery,
) -> Result<ScenarioReport> {
    Ok(state
        .core
        .scenario_report(
            who,
            ScenarioId::parse(&q.scenario_id),
            q.from.as_deref(),
            q.to.as_deref(),
        )
        .await?)
}

fn period(report: &ScenarioReport) -> ReportPeriod {
    ReportPeriod {
        scenario_id: report.scenario.id.to_string(),
        from: report.period.from,
        to: report.period.to,
    }
}

fn seconds(ms: Option<i64>) -> Option<f64> {
    ms.map(|ms| ms as f64 / 1000.0)
}

/// Conversations that entered each step of the scenario in the period.
#[utoipa::path(get, operation_id = "reportFunnel", path = "/v1/reports/funnel", tag = "Stagecoach",
    params(ReportQuery),
    responses((status = 200, body = FunnelReport), (status = 400, body = NativeErrorBody),
        (status = 401, body = NativeErrorBody), (status = 403, body = NativeErrorBody), (status = 404, body = NativeErrorBody)))]
pub async fn funnel(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(q): Params<ReportQuery>,
) -> Result<Json<FunnelReport>> {
    let report = report(&state, &who, &q).await?;
    Ok(Json(FunnelReport {
        period: period(&report),
        steps: report
            .steps
            .iter()
            .map(|s| FunnelStep {
                step_id: s.step.id.to_string(),
                name: s.step.settings.name.clone(),
                index: s.step.index,
                entered: s.entered,
            })
            .collect(),
    }))
}

/// How long conversations stayed in each step: the median and 90th percentile of the
/// stays that ended in the period.
#[utoipa::path(get, operation_id = "reportTimeInStep", path = "/v1/reports/time-in-step", tag = "Stagecoach",
    params(ReportQuery),
    responses((status = 200, body = TimeInStepReport), (status = 400, body = NativeErrorBody),
        (status = 401, body = NativeErrorBody), (status = 403, body = NativeErrorBody), (status = 404, body = NativeErrorBody)))]
pub async fn time_in_step(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(q): Params<ReportQuery>,
) -> Result<Json<TimeInStepReport>> {
    let report = report(&state, &who, &q).await?;
    Ok(Json(TimeInStepReport {
        period: period(&report),
        steps: report
            .steps
            .iter()
            .map(|s| StepTimes {
                step_id: s.step.id.to_string(),
                name: s.step.settings.name.clone(),
                index: s.step.index,
                stays_ended: s.times.ended,
                median_seconds: seconds(s.times.median_ms),
                p90_seconds: seconds(s.times.p90_ms),
            })
            .collect(),
    }))
}

/// The payments recorded in the period per step (where the contact's conversation stood
/// then), by status and currency.
#[utoipa::path(get, operation_id = "reportRevenue", path = "/v1/reports/revenue", tag = "Stagecoach",
    params(ReportQuery),
    responses((status = 200, body = RevenueReport), (status = 400, body = NativeErrorBody),
        (status = 401, body = NativeErrorBody), (status = 403, body = NativeErrorBody), (status = 404, body = NativeErrorBody)))]
pub async fn revenue(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(q): Params<ReportQuery>,
) -> Result<Json<RevenueReport>> {
    let report = report(&state, &who, &q).await?;
    Ok(Json(RevenueReport {
        period: period(&report),
        steps: report
            .steps
            .iter()
            .map(|s| StepRevenue {
                step_id: s.step.id.to_string(),
                name: s.step.settings.name.clone(),
                index: s.step.index,
                payments: s
                    .payments
                    .iter()
                    .map(|p| PaymentSum {
                        status: p.status.clone(),
                        currency: p.currency.clone(),
                        count: p.count,
                        amount: stagecoach_domain::leads::money::format_amount(
                            p.hundredths,
                            &p.currency,
                        ),
                    })
                    .collect(),
            })
            .collect(),
    }))
}
