//! The viewer side of signaling: a person (browser or probe) authenticates, hears the presence
//! of their devices, and opens watch sessions, answering each device's offer.

use super::admission::Admission;
use super::hub::{ConnId, OpenRequest, Outbox};
use super::socket::{Link, Peer, Step, already_hello, hello_required, unsupported_protocol};
use crate::auth::AuthedUser;
use crate::error::{Error, Result};
use crate::state::SharedState;
use mumu_shared::signaling::{
    DeviceWatchRequest, EndReason, Grants, Heartbeat, ServerToDevice, ServerToViewer,
    ViewerHelloAck, ViewerToServer, ViewerWatchRequest, WatchReady,
};
use mumu_shared::{Envelope, ErrorBody, ErrorCode, PROTOCOL_VERSION, SessionId};

/// A viewer socket.
pub struct ViewerPeer {
    state: SharedState,
    outbox: Outbox<ServerToViewer>,
    /// Who opened the socket, when a cookie or header said so.
    upgraded_as: Option<AuthedUser>,
    attached: Option<(AuthedUser, ConnId)>,
}

impl ViewerPeer {
    /// A viewer socket; `user` is known when the upgrade request carried credentials.
    pub fn new(
        state: SharedState,
        outbox: Outbox<ServerToViewer>,
        user: Option<AuthedUser>,
    ) -> Self {
        Self {
            state,
            outbox,
            upgraded_as: user,
            attached: None,
        }
    }

    async fn hello(
        &mut self,
        hello: mumu_shared::signaling::ViewerHello,
        link: &mut Link<'_, ServerToViewer>,
    ) -> Result<Step> {
        if let Some(refusal) = unsupported_protocol(hello.protocol) {
            return Ok(Step::Close(refusal));
        }
        let s = &self.state;
        let user = match (hello.token, self.upgraded_as.take()) {
            (Some(token), _) => match s.auth.authenticate(&token).await {
                Ok(user) => user,
                Err(e @ Error::Client { .. }) => return Ok(Step::Close(e.to_body())),
                Err(e) => return Err(e),
            },
            (None, Some(user)) => user,
            (None, None) => {
                return Ok(Step::Close(ErrorBody::new(
                    ErrorCode::Unauthorized,
                    "log in first: send the access token in hello, a cookie or an Authorization header",
                )));
            }
        };
        // Attach before reading the snapshot: a change made meanwhile is then queued behind
        // hello_ack instead of being lost between the two.
        let attached = s.hub.attach_viewer(
            user.id(),
            &user.session_id,
            self.outbox.clone(),
            s.config.signaling.max_sockets_per_user,
        );
        let conn = match attached {
            Ok(conn) => conn,
            Err(e) => return Ok(Step::Close(e.to_body())),
        };
        let devices = match s.devices.presence_of_all(user.id()).await {
            Ok(devices) => devices,
            Err(e) => {
                s.hub.detach(conn, s.clock.now_ms());
                return Err(e);
            }
        };
        s.metrics
            .viewer_sockets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(user_id = %user.id(), conn, "viewer connected");
        link.reply(ServerToViewer::HelloAck(ViewerHelloAck {
            protocol: PROTOCOL_VERSION,
            user: user.user.clone(),
            devices,
            heartbeat_interval_ms: s.config.signaling.heartbeat().as_millis() as u64,
        }))
        .await;
        self.attached = Some((user, conn));
        Ok(Step::Continue)
    }
}

impl ViewerPeer {
    /// Tells the camera the grants of this user's sessions on `device_id` if they are no longer
    /// `read` (the owner edited the share while a watch was opening). A share removed meanwhile
    /// is left to the removal's own notice, which ends the sessions.
    async fn grants_since_read(&self, device_id: &mumu_shared::DeviceId, read: Grants) {
        let (Some((user, _)), s) = (self.attached.as_ref(), &self.state) else {
            return;
        };
        match s.devices.access(user.id(), device_id).await {
            Ok((_, now_granted)) if now_granted != read => {
                s.hub
                    .grants_changed(user.id(), device_id, now_granted, s.clock.now_ms());
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, %device_id, "grants not read again"),
        }
    }
}

impl Peer for ViewerPeer {
    type In = ViewerToServer;
    type Out = ServerToViewer;

    fn greeted(&self) -> bool {
        self.attached.is_some()
    }

    async fn on_message(
        &mut self,
        envelope: Envelope<ViewerToServer>,
        link: &mut Link<'_, ServerToViewer>,
    ) -> Result<Step> {
        let Some((user, conn)) = self.attached.as_ref() else {
            return match envelope.message {
                ViewerToServer::Hello(hello) => self.hello(hello, link).await,
                other => Err(hello_required(&other)),
            };
        };
        let (conn, s) = (*conn, &self.state);
        let now = s.clock.now_ms();
        match envelope.message {
            ViewerToServer::Hello(_) => return Err(already_hello()),
            ViewerToServer::Heartbeat(Heartbeat {}) => {
                link.reply(ServerToViewer::HeartbeatAck(Heartbeat {})).await
            }
            ViewerToServer::WatchRequest(request) => {
                let ViewerWatchRequest { device_id, renews } = request;
                let (role, grants) = s.devices.access(user.id(), &device_id).await?;
                s.sessions.admit(user.id(), now).await?;
                let session_id = SessionId(uuid::Uuid::new_v4().to_string());
                let policy = s.config.turn.ice_transport_policy.into();
                // TURN usernames name the user the relay works for, so coturn's log of each
                // allocation says whose it is.
                let subject = |side: &str| format!("{}:{session_id}:{side}", user.id());
                let to_device = DeviceWatchRequest {
                    session_id: session_id.clone(),
                    viewer: user.user.username.clone(),
                    ice_servers: s.turn.ice_servers(&subject("device"), now),
                    ice_transport_policy: policy,
                    grants,
                };
                let to_viewer = WatchReady {
                    session_id: session_id.clone(),
                    device_id: device_id.clone(),
                    ice_servers: s.turn.ice_servers(&subject("viewer"), now),
                    ice_transport_policy: policy,
                    ice_credentials_ttl_ms: s.turn.credentials_ttl_ms(),
                };
                let admission =
                    Admission::for_role(role, s.config.signaling.max_sessions_per_device);
                let request = OpenRequest {
                    viewer_conn: conn,
                    user_id: user.id().clone(),
                    to_device,
                    to_viewer,
                    request_id: envelope.request_id,
                    admission,
                    renews: renews.clone(),
                };
                // A device held by another server is watched through it.
                let holder = if s.hub.device_attached(&device_id) {
                    None
                } else {
                    s.presence.holder(&device_id).await.map_err(|e| {
                        tracing::warn!(error = %e, "could not look up which server holds a camera");
                        Error::client(
                            ErrorCode::Unavailable,
                            "the server cannot reach the others right now to find the camera; try again shortly",
                        )
                    })?
                };
                match holder.filter(|server| *server != s.server_id) {
                    Some(server) => s.hub.open_remote(request, &server, now)?,
                    None => s.hub.open(request, now)?,
                }
                // The share may have changed between the read above and the session entering
                // the hub, where the change's notice looks for it: read again now it is there.
                self.grants_since_read(&device_id, grants).await;
                match renews {
                    Some(old) => {
                        tracing::info!(%session_id, %device_id, user_id = %user.id(), renews = %old, "watch renewed (fresh TURN credentials)")
                    }
                    None => {
                        tracing::info!(%session_id, %device_id, user_id = %user.id(), "watch started")
                    }
                }
            }
            ViewerToServer::SignalAnswer(answer) => {
                let session = answer.session_id.clone();
                s.hub
                    .to_device(conn, &session, ServerToDevice::SignalAnswer(answer), now)?;
            }
            ViewerToServer::SignalIce(ice) => {
                let session = ice.session_id.clone();
                s.hub
                    .to_device(conn, &session, ServerToDevice::SignalIce(ice), now)?;
            }
            ViewerToServer::EndWatch(end) => {
                s.hub
                    .end(conn, &end.session_id, EndReason::ViewerLeft, None, now)?;
            }
        }
        Ok(Step::Continue)
    }

    async fn on_refresh(&mut self) {}

    async fn on_close(&mut self) {
        let Some((user, conn)) = self.attached.take() else {
            return;
        };
        let s = &self.state;
        s.metrics
            .viewer_sockets
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        s.hub.detach(conn, s.clock.now_ms());
        tracing::debug!(user_id = %user.id(), conn, "viewer disconnected");
    }
}
