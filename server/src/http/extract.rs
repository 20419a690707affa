//! Who is asking: the authenticated user (its credential resolved by [`super::credential`]),
//! the device (its secret as a bearer token), and the client's address for rate limits.

use super::credential::{self, bearer};
use super::error::ApiError;
use crate::auth::AuthedUser;
use crate::error::Error;
use crate::state::SharedState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The authenticated user of a request; 401 without valid credentials.
#[derive(Debug, Clone)]
pub struct User(pub AuthedUser);

impl FromRequestParts<SharedState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let credential = credential::of(&parts.extensions)?.ok_or_else(|| {
            Error::unauthorized("log in first: no session cookie or Authorization: Bearer token")
        })?;
        Ok(Self(state.auth.authenticate(credential.token()).await?))
    }
}

/// The client's address: the peer, or behind `MUMU_TRUST_PROXY` = N proxies the address the
/// outermost trusted proxy saw.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<SharedState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(Self(client_addr(
            &parts.headers,
            peer,
            state.config.http.trust_proxy,
        )))
    }
}

/// The client's address for a request from `peer`, behind `hops` trusted proxies. Each proxy
/// appends the address it saw to `X-Forwarded-For`, so the entries a client wrote itself are on
/// the left and the trustworthy ones on the right: the `hops`-th from the right is the address
/// that reached the outermost trusted proxy. A chain shorter than that did not come through the
/// proxies, and counts as the peer.
pub fn client_addr(headers: &HeaderMap, peer: IpAddr, hops: u8) -> IpAddr {
    if hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    entries
        .len()
        .checked_sub(usize::from(hops))
        .and_then(|i| entries[i].parse().ok())
        .unwrap_or(peer)
}

/// A device authenticating with its secret: `Authorization: Bearer <device_secret>`.
#[derive(Debug, Clone)]
pub struct DeviceSecret(pub String);

impl FromRequestParts<SharedState> for DeviceSecret {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let secret = bearer(&parts.headers).ok_or_else(|| {
            Error::unauthorized("send the device secret as Authorization: Bearer <device_secret>")
        })?;
        Ok(Self(secret.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn forwarded(values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append("x-forwarded-for", HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn the_address_the_trusted_proxy_saw_is_taken_not_what_the_client_wrote() {
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        // The client wrote 1.2.3.4; the proxy appended the address it really saw.
        let h = forwarded(&["1.2.3.4, 203.0.113.7"]);
        assert_eq!(client_addr(&h, peer, 0), peer);
        assert_eq!(
            client_addr(&h, peer, 1),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_addr(&h, peer, 2),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_addr(&h, peer, 3), peer, "shorter than the chain");
        let split = forwarded(&["1.2.3.4", "203.0.113.7"]);
        assert_eq!(
            client_addr(&split, peer, 1),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_addr(&forwarded(&["junk"]), peer, 1), peer);
    }
}
