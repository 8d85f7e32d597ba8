//! TeleCRM's team members: Stagecoach's memberships.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use stagecoach_domain::organization::Membership;
use utoipa::{IntoParams, ToSchema};

use super::error::{Result, TelecrmErrorBody};
use super::extract::{Body, Caller, Params, enterprise};
use crate::AppState;

fn member(m: &Membership) -> Value {
    json!({
        "name": m.name,
        "email": m.email,
        "status": m.availability,
        "phone_number": m.phone,
        "role": m.team_role,
        "manager_name": null,
        "manager_email": null,
        "permission_template_name": null,
        "license": null,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    pub skip: Option<i64>,
    /// 1 to 10 (default 10). `includeDeleted` is accepted and changes nothing:
    /// Stagecoach does not delete members.
    pub limit: Option<i64>,
}

/// Team members by name.
#[utoipa::path(get, operation_id = "telecrmListTeamMembers", path = "/autoupdate/v2/enterprise/{enterpriseId}/team-members", tag = "TeleCRM",
    params(("enterpriseId" = String, Path), ListQuery),
    responses((status = 200, body = Object), (status = 400, body = TelecrmErrorBody), (status = 401, body = TelecrmErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(enterprise_id): Path<String>,
    Params(q): Params<ListQuery>,
) -> Result<Json<Value>> {
    enterprise(&who, &enterprise_id)?;
    let (skip, limit) = (q.skip.unwrap_or(0), q.limit.unwrap_or(10));
    if !(1..=10).contains(&limit) {
        return Err(stagecoach_domain::ValidationError::single(
            "limit",
            "must be between 1 and 10",
        )
        .into());
    }
    let (members, total) = state.core.team_members(&who, skip.max(0), limit).await?;
    Ok(Json(
        json!({"data": members.iter().map(member).collect::<Vec<_>>(), "total_count": total, "skip": skip, "limit": limit}),
    ))
}

/// One team member, by e-mail.
#[utoipa::path(get, operation_id = "telecrmGetTeamMember", path = "/autoupdate/v2/enterprise/{enterpriseId}/team-members/{email}", tag = "TeleCRM",
    params(("enterpriseId" = String, Path), ("email" = String, Path)),
    responses((status = 200, body = Object), (status = 400, body = TelecrmErrorBody), (status = 404, body = TelecrmErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((enterprise_id, email)): Path<(String, String)>,
) -> Result<Json<Value>> {
    enterprise(&who, &enterprise_id)?;
    Ok(Json(member(&state.core.team_member(&who, &email).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateTeamMemberBody {
    #[schema(required = true, value_type = String)]
    pub name: Option<String>,
    #[schema(required = true, value_type = String)]
    pub email: Option<String>,
    /// Digits with the country code, no `+` or spaces.
    #[schema(required = true, value_type = String)]
    pub phone_number: Option<String>,
    /// ADMIN, MANAGER, CALLER or MARKETING_USER.
    #[schema(required = true, value_type = String)]
    pub role: Option<String>,
    /// Makes the member Active at once (it is not kept: Stagecoach has no logins).
    pub password: Option<String>,
}

/// Add a team member: Invited, or Active when a password is given.
#[utoipa::path(post, operation_id = "telecrmCreateTeamMember", path = "/autoupdate/v2/enterprise/{enterpriseId}/team-members", tag = "TeleCRM",
    params(("enterpriseId" = String, Path)), request_body = CreateTeamMemberBody,
    responses((status = 201, body = Object), (status = 400, body = TelecrmErrorBody), (status = 409, body = TelecrmErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(enterprise_id): Path<String>,
    Body(body): Body<CreateTeamMemberBody>,
) -> Result<(StatusCode, Json<Value>)> {
    enterprise(&who, &enterprise_id)?;
    let mut errors = stagecoach_domain::error::Errors::default();
    for (field, value) in [
        ("name", &body.name),
        ("email", &body.email),
        ("phone_number", &body.phone_number),
        ("role", &body.role),
    ] {
        if value.is_none() {
            errors.add(field, "is required");
        }
    }
    errors.into_result()?;
    let created = state
        .core
        .add_team_member(
            &who,
            body.name.as_deref().unwrap_or_default(),
            body.email.as_deref().unwrap_or_default(),
            body.phone_number.as_deref().unwrap_or_default(),
            body.role.as_deref().unwrap_or_default(),
            body.password.is_some_and(|p| !p.is_empty()),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(member(&created))))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TeamMemberStateBody {
    /// Active, Inactive, On Leave or Working.
    #[schema(required = true, value_type = String)]
    pub state: Option<String>,
    #[schema(required = true, value_type = String)]
    pub email: Option<String>,
}

/// Change a member's availability.
#[utoipa::path(post, operation_id = "telecrmTeamMemberState", path = "/autoupdate/v2/enterprise/{enterpriseId}/teammember/state_change", tag = "TeleCRM",
    params(("enterpriseId" = String, Path)), request_body = TeamMemberStateBody,
    responses((status = 200, body = Object), (status = 400, body = TelecrmErrorBody), (status = 404, body = TelecrmErrorBody)))]
pub async fn state_change(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(enterprise_id): Path<String>,
    Body(body): Body<TeamMemberStateBody>,
) -> Result<Json<Value>> {
    enterprise(&who, &enterprise_id)?;
    let mut errors = stagecoach_domain::error::Errors::default();
    for (field, value) in [("state", &body.state), ("email", &body.email)] {
        if value.is_none() {
            errors.add(field, "is required");
        }
    }
    errors.into_result()?;
    let (Some(new_state), Some(email)) = (body.state, body.email) else {
        unreachable!("checked above")
    };
    let updated = state
        .core
        .set_team_member_state(&who, &email, &new_state)
        .await?;
    Ok(Json(
        json!({"email": updated.email, "status": updated.availability}),
    ))
}
