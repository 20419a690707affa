//! Whether a request came from this site's own pages. SameSite=Lax already keeps the session
//! cookie off cross-site POSTs and sub-requests; this is the second lock, applied by
//! [`super::credential`] whenever the cookie is what authenticates a state change or a
//! viewer-socket upgrade.

use super::error::ApiError;
use crate::error::Error;
use axum::http::{HeaderMap, header};

/// The scheme (lower case) and host part (`host[:port]`) of an origin or URL.
fn parts_of(url: &str) -> (Option<String>, &str) {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, url),
    };
    (scheme, rest.split('/').next().unwrap_or(rest))
}

/// The foreign origin a request came from, if it came from another site: its `Origin` is
/// neither the configured public URL (scheme and host) nor the `Host` it was sent to, or the
/// browser marked it `Sec-Fetch-Site: cross-site`. When the public URL is `https://`, an
/// `http://` origin is foreign even on the same host: a page served without TLS may have been
/// written by anyone on the network path.
pub fn foreign_origin(headers: &HeaderMap, public_url: Option<&str>) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match text(header::ORIGIN.as_str()) {
        Some(origin) => {
            let (scheme, from) = parts_of(origin);
            let public = public_url.map(parts_of);
            let https_only = public
                .as_ref()
                .is_some_and(|(s, _)| s.as_deref() == Some("https"));
            let scheme_ok = !https_only || scheme.as_deref() == Some("https");
            let is_public = public.as_ref().is_some_and(|(s, host)| {
                s.is_some() && *s == scheme && host.eq_ignore_ascii_case(from)
            });
            let is_host =
                text(header::HOST.as_str()).is_some_and(|host| host.eq_ignore_ascii_case(from));
            let own = is_public || (scheme_ok && is_host);
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
    fn a_plain_http_origin_is_foreign_to_an_https_site() {
        let downgraded = headers(&[
            ("host", "cams.example.com"),
            ("origin", "http://cams.example.com"),
        ]);
        assert!(foreign_origin(&downgraded, Some("https://cams.example.com")).is_some());
        let own = headers(&[
            ("host", "cams.example.com"),
            ("origin", "https://cams.example.com"),
        ]);
        assert_eq!(foreign_origin(&own, Some("https://cams.example.com")), None);
        let sibling = headers(&[
            ("host", "cams.example.com"),
            ("origin", "https://evil.cams.example.com"),
        ]);
        assert!(foreign_origin(&sibling, Some("https://cams.example.com")).is_some());
    }

    #[test]
    fn without_origin_the_fetch_metadata_decides() {
        assert_eq!(foreign_origin(&headers(&[("host", "a")]), None), None);
        let cross = headers(&[("host", "a"), ("sec-fetch-site", "cross-site")]);
        assert!(foreign_origin(&cross, None).is_some());
    }
}
