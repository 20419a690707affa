//! Logging in over the REST API (and, for tests and benchmarks, registering first).

use mumu_shared::api::{AuthResponse, LoginRequest, RegisterRequest};

/// A REST call failed: unreachable, refused (with the server's code and message), or answered
/// with a body the probe cannot read.
pub type RestError = mumu_shared::api::RestError<reqwest::Error>;

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
    let status = response.status().as_u16();
    RestError::answer(call, status, response.bytes().await)
}
