//! `/api/arming`, `/api/quiet-hours` and `/api/webhook`: the household's arming mode (its admin
//! sets it), and each account's quiet hours and webhook (its own).

use super::error::{ApiJson, ApiResult};
use super::extract::User;
use crate::notify::settings;
use crate::state::SharedState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use mumu_shared::api::{Arming, QuietHours, Webhook, WebhookRequest};

/// The household's arming mode: `away` (every camera notifies), `home` (only cameras marked
/// `always`), `off` (none).
#[utoipa::path(get, path = "/api/arming", tag = "events", responses((status = 200, body = Arming)))]
pub async fn arming(
    State(state): State<SharedState>,
    User(_user): User,
) -> ApiResult<Json<Arming>> {
    Ok(Json(Arming {
        mode: settings::arming(&state.db).await?,
    }))
}

/// Arms or disarms the household (its admin).
#[utoipa::path(put, path = "/api/arming", tag = "events", request_body = Arming,
    responses((status = 200, body = Arming),
              (status = 403, description = "not the household's admin", body = mumu_shared::ErrorResponse)))]
pub async fn set_arming(
    State(state): State<SharedState>,
    User(user): User,
    ApiJson(req): ApiJson<Arming>,
) -> ApiResult<Json<Arming>> {
    let mode = settings::set_arming(&state.db, user.user.role, req.mode).await?;
    Ok(Json(Arming { mode }))
}

/// The caller's quiet hours.
#[utoipa::path(get, path = "/api/quiet-hours", tag = "events",
    responses((status = 200, body = QuietHours),
              (status = 404, description = "no quiet hours set", body = mumu_shared::ErrorResponse)))]
pub async fn quiet_hours(
    State(state): State<SharedState>,
    User(user): User,
) -> ApiResult<Json<QuietHours>> {
    settings::quiet_hours(&state.db, user.id())
        .await?
        .map(Json)
        .ok_or_else(no_quiet_hours)
}

fn no_quiet_hours() -> super::error::ApiError {
    crate::error::Error::not_found("you have no quiet hours; set them with PUT /api/quiet-hours")
        .into()
}

/// Sets the caller's quiet hours: a daily span, in their local time, in which they are not
/// notified.
#[utoipa::path(put, path = "/api/quiet-hours", tag = "events", request_body = QuietHours,
    responses((status = 200, body = QuietHours),
              (status = 400, description = "a time that is not HH:MM, an empty span, or an offset outside -720 to 840", body = mumu_shared::ErrorResponse)))]
pub async fn set_quiet_hours(
    State(state): State<SharedState>,
    User(user): User,
    ApiJson(req): ApiJson<QuietHours>,
) -> ApiResult<Json<QuietHours>> {
    settings::set_quiet_hours(&state.db, user.id(), Some(&req))
        .await?
        .map(Json)
        .ok_or_else(no_quiet_hours)
}

/// Removes the caller's quiet hours.
#[utoipa::path(delete, path = "/api/quiet-hours", tag = "events", responses((status = 204)))]
pub async fn clear_quiet_hours(
    State(state): State<SharedState>,
    User(user): User,
) -> ApiResult<StatusCode> {
    settings::set_quiet_hours(&state.db, user.id(), None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's webhook, without its secret.
#[utoipa::path(get, path = "/api/webhook", tag = "events",
    responses((status = 200, body = Webhook),
              (status = 404, description = "no webhook set", body = mumu_shared::ErrorResponse)))]
pub async fn webhook(
    State(state): State<SharedState>,
    User(user): User,
) -> ApiResult<Json<Webhook>> {
    Ok(Json(state.webhooks.get(user.id()).await?))
}

/// Sets the caller's webhook (replacing any): where their notifications are posted, signed with
/// the secret. Without a secret in the body the server makes one, shown in this answer only.
#[utoipa::path(put, path = "/api/webhook", tag = "events", request_body = WebhookRequest,
    responses((status = 200, body = Webhook),
              (status = 400, description = "not an http(s) URL, a host that is or resolves to a private, loopback or link-local address (unless allowed by MUMU_WEBHOOK_ALLOWED_HOSTS) or does not resolve, or a secret of the wrong length", body = mumu_shared::ErrorResponse)))]
pub async fn set_webhook(
    State(state): State<SharedState>,
    User(user): User,
    ApiJson(req): ApiJson<WebhookRequest>,
) -> ApiResult<Json<Webhook>> {
    Ok(Json(state.webhooks.set(user.id(), &req).await?))
}

/// Removes the caller's webhook.
#[utoipa::path(delete, path = "/api/webhook", tag = "events",
    responses((status = 204), (status = 404, description = "no webhook set", body = mumu_shared::ErrorResponse)))]
pub async fn remove_webhook(
    State(state): State<SharedState>,
    User(user): User,
) -> ApiResult<StatusCode> {
    state.webhooks.remove(user.id()).await?;
    Ok(StatusCode::NO_CONTENT)
}
