//! Logging in over the REST API (and, for tests and benchmarks, registering first: the
//! server's first account, or later ones with an invitation the first account made).

use mumu_shared::api::{
    AuthResponse, InvitationRequest, LoginRequest, NewInvitation, RegisterRequest,
};

/// A REST call failed: unreachable, refused (with the server's code and message), or answered
/// with a body the probe cannot read.
pub type RestError = mumu_shared::api::RestError<reqwest::Error>;

/// `POST /api/auth/login`.
pub async fn login(base: &str, username: &str, password: &str) -> Result<AuthResponse, RestError> {
    post(
        "login",
        &format!("{base}/api/auth/login"),
        None,
        &LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        },
    )
    .await
}

/// `POST /api/auth/register` without an invitation: the server's first account (or any, with
/// open registration).
pub async fn register(
    base: &str,
    username: &str,
    email: &str,
    password: &str,
) -> Result<AuthResponse, RestError> {
    register_invited(base, username, email, password, None).await
}

/// `POST /api/auth/register` with an invitation's code.
pub async fn register_invited(
    base: &str,
    username: &str,
    email: &str,
    password: &str,
    invitation: Option<&str>,
) -> Result<AuthResponse, RestError> {
    post(
        "register",
        &format!("{base}/api/auth/register"),
        None,
        &RegisterRequest {
            username: username.to_owned(),
            email: email.to_owned(),
            password: password.to_owned(),
            invitation: invitation.map(str::to_owned),
        },
    )
    .await
}

/// `POST /api/invitations`, as the household's admin (`token`).
pub async fn invite(base: &str, token: &str) -> Result<NewInvitation, RestError> {
    post(
        "invitation",
        &format!("{base}/api/invitations"),
        Some(token),
        &InvitationRequest::default(),
    )
    .await
}

async fn post<T: serde::de::DeserializeOwned>(
    call: &'static str,
    url: &str,
    token: Option<&str>,
    body: &impl serde::Serialize,
) -> Result<T, RestError> {
    let mut request = reqwest::Client::new().post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|source| RestError::Transport { call, source })?;
    let status = response.status().as_u16();
    RestError::answer(call, status, response.bytes().await)
}
