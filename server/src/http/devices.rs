//! `/api/devices/*` and `/api/pairing/*`: enrolment, pairing, and the owner's device list.

use super::error::{ApiJson, ApiResult};
use super::extract::{ClientAddr, DeviceSecret, User};
use crate::state::SharedState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mumu_shared::DeviceId;
use mumu_shared::api::{
    Device, EnrollRequest, EnrollResponse, PairRequest, PairingCode, Share, ShareRequest,
    UpdateDeviceRequest, UpdateShareRequest,
};

/// A new agent asks for an identity: id, secret (shown once) and a pairing code.
#[utoipa::path(post, path = "/api/devices/enroll", tag = "devices", request_body = EnrollRequest,
    responses((status = 201, body = EnrollResponse), (status = 429, body = mumu_shared::ErrorResponse)))]
pub async fn enroll(
    State(state): State<SharedState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<EnrollRequest>,
) -> ApiResult<(StatusCode, Json<EnrollResponse>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.devices.enroll(req, addr).await?),
    ))
}

/// An unpaired device asks for a fresh pairing code (its secret as bearer token).
#[utoipa::path(post, path = "/api/pairing/generate", tag = "devices",
    responses((status = 201, body = PairingCode), (status = 401, body = mumu_shared::ErrorResponse),
              (status = 409, description = "already paired", body = mumu_shared::ErrorResponse),
              (status = 429, description = "too many codes asked for from this address", body = mumu_shared::ErrorResponse)))]
pub async fn new_code(
    State(state): State<SharedState>,
    ClientAddr(addr): ClientAddr,
    DeviceSecret(secret): DeviceSecret,
) -> ApiResult<(StatusCode, Json<PairingCode>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.devices.new_code(&secret, addr).await?),
    ))
}

/// Claims a device by the code it shows.
#[utoipa::path(post, path = "/api/devices/pair", tag = "devices", request_body = PairRequest,
    responses((status = 201, body = Device),
              (status = 400, description = "no such code", body = mumu_shared::ErrorResponse),
              (status = 410, description = "code expired or used", body = mumu_shared::ErrorResponse),
              (status = 429, body = mumu_shared::ErrorResponse)))]
pub async fn pair(
    State(state): State<SharedState>,
    User(user): User,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<PairRequest>,
) -> ApiResult<(StatusCode, Json<Device>)> {
    let device = state
        .devices
        .pair(user.id(), &user.user.username, req, addr)
        .await?;
    Ok((StatusCode::CREATED, Json(device)))
}

/// Every device the user may watch, with its presence.
#[utoipa::path(get, path = "/api/devices", tag = "devices", responses((status = 200, body = Vec<Device>)))]
pub async fn list(
    State(state): State<SharedState>,
    User(user): User,
) -> ApiResult<Json<Vec<Device>>> {
    Ok(Json(state.devices.list(user.id()).await?))
}

/// One device with its presence and status.
#[utoipa::path(get, path = "/api/devices/{id}/status", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = Device), (status = 403, body = mumu_shared::ErrorResponse), (status = 404, body = mumu_shared::ErrorResponse)))]
pub async fn status(
    State(state): State<SharedState>,
    User(user): User,
    Path(id): Path<String>,
) -> ApiResult<Json<Device>> {
    Ok(Json(state.devices.get(user.id(), &DeviceId(id)).await?))
}

/// Renames a device (owner only).
#[utoipa::path(patch, path = "/api/devices/{id}", tag = "devices", params(("id" = String, Path)), request_body = UpdateDeviceRequest,
    responses((status = 200, body = Device), (status = 403, body = mumu_shared::ErrorResponse), (status = 404, body = mumu_shared::ErrorResponse)))]
pub async fn rename(
    State(state): State<SharedState>,
    User(user): User,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateDeviceRequest>,
) -> ApiResult<Json<Device>> {
    Ok(Json(
        state
            .devices
            .rename(user.id(), &DeviceId(id), &req.name)
            .await?,
    ))
}

/// Removes a device (owner only): its secret stops working and its socket is closed.
#[utoipa::path(delete, path = "/api/devices/{id}", tag = "devices", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = mumu_shared::ErrorResponse), (status = 404, body = mumu_shared::ErrorResponse)))]
pub async fn remove(
    State(state): State<SharedState>,
    User(user): User,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.devices.remove(user.id(), &DeviceId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The people a device is shared with, with their roles and permissions (the owner and the
/// device's admins).
#[utoipa::path(get, path = "/api/devices/{id}/shares", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = Vec<Share>),
              (status = 403, description = "neither the owner nor an admin of the device", body = mumu_shared::ErrorResponse),
              (status = 404, description = "no such device among the caller's", body = mumu_shared::ErrorResponse)))]
pub async fn shares(
    State(state): State<SharedState>,
    User(user): User,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Share>>> {
    Ok(Json(state.devices.shares(user.id(), &DeviceId(id)).await?))
}

/// Lets another person (by username or account email) watch a device, as a viewer or an admin
/// of it, with the permissions given (the owner and the device's admins).
#[utoipa::path(post, path = "/api/devices/{id}/shares", tag = "devices", params(("id" = String, Path)), request_body = ShareRequest,
    responses((status = 201, body = Share),
              (status = 400, description = "the owner named, or a name that cannot be one", body = mumu_shared::ErrorResponse),
              (status = 403, description = "neither the owner nor an admin of the device", body = mumu_shared::ErrorResponse),
              (status = 404, description = "no such device among the caller's, or nobody with that username or email", body = mumu_shared::ErrorResponse),
              (status = 409, description = "already shared with them", body = mumu_shared::ErrorResponse)))]
pub async fn share(
    State(state): State<SharedState>,
    User(user): User,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ShareRequest>,
) -> ApiResult<(StatusCode, Json<Share>)> {
    let share = state.devices.share(user.id(), &DeviceId(id), &req).await?;
    Ok((StatusCode::CREATED, Json(share)))
}

/// Changes a share's role or permissions (the owner and the device's admins): the person's
/// open sessions on it hear the change at once.
#[utoipa::path(patch, path = "/api/devices/{id}/shares/{username}", tag = "devices",
    params(("id" = String, Path), ("username" = String, Path, description = "username or account email")), request_body = UpdateShareRequest,
    responses((status = 200, body = Share),
              (status = 400, description = "the owner named, or nothing to change", body = mumu_shared::ErrorResponse),
              (status = 403, description = "neither the owner nor an admin of the device", body = mumu_shared::ErrorResponse),
              (status = 404, description = "no such device, user or share", body = mumu_shared::ErrorResponse)))]
pub async fn update_share(
    State(state): State<SharedState>,
    User(user): User,
    Path((id, username)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateShareRequest>,
) -> ApiResult<Json<Share>> {
    Ok(Json(
        state
            .devices
            .update_share(user.id(), &DeviceId(id), &username, &req)
            .await?,
    ))
}

/// Stops sharing a device with someone (the owner and the device's admins; never the owner):
/// their sessions on it, live and playback, end at once.
#[utoipa::path(delete, path = "/api/devices/{id}/shares/{username}", tag = "devices",
    params(("id" = String, Path), ("username" = String, Path, description = "username or account email")),
    responses((status = 204),
              (status = 403, description = "neither the owner nor an admin of the device", body = mumu_shared::ErrorResponse),
              (status = 404, description = "no such device, user or share (the owner's place is no share)", body = mumu_shared::ErrorResponse)))]
pub async fn unshare(
    State(state): State<SharedState>,
    User(user): User,
    Path((id, username)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .devices
        .unshare(user.id(), &DeviceId(id), &username)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
