//! The browser's RTCPeerConnection, answering the camera's offer. Receive-only: the camera sends
//! H.264 video, the browser sends nothing but RTCP.

use mumu_shared::signaling::{IceCandidate, IceServer, IceTransportPolicy};
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MediaStream, RtcConfiguration, RtcIceCandidateInit, RtcIceServer, RtcIceTransportPolicy,
    RtcPeerConnection, RtcPeerConnectionIceEvent, RtcPeerConnectionState, RtcSdpType,
    RtcSessionDescriptionInit, RtcTrackEvent,
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
}

/// One peer connection and the callbacks that must live as long as it does.
pub struct Peer {
    pc: RtcPeerConnection,
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

        let on_event = std::rc::Rc::new(on_event);
        let emit = on_event.clone();
        let on_ice = Closure::<dyn FnMut(RtcPeerConnectionIceEvent)>::new(
            move |event: RtcPeerConnectionIceEvent| {
                let candidate = event.candidate().and_then(|c| {
                    let line = c.candidate();
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
        let emit = on_event;
        let watched = pc.clone();
        let on_state = Closure::<dyn FnMut()>::new(move || match watched.connection_state() {
            RtcPeerConnectionState::Connected => emit(PeerEvent::Connected),
            RtcPeerConnectionState::Failed => emit(PeerEvent::Failed(
                "the connection to the camera failed (no network path, or TURN refused)".into(),
            )),
            _ => {}
        });
        pc.set_onicecandidate(Some(on_ice.as_ref().unchecked_ref()));
        pc.set_ontrack(Some(on_track.as_ref().unchecked_ref()));
        pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        Ok(Self {
            pc,
            _callbacks: vec![Box::new(on_ice), Box::new(on_track), Box::new(on_state)],
        })
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
        self.pc.set_onconnectionstatechange(None);
        self.pc.close();
    }
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
