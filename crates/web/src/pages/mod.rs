//! The pages and the forms they post.

mod board;
mod conversation;
mod login;
mod reports;
mod scenarios;
mod settings;
mod steps;

use askama::Template;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use stagecoach_app::{AppError, Principal};
use stagecoach_domain::scope::{Requirement, Scope};

pub(crate) use board::{
    BoardQuery, CARDS_PER_COLUMN, CardFragment, board, move_card, payments_line,
};
pub(crate) use conversation::{
    change_fields, conversation, send_message, send_template, set_ai, update_crm_data,
};
pub(crate) use login::{login, login_link_page, login_page, login_with_link, logout};
pub(crate) use reports::{report, report_csv};
pub(crate) use scenarios::{create_scenario, delete_scenario, rename_scenario, scenarios};
pub(crate) use settings::{
    add_member, connect_channel, create_endpoint, create_token, delete_endpoint, deliveries,
    disconnect_channel, redeliver, revoke_token, settings,
};
pub(crate) use steps::{
    create_step, delete_step, edit_step, new_step, preview, reorder, save_step, steps,
};

use crate::session::same_site;

/// A page, or the error page when the template fails.
pub(crate) fn page(template: &impl Template, status: StatusCode) -> Response {
    match template.render() {
        Ok(html) => (
            status,
            [
                (header::CACHE_CONTROL, "no-store"),
                // Scripts only from this server, forms only to it, and no framing.
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
                     img-src 'self' data:; connect-src 'self'; form-action 'self'; \
                     frame-ancestors 'none'; base-uri 'none'",
                ),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                // A sign-in link's secret is in its path: never pass it on.
                (header::REFERRER_POLICY, "no-referrer"),
            ],
            Html(html),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "a UI template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "ui/error.html")]
pub(crate) struct ErrorPage {
    pub(crate) message: String,
}

/// A provider's failure: 400 when it refused the request as asked, else a bad gateway.
pub(crate) fn provider_status(error: &AppError) -> StatusCode {
    if error.provider_refused_request() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::BAD_GATEWAY
    }
}

/// What a use case's refusal looks like in the browser.
pub(crate) fn failure(error: &AppError) -> Response {
    let status = match error {
        AppError::Invalid(_) | AppError::Immutable { .. } => StatusCode::BAD_REQUEST,
        AppError::NotFound { .. } => StatusCode::NOT_FOUND,
        AppError::Conflict { .. } | AppError::WindowClosed | AppError::Undeliverable(_) => {
            StatusCode::CONFLICT
        }
        AppError::Unauthorized => return Redirect::to("/ui/login").into_response(),
        AppError::MissingScope(_) | AppError::Unverified | AppError::Forbidden(_) => {
            StatusCode::FORBIDDEN
        }
        AppError::AiUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        // The UI's forms send no Idempotency-Key.
        AppError::IdempotencyKey(_) => StatusCode::CONFLICT,
        AppError::Provider { .. } => provider_status(error),
        AppError::Store(store) if store.is_contention() => {
            // Nothing was written: the operator may simply send the form again.
            tracing::warn!(error = %store, "a UI request was ended by the database");
            let mut busy = page(
                &ErrorPage {
                    message: "The server is busy with changes to the same records; try again."
                        .into(),
                },
                StatusCode::SERVICE_UNAVAILABLE,
            );
            busy.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(1u32),
            );
            return busy;
        }
        AppError::Store(store) => {
            tracing::error!(error = %store, "a UI request failed in storage");
            return page(
                &ErrorPage {
                    message: "Something went wrong on the server; try again.".into(),
                },
                StatusCode::INTERNAL_SERVER_ERROR,
            );
        }
    };
    page(
        &ErrorPage {
            message: error.to_string(),
        },
        status,
    )
}

/// The most of a form post read: the API's body limit.
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// Refuses a page request whose form, path or query holds U+0000 (`%00`), before any
/// page handler runs: PostgreSQL cannot store the character, and the API refuses it
/// the same way.
pub(crate) async fn refuse_nul(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let has_nul = |bytes: &[u8]| bytes.contains(&0) || bytes.windows(3).any(|w| w == b"%00");
    let uri = request.uri();
    let in_uri = has_nul(uri.path().as_bytes())
        || uri.query().is_some_and(|query| has_nul(query.as_bytes()));
    if !in_uri && request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return page(
            &ErrorPage {
                message: "The form is too large.".into(),
            },
            StatusCode::PAYLOAD_TOO_LARGE,
        );
    };
    if in_uri || has_nul(&bytes) {
        return page(
            &ErrorPage {
                message: "The form holds a NUL character (U+0000), which cannot be stored; \
                          remove it and send the form again."
                    .into(),
            },
            StatusCode::BAD_REQUEST,
        );
    }
    next.run(axum::extract::Request::from_parts(parts, bytes.into()))
        .await
}

pub(crate) fn cross_site() -> Response {
    page(
        &ErrorPage {
            message: "This form was sent from another site, so it was refused.".into(),
        },
        StatusCode::FORBIDDEN,
    )
}

/// The status of a refusal that a page shows above its form: bad input (400), else a
/// conflict (409).
pub(crate) fn form_refusal_status(error: &AppError) -> StatusCode {
    if matches!(error, AppError::Invalid(_)) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::CONFLICT
    }
}

/// What a form post came to: on success, the page at `back`; when the use case refused
/// the input (400) or found a conflict (409), the form's page again with the reason, as
/// `again` renders it; any other error, the error page.
pub(crate) async fn after_form<T, Page>(
    done: Result<T, AppError>,
    back: &str,
    again: impl FnOnce(String, StatusCode) -> Page,
) -> Response
where
    Page: std::future::Future<Output = Response>,
{
    match done {
        Ok(_) => Redirect::to(back).into_response(),
        Err(error @ (AppError::Invalid(_) | AppError::Conflict { .. })) => {
            again(error.to_string(), form_refusal_status(&error)).await
        }
        Err(error) => failure(&error),
    }
}

/// The refusal page of a form post that came from another site, or whose token lacks
/// `scope`.
pub(crate) fn write_refusal(
    headers: &HeaderMap,
    who: &Principal,
    scope: Scope,
) -> Option<Response> {
    if !same_site(headers) {
        return Some(cross_site());
    }
    refusal(who, scope)
}

/// The refusal page when the signed-in token lacks `scope`.
pub(crate) fn refusal(who: &Principal, scope: Scope) -> Option<Response> {
    who.require(Requirement::new(scope))
        .err()
        .map(|error| failure(&error))
}

pub(crate) async fn home() -> Redirect {
    Redirect::to("/ui/scenarios")
}

/// How a page names a contact: by name, else phone, else e-mail.
pub(crate) fn contact_label(contact: Option<&stagecoach_domain::contact::Contact>) -> String {
    contact
        .and_then(|c| c.display_name())
        .or_else(|| contact.and_then(|c| c.phone.as_ref().map(|p| format!("+{p}"))))
        .or_else(|| contact.and_then(|c| c.email.clone()))
        .unwrap_or_else(|| "Unknown contact".into())
}

pub(crate) fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_the_database_ended_asks_the_operator_to_try_again() {
        let busy = failure(&AppError::Store(stagecoach_app::StoreError::Superseded));
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[axum::http::header::RETRY_AFTER], "1");
        let broken = failure(&AppError::Store(stagecoach_app::StoreError::Closed));
        assert_eq!(broken.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
