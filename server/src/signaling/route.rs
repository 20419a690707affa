//! Sessions whose two ends sit on different servers. The viewer's server and the device's
//! server each hold one half of such a session in their hub; what one half must tell the
//! other travels as a [`Routed`] message, addressed to that server alone (with Redis: its own
//! pub/sub channel). The device's server owns the device's limits (its viewer count); the
//! viewer's server records the session.

use crate::state::SharedState;
use mumu_shared::signaling::{DeviceWatchRequest, EndReason, ServerToDevice, ServerToViewer};
use mumu_shared::{DeviceId, ErrorBody, SessionId};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// A server's id: unique per process, across every server of a deployment.
pub type ServerId = String;

/// What one server's hub tells another's about a session between them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Routed {
    /// From the viewer's server: open a session with a device the addressee holds.
    Open(RemoteOpen),
    /// From the device's server: the answer to `Open` (`refused` says why not).
    Opened {
        /// Which session.
        session_id: SessionId,
        /// Why it was not opened, for the viewer.
        refused: Option<ErrorBody>,
    },
    /// For the device end of a session.
    ToDevice {
        /// Which session.
        session_id: SessionId,
        /// The message, as the device gets it.
        message: ServerToDevice,
    },
    /// For the viewer end of a session.
    ToViewer {
        /// Which session.
        session_id: SessionId,
        /// The message, as the viewer gets it.
        message: ServerToViewer,
    },
    /// The session ended on the sender's side; the addressee tells its end, as the sender's
    /// hub would have.
    Ended {
        /// Which session.
        session_id: SessionId,
        /// Why.
        reason: EndReason,
        /// The device's words, when it ended the session.
        message: Option<String>,
    },
}

/// A session the viewer's server asks the device's server to open.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoteOpen {
    /// The device watched.
    pub device_id: DeviceId,
    /// What the device is sent (the session id and the device's ICE servers within).
    pub to_device: DeviceWatchRequest,
    /// The most sessions the device may serve, counting this one.
    pub max_sessions: usize,
    /// The viewer's session this one replaces (see `OpenRequest::renews`).
    pub renews: Option<SessionId>,
}

/// A routed message on its way: to whom, and what.
#[derive(Clone, Debug, PartialEq)]
pub struct Post {
    /// The server it is for.
    pub to: ServerId,
    /// What.
    pub routed: Routed,
}

/// A routed message as it travels between servers: who sent it, and what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Letter {
    /// The sending server.
    pub from: ServerId,
    /// What.
    pub routed: Routed,
}

/// How many routed messages may wait to be published before the hub drops (and logs) them.
pub const ROUTES_CAPACITY: usize = 16 * 1024;

/// How long a viewer waits for the device's server to answer an `Open`.
pub const OPEN_TIMEOUT_MS: i64 = 5_000;

/// How often a server says it is alive.
pub const BEAT_EVERY: Duration = Duration::from_secs(2);
/// How long a server's word that it is alive lasts: one that says nothing for this long is
/// taken for dead (killed, or cut off from Redis).
pub const BEAT_TTL: Duration = Duration::from_secs(6);

/// With Redis: carries what this server's hub routes to other servers and what they route to
/// it, says every [`BEAT_EVERY`] that this server is alive, and takes over from a server that
/// stopped saying so: the halves of sessions it held end here, and the cameras it held go
/// offline on every dashboard (until they reconnect, to a server that lives).
pub fn spawn_router(state: SharedState) -> Option<JoinHandle<()>> {
    let redis = state.presence.shared()?;
    let mut letters = redis.take_letters()?;
    let mut routes = state.take_routes()?;
    Some(tokio::spawn(async move {
        let mut beat = tokio::time::interval(BEAT_EVERY);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut in_touch_since = None;
        loop {
            tokio::select! {
                Some(post) = routes.recv() => send(&state, post).await,
                Some(letter) = letters.recv() => {
                    state.hub.receive(&letter.from, letter.routed, state.clock.now_ms());
                }
                _ = beat.tick() => {
                    state.hub.expire_pending(state.clock.now_ms());
                    watch_servers(&state, &mut in_touch_since).await;
                }
                else => break,
            }
        }
    }))
}

async fn send(state: &SharedState, post: Post) {
    let Some(redis) = state.presence.shared() else {
        return;
    };
    let letter = Letter {
        from: state.server_id.clone(),
        routed: post.routed.clone(),
    };
    if let Err(e) = redis.send_letter(&post.to, &letter).await {
        tracing::warn!(error = %e, to = %post.to, "could not route a message to another server");
        state.hub.route_failed(&post, state.clock.now_ms());
    }
}

/// Says this server is alive, then looks for servers that are not.
async fn watch_servers(state: &SharedState, in_touch_since: &mut Option<Instant>) {
    let Some(redis) = state.presence.shared() else {
        return;
    };
    if let Err(e) = redis.beat(&state.server_id, BEAT_TTL).await {
        if in_touch_since.take().is_some() {
            tracing::warn!(error = %e, "Redis does not answer: watches across servers wait for it");
        }
        return;
    }
    // Cut off from Redis while the others were not, this server was taken for dead, and they
    // ended their halves of its sessions: its own halves end too, the same way. (When Redis
    // itself was down, nobody was taken for dead, and every session goes on.)
    if in_touch_since.is_none() && matches!(redis.was_reaped(&state.server_id).await, Ok(true)) {
        let now = state.clock.now_ms();
        let ended: usize = (state.hub.peer_servers().iter())
            .map(|peer| state.hub.server_gone(peer, now).len())
            .sum();
        tracing::warn!(
            sessions = ended,
            "back in touch with Redis after the other servers took this one for dead: its sessions across servers ended"
        );
    }
    let since = *in_touch_since.get_or_insert_with(|| {
        tracing::info!("in touch with the other servers through Redis");
        Instant::now()
    });
    // After an outage every server's word has lapsed, and none of them is dead for that: judge
    // others only once this server has been in touch for longer than a word lasts.
    if since.elapsed() < BEAT_TTL + BEAT_EVERY {
        return;
    }
    let mut servers: HashSet<ServerId> = state.hub.peer_servers();
    match redis.known_servers().await {
        Ok(known) => servers.extend(known),
        Err(_) => return,
    }
    servers.remove(&state.server_id);
    for server in servers {
        match redis.is_alive(&server).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(_) => return,
        }
        let ended = state.hub.server_gone(&server, state.clock.now_ms());
        let devices = match redis.reap(&server).await {
            Ok(devices) => devices,
            Err(e) => {
                tracing::warn!(error = %e, %server, "could not take a dead server's cameras offline");
                Vec::new()
            }
        };
        tracing::warn!(%server, sessions = ended.len(), cameras = devices.len(), "a server stopped answering: its sessions ended here, its cameras are offline until they reconnect");
        for device_id in devices {
            super::device::announce_offline(state, &device_id).await;
        }
    }
}
