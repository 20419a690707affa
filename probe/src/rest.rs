//! Logging in over the REST API (and, for tests and benchmarks, registering first).

use mumu_shared::ErrorResponse;
use mumu_shared::api::{AuthResponse, LoginRequest, RegisterRequest};
use thiserror::Error;

/// A REST call failed.
#[derive(Debug, Error)]
pub enum RestError {
    /// The server could not be reached or its answer read.
    #[error("{call}: {source}")]
    Transport {
        /// Which call.
        call: &'static str,
        /// What failed.
        source: reqwest::Error,
    },
    /// The server refused.
    #[error("{call} refused ({status}): {message}")]
    Refused {
        /// Which call.
        call: &'static str,
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
}

/// `POST /api/auth/login`.
pub async fn login(base: &str, username: &str, password: &str) -> Result<AuthResponse, RestError> {
    post(
        "login",
        &format!("{base}/api/auth/login"),
        &LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        },
    )
    .await
}

/// `POST /api/auth/register`.
pub async fn register(
    base: &str,
    username: &str,
    email: &str,
    password: &str,
) -> Result<AuthResponse, RestError> {
    post(
        "register",
        &format!("{base}/api/auth/register"),
        &RegisterRequest {
            username: username.to_owned(),
            email: email.to_owned(),
            password: password.to_owned(),
        },
    )
    .await
}

async fn post<T: serde::de::DeserializeOwned>(
    call: &'static str,
    url: &str,
    body: &impl serde::Serialize,
) -> Result<T, RestError> {
    let response = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|source| RestError::Transport { call, source })?;
    let status = response.status();
    if status.is_success() {
        return response
            .json()
            .await
            .map_err(|source| RestError::Transport { call, source });
    }
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<ErrorResponse>(&text)
        .map(|e| e.error.to_string())
        .unwrap_or(text);
    Err(RestError::Refused {
        call,
        status: status.as_u16(),
        message,
    })
}
