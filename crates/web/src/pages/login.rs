//! Signing in with a token or a member's sign-in link, and out.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use stagecoach_app::{AppError, Stagecoach};

use super::{cross_site, failure, page};
use crate::session::{SignedIn, cleared_cookie, cookie_secret, same_site, session_cookie};

#[derive(Template)]
#[template(path = "ui/login.html")]
struct LoginPage {
    problem: Option<String>,
}

pub(crate) async fn login_page(State(core): State<Stagecoach>, headers: HeaderMap) -> Response {
    if let Some(secret) = cookie_secret(&headers)
        && core.session_principal(&secret).await.is_ok()
    {
        return Redirect::to("/ui/scenarios").into_response();
    }
    page(&LoginPage { problem: None }, StatusCode::OK)
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    token: String,
}

pub(crate) async fn login(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_site(&headers) {
        return cross_site();
    }
    let opened = core.open_session(&form.token).await;
    signed_in_or(
        opened,
        &headers,
        "That token is not valid, was revoked, or only feeds queued ingestion.",
    )
}

/// The session cookie and the way in, or the login page saying why not.
fn signed_in_or(
    opened: Result<stagecoach_app::OpenedSession, AppError>,
    headers: &HeaderMap,
    refused: &str,
) -> Response {
    match opened {
        Ok(opened) => {
            // The browser keeps the cookie as long as the session may live.
            let max_age = stagecoach_app::SESSION_LIFETIME.num_seconds();
            (
                [(
                    header::SET_COOKIE,
                    session_cookie(&opened.secret, max_age, headers),
                )],
                Redirect::to("/ui/scenarios"),
            )
                .into_response()
        }
        Err(AppError::Unauthorized) => page(
            &LoginPage {
                problem: Some(refused.into()),
            },
            StatusCode::UNAUTHORIZED,
        ),
        Err(error) => failure(&error),
    }
}

#[derive(Template)]
#[template(path = "ui/login_link.html")]
struct LoginLinkPage {
    secret: String,
}

/// A sign-in link asks for a click before it is used: link previews and scanners that
/// fetch it must not spend it.
pub(crate) async fn login_link_page(Path(secret): Path<String>) -> Response {
    page(&LoginLinkPage { secret }, StatusCode::OK)
}

pub(crate) async fn login_with_link(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    Path(secret): Path<String>,
) -> Response {
    if !same_site(&headers) {
        return cross_site();
    }
    let opened = core.open_member_session(&secret).await;
    signed_in_or(
        opened,
        &headers,
        "That sign-in link was used already or has expired: links work once, for 10 minutes. \
         Ask for a new one.",
    )
}

pub(crate) async fn logout(
    State(core): State<Stagecoach>,
    headers: HeaderMap,
    signed_in: SignedIn,
) -> Response {
    if !same_site(&headers) {
        return cross_site();
    }
    if let Err(error) = core.close_session(&signed_in.secret).await {
        return failure(&error);
    }
    (
        [(header::SET_COOKIE, cleared_cookie())],
        Redirect::to("/ui/login"),
    )
        .into_response()
}
