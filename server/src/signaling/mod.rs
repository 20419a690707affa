//! WebRTC signaling over WebSocket: `/ws/device` and `/ws/viewer`. The [`hub`] routes, the
//! [`socket`] loop enforces limits, and [`device`] / [`viewer`] give each message its meaning.
//! [`admission`] decides whether a device takes a watch; [`route`] is what servers tell each
//! other about the sessions between them, and [`router`] carries it; [`sessions`] writes the
//! record the hub reports.

pub mod admission;
pub mod device;
pub mod hub;
pub mod route;
pub mod router;
pub mod sessions;
pub mod socket;
pub mod viewer;

use crate::rate_limit::Rate;
use crate::state::AppState;
use socket::Limits;
use std::time::Duration;

/// How many messages a socket's outbox holds; one that overflows closes as a slow consumer.
pub const OUTBOX_CAPACITY: usize = 256;

/// The per-socket limits from the configuration.
pub fn limits(state: &AppState) -> Limits {
    let per_sec = state.config.signaling.ws_messages_per_sec;
    Limits {
        hello_timeout: Duration::from_secs(10),
        idle_timeout: state.config.signaling.heartbeat() * 3,
        rate: Rate::per_second(per_sec, per_sec.saturating_mul(2)),
        flood_close_after: per_sec.saturating_mul(2).max(20),
        write_timeout: state.config.signaling.ws_write_timeout(),
    }
}
