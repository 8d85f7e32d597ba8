//! Requests no route serves, answered in the error shape of the dialect whose paths they
//! look like: an unknown path gets 404, a known path with a method it does not take 405.

use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;

use crate::dialects::{chatvolt, native, telecrm, texter};

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
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if under("/server/api/v2") {
        texter::error::unmatched(status, code, message)
    } else if under("/autoupdate") || under("/enterprise") {
        telecrm::error::unmatched(status, code, message)
    } else if under("/v1") || under("/webhooks") {
        native::error::unmatched(status, code, message)
    } else {
        chatvolt::error::unmatched(status, code, message)
    }
}
