//! One watch, start to finish: log in, open the viewer socket, ask for a device, answer its
//! offer, then count what arrives, once a second, until the time is up.
//!
//! Times are measured from the moment `watch_request` is sent: that is when a person clicks
//! "watch" in the dashboard.
//!
//! A relayed watch outlives its TURN credentials by renewing: after three quarters of their
//! lifetime it asks for a new session of the same device (`renews`), connects it beside the
//! old one, switches to it at its first decodable frame, and ends the old one. The video never
//! waits on a credential past its expiry.

use crate::audio_check::{AudioCheck, median};
use crate::decode::{RtpDecoder, Unwrap};
use crate::peer::{Peer, PeerEvent, PeerEvents, RtpPacket};
use crate::stream_check::StreamCheck;
use crate::sync::PictureClock;
use crate::viewer_socket::ViewerSocket;
use crate::{rest, stream_check};
use mumu_shared::ice::{self, Relay};
use mumu_shared::signaling::{
    DevicePresence, EndReason, Heartbeat, IceServer, ServerToViewer, SessionIce, SessionSdp,
    ViewerEndWatch, ViewerHello, ViewerHelloAck, ViewerToServer, ViewerWatchRequest, WatchReady,
};
use mumu_shared::{DeviceId, PROTOCOL_VERSION, SessionId};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::mpsc;
use webrtc::peer_connection::RTCPeerConnectionState;

/// What to watch, as whom, for how long.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// The server's base URL.
    pub server: String,
    /// Login.
    pub username: String,
    /// Password.
    pub password: String,
    /// Register the account first (a taken username is fine).
    pub register: bool,
    /// The device to watch; `None`: the first one online.
    pub device: Option<DeviceId>,
    /// How long to wait for a device to come online.
    pub wait_for_device: Duration,
    /// How long to watch after the first frame.
    pub duration: Duration,
    /// Print a line every second.
    pub per_second: bool,
    /// webrtc-rs's pause between ICE connectivity checks.
    pub ice_check_interval: Duration,
    /// How long the peer connection may take to connect, from `watch_ready`.
    pub connect_timeout: Duration,
    /// Renew a relayed session before its TURN credentials expire.
    pub renew: bool,
    /// Where to hand the device's `history` data channel when it opens one (see
    /// [`crate::history`]); `None`: it is ignored.
    pub history: Option<mpsc::UnboundedSender<crate::history::HistoryChannel>>,
    /// Where to hand the shown session's H.264 as a byte stream (Annex B), from its first
    /// parameter set on, for a test that decodes the pictures; `None`: it is not kept.
    pub video: Option<mpsc::UnboundedSender<Vec<u8>>>,
    /// Decode the picture too, to measure A/V sync against the simulator's clock and beep
    /// (costs a decoder's CPU).
    pub sync: bool,
    /// Answer the camera's sound with a refusal (the answer's audio section with port 0):
    /// the camera must go on with the picture alone.
    pub refuse_audio: bool,
    /// Answer the camera's sound asking for PCMU, a codec it does not send: the camera must
    /// go on with the picture alone.
    pub answer_pcmu: bool,
}

impl WatchOptions {
    /// Watch the first online device of `username` at `server` for `duration`, with the
    /// defaults of the command line.
    pub fn new(server: &str, username: &str, password: &str, duration: Duration) -> Self {
        Self {
            server: server.to_owned(),
            username: username.to_owned(),
            password: password.to_owned(),
            register: false,
            device: None,
            wait_for_device: Duration::from_secs(30),
            duration,
            per_second: false,
            ice_check_interval: Duration::from_millis(20),
            connect_timeout: Duration::from_secs(10),
            renew: true,
            history: None,
            video: None,
            sync: false,
            refuse_audio: false,
            answer_pcmu: false,
        }
    }
}

/// The watch failed.
#[derive(Debug, Error)]
pub enum WatchError {
    /// Logging in failed.
    #[error(transparent)]
    Rest(#[from] rest::RestError),
    /// The socket failed.
    #[error(transparent)]
    Socket(#[from] crate::viewer_socket::SocketError),
    /// webrtc-rs failed.
    #[error(transparent)]
    Peer(#[from] crate::peer::PeerError),
    /// The server said no, or ended the session.
    #[error("{0}")]
    Refused(String),
    /// Nothing to watch.
    #[error("no device online within {0:?}")]
    NoDevice(Duration),
    /// No decodable frame in time.
    #[error("no decodable frame within {0:?} of the watch request")]
    NoFrame(Duration),
    /// The peer connection never connected: no path to the camera, with what was tried.
    #[error("could not reach the camera: {0}")]
    Unreachable(String),
}

/// The figures of one watch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    /// The device watched.
    pub device_id: String,
    /// The session (the latest, when the watch was renewed).
    pub session_id: String,
    /// Watch request to `watch_ready`.
    pub ready_ms: Option<f64>,
    /// Watch request to the offer.
    pub offer_ms: Option<f64>,
    /// Watch request to the peer connection being connected.
    pub connected_ms: Option<f64>,
    /// Watch request to the first RTP packet.
    pub first_packet_ms: Option<f64>,
    /// Watch request to the first decodable frame (time to first frame).
    pub first_frame_ms: Option<f64>,
    /// The first frame carried SPS, PPS and an IDR (or followed them).
    pub first_frame_verified: bool,
    /// Local/remote candidate types of the selected pair (`relay/srflx`...).
    pub candidate_pair: Option<String>,
    /// Sessions that replaced the one before (fresh TURN credentials).
    pub renewals: u32,
    /// Seconds of video counted (from the first frame).
    pub seconds: f64,
    /// Totals.
    pub packets: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Decodable frames.
    pub frames: u64,
    /// Keyframes.
    pub keyframes: u64,
    /// Frames per second since the first frame.
    pub fps: f64,
    /// Payload kbit/s since the first frame.
    pub kbps: f64,
    /// Packets missing from the sequence.
    pub lost: u64,
    /// Holes of 50 packets or more.
    pub large_gaps: u64,
    /// Packets out of order.
    pub reordered: u64,
    /// Frames dropped before the first keyframe.
    pub frames_before_keyframe: u64,
    /// The longest wait between two decodable frames, in milliseconds (a stall).
    pub max_frame_gap_ms: f64,
    /// Why the session ended early, if it did.
    pub ended_early: Option<String>,
    /// The sound, when the camera sent it.
    #[serde(default)]
    pub audio: Option<AudioSummary>,
}

/// What the probe heard.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AudioSummary {
    /// Watch request to the first sound packet.
    pub first_packet_ms: Option<f64>,
    /// Opus packets received.
    pub packets: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Packets missing from the sequence.
    pub lost: u64,
    /// Samples decoded (48 kHz).
    pub samples: u64,
    /// 100 ms windows decoded.
    pub windows: u64,
    /// Of those, windows with 1 kHz energy.
    pub tone_windows: u64,
    /// Beeps heard (1 kHz after 200 ms of quiet).
    pub beeps: usize,
    /// Median time from one beep to the next, ms of the stream.
    pub beep_interval_ms: Option<f64>,
    /// Median beep length, ms.
    pub beep_length_ms: Option<f64>,
    /// The decoder could not be made: why.
    pub decoder_error: Option<String>,
    /// A/V sync, when the picture was decoded too.
    pub sync: Option<SyncSummary>,
}

/// A/V sync at the viewer: each beep's arrival against the arrival of the frame where the
/// picture's clock shows the next second.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SyncSummary {
    /// Frames decoded.
    pub frames: u64,
    /// Second changes seen in the picture.
    pub second_changes: usize,
    /// Beeps paired with a second change.
    pub pairs: usize,
    /// Median offset (beep minus picture), ms: positive when the sound comes late.
    pub offset_p50_ms: Option<f64>,
    /// The largest offset by magnitude, ms (signed).
    pub offset_max_ms: Option<f64>,
    /// Every offset, ms, in order.
    pub offsets_ms: Vec<f64>,
    /// The largest corner difference that was not a second change (coding noise).
    pub largest_noise: f64,
    /// The smallest corner difference that was a second change.
    pub smallest_change: f64,
}

/// The sound of the current session, decoded as it comes.
struct Listening {
    check: Arc<Mutex<AudioCheck>>,
    decoder: Option<RtpDecoder>,
    unwrap: Unwrap,
}

impl Listening {
    fn new() -> Self {
        Self {
            check: Arc::new(Mutex::new(AudioCheck::new())),
            decoder: None,
            unwrap: Unwrap::default(),
        }
    }

    fn check(&self) -> MutexGuard<'_, AudioCheck> {
        self.check.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn packet(&mut self, packet: &RtpPacket) {
        if self.decoder.is_none() && self.check().decoder_error.is_none() {
            let check = self.check.clone();
            match RtpDecoder::opus(packet.payload_type, move |out| {
                check
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .decoded(out.rtp_time, &out.data)
            }) {
                Ok(decoder) => self.decoder = Some(decoder),
                Err(e) => self.check().decoder_error = Some(e.to_string()),
            }
        }
        let rtp_time = match self.decoder.as_mut() {
            Some(decoder) => decoder.push(
                packet.payload_type,
                packet.seq,
                packet.timestamp,
                packet.marker,
                packet.ssrc,
                &packet.payload,
            ),
            None => self.unwrap.next(packet.timestamp),
        };
        self.check()
            .packet(packet.at, packet.seq, rtp_time, packet.payload.len());
    }
}

/// The picture of the current session, decoded to read its clock (with `sync`).
struct Looking {
    clock: Arc<Mutex<PictureClock>>,
    decoder: Option<RtpDecoder>,
}

impl Looking {
    fn new() -> Self {
        Self {
            clock: Arc::new(Mutex::new(PictureClock::default())),
            decoder: None,
        }
    }

    fn clock(&self) -> MutexGuard<'_, PictureClock> {
        self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn packet(&mut self, packet: &RtpPacket) {
        if self.decoder.is_none() {
            let clock = self.clock.clone();
            match RtpDecoder::h264(packet.payload_type, move |out| {
                clock.lock().unwrap_or_else(|e| e.into_inner()).frame(
                    out.rtp_time,
                    out.size,
                    &out.data,
                )
            }) {
                Ok(decoder) => self.decoder = Some(decoder),
                Err(e) => {
                    tracing::warn!(error = %e, "the picture cannot be decoded: no A/V sync figure");
                    return;
                }
            }
        }
        let Some(decoder) = self.decoder.as_mut() else {
            return;
        };
        let rtp_time = decoder.push(
            packet.payload_type,
            packet.seq,
            packet.timestamp,
            packet.marker,
            packet.ssrc,
            &packet.payload,
        );
        if packet.marker {
            self.clock().arrived(rtp_time, packet.at);
        }
    }
}

/// The sound's figures, with the sync figure when the picture was decoded.
fn audio_summary(
    requested: Instant,
    listening: &Listening,
    looking: Option<&Looking>,
) -> AudioSummary {
    let check = listening.check();
    let sync = looking.map(|looking| {
        let clock = looking.clock();
        let beeps: Vec<Option<Instant>> = check.beeps.iter().map(|b| b.arrival).collect();
        let changes: Vec<Option<Instant>> = clock.changes.iter().map(|c| c.arrival).collect();
        let offsets = crate::sync::offsets_ms(&beeps, &changes);
        SyncSummary {
            frames: clock.frames,
            second_changes: clock.changes.len(),
            pairs: offsets.len(),
            offset_p50_ms: median(offsets.clone()),
            offset_max_ms: offsets
                .iter()
                .copied()
                .max_by(|a, b| a.abs().total_cmp(&b.abs())),
            offsets_ms: offsets,
            largest_noise: clock.largest_noise,
            smallest_change: clock
                .changes
                .iter()
                .map(|c| c.difference)
                .fold(f64::INFINITY, f64::min),
        }
    });
    AudioSummary {
        first_packet_ms: ms(requested, check.first_packet),
        packets: check.total.packets,
        bytes: check.total.bytes,
        lost: check.lost,
        samples: check.total.samples,
        windows: check.total.windows,
        tone_windows: check.total.tone_windows,
        beeps: check.beeps.len(),
        beep_interval_ms: check.beep_interval_ms(),
        beep_length_ms: check.beep_length_ms(),
        decoder_error: check.decoder_error.clone(),
        sync,
    }
}

fn ms(from: Instant, to: Option<Instant>) -> Option<f64> {
    to.map(|t| t.saturating_duration_since(from).as_secs_f64() * 1000.0)
}

/// One session of the watch and its peer connection.
struct Leg {
    tag: u32,
    session: SessionId,
    peer: Peer,
    ice_servers: Vec<IceServer>,
    ready_at: Instant,
    /// When it must be renewed (relayed sessions only), from the credentials' lifetime.
    renew_at: Option<Instant>,
    connected: bool,
    /// Candidate types this side gathered (`host`, `srflx`, `relay`).
    gathered: Vec<String>,
    candidate_pair: Option<String>,
    /// A renewing leg's own check, until its first decodable frame makes it the one shown.
    trial: Option<StreamCheck>,
}

impl Leg {
    async fn open(
        ready: &WatchReady,
        tag: u32,
        options: &WatchOptions,
        events: &PeerEvents,
    ) -> Result<Self, WatchError> {
        let peer = Peer::new(
            &ready.ice_servers,
            ready.ice_transport_policy,
            options.ice_check_interval,
            tag,
            events.clone(),
        )
        .await?;
        let now = Instant::now();
        Ok(Self {
            tag,
            session: ready.session_id.clone(),
            peer,
            ice_servers: ready.ice_servers.clone(),
            ready_at: now,
            // Three quarters of the lifetime: time to connect a new session with room to spare.
            renew_at: ready
                .ice_credentials_ttl_ms
                .filter(|_| options.renew)
                .map(|ttl| now + Duration::from_millis(ttl) * 3 / 4),
            connected: false,
            gathered: Vec::new(),
            candidate_pair: None,
            trial: None,
        })
    }

    fn relayed(&self) -> bool {
        self.candidate_pair
            .as_deref()
            .is_some_and(|pair| pair.contains("relay"))
    }

    /// Why this leg could not connect, in words a person can act on.
    fn diagnosis(&self) -> &'static str {
        let relay = if !ice::has_turn(&self.ice_servers) {
            Relay::NotConfigured
        } else if self.gathered.iter().any(|t| t == "relay") {
            Relay::Gathered
        } else {
            Relay::NoAddress
        };
        ice::unreachable_reason(relay)
    }
}

/// The type of an ICE candidate line (`... typ relay ...`).
fn candidate_type(candidate: &str) -> Option<&str> {
    let mut words = candidate.split_whitespace();
    words.find(|w| *w == "typ")?;
    words.next()
}

/// Runs one watch and returns its figures.
pub async fn watch(options: &WatchOptions) -> Result<Summary, WatchError> {
    let base = options.server.trim_end_matches('/');
    if options.register {
        let email = format!("{}@example.com", options.username);
        match rest::register(base, &options.username, &email, &options.password).await {
            Ok(_) | Err(rest::RestError::Refused { status: 409, .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let (mut socket, ack) = open_socket(base, &options.username, &options.password).await?;
    let heartbeat_every = Duration::from_millis(ack.heartbeat_interval_ms.max(1000));
    let device = pick_device(&mut socket, &ack.devices, options).await?;
    tracing::info!(%device, "watching");

    let (peer_tx, mut peer_events) = mpsc::unbounded_channel();
    // The leg shown, and a renewing one beside it.
    let mut current: Option<Leg> = None;
    let mut next: Option<Leg> = None;
    let mut tags = 0u32;
    let mut requests = 1u32;
    // The request id of a renewal asked for and not answered yet.
    let mut renewing: Option<String> = None;
    let mut renewals = 0u32;
    let mut check = StreamCheck::new();
    let mut video_tap = VideoTap::default();
    // The current session's sound and, with `sync`, its decoded picture.
    let mut listening: Option<Listening> = None;
    let mut looking: Option<Looking> = None;
    let mut summary_times = Times::default();
    let mut ended_early = None;

    let requested = Instant::now();
    socket
        .send(
            ViewerToServer::WatchRequest(ViewerWatchRequest::new(device.clone())),
            Some("w-1"),
        )
        .await?;

    let first_frame_deadline = requested + Duration::from_secs(15);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut heartbeat = tokio::time::interval(heartbeat_every);
    heartbeat.tick().await;
    let mut second = 0u32;

    let failure = loop {
        let done_at = check
            .first_frame
            .map(|f| f + options.duration)
            .unwrap_or(first_frame_deadline);
        tokio::select! {
            message = socket.recv() => {
                let envelope = message?;
                let request_id = envelope.request_id.clone();
                match envelope.message {
                    ServerToViewer::WatchReady(ready) => {
                        tags += 1;
                        let leg = Leg::open(&ready, tags, options, &peer_tx).await?;
                        tracing::info!(session = %ready.session_id, policy = ?ready.ice_transport_policy, servers = ready.ice_servers.len(), ttl_ms = ?ready.ice_credentials_ttl_ms, "watch ready");
                        if renewing.is_some() && request_id == renewing {
                            renewing = None;
                            next = Some(Leg { trial: Some(StreamCheck::new()), ..leg });
                        } else if current.is_none() {
                            summary_times.ready = Some(Instant::now());
                            current = Some(leg);
                        }
                    }
                    ServerToViewer::SignalOffer(SessionSdp { session_id, sdp }) => {
                        let Some(leg) = [current.as_mut(), next.as_mut()].into_iter().flatten().find(|l| l.session == session_id) else {
                            continue;
                        };
                        if leg.trial.is_none() {
                            summary_times.offer.get_or_insert_with(Instant::now);
                        }
                        tracing::debug!(%sdp, "offer");
                        let mut answer = leg.peer.answer(sdp).await?;
                        if options.refuse_audio {
                            answer = crate::peer::refusing_audio(&answer);
                        }
                        if options.answer_pcmu {
                            answer = crate::peer::asking_for_pcmu(&answer);
                        }
                        socket.send(ViewerToServer::SignalAnswer(SessionSdp { session_id, sdp: answer }), None).await?;
                    }
                    ServerToViewer::SignalIce(SessionIce { session_id, candidate }) => {
                        tracing::debug!(candidate = ?candidate.as_ref().map(|c| &c.candidate), "remote candidate");
                        if let Some(leg) = [current.as_mut(), next.as_mut()].into_iter().flatten().find(|l| l.session == session_id) {
                            leg.peer.add_remote_candidate(candidate).await?;
                        }
                    }
                    ServerToViewer::WatchEnded(ended) => {
                        let why = format!("watch ended by the server: {}{}", ended.reason.as_str(),
                            ended.message.map(|m| format!(" ({m})")).unwrap_or_default());
                        if next.as_ref().is_some_and(|l| l.session == ended.session_id) {
                            tracing::warn!("renewal: {why}; the current session goes on");
                            if let Some(leg) = next.take() { leg.peer.close().await; }
                            continue;
                        }
                        if let Some(leg) = current.as_ref().filter(|l| l.session == ended.session_id) {
                            tracing::warn!("{why}");
                            // The camera gave up on ICE before we did: say why from our side.
                            if ended.reason == EndReason::Failed && !leg.connected {
                                break Some(WatchError::Unreachable(leg.diagnosis().into()));
                            }
                            ended_early = Some(why);
                            break None;
                        }
                    }
                    ServerToViewer::Error(e) => {
                        if renewing.is_some() && request_id == renewing {
                            // The old session still has a quarter of its credentials' life:
                            // try again in a moment.
                            tracing::warn!(error = %e, "renewal refused; trying again shortly");
                            renewing = None;
                            if let Some(leg) = current.as_mut() {
                                leg.renew_at = Some(Instant::now() + Duration::from_secs(2));
                            }
                            continue;
                        }
                        return Err(WatchError::Refused(e.to_string()));
                    }
                    _ => {}
                }
            }
            Some((tag, event)) = peer_events.recv() => {
                let Some(leg) = [current.as_mut(), next.as_mut()].into_iter().flatten().find(|l| l.tag == tag) else {
                    continue;
                };
                match event {
                    PeerEvent::LocalCandidate(candidate) => {
                        tracing::debug!(candidate = ?candidate.as_ref().map(|c| &c.candidate), "local candidate");
                        if let Some(kind) = candidate.as_ref().and_then(|c| candidate_type(&c.candidate)) {
                            leg.gathered.push(kind.to_owned());
                        }
                        let session_id = leg.session.clone();
                        socket.send(ViewerToServer::SignalIce(SessionIce { session_id, candidate }), None).await?;
                    }
                    PeerEvent::State(state) => {
                        tracing::info!(%state, session = %leg.session, "peer connection");
                        if state == RTCPeerConnectionState::Connected {
                            leg.connected = true;
                            if leg.trial.is_none() {
                                summary_times.connected.get_or_insert_with(Instant::now);
                            }
                        }
                        if state == RTCPeerConnectionState::Failed {
                            if leg.trial.is_some() {
                                tracing::warn!(session = %leg.session, "the renewed session failed; the current one goes on");
                                if let Some(leg) = next.take() { leg.peer.close().await; }
                                continue;
                            }
                            if !leg.connected {
                                break Some(WatchError::Unreachable(leg.diagnosis().into()));
                            }
                            ended_early = Some("the peer connection failed".into());
                            break None;
                        }
                    }
                    PeerEvent::AudioRtp(packet) => {
                        if leg.trial.is_none() {
                            listening.get_or_insert_with(Listening::new).packet(&packet);
                        }
                    }
                    PeerEvent::Rtp(packet) => {
                        let RtpPacket { at, seq, timestamp, marker, ref payload, .. } = packet;
                        if let Some(trial) = leg.trial.as_mut() {
                            trial.packet(at, seq, timestamp, marker, payload);
                            if trial.first_frame.is_some() {
                                // The new session plays: show it, end the old one.
                                let mut fresh = next.take().expect("the trial leg is the next one");
                                if let Some(trial) = fresh.trial.take() {
                                    check.switch_to(trial);
                                }
                                // A new stream: its sound and picture are decoded afresh.
                                listening = None;
                                looking = None;
                                if let Some(old) = current.replace(fresh) {
                                    old.peer.close().await;
                                    socket.send(ViewerToServer::EndWatch(ViewerEndWatch { session_id: old.session.clone() }), None).await?;
                                    renewals += 1;
                                    tracing::info!(old = %old.session, new = %current.as_ref().map(|l| l.session.to_string()).unwrap_or_default(), "renewed: switched to the new session");
                                }
                            }
                            continue;
                        }
                        let had_frame = check.first_frame.is_some();
                        check.packet(at, seq, timestamp, marker, payload);
                        if let Some(video) = &options.video {
                            video_tap.push(timestamp, payload, video);
                        }
                        if options.sync {
                            looking.get_or_insert_with(Looking::new).packet(&packet);
                        }
                        if !had_frame && options.per_second && let Some(first) = check.first_frame {
                            println!("first frame after {:.1} ms (SPS+PPS+IDR verified)", ms(requested, Some(first)).unwrap_or_default());
                        }
                    }
                    PeerEvent::UnexpectedTrack(kind) => tracing::warn!(%kind, "unexpected track ignored"),
                    PeerEvent::DataChannel(channel) => {
                        tracing::info!(session = %leg.session, "the device opened a data channel");
                        if let Some(history) = &options.history {
                            let _ = history.send(channel);
                        }
                    }
                }
            }
            _ = ticker.tick() => {
                second += 1;
                for leg in [current.as_mut(), next.as_mut()].into_iter().flatten() {
                    if leg.connected && (leg.candidate_pair.is_none() || leg.trial.is_some()) {
                        leg.candidate_pair = leg.peer.selected_candidate_type().await;
                    }
                }
                if let Some(leg) = current.as_ref()
                    && !leg.connected
                    && leg.ready_at.elapsed() > options.connect_timeout
                {
                    break Some(WatchError::Unreachable(format!("{} (not connected after {:?})", leg.diagnosis(), options.connect_timeout)));
                }
                // Renew a relayed session whose credentials near their expiry.
                if let Some(leg) = current.as_mut()
                    && renewing.is_none()
                    && next.is_none()
                    && leg.relayed()
                    && leg.renew_at.is_some_and(|at| Instant::now() >= at)
                {
                    requests += 1;
                    let id = format!("w-{requests}");
                    tracing::info!(session = %leg.session, "renewing: its TURN credentials near their expiry");
                    socket.send(ViewerToServer::WatchRequest(ViewerWatchRequest { device_id: device.clone(), renews: Some(leg.session.clone()) }), Some(&id)).await?;
                    renewing = Some(id);
                    leg.renew_at = None;
                }
                let counts = check.take_interval();
                let heard = listening.as_ref().map(|l| l.check().take_interval());
                if options.per_second {
                    let pair = current.as_ref().and_then(|l| l.candidate_pair.as_deref()).unwrap_or("-");
                    let sound = heard.map(|h| format!(" audio: packets={:>3} samples={:>5} 1kHz={}/{} windows", h.packets, h.samples, h.tone_windows, h.windows)).unwrap_or_default();
                    println!(
                        "t={second:>3}s packets={:>4} bytes={:>7} frames={:>3} keyframes={} pair={pair} lost={} renewals={renewals}{sound}",
                        counts.packets, counts.bytes, counts.frames, counts.keyframes, check.lost,
                    );
                }
            }
            _ = heartbeat.tick() => {
                socket.send(ViewerToServer::Heartbeat(Heartbeat {}), None).await?;
            }
            _ = tokio::time::sleep_until(done_at.into()) => {
                if check.first_frame.is_none() {
                    break Some(WatchError::NoFrame(first_frame_deadline - requested));
                }
                break None;
            }
        }
    };

    let finished = Instant::now();
    let mut candidate_pair = None;
    let mut session_id = String::new();
    for leg in [next.take(), current.take()].into_iter().flatten() {
        if ended_early.is_none() || leg.trial.is_some() {
            let end = ViewerEndWatch {
                session_id: leg.session.clone(),
            };
            let _ = socket.send(ViewerToServer::EndWatch(end), None).await;
        }
        if leg.trial.is_none() {
            candidate_pair = match leg.candidate_pair {
                Some(pair) => Some(pair),
                None => leg.peer.selected_candidate_type().await,
            };
            session_id = leg.session.to_string();
        }
        leg.peer.close().await;
    }
    socket.close().await;
    if let Some(error) = failure {
        return Err(error);
    }

    let seconds = check
        .first_frame
        .map_or(0.0, |f| finished.saturating_duration_since(f).as_secs_f64());
    let first_frame_verified = check.first_frame_unit.as_ref().is_some_and(|u| u.has_idr);
    Ok(Summary {
        device_id: device.to_string(),
        session_id,
        ready_ms: ms(requested, summary_times.ready),
        offer_ms: ms(requested, summary_times.offer),
        connected_ms: ms(requested, summary_times.connected),
        first_packet_ms: ms(requested, check.first_packet),
        first_frame_ms: ms(requested, check.first_frame),
        first_frame_verified,
        candidate_pair,
        renewals,
        seconds,
        packets: check.total.packets,
        bytes: check.total.bytes,
        frames: check.total.frames,
        keyframes: check.total.keyframes,
        fps: check.fps_since_first_frame(finished),
        kbps: if seconds > 0.0 {
            check.total.bytes as f64 * 8.0 / 1000.0 / seconds
        } else {
            0.0
        },
        lost: check.lost,
        large_gaps: check.large_gaps,
        reordered: check.reordered,
        frames_before_keyframe: check.frames_before_keyframe,
        max_frame_gap_ms: check.max_frame_gap.as_secs_f64() * 1000.0,
        ended_early,
        audio: listening
            .as_ref()
            .map(|l| audio_summary(requested, l, looking.as_ref())),
    })
}

/// The shown session's H.264 as a byte stream, from the first parameter set on (what comes
/// before it could not be decoded).
#[derive(Debug, Default)]
struct VideoTap {
    started: bool,
    /// The access unit's RTP timestamp, and whether a slice of it was passed on.
    unit: Option<(u32, bool)>,
}

impl VideoTap {
    fn push(&mut self, timestamp: u32, payload: &[u8], to: &mpsc::UnboundedSender<Vec<u8>>) {
        use crate::h264::{NAL_SPS, annex_b, nal_types};
        self.started |= nal_types(payload).is_ok_and(|types| types.contains(&NAL_SPS));
        if !self.started {
            return;
        }
        let mut sliced = match self.unit {
            Some((unit, sliced)) if unit == timestamp => sliced,
            _ => false,
        };
        let mut bytes = Vec::with_capacity(payload.len() + 8);
        if annex_b(payload, &mut sliced, &mut bytes).is_ok() {
            let _ = to.send(bytes);
        }
        self.unit = Some((timestamp, sliced));
    }
}

#[derive(Debug, Default)]
struct Times {
    ready: Option<Instant>,
    offer: Option<Instant>,
    connected: Option<Instant>,
}

/// Logs in and opens a viewer socket at `base`, through `hello`: the socket and the server's
/// `hello_ack` (with the presence of every device this user may watch).
pub async fn open_socket(
    base: &str,
    username: &str,
    password: &str,
) -> Result<(ViewerSocket, ViewerHelloAck), WatchError> {
    let auth = rest::login(base, username, password).await?;
    let ws_url = format!(
        "{}/ws/viewer",
        base.replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1)
    );
    let mut socket = ViewerSocket::connect(&ws_url, &auth.access_token).await?;
    socket
        .send(
            ViewerToServer::Hello(ViewerHello {
                protocol: PROTOCOL_VERSION,
                token: None,
            }),
            None,
        )
        .await?;
    match socket.recv().await?.message {
        ServerToViewer::HelloAck(ack) => Ok((socket, ack)),
        ServerToViewer::Error(e) => Err(WatchError::Refused(e.to_string())),
        other => Err(WatchError::Refused(format!(
            "expected hello_ack, got {other:?}"
        ))),
    }
}

/// The device asked for, or the first online one, waiting for presence updates if needed.
async fn pick_device(
    socket: &mut ViewerSocket,
    devices: &[DevicePresence],
    options: &WatchOptions,
) -> Result<DeviceId, WatchError> {
    let wanted = |d: &DevicePresence| {
        d.online && options.device.as_ref().is_none_or(|id| *id == d.device_id)
    };
    if let Some(device) = devices.iter().find(|d| wanted(d)) {
        return Ok(device.device_id.clone());
    }
    let deadline = tokio::time::Instant::now() + options.wait_for_device;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.recv())
            .await
            .map_err(|_| WatchError::NoDevice(options.wait_for_device))??;
        if let ServerToViewer::DevicePresence(presence) = message.message
            && wanted(&presence)
        {
            return Ok(presence.device_id);
        }
    }
}

/// A large sequence gap, for the summary's wording.
pub const LARGE_GAP: u16 = stream_check::LARGE_GAP;
