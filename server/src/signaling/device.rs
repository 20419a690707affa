//! The device side of signaling: a camera proves itself with its secret, stays present through
//! heartbeats, reports its status and its motion events (stored, and notified once, here: this
//! server holds its socket), and offers video to the sessions the hub gives it.

use super::hub::{ConnId, Outbox};
use super::socket::{Link, Peer, Step, already_hello, hello_required, unsupported_protocol};
use crate::error::{Error, Result};
use crate::notify::EventNotification;
use crate::state::{AppState, SharedState};
use mumu_shared::api::DeviceStatus;
use mumu_shared::signaling::{
    DeviceHelloAck, DevicePresence, DeviceToServer, Heartbeat, ServerToDevice, ServerToViewer,
};
use mumu_shared::{DeviceId, Envelope, PROTOCOL_VERSION, UnixMillis, UserId, validate};

/// The longest reason a device may give the viewer for ending a watch.
const MAX_END_MESSAGE: usize = 200;

/// How often a heartbeat also refreshes `last_seen` in the database.
const LAST_SEEN_EVERY_MS: i64 = 5 * 60 * 1000;

struct Attached {
    device_id: DeviceId,
    conn: ConnId,
    /// This socket's name across servers, `server/conn`.
    key: String,
    name: String,
    /// Who may watch: told of presence changes.
    users: Vec<UserId>,
    last_seen_written: UnixMillis,
    /// What it last reported.
    status: Option<DeviceStatus>,
}

impl Attached {
    /// Online, as viewers see it now.
    fn presence(&self, now: UnixMillis) -> DevicePresence {
        DevicePresence {
            device_id: self.device_id.clone(),
            name: self.name.clone(),
            online: true,
            last_seen: Some(now),
            status: self.status.clone(),
        }
    }
}

/// Redis lost the device's entry while its socket stayed (restarted, or out of reach longer
/// than the entry lives), and the heartbeat claimed it again: the status and the dashboards'
/// word that it is online come back with it.
async fn restore_presence(s: &AppState, me: &Attached, now: UnixMillis) {
    tracing::info!(device_id = %me.device_id, "presence restored: Redis had lost the device's entry");
    if let Some(status) = &me.status
        && let Err(e) = s.presence.set_status(&me.device_id, &me.key, status).await
    {
        tracing::warn!(device_id = %me.device_id, error = %e, "could not restore the device's status");
    }
    if let Err(e) = s.devices.announce(me.users.clone(), me.presence(now)).await {
        tracing::warn!(device_id = %me.device_id, error = %e, "could not announce the device online");
    }
}

/// A device socket.
pub struct DevicePeer {
    state: SharedState,
    outbox: Outbox<ServerToDevice>,
    attached: Option<Attached>,
}

impl DevicePeer {
    /// A device socket that has not said hello.
    pub fn new(state: SharedState, outbox: Outbox<ServerToDevice>) -> Self {
        Self {
            state,
            outbox,
            attached: None,
        }
    }

    async fn hello(
        &mut self,
        hello: mumu_shared::signaling::DeviceHello,
        link: &mut Link<'_, ServerToDevice>,
    ) -> Result<Step> {
        if let Some(refusal) = unsupported_protocol(hello.protocol) {
            return Ok(Step::Close(refusal));
        }
        let s = &self.state;
        let row = match s
            .devices
            .verify_secret(&hello.device_id, &hello.device_secret)
            .await
        {
            Ok(row) => row,
            Err(e @ Error::Client { .. }) => {
                tracing::info!(device_id = %hello.device_id, "device hello refused: wrong id or secret");
                return Ok(Step::Close(e.to_body()));
            }
            Err(e) => return Err(e),
        };
        let device_id = hello.device_id;
        let (conn, _) = s.hub.attach_device(
            &device_id,
            self.outbox.clone(),
            row.owner_id.is_some(),
            s.clock.now_ms(),
        );
        let key = format!("{}/{conn}", s.server_id);
        // Without Redis the camera still serves viewers on this server, and its heartbeats
        // claim its presence again once Redis answers.
        match s.presence.set_online(&device_id, &key).await {
            Ok(()) if s.presence.shared().is_some() => {
                if let Err(e) = s.devices.attached(&device_id, &s.server_id).await {
                    tracing::warn!(%device_id, error = %e, "could not tell other servers the device moved here");
                }
            }
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(%device_id, error = %e, "could not record the device online; its heartbeats will")
            }
        }
        let now = s
            .devices
            .touch(&device_id, hello.agent_version.as_deref())
            .await?;
        let users = s.devices.access_users(&device_id).await?;
        s.metrics
            .device_sockets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let me = Attached {
            device_id: device_id.clone(),
            conn,
            key,
            name: row.name,
            users,
            last_seen_written: now,
            status: None,
        };
        tracing::info!(%device_id, conn, "device connected");
        if let Err(e) = s.devices.announce(me.users.clone(), me.presence(now)).await {
            tracing::warn!(%device_id, error = %e, "could not announce the device online");
        }
        self.attached = Some(me);
        link.reply(ServerToDevice::HelloAck(DeviceHelloAck {
            protocol: PROTOCOL_VERSION,
            device_id,
            paired: row.owner_id.is_some(),
            heartbeat_interval_ms: s.config.signaling.heartbeat().as_millis() as u64,
        }))
        .await;
        Ok(Step::Continue)
    }
}

impl Peer for DevicePeer {
    type In = DeviceToServer;
    type Out = ServerToDevice;

    fn greeted(&self) -> bool {
        self.attached.is_some()
    }

    async fn on_message(
        &mut self,
        envelope: Envelope<DeviceToServer>,
        link: &mut Link<'_, ServerToDevice>,
    ) -> Result<Step> {
        let Some(me) = self.attached.as_mut() else {
            return match envelope.message {
                DeviceToServer::Hello(hello) => self.hello(hello, link).await,
                other => Err(hello_required(&other)),
            };
        };
        let s = &self.state;
        let now = s.clock.now_ms();
        match envelope.message {
            DeviceToServer::Hello(_) => return Err(already_hello()),
            DeviceToServer::Heartbeat(Heartbeat {}) => {
                // The socket is alive whatever Redis says: it keeps its ack.
                match s.presence.refresh(&me.device_id, &me.key).await {
                    Ok(false) => {}
                    Ok(true) => restore_presence(s, me, now).await,
                    Err(e) => {
                        tracing::warn!(device_id = %me.device_id, error = %e, "could not refresh the device's presence")
                    }
                }
                if now - me.last_seen_written >= LAST_SEEN_EVERY_MS {
                    me.last_seen_written = s.devices.touch(&me.device_id, None).await?;
                }
                link.reply(ServerToDevice::HeartbeatAck(Heartbeat {})).await;
            }
            DeviceToServer::SignalOffer(offer) => {
                let session = offer.session_id.clone();
                s.hub
                    .to_viewer(me.conn, &session, ServerToViewer::SignalOffer(offer), now)?;
            }
            DeviceToServer::SignalIce(ice) => {
                let session = ice.session_id.clone();
                s.hub
                    .to_viewer(me.conn, &session, ServerToViewer::SignalIce(ice), now)?;
            }
            DeviceToServer::EndWatch(end) => {
                // The viewer sees the device's words: short and clean, however they came.
                let message = end
                    .message
                    .map(|m| validate::clean_label(&m, MAX_END_MESSAGE));
                s.hub
                    .end(me.conn, &end.session_id, end.reason, message, now)?;
            }
            DeviceToServer::DevicePresence(status) => {
                validate::device_status(&status).map_err(Error::validation)?;
                me.status = Some(status.clone());
                s.presence
                    .set_status(&me.device_id, &me.key, &status)
                    .await?;
                s.devices
                    .announce(me.users.clone(), me.presence(now))
                    .await?;
            }
            DeviceToServer::MotionEvent(event) => {
                let recorded = s.events.record(&me.device_id, &event).await?;
                // Only the message that made the event's row notifies: its end, a repeat, or
                // the same event through another server after a reconnect does not.
                if recorded.new {
                    let notification = EventNotification {
                        device_id: me.device_id.clone(),
                        device_name: recorded.device_name,
                        start: event.start,
                        end: event.end,
                        zones: event.zones,
                        peak_score: event.peak_score,
                    };
                    let state = self.state.clone();
                    // Off the socket's loop: the camera's next messages need not wait for it.
                    tokio::spawn(async move {
                        let device_id = notification.device_id.clone();
                        if let Err(e) = state.notify.new_event(notification).await {
                            tracing::warn!(%device_id, error = %e, "could not notify of an event");
                        }
                    });
                }
            }
        }
        Ok(Step::Continue)
    }

    async fn on_refresh(&mut self) {
        let Some(me) = self.attached.as_mut() else {
            return;
        };
        match self.state.devices.audience(&me.device_id).await {
            Ok(Some((name, users))) => {
                me.name = name;
                me.users = users;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(device_id = %me.device_id, error = %e, "could not reload who may watch")
            }
        }
    }

    async fn on_close(&mut self) {
        let Some(me) = self.attached.take() else {
            return;
        };
        let s = &self.state;
        s.metrics
            .device_sockets
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        s.hub.detach(me.conn, s.clock.now_ms());
        tracing::info!(device_id = %me.device_id, conn = me.conn, "device disconnected");
        // A newer socket of the same device may hold presence now: then nothing changed.
        let went_offline = s.presence.set_offline(&me.device_id, &me.key).await;
        if !matches!(went_offline, Ok(true)) {
            if let Err(e) = went_offline {
                tracing::warn!(device_id = %me.device_id, error = %e, "could not mark the device offline");
            }
            return;
        }
        announce_offline(s, &me.device_id).await;
    }
}

/// Tells who may watch `device_id` that it went offline. Read afresh, not from a cache: a
/// removed device has nobody left to tell (its guests already heard it is gone), and a share
/// taken back meanwhile must not hear.
pub async fn announce_offline(s: &AppState, device_id: &DeviceId) {
    let (name, users) = match s.devices.audience(device_id).await {
        Ok(Some((name, users))) if !users.is_empty() => (name, users),
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(%device_id, error = %e, "could not read who may watch");
            return;
        }
    };
    let last_seen = s.devices.touch(device_id, None).await.ok();
    let presence = DevicePresence {
        device_id: device_id.clone(),
        name,
        online: false,
        last_seen,
        status: None,
    };
    if let Err(e) = s.devices.announce(users, presence).await {
        tracing::warn!(%device_id, error = %e, "could not announce the device offline");
    }
}
