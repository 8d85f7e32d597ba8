//! Request extraction for the Chatvolt dialect: the bearer token and JSON bodies, with
//! every rejection rendered as a [`ChatvoltError`].

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use stagecoach_app::{AppError, Principal};
use stagecoach_domain::enums::TokenType;

use super::error::ChatvoltError;
use crate::{AppState, MAX_BODY_BYTES};

/// The caller, authenticated by `Authorization: Bearer <token>`.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ChatvoltError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let secret = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, secret) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| secret.trim())
            })
            .ok_or(AppError::Unauthorized)?;
        let principal = state.core.authenticate(secret).await?;
        // Async tokens only feed queued ingestion; they cannot call this API.
        if principal.token_type != TokenType::Sync {
            return Err(AppError::Unauthorized.into());
        }
        crate::http_log::record_organization(&principal.organization_id);
        Ok(Caller(principal))
    }
}

/// A JSON body whose errors name the field at fault (`autoNextTime: invalid type: string
/// "2", expected i64`). Any content type is read as JSON, so `curl -d` works unadorned.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ChatvoltError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|_| ChatvoltError::TooLarge {
                    limit: MAX_BODY_BYTES,
                })?;
        parse_json(&bytes).map(Body)
    }
}

pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ChatvoltError> {
    let not_json = |error: &serde_json::Error| ChatvoltError::Malformed {
        field: None,
        message: format!(
            "the body is not valid JSON: {}",
            strip_position(&error.to_string())
        ),
    };
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(ChatvoltError::Malformed {
                field: None,
                message: "the request needs a JSON body".to_owned(),
            });
        }
        // serde would read a struct from an array too; every body of this dialect is an object.
        Some(b'{') => {}
        Some(_) => {
            return Err(ChatvoltError::Malformed {
                field: None,
                message: "the body must be a JSON object".to_owned(),
            });
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            not_json(&inner)
        } else {
            ChatvoltError::Malformed {
                field: (path != ".").then_some(path),
                message: strip_position(&inner.to_string()),
            }
        }
    })?;
    deserializer.end().map_err(|error| not_json(&error))?;
    Ok(value)
}

/// serde_json appends " at line 1 column 17"; the field path says more to a client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// Query-string parameters, with a rejection in the dialect's error shape.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Params<T> {
    type Rejection = ChatvoltError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Params(value))
            .map_err(|rejection| ChatvoltError::Malformed {
                field: None,
                message: rejection.body_text(),
            })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Sample {
        auto_next_time: Option<i64>,
        tags: Option<Vec<String>>,
        headers: Option<BTreeMap<String, String>>,
    }

    fn field_of(body: &str) -> (Option<String>, String) {
        match parse_json::<Sample>(body.as_bytes()) {
            Err(ChatvoltError::Malformed { field, message }) => (field, message),
            other => panic!("expected a malformed-body error, got {other:?}"),
        }
    }

    #[test]
    fn type_errors_name_the_field() {
        assert_eq!(
            field_of(r#"{"autoNextTime": "2"}"#).0.as_deref(),
            Some("autoNextTime")
        );
        assert_eq!(
            field_of(r#"{"tags": ["a", 1]}"#).0.as_deref(),
            Some("tags[1]")
        );
        assert_eq!(
            field_of(r#"{"headers": {"X": 1}}"#).0.as_deref(),
            Some("headers.X")
        );
    }

    #[test]
    fn syntax_errors_and_non_objects_are_malformed_json() {
        let (field, message) = field_of("{\"autoNextTime\": ");
        assert_eq!(field, None);
        assert!(
            message.starts_with("the body is not valid JSON"),
            "{message}"
        );
        let (field, message) = field_of("[1, 2]");
        assert_eq!(field, None);
        assert_eq!(message, "the body must be a JSON object");
        assert!(matches!(
            parse_json::<Sample>(b"  "),
            Err(ChatvoltError::Malformed { field: None, .. })
        ));
        assert!(matches!(
            parse_json::<Sample>(b"{} x"),
            Err(ChatvoltError::Malformed { field: None, .. })
        ));
    }
}
