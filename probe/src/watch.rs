//! One watch, start to finish: log in, open the viewer socket, ask for a device, answer its
//! offer, then count what arrives, once a second, until the time is up.
//!
//! Times are measured from the moment `watch_request` is sent: that is when a person clicks
//! "watch" in the dashboard.

use crate::peer::{Peer, PeerEvent};
use crate::stream_check::StreamCheck;
use crate::viewer_socket::ViewerSocket;
use crate::{rest, stream_check};
use mumu_shared::signaling::{
    DevicePresence, Heartbeat, ServerToViewer, SessionIce, SessionSdp, ViewerEndWatch, ViewerHello,
    ViewerHelloAck, ViewerToServer, ViewerWatchRequest,
};
use mumu_shared::{DeviceId, PROTOCOL_VERSION, SessionId};
use serde::Serialize;
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
}

/// The figures of one watch.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// The device watched.
    pub device_id: String,
    /// The session.
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
    /// Local/remote candidate types of the selected pair.
    pub candidate_pair: Option<String>,
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
}

fn ms(from: Instant, to: Option<Instant>) -> Option<f64> {
    to.map(|t| t.saturating_duration_since(from).as_secs_f64() * 1000.0)
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
    let mut peer: Option<Peer> = None;
    let mut session: Option<SessionId> = None;
    let mut check = StreamCheck::new();
    let mut summary_times = Times::default();
    let mut candidate_pair = None;
    let mut ended_early = None;

    let requested = Instant::now();
    socket
        .send(
            ViewerToServer::WatchRequest(ViewerWatchRequest {
                device_id: device.clone(),
            }),
            Some("w-1"),
        )
        .await?;

    let first_frame_deadline = requested + Duration::from_secs(15);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut heartbeat = tokio::time::interval(heartbeat_every);
    heartbeat.tick().await;
    let mut second = 0u32;

    loop {
        let done_at = check
            .first_frame
            .map(|f| f + options.duration)
            .unwrap_or(first_frame_deadline);
        tokio::select! {
            message = socket.recv() => {
                let envelope = message?;
                match envelope.message {
                    ServerToViewer::WatchReady(ready) => {
                        summary_times.ready = Some(Instant::now());
                        tracing::info!(session = %ready.session_id, policy = ?ready.ice_transport_policy, servers = ready.ice_servers.len(), "watch ready");
                        session = Some(ready.session_id);
                        peer = Some(Peer::new(&ready.ice_servers, ready.ice_transport_policy, options.ice_check_interval, peer_tx.clone()).await?);
                    }
                    ServerToViewer::SignalOffer(SessionSdp { session_id, sdp }) => {
                        summary_times.offer = Some(Instant::now());
                        let peer = peer.as_mut().ok_or_else(|| WatchError::Refused("offer before watch_ready".into()))?;
                        tracing::debug!(%sdp, "offer");
                        let answer = peer.answer(sdp).await?;
                        socket.send(ViewerToServer::SignalAnswer(SessionSdp { session_id, sdp: answer }), None).await?;
                    }
                    ServerToViewer::SignalIce(SessionIce { candidate, .. }) => {
                        if let Some(peer) = peer.as_mut() {
                            peer.add_remote_candidate(candidate).await?;
                        }
                    }
                    ServerToViewer::WatchEnded(ended) => {
                        let why = format!("watch ended by the server: {}{}", ended.reason.as_str(),
                            ended.message.map(|m| format!(" ({m})")).unwrap_or_default());
                        tracing::warn!("{why}");
                        ended_early = Some(why);
                        break;
                    }
                    ServerToViewer::Error(e) => return Err(WatchError::Refused(e.to_string())),
                    _ => {}
                }
            }
            Some(event) = peer_events.recv() => match event {
                PeerEvent::LocalCandidate(candidate) => {
                    if let Some(session_id) = session.clone() {
                        socket.send(ViewerToServer::SignalIce(SessionIce { session_id, candidate }), None).await?;
                    }
                }
                PeerEvent::State(state) => {
                    tracing::info!(%state, "peer connection");
                    if state == RTCPeerConnectionState::Connected {
                        summary_times.connected = Some(Instant::now());
                    }
                    if state == RTCPeerConnectionState::Failed {
                        ended_early = Some("the peer connection failed".into());
                        break;
                    }
                }
                PeerEvent::Rtp { at, seq, timestamp, marker, payload } => {
                    let had_frame = check.first_frame.is_some();
                    check.packet(at, seq, timestamp, marker, &payload);
                    if !had_frame && options.per_second && let Some(first) = check.first_frame {
                        println!("first frame after {:.1} ms (SPS+PPS+IDR verified)", ms(requested, Some(first)).unwrap_or_default());
                    }
                }
                PeerEvent::UnexpectedTrack(kind) => tracing::warn!(%kind, "unexpected track ignored"),
            },
            _ = ticker.tick() => {
                second += 1;
                if candidate_pair.is_none() && let Some(peer) = peer.as_ref() {
                    candidate_pair = peer.selected_candidate_type().await;
                }
                let counts = check.take_interval();
                if options.per_second {
                    println!(
                        "t={second:>3}s packets={:>4} bytes={:>7} frames={:>3} keyframes={} pair={} lost={}",
                        counts.packets, counts.bytes, counts.frames, counts.keyframes,
                        candidate_pair.as_deref().unwrap_or("-"), check.lost,
                    );
                }
            }
            _ = heartbeat.tick() => {
                socket.send(ViewerToServer::Heartbeat(Heartbeat {}), None).await?;
            }
            _ = tokio::time::sleep_until(done_at.into()) => {
                if check.first_frame.is_none() {
                    if let (Some(p), Some(s)) = (peer.as_ref(), session.clone()) {
                        p.close().await;
                        let _ = socket.send(ViewerToServer::EndWatch(ViewerEndWatch { session_id: s }), None).await;
                    }
                    return Err(WatchError::NoFrame(first_frame_deadline - requested));
                }
                break;
            }
        }
    }

    let finished = Instant::now();
    if let (Some(session_id), None) = (session.clone(), &ended_early) {
        socket
            .send(
                ViewerToServer::EndWatch(ViewerEndWatch { session_id }),
                None,
            )
            .await?;
    }
    if let Some(peer) = peer.as_ref() {
        if candidate_pair.is_none() {
            candidate_pair = peer.selected_candidate_type().await;
        }
        peer.close().await;
    }
    socket.close().await;

    let seconds = check
        .first_frame
        .map_or(0.0, |f| finished.saturating_duration_since(f).as_secs_f64());
    let first_frame_verified = check.first_frame_unit.as_ref().is_some_and(|u| u.has_idr);
    Ok(Summary {
        device_id: device.to_string(),
        session_id: session.map(|s| s.to_string()).unwrap_or_default(),
        ready_ms: ms(requested, summary_times.ready),
        offer_ms: ms(requested, summary_times.offer),
        connected_ms: ms(requested, summary_times.connected),
        first_packet_ms: ms(requested, check.first_packet),
        first_frame_ms: ms(requested, check.first_frame),
        first_frame_verified,
        candidate_pair,
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
    })
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
