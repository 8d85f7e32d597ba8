//! `Idempotency-Key` on every POST of every dialect. A request that brings one (and a
//! token the server knows) reserves the key before its handler runs and keeps its answer
//! under it for 24 hours; a retry with the same request gets that answer again, marked
//! `Idempotent-Replayed: true`, without the work being done twice. The rules (which keys,
//! which answers are kept, what a retry gets) are the domain's; the reservation and the
//! marking of committed work are the app's. Refusals render in the dialect's error shape.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use stagecoach_app::{Admission, AppError, KeptAnswer, Principal, Reservation, Stagecoach};
use stagecoach_domain::error::ValidationError;
use stagecoach_domain::idempotency::{HEADER, request_hash};
use tracing::Instrument;

use crate::extract::Rejection;
use crate::{AppState, MAX_BODY_BYTES};

/// Set on an answer given again for a retry.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The caller the middleware authenticated (and counted against its rate limits), for the
/// handler's extractor to take as it is.
#[derive(Clone)]
pub(crate) struct Authenticated(pub Principal);

/// How often keeping an answer is tried before the client is answered anyway; the
/// attempts go on in the background for [`SETTLE_PATIENCE`].
const QUICK_SETTLE_ATTEMPTS: u32 = 3;
const SETTLE_PATIENCE: Duration = Duration::from_secs(300);

pub(crate) async fn idempotent_posts(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(HEADER) else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_owned();
    let Ok(key) = key.to_str().map(str::to_owned) else {
        let refusal = ValidationError::single(HEADER, "must be printable ASCII");
        return crate::fallback::rejected(&path, AppError::Invalid(refusal).into());
    };
    // Keys belong to a token: a request without a known one reserves nothing, and its
    // handler refuses it as it would without the key.
    let Some(secret) = crate::extract::bearer_secret(request.headers()).map(str::to_owned) else {
        return next.run(request).await;
    };
    let caller = match state.core.authenticate(&secret).await {
        Ok(caller) => caller,
        Err(AppError::Unauthorized) => return next.run(request).await,
        Err(error) => return crate::fallback::rejected(&path, error.into()),
    };
    if let Err(error) = state.limits.check_caller(&caller) {
        return crate::fallback::rejected(&path, error.into());
    }
    // A token the route refuses gets nothing kept, nor another's kept answer: its handler
    // refuses it.
    if crate::extract::check_route_scope(request.method(), request.extensions(), &caller).is_err() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        let too_large = Rejection::TooLarge {
            limit: MAX_BODY_BYTES,
        };
        return crate::fallback::rejected(&path, too_large);
    };
    let target = parts
        .uri
        .path_and_query()
        .map_or(path.as_str(), |target| target.as_str());
    let hash = request_hash(parts.method.as_str(), target, &body);
    let reservation = match state.core.admit_idempotent(&caller, &key, &hash).await {
        Ok(Admission::Run(reservation)) => reservation,
        Ok(Admission::Replay(answer)) => return replay(answer),
        Err(error) => return crate::fallback::rejected(&path, error.into()),
    };
    crash_point("idempotency-before-work");
    let mut request = Request::from_parts(parts, Body::from(body));
    request.extensions_mut().insert(Authenticated(caller));
    // Detached: once its key is reserved, a request runs to its end and keeps its answer
    // even when its client hangs up, which is when a retry is most likely.
    let run = tokio::spawn(
        run_reserved(state.core.clone(), reservation, next, request)
            .instrument(tracing::Span::current()),
    );
    run.await.unwrap_or_else(|error| {
        tracing::error!(%error, "an idempotent request's task failed");
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    })
}

/// Runs the handler under the reservation and keeps its answer.
async fn run_reserved(
    core: Stagecoach,
    reservation: Reservation,
    next: Next,
    request: Request,
) -> Response {
    let (parts, body) = core
        .run_reserved(&reservation, answer_in_full(next, request))
        .await;
    crash_point("idempotency-before-answer");
    let answer = KeptAnswer {
        status: parts.status.as_u16(),
        content_type: parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    settle(core, reservation, answer).await;
    Response::from_parts(parts, Body::from(body))
}

/// The handler's answer, read whole to be kept (a panic answered as any other is). Every
/// POST's answer is complete before it is sent (the agent query's events too), so nothing
/// that streamed is held back.
async fn answer_in_full(next: Next, request: Request) -> (axum::http::response::Parts, Bytes) {
    let response = AssertUnwindSafe(next.run(request))
        .catch_unwind()
        .await
        .unwrap_or_else(crate::dialects::chatvolt::error::panic_response);
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_else(|error| {
            tracing::error!(%error, "an idempotent request's answer could not be read");
            Bytes::new()
        });
    (parts, body)
}

/// Keeps the answer (or releases the key). A failure is tried again, in the background
/// after the first few quick attempts: until it is settled, a retry on another server
/// reads the key as in flight (on this one, the reservation stays in hand meanwhile).
async fn settle(core: Stagecoach, reservation: Reservation, answer: KeptAnswer) {
    let mut pause = Duration::from_millis(50);
    for attempt in 1..=QUICK_SETTLE_ATTEMPTS {
        match core.settle_reserved(&reservation, &answer).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, attempt, "could not keep an idempotent request's answer; trying again");
            }
        }
        if attempt < QUICK_SETTLE_ATTEMPTS {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
    let span = tracing::Span::current();
    tokio::spawn(
        async move {
            let deadline = tokio::time::Instant::now() + SETTLE_PATIENCE;
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_secs(1)).await;
                match core.settle_reserved(&reservation, &answer).await {
                    Ok(()) => return,
                    Err(error) => tracing::warn!(%error, "still cannot keep an idempotent request's answer"),
                }
            }
            tracing::error!(
                "gave up keeping an idempotent request's answer; retries with its key are refused until its 24 hours pass"
            );
        }
        .instrument(span),
    );
}

fn replay(answer: KeptAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    match answer
        .content_type
        .and_then(|kind| HeaderValue::from_str(&kind).ok())
    {
        Some(kind) => headers.insert(CONTENT_TYPE, kind),
        None => headers.remove(CONTENT_TYPE),
    };
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// Stops the process dead at a named point when `STAGECOACH_CRASH_AT` names it, for the
/// crash tests; compiled into debug builds only, so a release binary has no such switch.
#[cfg(debug_assertions)]
fn crash_point(point: &str) {
    if std::env::var("STAGECOACH_CRASH_AT").is_ok_and(|at| at == point) {
        eprintln!("crashing at {point}, as STAGECOACH_CRASH_AT asks");
        std::process::abort();
    }
}

#[cfg(not(debug_assertions))]
fn crash_point(_point: &str) {}
