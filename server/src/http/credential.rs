//! The one place a request's user credential is read, and the cross-site rule that goes with
//! it. A middleware resolves every request once and leaves the answer in its extensions; the
//! [`User`](super::extract::User) extractor, the viewer-socket upgrade and the page renderer
//! all read that answer, so no two of them can disagree about who is asking.
//!
//! The rules:
//! - `Authorization: Bearer <token>` (the scheme in any case, RFC 6750) wins. A browser never
//!   sends it by itself, so a request carrying it needs no origin check. Any other scheme (a
//!   reverse proxy's `Basic`) is not MuMu's and is ignored.
//! - Otherwise the session cookie, which must appear exactly once: two (one planted by a sibling
//!   subdomain) are refused, never "the first one wins". Over HTTPS the cookie is
//!   `__Host-mumu_session`, which browsers refuse to accept from any other host.
//! - Whenever the cookie is what authenticates, a state-changing request or a WebSocket upgrade
//!   must come from this site's own pages ([`super::origin`]).

use super::error::ApiError;
use super::origin;
use crate::error::Error;
use crate::state::SharedState;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The session cookie's name over plain HTTP.
pub const PLAIN_COOKIE: &str = "mumu_session";

/// The session cookie's name over HTTPS: the `__Host-` prefix makes a browser accept it only
/// from this exact host, with `Secure`, `Path=/` and no `Domain`.
pub const HOST_COOKIE: &str = "__Host-mumu_session";

/// The session cookie's name for a site served over HTTPS (`secure`) or plain HTTP.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { HOST_COOKIE } else { PLAIN_COOKIE }
}

/// The token of an `Authorization` header in the Bearer scheme, if that is its scheme. Used
/// for user tokens and device secrets alike.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A user credential, and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer`: sent on purpose by a program.
    Bearer(String),
    /// The session cookie: sent by the browser by itself, whichever page asks.
    Cookie(String),
}

impl Credential {
    /// The access token.
    pub fn token(&self) -> &str {
        match self {
            Self::Bearer(t) | Self::Cookie(t) => t,
        }
    }
}

/// What the middleware found: a credential, none, or a refusal to pick one.
#[derive(Clone, Debug)]
pub struct Resolved(pub Result<Option<Credential>, String>);

impl Resolved {
    /// The credential, when there is exactly one (pages: an ambiguous one is a visitor).
    pub fn credential(&self) -> Option<&Credential> {
        self.0.as_ref().ok().and_then(Option::as_ref)
    }

    /// The credential for an API call: a refusal becomes `unauthorized` with its reason.
    pub fn for_api(&self) -> Result<Option<&Credential>, Error> {
        match &self.0 {
            Ok(c) => Ok(c.as_ref()),
            Err(reason) => Err(Error::unauthorized(reason.clone())),
        }
    }
}

/// Reads the credential of a request with these headers.
pub fn resolve(headers: &HeaderMap, cookie: &str) -> Result<Option<Credential>, String> {
    if let Some(token) = bearer(headers) {
        return Ok(Some(Credential::Bearer(token.to_owned())));
    }
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == cookie)
        .map(|(_, value)| value.trim());
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some(""), None) => Ok(None),
        (Some(value), None) => Ok(Some(Credential::Cookie(value.to_owned()))),
        (Some(_), Some(_)) => Err(format!(
            "two {cookie} cookies were sent, so the server cannot tell which login is yours \
             (another site may have planted one); clear this site's cookies and log in again"
        )),
    }
}

/// Whether a request asks to change something, or to open a socket that can.
fn changes_state(request: &Request) -> bool {
    let upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    upgrade
        || !matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        )
}

/// Middleware on every route: resolves the credential once, and refuses a cookie-authenticated
/// state change or socket from another site.
pub async fn resolve_credential(
    axum::extract::State(state): axum::extract::State<SharedState>,
    mut request: Request,
    next: Next,
) -> Response {
    let cookie = cookie_name(state.config.secure_cookies());
    let resolved = resolve(request.headers(), cookie);
    if let Ok(Some(Credential::Cookie(_))) = &resolved
        && changes_state(&request)
        && let Some(from) =
            origin::foreign_origin(request.headers(), state.config.public_url.as_deref())
    {
        return origin::refusal(&from).into_response();
    }
    request.extensions_mut().insert(Resolved(resolved));
    next.run(request).await
}

/// The resolved credential of a request that went through [`resolve_credential`].
pub fn of(extensions: &axum::http::Extensions) -> Result<Option<&Credential>, ApiError> {
    match extensions.get::<Resolved>() {
        Some(resolved) => Ok(resolved.for_api()?),
        // Every route is behind the middleware; a route that is not has no user.
        None => Ok(None),
    }
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
    fn the_bearer_scheme_is_read_in_any_case_and_nothing_else_is() {
        for value in ["Bearer abc", "bearer abc", "BEARER  abc ", "  Bearer abc"] {
            let h = headers(&[("authorization", value)]);
            assert_eq!(bearer(&h), Some("abc"), "{value:?}");
        }
        for value in [
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "Bearer   ",
            "Bearerabc",
            "abc",
        ] {
            assert_eq!(
                bearer(&headers(&[("authorization", value)])),
                None,
                "{value:?}"
            );
        }
    }

    #[test]
    fn a_bearer_token_wins_over_the_cookie() {
        let h = headers(&[
            ("authorization", "Bearer tok"),
            ("cookie", "mumu_session=cookie"),
        ]);
        assert_eq!(
            resolve(&h, PLAIN_COOKIE),
            Ok(Some(Credential::Bearer("tok".into())))
        );
    }

    #[test]
    fn another_authorization_scheme_leaves_the_cookie_in_charge() {
        let h = headers(&[
            ("authorization", "Basic dXNlcjpwYXNz"),
            ("cookie", "theme=dark; mumu_session=victim"),
        ]);
        assert_eq!(
            resolve(&h, PLAIN_COOKIE),
            Ok(Some(Credential::Cookie("victim".into())))
        );
    }

    #[test]
    fn a_second_session_cookie_is_refused_not_guessed() {
        let one_header = headers(&[("cookie", "mumu_session=attacker; mumu_session=victim")]);
        assert!(
            resolve(&one_header, PLAIN_COOKIE)
                .unwrap_err()
                .contains("two")
        );
        let two_headers = headers(&[
            ("cookie", "mumu_session=attacker"),
            ("cookie", "mumu_session=victim"),
        ]);
        assert!(resolve(&two_headers, PLAIN_COOKIE).is_err());
    }

    #[test]
    fn over_https_only_the_host_cookie_counts() {
        let h = headers(&[("cookie", "mumu_session=planted; __Host-mumu_session=victim")]);
        assert_eq!(
            resolve(&h, cookie_name(true)),
            Ok(Some(Credential::Cookie("victim".into())))
        );
        let planted_only = headers(&[("cookie", "mumu_session=planted")]);
        assert_eq!(resolve(&planted_only, cookie_name(true)), Ok(None));
    }
}
