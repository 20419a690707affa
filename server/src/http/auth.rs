//! `/api/auth/*`: register, login, logout, me.

use super::credential::cookie_name;
use super::error::{ApiJson, ApiResult};
use super::extract::{ClientAddr, User};
use crate::auth::Login;
use crate::state::SharedState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mumu_shared::api::{AuthResponse, ChangePasswordRequest, LoginRequest, RegisterRequest};

/// The `Set-Cookie` value carrying a login to the browser: HttpOnly, SameSite=Lax, and on https
/// `Secure` under a `__Host-` name that no other host can set.
fn session_cookie(state: &SharedState, token: &str, max_age_s: i64) -> HeaderValue {
    let secure = state.config.secure_cookies();
    let name = cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    let value =
        format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}");
    HeaderValue::from_str(&value).expect("tokens are header-safe")
}

fn login_response(state: &SharedState, status: StatusCode, login: Login) -> Response {
    let max_age = (login.expires_at - state.clock.now_ms()) / 1000;
    let cookie = session_cookie(state, &login.token, max_age);
    let body = AuthResponse {
        access_token: login.token,
        token_type: "bearer".into(),
        expires_at: login.expires_at,
        user: login.user,
    };
    (status, [(header::SET_COOKIE, cookie)], Json(body)).into_response()
}

/// Creates an account and logs it in. The household's first account becomes its admin; after
/// it, an invitation is needed unless the server runs with open registration.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = AuthResponse), (status = 400, body = mumu_shared::ErrorResponse),
              (status = 403, description = "`invitation_required`: registration is by invitation and none came; \
                  `invitation_invalid`: the invitation is unknown, expired, used or revoked (one answer for all)",
                  body = mumu_shared::ErrorResponse),
              (status = 409, description = "username or email taken (asked only with a usable invitation, or open registration)", body = mumu_shared::ErrorResponse),
              (status = 429, description = "too many new accounts from this address", body = mumu_shared::ErrorResponse)))]
pub async fn register(
    State(state): State<SharedState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<Response> {
    let login = state.auth.register(req, addr).await?;
    Ok(login_response(&state, StatusCode::CREATED, login))
}

/// Logs in by username (or email) and password.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = mumu_shared::ErrorResponse),
              (status = 429, description = "too many failed logins", body = mumu_shared::ErrorResponse)))]
pub async fn login(
    State(state): State<SharedState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let login = state.auth.login(req, addr).await?;
    Ok(login_response(&state, StatusCode::OK, login))
}

/// Ends this login: the token stops working, its sockets close and the cookie is cleared.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = mumu_shared::ErrorResponse)))]
pub async fn logout(State(state): State<SharedState>, User(user): User) -> ApiResult<Response> {
    state.auth.logout(&user).await?;
    Ok(logged_out(&state))
}

/// Ends every login of this account, on every device, and clears this browser's cookie.
#[utoipa::path(post, path = "/api/auth/logout-all", tag = "auth",
    responses((status = 204), (status = 401, body = mumu_shared::ErrorResponse)))]
pub async fn logout_all(State(state): State<SharedState>, User(user): User) -> ApiResult<Response> {
    state.auth.logout_everywhere(user.id()).await?;
    Ok(logged_out(&state))
}

fn logged_out(state: &SharedState) -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session_cookie(state, "", 0))],
    )
        .into_response()
}

/// Changes the password. Every other login of the account ends (other browsers and phones must
/// log in again, their sockets close); this one goes on.
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", request_body = ChangePasswordRequest,
    responses((status = 204),
              (status = 400, description = "the new password is not acceptable", body = mumu_shared::ErrorResponse),
              (status = 401, body = mumu_shared::ErrorResponse),
              (status = 403, description = "the current password is wrong", body = mumu_shared::ErrorResponse),
              (status = 429, body = mumu_shared::ErrorResponse)))]
pub async fn change_password(
    State(state): State<SharedState>,
    User(user): User,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<Response> {
    state
        .auth
        .change_password(&user, req.current_password, req.new_password, addr)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The logged-in account.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    responses((status = 200, body = mumu_shared::api::User), (status = 401, body = mumu_shared::ErrorResponse)))]
pub async fn me(User(user): User) -> Json<mumu_shared::api::User> {
    Json(user.user)
}
