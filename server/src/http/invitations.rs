//! `/api/invitations`: the household's admin invites people to make an account.

use super::error::{ApiJson, ApiResult};
use super::extract::User;
use crate::state::SharedState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use mumu_shared::api::{Invitation, InvitationRequest, NewInvitation};

/// Where people reach this server, for the invitation's link: `MUMU_PUBLIC_URL`, else the host
/// the admin's own request named.
fn public_url(state: &SharedState, headers: &HeaderMap) -> String {
    if let Some(url) = state.config.public_url.as_deref().filter(|u| !u.is_empty()) {
        return url.trim_end_matches('/').to_owned();
    }
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.len() <= 255 && h.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(String::new, |host| format!("http://{host}"))
}

/// Makes an invitation (admins only): a single-use code, shown this once, and a link to the
/// registration page with it filled in.
#[utoipa::path(post, path = "/api/invitations", tag = "auth", request_body = InvitationRequest,
    responses((status = 201, body = NewInvitation),
              (status = 400, description = "expires_in_secs outside 300 to 2,592,000", body = mumu_shared::ErrorResponse),
              (status = 403, description = "not the household's admin", body = mumu_shared::ErrorResponse),
              (status = 409, description = "too many invitations waiting to be used", body = mumu_shared::ErrorResponse)))]
pub async fn create(
    State(state): State<SharedState>,
    User(user): User,
    headers: HeaderMap,
    ApiJson(req): ApiJson<InvitationRequest>,
) -> ApiResult<(StatusCode, Json<NewInvitation>)> {
    let url = public_url(&state, &headers);
    let invitation = state.auth.invite(&user, &req, &url).await?;
    Ok((StatusCode::CREATED, Json(invitation)))
}

/// Every invitation, newest first, with whether and by whom it was used (admins only).
#[utoipa::path(get, path = "/api/invitations", tag = "auth",
    responses((status = 200, body = Vec<Invitation>),
              (status = 403, description = "not the household's admin", body = mumu_shared::ErrorResponse)))]
pub async fn list(
    State(state): State<SharedState>,
    User(user): User,
) -> ApiResult<Json<Vec<Invitation>>> {
    Ok(Json(state.auth.invitations(&user).await?))
}

/// Revokes an invitation (admins only): its code stops working at once.
#[utoipa::path(delete, path = "/api/invitations/{id}", tag = "auth", params(("id" = String, Path)),
    responses((status = 204),
              (status = 403, description = "not the household's admin", body = mumu_shared::ErrorResponse),
              (status = 404, description = "no such invitation", body = mumu_shared::ErrorResponse)))]
pub async fn revoke(
    State(state): State<SharedState>,
    User(user): User,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.auth.revoke_invitation(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
