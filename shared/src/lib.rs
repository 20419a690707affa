//! The MuMu wire protocol, shared by the server, the agent and the web app.
//!
//! Everything a part says to another part is a type in this crate: the signaling messages
//! ([`signaling`]), the messages of a session's history data channel ([`history`]), motion
//! events and their settings ([`events`]), their envelope and decoding ([`envelope`]), the REST
//! request and response bodies ([`api`], Web Push's in [`push`]) and the stable error codes ([`error`]). It depends on
//! serde alone so that it builds for the browser (wasm32) and for the Raspberry Pi alike.

pub mod api;
pub mod backoff;
pub mod envelope;
pub mod error;
pub mod events;
pub mod history;
pub mod ice;
pub mod ids;
pub mod push;
pub mod sdp;
pub mod signaling;
pub mod validate;

pub use envelope::{Envelope, Message, ProtocolError, decode, encode};
pub use error::{ErrorBody, ErrorCode, ErrorResponse};
pub use ids::{DeviceId, SessionId, UserId};

/// The signaling protocol version spoken by this build; sent in every `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest signaling message (one WebSocket text frame) the server accepts, in bytes.
/// An SDP offer with a handful of candidates is 3–6 KiB; this leaves ample room.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Milliseconds since the Unix epoch, UTC: every timestamp on the wire.
pub type UnixMillis = i64;
