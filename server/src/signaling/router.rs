//! The router: with Redis, the task that carries what this server's hub routes to other
//! servers ([`super::route`]) and what they route to it, says every [`BEAT_EVERY`] that this
//! server is alive, and takes over from a server that stopped saying so: the halves of
//! sessions it held end here, and the cameras it held go offline on every dashboard (until they
//! reconnect, to a server that lives).
//!
//! It stands below the device side and the application state: it is handed the services it
//! drives, and what it learns that is theirs to act on (a dead server's cameras) it reports
//! through the callback given to [`Router::spawn`].

use super::hub::Hub;
use super::route::{BEAT_EVERY, BEAT_TTL, Letter, Post, ServerId};
use crate::clock::SharedClock;
use crate::presence::Presence;
use mumu_shared::DeviceId;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What the router drives, and what it carries.
#[derive(Debug)]
pub struct Router {
    /// This server's hub: routed messages go into it, what it routes comes out on `routes`.
    pub hub: Arc<Hub>,
    /// Presence; the router runs only when it is shared (Redis).
    pub presence: Arc<Presence>,
    /// The clock.
    pub clock: SharedClock,
    /// This server's id.
    pub server_id: ServerId,
    /// What the hub routes to other servers.
    pub routes: mpsc::Receiver<Post>,
}

impl Router {
    /// Runs the router, when presence is shared (`None` otherwise: a lone server routes
    /// nothing). `cameras_offline` is called, and awaited, for each camera a dead server held.
    pub fn spawn<F, Fut>(mut self, cameras_offline: F) -> Option<JoinHandle<()>>
    where
        F: Fn(DeviceId) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let mut letters = self.presence.shared()?.take_letters()?;
        Some(tokio::spawn(async move {
            let mut beat = tokio::time::interval(BEAT_EVERY);
            beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut in_touch_since = None;
            loop {
                tokio::select! {
                    Some(post) = self.routes.recv() => self.send(post).await,
                    Some(letter) = letters.recv() => self.receive(letter),
                    _ = beat.tick() => {
                        self.hub.expire_pending(self.clock.now_ms());
                        let dead = self.watch_servers(&mut in_touch_since).await;
                        for device_id in dead {
                            cameras_offline(device_id).await;
                        }
                    }
                    else => break,
                }
            }
        }))
    }

    fn receive(&self, letter: Letter) {
        self.hub
            .receive(&letter.from, letter.routed, self.clock.now_ms());
    }

    async fn send(&self, post: Post) {
        let Some(redis) = self.presence.shared() else {
            return;
        };
        let letter = Letter {
            from: self.server_id.clone(),
            routed: post.routed.clone(),
        };
        if let Err(e) = redis.send_letter(&post.to, &letter).await {
            tracing::warn!(error = %e, to = %post.to, "could not route a message to another server");
            self.hub.route_failed(&post, self.clock.now_ms());
        }
    }

    /// Says this server is alive, then looks for servers that are not; returns the cameras
    /// the dead ones held.
    async fn watch_servers(&self, in_touch_since: &mut Option<Instant>) -> Vec<DeviceId> {
        let Some(redis) = self.presence.shared() else {
            return Vec::new();
        };
        let hub = &self.hub;
        if let Err(e) = redis.beat(&self.server_id, BEAT_TTL).await {
            if in_touch_since.take().is_some() {
                tracing::warn!(error = %e, "Redis does not answer: watches across servers wait for it");
            }
            return Vec::new();
        }
        // Cut off from Redis while the others were not, this server was taken for dead, and
        // they ended their halves of its sessions: its own halves end too, the same way. (When
        // Redis itself was down, nobody was taken for dead, and every session goes on.)
        if in_touch_since.is_none() && matches!(redis.was_reaped(&self.server_id).await, Ok(true)) {
            let now = self.clock.now_ms();
            let ended: usize = (hub.peer_servers().iter())
                .map(|peer| hub.server_gone(peer, now).len())
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
        // After an outage every server's word has lapsed, and none of them is dead for that:
        // judge others only once this server has been in touch for longer than a word lasts.
        if since.elapsed() < BEAT_TTL + BEAT_EVERY {
            return Vec::new();
        }
        let mut servers: HashSet<ServerId> = hub.peer_servers();
        match redis.known_servers().await {
            Ok(known) => servers.extend(known),
            Err(_) => return Vec::new(),
        }
        servers.remove(&self.server_id);
        let mut cameras = Vec::new();
        for server in servers {
            match redis.is_alive(&server).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(_) => break,
            }
            let ended = hub.server_gone(&server, self.clock.now_ms());
            let devices = match redis.reap(&server).await {
                Ok(devices) => devices,
                Err(e) => {
                    tracing::warn!(error = %e, %server, "could not take a dead server's cameras offline");
                    Vec::new()
                }
            };
            tracing::warn!(%server, sessions = ended.len(), cameras = devices.len(), "a server stopped answering: its sessions ended here, its cameras are offline until they reconnect");
            cameras.extend(devices);
        }
        cameras
    }
}
