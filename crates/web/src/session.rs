//! The session cookie, and the check that a write comes from this site.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use stagecoach_app::{Principal, Stagecoach};

/// The session cookie's name.
pub const COOKIE: &str = "stagecoach_session";

/// The signed-in caller; a request without a live session is sent to the login page.
pub(crate) struct SignedIn {
    pub principal: Principal,
    pub secret: String,
}

/// The session secret the request carries, if any.
pub(crate) fn cookie_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

impl FromRequestParts<Stagecoach> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        core: &Stagecoach,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to("/ui/login").into_response();
        let secret = cookie_secret(&parts.headers).ok_or_else(to_login)?;
        match core.session_principal(&secret).await {
            Ok(principal) => Ok(SignedIn { principal, secret }),
            Err(stagecoach_app::AppError::Unauthorized) => Err(to_login()),
            Err(error) => Err(crate::pages::failure(&error)),
        }
    }
}

/// Whether a write comes from this site: `Sec-Fetch-Site` when the browser sends it,
/// else `Origin` compared with `Host`. A request with neither is refused: every browser
/// that submits a form sends one of them.
pub(crate) fn same_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host),
        _ => false,
    }
}

/// The `Set-Cookie` value of a new session (`Secure` when the request came over HTTPS,
/// as a proxy in front says with `X-Forwarded-Proto`).
pub(crate) fn session_cookie(secret: &str, max_age_seconds: i64, headers: &HeaderMap) -> String {
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!(
        "{COOKIE}={secret}; Path=/ui; HttpOnly; SameSite=Lax; Max-Age={max_age_seconds}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub(crate) fn cleared_cookie() -> String {
    format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Lax; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn writes_must_come_from_this_site() {
        assert!(same_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_site(&headers(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://h"),
            ("host", "h")
        ])));
        assert!(same_site(&headers(&[
            ("origin", "http://h:8080"),
            ("host", "h:8080")
        ])));
        assert!(!same_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "h:8080")
        ])));
        assert!(!same_site(&headers(&[("host", "h:8080")])));
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let map = headers(&[("cookie", "a=1; stagecoach_session=scs_x; b=2")]);
        assert_eq!(cookie_secret(&map).as_deref(), Some("scs_x"));
        assert_eq!(cookie_secret(&headers(&[("cookie", "a=1")])), None);
    }
}
