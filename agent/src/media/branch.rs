//! One viewer: a bin `rtph264pay ! webrtcbin` hanging off the capture pipeline's tee, keyed by
//! the watch session it serves. When the camera has sound, webrtcbin has a second send-only
//! transceiver, offered in the same SDP, whose sink the bin exposes as `audio_sink`: the
//! viewer's [`super::audio_branch::AudioBranch`], a consumer of its own, feeds it from the
//! sound's tee.
//!
//! The bin has no queue, and so no thread, of its own: the tee's thread payloads and encrypts
//! for each viewer in turn, which costs less than waking a thread per viewer for every frame.
//! Nothing downstream of the payloader waits on the network (webrtcbin's DTLS encoder hands
//! packets to a thread of its own, and libnice sends without blocking, dropping what the socket
//! cannot take), so a slow or vanished viewer cannot hold up the others; the benchmark checks
//! that none stalls while one leaves.
//!
//! The order of things matters, and each step is here for a reason:
//! - The bin is linked to the tee under a blocking probe and unblocked only once it has reached
//!   the pipeline's state, so no buffer meets an element that is not ready.
//! - The offer is made as soon as the bin runs, from caps known in advance (the transceiver's
//!   codec preferences: payload type, SSRC, profile), not from the first frame's caps, which
//!   would keep it waiting for the encoder's next frame. Every viewer's DTLS uses the agent's
//!   one ECDSA certificate (see [`super::dtls`]).
//! - No frame reaches the payloader until the peer connection (ICE *and* DTLS) is up. Before
//!   that webrtcbin holds some of what it gets (it reached the viewer as a burst of stale frames
//!   after connecting) and drops the rest (a keyframe requested at ICE-connected was sometimes
//!   lost, leaving the viewer waiting for the next periodic one).
//! - The encoder is asked for a keyframe as soon as the branch runs, past the keyframe throttle
//!   (see [`super::keyframes`]), and that keyframe is the first frame the viewer gets: the gate
//!   (see [`super::gate`]) holds it, and the frames after it, until the peer connection is up,
//!   and sends them then, from a thread of their own under the payloader's stream lock (so the
//!   tee's next frame waits behind them). Frames before it are dropped: a viewer given one
//!   cannot decode it and asks for a keyframe (Chromium's PLI), and that request, throttled
//!   behind the first, cost the next watch up to a quarter of a second. A hold that grew stale
//!   while the connection came up is let go. As the connection comes up a second keyframe is
//!   asked for, in case the viewer had no SRTP keys yet for the held one (see `open_gate`).
//! - The bin's sink is a fuse (see [`super::fuse`]): whatever fails in the branch, the tee and
//!   the other consumers do not hear of it; the capture's owner removes the branch.
//! - Leaving, the branch is unlinked from an idle tee pad (so the other viewers never see a
//!   half-pushed buffer), and the tee pad is released and the bin removed in `call_async`, off
//!   the streaming threads. The bin stops (`Null`) only once its ICE candidate gathering is
//!   over: see [`stop_once_gathered`].
//!
//! GStreamer signal closures hold only weak references to the branch; the session table owns it.

use super::channel::{ChannelHook, DataChannel};
use super::consumer::{Branch, ConsumerId};
use super::gate::{Connected, Gate, Verdict};
use super::ice_servers::{self, WebrtcbinIceServers};
use super::sdp::{candidate_line, mids_of, with_msid_lines};
use super::{MediaError, MediaEvent, MediaEvents, caps, dtls, fuse, keyframes, make, tee_link};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_webrtc as gst_webrtc;
use mumu_shared::SessionId;
use mumu_shared::signaling::IceCandidate;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

/// Candidates kept for a viewer that has not answered yet: a real viewer has a handful; more
/// than this is a misbehaving one, and the queue must not grow without end.
const MAX_PENDING_CANDIDATES: usize = 64;

/// How a branch's peer connection finds its way to the viewer.
#[derive(Clone, Debug, Default)]
pub struct PeerOptions {
    /// STUN/TURN servers, in webrtcbin's form.
    pub ice_servers: WebrtcbinIceServers,
    /// Relayed candidates only.
    pub relay_only: bool,
    /// A data channel to make before the offer (the `history` channel while recording), and
    /// who takes it; `None`: the offer has the video alone.
    pub data_channel: Option<ChannelHook>,
}

/// Where a viewer's sound goes in: the bin's `audio_sink` pad, the SSRC the offer names, and
/// whether the peer connection is up (no sound is sent before, as no frame is).
#[derive(Clone, Debug)]
pub struct AudioPort {
    /// The viewer bin's ghost pad onto webrtcbin's audio sink.
    pub pad: gst::GhostPad,
    /// The SSRC the offer names for the sound.
    pub ssrc: u32,
    /// Set once the peer connection (ICE and DTLS) is up.
    pub connected: Arc<AtomicBool>,
}

/// One viewer's branch. Cloning shares it.
#[derive(Clone, Debug)]
pub struct ViewerBranch(Arc<Inner>);

/// What GStreamer closures hold.
#[derive(Clone, Debug)]
struct WeakBranch(Weak<Inner>);

impl WeakBranch {
    fn upgrade(&self) -> Option<ViewerBranch> {
        self.0.upgrade().map(ViewerBranch)
    }
}

#[derive(Debug)]
struct Inner {
    session: SessionId,
    pipeline: gst::Pipeline,
    bin: gst::Bin,
    webrtcbin: gst::Element,
    events: MediaEvents,
    /// The data channel to make before the offer.
    data_channel: Option<ChannelHook>,
    /// The payloader's sink pad, where the gate sits.
    pay_sink: gst::Pad,
    /// The sound's way in, when the offer has sound.
    audio: Option<AudioPort>,
    /// What of the stream reaches the payloader: nothing until the peer connection is up, then
    /// frames from a keyframe on (see [`Gate`]).
    gate: Arc<Gate<gst::Buffer>>,
    state: Mutex<BranchState>,
    /// When the branch was made: the steps to the first frame are logged against it.
    attached: Instant,
}

#[derive(Debug, Default)]
struct BranchState {
    /// The tee pad feeding this branch, until it is released.
    tee_pad: Option<gst::Pad>,
    answer_applied: bool,
    /// Viewer candidates that arrived before its answer: (m-line index, candidate).
    pending_candidates: Vec<(u32, String)>,
    /// The `a=mid` of each m-line of the offer, in order.
    mids: Vec<String>,
    detached: bool,
}

impl ViewerBranch {
    /// Builds the branch for `session`, links it to the tee and starts it. The offer follows as
    /// a [`MediaEvent::Offer`] once caps reach webrtcbin. With `audio`, the offer has a sound
    /// transceiver too, fed through [`ViewerBranch::audio_port`].
    pub fn attach(
        pipeline: &gst::Pipeline,
        tee: &gst::Element,
        session: SessionId,
        options: &PeerOptions,
        audio: bool,
        events: MediaEvents,
    ) -> Result<Self, MediaError> {
        // Named after its consumer, so that a bus error names its session.
        let bin = gst::Bin::with_name(&ConsumerId::viewer(&session).bin_name());
        let pay = make("rtph264pay")?;
        // SPS and PPS before every IDR: a viewer can start at any keyframe.
        pay.set_property("config-interval", -1i32);
        pay.set_property_from_str("aggregate-mode", "zero-latency");
        // Chosen here rather than by the payloader, so that the offer can name it in advance.
        let ssrc = rand::random::<u32>();
        pay.set_property("pt", caps::PAYLOAD_TYPE);
        pay.set_property("ssrc", ssrc);
        let webrtcbin = gst::ElementFactory::make("webrtcbin")
            .name("webrtc")
            .property_from_str("bundle-policy", "max-bundle")
            .build()
            .map_err(|_| MediaError::MissingElement("webrtcbin".into()))?;
        dtls::use_agent_certificate(&webrtcbin);
        if let Some(stun) = &options.ice_servers.stun {
            webrtcbin.set_property("stun-server", stun);
        }
        if options.relay_only {
            webrtcbin.set_property_from_str("ice-transport-policy", "relay");
        }
        if !ice_servers::tune(&webrtcbin) {
            tracing::debug!(%session, "webrtcbin does not expose its NiceAgent: libnice left as it is");
        }
        for turn in &options.ice_servers.turn {
            if !webrtcbin.emit_by_name::<bool>("add-turn-server", &[turn]) {
                tracing::warn!(%session, "webrtcbin refused a TURN server URL");
            }
        }

        bin.add_many([&pay, &webrtcbin])
            .map_err(|e| MediaError::link("the viewer elements", e))?;
        let pay_src = pay
            .static_pad("src")
            .ok_or_else(|| MediaError::Gst("rtph264pay has no src pad".into()))?;
        caps::install_rewrite(&pay_src);
        let pay_sink = pay
            .static_pad("sink")
            .ok_or_else(|| MediaError::Gst("rtph264pay has no sink pad".into()))?;
        // The gate. Consumed means `Handled`, not `Drop`: with `Drop` GStreamer 1.22 unrefs a
        // NULL buffer behind gstreamer-rs. A held frame is a second reference to the buffer.
        let gate = Arc::new(Gate::default());
        let frame_gate = gate.clone();
        pay_sink.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let Some(buffer) = info.buffer() else {
                return gst::PadProbeReturn::Ok;
            };
            let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
            match frame_gate.frame(buffer.to_owned(), keyframe, Instant::now()) {
                Verdict::Pass => gst::PadProbeReturn::Ok,
                Verdict::Held | Verdict::Drop => gst::PadProbeReturn::Handled,
                Verdict::DropAndAskAgain => {
                    pad.push_event(keyframes::force_key_unit_event());
                    gst::PadProbeReturn::Handled
                }
            }
        });
        let rtc_sink = webrtcbin
            .request_pad_simple("sink_%u")
            .ok_or_else(|| MediaError::Gst("webrtcbin gave no sink pad".into()))?;
        pay_src
            .link(&rtc_sink)
            .map_err(|e| MediaError::link("rtph264pay to webrtcbin", e))?;
        let transceiver = rtc_sink.property::<gst_webrtc::WebRTCRTPTransceiver>("transceiver");
        transceiver.set_property(
            "direction",
            gst_webrtc::WebRTCRTPTransceiverDirection::Sendonly,
        );
        transceiver.set_property("codec-preferences", caps::offered(ssrc));
        let ghost = fuse::sink_pad(&pay_sink)?;
        bin.add_pad(&ghost)
            .map_err(|e| MediaError::link("the viewer bin's sink", e))?;
        // Requested before the offer is made, so that it has the sound's m-line.
        let audio = if audio {
            Some(audio_transceiver(&bin, &webrtcbin)?)
        } else {
            None
        };

        let branch = Self(Arc::new(Inner {
            session,
            pipeline: pipeline.clone(),
            bin,
            webrtcbin,
            events,
            data_channel: options.data_channel.clone(),
            pay_sink,
            audio,
            gate,
            state: Mutex::new(BranchState::default()),
            attached: Instant::now(),
        }));
        branch.connect_signals();
        branch.link_to_tee(tee, &ghost)?;
        Ok(branch)
    }

    /// The session this branch serves.
    pub fn session(&self) -> &SessionId {
        &self.0.session
    }

    /// Where the viewer's sound goes in, when its offer has sound.
    pub fn audio_port(&self) -> Option<&AudioPort> {
        self.0.audio.as_ref()
    }

    /// The bin, in the pipeline while the branch is attached.
    pub fn bin(&self) -> &gst::Bin {
        &self.0.bin
    }

    fn downgrade(&self) -> WeakBranch {
        WeakBranch(Arc::downgrade(&self.0))
    }

    fn state(&self) -> MutexGuard<'_, BranchState> {
        // A panic elsewhere while holding the lock leaves plain data behind; keep going.
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn connect_signals(&self) {
        let weak = self.downgrade();
        self.0
            .webrtcbin
            .connect("on-ice-candidate", false, move |values| {
                let branch = weak.upgrade()?;
                let mline = values.get(1).and_then(|v| v.get::<u32>().ok());
                let candidate = values.get(2).and_then(|v| v.get::<String>().ok());
                match (mline, candidate) {
                    (Some(mline), Some(candidate)) => branch.on_ice_candidate(mline, candidate),
                    _ => tracing::warn!(session = %branch.0.session, "malformed on-ice-candidate"),
                }
                None
            });

        let weak = self.downgrade();
        self.0
            .webrtcbin
            .connect_notify(Some("ice-gathering-state"), move |webrtcbin, _| {
                if let Some(branch) = weak.upgrade() {
                    let state = webrtcbin
                        .property::<gst_webrtc::WebRTCICEGatheringState>("ice-gathering-state");
                    branch.on_gathering_state(state);
                }
            });

        let weak = self.downgrade();
        self.0
            .webrtcbin
            .connect_notify(Some("ice-connection-state"), move |webrtcbin, _| {
                if let Some(branch) = weak.upgrade() {
                    let state = webrtcbin
                        .property::<gst_webrtc::WebRTCICEConnectionState>("ice-connection-state");
                    tracing::debug!(session = %branch.0.session, ?state, ms = branch.ms(), "ICE");
                }
            });

        let weak = self.downgrade();
        self.0
            .webrtcbin
            .connect_notify(Some("connection-state"), move |webrtcbin, _| {
                if let Some(branch) = weak.upgrade() {
                    let state = webrtcbin
                        .property::<gst_webrtc::WebRTCPeerConnectionState>("connection-state");
                    branch.on_connection_state(state);
                }
            });
    }

    /// Adds the bin to the pipeline and links it to a new tee pad, blocked until the bin runs;
    /// then makes the offer.
    fn link_to_tee(&self, tee: &gst::Element, sink: &gst::GhostPad) -> Result<(), MediaError> {
        let blocked = tee_link::link(&self.0.pipeline, tee, &self.0.bin, sink)?;
        self.state().tee_pad = Some(blocked.pad.clone());

        let weak = self.downgrade();
        self.0.bin.call_async(move |bin| {
            let synced = bin.sync_state_with_parent();
            blocked.release();
            let Some(branch) = weak.upgrade() else { return };
            match synced {
                Ok(_) => {
                    branch.ask_for_keyframe();
                    branch.report(branch.make_data_channel());
                    branch.report(branch.create_offer());
                }
                Err(e) => branch.fail(format!("the viewer bin did not start: {e}")),
            }
        });
        Ok(())
    }

    /// Makes the data channel asked for, if any, so that the offer has its `m=application`
    /// section: webrtcbin must be READY at least, and the offer not made yet.
    fn make_data_channel(&self) -> Result<(), MediaError> {
        let Some(hook) = &self.0.data_channel else {
            return Ok(());
        };
        let channel = DataChannel::create(&self.0.webrtcbin, &hook.label)?;
        tracing::debug!(session = %self.0.session, label = %hook.label, "data channel made");
        (hook.made)(channel);
        Ok(())
    }

    /// Asks webrtcbin for the offer, unless the viewer left meanwhile.
    fn create_offer(&self) -> Result<(), MediaError> {
        if self.state().detached {
            return Ok(());
        }
        tracing::debug!(session = %self.0.session, ms = self.ms(), "creating the offer");
        let weak = self.downgrade();
        let promise = gst::Promise::with_change_func(move |reply| {
            if let Some(branch) = weak.upgrade() {
                branch.report(branch.on_offer_created(reply));
            }
        });
        self.0
            .webrtcbin
            .emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, &promise]);
        Ok(())
    }

    fn on_offer_created(
        &self,
        reply: Result<Option<&gst::StructureRef>, gst::PromiseError>,
    ) -> Result<(), MediaError> {
        let reply = reply
            .map_err(|e| MediaError::Gst(format!("create-offer: {e:?}")))?
            .ok_or_else(|| MediaError::Gst("create-offer gave no reply".into()))?;
        if let Ok(error) = reply.get::<gst::glib::Error>("error") {
            return Err(MediaError::Gst(format!("create-offer: {error}")));
        }
        let mut offer = reply
            .get::<gst_webrtc::WebRTCSessionDescription>("offer")
            .map_err(|e| MediaError::Gst(format!("create-offer reply: {e}")))?;
        dtls::correct_fingerprint(offer.sdp_mut())?;
        let sdp = offer
            .sdp()
            .as_text()
            .map_err(|e| MediaError::Gst(format!("offer SDP: {e}")))?;
        // With the sound, the page must see one stream of two tracks (see `with_msid_lines`).
        let sdp = if self.0.audio.is_some() {
            with_msid_lines(&sdp)
        } else {
            sdp
        };
        self.state().mids = mids_of(&sdp);
        self.0
            .webrtcbin
            .emit_by_name::<()>("set-local-description", &[&offer, &None::<gst::Promise>]);
        tracing::debug!(session = %self.0.session, ms = self.ms(), "offer made");
        self.send(MediaEvent::Offer {
            session: self.0.session.clone(),
            sdp,
        });
        Ok(())
    }

    fn on_ice_candidate(&self, mline: u32, candidate: String) {
        let sdp_mid = self.state().mids.get(mline as usize).cloned();
        self.send(MediaEvent::IceCandidate {
            session: self.0.session.clone(),
            candidate: Some(IceCandidate {
                candidate,
                sdp_mid,
                sdp_m_line_index: u16::try_from(mline).ok(),
            }),
        });
    }

    fn on_gathering_state(&self, state: gst_webrtc::WebRTCICEGatheringState) {
        tracing::debug!(session = %self.0.session, ?state, "ICE gathering");
        if state == gst_webrtc::WebRTCICEGatheringState::Complete {
            self.send(MediaEvent::IceCandidate {
                session: self.0.session.clone(),
                candidate: None,
            });
        }
    }

    fn on_connection_state(&self, state: gst_webrtc::WebRTCPeerConnectionState) {
        tracing::info!(session = %self.0.session, ?state, ms = self.ms(), "peer connection");
        match state {
            gst_webrtc::WebRTCPeerConnectionState::Connected => {
                if let Some(audio) = &self.0.audio {
                    audio.connected.store(true, Ordering::Release);
                }
                if !ice_servers::quiet_after_connected(&self.0.webrtcbin) {
                    tracing::debug!(session = %self.0.session, "libnice has no idle-timeout: left as it is");
                }
                // Off webrtcbin's thread: the held frames go through webrtcbin.
                let weak = self.downgrade();
                self.0.bin.call_async(move |_| {
                    if let Some(branch) = weak.upgrade() {
                        branch.open_gate();
                    }
                });
            }
            gst_webrtc::WebRTCPeerConnectionState::Failed => {
                self.fail("the peer connection failed (ICE or DTLS)".into())
            }
            _ => {}
        }
    }

    /// Asks the encoder for a keyframe for this viewer (its own pass through the throttle: see
    /// [`keyframes`]), upstream from the payloader through the tee.
    fn ask_for_keyframe(&self) {
        tracing::debug!(session = %self.0.session, ms = self.ms(), "asking for a keyframe");
        self.0.pay_sink.push_event(keyframes::join_request_event());
    }

    /// The peer connection is up: sends what the gate held, and asks for a keyframe, whether
    /// it held one or nothing fresh. Under the payloader's stream lock, so the tee cannot push
    /// a newer frame in between.
    ///
    /// The second keyframe is for a held one that the viewer could not decrypt: the connection
    /// is up when the agent's side of DTLS is done, and the viewer's side (the DTLS client) can
    /// have its SRTP keys a moment later, so on a loaded machine the held keyframe sometimes
    /// arrived first, was dropped, and the picture stayed black until the periodic keyframe
    /// (2 s). The fresh one comes with the encoder's next frame or so. When the first keyframe
    /// has not come yet ([`Connected::Wait`]) it will come after the connection, so nothing more
    /// is asked for.
    fn open_gate(&self) {
        let held = {
            let _stream = self.0.pay_sink.stream_lock();
            match self.0.gate.connect(Instant::now()) {
                Connected::Release(frames) => {
                    let held = frames.len();
                    for frame in frames {
                        if let Err(e) = self.0.pay_sink.chain(frame) {
                            tracing::debug!(session = %self.0.session, ?e, "held frame not sent");
                            break;
                        }
                    }
                    Some(held)
                }
                Connected::AskForKeyframe => None,
                Connected::Wait => return,
            }
        };
        if let Some(held) = held {
            tracing::debug!(session = %self.0.session, held, ms = self.ms(), "held frames sent");
        }
        self.ask_for_keyframe();
    }

    /// Applies the viewer's answer, then the candidates that came before it.
    pub fn apply_answer(&self, sdp: &str) -> Result<(), MediaError> {
        let message = gstreamer_sdp::SDPMessage::parse_buffer(sdp.as_bytes()).map_err(|e| {
            MediaError::BadSdp {
                session: self.0.session.clone(),
                detail: e.to_string(),
            }
        })?;
        if message.medias_len() == 0 {
            return Err(MediaError::BadSdp {
                session: self.0.session.clone(),
                detail: "the answer has no media section".into(),
            });
        }
        let answer =
            gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Answer, message);
        let weak = self.downgrade();
        let promise = gst::Promise::with_change_func(move |reply| {
            let Some(branch) = weak.upgrade() else { return };
            if let Ok(Some(reply)) = reply
                && let Ok(error) = reply.get::<gst::glib::Error>("error")
            {
                branch.fail(format!("webrtcbin refused the answer: {error}"));
            }
        });
        self.0
            .webrtcbin
            .emit_by_name::<()>("set-remote-description", &[&answer, &promise]);
        tracing::debug!(session = %self.0.session, ms = self.ms(), "answer applied");
        let pending = {
            let mut state = self.state();
            state.answer_applied = true;
            std::mem::take(&mut state.pending_candidates)
        };
        for (mline, candidate) in pending {
            self.add_candidate(mline, &candidate);
        }
        Ok(())
    }

    /// Adds one of the viewer's candidates (queued until its answer is applied). `None`, the
    /// end of its candidates, needs nothing from webrtcbin. A candidate that is not a
    /// `candidate:` line, or one too many before the answer, is refused.
    pub fn add_remote_candidate(&self, candidate: Option<&IceCandidate>) -> Result<(), MediaError> {
        let Some(candidate) = candidate else {
            tracing::debug!(session = %self.0.session, "viewer finished gathering");
            return Ok(());
        };
        let line =
            candidate_line(&candidate.candidate).map_err(|detail| MediaError::BadCandidate {
                session: self.0.session.clone(),
                detail,
            })?;
        let mut state = self.state();
        let mline = candidate
            .sdp_m_line_index
            .map(u32::from)
            .or_else(|| {
                let mid = candidate.sdp_mid.as_deref()?;
                state.mids.iter().position(|m| m == mid).map(|i| i as u32)
            })
            .unwrap_or(0);
        // Every section is bundled on the first one's transport (max-bundle): webrtcbin knows
        // the ICE stream by that section alone and drops a candidate named by another (the
        // data channel's, when there is one).
        let mline = if mline < state.mids.len() as u32 {
            0
        } else {
            mline
        };
        if !state.answer_applied {
            if state.pending_candidates.len() >= MAX_PENDING_CANDIDATES {
                return Err(MediaError::BadCandidate {
                    session: self.0.session.clone(),
                    detail: format!(
                        "more than {MAX_PENDING_CANDIDATES} candidates before the answer"
                    ),
                });
            }
            tracing::info!(session = %self.0.session, "candidate before the answer: kept until it comes");
            state.pending_candidates.push((mline, line.to_owned()));
            return Ok(());
        }
        drop(state);
        self.add_candidate(mline, line);
        Ok(())
    }

    fn add_candidate(&self, mline: u32, candidate: &str) {
        self.0
            .webrtcbin
            .emit_by_name::<()>("add-ice-candidate", &[&mline, &candidate]);
    }

    /// Unlinks the branch from the tee and frees it; the other viewers go on undisturbed.
    pub fn detach(&self) {
        let tee_pad = {
            let mut state = self.state();
            if state.detached {
                return;
            }
            state.detached = true;
            state.tee_pad.take()
        };
        let session = self.0.session.clone();
        tee_link::unlink(&self.0.pipeline, tee_pad, &self.0.bin, move |bin| {
            stop_once_gathered(bin, session)
        });
    }

    /// Milliseconds since the branch was made, for the logs.
    fn ms(&self) -> u64 {
        self.0.attached.elapsed().as_millis() as u64
    }

    fn send(&self, event: MediaEvent) {
        // The receiver is gone only when the agent is shutting down.
        let _ = self.0.events.send(event);
    }

    fn fail(&self, reason: String) {
        tracing::warn!(session = %self.0.session, %reason, "viewer branch failed");
        self.send(MediaEvent::BranchFailed {
            consumer: ConsumerId::viewer(&self.0.session),
            reason,
        });
    }

    fn report(&self, result: Result<(), MediaError>) {
        if let Err(e) = result {
            self.fail(e.to_string());
        }
    }
}

impl Branch for ViewerBranch {
    fn detach(&self) {
        ViewerBranch::detach(self);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The backstop: a branch dropped without `detach` still stops. Off this thread, which
        // may be one of the bin's own streaming threads.
        let detached = self.state.lock().map(|s| s.detached).unwrap_or(true);
        if !detached {
            let pipeline = self.pipeline.clone();
            let session = self.session.clone();
            self.bin.call_async(move |bin| {
                let _ = pipeline.remove(bin);
                stop_once_gathered(bin.clone(), session);
            });
        }
    }
}

/// Asks `webrtcbin` for a second, send-only transceiver for the sound, offering Opus with an
/// SSRC chosen here, and exposes its sink on `bin` as `audio_sink`.
fn audio_transceiver(bin: &gst::Bin, webrtcbin: &gst::Element) -> Result<AudioPort, MediaError> {
    let sink = webrtcbin
        .request_pad_simple("sink_%u")
        .ok_or_else(|| MediaError::Gst("webrtcbin gave no sink pad for the sound".into()))?;
    let ssrc = rand::random::<u32>();
    let transceiver = sink.property::<gst_webrtc::WebRTCRTPTransceiver>("transceiver");
    transceiver.set_property(
        "direction",
        gst_webrtc::WebRTCRTPTransceiverDirection::Sendonly,
    );
    transceiver.set_property("codec-preferences", caps::offered_audio(ssrc));
    let pad = gst::GhostPad::builder_with_target(&sink)
        .map_err(|e| MediaError::Gst(e.to_string()))?
        .name("audio_sink")
        .build();
    bin.add_pad(&pad)
        .map_err(|e| MediaError::link("the viewer bin's audio sink", e))?;
    Ok(AudioPort {
        pad,
        ssrc,
        connected: Arc::new(AtomicBool::new(false)),
    })
}

/// The longest a departed branch waits for its candidate gathering before it stops anyway
/// (libnice gives up on an unanswering STUN or TURN server well before this).
const GATHERING_GRACE: gst::ClockTime = gst::ClockTime::from_seconds(20);
/// How long after its gathering completes a departed branch stops: the ICE thread that
/// reported it has let go of the stream by then.
const AFTER_GATHERING: gst::ClockTime = gst::ClockTime::from_mseconds(500);

/// Stops a branch that left the pipeline once its ICE candidate gathering is over. GStreamer
/// 1.22's nice transport (Debian 12, Raspberry Pi OS) crashes the whole agent when a stream's
/// gathering completes after its webrtcbin stopped: a viewer that leaves within seconds of
/// joining, while a TURN or STUN server is still being asked, took the camera down with it.
/// Cut from the tee, the waiting bin carries no media.
fn stop_once_gathered(bin: gst::Bin, session: SessionId) {
    let Some(webrtcbin) = bin.by_name("webrtc") else {
        let _ = bin.set_state(gst::State::Null);
        return;
    };
    let gathered = |webrtcbin: &gst::Element| {
        webrtcbin.property::<gst_webrtc::WebRTCICEGatheringState>("ice-gathering-state")
            == gst_webrtc::WebRTCICEGatheringState::Complete
    };
    let pending = Arc::new(Mutex::new(Some((bin, session))));
    if gathered(&webrtcbin) {
        stop_after(&pending, AFTER_GATHERING);
        return;
    }
    let on_notify = pending.clone();
    webrtcbin.connect_notify(Some("ice-gathering-state"), move |webrtcbin, _| {
        if gathered(webrtcbin) {
            stop_after(&on_notify, AFTER_GATHERING);
        }
    });
    stop_after(&pending, GATHERING_GRACE);
}

/// Sets the pending bin to `Null` after `delay`, unless that was done already.
fn stop_after(pending: &Arc<Mutex<Option<(gst::Bin, SessionId)>>>, delay: gst::ClockTime) {
    let pending = pending.clone();
    let clock = gst::SystemClock::obtain();
    let timer = clock.new_single_shot_id(clock.time() + delay);
    let _ = timer.wait_async(move |_, _, _| {
        let taken = pending.lock().ok().and_then(|mut p| p.take());
        if let Some((bin, session)) = taken {
            // Off the clock's thread: a state change may take a while.
            bin.call_async(move |bin| {
                let _ = bin.set_state(gst::State::Null);
                tracing::debug!(%session, "viewer branch stopped");
            });
        }
    });
}
