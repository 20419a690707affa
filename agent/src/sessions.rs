//! The watch sessions this device serves: one [`ViewerBranch`] per session id, and the
//! translation between signaling messages and what the branches do and report.
//!
//! Everything here runs on the agent's async task; branches report through [`MediaEvent`]s.
//! A session ends exactly once: on `watch_ended` from the server, or by the device sending
//! `end_watch` (max viewers, a failure); either way its branch is detached.
//!
//! Every viewer's peer connection also carries the `history` data channel (when the agent was
//! given a [`History`]: the agent always is), served by a [`HistorySession`] with the grants the server
//! gave the session (and changes with `session_grants`); it ends with the session.

use crate::history::{History, HistorySession};
use crate::media::branch::{PeerOptions, ViewerBranch};
use crate::media::capture::Capture;
use crate::media::channel::ChannelHook;
use crate::media::consumer::{ConsumerId, ConsumerKind};
use crate::media::{MediaEvent, MediaEvents, ice_servers, sdp};
use mumu_shared::SessionId;
use mumu_shared::signaling::{
    DeviceEndWatch, DeviceToServer, DeviceWatchRequest, EndReason, IceTransportPolicy,
    ServerToDevice, SessionGrants, SessionIce, SessionSdp,
};
use std::collections::HashMap;
use std::sync::Arc;

/// The sessions being served, and the shared capture they hang off (whose owner decides how
/// long it runs, counting every consumer, not only these viewers).
pub struct Sessions {
    capture: Capture,
    branches: HashMap<SessionId, ViewerBranch>,
    events: MediaEvents,
    max_viewers: usize,
    /// The recordings and motion events: each session then gets a history channel.
    history: Option<History>,
    histories: HashMap<SessionId, Arc<HistorySession>>,
}

impl Sessions {
    /// No sessions yet; branches will report to `events`.
    pub fn new(capture: Capture, events: MediaEvents, max_viewers: usize) -> Self {
        Self {
            capture,
            branches: HashMap::new(),
            events,
            max_viewers,
            history: None,
            histories: HashMap::new(),
        }
    }

    /// Serves `history` on a data channel of every session from now on (`None`: no channel,
    /// the offer has the video alone).
    pub fn with_history(mut self, history: Option<History>) -> Self {
        self.history = history;
        self
    }

    /// The history side of `session`, while there is one.
    pub fn history_of(&self, session: &SessionId) -> Option<&Arc<HistorySession>> {
        self.histories.get(session)
    }

    /// How many viewers are being served.
    pub fn viewers(&self) -> usize {
        self.branches.len()
    }

    /// The shared capture.
    pub fn capture(&self) -> &Capture {
        &self.capture
    }

    /// Handles a session message from the server; returns what to answer.
    pub fn on_server_message(&mut self, message: ServerToDevice) -> Vec<DeviceToServer> {
        match message {
            ServerToDevice::WatchRequest(request) => self.start(request),
            ServerToDevice::SignalAnswer(SessionSdp {
                session_id,
                mut sdp,
            }) => {
                let Some(branch) = self.branches.get(&session_id) else {
                    tracing::warn!(session = %session_id, "answer for a session this device does not serve; ignored");
                    return vec![];
                };
                // Sound in a codec the camera does not send: applied as a refusal of the
                // sound, so that the picture goes on.
                if branch.audio_port().is_some()
                    && let Some(asked) = sdp::unsendable_audio(&sdp)
                {
                    tracing::warn!(session = %session_id, asked = %asked, "the viewer's answer asks for the sound as {asked}, which this camera does not send (it sends Opus)");
                    sdp = mumu_shared::sdp::refusing_audio(&sdp);
                }
                match branch.apply_answer(&sdp) {
                    Ok(()) => {
                        tracing::debug!(session = %session_id, "answer applied");
                        if branch.audio_port().is_some() && !sdp::takes_audio(&sdp) {
                            tracing::info!(session = %session_id, "the viewer declined the sound: picture only");
                            self.capture.detach(&ConsumerId::audio(&session_id));
                        }
                        vec![]
                    }
                    Err(e) => self.end(&session_id, EndReason::Failed, e.to_string()),
                }
            }
            ServerToDevice::SignalIce(SessionIce {
                session_id,
                candidate,
            }) => {
                match self.branches.get(&session_id) {
                    // A bad candidate costs the viewer that one path, not the session (as a
                    // browser's addIceCandidate would reject it).
                    Some(branch) => {
                        if let Err(e) = branch.add_remote_candidate(candidate.as_ref()) {
                            tracing::warn!(session = %session_id, error = %e, "ICE candidate refused");
                        }
                    }
                    None => {
                        tracing::warn!(session = %session_id, "ICE candidate for a session this device does not serve; ignored")
                    }
                }
                vec![]
            }
            ServerToDevice::SessionGrants(SessionGrants { session_id, grants }) => {
                tracing::info!(session = %session_id, recordings = grants.recordings, configure = grants.configure, "grants changed");
                if let Some(history) = self.histories.get(&session_id) {
                    history.set_grants(grants);
                }
                vec![]
            }
            ServerToDevice::WatchEnded(ended) => {
                tracing::info!(session = %ended.session_id, reason = ended.reason.as_str(), message = ?ended.message, "watch ended");
                self.release(&ended.session_id);
                vec![]
            }
            other => {
                tracing::debug!(kind = ?other, "not a session message");
                vec![]
            }
        }
    }

    /// Handles what a branch reported; returns what to tell the server.
    pub fn on_media_event(&mut self, event: MediaEvent) -> Vec<DeviceToServer> {
        match event {
            MediaEvent::Offer { session, sdp } if self.branches.contains_key(&session) => {
                tracing::info!(%session, "sending offer");
                vec![DeviceToServer::SignalOffer(SessionSdp {
                    session_id: session,
                    sdp,
                })]
            }
            MediaEvent::IceCandidate { session, candidate }
                if self.branches.contains_key(&session) =>
            {
                vec![DeviceToServer::SignalIce(SessionIce {
                    session_id: session,
                    candidate,
                })]
            }
            MediaEvent::BranchFailed { consumer, reason } => match consumer.session() {
                Some(session) if self.branches.contains_key(&session) => {
                    self.end(&session, EndReason::Failed, reason)
                }
                // Another consumer's branch: its owner removed it and said so; the viewers go on.
                _ => vec![],
            },
            MediaEvent::CaptureFailed { reason } => {
                // The caller decides what to do with the pipeline; every viewer is gone with it.
                tracing::error!(%reason, "capture pipeline failed");
                self.end_all(EndReason::Failed, &reason)
            }
            stale => {
                tracing::debug!(?stale, "event from a session that is already over");
                vec![]
            }
        }
    }

    /// Tears down every session (the socket is gone, or the agent stops): the server has ended
    /// them already, or will when it notices.
    pub fn release_all(&mut self) {
        let sessions: Vec<_> = self.branches.keys().cloned().collect();
        for session in sessions {
            self.release(&session);
        }
    }

    /// Ends every session with `reason`, telling the server.
    pub fn end_all(&mut self, reason: EndReason, message: &str) -> Vec<DeviceToServer> {
        let sessions: Vec<_> = self.branches.keys().cloned().collect();
        sessions
            .iter()
            .flat_map(|s| self.end(s, reason, message.to_owned()))
            .collect()
    }

    fn start(&mut self, request: DeviceWatchRequest) -> Vec<DeviceToServer> {
        let session = request.session_id;
        if self.branches.contains_key(&session) {
            tracing::warn!(%session, "watch_request for a session already served; ignored");
            return vec![];
        }
        if self.branches.len() >= self.max_viewers {
            tracing::warn!(%session, max = self.max_viewers, "refusing a viewer: at the maximum");
            return vec![end_watch(
                session,
                EndReason::MaxViewers,
                format!("this camera serves at most {} viewers", self.max_viewers),
            )];
        }
        let history = self.history.clone().map(|history| {
            Arc::new(HistorySession::new(
                session.clone(),
                history,
                request.grants,
            ))
        });
        let options = PeerOptions {
            ice_servers: ice_servers::for_webrtcbin(&request.ice_servers),
            relay_only: request.ice_transport_policy == IceTransportPolicy::Relay,
            data_channel: history.as_ref().map(|history| {
                let history = Arc::downgrade(history);
                ChannelHook {
                    label: mumu_shared::history::CHANNEL_LABEL.to_owned(),
                    made: Arc::new(move |channel| {
                        if let Some(history) = history.upgrade() {
                            history.serve(channel);
                        }
                    }),
                }
            }),
        };
        tracing::info!(%session, viewer = %request.viewer, relay_only = options.relay_only, "viewer joining");
        match self
            .capture
            .attach_viewer(session.clone(), &options, self.events.clone())
        {
            Ok(branch) => {
                self.branches.insert(session.clone(), branch);
                if let Some(history) = history {
                    self.histories.insert(session.clone(), history);
                }
                tracing::info!(
                    %session,
                    viewers = self.branches.len(),
                    elements = self.capture.element_count(),
                    encoders = self.capture.encoder_count(),
                    audio_encoders = self.capture.audio_encoder_count(),
                    sound = self.capture.count(ConsumerKind::Audio),
                    "viewer branch attached"
                );
                vec![]
            }
            Err(e) => {
                tracing::error!(%session, error = %e, "could not start a viewer branch");
                vec![end_watch(session, EndReason::Failed, e.to_string())]
            }
        }
    }

    /// Ends one session from the device's side.
    fn end(
        &mut self,
        session: &SessionId,
        reason: EndReason,
        message: String,
    ) -> Vec<DeviceToServer> {
        tracing::warn!(%session, reason = reason.as_str(), %message, "ending session");
        self.release(session);
        vec![end_watch(session.clone(), reason, message)]
    }

    fn release(&mut self, session: &SessionId) {
        if let Some(history) = self.histories.remove(session) {
            history.close();
        }
        if let Some(branch) = self.branches.remove(session) {
            // The owner detaches it (and starts its idle clock if it was the last consumer);
            // a branch it removed already, on a failure, is detached here all the same.
            self.capture.detach(&ConsumerId::viewer(session));
            branch.detach();
        }
    }
}

impl Drop for Sessions {
    fn drop(&mut self) {
        self.release_all();
    }
}

fn end_watch(session_id: SessionId, reason: EndReason, message: String) -> DeviceToServer {
    DeviceToServer::EndWatch(DeviceEndWatch {
        session_id,
        reason,
        message: Some(message),
    })
}
