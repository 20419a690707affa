//! `/api/events`, `/api/devices/{id}/events` and `/api/devices/{id}/notifications`: the motion
//! events people may see, and how a camera notifies.

use super::error::{ApiError, ApiJson, ApiResult};
use super::extract::User;
use crate::error::Error;
use crate::events::page_size;
use crate::notify::settings;
use crate::state::SharedState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use mumu_shared::api::{CameraNotifications, Event, UpdateCameraNotifications};
use mumu_shared::{DeviceId, UnixMillis};
use serde::Deserialize;

/// Which events a list gives.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only events that started strictly before this time (Unix ms): the `start` of the last
    /// event of the previous page. Absent: the newest.
    pub before: Option<UnixMillis>,
    /// How many, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

fn query(
    query: Result<Query<EventQuery>, QueryRejection>,
) -> Result<(Option<UnixMillis>, u32), ApiError> {
    let Query(query) = query.map_err(|e| Error::validation(e.body_text()))?;
    Ok((query.before, page_size(query.limit)?))
}

/// The events of every camera the user may see (their own and those shared with them),
/// newest first.
#[utoipa::path(get, path = "/api/events", tag = "events", params(EventQuery),
    responses((status = 200, body = Vec<Event>),
              (status = 400, description = "`before` or `limit` is not a number, or `limit` is outside 1 to 200", body = mumu_shared::ErrorResponse)))]
pub async fn list(
    State(state): State<SharedState>,
    User(user): User,
    params: Result<Query<EventQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<Event>>> {
    let (before, limit) = query(params)?;
    Ok(Json(state.events.of_user(user.id(), before, limit).await?))
}

/// One camera's events, newest first (its owner and those it is shared with).
#[utoipa::path(get, path = "/api/devices/{id}/events", tag = "events",
    params(("id" = String, Path), EventQuery),
    responses((status = 200, body = Vec<Event>),
              (status = 400, description = "`before` or `limit` is not a number, or `limit` is outside 1 to 200", body = mumu_shared::ErrorResponse),
              (status = 404, description = "no such device among the caller's or those shared with them", body = mumu_shared::ErrorResponse)))]
pub async fn of_device(
    State(state): State<SharedState>,
    User(user): User,
    Path(id): Path<String>,
    params: Result<Query<EventQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<Event>>> {
    let device_id = DeviceId(id);
    state.devices.role(user.id(), &device_id).await?;
    let (before, limit) = query(params)?;
    Ok(Json(
        state.events.of_device(&device_id, before, limit).await?,
    ))
}

/// How a camera notifies: its cooldown and whether it notifies while the household is armed
/// `home` (anyone who may see it).
#[utoipa::path(get, path = "/api/devices/{id}/notifications", tag = "events", params(("id" = String, Path)),
    responses((status = 200, body = CameraNotifications),
              (status = 404, description = "no such device among the caller's or those shared with them", body = mumu_shared::ErrorResponse)))]
pub async fn camera(
    State(state): State<SharedState>,
    User(user): User,
    Path(id): Path<String>,
) -> ApiResult<Json<CameraNotifications>> {
    let device_id = DeviceId(id);
    state.devices.role(user.id(), &device_id).await?;
    Ok(Json(settings::camera(&state.db, &device_id).await?))
}

/// Changes how a camera notifies (its owner and its admins).
#[utoipa::path(patch, path = "/api/devices/{id}/notifications", tag = "events", params(("id" = String, Path)),
    request_body = UpdateCameraNotifications,
    responses((status = 200, body = CameraNotifications),
              (status = 400, description = "nothing to change, or a cooldown outside 0 to 86,400 s", body = mumu_shared::ErrorResponse),
              (status = 403, description = "neither the owner nor an admin of the device", body = mumu_shared::ErrorResponse),
              (status = 404, description = "no such device among the caller's or those shared with them", body = mumu_shared::ErrorResponse)))]
pub async fn update_camera(
    State(state): State<SharedState>,
    User(user): User,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateCameraNotifications>,
) -> ApiResult<Json<CameraNotifications>> {
    let device_id = DeviceId(id);
    state.devices.require_manager(user.id(), &device_id).await?;
    Ok(Json(
        settings::update_camera(&state.db, &device_id, &req).await?,
    ))
}
