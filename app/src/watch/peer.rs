//! The browser's RTCPeerConnection, answering the camera's offer. Receive-only: the camera sends
//! H.264 video, the browser sends nothing but RTCP.

use mumu_shared::ice::{self, Relay};
use mumu_shared::signaling::{IceCandidate, IceServer, IceTransportPolicy};
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MediaStream, RtcConfiguration, RtcDataChannel, RtcDataChannelEvent, RtcIceCandidateInit,
    RtcIceServer, RtcIceTransportPolicy, RtcPeerConnection, RtcPeerConnectionIceEvent,
    RtcPeerConnectionState, RtcSdpType, RtcSessionDescriptionInit, RtcTrackEvent,
};

/// What the peer connection reports.
pub enum PeerEvent {
    /// A local ICE candidate to send (`None`: gathering complete).
    Ice(Option<IceCandidate>),
    /// The camera's video arrived.
    Track(MediaStream),
    /// ICE and DTLS are up.
    Connected,
    /// ICE or DTLS failed.
    Failed(String),
    /// The camera opened its `history` data channel: it records.
    History(RtcDataChannel),
}

/// What the browser learnt of the relay while gathering: enough to say why a connection that
/// never came up did not.
#[derive(Clone, Copy, Debug, Default)]
struct RelayNews {
    configured: bool,
    /// A relay candidate came.
    gathered: bool,
    /// The TURN server answered 401 (`icecandidateerror`).
    refused: bool,
    /// The TURN server did not answer (error 701 on a `turn:` URL).
    unreachable: bool,
    /// The connection came up once: nothing to explain about reaching the camera.
    connected: bool,
}

impl RelayNews {
    fn reason(self) -> &'static str {
        ice::unreachable_reason(if !self.configured {
            Relay::NotConfigured
        } else if self.gathered {
            Relay::Gathered
        } else if self.refused {
            Relay::Refused
        } else if self.unreachable {
            Relay::Unreachable
        } else {
            Relay::NoAddress
        })
    }
}

/// One peer connection and the callbacks that must live as long as it does.
pub struct Peer {
    pc: RtcPeerConnection,
    relay: Rc<Cell<RelayNews>>,
    _callbacks: Vec<Box<dyn std::any::Any>>,
}

fn describe(error: JsValue) -> String {
    crate::api::js_error_text(&error, &format!("{error:?}"))
}

impl Peer {
    /// A new peer connection with the session's ICE servers and policy.
    pub fn open(
        ice_servers: &[IceServer],
        policy: IceTransportPolicy,
        on_event: impl Fn(PeerEvent) + 'static,
    ) -> Result<Self, String> {
        let config = RtcConfiguration::new();
        let servers = js_sys::Array::new();
        for server in ice_servers {
            let entry = RtcIceServer::new();
            let urls: js_sys::Array = server.urls.iter().map(|u| JsValue::from_str(u)).collect();
            entry.set_urls(&urls);
            if let Some(username) = &server.username {
                entry.set_username(username);
            }
            if let Some(credential) = &server.credential {
                entry.set_credential(credential);
            }
            servers.push(&entry);
        }
        config.set_ice_servers(&servers);
        config.set_ice_transport_policy(match policy {
            IceTransportPolicy::Relay => RtcIceTransportPolicy::Relay,
            IceTransportPolicy::All => RtcIceTransportPolicy::All,
        });
        let pc = RtcPeerConnection::new_with_configuration(&config).map_err(describe)?;

        let relay = Rc::new(Cell::new(RelayNews {
            configured: ice::has_turn(ice_servers),
            ..RelayNews::default()
        }));
        let on_event = Rc::new(on_event);
        let emit = on_event.clone();
        let news = relay.clone();
        let on_ice = Closure::<dyn FnMut(RtcPeerConnectionIceEvent)>::new(
            move |event: RtcPeerConnectionIceEvent| {
                let candidate = event.candidate().and_then(|c| {
                    let line = c.candidate();
                    if line.contains(" typ relay") {
                        news.set(RelayNews {
                            gathered: true,
                            ..news.get()
                        });
                    }
                    // An empty candidate is the end-of-candidates marker of some browsers.
                    (!line.is_empty()).then(|| IceCandidate {
                        candidate: line,
                        sdp_mid: c.sdp_mid(),
                        sdp_m_line_index: c.sdp_m_line_index(),
                    })
                });
                emit(PeerEvent::Ice(candidate));
            },
        );
        let emit = on_event.clone();
        let on_track = Closure::<dyn FnMut(RtcTrackEvent)>::new(move |event: RtcTrackEvent| {
            let stream = event
                .streams()
                .get(0)
                .dyn_into::<MediaStream>()
                .ok()
                .or_else(|| {
                    let stream = MediaStream::new().ok()?;
                    stream.add_track(&event.track());
                    Some(stream)
                });
            if let Some(stream) = stream {
                emit(PeerEvent::Track(stream));
            }
        });
        // `icecandidateerror` (read by name: web-sys has no binding for its event): 401 is a
        // TURN server refusing the credentials, 701 one that did not answer.
        let news = relay.clone();
        let on_ice_error = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let field = |name: &str| js_sys::Reflect::get(&event, &JsValue::from_str(name)).ok();
            let url = field("url").and_then(|v| v.as_string()).unwrap_or_default();
            if !url.starts_with("turn") {
                return;
            }
            let code = field("errorCode")
                .and_then(|v| v.as_f64())
                .unwrap_or_default();
            let mut now = news.get();
            match code as u32 {
                401 | 403 | 437 | 441 => now.refused = true,
                _ => now.unreachable = true,
            }
            news.set(now);
        });
        let emit = on_event.clone();
        let on_channel =
            Closure::<dyn FnMut(RtcDataChannelEvent)>::new(move |event: RtcDataChannelEvent| {
                let channel = event.channel();
                if channel.label() == mumu_shared::history::CHANNEL_LABEL {
                    emit(PeerEvent::History(channel));
                }
            });
        let emit = on_event;
        let watched = pc.clone();
        let news = relay.clone();
        let on_state = Closure::<dyn FnMut()>::new(move || match watched.connection_state() {
            RtcPeerConnectionState::Connected => {
                news.set(RelayNews {
                    connected: true,
                    ..news.get()
                });
                emit(PeerEvent::Connected)
            }
            RtcPeerConnectionState::Failed if news.get().connected => emit(PeerEvent::Failed(
                "the connection to the camera broke off".into(),
            )),
            RtcPeerConnectionState::Failed => {
                emit(PeerEvent::Failed(news.get().reason().to_owned()))
            }
            _ => {}
        });
        pc.set_onicecandidate(Some(on_ice.as_ref().unchecked_ref()));
        pc.set_ontrack(Some(on_track.as_ref().unchecked_ref()));
        pc.set_ondatachannel(Some(on_channel.as_ref().unchecked_ref()));
        pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        let _ = pc.add_event_listener_with_callback(
            "icecandidateerror",
            on_ice_error.as_ref().unchecked_ref(),
        );
        Ok(Self {
            pc,
            relay,
            _callbacks: vec![
                Box::new(on_ice),
                Box::new(on_track),
                Box::new(on_state),
                Box::new(on_ice_error),
                Box::new(on_channel),
            ],
        })
    }

    /// Why the connection has not come up, once the camera's offer is applied (before that,
    /// the wait is for the camera, not for a path to it); `None` once it has been up.
    pub fn stuck_reason(&self) -> Option<&'static str> {
        let news = self.relay.get();
        (!news.connected && self.pc.remote_description().is_some()).then(|| news.reason())
    }

    /// Whether the connection is still up or on its way (not disconnected, failed or closed).
    /// A page frozen in the background hears no events: this asks the connection itself.
    pub fn is_alive(&self) -> bool {
        !matches!(
            self.pc.connection_state(),
            RtcPeerConnectionState::Disconnected
                | RtcPeerConnectionState::Failed
                | RtcPeerConnectionState::Closed
        )
    }

    /// The connection itself (for answering and statistics).
    pub fn connection(&self) -> RtcPeerConnection {
        self.pc.clone()
    }

    /// Adds one of the camera's candidates.
    pub fn add_ice(&self, candidate: &IceCandidate) {
        let init = RtcIceCandidateInit::new(&candidate.candidate);
        init.set_sdp_mid(candidate.sdp_mid.as_deref());
        init.set_sdp_m_line_index(candidate.sdp_m_line_index);
        // A candidate the browser cannot use is not fatal: others may work.
        let promise = self
            .pc
            .add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init));
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(error) = JsFuture::from(promise).await {
                leptos::logging::warn!("a camera ICE candidate was refused: {}", describe(error));
            }
        });
    }

    /// Closes the connection; its callbacks go with it.
    pub fn close(&self) {
        self.pc.set_onicecandidate(None);
        self.pc.set_ontrack(None);
        self.pc.set_ondatachannel(None);
        self.pc.set_onconnectionstatechange(None);
        self.pc.close();
    }
}

/// Why this browser cannot play a camera's video, when it cannot: the video comes over WebRTC,
/// which some browsers lack (WebKitGTK as Debian builds it, a browser where it is turned off);
/// and every MuMu camera sends H.264, which a Firefox without its OpenH264 plugin (turned off,
/// or not downloaded yet) cannot decode in WebRTC. Browsers that cannot say which codecs they
/// decode (no `RTCRtpReceiver.getCapabilities`) are trusted.
pub fn cannot_play() -> Option<&'static str> {
    let get = |target: &JsValue, name: &str| js_sys::Reflect::get(target, &JsValue::from_str(name));
    let has_webrtc = get(&js_sys::global(), "RTCPeerConnection")
        .is_ok_and(|constructor| constructor.is_function());
    if !has_webrtc {
        return Some(
            "this browser cannot play live video: it has no WebRTC, which the video comes \
             over (it was built without it, or it is turned off). Open MuMu in Safari, Chrome, \
             Edge or Firefox, or turn WebRTC on in this browser's settings, then reload",
        );
    }
    let receiver = get(&js_sys::global(), "RTCRtpReceiver").ok()?;
    let capabilities = get(&receiver, "getCapabilities")
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?
        .call1(&receiver, &JsValue::from_str("video"))
        .ok()?;
    let codecs = get(&capabilities, "codecs").ok()?;
    let h264 = js_sys::Array::from(&codecs).iter().any(|codec| {
        get(&codec, "mimeType")
            .ok()
            .and_then(|m| m.as_string())
            .is_some_and(|m| m.eq_ignore_ascii_case("video/h264"))
    });
    (!h264).then_some(
        "this browser cannot decode H.264, the video every camera sends. In Firefox, turn on \
         “OpenH264 Video Codec provided by Cisco Systems” under Add-ons and themes → Plugins, \
         then reload",
    )
}

/// Applies the camera's offer and returns our answer (already set as local description).
pub async fn answer(pc: RtcPeerConnection, offer: String) -> Result<String, String> {
    let remote = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
    remote.set_sdp(&offer);
    JsFuture::from(pc.set_remote_description(&remote))
        .await
        .map_err(|e| format!("the camera's offer was refused: {}", describe(e)))?;
    let answer = JsFuture::from(pc.create_answer())
        .await
        .map_err(|e| format!("no answer could be made: {}", describe(e)))?;
    let sdp = js_sys::Reflect::get(&answer, &JsValue::from_str("sdp"))
        .ok()
        .and_then(|v| v.as_string())
        .ok_or("the browser's answer had no SDP")?;
    let local = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
    local.set_sdp(&sdp);
    JsFuture::from(pc.set_local_description(&local))
        .await
        .map_err(|e| format!("the answer could not be applied: {}", describe(e)))?;
    Ok(sdp)
}
