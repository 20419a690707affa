//! Stable machine-readable error codes, shared by REST responses and signaling `error` messages.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What went wrong, as a code a client can match on. The human-readable message travels beside
/// it. New codes may be added; a client that meets one it does not know sees [`ErrorCode::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The message or request body could not be read: not JSON, wrong shape, bad field.
    BadMessage,
    /// A signaling message whose `type` does not exist for this direction.
    UnknownType,
    /// The message or body is larger than the server accepts.
    MessageTooLarge,
    /// The `hello` named a protocol version this server does not speak.
    UnsupportedProtocol,
    /// A signaling message other than `hello` arrived before `hello`.
    HelloRequired,
    /// A second `hello` on a socket that already said it.
    AlreadyHello,
    /// Too many requests or messages; slow down and retry later.
    RateLimited,
    /// No credentials, or credentials that are wrong or expired.
    Unauthorized,
    /// Authenticated, but not allowed to do this.
    Forbidden,
    /// The thing named does not exist (or is not yours to see).
    NotFound,
    /// A field failed validation; the message says which and why.
    Validation,
    /// The request conflicts with existing state (a taken username, a device already paired).
    Conflict,
    /// No pairing code like this one exists.
    InvalidPairingCode,
    /// The pairing code existed but its time is up.
    PairingCodeExpired,
    /// The pairing code has already been used.
    PairingCodeUsed,
    /// Accounts on this server are made by invitation only, and none came with the request.
    InvitationRequired,
    /// The invitation is not one that can be used: unknown, expired, used or revoked (one
    /// answer for all four, so nothing is learned by trying codes).
    InvitationInvalid,
    /// The device is not connected right now.
    DeviceOffline,
    /// No such watch session on this socket.
    SessionNotFound,
    /// The device already serves as many viewers as it is allowed.
    MaxSessions,
    /// The device was removed by its owner; its secret no longer works.
    DeviceRemoved,
    /// The same device connected again; this older socket is closed.
    Replaced,
    /// The peer stopped sending heartbeats.
    HeartbeatTimeout,
    /// The peer did not read what the server sent it in time; its socket is closed.
    SlowConsumer,
    /// A dependency (database, Redis) is unavailable.
    Unavailable,
    /// Push notifications are off on this server: its operator has not configured VAPID keys.
    PushDisabled,
    /// Something failed inside the server; it is logged there.
    Internal,
    /// A code this build does not know (sent by a newer peer).
    #[serde(other)]
    Other,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadMessage => "bad_message",
            Self::UnknownType => "unknown_type",
            Self::MessageTooLarge => "message_too_large",
            Self::UnsupportedProtocol => "unsupported_protocol",
            Self::HelloRequired => "hello_required",
            Self::AlreadyHello => "already_hello",
            Self::RateLimited => "rate_limited",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Validation => "validation",
            Self::Conflict => "conflict",
            Self::InvalidPairingCode => "invalid_pairing_code",
            Self::PairingCodeExpired => "pairing_code_expired",
            Self::PairingCodeUsed => "pairing_code_used",
            Self::InvitationRequired => "invitation_required",
            Self::InvitationInvalid => "invitation_invalid",
            Self::DeviceOffline => "device_offline",
            Self::SessionNotFound => "session_not_found",
            Self::MaxSessions => "max_sessions",
            Self::DeviceRemoved => "device_removed",
            Self::Replaced => "replaced",
            Self::HeartbeatTimeout => "heartbeat_timeout",
            Self::SlowConsumer => "slow_consumer",
            Self::Unavailable => "unavailable",
            Self::PushDisabled => "push_disabled",
            Self::Internal => "internal",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error: a stable code and a message for people. The payload of the signaling `error`
/// message, and the `error` member of every REST error body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong, for programs.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

impl ErrorBody {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The body of every REST error response: `{ "error": { "code", "message" } }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
}
