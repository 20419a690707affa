//! What the app asks of the browser, checked against MDN's browser-compat-data: every Web API it
//! uses is in Safari 17 (macOS and iOS) and Firefox ESR 128, or has a fallback the app takes
//! when it is missing. No Safari runs where MuMu is tested, so this is what keeps the app from
//! coming to depend on something Safari lacks: a new web-sys feature, or a new member read by
//! name, fails here until it is listed with what the browsers say.
//!
//! The data is the npm package `@mdn/browser-compat-data` (a pinned version, fetched by
//! `scripts/test` and named by `MUMU_BROWSER_COMPAT_DATA`). `docs/browsers.md` has the same
//! list for people.

use serde_json::Value;

/// The oldest versions the app is for.
const OLDEST: [(&str, f64); 3] = [("safari", 17.0), ("safari_ios", 17.0), ("firefox", 128.0)];

/// One thing the app uses: its browser-compat-data key, and what the app does without it
/// (`None`: nothing works without it, so every browser above must have it).
struct Use {
    key: &'static str,
    without: Option<&'static str>,
}

const fn needs(key: &'static str) -> Use {
    Use { key, without: None }
}

const fn else_(key: &'static str, without: &'static str) -> Use {
    Use {
        key,
        without: Some(without),
    }
}

/// Everything the app calls, reads or relies on in the browser, beyond what web-sys features
/// name (checked in `every_web_sys_feature_is_accounted_for`).
const USES: &[Use] = &[
    // Watching (watch/peer.rs, watch/session.rs)
    needs("api.RTCPeerConnection.RTCPeerConnection"),
    needs("api.RTCPeerConnection.RTCPeerConnection.configuration_iceServers_parameter"),
    needs("api.RTCPeerConnection.RTCPeerConnection.configuration_iceTransportPolicy_parameter"),
    needs("api.RTCPeerConnection.setRemoteDescription"),
    needs("api.RTCPeerConnection.createAnswer"),
    needs("api.RTCPeerConnection.setLocalDescription"),
    needs("api.RTCPeerConnection.remoteDescription"),
    needs("api.RTCPeerConnection.addIceCandidate"),
    needs("api.RTCPeerConnection.icecandidate_event"),
    needs("api.RTCPeerConnection.track_event"),
    needs("api.RTCPeerConnection.connectionState"),
    needs("api.RTCPeerConnection.connectionstatechange_event"),
    needs("api.RTCPeerConnection.close"),
    else_(
        "api.RTCPeerConnection.icecandidateerror_event",
        "a refused or silent TURN server is reported as a plain failure to connect",
    ),
    else_(
        "api.RTCPeerConnectionIceErrorEvent.errorCode",
        "as for icecandidateerror",
    ),
    else_(
        "api.RTCPeerConnectionIceErrorEvent.url",
        "as for icecandidateerror",
    ),
    needs("api.RTCIceCandidate.candidate"),
    needs("api.RTCIceCandidate.sdpMid"),
    needs("api.RTCIceCandidate.sdpMLineIndex"),
    needs("api.RTCTrackEvent.streams"),
    needs("api.RTCTrackEvent.track"),
    needs("api.MediaStream.MediaStream"),
    needs("api.RTCRtpReceiver.getCapabilities_static"),
    needs("api.MediaStream.addTrack"),
    // The stats panel (watch/stats.rs), read by name from getStats()
    needs("api.RTCPeerConnection.getStats"),
    needs("api.RTCStatsReport.@@iterator"),
    needs("api.RTCStatsReport.type_inbound-rtp.bytesReceived"),
    needs("api.RTCStatsReport.type_inbound-rtp.framesDecoded"),
    needs("api.RTCStatsReport.type_inbound-rtp.packetsLost"),
    needs("api.RTCStatsReport.type_inbound-rtp.packetsReceived"),
    needs("api.RTCStatsReport.type_inbound-rtp.jitter"),
    else_(
        "api.RTCStatsReport.type_inbound-rtp.frameWidth",
        "the resolution is the video element's",
    ),
    else_(
        "api.RTCStatsReport.type_inbound-rtp.frameHeight",
        "the resolution is the video element's",
    ),
    else_(
        "api.RTCStatsReport.type_inbound-rtp.framesPerSecond",
        "the frame rate is counted from framesDecoded",
    ),
    else_(
        "api.RTCStatsReport.type_transport.selectedCandidatePairId",
        "the pair in use is the nominated, succeeded one",
    ),
    needs("api.RTCStatsReport.type_candidate-pair.state"),
    needs("api.RTCStatsReport.type_candidate-pair.nominated"),
    needs("api.RTCStatsReport.type_candidate-pair.localCandidateId"),
    needs("api.RTCStatsReport.type_candidate-pair.remoteCandidateId"),
    else_(
        "api.RTCStatsReport.type_candidate-pair.currentRoundTripTime",
        "the panel shows no round trip",
    ),
    needs("api.RTCStatsReport.type_local-candidate.candidateType"),
    needs("api.RTCStatsReport.type_local-candidate.protocol"),
    needs("api.RTCStatsReport.type_remote-candidate.candidateType"),
    // The video (components/camera.rs)
    needs("api.HTMLMediaElement.srcObject"),
    needs("html.elements.video.autoplay"),
    needs("html.elements.video.muted"),
    else_(
        "html.elements.video.playsinline",
        "only Safari on iPhone plays video full screen without it",
    ),
    needs("api.HTMLMediaElement.loadeddata_event"),
    needs("api.HTMLVideoElement.videoWidth"),
    needs("api.HTMLVideoElement.videoHeight"),
    else_(
        "api.Element.requestFullscreen",
        "Safari on iPhone: the video's own webkitEnterFullscreen()",
    ),
    needs("css.selectors.fullscreen"),
    needs("api.HTMLCanvasElement.toDataURL"),
    needs("api.CanvasRenderingContext2D.drawImage"),
    needs("api.HTMLAnchorElement.download"),
    // The sound (components/sound.rs)
    needs("api.MediaStream.getAudioTracks"),
    else_(
        "api.HTMLMediaElement.volume",
        "Safari on iPhone: the phone's buttons set the volume; the slider does nothing",
    ),
    needs("html.elements.input.type_range"),
    needs("api.Element.input_event"),
    needs("api.Element.pointerdown_event"),
    needs("api.Element.keydown_event"),
    needs("api.Window.localStorage"),
    needs("api.Storage.getItem"),
    needs("api.Storage.setItem"),
    needs("api.Navigator.userActivation"),
    needs("api.UserActivation.hasBeenActive"),
    // Recordings (watch/history.rs, watch/playback.rs, components/timeline.rs)
    needs("api.RTCPeerConnection.datachannel_event"),
    needs("api.RTCDataChannel.label"),
    needs("api.RTCDataChannel.binaryType"),
    needs("api.RTCDataChannel.readyState"),
    needs("api.RTCDataChannel.send"),
    needs("api.RTCDataChannel.message_event"),
    needs("api.RTCDataChannel.open_event"),
    needs("api.RTCDataChannel.close_event"),
    else_(
        "api.MediaSource.MediaSource",
        "Safari on iPhone has only ManagedMediaSource: the page says this browser cannot play \
         recordings; live video and export work",
    ),
    else_(
        "api.MediaSource.isTypeSupported_static",
        "as for MediaSource",
    ),
    else_("api.MediaSource.addSourceBuffer", "as for MediaSource"),
    else_("api.MediaSource.sourceopen_event", "as for MediaSource"),
    else_("api.SourceBuffer.appendBuffer", "as for MediaSource"),
    else_("api.SourceBuffer.remove", "as for MediaSource"),
    else_("api.SourceBuffer.buffered", "as for MediaSource"),
    else_("api.SourceBuffer.updating", "as for MediaSource"),
    else_("api.SourceBuffer.updateend_event", "as for MediaSource"),
    needs("api.URL.createObjectURL_static"),
    needs("api.URL.revokeObjectURL_static"),
    needs("api.Blob.Blob"),
    needs("api.HTMLMediaElement.src"),
    needs("api.HTMLMediaElement.currentTime"),
    needs("api.HTMLMediaElement.playbackRate"),
    needs("api.HTMLMediaElement.defaultPlaybackRate"),
    needs("api.HTMLMediaElement.paused"),
    needs("api.HTMLMediaElement.play"),
    needs("api.HTMLMediaElement.pause"),
    needs("api.HTMLMediaElement.load"),
    needs("api.HTMLMediaElement.timeupdate_event"),
    needs("api.HTMLMediaElement.waiting_event"),
    needs("api.Element.clientWidth"),
    needs("api.MouseEvent.offsetX"),
    needs("css.properties.pointer-events"),
    needs("api.MouseEvent.buttons"),
    needs("api.MouseEvent.shiftKey"),
    needs("api.HTMLMediaElement.muted"),
    needs("api.Element.innerHTML"),
    needs("api.Element.querySelector"),
    needs("api.Element.getAttribute"),
    needs("api.Element.setAttribute"),
    needs("api.Element.removeAttribute"),
    needs("api.Element.remove"),
    needs("api.Node.textContent"),
    needs("api.Node.parentNode"),
    needs("api.Node.appendChild"),
    needs("api.Event.type"),
    needs("api.EventTarget.addEventListener"),
    needs("api.EventTarget.removeEventListener"),
    needs("api.Element.mousedown_event"),
    needs("api.Element.mousemove_event"),
    needs("api.Element.mouseup_event"),
    needs("api.Element.mouseleave_event"),
    needs("api.HTMLElement.change_event"),
    needs("javascript.builtins.Date.getTimezoneOffset"),
    needs("javascript.builtins.Date.toISOString"),
    // Motion events and the zones editor (watch/events.rs, watch/zones.rs)
    needs("api.HTMLImageElement.src"),
    needs("html.elements.img.alt"),
    needs("api.Element.click_event"),
    needs("api.Element.tagName"),
    needs("api.Element.scrollIntoView"),
    needs("api.Element.clientHeight"),
    needs("api.MouseEvent.offsetY"),
    needs("api.Element.pointerdown_event"),
    needs("api.Element.pointermove_event"),
    needs("api.Element.pointerup_event"),
    needs("api.Element.pointerleave_event"),
    needs("api.HTMLCanvasElement.getContext"),
    needs("api.HTMLCanvasElement.width"),
    needs("api.HTMLCanvasElement.height"),
    needs("api.CanvasRenderingContext2D.clearRect"),
    needs("api.CanvasRenderingContext2D.beginPath"),
    needs("api.CanvasRenderingContext2D.moveTo"),
    needs("api.CanvasRenderingContext2D.lineTo"),
    needs("api.CanvasRenderingContext2D.closePath"),
    needs("api.CanvasRenderingContext2D.fill"),
    needs("api.CanvasRenderingContext2D.stroke"),
    needs("api.CanvasRenderingContext2D.fillStyle"),
    needs("api.CanvasRenderingContext2D.strokeStyle"),
    needs("api.CanvasRenderingContext2D.lineWidth"),
    needs("api.CanvasRenderingContext2D.fillRect"),
    needs("api.CanvasRenderingContext2D.fillText"),
    else_(
        "api.CanvasRenderingContext2D.font",
        "zone names are written on the still in the canvas's default font",
    ),
    needs("html.elements.input.type_number"),
    needs("css.properties.place-items"),
    needs("css.properties.overflow-wrap.anywhere"),
    needs("css.properties.touch-action"),
    // Pausing and waking with the page (visibility.rs)
    needs("api.Document.hidden"),
    needs("api.Document.visibilitychange_event"),
    // The socket and the API (signaling.rs, api.rs)
    needs("api.WebSocket.WebSocket"),
    needs("api.fetch"),
    needs("api.Request.credentials"),
    needs("api.Performance.now"),
    // Moving between pages without loading them (router.rs) and sorting by name (signaling.rs)
    needs("api.History.pushState"),
    needs("api.History.replaceState"),
    needs("api.Window.popstate_event"),
    needs("api.Window.scrollTo"),
    needs("api.Element.closest"),
    needs("api.MouseEvent.button"),
    needs("api.HTMLAnchorElement.origin"),
    needs("api.HTMLAnchorElement.pathname"),
    needs("api.HTMLAnchorElement.search"),
    needs("api.HTMLAnchorElement.hash"),
    needs("api.HTMLAnchorElement.target"),
    needs("api.Location.origin"),
    needs("javascript.builtins.String.localeCompare"),
    // The household's pages (pages/sharing.rs, pages/household.rs, components/confirm.rs)
    needs("api.Window.confirm"),
    needs("javascript.builtins.encodeURIComponent"),
    needs("html.elements.input.type_checkbox"),
    needs("html.elements.input.type_radio"),
    needs("html.elements.input.type_time"),
    needs("html.elements.input.readonly"),
    needs("html.elements.select"),
    needs("api.HTMLInputElement.checked"),
    // In every browser, but in a secure context only: over plain http on a LAN address the
    // page says so and the link stays on screen to copy by hand.
    needs("api.Navigator.clipboard"),
    needs("api.Clipboard.writeText"),
    // The layout (style/main.css)
    needs("css.properties.aspect-ratio"),
    needs("css.properties.inset"),
    needs("css.properties.object-fit"),
    needs("css.at-rules.media.pointer"),
    needs("css.at-rules.media.prefers-color-scheme"),
    // Installing to the home screen (app.rs, manifest.webmanifest)
    else_(
        "html.elements.link.rel.manifest",
        "Firefox on a desktop installs no web apps; its tab works as before",
    ),
    else_(
        "html.elements.meta.name.theme-color",
        "the browser's own colour in its bar",
    ),
    else_(
        "manifests.webapp.display_override",
        "the manifest's display, standalone",
    ),
];

/// What the web-sys features of app/Cargo.toml stand for: the browser-compat-data key of each
/// interface, or why it has none (dictionaries and enums are plain JavaScript values).
const WEB_SYS_FEATURES: &[(&str, Option<&str>)] = &[
    ("Window", Some("api.Window")),
    ("Document", Some("api.Document")),
    ("History", Some("api.History")),
    ("MouseEvent", Some("api.MouseEvent")),
    ("Element", Some("api.Element")),
    ("HtmlElement", Some("api.HTMLElement")),
    ("HtmlVideoElement", Some("api.HTMLVideoElement")),
    ("HtmlCanvasElement", Some("api.HTMLCanvasElement")),
    ("HtmlAnchorElement", Some("api.HTMLAnchorElement")),
    ("HtmlInputElement", Some("api.HTMLInputElement")),
    (
        "CanvasRenderingContext2d",
        Some("api.CanvasRenderingContext2D"),
    ),
    ("Location", Some("api.Location")),
    ("Performance", Some("api.Performance")),
    ("Request", Some("api.Request")),
    ("RequestInit", None),
    ("RequestCredentials", None),
    ("Response", Some("api.Response")),
    ("Headers", Some("api.Headers")),
    ("WebSocket", Some("api.WebSocket")),
    ("MessageEvent", Some("api.MessageEvent")),
    ("CloseEvent", Some("api.CloseEvent")),
    ("Event", Some("api.Event")),
    ("BinaryType", None),
    ("RtcPeerConnection", Some("api.RTCPeerConnection")),
    ("RtcConfiguration", None),
    ("RtcIceServer", None),
    ("RtcIceTransportPolicy", None),
    ("RtcSessionDescriptionInit", None),
    ("RtcSdpType", None),
    ("RtcIceCandidate", Some("api.RTCIceCandidate")),
    ("RtcIceCandidateInit", None),
    (
        "RtcPeerConnectionIceEvent",
        Some("api.RTCPeerConnectionIceEvent"),
    ),
    ("RtcTrackEvent", Some("api.RTCTrackEvent")),
    ("RtcPeerConnectionState", None),
    ("MediaStream", Some("api.MediaStream")),
    ("MediaStreamTrack", Some("api.MediaStreamTrack")),
    ("RtcStatsReport", Some("api.RTCStatsReport")),
    ("RtcRtpTransceiverInit", None),
    ("RtcRtpTransceiverDirection", None),
    ("RtcSessionDescription", Some("api.RTCSessionDescription")),
    ("RtcDataChannel", Some("api.RTCDataChannel")),
    ("RtcDataChannelEvent", Some("api.RTCDataChannelEvent")),
    // Only in part on an iPhone: USES says what the app does there.
    ("MediaSource", Some("api.MediaSource")),
    ("SourceBuffer", Some("api.SourceBuffer")),
    ("TimeRanges", Some("api.TimeRanges")),
    ("Url", Some("api.URL")),
    ("Blob", Some("api.Blob")),
];

fn data() -> Value {
    let path = std::env::var("MUMU_BROWSER_COMPAT_DATA").unwrap_or_else(|_| {
        panic!(
            "MUMU_BROWSER_COMPAT_DATA is not set: it names data.json from the npm package \
             @mdn/browser-compat-data, which scripts/test fetches"
        )
    });
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn compat<'a>(data: &'a Value, key: &str) -> &'a Value {
    let mut node = data;
    for part in key.split('.') {
        node = node
            .get(part)
            .unwrap_or_else(|| panic!("browser-compat-data has no {key}"));
    }
    &node["__compat"]["support"]
}

/// The version that added it, and whether only in part (`None` for "not supported", or behind
/// a flag, a prefix or another name).
fn added(support: &Value) -> Option<(f64, bool)> {
    let entry = match support {
        Value::Array(entries) => entries.first()?,
        entry => entry,
    };
    if entry.get("prefix").is_some()
        || entry.get("flags").is_some()
        || entry.get("alternative_name").is_some()
    {
        return None;
    }
    let version = entry["version_added"].as_str()?;
    let partial = entry["partial_implementation"].as_bool() == Some(true);
    Some((version.trim_start_matches('≤').parse().ok()?, partial))
}

/// Where `key` is missing from the oldest browsers the app is for; with `whole`, where it is
/// there only in part too.
fn missing_in(data: &Value, key: &str, whole: bool) -> Vec<String> {
    let support = compat(data, key);
    OLDEST
        .iter()
        .filter(|(browser, oldest)| {
            added(&support[*browser])
                .is_none_or(|(version, partial)| version > *oldest || (whole && partial))
        })
        .map(|(browser, oldest)| format!("{browser} {oldest} ({})", support[*browser]))
        .collect()
}

#[test]
fn every_api_the_app_needs_is_in_safari_17_and_firefox_esr() {
    let data = data();
    let mut problems = Vec::new();
    for used in USES {
        match used.without {
            None => {
                let missing = missing_in(&data, used.key, false);
                if !missing.is_empty() {
                    problems.push(format!("{} is missing in {}", used.key, missing.join(", ")));
                }
            }
            Some(_) if missing_in(&data, used.key, true).is_empty() => problems.push(format!(
                "{} is everywhere now: list it with needs()",
                used.key
            )),
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_web_sys_feature_is_accounted_for() {
    let manifest = include_str!("../Cargo.toml");
    let features = manifest
        .split("web-sys = {")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("app/Cargo.toml lists web-sys features");
    let data = data();
    for feature in features.split('"').skip(1).step_by(2) {
        let Some((_, key)) = WEB_SYS_FEATURES.iter().find(|(name, _)| *name == feature) else {
            panic!(
                "the web-sys feature {feature} is new: check what Safari 17 and Firefox ESR \
                 say of it (browser-compat-data), then list it in WEB_SYS_FEATURES and the \
                 members the app uses in USES"
            );
        };
        if let Some(key) = key {
            let missing = missing_in(&data, key, false);
            assert!(missing.is_empty(), "{key} is missing in {missing:?}");
        }
    }
}
