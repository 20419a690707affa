//! The probe's WebRTC peer on webrtc-rs 0.21 (the sans-I/O `rtc` core under an async driver):
//! it answers the device's offer, receives its H.264 track (and its Opus track, when the camera
//! sends sound) and hands what happens to the watch loop as [`PeerEvent`]s.
//!
//! 0.21's API is a builder plus one [`PeerConnectionEventHandler`] per connection (no
//! per-event callback registration as in 0.1x). The handler must not block: `on_track` spawns
//! the track's read loop and returns.

use mumu_shared::signaling::{IceCandidate, IceServer, IceTransportPolicy};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceGatheringState, RTCIceServer,
    RTCIceTransportPolicy, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSessionDescription, RTCStatsReportEntry, Registry, SettingEngineBuilder, StatsSelector,
    register_default_interceptors,
};

/// webrtc-rs refused something.
#[derive(Debug, Error)]
#[error("{step}: {source}")]
pub struct PeerError {
    step: &'static str,
    source: webrtc::error::Error,
}

fn at(step: &'static str) -> impl FnOnce(webrtc::error::Error) -> PeerError {
    move |source| PeerError { step, source }
}

/// What the peer reports.
#[derive(Debug)]
pub enum PeerEvent {
    /// A local candidate to send to the device; `None` when gathering is complete.
    LocalCandidate(Option<IceCandidate>),
    /// The connection state changed.
    State(RTCPeerConnectionState),
    /// An RTP packet of the video track.
    Rtp(RtpPacket),
    /// An RTP packet of the sound track (Opus).
    AudioRtp(RtpPacket),
    /// A track other than video or sound arrived (it is ignored).
    UnexpectedTrack(String),
    /// The device opened a data channel (its `history` channel, when it records).
    DataChannel(crate::history::HistoryChannel),
}

/// One RTP packet as the probe reads it.
#[derive(Debug)]
pub struct RtpPacket {
    /// When it was read.
    pub at: Instant,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// End of an access unit (video).
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// The sender's SSRC.
    pub ssrc: u32,
    /// The payload.
    pub payload: bytes::Bytes,
}

/// A peer's events, each with the tag of the peer it came from (a renewed watch runs two).
pub type PeerEvents = mpsc::UnboundedSender<(u32, PeerEvent)>;

struct Handler {
    tag: u32,
    events: PeerEvents,
}

impl Handler {
    fn send(&self, event: PeerEvent) -> bool {
        self.events.send((self.tag, event)).is_ok()
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => {
                self.send(PeerEvent::LocalCandidate(Some(IceCandidate {
                    candidate: init.candidate,
                    sdp_mid: None,
                    sdp_m_line_index: Some(0),
                })));
            }
            Err(e) => tracing::warn!(error = %e, "local candidate not serializable"),
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.send(PeerEvent::LocalCandidate(None));
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.send(PeerEvent::State(state));
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        self.send(PeerEvent::DataChannel(crate::history::HistoryChannel::new(
            channel,
        )));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let kind = track.kind().await;
        let wrap: fn(RtpPacket) -> PeerEvent = match kind {
            RtpCodecKind::Video => PeerEvent::Rtp,
            RtpCodecKind::Audio => PeerEvent::AudioRtp,
            _ => {
                self.send(PeerEvent::UnexpectedTrack(format!("{kind:?}")));
                return;
            }
        };
        let (tag, events) = (self.tag, self.events.clone());
        // The handler must return: the read loop runs on its own task.
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(packet) => {
                        let rtp = wrap(RtpPacket {
                            at: Instant::now(),
                            seq: packet.header.sequence_number,
                            timestamp: packet.header.timestamp,
                            marker: packet.header.marker,
                            payload_type: packet.header.payload_type,
                            ssrc: packet.header.ssrc,
                            payload: packet.payload,
                        });
                        let sent = events.send((tag, rtp));
                        if sent.is_err() {
                            break;
                        }
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
        });
    }
}

pub use mumu_shared::sdp::refusing_audio;

/// `answer` asking for the sound as PCMU (G.711 µ-law, payload type 0) alone, a codec the
/// camera does not send: as an old or odd viewer without Opus would answer.
pub fn asking_for_pcmu(answer: &str) -> String {
    let mut in_audio = false;
    let mut out = String::with_capacity(answer.len());
    for line in answer.split_inclusive('\n') {
        let end = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
        if line.starts_with("m=") {
            in_audio = line.starts_with("m=audio ");
            if in_audio {
                let fields: Vec<&str> = line.split_whitespace().take(3).collect();
                out.push_str(&format!(
                    "{} 0{end}a=rtpmap:0 PCMU/8000{end}",
                    fields.join(" ")
                ));
                continue;
            }
        } else if in_audio
            && ["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"]
                .iter()
                .any(|p| line.starts_with(p))
        {
            continue;
        }
        out.push_str(line);
    }
    out
}

/// One receive-only peer connection.
pub struct Peer {
    pc: Arc<dyn PeerConnection>,
    remote_set: bool,
    pending: Vec<IceCandidate>,
}

impl Peer {
    /// A peer using the session's ICE servers and policy, reporting to `events` under `tag`.
    pub async fn new(
        ice_servers: &[IceServer],
        policy: IceTransportPolicy,
        check_interval: Duration,
        tag: u32,
        events: PeerEvents,
    ) -> Result<Self, PeerError> {
        let mut media_engine = MediaEngine::default();
        media_engine
            .register_default_codecs()
            .map_err(at("registering codecs"))?;
        let registry = register_default_interceptors(Registry::new(), &mut media_engine)
            .map_err(at("registering interceptors"))?;
        let config = RTCConfigurationBuilder::new()
            .with_ice_servers(
                ice_servers
                    .iter()
                    .map(|s| RTCIceServer {
                        urls: s.urls.clone(),
                        username: s.username.clone().unwrap_or_default(),
                        credential: s.credential.clone().unwrap_or_default(),
                    })
                    .collect(),
            )
            .with_ice_transport_policy(match policy {
                IceTransportPolicy::Relay => RTCIceTransportPolicy::Relay,
                _ => RTCIceTransportPolicy::All,
            })
            .build();
        // webrtc-rs paces ICE checks every 200 ms by default; browsers check far more often
        // (Chrome ~50 ms), and the pacing shows directly in the time to first frame. No mDNS:
        // the agent offers IP candidates, and the multicast socket mDNS opens fails outright
        // on a host without a multicast route (a network namespace with only a bridge).
        let settings = SettingEngineBuilder::new()
            .with_ice_connection_attempts(Some(check_interval), None)
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .build();
        let pc = PeerConnectionBuilder::new()
            .with_configuration(config)
            .with_setting_engine(settings)
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(Handler { tag, events }))
            // Every non-loopback interface: the agent's libnice skips loopback too.
            .with_udp_addrs(vec!["0.0.0.0:0"])
            .build()
            .await
            .map_err(at("building the peer connection"))?;
        Ok(Self {
            pc: Arc::new(pc),
            remote_set: false,
            pending: Vec::new(),
        })
    }

    /// Takes the device's offer and returns the answer (already set locally).
    pub async fn answer(&mut self, offer_sdp: String) -> Result<String, PeerError> {
        let offer = RTCSessionDescription::offer(offer_sdp).map_err(at("reading the offer"))?;
        self.pc
            .set_remote_description(offer)
            .await
            .map_err(at("setting the offer"))?;
        self.remote_set = true;
        for candidate in std::mem::take(&mut self.pending) {
            self.add(candidate).await?;
        }
        let answer = self
            .pc
            .create_answer(None)
            .await
            .map_err(at("creating the answer"))?;
        let sdp = answer.sdp.clone();
        self.pc
            .set_local_description(answer)
            .await
            .map_err(at("setting the answer"))?;
        Ok(sdp)
    }

    /// Adds one of the device's candidates (queued until the offer is set). `None` (end of
    /// candidates) needs nothing.
    pub async fn add_remote_candidate(
        &mut self,
        candidate: Option<IceCandidate>,
    ) -> Result<(), PeerError> {
        let Some(candidate) = candidate else {
            return Ok(());
        };
        if self.remote_set {
            self.add(candidate).await
        } else {
            self.pending.push(candidate);
            Ok(())
        }
    }

    async fn add(&self, candidate: IceCandidate) -> Result<(), PeerError> {
        self.pc
            .add_ice_candidate(RTCIceCandidateInit {
                candidate: candidate.candidate,
                sdp_mid: candidate.sdp_mid,
                sdp_mline_index: candidate.sdp_m_line_index,
                username_fragment: None,
                url: None,
            })
            .await
            .map_err(at("adding a candidate"))
    }

    /// The candidate types of the selected pair, `local/remote` (`host`, `srflx`, `prflx`,
    /// `relay`), once there is one.
    pub async fn selected_candidate_type(&self) -> Option<String> {
        let report = self.pc.get_stats(Instant::now(), StatsSelector::None).await;
        let pair_id = &report.transport()?.selected_candidate_pair_id;
        let Some(RTCStatsReportEntry::IceCandidatePair(pair)) = report.get(pair_id) else {
            return None;
        };
        // rtc 0.21 names a pair's candidates by their bare id, but files their own entries
        // under `RTCLocalIceCandidate_<id>` / `RTCRemoteIceCandidate_<id>`: try both.
        let candidate_type = |prefix: &str, id: &str| {
            [id.to_owned(), format!("{prefix}_{id}")]
                .iter()
                .find_map(|key| match report.get(key) {
                    Some(
                        RTCStatsReportEntry::LocalCandidate(c)
                        | RTCStatsReportEntry::RemoteCandidate(c),
                    ) => Some(c.candidate_type.to_string()),
                    _ => None,
                })
        };
        let local = candidate_type("RTCLocalIceCandidate", &pair.local_candidate_id)?;
        let remote = candidate_type("RTCRemoteIceCandidate", &pair.remote_candidate_id)
            .unwrap_or_else(|| "?".into());
        Some(format!("{local}/{remote}"))
    }

    /// Closes the connection; gives up after a few seconds (releasing a TURN allocation waits
    /// on the relay's answer).
    pub async fn close(&self) {
        match tokio::time::timeout(Duration::from_secs(3), self.pc.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "closing the peer connection"),
            Err(_) => tracing::warn!("the peer connection did not close within 3 s; left behind"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pcmu_answer_names_pcmu_alone_for_the_sound() {
        let answer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\na=mid:0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10\r\na=mid:1\r\na=recvonly\r\n";
        let pcmu = asking_for_pcmu(answer);
        assert_eq!(mumu_shared::sdp::audio_codecs(&pcmu, 8), ["PCMU/8000"]);
        assert!(pcmu.contains("a=rtpmap:96 H264/90000\r\n"), "{pcmu}");
        assert!(
            pcmu.contains(
                "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\na=mid:1\r\na=recvonly\r\n"
            ),
            "{pcmu}"
        );
    }
}
