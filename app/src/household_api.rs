//! The household's REST calls: who a camera is shared with and what they may do, invitations
//! to make an account, and how the household is notified (arming, quiet hours, webhook). Each
//! refusal comes back as the server worded it ([`ApiError`]).

use crate::api::{ApiError, NO_BODY, call};
use mumu_shared::ErrorCode;
use mumu_shared::api::{
    Arming, CameraNotifications, Device, Invitation, InvitationRequest, NewInvitation, QuietHours,
    Share, ShareRequest, UpdateCameraNotifications, UpdateShareRequest, Webhook, WebhookRequest,
};

/// A path segment as the address needs it: a username or an email (`@`, `+`, `.`) sent as it
/// is typed, whatever it holds.
fn segment(text: &str) -> String {
    String::from(js_sys::encode_uri_component(text))
}

fn shares_path(device_id: &str) -> String {
    format!("/api/devices/{}/shares", segment(device_id))
}

/// Every device the user may watch, with their role on it and whose it is.
pub async fn devices() -> Result<Vec<Device>, ApiError> {
    call("GET", "/api/devices", NO_BODY).await
}

/// The people `device_id` is shared with (its owner and admins only).
pub async fn shares(device_id: &str) -> Result<Vec<Share>, ApiError> {
    call("GET", &shares_path(device_id), NO_BODY).await
}

/// Shares `device_id` with the person `req` names (username or account email).
pub async fn share(device_id: &str, req: &ShareRequest) -> Result<Share, ApiError> {
    call("POST", &shares_path(device_id), Some(req)).await
}

/// Changes what `username` may do with `device_id`.
pub async fn update_share(
    device_id: &str,
    username: &str,
    req: &UpdateShareRequest,
) -> Result<Share, ApiError> {
    let path = format!("{}/{}", shares_path(device_id), segment(username));
    call("PATCH", &path, Some(req)).await
}

/// Stops sharing `device_id` with `username`: their watch ends at once.
pub async fn unshare(device_id: &str, username: &str) -> Result<(), ApiError> {
    let path = format!("{}/{}", shares_path(device_id), segment(username));
    call("DELETE", &path, NO_BODY).await
}

/// How `device_id` notifies: its cooldown, and whether it notifies while armed `home`.
pub async fn camera_notifications(device_id: &str) -> Result<CameraNotifications, ApiError> {
    let path = format!("/api/devices/{}/notifications", segment(device_id));
    call("GET", &path, NO_BODY).await
}

/// Changes how `device_id` notifies (its owner and admins).
pub async fn update_camera_notifications(
    device_id: &str,
    req: &UpdateCameraNotifications,
) -> Result<CameraNotifications, ApiError> {
    let path = format!("/api/devices/{}/notifications", segment(device_id));
    call("PATCH", &path, Some(req)).await
}

/// Every invitation, newest first (the household's admin only).
pub async fn invitations() -> Result<Vec<Invitation>, ApiError> {
    call("GET", "/api/invitations", NO_BODY).await
}

/// A new invitation: its link is shown this once.
pub async fn invite(req: &InvitationRequest) -> Result<NewInvitation, ApiError> {
    call("POST", "/api/invitations", Some(req)).await
}

/// Revokes an invitation: its code stops working.
pub async fn revoke_invitation(id: &str) -> Result<(), ApiError> {
    call(
        "DELETE",
        &format!("/api/invitations/{}", segment(id)),
        NO_BODY,
    )
    .await
}

/// The household's arming mode.
pub async fn arming() -> Result<Arming, ApiError> {
    call("GET", "/api/arming", NO_BODY).await
}

/// Sets the household's arming mode (its admin only).
pub async fn set_arming(arming: &Arming) -> Result<Arming, ApiError> {
    call("PUT", "/api/arming", Some(arming)).await
}

/// `Ok(None)` for the server's 404: nothing set.
fn unless_unset<T>(result: Result<T, ApiError>) -> Result<Option<T>, ApiError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.status == 404 && e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// This account's quiet hours, if set.
pub async fn quiet_hours() -> Result<Option<QuietHours>, ApiError> {
    unless_unset(call("GET", "/api/quiet-hours", NO_BODY).await)
}

/// Sets this account's quiet hours.
pub async fn set_quiet_hours(hours: &QuietHours) -> Result<QuietHours, ApiError> {
    call("PUT", "/api/quiet-hours", Some(hours)).await
}

/// Clears this account's quiet hours.
pub async fn clear_quiet_hours() -> Result<(), ApiError> {
    call("DELETE", "/api/quiet-hours", NO_BODY).await
}

/// This account's webhook, if set (never its secret).
pub async fn webhook() -> Result<Option<Webhook>, ApiError> {
    unless_unset(call("GET", "/api/webhook", NO_BODY).await)
}

/// Sets this account's webhook; the answer carries its secret, this once.
pub async fn set_webhook(req: &WebhookRequest) -> Result<Webhook, ApiError> {
    call("PUT", "/api/webhook", Some(req)).await
}

/// Removes this account's webhook.
pub async fn remove_webhook() -> Result<(), ApiError> {
    call("DELETE", "/api/webhook", NO_BODY).await
}
