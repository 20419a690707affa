//! Request and response bodies of the REST API (`/api/...`). `docs/api.md` lists the calls.

use crate::UnixMillis;
use crate::ids::{DeviceId, UserId};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `POST /api/auth/register`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RegisterRequest {
    /// 3–32 characters: letters, digits, `_`, `.`, `-`; starts with a letter or digit.
    pub username: String,
    /// An email address.
    pub email: String,
    /// 8–128 characters.
    pub password: String,
    /// The code of an invitation an admin made (`POST /api/invitations`). Needed once the
    /// household has its first account, unless the server runs with open registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation: Option<String>,
}

/// `POST /api/auth/login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LoginRequest {
    /// The username (or the email address) given at registration.
    pub username: String,
    /// The password.
    pub password: String,
}

/// `POST /api/auth/password`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChangePasswordRequest {
    /// The password in use now.
    pub current_password: String,
    /// The new one (8–128 characters).
    pub new_password: String,
}

/// A person's account, as shown to its owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct User {
    /// The account's id.
    pub id: UserId,
    /// The username.
    pub username: String,
    /// The email address.
    pub email: String,
    /// When the account was created.
    pub created_at: UnixMillis,
    /// The account's place in the household.
    #[serde(default)]
    pub role: HouseholdRole,
}

/// An account's place in the household the server belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HouseholdRole {
    /// The first account: invites people (`/api/invitations`).
    Admin,
    /// Joined through an invitation (or open registration).
    #[default]
    Member,
}

/// `POST /api/invitations`: an admin invites someone to make an account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InvitationRequest {
    /// How long the invitation lasts, in seconds: 300 to 2,592,000 (30 days); 7 days when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
}

/// A new invitation. The code is shown this once; the server keeps only its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NewInvitation {
    /// The invitation's id (to list or revoke it).
    pub id: String,
    /// The single-use code, for `invitation` in `POST /api/auth/register`.
    pub code: String,
    /// The registration page with the code filled in, to send to the person invited.
    pub link: String,
    /// When it stops working.
    pub expires_at: UnixMillis,
}

/// An invitation as admins list it (never its code).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Invitation {
    /// Its id.
    pub id: String,
    /// The username of the admin who made it.
    pub created_by: String,
    /// When it was made.
    pub created_at: UnixMillis,
    /// When it stops (or stopped) working.
    pub expires_at: UnixMillis,
    /// When it was used, if it was.
    #[serde(default)]
    pub used_at: Option<UnixMillis>,
    /// The username of the account made with it, while that account exists.
    #[serde(default)]
    pub used_by: Option<String>,
}

/// The answer to register and login: an access token (also set as an HttpOnly cookie).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuthResponse {
    /// A signed token for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// When the token stops working.
    pub expires_at: UnixMillis,
    /// The account.
    pub user: User,
}

/// `POST /api/devices/enroll`: a new agent asks for an identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EnrollRequest {
    /// A name the device suggests for itself (its hostname, say); the owner may change it.
    #[serde(default)]
    pub name: Option<String>,
    /// The agent's version.
    pub agent_version: String,
}

/// The answer to enrolment. The secret is shown this once; the server keeps only its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EnrollResponse {
    /// The device's id.
    pub device_id: DeviceId,
    /// The device's secret: its proof of identity on every connection.
    pub device_secret: String,
    /// A one-time code the owner types into the dashboard.
    pub pairing_code: String,
    /// When the code stops working.
    pub expires_at: UnixMillis,
}

/// `POST /api/pairing/generate`: a fresh code for an unpaired device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PairingCode {
    /// The one-time code.
    pub pairing_code: String,
    /// When it stops working.
    pub expires_at: UnixMillis,
}

/// `POST /api/devices/pair`: claim a device by its code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PairRequest {
    /// The code the device shows (case, spaces and dashes do not matter).
    pub pairing_code: String,
    /// A name for the device; its suggested name is kept when absent.
    #[serde(default)]
    pub name: Option<String>,
}

/// `PATCH /api/devices/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UpdateDeviceRequest {
    /// The new name: 1–64 characters.
    pub name: String,
}

/// `POST /api/devices/{id}/shares`: let another person watch a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ShareRequest {
    /// The person who may watch: their username, or their account's email address.
    pub username: String,
    /// What they may do with it (watch only when absent).
    #[serde(default)]
    pub role: ShareRole,
    /// Whether they may also see the camera's recordings (off when absent).
    #[serde(default)]
    pub recordings: bool,
    /// Whether they may be notified of the camera's events (on when absent).
    #[serde(default = "yes")]
    pub notifications: bool,
    /// Whether they may talk through the camera's speaker (off when absent).
    #[serde(default)]
    pub talk: bool,
}

fn yes() -> bool {
    true
}

/// What a person a device is shared with may do with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ShareRole {
    /// Watch (and what the permissions allow).
    #[default]
    Viewer,
    /// Watch, and manage who else may: share, change and revoke shares (never the owner's).
    Admin,
}

/// `PATCH /api/devices/{id}/shares/{username}`: what a person the device is shared with may
/// do beyond watching live.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UpdateShareRequest {
    /// Whether they may see the camera's recordings (list, play, export). Sessions they have
    /// open hear of the change at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recordings: Option<bool>,
    /// Whether they may be notified of the camera's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<bool>,
    /// Whether they may talk through the camera's speaker. Sessions they have open hear of
    /// the change at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talk: Option<bool>,
    /// Their role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<ShareRole>,
}

/// A person a device is shared with (watch only; recordings when the owner allows it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Share {
    /// Their username.
    pub username: String,
    /// When the owner shared the device with them.
    pub granted_at: UnixMillis,
    /// What they may do with the device.
    #[serde(default)]
    pub role: ShareRole,
    /// Whether they may see the camera's recordings (off unless the owner allowed it).
    #[serde(default)]
    pub recordings: bool,
    /// Whether they may be notified of the camera's events.
    #[serde(default = "yes")]
    pub notifications: bool,
    /// Whether they may talk through the camera's speaker (off unless the owner allowed it).
    #[serde(default)]
    pub talk: bool,
}

/// What the requesting user may do with a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AccessRole {
    /// Owns it: watch, rename, remove.
    Owner,
    /// Was given it: watch only.
    Viewer,
    /// Was given it with the right to manage its shares (not to rename or remove it).
    Admin,
}

/// A device as its owner (or a viewer it was shared with) sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Device {
    /// The device's id.
    pub id: DeviceId,
    /// Its name.
    pub name: String,
    /// The requesting user's role.
    pub role: AccessRole,
    /// The owner's username, when the device is shared with the requesting user (absent for
    /// their own devices): the dashboard's "shared by" mark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_by: Option<String>,
    /// Whether its agent is connected now.
    pub is_online: bool,
    /// When it was last connected or heard from.
    pub last_seen: Option<UnixMillis>,
    /// When it enrolled.
    pub created_at: UnixMillis,
    /// When it was paired with its owner.
    pub paired_at: Option<UnixMillis>,
    /// The agent version it reported.
    pub agent_version: Option<String>,
    /// Its latest status, when online and it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeviceStatus>,
}

/// One motion event as the server keeps it: metadata only (the thumbnail and any clip stay on
/// the camera). `GET /api/events`, `GET /api/devices/{id}/events`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Event {
    /// The camera.
    pub device_id: DeviceId,
    /// Its name now.
    pub device_name: String,
    /// When the motion began (the camera's clock, UTC); with `device_id`, the event's identity.
    pub start: UnixMillis,
    /// When the last motion was seen; `null` while the event is under way (or if the camera
    /// never said).
    pub end: Option<UnixMillis>,
    /// The zones the motion was in, by name; empty when the camera has no zones.
    pub zones: Vec<String>,
    /// The largest moving area, in ten-thousandths of the picture.
    pub peak_score: u16,
}

/// The household's arming mode: which events notify anyone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ArmingMode {
    /// Nobody is home: every camera's events notify.
    #[default]
    Away,
    /// Somebody is home: only cameras marked `always` notify.
    Home,
    /// No camera notifies.
    Off,
}

/// `GET`/`PUT /api/arming`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Arming {
    /// The mode in force.
    pub mode: ArmingMode,
}

/// `GET`/`PUT /api/quiet-hours`: a daily time span in which this account is not notified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct QuietHours {
    /// Local time the quiet begins, `HH:MM` (24-hour).
    pub start: String,
    /// Local time it ends, `HH:MM`; earlier than `start` means the next morning.
    pub end: String,
    /// The local time's offset from UTC, in minutes (`60` for UTC+1, `-300` for UTC-5; -720 to
    /// 840). Fixed: a change of daylight saving time needs a new value.
    pub utc_offset_minutes: i16,
}

/// How a camera notifies: `GET`/`PATCH /api/devices/{id}/notifications`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CameraNotifications {
    /// After a notification, the camera's next events within this many seconds notify nobody
    /// (0 to 86,400; default 60).
    pub cooldown_secs: u32,
    /// Notify even while the household is armed `home`.
    pub always: bool,
}

/// `PATCH /api/devices/{id}/notifications`: what to change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UpdateCameraNotifications {
    /// The new cooldown, in seconds (0 to 86,400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_secs: Option<u32>,
    /// Whether it notifies while armed `home`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always: Option<bool>,
}

/// `PUT /api/webhook`: where this account's notifications are posted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookRequest {
    /// An `http://` or `https://` URL (at most 2,048 characters) whose host is not a private,
    /// loopback or link-local address (unless the operator allowed it).
    pub url: String,
    /// The key that signs each delivery (16 to 128 characters); absent: the server makes one
    /// and shows it once, in the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// An account's webhook (`GET`/`PUT /api/webhook`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Webhook {
    /// Where deliveries go.
    pub url: String,
    /// When it was set.
    pub created_at: UnixMillis,
    /// The signing key: only in the answer to the `PUT` that made it; never shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// What a webhook receives: the body of the `POST`, signed (`X-MuMu-Signature: sha256=<hex>`,
/// HMAC-SHA256 of `<X-MuMu-Timestamp>.<body>` with the webhook's secret). Never a picture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookEvent {
    /// What happened: `motion`.
    pub kind: String,
    /// The camera.
    pub camera_id: DeviceId,
    /// Its name.
    pub camera_name: String,
    /// When the motion began.
    pub start: UnixMillis,
    /// When it ended; `null` for an event under way (the notification goes as it starts).
    pub end: Option<UnixMillis>,
    /// The zones, by name.
    pub zones: Vec<String>,
    /// The largest moving area so far, in ten-thousandths of the picture.
    pub peak_score: u16,
}

/// A device's status report: sent by the agent as `device_presence`, shown on the dashboard.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeviceStatus {
    /// Seconds since the agent started.
    #[serde(default)]
    pub uptime_s: u64,
    /// How many viewers it is streaming to.
    #[serde(default)]
    pub viewers: u32,
    /// The video source (`test`, `v4l2:/dev/video0`, `libcamera`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The H.264 encoder element in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<String>,
    /// The CPU temperature in °C, where the system has a sensor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_temp_c: Option<f32>,
    /// Whether the camera is recording (absent from an older agent: not known to).
    #[serde(default)]
    pub recording: bool,
}

/// `GET /healthz` and `GET /readyz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Health {
    /// `ok`, or `unavailable` when a dependency is down.
    pub status: String,
    /// Each dependency checked and its state (`ok` or the error), for `/readyz`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<HealthCheck>,
}

/// One dependency's state in [`Health`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HealthCheck {
    /// `database` or `presence`.
    pub name: String,
    /// `ok` or what failed.
    pub status: String,
}

/// A REST call that failed, as a client sees it; `E` is the client's own transport error
/// (`reqwest::Error` for the agent and the probe). [`RestError::answer`] reads the server's
/// answer, so every client decodes a refusal the same way.
#[derive(Debug)]
pub enum RestError<E> {
    /// The server could not be reached, or its answer not received whole.
    Transport {
        /// Which call.
        call: &'static str,
        /// What failed.
        source: E,
    },
    /// The server refused.
    Refused {
        /// Which call.
        call: &'static str,
        /// The HTTP status.
        status: u16,
        /// The server's error code, when it sent the error body (`{"error": {code, message}}`).
        code: Option<crate::ErrorCode>,
        /// Its message, or the body as it came when it was no error body.
        message: String,
    },
    /// The server answered success with a body that is not what the call returns.
    Unreadable {
        /// Which call.
        call: &'static str,
        /// Why it could not be read.
        source: serde_json::Error,
    },
}

impl<E> RestError<E> {
    /// What the call `call` got, given the answer's `status` and its body as the client received
    /// it (or failed to): the body read as `T` when the status is a success, else the server's
    /// refusal.
    pub fn answer<T: serde::de::DeserializeOwned>(
        call: &'static str,
        status: u16,
        body: Result<impl AsRef<[u8]>, E>,
    ) -> Result<T, Self> {
        let body = body.map_err(|source| Self::Transport { call, source })?;
        let body = body.as_ref();
        if (200..300).contains(&status) {
            return serde_json::from_slice(body)
                .map_err(|source| Self::Unreadable { call, source });
        }
        let (code, message) = match serde_json::from_slice::<crate::ErrorResponse>(body) {
            Ok(refusal) => (Some(refusal.error.code), refusal.error.message),
            Err(_) => (None, String::from_utf8_lossy(body).into_owned()),
        };
        Err(Self::Refused {
            call,
            status,
            code,
            message,
        })
    }
}

impl<E: std::fmt::Display> std::fmt::Display for RestError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transport { call, source } => write!(f, "{call}: {source}"),
            Self::Refused {
                call,
                status,
                code: Some(code),
                message,
            } => write!(f, "{call} refused ({status}, {code}): {message}"),
            Self::Refused {
                call,
                status,
                code: None,
                message,
            } => write!(f, "{call} refused ({status}): {message}"),
            Self::Unreadable { call, source } => write!(f, "{call}: unreadable answer: {source}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for RestError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Transport { source, .. } => Some(source),
            Self::Refused { .. } => None,
            Self::Unreadable { source, .. } => Some(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    /// What a client gets for `status` and `body`, with an I/O error as its transport's.
    fn answer(status: u16, body: &[u8]) -> Result<PairingCode, RestError<std::io::Error>> {
        RestError::answer("pairing code", status, Ok(body))
    }

    #[test]
    fn a_success_is_read_as_the_calls_answer() {
        let ok = answer(200, br#"{"pairing_code":"ABCD-EFGH","expires_at":1}"#);
        assert_eq!(ok.unwrap().pairing_code, "ABCD-EFGH");
        let err = answer(201, b"<html>").unwrap_err();
        assert!(matches!(err, RestError::Unreadable { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with("pairing code: unreadable answer: "),
            "{text}"
        );
    }

    #[test]
    fn a_refusal_keeps_the_servers_code_and_message() {
        let body = br#"{"error":{"code":"conflict","message":"already paired"}}"#;
        let err = answer(409, body).unwrap_err();
        assert!(matches!(
            &err,
            RestError::Refused { status: 409, code: Some(ErrorCode::Conflict), message, .. }
                if message == "already paired"
        ));
        let text = err.to_string();
        assert_eq!(text, "pairing code refused (409, conflict): already paired");
    }

    #[test]
    fn a_refusal_without_an_error_body_shows_the_body() {
        let err = answer(502, b"Bad Gateway").unwrap_err();
        assert!(matches!(&err, RestError::Refused { code: None, .. }));
        assert_eq!(err.to_string(), "pairing code refused (502): Bad Gateway");
    }

    #[test]
    fn a_body_that_did_not_arrive_is_a_transport_error() {
        let lost = std::io::Error::other("connection reset");
        let err = RestError::answer::<PairingCode>("pairing code", 200, Err::<&[u8], _>(lost))
            .unwrap_err();
        assert!(matches!(err, RestError::Transport { .. }));
        assert_eq!(err.to_string(), "pairing code: connection reset");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn bodies_from_before_recordings_read_as_without_them() {
        let share: Share = serde_json::from_str(r#"{"username":"bob","granted_at":1}"#).unwrap();
        assert!(
            !share.recordings,
            "a share sees no recordings unless allowed"
        );
        assert!(
            share.notifications,
            "notifications are on unless turned off"
        );
        assert_eq!(share.role, ShareRole::Viewer);
        let request: ShareRequest = serde_json::from_str(r#"{"username":"bob"}"#).unwrap();
        assert!(!request.recordings);
        assert!(request.notifications);
        assert!(
            !request.talk,
            "nobody talks through a camera unless allowed"
        );
        assert!(!share.talk);
        assert_eq!(request.role, ShareRole::Viewer);
        let user: User = serde_json::from_str(
            r#"{"id":"u","username":"bob","email":"b@example.com","created_at":1}"#,
        )
        .unwrap();
        assert_eq!(
            user.role,
            HouseholdRole::Member,
            "an account is no admin unless said"
        );
        let status: DeviceStatus = serde_json::from_str(r#"{"uptime_s":1}"#).unwrap();
        assert!(!status.recording);
    }

    #[test]
    fn a_share_update_names_the_field_it_cannot_read() {
        // An empty update reads; the server refuses it as changing nothing.
        let empty = serde_json::from_str::<UpdateShareRequest>("{}").unwrap();
        assert_eq!(empty, UpdateShareRequest::default());
        let wrong = serde_json::from_str::<UpdateShareRequest>(r#"{"recordings":"yes"}"#);
        assert!(wrong.unwrap_err().to_string().contains("boolean"));
    }
}
