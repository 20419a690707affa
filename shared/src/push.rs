//! Web Push: the REST bodies of `/api/push/*` and `/api/devices/{id}/notify`, and the payload a
//! browser's service worker receives (encrypted for it alone, RFC 8291). `docs/events.md`
//! ("Push notifications") tells the story.

use crate::UnixMillis;
use crate::ids::DeviceId;
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The largest notification payload, in bytes, before encryption: a push service must accept
/// 4096 bytes of encrypted body (RFC 8030 §7.2), and RFC 8291 adds 103 to what it encrypts
/// (86 of header, a 16-byte tag, a delimiter byte).
pub const MAX_PAYLOAD_BYTES: usize = 4096 - 103;

/// `GET /api/push/key`: the deployment's VAPID public key, for the web app's
/// `pushManager.subscribe({ applicationServerKey })`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PushKey {
    /// The uncompressed P-256 point (65 bytes), base64url without padding.
    pub public_key: String,
}

/// `POST /api/push/subscriptions`: the browser's `PushSubscription.toJSON()` (its other
/// members are ignored), and optionally the cameras this browser should hear of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PushSubscriptionRequest {
    /// The push service's URL for this browser: https (http only for the hosts the server's
    /// `MUMU_PUSH_ALLOWED_HOSTS` lists).
    pub endpoint: String,
    /// The browser's keys for encrypting to it.
    pub keys: PushKeys,
    /// The cameras to notify this browser of, replacing the ones it had; absent: unchanged
    /// (none for a new subscription). `PUT /api/devices/{id}/notify` changes one at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<DeviceId>>,
}

/// A subscription's keys, as the browser gives them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PushKeys {
    /// The browser's P-256 public key, uncompressed (65 bytes), base64url.
    pub p256dh: String,
    /// The browser's authentication secret (16 bytes), base64url.
    pub auth: String,
}

/// A subscription as the login that made it sees it (its keys are not shown again).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PushSubscription {
    /// Its id, for `DELETE /api/push/subscriptions/{id}`.
    pub id: String,
    /// The push service's URL it was made with.
    pub endpoint: String,
    /// The cameras it is notified of.
    pub devices: Vec<DeviceId>,
    /// When it was made.
    pub created_at: UnixMillis,
}

/// `PUT` / `DELETE /api/devices/{id}/notify`: whether this login's browser is now notified of
/// the camera.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NotifyMe {
    /// The camera.
    pub device_id: DeviceId,
    /// Whether this login is notified of it now.
    pub notify: bool,
    /// How many of this login's subscriptions (normally one: this browser's) changed or hold it.
    pub subscriptions: u32,
}

/// What a notification carries to the service worker: which camera, when, and where to go
/// when it is opened. No picture: the server never has one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PushNotification {
    /// The camera.
    pub device_id: DeviceId,
    /// Its name when the event began.
    pub device_name: String,
    /// When the event began.
    pub start: UnixMillis,
    /// The page that shows the event, on this site (`/watch?d=<camera>&at=<start>`).
    pub url: String,
}

impl PushNotification {
    /// The notification of an event on `device_id` that began at `start`.
    pub fn event(device_id: DeviceId, device_name: impl Into<String>, start: UnixMillis) -> Self {
        let url = format!("/watch?d={device_id}&at={start}");
        Self {
            device_id,
            device_name: device_name.into(),
            start,
            url,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_events_notification_opens_the_camera_at_the_events_start() {
        let n = PushNotification::event(DeviceId::from("d-1"), "Porch", 1_700_000_000_000);
        assert_eq!(n.url, "/watch?d=d-1&at=1700000000000");
        assert!(serde_json::to_vec(&n).unwrap().len() < MAX_PAYLOAD_BYTES);
    }
}
