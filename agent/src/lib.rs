//! MuMu's camera agent: enrols with the server, keeps a signaling connection, and streams one
//! encoded H.264 picture to every viewer over WebRTC (GStreamer webrtcbin), peer to peer.
//!
//! Code map: [`agent`] (the life of the process) → [`connection`] (one signaling socket) →
//! [`sessions`] (the viewers being served) → [`media`] (the GStreamer pipeline). Around them:
//! [`identity`] (the 0600 state file), [`enrollment`] (REST calls), [`backoff`], [`status`];
//! [`recording`] and [`history`] (recordings and their playback), [`motion`] (motion events).

pub mod agent;
pub mod backoff;
pub mod config;
pub mod connection;
pub mod enrollment;
pub mod health;
pub mod history;
pub mod identity;
pub mod media;
pub mod motion;
pub mod recording;
pub mod sessions;
pub mod socket;
pub mod status;

/// This build's version, sent at enrolment and in `hello`.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Milliseconds since the Unix epoch: every time on the wire.
pub fn now_ms() -> mumu_shared::UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
