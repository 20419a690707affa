//! Requests the server makes to addresses its users gave it (a push service's endpoint, an
//! account's webhook): they must not reach into the server's own network. A URL given by a
//! user could name a private, loopback or link-local address, directly or through DNS, and the
//! server would then POST to the database's host, the metadata service, the router. So the
//! clients made here resolve names themselves and refuse a name any of whose addresses is not
//! public (checked at every connection, so a name that later resolves elsewhere — DNS
//! rebinding — is refused then too), follow no redirects and use no proxy; [`Guard::check_url`]
//! and [`Guard::check_ip`] refuse an address written in a URL. An operator lists the hosts
//! exempt from this (a push service of their own, a Home Assistant on the LAN, a test's).

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use url::Url;

/// Why the server will not connect to a host.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Refusal {
    /// The host is, or resolves to, an address the server must not reach.
    #[error("{host} is {kind} address {ip}")]
    NotPublic {
        /// The URL's host.
        host: String,
        /// The address.
        ip: IpAddr,
        /// What kind of address (`a loopback`, `a private`, ...).
        kind: &'static str,
    },
    /// The host's name does not resolve.
    #[error("{host} could not be resolved ({reason})")]
    Unresolved {
        /// The URL's host.
        host: String,
        /// The resolver's words.
        reason: String,
    },
}

/// Which hosts may be plain http or private addresses.
#[derive(Clone, Debug, Default)]
pub struct Guard {
    /// Host names or addresses as listed by the operator, normalised by [`normalise`].
    allowed: Arc<Vec<String>>,
}

/// A host as compared with the list: lower case, without IPv6 brackets or a final dot.
fn normalise(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

impl Guard {
    /// The guard for a list of hosts (blank entries ignored; `[::1]` and `::1` alike).
    pub fn new(allowed: &[String]) -> Self {
        let allowed = allowed
            .iter()
            .map(|h| normalise(h))
            .filter(|h| !h.is_empty())
            .collect();
        Self {
            allowed: Arc::new(allowed),
        }
    }

    /// Whether `host` (a URL's host, brackets and all) is one the operator listed.
    pub fn is_allowed(&self, host: &str) -> bool {
        self.allowed.contains(&normalise(host))
    }

    /// `ip` as an address the host named `host` may be reached at: public, or the host listed.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Refusal> {
        match non_public_kind(ip) {
            Some(kind) if !self.is_allowed(host) => Err(Refusal::NotPublic {
                host: host.to_owned(),
                ip,
                kind,
            }),
            _ => Ok(()),
        }
    }

    /// The host of `url` checked when it is written as an address (a name is checked when it
    /// is resolved, by [`Guard::resolve`]).
    pub fn check_literal_host(&self, url: &Url) -> Result<(), Refusal> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        self.check_ip(url.host_str().unwrap_or_default(), ip)
    }

    /// `host`'s addresses, every one checked: one that is not public refuses the host.
    pub async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, Refusal> {
        let unresolved = |reason: String| Refusal::Unresolved {
            host: host.to_owned(),
            reason,
        };
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| unresolved(e.to_string()))?
            .collect();
        if addrs.is_empty() {
            return Err(unresolved("no address".into()));
        }
        for addr in &addrs {
            self.check_ip(host, addr.ip())?;
        }
        Ok(addrs)
    }

    /// `text` as a push endpoint the server may send to: https, or http for a listed host; no
    /// user or password in it; a host that is a name, or a public address unless listed. The
    /// error says what is wrong, for the person who sent it.
    pub fn check_url(&self, text: &str) -> Result<Url, String> {
        let url = Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the URL has no host")?
            .to_owned();
        let listed = self.is_allowed(&host);
        match url.scheme() {
            "https" => {}
            "http" if listed => {}
            "http" => {
                return Err(format!(
                    "it must be https (http only for the hosts the server lists; {host} is not one)"
                ));
            }
            other => return Err(format!("it must be https, not {other}:")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("it must not carry a user name or password".into());
        }
        self.check_literal_host(&url)
            .map_err(|refusal| match refusal {
                Refusal::NotPublic { ip, .. } => {
                    format!("{ip} is a private, loopback or otherwise non-public address")
                }
                other => other.to_string(),
            })?;
        if !listed && (host == "localhost" || host.ends_with(".localhost")) {
            return Err("localhost is not a public host".into());
        }
        Ok(url)
    }

    /// A client builder for URLs this guard passed: names resolved through [`Guard::resolve`],
    /// no redirects, no proxy, `timeout` for a whole request.
    pub fn client_builder(&self, timeout: Duration) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(Checked {
                guard: self.clone(),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(4)
    }

    /// The client of [`Guard::client_builder`], built.
    pub fn client(&self, timeout: Duration) -> reqwest::Result<reqwest::Client> {
        self.client_builder(timeout).build()
    }
}

/// The guarded clients' resolver: the addresses a request connects to are the ones checked.
struct Checked {
    guard: Guard,
}

impl Resolve for Checked {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            type BoxError = Box<dyn std::error::Error + Send + Sync>;
            let addrs = guard
                .resolve(&host)
                .await
                .map_err(|e| Box::new(e) as BoxError)?;
            Ok::<Addrs, BoxError>(Box::new(addrs.into_iter()))
        })
    }
}

/// The refusal behind a failed request, if that is why it failed (the resolver said so).
pub fn refusal_of(e: &reqwest::Error) -> Option<Refusal> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = source {
        if let Some(refusal) = error.downcast_ref::<Refusal>() {
            return Some(refusal.clone());
        }
        source = error.source();
    }
    None
}

/// What kind of address `ip` is when the server must not reach it: loopback, private,
/// link-local, shared (CGNAT), documentation, benchmarking, multicast, broadcast, reserved or
/// unspecified; `None` for a public one.
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
    let [a, b, c, _] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("an unspecified")
    } else if ip.is_loopback() {
        Some("a loopback")
    } else if ip.is_private() {
        Some("a private")
    } else if ip.is_link_local() {
        Some("a link-local")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT)") // RFC 6598
    } else if ip.is_documentation()
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b))
    // benchmarking
    {
        Some("a documentation, benchmarking or protocol")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("a broadcast, multicast or reserved")
    } else {
        None
    }
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let [first, second, ..] = ip.segments();
    if ip.is_unspecified() {
        Some("an unspecified")
    } else if ip.is_loopback() {
        Some("a loopback")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a unique-local")
    } else if first == 0x2001 && second == 0x0db8 {
        Some("a documentation, benchmarking or protocol")
    } else if first == 0x0064 && second == 0xff9b {
        Some("a NAT64") // may reach IPv4 private space
    } else if ip.is_multicast() {
        Some("a broadcast, multicast or reserved")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("192.0.2.7", "a documentation, benchmarking or protocol"),
            ("198.18.0.1", "a documentation, benchmarking or protocol"),
            ("2001:db8::1", "a documentation, benchmarking or protocol"),
            ("64:ff9b::a00:1", "a NAT64"),
        ] {
            assert_eq!(non_public_kind(ip.parse().unwrap()), Some(expected), "{ip}");
        }
        for public in [
            "93.184.215.14",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "172.32.0.1",
        ] {
            assert_eq!(non_public_kind(public.parse().unwrap()), None, "{public}");
        }
    }

    #[test]
    fn a_url_must_be_https_and_public_unless_its_host_is_listed() {
        let guard = Guard::new(&["127.0.0.1".into(), " Push.Test ".into()]);
        assert!(
            guard
                .check_url("https://fcm.googleapis.com/fcm/send/x")
                .is_ok()
        );
        let http = guard.check_url("http://fcm.googleapis.com/x").unwrap_err();
        assert!(http.contains("must be https"), "{http}");
        assert!(guard.check_url("ftp://fcm.googleapis.com/x").is_err());
        let private = guard.check_url("https://10.0.0.5/x").unwrap_err();
        assert!(private.contains("10.0.0.5"), "{private}");
        assert!(guard.check_url("https://[::1]:8443/x").is_err());
        assert!(guard.check_url("https://localhost/x").is_err());
        assert!(guard.check_url("https://u:p@fcm.googleapis.com/x").is_err());
        assert!(guard.check_url("not a url").is_err());
        // Listed hosts may be http and private.
        assert!(guard.check_url("http://127.0.0.1:9000/push/1").is_ok());
        assert!(guard.check_url("http://push.test/x").is_ok());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_a_private_address_is_not_connected_to() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://localhost:{port}/");
        let refused = Guard::default()
            .client(Duration::from_secs(2))
            .unwrap()
            .post(&url)
            .send()
            .await
            .unwrap_err();
        let mut chain = String::new();
        let mut cause: Option<&dyn std::error::Error> = Some(&refused);
        while let Some(e) = cause {
            chain.push_str(&format!("{e}; "));
            cause = e.source();
        }
        assert!(chain.contains("localhost is a loopback address"), "{chain}");
        // Listed, it is reached (the listener accepts; nobody answers, so the request times out).
        let listed = Guard::new(&["localhost".into()])
            .client(Duration::from_millis(300))
            .unwrap()
            .post(&url)
            .send()
            .await
            .unwrap_err();
        assert!(listed.is_timeout(), "{listed:?}");
    }
}
