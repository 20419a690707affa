//! Where a webhook may point. A webhook makes the server send requests where a user says: left
//! open, that is a way into the household's network (the router's admin page, a NAS, cloud
//! metadata at 169.254.169.254). So a webhook's URL is `http(s)` and its host must be a public
//! address; the operator lists the exceptions (`MUMU_WEBHOOK_ALLOWED_HOSTS`: a Home Assistant
//! on the LAN). The rule is the server's one for user-given addresses ([`crate::outbound`]):
//! checked when the URL is set and again at every delivery, against the very addresses the
//! connection will use. Here are only the webhook's own words for it.

use crate::outbound::{Guard, Refusal};
use reqwest::Url;
use std::net::IpAddr;
use thiserror::Error;

/// The longest webhook URL.
pub const MAX_URL_CHARS: usize = 2048;

/// Why a webhook URL was refused. Each message says what to change.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum AddressError {
    /// Not a URL at all.
    #[error("the webhook URL is not a URL ({0})")]
    Unparsable(String),
    /// Another scheme than http and https.
    #[error("the webhook URL must start with http:// or https:// (got {0}:)")]
    Scheme(String),
    /// Too long.
    #[error("the webhook URL must be at most {MAX_URL_CHARS} characters (got {0})")]
    TooLong(usize),
    /// No host.
    #[error("the webhook URL has no host")]
    NoHost,
    /// The host is, or resolves to, an address the server must not reach.
    #[error(
        "the webhook host {host} is {kind} address {ip}: the server does not send webhooks into \
         private networks unless the operator lists the host in MUMU_WEBHOOK_ALLOWED_HOSTS"
    )]
    NotPublic {
        /// The URL's host.
        host: String,
        /// The address.
        ip: IpAddr,
        /// What kind of address (`a loopback`, `a private`, ...).
        kind: &'static str,
    },
    /// The host's name does not resolve.
    #[error("the webhook host {host} could not be resolved ({reason})")]
    Unresolved {
        /// The URL's host.
        host: String,
        /// The resolver's words.
        reason: String,
    },
}

impl From<Refusal> for AddressError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotPublic { host, ip, kind } => Self::NotPublic { host, ip, kind },
            Refusal::Unresolved { host, reason } => Self::Unresolved { host, reason },
        }
    }
}

/// Checks a webhook URL's form, and its host when it is an address; returns it parsed. A name
/// is checked by [`resolve_checked`].
pub fn check_url(text: &str, guard: &Guard) -> Result<Url, AddressError> {
    let chars = text.chars().count();
    if chars > MAX_URL_CHARS {
        return Err(AddressError::TooLong(chars));
    }
    let url = Url::parse(text.trim()).map_err(|e| AddressError::Unparsable(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(AddressError::Scheme(url.scheme().to_owned()));
    }
    if url.host().is_none() {
        return Err(AddressError::NoHost);
    }
    guard.check_literal_host(&url)?;
    Ok(url)
}

/// Resolves `host` and checks every address it gives (all must be public, unless the host is
/// allowed).
pub async fn resolve_checked(host: &str, guard: &Guard) -> Result<(), AddressError> {
    guard.resolve(host).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http_and_name_a_public_host_unless_it_is_allowed() {
        let none = Guard::default();
        assert!(check_url("https://ha.example.com/api/webhook/x", &none).is_ok());
        assert_eq!(
            check_url("ftp://example.com/", &none),
            Err(AddressError::Scheme("ftp".into()))
        );
        assert!(matches!(
            check_url("javascript:alert(1)", &none),
            Err(AddressError::Scheme(_))
        ));
        assert!(matches!(
            check_url("not a url", &none),
            Err(AddressError::Unparsable(_))
        ));
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(matches!(
            check_url(&long, &none),
            Err(AddressError::TooLong(_))
        ));
        let refused = check_url("http://127.0.0.1:8123/hook", &none).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "the webhook host 127.0.0.1 is a loopback address 127.0.0.1: the server does not \
             send webhooks into private networks unless the operator lists the host in \
             MUMU_WEBHOOK_ALLOWED_HOSTS"
        );
        assert!(check_url("http://[::1]:8123/hook", &none).is_err());
        let allowed = Guard::new(&["127.0.0.1".into(), "[::1]".into()]);
        assert!(check_url("http://127.0.0.1:8123/hook", &allowed).is_ok());
        assert!(check_url("http://[::1]:8123/hook", &allowed).is_ok());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_allowed() {
        let refused = resolve_checked("localhost", &Guard::default()).await;
        assert!(
            matches!(
                refused,
                Err(AddressError::NotPublic {
                    kind: "a loopback",
                    ..
                })
            ),
            "{refused:?}"
        );
        let allowed = Guard::new(&["LOCALHOST".into()]);
        assert!(resolve_checked("localhost", &allowed).await.is_ok());
    }
}
