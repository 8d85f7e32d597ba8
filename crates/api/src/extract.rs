//! Request extraction shared by every dialect: the bearer token, JSON bodies whose errors
//! name the field at fault, and query strings. Each dialect gets its own extractor types
//! from [`dialect_extractors!`], whose rejections render in that dialect's error body.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use stagecoach_app::{AppError, Principal};
use stagecoach_domain::enums::TokenType;

use crate::{AppState, MAX_BODY_BYTES};

/// Why a request could not be read. Each dialect's error type converts from it.
#[derive(Debug)]
pub(crate) enum Rejection {
    /// Not JSON, or a field of the wrong type or with an unknown enum value.
    Malformed {
        field: Option<String>,
        message: String,
    },
    TooLarge {
        limit: usize,
    },
    App(AppError),
}

impl From<AppError> for Rejection {
    fn from(error: AppError) -> Self {
        Rejection::App(error)
    }
}

/// The caller, authenticated by `Authorization: Bearer <token>`. Only tokens of type
/// `allowed` pass; others are answered as unauthorized. A token restricted to scopes must
/// hold the one [`crate::scopes`] gives the matched route; a route missing from that table
/// is open to full-access tokens only.
pub(crate) async fn authenticate(
    parts: &Parts,
    state: &AppState,
    allowed: TokenType,
) -> Result<Principal, Rejection> {
    let principal = match parts.extensions.get::<crate::idempotency::Authenticated>() {
        // Authenticated and counted already, to reserve its idempotency key.
        Some(crate::idempotency::Authenticated(principal)) => {
            if principal.token_type != allowed {
                return Err(AppError::Unauthorized.into());
            }
            principal.clone()
        }
        None => {
            let secret = bearer_secret(&parts.headers).ok_or(AppError::Unauthorized)?;
            let principal = state.core.authenticate(secret).await?;
            if principal.token_type != allowed {
                return Err(AppError::Unauthorized.into());
            }
            state.limits.check_caller(&principal)?;
            principal
        }
    };
    crate::http_log::record_organization(&principal.organization_id);
    check_route_scope(&parts.method, &parts.extensions, &principal)?;
    Ok(principal)
}

/// Refuses a token restricted to scopes that do not open the matched route.
pub(crate) fn check_route_scope(
    method: &axum::http::Method,
    extensions: &axum::http::Extensions,
    principal: &Principal,
) -> Result<(), AppError> {
    if principal.scopes.is_none() {
        return Ok(());
    }
    let route = extensions.get::<MatchedPath>().map(MatchedPath::as_str);
    match route.and_then(|route| crate::scopes::requirement(method, route)) {
        Some(needed) => principal.require(needed),
        None => {
            tracing::error!(route, %method, "route has no scope in the scope table");
            Err(AppError::MissingScope(None))
        }
    }
}

/// The secret of `Authorization: Bearer <secret>`.
pub(crate) fn bearer_secret(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| secret.trim())
}

/// Reads a JSON body. Any content type is read as JSON, so `curl -d` works unadorned.
pub(crate) async fn json_body<T: DeserializeOwned>(
    request: Request,
    state: &AppState,
) -> Result<T, Rejection> {
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(|_| Rejection::TooLarge {
            limit: MAX_BODY_BYTES,
        })?;
    parse_json(&bytes)
}

pub(crate) async fn query<T: DeserializeOwned + Send>(
    parts: &mut Parts,
    state: &AppState,
) -> Result<T, Rejection> {
    axum::extract::Query::<T>::from_request_parts(parts, state)
        .await
        .map(|axum::extract::Query(value)| value)
        .map_err(|rejection| {
            let text = rejection.body_text();
            let said = text
                .strip_prefix("Failed to deserialize query string: ")
                .unwrap_or(&text);
            match named_by_message(".", said).or_else(|| named_by_prefix(said)) {
                Some((field, message)) => Rejection::Malformed {
                    field: Some(field),
                    message,
                },
                None => Rejection::Malformed {
                    field: None,
                    message: text,
                },
            }
        })
}

/// Declares a dialect's `Caller`, `Body<T>` and `Params<T>` extractors, rejecting with
/// `$error` (which must implement `From<Rejection>` and `IntoResponse`).
macro_rules! dialect_extractors {
    ($error:ty) => {
        /// The caller, authenticated by a `sync` bearer token.
        pub struct Caller(pub stagecoach_app::Principal);

        impl axum::extract::FromRequestParts<$crate::AppState> for Caller {
            type Rejection = $error;

            async fn from_request_parts(
                parts: &mut axum::http::request::Parts,
                state: &$crate::AppState,
            ) -> Result<Self, Self::Rejection> {
                $crate::extract::authenticate(
                    parts,
                    state,
                    stagecoach_domain::enums::TokenType::Sync,
                )
                .await
                .map(Caller)
                .map_err(<$error>::from)
            }
        }

        /// A JSON body whose errors name the field at fault.
        pub struct Body<T>(pub T);

        impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<$crate::AppState>
            for Body<T>
        {
            type Rejection = $error;

            async fn from_request(
                request: axum::extract::Request,
                state: &$crate::AppState,
            ) -> Result<Self, Self::Rejection> {
                $crate::extract::json_body(request, state)
                    .await
                    .map(Body)
                    .map_err(<$error>::from)
            }
        }

        /// Query-string parameters.
        #[allow(dead_code, reason = "not every dialect reads query strings")]
        pub struct Params<T>(pub T);

        impl<T: serde::de::DeserializeOwned + Send>
            axum::extract::FromRequestParts<$crate::AppState> for Params<T>
        {
            type Rejection = $error;

            async fn from_request_parts(
                parts: &mut axum::http::request::Parts,
                state: &$crate::AppState,
            ) -> Result<Self, Self::Rejection> {
                $crate::extract::query(parts, state)
                    .await
                    .map(Params)
                    .map_err(<$error>::from)
            }
        }
    };
}
pub(crate) use dialect_extractors;

pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Rejection> {
    let not_json = |error: &serde_json::Error| Rejection::Malformed {
        field: None,
        message: format!(
            "the body is not valid JSON: {}",
            strip_position(&error.to_string())
        ),
    };
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(Rejection::Malformed {
                field: None,
                message: "the request needs a JSON body".to_owned(),
            });
        }
        // serde would read a struct from an array too; every body of this dialect is an object.
        Some(b'{') => {}
        Some(_) => {
            return Err(Rejection::Malformed {
                field: None,
                message: "the body must be a JSON object".to_owned(),
            });
        }
    }
    if let Some(field) = nul_in_json(bytes) {
        return Err(Rejection::Malformed {
            field: Some(field),
            message: NUL_REFUSED.to_owned(),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let valid_json = || serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
        if (inner.is_syntax() || inner.is_eof()) && !valid_json() {
            not_json(&inner)
        } else if inner.is_syntax() {
            // serde_json reports a number where an enum is expected as a syntax error,
            // though the JSON is fine: it is the field's value that is wrong.
            Rejection::Malformed {
                field: (path != ".").then_some(path),
                message: "has the wrong type or an unknown value".to_owned(),
            }
        } else if let Some((field, message)) = named_by_message(&path, &inner.to_string()) {
            Rejection::Malformed {
                field: Some(field),
                message,
            }
        } else {
            Rejection::Malformed {
                field: (path != ".").then_some(path),
                message: strip_position(&inner.to_string()),
            }
        }
    })?;
    deserializer.end().map_err(|error| not_json(&error))?;
    Ok(value)
}

/// Why a value holding U+0000 is refused. PostgreSQL cannot store the character in text,
/// so it is refused on either engine: the same request gets the same answer on both.
const NUL_REFUSED: &str = "contains the NUL character (\\u0000), which cannot be stored";

/// The path of the first string (value or key) in a JSON body that holds U+0000. JSON can
/// carry it only escaped, so a body without `\u0000` is not parsed a second time.
fn nul_in_json(bytes: &[u8]) -> Option<String> {
    const ESCAPED: &[u8] = b"\\u0000";
    if !bytes.windows(ESCAPED.len()).any(|window| window == ESCAPED) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    nul_path(&value, String::new())
}

fn nul_path(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    let named = |path: String| {
        if path.is_empty() {
            ".".to_owned()
        } else {
            path
        }
    };
    match value {
        Value::String(text) => text.contains('\0').then(|| named(path)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                Some(path)
            } else {
                nul_path(item, path)
            }
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

/// Refuses, before any handler runs, a request whose path or query string holds U+0000
/// (`%00`), naming the parameter: see [`NUL_REFUSED`]. Route parameters are named by the
/// route's template, query parameters by their key.
pub(crate) async fn refuse_nul_in_uri(
    matched: Option<MatchedPath>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let uri = request.uri();
    let in_path = uri.path().contains("%00").then(|| {
        let template = matched.as_ref().map_or("", MatchedPath::as_str);
        nul_in_path(uri.path(), template)
    });
    let field = in_path.or_else(|| uri.query().and_then(nul_in_query));
    match field {
        Some(field) => crate::fallback::malformed(uri.path(), field, NUL_REFUSED),
        None => next.run(request).await,
    }
}

/// The name of the route parameter whose segment holds `%00`, or `path`.
fn nul_in_path(path: &str, template: &str) -> String {
    let segment = path.split('/').position(|segment| segment.contains("%00"));
    segment
        .and_then(|at| template.split('/').nth(at))
        .and_then(|part| part.strip_prefix('{')?.strip_suffix('}'))
        .unwrap_or("path")
        .to_owned()
}

fn nul_in_query(query: &str) -> Option<String> {
    if !query.contains("%00") {
        return None;
    }
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, value)| key.contains('\0') || value.contains('\0'))
        .map(|(key, _)| key.replace('\0', ""))
}

/// A missing or unknown field is reported at its object, with the name only in serde's
/// message ("missing field `stepIds`"): name it as a field of that object.
fn named_by_message(path: &str, message: &str) -> Option<(String, String)> {
    let message = strip_position(message);
    let (name, said) = if let Some(rest) = message.strip_prefix("missing field `") {
        (rest.split('`').next()?, "is required".to_owned())
    } else if let Some(rest) = message.strip_prefix("unknown field `") {
        (
            rest.split('`').next()?,
            "is not a field of this request".to_owned(),
        )
    } else {
        return None;
    };
    // serde_path_to_error's path already ends at an unknown field, not at a missing one.
    let field = if path == "." {
        name.to_owned()
    } else if path == name || path.ends_with(&format!(".{name}")) {
        path.to_owned()
    } else {
        format!("{path}.{name}")
    };
    Some((field, said))
}

/// A value of the wrong type is reported with its parameter's path first
/// ("limit: invalid digit found in string"): name it.
fn named_by_prefix(message: &str) -> Option<(String, String)> {
    let (field, said) = message.split_once(": ")?;
    let looks_like_a_path = !field.is_empty()
        && field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'));
    looks_like_a_path.then(|| (field.to_owned(), said.to_owned()))
}

/// serde_json appends " at line 1 column 17"; the field path says more to a client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
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
        kind: Option<Kind>,
    }

    #[derive(Debug, Deserialize)]
    enum Kind {
        #[allow(dead_code)]
        A,
    }

    #[test]
    fn a_query_value_of_the_wrong_type_is_named_by_its_path() {
        assert_eq!(
            named_by_prefix("limit: invalid digit found in string"),
            Some(("limit".into(), "invalid digit found in string".into()))
        );
        assert_eq!(
            named_by_prefix("labels[0]: invalid type"),
            Some(("labels[0]".into(), "invalid type".into()))
        );
        assert_eq!(named_by_prefix("expected a sequence: got a map"), None);
        assert_eq!(named_by_prefix("no colon here"), None);
    }

    fn field_of(body: &str) -> (Option<String>, String) {
        match parse_json::<Sample>(body.as_bytes()) {
            Err(Rejection::Malformed { field, message }) => (field, message),
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
        assert_eq!(field_of(r#"{"kind": 3}"#).0.as_deref(), Some("kind"));
        assert_eq!(
            field_of(r#"{"headers": {"X": 1}}"#).0.as_deref(),
            Some("headers.X")
        );
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            needed: String,
        }
        let named = |body: &str| match parse_json::<Strict>(body.as_bytes()) {
            Err(Rejection::Malformed { field, message }) => (field, message),
            other => panic!("expected a malformed-body error, got {other:?}"),
        };
        assert_eq!(named("{}"), (Some("needed".into()), "is required".into()));
        assert_eq!(
            named(r#"{"needed": "x", "extra": 1}"#).0.as_deref(),
            Some("extra")
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
            Err(Rejection::Malformed { field: None, .. })
        ));
        assert!(matches!(
            parse_json::<Sample>(b"{} x"),
            Err(Rejection::Malformed { field: None, .. })
        ));
    }
}
