//! The signaling messages, one enum per direction:
//! device → server ([`DeviceToServer`]), server → device ([`ServerToDevice`]),
//! viewer → server ([`ViewerToServer`]) and server → viewer ([`ServerToViewer`]).
//!
//! New behaviour is a new variant; the meaning of an existing one never changes.
//! `docs/protocol.md` describes the flows these messages make up.

use crate::UnixMillis;
use crate::api::{DeviceStatus, User};
use crate::error::ErrorBody;
use crate::ids::{DeviceId, SessionId};
use serde::{Deserialize, Serialize};

/// Declares a direction's enum: adjacently tagged (`type` + `payload`), with its list of types.
macro_rules! messages {
    ($(#[$meta:meta])* pub enum $name:ident {
        $( $(#[$vmeta:meta])* $variant:ident($payload:ty) = $tag:literal, )*
    }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", content = "payload")]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $tag)] $variant($payload), )*
        }

        impl $crate::envelope::Message for $name {
            const TYPES: &'static [&'static str] = &[$($tag),*];

            fn kind(&self) -> &'static str {
                match self {
                    $( Self::$variant(_) => $tag, )*
                }
            }
        }
    };
}
pub(crate) use messages;

messages! {
    /// What a device (camera agent) sends on `/ws/device`.
    pub enum DeviceToServer {
        /// First message: who the device is, proven by its secret.
        Hello(DeviceHello) = "hello",
        /// Keeps the socket and the device's presence alive.
        Heartbeat(Heartbeat) = "heartbeat",
        /// The device's SDP offer for a session it was asked to serve.
        SignalOffer(SessionSdp) = "signal_offer",
        /// One of the device's ICE candidates (null: gathering is complete).
        SignalIce(SessionIce) = "signal_ice",
        /// The device ends, or refuses, a session.
        EndWatch(DeviceEndWatch) = "end_watch",
        /// The device's periodic status (uptime, viewers, encoder, temperature).
        DevicePresence(DeviceStatus) = "device_presence",
        /// A motion event began (`end` null) or ended: metadata only, never a picture.
        MotionEvent(MotionEvent) = "motion_event",
    }
}

messages! {
    /// What the server sends to a device.
    pub enum ServerToDevice {
        /// The device is known and connected.
        HelloAck(DeviceHelloAck) = "hello_ack",
        /// Answer to `heartbeat`.
        HeartbeatAck(Heartbeat) = "heartbeat_ack",
        /// A user claimed the device with its pairing code.
        Paired(Paired) = "paired",
        /// A viewer wants to watch: create a peer connection and send an offer.
        WatchRequest(DeviceWatchRequest) = "watch_request",
        /// The viewer's SDP answer.
        SignalAnswer(SessionSdp) = "signal_answer",
        /// One of the viewer's ICE candidates (null: gathering is complete).
        SignalIce(SessionIce) = "signal_ice",
        /// A session is over; release what serves it.
        WatchEnded(WatchEnded) = "watch_ended",
        /// What a session's viewer may do changed (the owner edited the share): the device
        /// applies it at once, ending a playback the viewer may no longer see.
        SessionGrants(SessionGrants) = "session_grants",
        /// Something the device sent was refused, or the socket is about to close.
        Error(ErrorBody) = "error",
    }
}

messages! {
    /// What a viewer (browser, probe) sends on `/ws/viewer`.
    pub enum ViewerToServer {
        /// First message; may carry the access token when no cookie or header did.
        Hello(ViewerHello) = "hello",
        /// Keeps the socket alive.
        Heartbeat(Heartbeat) = "heartbeat",
        /// Start watching a device; answered by `watch_ready` (or `error`).
        WatchRequest(ViewerWatchRequest) = "watch_request",
        /// The viewer's SDP answer to the device's offer.
        SignalAnswer(SessionSdp) = "signal_answer",
        /// One of the viewer's ICE candidates (null: gathering is complete).
        SignalIce(SessionIce) = "signal_ice",
        /// Stop watching.
        EndWatch(ViewerEndWatch) = "end_watch",
    }
}

messages! {
    /// What the server sends to a viewer.
    pub enum ServerToViewer {
        /// The viewer is authenticated; the presence of every device it may watch.
        HelloAck(ViewerHelloAck) = "hello_ack",
        /// Answer to `heartbeat`.
        HeartbeatAck(Heartbeat) = "heartbeat_ack",
        /// A device the viewer may watch changed: online, offline, renamed, new status, newly paired.
        DevicePresence(DevicePresence) = "device_presence",
        /// A device the viewer could watch was removed or access to it was withdrawn.
        DeviceRemoved(DeviceRemoved) = "device_removed",
        /// The session for a `watch_request` exists; the device's offer follows.
        WatchReady(WatchReady) = "watch_ready",
        /// The device's SDP offer.
        SignalOffer(SessionSdp) = "signal_offer",
        /// One of the device's ICE candidates (null: gathering is complete).
        SignalIce(SessionIce) = "signal_ice",
        /// A session is over, and why.
        WatchEnded(WatchEnded) = "watch_ended",
        /// Something the viewer sent was refused, or the socket is about to close.
        Error(ErrorBody) = "error",
    }
}

/// A message without fields (`heartbeat`, `heartbeat_ack`); its payload is `{}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {}

/// Payload of a device's `hello`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceHello {
    /// The protocol version the device speaks ([`crate::PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// The id the device got at enrolment.
    pub device_id: DeviceId,
    /// The secret the device got at enrolment.
    pub device_secret: String,
    /// The agent's version, for the dashboard and for support.
    #[serde(default)]
    pub agent_version: Option<String>,
}

/// Payload of the server's `hello_ack` to a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceHelloAck {
    /// The protocol version the server will speak on this socket.
    pub protocol: u32,
    /// The device's id, confirmed.
    pub device_id: DeviceId,
    /// Whether a user owns the device yet; if not, `paired` arrives when one claims it.
    pub paired: bool,
    /// How often the device should send `heartbeat`, in milliseconds.
    pub heartbeat_interval_ms: u64,
}

/// Payload of a device's `motion_event`: what the server learns of an event, and all it learns
/// (the thumbnail stays on the camera). Sent as the event starts, and again as it ends; `start`
/// is the event's identity on its camera, so the second one completes the first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MotionEvent {
    /// When the motion began (UTC, the camera's clock).
    pub start: UnixMillis,
    /// When the last motion was seen; `null` while the event is under way.
    #[serde(default)]
    pub end: Option<UnixMillis>,
    /// The zones the motion was in, by name; empty when the camera has no zones. At most
    /// [`crate::events::MAX_ZONES`], each 1 to [`crate::events::MAX_NAME_CHARS`] characters.
    #[serde(default)]
    pub zones: Vec<String>,
    /// The largest moving area seen so far, in ten-thousandths of the picture (0 to 10,000).
    pub peak_score: u16,
}

/// Payload of `paired`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paired {
    /// The username of the device's new owner.
    pub owner: String,
    /// The name the owner gave the device.
    pub name: String,
}

/// A STUN or TURN server for the peer connection, in the shape of the browser's `RTCIceServer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IceServer {
    /// `stun:` / `turn:` / `turns:` URLs.
    pub urls: Vec<String>,
    /// TURN username (coturn REST scheme: `expiry:subject`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN password (coturn REST scheme: base64 HMAC-SHA1 of the username).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Which ICE candidates a peer may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IceTransportPolicy {
    /// Any candidate: host, server-reflexive or relayed.
    #[default]
    All,
    /// Relayed (TURN) candidates only.
    Relay,
}

/// Payload of `watch_request` sent to a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceWatchRequest {
    /// The new session; every later message about it names it.
    pub session_id: SessionId,
    /// The username of the person watching.
    pub viewer: String,
    /// STUN/TURN servers with credentials minted for this session.
    pub ice_servers: Vec<IceServer>,
    /// Which candidates to use.
    pub ice_transport_policy: IceTransportPolicy,
    /// What the viewer may do beyond live video, decided by the server from the share at
    /// watch time; the device enforces it. Absent (from an older server): nothing more.
    #[serde(default)]
    pub grants: Grants,
}

/// What a session's viewer may do beyond watching live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    /// May list, play and export the camera's recordings (the owner always; a person the
    /// camera is shared with when the owner allowed it).
    #[serde(default)]
    pub recordings: bool,
    /// May read and change the camera's motion settings (zones, privacy masks, sensitivity)
    /// over the history channel: the owner, and a person it is shared with as `admin`.
    #[serde(default)]
    pub configure: bool,
    /// May send sound to the camera's speaker (talk back): the owner always; a person the
    /// camera is shared with when the owner marked the share "may talk". A camera refuses talk
    /// from a session without it.
    #[serde(default)]
    pub talk: bool,
}

/// Payload of `session_grants`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionGrants {
    /// The session whose viewer's rights changed.
    pub session_id: SessionId,
    /// What the viewer may do from now on.
    pub grants: Grants,
}

/// Payload of a viewer's `hello`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerHello {
    /// The protocol version the viewer speaks ([`crate::PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// The access token, when the socket was opened without a cookie or `Authorization` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Payload of the server's `hello_ack` to a viewer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViewerHelloAck {
    /// The protocol version the server will speak on this socket.
    pub protocol: u32,
    /// Who the viewer is.
    pub user: User,
    /// Every device the viewer may watch, with its presence now.
    pub devices: Vec<DevicePresence>,
    /// How often the viewer should send `heartbeat`, in milliseconds.
    pub heartbeat_interval_ms: u64,
}

/// A device's presence as a viewer sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DevicePresence {
    /// The device.
    pub device_id: DeviceId,
    /// Its name.
    pub name: String,
    /// Whether its agent is connected now.
    pub online: bool,
    /// When it was last connected or heard from.
    #[serde(default)]
    pub last_seen: Option<UnixMillis>,
    /// Its latest status report, when online and it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeviceStatus>,
}

/// Payload of `device_removed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRemoved {
    /// The device that is gone from this viewer's list.
    pub device_id: DeviceId,
}

/// Payload of a viewer's `watch_request`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerWatchRequest {
    /// The device to watch.
    pub device_id: DeviceId,
    /// A session of this socket, for the same device, that the new one replaces because its
    /// TURN credentials near their expiry (see [`WatchReady::ice_credentials_ttl_ms`]). The
    /// viewer keeps the old session until the new one plays, then ends it; meanwhile the new
    /// one may take the device one place over its viewer limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renews: Option<SessionId>,
}

impl ViewerWatchRequest {
    /// A new watch of `device_id`.
    pub fn new(device_id: DeviceId) -> Self {
        Self {
            device_id,
            renews: None,
        }
    }
}

/// Payload of `watch_ready`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchReady {
    /// The new session.
    pub session_id: SessionId,
    /// The device being watched.
    pub device_id: DeviceId,
    /// STUN/TURN servers with credentials minted for this session.
    pub ice_servers: Vec<IceServer>,
    /// Which candidates to use.
    pub ice_transport_policy: IceTransportPolicy,
    /// How long the TURN credentials in `ice_servers` stay valid, from now; absent when there
    /// are none. A relayed session must be renewed before then (`renews` on a new
    /// `watch_request`): a relay may refuse to keep, or to make, an allocation past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ice_credentials_ttl_ms: Option<u64>,
}

/// An SDP offer or answer for a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSdp {
    /// The session it belongs to.
    pub session_id: SessionId,
    /// The session description.
    pub sdp: String,
}

/// One ICE candidate, in the shape of the browser's `RTCIceCandidateInit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceCandidate {
    /// The `candidate:` attribute line.
    pub candidate: String,
    /// The media stream identification tag it belongs to.
    #[serde(default)]
    pub sdp_mid: Option<String>,
    /// The index of the m-line it belongs to.
    #[serde(default)]
    pub sdp_m_line_index: Option<u16>,
}

/// An ICE candidate for a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionIce {
    /// The session it belongs to.
    pub session_id: SessionId,
    /// The candidate; `null` means the sender has finished gathering.
    pub candidate: Option<IceCandidate>,
}

/// Payload of a viewer's `end_watch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerEndWatch {
    /// The session to end.
    pub session_id: SessionId,
}

/// Payload of a device's `end_watch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEndWatch {
    /// The session to end.
    pub session_id: SessionId,
    /// Why the device ends it.
    pub reason: EndReason,
    /// Detail for people (logged, and passed to the viewer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Payload of `watch_ended`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEnded {
    /// The session that is over.
    pub session_id: SessionId,
    /// Why.
    pub reason: EndReason,
    /// Detail for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The viewer sent `end_watch`.
    ViewerLeft,
    /// The viewer's socket closed or timed out.
    ViewerDisconnected,
    /// The device ended the session (its stream stopped, it is shutting down).
    DeviceEnded,
    /// The device's socket closed or timed out.
    DeviceDisconnected,
    /// The device already serves its maximum number of viewers.
    MaxViewers,
    /// The device could not start streaming (no camera, encoder failure, bad answer).
    Failed,
    /// The device was removed, or the viewer's access to it withdrawn.
    DeviceRemoved,
    /// The server is shutting down.
    ServerShutdown,
    /// A reason this build does not know (sent by a newer peer).
    #[serde(other)]
    Other,
}

impl EndReason {
    /// The reason as it appears on the wire (and in the database).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ViewerLeft => "viewer_left",
            Self::ViewerDisconnected => "viewer_disconnected",
            Self::DeviceEnded => "device_ended",
            Self::DeviceDisconnected => "device_disconnected",
            Self::MaxViewers => "max_viewers",
            Self::Failed => "failed",
            Self::DeviceRemoved => "device_removed",
            Self::ServerShutdown => "server_shutdown",
            Self::Other => "other",
        }
    }
}
