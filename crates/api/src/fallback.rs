//! Requests no route serves, answered in the error shape of the dialect whose paths they
//! look like: an unknown path gets 404, a known path with a method it does not take 405.
//! Requests refused before routing reaches a handler are answered here too.

use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::dialects::{chatvolt, native, telecrm, texter};
use crate::extract::Rejection;

pub(crate) async fn not_found(uri: Uri) -> Response {
    unmatched(
        uri.path(),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("no such endpoint: {}", uri.path()),
    )
}

pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    unmatched(
        uri.path(),
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{} does not take {method}", uri.path()),
    )
}

fn unmatched(path: &str, status: StatusCode, code: &'static str, message: String) -> Response {
    match Dialect::of(path) {
        Dialect::Texter => texter::error::unmatched(status, code, message),
        Dialect::Telecrm => telecrm::error::unmatched(status, code, message),
        Dialect::Native => native::error::unmatched(status, code, message),
        Dialect::Chatvolt => chatvolt::error::unmatched(status, code, message),
    }
}

/// A request refused before its handler ran, for a parameter it cannot take: 400 in the
/// dialect's shape, naming `field`.
pub(crate) fn malformed(path: &str, field: String, message: &str) -> Response {
    let rejection = Rejection::Malformed {
        field: Some(field),
        message: message.to_owned(),
    };
    rejected(path, rejection)
}

/// A request refused before its handler ran, in the error shape of the dialect its path
/// belongs to.
pub(crate) fn rejected(path: &str, rejection: Rejection) -> Response {
    match Dialect::of(path) {
        Dialect::Texter => texter::error::TexterError::from(rejection).into_response(),
        Dialect::Telecrm => telecrm::error::ApiError::from(rejection).into_response(),
        Dialect::Native => native::error::ApiError::from(rejection).into_response(),
        Dialect::Chatvolt => chatvolt::error::ChatvoltError::from(rejection).into_response(),
    }
}

/// The dialect whose paths a path looks like.
enum Dialect {
    Chatvolt,
    Native,
    Telecrm,
    Texter,
}

impl Dialect {
    fn of(path: &str) -> Dialect {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under("/server/api/v2") {
            Dialect::Texter
        } else if under("/autoupdate") || under("/enterprise") {
            Dialect::Telecrm
        } else if under("/v1") || under("/webhooks") {
            Dialect::Native
        } else {
            Dialect::Chatvolt
        }
    }
}
