//! Where a webhook may point. A webhook makes the server send requests where a user says: left
//! open, that is a way into the household's network (the router's admin page, a NAS, cloud
//! metadata at 169.254.169.254). So a webhook's URL is `http(s)` and its host must be a public
//! address; the operator lists the exceptions (`MUMU_WEBHOOK_ALLOWED_HOSTS`: a Home Assistant
//! on the LAN). The check runs when the URL is set and again at every delivery, against the
//! very addresses the connection will use (the client resolves through [`GuardedResolver`]), so
//! a name that resolved to a public address at first and to a private one later (DNS
//! rebinding) is refused then too. Redirects are not followed.

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
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

/// The hosts the operator allows webhooks to reach whatever their addresses, lower-cased.
#[derive(Clone, Debug, Default)]
pub struct AllowedHosts(Arc<HashSet<String>>);

impl AllowedHosts {
    /// From `MUMU_WEBHOOK_ALLOWED_HOSTS`'s entries (names or addresses; IPv6 with or without
    /// brackets).
    pub fn new(hosts: &[String]) -> Self {
        Self(Arc::new(
            hosts
                .iter()
                .map(|h| normalise(h))
                .filter(|h| !h.is_empty())
                .collect(),
        ))
    }

    /// Whether `host` is listed.
    pub fn allows(&self, host: &str) -> bool {
        self.0.contains(&normalise(host))
    }
}

fn normalise(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// What kind of address `ip` is when the server must not reach it; `None` for a public one.
pub fn non_public_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_kind(v4),
            None => v6_kind(v6),
        },
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("an unspecified")
    } else if ip.is_loopback() {
        Some("a loopback")
    } else if ip.is_private() {
        Some("a private")
    } else if ip.is_link_local() {
        Some("a link-local")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT)")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("a broadcast, multicast or reserved")
    } else {
        None
    }
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        Some("an unspecified")
    } else if ip.is_loopback() {
        Some("a loopback")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a unique-local")
    } else if ip.is_multicast() {
        Some("a broadcast, multicast or reserved")
    } else {
        None
    }
}

/// `ip` as the host named `host` may use, unless the host is allowed.
fn check_ip(host: &str, ip: IpAddr, allowed: &AllowedHosts) -> Result<(), AddressError> {
    match non_public_kind(ip) {
        Some(kind) if !allowed.allows(host) => Err(AddressError::NotPublic {
            host: host.to_owned(),
            ip,
            kind,
        }),
        _ => Ok(()),
    }
}

/// Checks a webhook URL's form, and its host when it is an address; returns it parsed. A name
/// is checked by [`resolve_checked`].
pub fn check_url(text: &str, allowed: &AllowedHosts) -> Result<Url, AddressError> {
    let chars = text.chars().count();
    if chars > MAX_URL_CHARS {
        return Err(AddressError::TooLong(chars));
    }
    let url = Url::parse(text.trim()).map_err(|e| AddressError::Unparsable(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(AddressError::Scheme(url.scheme().to_owned()));
    }
    let host = url.host().ok_or(AddressError::NoHost)?;
    let ip = match host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    };
    if let Some(ip) = ip {
        check_ip(&host.to_string(), ip, allowed)?;
    }
    Ok(url)
}

/// Resolves `host` and checks every address it gives (all must be public, unless the host is
/// allowed).
pub async fn resolve_checked(
    host: &str,
    allowed: &AllowedHosts,
) -> Result<Vec<SocketAddr>, AddressError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| AddressError::Unresolved {
            host: host.to_owned(),
            reason: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(AddressError::Unresolved {
            host: host.to_owned(),
            reason: "no address".into(),
        });
    }
    for addr in &addrs {
        check_ip(host, addr.ip(), allowed)?;
    }
    Ok(addrs)
}

/// The webhook client's resolver: the addresses a delivery connects to are the ones checked.
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    /// The operator's exceptions.
    pub allowed: AllowedHosts,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allowed.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            type BoxError = Box<dyn std::error::Error + Send + Sync>;
            let addrs = resolve_checked(&host, &allowed)
                .await
                .map_err(|e| Box::new(e) as BoxError)?;
            Ok::<Addrs, BoxError>(Box::new(addrs.into_iter()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Option<&'static str> {
        non_public_kind(text.parse().unwrap())
    }

    #[test]
    fn private_loopback_link_local_and_unique_local_addresses_are_not_public() {
        for (ip, expected) in [
            ("127.0.0.1", "a loopback"),
            ("10.1.2.3", "a private"),
            ("172.16.0.1", "a private"),
            ("192.168.1.20", "a private"),
            ("169.254.169.254", "a link-local"),
            ("0.0.0.0", "an unspecified"),
            ("100.64.0.1", "a shared (carrier-grade NAT)"),
            ("255.255.255.255", "a broadcast, multicast or reserved"),
            ("::1", "a loopback"),
            ("::", "an unspecified"),
            ("fe80::1", "a link-local"),
            ("fd12:3456::1", "a unique-local"),
            ("::ffff:127.0.0.1", "a loopback"),
            ("::ffff:10.0.0.1", "a private"),
        ] {
            assert_eq!(kind(ip), Some(expected), "{ip}");
        }
        for public in [
            "93.184.215.14",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "172.32.0.1",
        ] {
            assert_eq!(kind(public), None, "{public}");
        }
    }

    #[test]
    fn urls_must_be_http_and_name_a_public_host_unless_it_is_allowed() {
        let none = AllowedHosts::default();
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
        let allowed = AllowedHosts::new(&["127.0.0.1".into(), "[::1]".into()]);
        assert!(check_url("http://127.0.0.1:8123/hook", &allowed).is_ok());
        assert!(check_url("http://[::1]:8123/hook", &allowed).is_ok());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_allowed() {
        let refused = resolve_checked("localhost", &AllowedHosts::default()).await;
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
        let allowed = AllowedHosts::new(&["LOCALHOST".into()]);
        assert!(resolve_checked("localhost", &allowed).await.is_ok());
    }
}
