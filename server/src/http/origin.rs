//! Refusing cross-site use of the session cookie. SameSite=Lax already keeps the cookie off
//! cross-site POSTs and sub-requests; this is the second lock: a state-changing request or a
//! viewer-socket upgrade that rides on the cookie must come from this site's own pages. Requests
//! with `Authorization: Bearer` (programs, the probe) carry no ambient credentials and pass.

use super::error::ApiError;
use crate::error::Error;
use crate::state::SharedState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The host part (`host[:port]`) of an origin or URL.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

/// Whether the request authenticates with the cookie rather than a header.
pub fn uses_cookie(headers: &HeaderMap) -> bool {
    !headers.contains_key(header::AUTHORIZATION) && headers.contains_key(header::COOKIE)
}

/// The foreign origin a request came from, if it came from another site: its `Origin` differs
/// from the `Host` it was sent to (and from the configured public URL), or the browser marked
/// it `Sec-Fetch-Site: cross-site`.
pub fn foreign_origin(headers: &HeaderMap, public_url: Option<&str>) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match text(header::ORIGIN.as_str()) {
        Some(origin) => {
            let from = host_of(origin);
            let own = text(header::HOST.as_str())
                .is_some_and(|host| host.eq_ignore_ascii_case(from))
                || public_url.is_some_and(|url| host_of(url).eq_ignore_ascii_case(from));
            (!own).then(|| origin.to_owned())
        }
        None => (text("sec-fetch-site") == Some("cross-site")).then(|| "another site".to_owned()),
    }
}

/// The refusal, saying what was wrong.
pub fn refusal(origin: &str) -> ApiError {
    ApiError(Error::forbidden(format!(
        "cross-site request refused: it came from {origin}, and the session cookie only works \
         from this site's own pages (programs send Authorization: Bearer instead)"
    )))
}

/// Middleware: refuses cookie-authenticated state changes from other sites.
pub async fn same_site_only(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe
        && uses_cookie(request.headers())
        && let Some(origin) = foreign_origin(request.headers(), state.config.public_url.as_deref())
    {
        return refusal(&origin).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn same_host_passes_and_other_sites_do_not() {
        let own = headers(&[
            ("host", "cams.local:8080"),
            ("origin", "http://cams.local:8080"),
        ]);
        assert_eq!(foreign_origin(&own, None), None);
        let evil = headers(&[
            ("host", "cams.local:8080"),
            ("origin", "https://evil.example"),
        ]);
        assert_eq!(
            foreign_origin(&evil, None).as_deref(),
            Some("https://evil.example")
        );
        let opaque = headers(&[("host", "cams.local:8080"), ("origin", "null")]);
        assert!(foreign_origin(&opaque, None).is_some());
    }

    #[test]
    fn the_public_url_counts_as_own_behind_a_proxy() {
        let proxied = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://cams.example.com"),
        ]);
        assert_eq!(
            foreign_origin(&proxied, Some("https://cams.example.com/")),
            None
        );
    }

    #[test]
    fn without_origin_the_fetch_metadata_decides() {
        assert_eq!(foreign_origin(&headers(&[("host", "a")]), None), None);
        let cross = headers(&[("host", "a"), ("sec-fetch-site", "cross-site")]);
        assert!(foreign_origin(&cross, None).is_some());
    }
}
