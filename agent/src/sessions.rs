//! The watch sessions this device serves: one [`ViewerBranch`] per session id, and the
//! translation between signaling messages and what the branches do and report.
//!
//! Everything here runs on the agent's async task; branches report through [`MediaEvent`]s.
//! A session ends exactly once: on `watch_ended` from the server, or by the device sending
//! `end_watch` (max viewers, a failure); either way its branch is detached.

use crate::media::branch::{PeerOptions, ViewerBranch};
use crate::media::capture::Capture;
use crate::media::{MediaEvent, MediaEvents, ice_servers};
use mumu_shared::SessionId;
use mumu_shared::signaling::{
    DeviceEndWatch, DeviceToServer, DeviceWatchRequest, EndReason, IceTransportPolicy,
    ServerToDevice, SessionIce, SessionSdp,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The sessions being served, and the shared pipeline they hang off.
pub struct Sessions {
    capture: Capture,
    branches: HashMap<SessionId, ViewerBranch>,
    events: MediaEvents,
    max_viewers: usize,
    /// Stop the pipeline after this long without viewers; `None`: never.
    idle_stop: Option<Duration>,
    /// Since when nobody has watched (while the pipeline runs).
    idle_since: Option<Instant>,
}

impl Sessions {
    /// No sessions yet; branches will report to `events`.
    pub fn new(capture: Capture, events: MediaEvents, max_viewers: usize) -> Self {
        Self {
            capture,
            branches: HashMap::new(),
            events,
            max_viewers,
            idle_stop: None,
            idle_since: Some(Instant::now()),
        }
    }

    /// Stops the pipeline when nobody has watched for `after` (`None`: never).
    pub fn with_idle_stop(mut self, after: Option<Duration>) -> Self {
        self.idle_stop = after;
        self
    }

    /// When the pipeline is due to stop for want of viewers, if it is.
    pub fn idle_deadline(&self) -> Option<Instant> {
        Some(self.idle_since? + self.idle_stop?)
    }

    /// Stops the pipeline if nobody has watched for the idle time; true if it stopped.
    pub fn stop_if_idle(&mut self, now: Instant) -> bool {
        let due = self.idle_deadline().is_some_and(|at| now >= at);
        if due && self.branches.is_empty() {
            self.idle_since = None;
            let after = self.idle_stop.unwrap_or_default();
            self.capture
                .stop(&format!("nobody watched for {} s", after.as_secs_f32()));
            return true;
        }
        false
    }

    /// How many viewers are being served.
    pub fn viewers(&self) -> usize {
        self.branches.len()
    }

    /// The shared pipeline.
    pub fn capture(&self) -> &Capture {
        &self.capture
    }

    /// Handles a session message from the server; returns what to answer.
    pub fn on_server_message(&mut self, message: ServerToDevice) -> Vec<DeviceToServer> {
        match message {
            ServerToDevice::WatchRequest(request) => self.start(request),
            ServerToDevice::SignalAnswer(SessionSdp { session_id, sdp }) => {
                let Some(branch) = self.branches.get(&session_id) else {
                    tracing::warn!(session = %session_id, "answer for a session this device does not serve; ignored");
                    return vec![];
                };
                match branch.apply_answer(&sdp) {
                    Ok(()) => {
                        tracing::debug!(session = %session_id, "answer applied");
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
            MediaEvent::BranchFailed { session, reason }
                if self.branches.contains_key(&session) =>
            {
                self.end(&session, EndReason::Failed, reason)
            }
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
        for (_, branch) in self.branches.drain() {
            branch.detach();
        }
        self.note_if_idle();
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
        if let Err(e) = self.capture.resume() {
            tracing::error!(%session, error = %e, "could not start the capture pipeline again");
            return vec![end_watch(session, EndReason::Failed, e.to_string())];
        }
        let options = PeerOptions {
            ice_servers: ice_servers::for_webrtcbin(&request.ice_servers),
            relay_only: request.ice_transport_policy == IceTransportPolicy::Relay,
        };
        tracing::info!(%session, viewer = %request.viewer, relay_only = options.relay_only, "viewer joining");
        match self
            .capture
            .attach_viewer(session.clone(), &options, self.events.clone())
        {
            Ok(branch) => {
                self.branches.insert(session.clone(), branch);
                self.idle_since = None;
                tracing::info!(
                    %session,
                    viewers = self.branches.len(),
                    elements = self.capture.element_count(),
                    encoders = self.capture.encoder_count(),
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
        if let Some(branch) = self.branches.remove(session) {
            branch.detach();
        }
        self.note_if_idle();
    }

    /// Starts the idle clock when the last viewer has gone.
    fn note_if_idle(&mut self) {
        if self.branches.is_empty() && self.idle_since.is_none() && self.capture.is_running() {
            self.idle_since = Some(Instant::now());
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
