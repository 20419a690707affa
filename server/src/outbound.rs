//! Requests the server makes to addresses its users gave it (a push service's endpoint): they
//! must not reach into the server's own network. A URL given by a user could name a private,
//! loopback or link-local address, directly or through DNS, and the server would then POST
//! to the database's host, the metadata service, the router. So the client made here resolves
//! names itself and keeps only public addresses, follows no redirects and uses no proxy, and
//! [`Guard::check_url`] refuses an address written in the URL. An operator lists the hosts
//! exempt from this (a push service of their own, a test's).

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Which hosts may be plain http or private addresses.
#[derive(Clone, Debug, Default)]
pub struct Guard {
    /// Lower-cased host names or addresses, as listed by the operator.
    allowed: Arc<Vec<String>>,
}

impl Guard {
    /// The guard for a list of hosts (blank entries ignored; `[::1]` and `::1` alike).
    pub fn new(allowed: &[String]) -> Self {
        let allowed = allowed
            .iter()
            .map(|h| {
                h.trim()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_ascii_lowercase()
            })
            .filter(|h| !h.is_empty())
            .collect();
        Self {
            allowed: Arc::new(allowed),
        }
    }

    /// Whether `host` (a URL's host, brackets and all) is one the operator listed.
    pub fn is_allowed(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.allowed.contains(&host)
    }

    /// `text` as a URL the server may send to: https, or http for a listed host; no user or
    /// password in it; a host that is a name, or a public address unless listed. The error
    /// says what is wrong, for the person who sent it.
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
        if !listed {
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(ip) = literal.filter(|ip| !is_public(*ip)) {
                return Err(format!(
                    "{ip} is a private, loopback or otherwise non-public address"
                ));
            }
            if host == "localhost" || host.ends_with(".localhost") {
                return Err("localhost is not a public host".into());
            }
        }
        Ok(url)
    }

    /// An HTTP client for URLs this guard passed: public addresses only (but for listed
    /// hosts), no redirects, no proxy, `timeout` for a whole request.
    pub fn client(&self, timeout: Duration) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(PublicOnly {
                guard: self.clone(),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(4)
            .build()
    }
}

/// A resolver that drops every address that is not public, unless the name is listed: a name
/// that resolves only to private addresses fails to connect.
struct PublicOnly {
    guard: Guard,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let listed = self.guard.is_allowed(name.as_str());
        Box::pin(public_addresses(name.as_str().to_owned(), listed))
    }
}

async fn public_addresses(
    host: String,
    listed: bool,
) -> Result<Addrs, Box<dyn std::error::Error + Send + Sync>> {
    let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
    let kept: Vec<SocketAddr> = found.filter(|a| listed || is_public(a.ip())).collect();
    if kept.is_empty() {
        return Err(format!("{host} resolves to no public address").into());
    }
    Ok(Box::new(kept.into_iter()))
}

/// Whether `ip` is an address on the public internet: not loopback, private, link-local,
/// shared (CGNAT), documentation, benchmarking, multicast, broadcast, reserved or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b)) // NAT64, may reach IPv4 private space
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.10",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "142.250.74.10", "2a00:1450:4001:80b::200a"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
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
        assert!(chain.contains("resolves to no public address"), "{chain}");
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
