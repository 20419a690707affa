//! Who is asking: the authenticated user (cookie or bearer token), the device (its secret as a
//! bearer token), and the client's address for rate limits.

use super::error::ApiError;
use crate::auth::AuthedUser;
use crate::error::Error;
use crate::state::SharedState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The cookie that carries a browser's access token.
pub const SESSION_COOKIE: &str = "mumu_session";

/// The access token in a request: `Authorization: Bearer …` first, then the session cookie.
pub fn token_of(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    {
        return Some(bearer.trim().to_owned());
    }
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The authenticated user of a request; 401 without valid credentials.
#[derive(Debug, Clone)]
pub struct User(pub AuthedUser);

impl FromRequestParts<SharedState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let token = token_of(&parts.headers).ok_or_else(|| {
            Error::unauthorized("log in first: no session cookie or Authorization: Bearer token")
        })?;
        Ok(Self(state.auth.authenticate(&token).await?))
    }
}

/// The client's address: the peer, or with `MUMU_TRUST_PROXY` the first `X-Forwarded-For`.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<SharedState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        if state.config.trust_proxy
            && let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse().ok())
        {
            return Ok(Self(ip));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Self(peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))))
    }
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
        let secret = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                Error::unauthorized(
                    "send the device secret as Authorization: Bearer <device_secret>",
                )
            })?;
        Ok(Self(secret.to_owned()))
    }
}
