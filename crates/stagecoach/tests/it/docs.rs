//! The pages for people, over HTTP: the landing page and the API reference.

use std::collections::HashSet;

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE};

use crate::support::TestApp;

backend_tests!(
    the_reference_shows_every_operation_and_loads_nothing_from_elsewhere,
    the_landing_page_links_to_the_reference_and_the_checks
);

const OPERATION_KEYS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn the_reference_shows_every_operation_and_loads_nothing_from_elsewhere(app: TestApp) {
    let page = page(&app, "/docs").await;
    let text = visible_text(&page);

    let response = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    let (_, document) = crate::support::read(response).await;
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            if !OPERATION_KEYS.contains(&method.as_str()) {
                continue;
            }
            let shown = format!("{} {path}", method.to_uppercase());
            assert!(text.contains(&shown), "/docs does not show {shown}");
            operations += 1;
        }
    }
    assert!(operations > 0, "the document has no operations");
    assert!(text.contains("Authorization: Bearer <token>"));

    assert_nothing_from_elsewhere(&app, &page);
    // Every link within the page lands on an element of the page.
    let ids: HashSet<&str> = attribute_values(&page, "id").into_iter().collect();
    for href in attribute_values(&page, "href") {
        if let Some(anchor) = href.strip_prefix('#') {
            assert!(ids.contains(anchor), "#{anchor} points nowhere");
        }
    }

    // The route is exact: what lies under it falls back like any unknown path.
    let (status, body) = app.call(reqwest::Method::GET, "/docs/extra", None).await;
    crate::support::assert_error(status, &body, StatusCode::NOT_FOUND, &[]);
}

async fn the_landing_page_links_to_the_reference_and_the_checks(app: TestApp) {
    let page = page(&app, "/").await;
    let links = attribute_values(&page, "href");
    for expected in ["/ui/", "/docs", "/openapi.json", "/healthz", "/readyz"] {
        assert!(
            links.contains(&expected),
            "the landing page lacks {expected}"
        );
    }
    for link in links {
        let response = app
            .client
            .get(format!("{}{link}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{link}");
    }
    assert_nothing_from_elsewhere(&app, &page);

    // Only `/` itself is the landing page.
    let (status, body) = app.call(reqwest::Method::GET, "/index.html", None).await;
    crate::support::assert_error(status, &body, StatusCode::NOT_FOUND, &[]);
}

/// GETs an HTML page without a token.
async fn page(app: &TestApp, path: &str) -> String {
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let header = |name| {
        response.headers()[name]
            .to_str()
            .expect("ASCII header")
            .to_owned()
    };
    assert_eq!(header(CONTENT_TYPE), "text/html; charset=utf-8", "{path}");
    assert!(header(CACHE_CONTROL).contains("max-age"), "{path}");
    response.text().await.expect("body")
}

/// No script, and every address the page could load or lead to is on this server.
fn assert_nothing_from_elsewhere(app: &TestApp, page: &str) {
    assert!(!page.contains("<script"), "the page carries a script");
    let own = format!("{}/", app.base);
    for attribute in ["href", "src", "srcset", "action", "poster", "data"] {
        for value in attribute_values(page, attribute) {
            let on_this_server = value.starts_with('#')
                || (value.starts_with('/') && !value.starts_with("//"))
                || value.starts_with(&own);
            assert!(on_this_server, "{attribute}={value} leaves the server");
        }
    }
    for style in between(page, "<style>", "</style>") {
        assert!(!style.contains("@import"), "a style imports another sheet");
        assert!(!style.contains("url("), "a style loads a resource");
    }
}

/// The values of `attribute` on the page's tags, quoted or not.
fn attribute_values<'a>(html: &'a str, attribute: &str) -> Vec<&'a str> {
    let needle = format!("{attribute}=");
    let mut values = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&needle) {
        let whole_name = rest[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_whitespace);
        rest = &rest[at + needle.len()..];
        if !whole_name {
            continue;
        }
        let (value, after) = match rest.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let body = &rest[1..];
                let end = body.find(quote).unwrap_or(body.len());
                (&body[..end], &body[end..])
            }
            _ => {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '>')
                    .unwrap_or(rest.len());
                rest.split_at(end)
            }
        };
        values.push(value);
        rest = after;
    }
    values
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    text.split(open)
        .skip(1)
        .filter_map(|part| part.split_once(close).map(|(inside, _)| inside))
        .collect()
}

/// What a reader sees: the text without tags, entities decoded, whitespace collapsed.
fn visible_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let decoded = decode_entities(&text);
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn decode_entities(text: &str) -> String {
    let mut decoded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        decoded.push_str(&rest[..at]);
        rest = &rest[at..];
        let entity = rest.find(';').map(|end| (&rest[1..end], end));
        let character = entity.and_then(|(name, _)| match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name
                .strip_prefix('#')
                .and_then(|number| match number.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => number.parse().ok(),
                })
                .and_then(char::from_u32),
        });
        match (character, entity) {
            (Some(character), Some((_, end))) => {
                decoded.push(character);
                rest = &rest[end + 1..];
            }
            _ => {
                decoded.push('&');
                rest = &rest[1..];
            }
        }
    }
    decoded.push_str(rest);
    decoded
}

#[test]
fn the_helpers_read_attributes_and_text_as_a_browser_would() {
    let html = r#"<a href="/x">a &#60;b&#62; &amp; c</a> <img src=//cdn.example/y.png> <p data-href="no">"#;
    assert_eq!(attribute_values(html, "href"), ["/x"]);
    assert_eq!(attribute_values(html, "src"), ["//cdn.example/y.png"]);
    assert_eq!(visible_text(html), "a <b> & c");
}
