//! `/api/push/*` and `/api/devices/{id}/notify`: the deployment's VAPID key, a login's browser
//! subscriptions, and "Notify me" per camera.

use super::error::{ApiJson, ApiResult};
use super::extract::User;
use crate::auth::AuthedUser;
use crate::state::SharedState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mumu_shared::DeviceId;
use mumu_shared::push::{NotifyMe, PushKey, PushSubscription, PushSubscriptionRequest};

/// The deployment's VAPID public key, for `pushManager.subscribe({ applicationServerKey })`.
#[utoipa::path(get, path = "/api/push/key", tag = "push",
    responses((status = 200, body = PushKey),
              (status = 503, description = "`push_disabled`: the operator has not configured VAPID keys", body = mumu_shared::ErrorResponse)))]
pub async fn key(State(state): State<SharedState>, _user: User) -> ApiResult<Json<PushKey>> {
    Ok(Json(state.push.public_key()?))
}

/// Records this browser's push subscription for this login (or updates the one with the same
/// endpoint), with the cameras to notify it of when `devices` is given.
#[utoipa::path(post, path = "/api/push/subscriptions", tag = "push", request_body = PushSubscriptionRequest,
    responses((status = 201, description = "a new subscription", body = PushSubscription),
              (status = 200, description = "this login's subscription with that endpoint, updated", body = PushSubscription),
              (status = 400, description = "an endpoint that is not https (or a listed host), keys that are not a P-256 point and 16 bytes", body = mumu_shared::ErrorResponse),
              (status = 403, description = "a camera whose owner turned notifications off for the caller's share", body = mumu_shared::ErrorResponse),
              (status = 404, description = "a camera the caller may not watch", body = mumu_shared::ErrorResponse),
              (status = 409, description = "too many subscriptions for this login or account", body = mumu_shared::ErrorResponse),
              (status = 503, description = "`push_disabled`: the operator has not configured VAPID keys", body = mumu_shared::ErrorResponse)))]
pub async fn subscribe(
    State(state): State<SharedState>,
    User(user): User,
    ApiJson(req): ApiJson<PushSubscriptionRequest>,
) -> ApiResult<(StatusCode, Json<PushSubscription>)> {
    let done = state
        .push
        .subscribe(user.id(), &user.session_id, &req)
        .await?;
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(done.subscription)))
}

/// This login's push subscriptions, each with its cameras.
#[utoipa::path(get, path = "/api/push/subscriptions", tag = "push",
    responses((status = 200, body = Vec<PushSubscription>)))]
pub async fn list(
    State(state): State<SharedState>,
    User(user): User,
) -> ApiResult<Json<Vec<PushSubscription>>> {
    Ok(Json(state.push.subscriptions(&user.session_id).await?))
}

/// Deletes one of this login's push subscriptions.
#[utoipa::path(delete, path = "/api/push/subscriptions/{id}", tag = "push", params(("id" = String, Path)),
    responses((status = 204),
              (status = 404, description = "no such subscription of this login", body = mumu_shared::ErrorResponse)))]
pub async fn unsubscribe(
    State(state): State<SharedState>,
    User(user): User,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.push.unsubscribe(&user.session_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// "Notify me": this login's browser hears of the camera's events.
#[utoipa::path(put, path = "/api/devices/{id}/notify", tag = "push", params(("id" = String, Path)),
    responses((status = 200, body = NotifyMe),
              (status = 403, description = "the camera's owner turned notifications off for the caller's share", body = mumu_shared::ErrorResponse),
              (status = 404, description = "a camera the caller may not watch", body = mumu_shared::ErrorResponse),
              (status = 409, description = "this login has no push subscription yet", body = mumu_shared::ErrorResponse),
              (status = 503, description = "`push_disabled`: the operator has not configured VAPID keys", body = mumu_shared::ErrorResponse)))]
pub async fn notify_on(
    State(state): State<SharedState>,
    User(user): User,
    Path(id): Path<String>,
) -> ApiResult<Json<NotifyMe>> {
    set_notify(&state, &user, id, true).await
}

/// "Notify me" off: this login's browser no longer hears of the camera.
#[utoipa::path(delete, path = "/api/devices/{id}/notify", tag = "push", params(("id" = String, Path)),
    responses((status = 200, body = NotifyMe),
              (status = 404, description = "a camera the caller may not watch", body = mumu_shared::ErrorResponse)))]
pub async fn notify_off(
    State(state): State<SharedState>,
    User(user): User,
    Path(id): Path<String>,
) -> ApiResult<Json<NotifyMe>> {
    set_notify(&state, &user, id, false).await
}

/// "Notify me" on or off for this login's browser.
async fn set_notify(
    state: &SharedState,
    user: &AuthedUser,
    id: String,
    on: bool,
) -> ApiResult<Json<NotifyMe>> {
    let notify = state
        .push
        .set_notify(user.id(), &user.session_id, &DeviceId(id), on)
        .await?;
    Ok(Json(notify))
}
