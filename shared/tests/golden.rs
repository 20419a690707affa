//! Golden wire-format tests: every message of every direction, and every REST body, has an
//! example in `tests/golden/`. Each example must decode to the Rust value written out here, and
//! that value must encode back to the very same JSON, so renaming a type or a field, changing a
//! field's type or dropping one fails a test. `docs/protocol.md` points at these files as the
//! exact examples of the wire format.

use mumu_shared::api::{
    AccessRole, Arming, ArmingMode, AuthResponse, CameraNotifications, Device, DeviceStatus,
    EnrollRequest, EnrollResponse, Event, Health, HealthCheck, HouseholdRole, Invitation,
    InvitationRequest, LoginRequest, NewInvitation, PairRequest, PairingCode, QuietHours,
    RegisterRequest, Share, ShareRequest, ShareRole, UpdateCameraNotifications,
    UpdateDeviceRequest, UpdateShareRequest, User, Webhook, WebhookEvent, WebhookRequest,
};
use mumu_shared::events::{EventRecord, MotionSettings, MotionZone, Point, PrivacyMask, rectangle};
use mumu_shared::history::{
    CurrentMotionSettings, DeviceToViewer, Events, Export, Exporting, GetMotionSettings,
    GetThumbnail, ListEvents, ListRecordings, More, Play, Playing, Recordings, Refusal,
    RefusalCode, SetMotionSettings, Span, StopStream, StreamEndReason, StreamEnded, Thumbnail,
    ViewerToDevice,
};
use mumu_shared::push::{
    NotifyMe, PushKey, PushKeys, PushNotification, PushSubscription, PushSubscriptionRequest,
};
use mumu_shared::signaling::{
    DeviceEndWatch, DeviceHello, DeviceHelloAck, DevicePresence, DeviceRemoved, DeviceToServer,
    DeviceWatchRequest, EndReason, Grants, Heartbeat, IceCandidate, IceServer, IceTransportPolicy,
    MotionEvent, Paired, ServerToDevice, ServerToViewer, SessionGrants, SessionIce, SessionSdp,
    ViewerEndWatch, ViewerHello, ViewerHelloAck, ViewerToServer, ViewerWatchRequest, WatchEnded,
    WatchReady,
};
use mumu_shared::{
    DeviceId, Envelope, ErrorBody, ErrorCode, ErrorResponse, Message, PROTOCOL_VERSION, SessionId,
    UnixMillis, UserId, decode, encode,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

// ----------------------------------------------------------------------------------------------
// The machinery.

/// The file-name prefix of each direction's golden files.
trait Direction: Message + Debug + PartialEq {
    const NAME: &'static str;
}

impl Direction for DeviceToServer {
    const NAME: &'static str = "device_to_server";
}
impl Direction for ServerToDevice {
    const NAME: &'static str = "server_to_device";
}
impl Direction for ViewerToServer {
    const NAME: &'static str = "viewer_to_server";
}
impl Direction for ServerToViewer {
    const NAME: &'static str = "server_to_viewer";
}
impl Direction for ViewerToDevice {
    const NAME: &'static str = "viewer_to_device";
}
impl Direction for DeviceToViewer {
    const NAME: &'static str = "device_to_viewer";
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
}

/// The golden file `<name>.json`, as text.
fn read_golden(name: &str) -> String {
    let path = golden_dir().join(format!("{name}.json"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read golden file {}: {e}", path.display()))
}

fn parse(name: &str, text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}.json is not JSON: {e}"))
}

/// Checks a signaling golden file both ways: it decodes to `expected`, and `expected` (and what
/// was decoded) encodes to the same JSON as the file. The file name must say the direction and
/// the message's `type`.
fn message<M: Direction>(name: &str, expected: Envelope<M>) {
    let mut parts = name.split('.');
    assert_eq!(
        parts.next(),
        Some(M::NAME),
        "{name}: file name must start with the direction"
    );
    assert_eq!(
        parts.next(),
        Some(expected.message.kind()),
        "{name}: file name must name the message type"
    );

    let text = read_golden(name);
    let file = parse(name, &text);
    assert_eq!(
        file["type"],
        expected.message.kind(),
        "{name}: \"type\" in the file"
    );

    let decoded = decode::<M>(&text).unwrap_or_else(|e| panic!("{name}: cannot decode: {e}"));
    assert_eq!(
        decoded, expected,
        "{name}: decoded value differs from the expected one"
    );

    let reencoded = parse(name, &encode(&decoded));
    assert_eq!(
        reencoded, file,
        "{name}: re-encoded JSON differs from the golden file"
    );
    let encoded = parse(name, &encode(&expected));
    assert_eq!(
        encoded, file,
        "{name}: the expected value encodes to different JSON"
    );
}

/// Checks a REST golden file both ways, like [`message`].
fn rest<T: Serialize + DeserializeOwned + Debug + PartialEq>(name: &str, expected: T) {
    assert!(
        name.starts_with("rest."),
        "{name}: REST golden files start with \"rest.\""
    );
    let text = read_golden(name);
    let file = parse(name, &text);

    let decoded: T =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: cannot decode: {e}"));
    assert_eq!(
        decoded, expected,
        "{name}: decoded value differs from the expected one"
    );

    let reencoded = parse(name, &serde_json::to_string(&decoded).unwrap());
    assert_eq!(
        reencoded, file,
        "{name}: re-encoded JSON differs from the golden file"
    );
    let encoded = parse(name, &serde_json::to_string(&expected).unwrap());
    assert_eq!(
        encoded, file,
        "{name}: the expected value encodes to different JSON"
    );
}

/// Checks a golden file of what the camera keeps and the viewer protocol will carry (motion
/// settings, event records) both ways, like [`message`].
fn camera<T: Serialize + DeserializeOwned + Debug + PartialEq>(name: &str, expected: T) {
    assert!(
        name.starts_with("events."),
        "{name}: motion golden files start with \"events.\""
    );
    let text = read_golden(name);
    let file = parse(name, &text);
    let decoded: T =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: cannot decode: {e}"));
    assert_eq!(
        decoded, expected,
        "{name}: decoded value differs from the expected one"
    );
    let encoded = parse(name, &serde_json::to_string(&expected).unwrap());
    assert_eq!(
        encoded, file,
        "{name}: the expected value encodes to different JSON"
    );
}

/// Checks a golden file of a Web Push payload (what a service worker decrypts) both ways.
fn push<T: Serialize + DeserializeOwned + Debug + PartialEq>(name: &str, expected: T) {
    assert!(
        name.starts_with("push."),
        "{name}: push payload golden files start with \"push.\""
    );
    let text = read_golden(name);
    let file = parse(name, &text);
    let decoded: T =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: cannot decode: {e}"));
    assert_eq!(
        decoded, expected,
        "{name}: decoded value differs from the expected one"
    );
    let encoded = parse(name, &serde_json::to_string(&expected).unwrap());
    assert_eq!(
        encoded, file,
        "{name}: the expected value encodes to different JSON"
    );
}

/// One test per golden file, and the list of every file they check.
macro_rules! golden {
    ($( $test:ident: $check:ident($name:literal, $expected:expr); )*) => {
        $(
            #[test]
            fn $test() {
                $check($name, $expected);
            }
        )*

        /// Every golden file some test above checks (without `.json`).
        const CHECKED: &[&str] = &[$($name),*];
    };
}

// ----------------------------------------------------------------------------------------------
// The values the examples use.

const DEVICE: &str = "3f6c2a9e-8b1d-4f27-9c5e-1a2b3c4d5e6f";
const DEVICE2: &str = "9a1e7c55-2d48-4b0f-a6e3-71c0d9f4b2a8";
const SESSION: &str = "b7e4d1c2-5a6f-4e3b-8d9c-0f1e2a3b4c5d";
const USER: &str = "5d2f8a1b-c3e4-4f60-9a7b-8c9d0e1f2a3b";
const DEVICE_SECRET: &str = "Xk3vQ9pL2mN8rT5wY7zA4bC6dE1fG0hJ-uIoPqRsTu8";
const TOKEN: &str = concat!(
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
    ".eyJzdWIiOiI1ZDJmOGExYi1jM2U0LTRmNjAtOWE3Yi04YzlkMGUxZjJhM2IiLCJpYXQiOjE3NjcyMjIwMDAsImV4cCI6MTc2NzgyNjgwMH0",
    ".j1QpoUaSUD3676H2KQtwwKrhVrau_EJ8TePbMhezfv4",
);
/// 2025-12-31T23:40:00Z.
const TS: UnixMillis = 1_767_224_400_000;
const PUSH_ENDPOINT: &str =
    "https://fcm.googleapis.com/fcm/send/dGhpcyBpcyBhbiBleGFtcGxlIHN1YnNjcmlwdGlvbg:APA91bH";
const PUSH_P256DH: &str =
    "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM";
const PUSH_PUBLIC_KEY: &str =
    "BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U";
const DAY: UnixMillis = 24 * 60 * 60 * 1000;

/// The motion settings the viewer protocol's examples carry: a zone and a privacy mask.
fn door_and_mask() -> MotionSettings {
    MotionSettings {
        sensitivity: 60,
        min_area: 150,
        zones: vec![MotionZone {
            name: "Front door".into(),
            points: rectangle(0, 3000, 4000, 10_000),
        }],
        masks: vec![PrivacyMask {
            points: rectangle(7000, 0, 10_000, 2500),
        }],
    }
}

const OFFER: &str = concat!(
    "v=0\r\n",
    "o=- 4611731400430051336 0 IN IP4 0.0.0.0\r\n",
    "s=-\r\n",
    "t=0 0\r\n",
    "a=ice-options:trickle\r\n",
    "a=group:BUNDLE video0\r\n",
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
    "c=IN IP4 0.0.0.0\r\n",
    "a=setup:actpass\r\n",
    "a=ice-ufrag:Hf4sKQm2yXvB0tRz\r\n",
    "a=ice-pwd:pLq8Wc3nZr6Td1Yv9Hs2Kj5Mb7Nx0Ga4\r\n",
    "a=rtcp-mux\r\n",
    "a=rtcp-rsize\r\n",
    "a=sendonly\r\n",
    "a=rtpmap:96 H264/90000\r\n",
    "a=rtcp-fb:96 nack\r\n",
    "a=rtcp-fb:96 nack pli\r\n",
    "a=rtcp-fb:96 ccm fir\r\n",
    "a=fmtp:96 packetization-mode=1;profile-level-id=42e01f;level-asymmetry-allowed=1\r\n",
    "a=ssrc:1349455989 msid:mumu-3f6c2a9e video0\r\n",
    "a=ssrc:1349455989 cname:mumu-3f6c2a9e\r\n",
    "a=mid:video0\r\n",
    "a=fingerprint:sha-256 25:A2:8C:EC:CB:64:DA:1E:55:50:A6:B9:F1:EA:24:66:07:43:8A:3D:F3:C1:76:87:B9:CA:16:EE:3E:CF:3E:E2\r\n",
);

const ANSWER: &str = concat!(
    "v=0\r\n",
    "o=- 7283652198375629012 2 IN IP4 127.0.0.1\r\n",
    "s=-\r\n",
    "t=0 0\r\n",
    "a=group:BUNDLE video0\r\n",
    "a=msid-semantic: WMS\r\n",
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
    "c=IN IP4 0.0.0.0\r\n",
    "a=rtcp:9 IN IP4 0.0.0.0\r\n",
    "a=ice-ufrag:Qx3k\r\n",
    "a=ice-pwd:F1n9b2Lk0pQzR7vWcY4tHs8e\r\n",
    "a=ice-options:trickle\r\n",
    "a=fingerprint:sha-256 50:2B:3C:84:E6:D9:1E:B8:DF:14:66:FD:7F:51:1F:3A:69:BC:F3:A5:D6:F7:9E:3A:37:57:9B:69:D5:DF:C6:36\r\n",
    "a=setup:active\r\n",
    "a=mid:video0\r\n",
    "a=recvonly\r\n",
    "a=rtcp-mux\r\n",
    "a=rtcp-rsize\r\n",
    "a=rtpmap:96 H264/90000\r\n",
    "a=rtcp-fb:96 nack\r\n",
    "a=rtcp-fb:96 nack pli\r\n",
    "a=rtcp-fb:96 ccm fir\r\n",
    "a=fmtp:96 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n",
);

fn device() -> DeviceId {
    DeviceId::from(DEVICE)
}

fn session() -> SessionId {
    SessionId::from(SESSION)
}

fn envelope<M>(message: M, ts: UnixMillis) -> Envelope<M> {
    Envelope::new(message, ts)
}

/// Coturn REST-API credentials for the session: `expiry:subject` and its HMAC.
fn ice_servers() -> Vec<IceServer> {
    vec![
        IceServer {
            urls: vec!["stun:turn.example.com:3478".into()],
            username: None,
            credential: None,
        },
        IceServer {
            urls: vec![
                "turn:turn.example.com:3478?transport=udp".into(),
                "turn:turn.example.com:3478?transport=tcp".into(),
                "turns:turn.example.com:5349?transport=tcp".into(),
            ],
            username: Some(format!("1767225600:{SESSION}")),
            credential: Some("INYD31VYY6P+6pceT9bLnKtRkYI=".into()),
        },
    ]
}

fn candidate(line: &str) -> Option<IceCandidate> {
    Some(IceCandidate {
        candidate: line.into(),
        sdp_mid: Some("video0".into()),
        sdp_m_line_index: Some(0),
    })
}

fn device_candidate() -> Option<IceCandidate> {
    candidate("candidate:1 1 UDP 2015363327 192.168.1.23 47129 typ host")
}

fn viewer_candidate() -> Option<IceCandidate> {
    candidate(
        "candidate:842163049 1 udp 1677729535 203.0.113.7 61432 typ srflx raddr 192.168.1.50 \
         rport 61432 generation 0 ufrag Qx3k network-cost 999",
    )
}

fn relay_candidate() -> Option<IceCandidate> {
    candidate(
        "candidate:3 1 UDP 8331263 198.51.100.20 50112 typ relay raddr 192.168.1.23 rport 47129",
    )
}

fn pi_status() -> DeviceStatus {
    DeviceStatus {
        uptime_s: 86_400,
        viewers: 1,
        source: Some("libcamera".into()),
        encoder: Some("v4l2h264enc".into()),
        cpu_temp_c: Some(52.5),
        recording: true,
    }
}

fn alice() -> User {
    User {
        id: UserId::from(USER),
        username: "alice".into(),
        email: "alice@example.com".into(),
        created_at: 1_764_547_200_000,
        role: HouseholdRole::Admin,
    }
}

fn sdp(sdp: &str) -> SessionSdp {
    SessionSdp {
        session_id: session(),
        sdp: sdp.into(),
    }
}

fn ice(candidate: Option<IceCandidate>) -> SessionIce {
    SessionIce {
        session_id: session(),
        candidate,
    }
}

// ----------------------------------------------------------------------------------------------
// The examples.

golden! {
    // device → server
    device_hello: message("device_to_server.hello", envelope(
        DeviceToServer::Hello(DeviceHello {
            protocol: PROTOCOL_VERSION,
            device_id: device(),
            device_secret: DEVICE_SECRET.into(),
            agent_version: Some("0.1.0".into()),
        }),
        TS,
    ));
    device_heartbeat: message("device_to_server.heartbeat", envelope(
        DeviceToServer::Heartbeat(Heartbeat {}),
        TS + 20_000,
    ));
    device_signal_offer: message("device_to_server.signal_offer", envelope(
        DeviceToServer::SignalOffer(sdp(OFFER)),
        TS + 60_130,
    ));
    device_signal_ice: message("device_to_server.signal_ice", envelope(
        DeviceToServer::SignalIce(ice(device_candidate())),
        TS + 60_141,
    ));
    device_signal_ice_end: message("device_to_server.signal_ice.end", envelope(
        DeviceToServer::SignalIce(ice(None)),
        TS + 60_388,
    ));
    device_end_watch: message("device_to_server.end_watch", envelope(
        DeviceToServer::EndWatch(DeviceEndWatch {
            session_id: session(),
            reason: EndReason::Failed,
            message: Some("camera busy: /dev/video0 is in use by another process".into()),
        }),
        TS + 61_000,
    ));
    device_device_presence: message("device_to_server.device_presence", envelope(
        DeviceToServer::DevicePresence(pi_status()),
        TS + 30_000,
    ));
    device_motion_event: message("device_to_server.motion_event", envelope(
        DeviceToServer::MotionEvent(MotionEvent {
            start: TS,
            end: None,
            zones: vec!["Front door".into()],
            peak_score: 260,
        }),
        TS + 610,
    ));
    device_motion_event_ended: message("device_to_server.motion_event.ended", envelope(
        DeviceToServer::MotionEvent(MotionEvent {
            start: TS,
            end: Some(TS + 4_200),
            zones: vec!["Front door".into(), "Path".into()],
            peak_score: 420,
        }),
        TS + 6_210,
    ));

    // server → device
    device_hello_ack: message("server_to_device.hello_ack", envelope(
        ServerToDevice::HelloAck(DeviceHelloAck {
            protocol: PROTOCOL_VERSION,
            device_id: device(),
            paired: true,
            heartbeat_interval_ms: 20_000,
        }),
        TS + 12,
    ));
    device_heartbeat_ack: message("server_to_device.heartbeat_ack", envelope(
        ServerToDevice::HeartbeatAck(Heartbeat {}),
        TS + 20_003,
    ));
    device_paired: message("server_to_device.paired", envelope(
        ServerToDevice::Paired(Paired { owner: "alice".into(), name: "Front porch".into() }),
        TS + 45_000,
    ));
    device_watch_request: message("server_to_device.watch_request", envelope(
        ServerToDevice::WatchRequest(DeviceWatchRequest {
            session_id: session(),
            viewer: "alice".into(),
            ice_servers: ice_servers(),
            ice_transport_policy: IceTransportPolicy::All,
            grants: Grants { recordings: true, configure: true, talk: true },
        }),
        TS + 60_004,
    ));
    device_session_grants: message("server_to_device.session_grants", envelope(
        ServerToDevice::SessionGrants(SessionGrants {
            session_id: session(),
            grants: Grants { recordings: false, configure: false, talk: false },
        }),
        TS + 300_000,
    ));
    device_signal_answer: message("server_to_device.signal_answer", envelope(
        ServerToDevice::SignalAnswer(sdp(ANSWER)),
        TS + 60_212,
    ));
    device_gets_signal_ice: message("server_to_device.signal_ice", envelope(
        ServerToDevice::SignalIce(ice(viewer_candidate())),
        TS + 60_236,
    ));
    device_watch_ended: message("server_to_device.watch_ended", envelope(
        ServerToDevice::WatchEnded(WatchEnded {
            session_id: session(),
            reason: EndReason::ViewerLeft,
            message: None,
        }),
        TS + 900_000,
    ));
    device_error: message("server_to_device.error", envelope(
        ServerToDevice::Error(ErrorBody::new(
            ErrorCode::SessionNotFound,
            format!("no session {SESSION} on this socket"),
        )),
        TS + 60_500,
    ));

    // viewer → device, on the session's `history` data channel
    history_list: message("viewer_to_device.list", envelope(
        ViewerToDevice::List(ListRecordings { from: TS - DAY, to: TS }),
        TS + 61_000,
    ).reply_to(Some("h-1".into())));
    history_play: message("viewer_to_device.play", envelope(
        ViewerToDevice::Play(Play { stream: 1, at: TS - 120_000, until: TS - 90_000 }),
        TS + 62_000,
    ).reply_to(Some("h-2".into())));
    history_more: message("viewer_to_device.more", envelope(
        ViewerToDevice::More(More { stream: 1, until: TS - 60_000 }),
        TS + 80_000,
    ));
    history_stop: message("viewer_to_device.stop", envelope(
        ViewerToDevice::Stop(StopStream { stream: 1 }),
        TS + 90_000,
    ));
    history_export: message("viewer_to_device.export", envelope(
        ViewerToDevice::Export(Export { stream: 2, from: TS - 600_000, to: TS - 580_000, offset: 0 }),
        TS + 95_000,
    ).reply_to(Some("h-3".into())));

    history_list_events: message("viewer_to_device.list_events", envelope(
        ViewerToDevice::ListEvents(ListEvents { from: None, before: Some(TS), limit: Some(20) }),
        TS + 100_000,
    ).reply_to(Some("h-4".into())));
    history_get_thumbnail: message("viewer_to_device.get_thumbnail", envelope(
        ViewerToDevice::GetThumbnail(GetThumbnail { stream: 7, start: TS - 600_000 }),
        TS + 101_000,
    ).reply_to(Some("h-5".into())));
    history_get_motion_settings: message("viewer_to_device.get_motion_settings", envelope(
        ViewerToDevice::GetMotionSettings(GetMotionSettings {}),
        TS + 102_000,
    ).reply_to(Some("h-6".into())));
    history_set_motion_settings: message("viewer_to_device.set_motion_settings", envelope(
        ViewerToDevice::SetMotionSettings(SetMotionSettings { settings: door_and_mask() }),
        TS + 103_000,
    ).reply_to(Some("h-7".into())));

    // device → viewer, on the session's `history` data channel
    history_recordings: message("device_to_viewer.recordings", envelope(
        DeviceToViewer::Recordings(Recordings {
            from: TS - DAY,
            to: TS,
            spans: vec![
                Span { start: TS - 7_200_000, end: TS - 3_600_410 },
                Span { start: TS - 3_598_120, end: TS },
            ],
            truncated: false,
            oldest: Some(TS - 7_200_000),
            recording: true,
        }),
        TS + 61_012,
    ).reply_to(Some("h-1".into())));
    history_playing: message("device_to_viewer.playing", envelope(
        DeviceToViewer::Playing(Playing {
            stream: 1,
            start: TS - 121_433,
            origin: TS - 121_433,
            mime: "video/mp4; codecs=\"avc1.42c01f\"".into(),
        }),
        TS + 62_009,
    ).reply_to(Some("h-2".into())));
    history_exporting: message("device_to_viewer.exporting", envelope(
        DeviceToViewer::Exporting(Exporting {
            stream: 2,
            start: TS - 601_366,
            end: TS - 580_000,
            bytes: 4_012_113,
            file_name: "Front porch 2025-12-31 23-30-58.mp4".into(),
        }),
        TS + 95_030,
    ).reply_to(Some("h-3".into())));
    history_stream_ended: message("device_to_viewer.stream_ended", envelope(
        DeviceToViewer::StreamEnded(StreamEnded {
            stream: 1,
            reason: StreamEndReason::LiveEdge,
            message: None,
        }),
        TS + 180_000,
    ));
    history_refused: message("device_to_viewer.refused", envelope(
        DeviceToViewer::Refused(Refusal {
            stream: Some(1),
            code: RefusalCode::NoRecording,
            message: "nothing is recorded at 2025-12-31T20:00:00Z; the nearest recording is from 2025-12-31T21:40:00Z".into(),
            nearest: Some(Span { start: TS - 7_200_000, end: TS - 3_600_410 }),
        }),
        TS + 62_004,
    ).reply_to(Some("h-2".into())));
    history_refused_permission: message("device_to_viewer.refused.not_permitted", envelope(
        DeviceToViewer::Refused(Refusal {
            stream: None,
            code: RefusalCode::NotPermitted,
            message: "the owner has not allowed you to see this camera's recordings".into(),
            nearest: None,
        }),
        TS + 61_003,
    ).reply_to(Some("h-1".into())));

    history_events: message("device_to_viewer.events", envelope(
        DeviceToViewer::Events(Events {
            events: vec![
                EventRecord {
                    start: TS - 600_000,
                    end: TS - 595_800,
                    zones: vec!["Front door".into()],
                    peak_score: 420,
                    thumbnail: true,
                },
                EventRecord {
                    start: TS - 1_800_000,
                    end: TS - 1_798_600,
                    zones: vec![],
                    peak_score: 180,
                    thumbnail: false,
                },
            ],
            truncated: true,
            detecting: true,
        }),
        TS + 100_008,
    ).reply_to(Some("h-4".into())));
    history_thumbnail: message("device_to_viewer.thumbnail", envelope(
        DeviceToViewer::Thumbnail(Thumbnail {
            stream: 7,
            start: TS - 600_000,
            bytes: 14_212,
            mime: "image/jpeg".into(),
        }),
        TS + 101_004,
    ).reply_to(Some("h-5".into())));
    history_motion_settings: message("device_to_viewer.motion_settings", envelope(
        DeviceToViewer::MotionSettings(CurrentMotionSettings { settings: door_and_mask(), detecting: true }),
        TS + 103_090,
    ).reply_to(Some("h-7".into())));
    history_refused_invalid_settings: message("device_to_viewer.refused.invalid_settings", envelope(
        DeviceToViewer::Refused(Refusal {
            stream: None,
            code: RefusalCode::InvalidSettings,
            message: "zone \"Front door\": point 2 (12000, 10000) is outside the picture (0 to 10000 each way)".into(),
            nearest: None,
        }),
        TS + 103_004,
    ).reply_to(Some("h-7".into())));
    history_refused_no_event: message("device_to_viewer.refused.no_event", envelope(
        DeviceToViewer::Refused(Refusal {
            stream: Some(7),
            code: RefusalCode::NoEvent,
            message: "no event kept starts at 2025-12-31T23:30:00Z".into(),
            nearest: None,
        }),
        TS + 101_002,
    ).reply_to(Some("h-5".into())));

    // viewer → server
    viewer_hello: message("viewer_to_server.hello", envelope(
        ViewerToServer::Hello(ViewerHello { protocol: PROTOCOL_VERSION, token: Some(TOKEN.into()) }),
        TS + 59_000,
    ));
    viewer_heartbeat: message("viewer_to_server.heartbeat", envelope(
        ViewerToServer::Heartbeat(Heartbeat {}),
        TS + 79_000,
    ));
    viewer_watch_request: message("viewer_to_server.watch_request", envelope(
        ViewerToServer::WatchRequest(ViewerWatchRequest::new(device())),
        TS + 60_000,
    ).reply_to(Some("w-1".into())));
    viewer_renew_request: message("viewer_to_server.watch_request.renews", envelope(
        ViewerToServer::WatchRequest(ViewerWatchRequest { device_id: device(), renews: Some(session()) }),
        TS + 60_000 + 27_000_000,
    ).reply_to(Some("w-2".into())));
    viewer_signal_answer: message("viewer_to_server.signal_answer", envelope(
        ViewerToServer::SignalAnswer(sdp(ANSWER)),
        TS + 60_210,
    ));
    viewer_signal_ice: message("viewer_to_server.signal_ice", envelope(
        ViewerToServer::SignalIce(ice(viewer_candidate())),
        TS + 60_234,
    ));
    viewer_signal_ice_end: message("viewer_to_server.signal_ice.end", envelope(
        ViewerToServer::SignalIce(ice(None)),
        TS + 60_290,
    ));
    viewer_end_watch: message("viewer_to_server.end_watch", envelope(
        ViewerToServer::EndWatch(ViewerEndWatch { session_id: session() }),
        TS + 899_990,
    ));

    // server → viewer
    viewer_hello_ack: message("server_to_viewer.hello_ack", envelope(
        ServerToViewer::HelloAck(ViewerHelloAck {
            protocol: PROTOCOL_VERSION,
            user: alice(),
            devices: vec![
                DevicePresence {
                    device_id: device(),
                    name: "Front porch".into(),
                    online: true,
                    last_seen: Some(TS + 40_000),
                    status: Some(pi_status()),
                },
                DevicePresence {
                    device_id: DeviceId::from(DEVICE2),
                    name: "Garage".into(),
                    online: false,
                    last_seen: Some(1_767_139_200_000),
                    status: None,
                },
            ],
            heartbeat_interval_ms: 20_000,
        }),
        TS + 59_004,
    ));
    viewer_heartbeat_ack: message("server_to_viewer.heartbeat_ack", envelope(
        ServerToViewer::HeartbeatAck(Heartbeat {}),
        TS + 79_002,
    ));
    viewer_device_presence: message("server_to_viewer.device_presence", envelope(
        ServerToViewer::DevicePresence(DevicePresence {
            device_id: DeviceId::from(DEVICE2),
            name: "Garage".into(),
            online: true,
            last_seen: Some(TS + 65_000),
            status: None,
        }),
        TS + 65_000,
    ));
    viewer_device_removed: message("server_to_viewer.device_removed", envelope(
        ServerToViewer::DeviceRemoved(DeviceRemoved { device_id: DeviceId::from(DEVICE2) }),
        TS + 70_000,
    ));
    viewer_watch_ready: message("server_to_viewer.watch_ready", envelope(
        ServerToViewer::WatchReady(WatchReady {
            session_id: session(),
            device_id: device(),
            ice_servers: ice_servers(),
            ice_transport_policy: IceTransportPolicy::Relay,
            ice_credentials_ttl_ms: Some(43_200_000),
        }),
        TS + 60_005,
    ).reply_to(Some("w-1".into())));
    viewer_signal_offer: message("server_to_viewer.signal_offer", envelope(
        ServerToViewer::SignalOffer(sdp(OFFER)),
        TS + 60_132,
    ));
    viewer_gets_signal_ice: message("server_to_viewer.signal_ice", envelope(
        ServerToViewer::SignalIce(ice(relay_candidate())),
        TS + 60_143,
    ));
    viewer_watch_ended: message("server_to_viewer.watch_ended", envelope(
        ServerToViewer::WatchEnded(WatchEnded {
            session_id: session(),
            reason: EndReason::DeviceDisconnected,
            message: Some("the camera went offline".into()),
        }),
        TS + 300_000,
    ));
    viewer_error: message("server_to_viewer.error", envelope(
        ServerToViewer::Error(ErrorBody::new(
            ErrorCode::DeviceOffline,
            "device Front porch is not connected",
        )),
        TS + 60_003,
    ).reply_to(Some("w-1".into())));

    // motion: what the camera keeps (its settings, its events)
    events_motion_settings: camera("events.motion_settings", MotionSettings {
        sensitivity: 60,
        min_area: 150,
        zones: vec![
            MotionZone { name: "Front door".into(), points: rectangle(0, 3000, 4000, 10_000) },
            MotionZone {
                name: "Path".into(),
                points: vec![Point::new(4000, 6000), Point::new(10_000, 5000), Point::new(10_000, 10_000)],
            },
        ],
        masks: vec![PrivacyMask { points: rectangle(7000, 0, 10_000, 2500) }],
    });
    events_event_record: camera("events.event_record", EventRecord {
        start: TS,
        end: TS + 4_200,
        zones: vec!["Front door".into(), "Path".into()],
        peak_score: 420,
        thumbnail: true,
    });
    events_event_record_no_zones: camera("events.event_record.no_zones", EventRecord {
        start: TS + 60_000,
        end: TS + 61_400,
        zones: vec![],
        peak_score: 180,
        thumbnail: false,
    });

    // REST bodies
    rest_register_request: rest("rest.register_request", RegisterRequest {
        username: "alice".into(),
        email: "alice@example.com".into(),
        password: "correct horse battery staple".into(),
        invitation: None,
    });
    rest_register_request_invited: rest("rest.register_request.invited", RegisterRequest {
        username: "bob".into(),
        email: "bob@example.com".into(),
        password: "correct horse battery staple".into(),
        invitation: Some("5f0c9e2a7b1d4c3e8a6f2b9d0e1c7a34".into()),
    });
    rest_invitation_request: rest("rest.invitation_request", InvitationRequest {
        expires_in_secs: Some(86_400),
    });
    rest_new_invitation: rest("rest.new_invitation", NewInvitation {
        id: "8b6f1c2d-4e5a-4f7b-9c0d-1e2f3a4b5c6d".into(),
        code: "5f0c9e2a7b1d4c3e8a6f2b9d0e1c7a34".into(),
        link: "https://cams.example.org/register?invite=5f0c9e2a7b1d4c3e8a6f2b9d0e1c7a34".into(),
        expires_at: TS + 604_800_000,
    });
    rest_invitation: rest("rest.invitation", Invitation {
        id: "8b6f1c2d-4e5a-4f7b-9c0d-1e2f3a4b5c6d".into(),
        created_by: "alice".into(),
        created_at: TS,
        expires_at: TS + 604_800_000,
        used_at: Some(TS + 3_600_000),
        used_by: Some("bob".into()),
    });
    rest_login_request: rest("rest.login_request", LoginRequest {
        username: "alice".into(),
        password: "correct horse battery staple".into(),
    });
    rest_user: rest("rest.user", alice());
    rest_auth_response: rest("rest.auth_response", AuthResponse {
        access_token: TOKEN.into(),
        token_type: "bearer".into(),
        expires_at: 1_767_826_800_000,
        user: alice(),
    });
    rest_enroll_request: rest("rest.enroll_request", EnrollRequest {
        name: Some("raspberrypi".into()),
        agent_version: "0.1.0".into(),
    });
    rest_enroll_response: rest("rest.enroll_response", EnrollResponse {
        device_id: device(),
        device_secret: DEVICE_SECRET.into(),
        // As the server sends it: two groups of four.
        pairing_code: "K7QM-4RXP".into(),
        expires_at: TS + 600_000,
    });
    rest_pairing_code: rest("rest.pairing_code", PairingCode {
        pairing_code: "H3NW-8TZA".into(),
        expires_at: TS + 900_000,
    });
    rest_pair_request: rest("rest.pair_request", PairRequest {
        pairing_code: "K7QM-4RXP".into(),
        name: Some("Front porch".into()),
    });
    rest_update_device_request: rest("rest.update_device_request", UpdateDeviceRequest {
        name: "Back garden".into(),
    });
    rest_share_request: rest("rest.share_request", ShareRequest {
        username: "bob".into(),
        role: ShareRole::Viewer,
        recordings: false,
        notifications: true,
        talk: false,
    });
    rest_share_request_recordings: rest("rest.share_request.recordings", ShareRequest {
        username: "carol@example.com".into(),
        role: ShareRole::Admin,
        recordings: true,
        notifications: false,
        talk: true,
    });
    rest_update_share_request: rest("rest.update_share_request", UpdateShareRequest {
        recordings: Some(true),
        ..UpdateShareRequest::default()
    });
    rest_event: rest("rest.event", Event {
        device_id: device(),
        device_name: "Porch".into(),
        start: TS,
        end: Some(TS + 4_200),
        zones: vec!["Front door".into()],
        peak_score: 420,
    });
    rest_event_under_way: rest("rest.event.under_way", Event {
        device_id: device(),
        device_name: "Porch".into(),
        start: TS + 60_000,
        end: None,
        zones: vec![],
        peak_score: 180,
    });
    rest_arming: rest("rest.arming", Arming { mode: ArmingMode::Home });
    rest_quiet_hours: rest("rest.quiet_hours", QuietHours {
        start: "22:30".into(),
        end: "07:00".into(),
        utc_offset_minutes: 60,
    });
    rest_camera_notifications: rest("rest.camera_notifications", CameraNotifications {
        cooldown_secs: 60,
        always: true,
    });
    rest_update_camera_notifications: rest("rest.update_camera_notifications", UpdateCameraNotifications {
        cooldown_secs: Some(300),
        always: None,
    });
    rest_webhook_request: rest("rest.webhook_request", WebhookRequest {
        url: "https://ha.example.com/api/webhook/mumu-porch".into(),
        secret: Some("a long random secret, 16+ chars".into()),
    });
    rest_webhook: rest("rest.webhook", Webhook {
        url: "https://ha.example.com/api/webhook/mumu-porch".into(),
        created_at: TS,
        secret: None,
    });
    rest_webhook_event: rest("rest.webhook_event", WebhookEvent {
        kind: "motion".into(),
        camera_id: device(),
        camera_name: "Porch".into(),
        start: TS,
        end: None,
        zones: vec!["Front door".into()],
        peak_score: 260,
    });
    rest_share: rest("rest.share", Share {
        username: "bob".into(),
        granted_at: TS,
        role: ShareRole::Viewer,
        recordings: false,
        notifications: true,
        talk: false,
    });
    rest_share_recordings: rest("rest.share.recordings", Share {
        username: "carol".into(),
        granted_at: TS + 60_000,
        role: ShareRole::Admin,
        recordings: true,
        notifications: false,
        talk: true,
    });
    rest_device: rest("rest.device", Device {
        id: device(),
        name: "Front porch".into(),
        role: AccessRole::Owner,
        shared_by: None,
        is_online: true,
        last_seen: Some(TS + 40_000),
        created_at: TS - 3_600_000,
        paired_at: Some(TS - 3_540_000),
        agent_version: Some("0.1.0".into()),
        status: Some(pi_status()),
    });
    rest_device_offline: rest("rest.device.offline", Device {
        id: DeviceId::from(DEVICE2),
        name: "Garage".into(),
        role: AccessRole::Viewer,
        shared_by: Some("alice".into()),
        is_online: false,
        last_seen: None,
        created_at: 1_764_633_600_000,
        paired_at: None,
        agent_version: None,
        status: None,
    });
    rest_device_status: rest("rest.device_status", DeviceStatus {
        uptime_s: 3_605,
        viewers: 0,
        source: Some("test".into()),
        encoder: Some("x264enc".into()),
        cpu_temp_c: None,
        recording: false,
    });
    rest_health: rest("rest.health", Health { status: "ok".into(), checks: vec![] });
    rest_health_readyz: rest("rest.health.readyz", Health {
        status: "unavailable".into(),
        checks: vec![
            HealthCheck { name: "database".into(), status: "ok".into() },
            HealthCheck { name: "presence".into(), status: "redis: connection refused".into() },
        ],
    });
    // Web Push
    rest_push_key: rest("rest.push_key", PushKey {
        public_key: PUSH_PUBLIC_KEY.into(),
    });
    rest_push_subscription_request: rest("rest.push_subscription_request", PushSubscriptionRequest {
        endpoint: PUSH_ENDPOINT.into(),
        keys: PushKeys { p256dh: PUSH_P256DH.into(), auth: "tBHItJI5svbpez7KI4CCXg".into() },
        devices: Some(vec![device()]),
    });
    rest_push_subscription: rest("rest.push_subscription", PushSubscription {
        id: "0e5b7a3c-6d21-4f8e-b9a4-3c2d1e0f9a8b".into(),
        endpoint: PUSH_ENDPOINT.into(),
        devices: vec![device(), DeviceId::from(DEVICE2)],
        created_at: TS,
    });
    rest_notify_me: rest("rest.notify_me", NotifyMe {
        device_id: device(),
        notify: true,
        subscriptions: 1,
    });
    push_notification: push("push.notification", PushNotification::event(device(), "Front porch", TS + 125_000));

    rest_error_response: rest("rest.error_response", ErrorResponse {
        error: ErrorBody::new(
            ErrorCode::InvalidPairingCode,
            "no pairing code K7QM-4RXP is waiting; check the code on the camera",
        ),
    });
}

// ----------------------------------------------------------------------------------------------
// Coverage: a new message type without an example, or an example nobody checks, fails.

/// The names (without `.json`) of the files in `tests/golden/`.
fn golden_files() -> BTreeSet<String> {
    std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .map(|entry| entry.expect("a readable directory entry").file_name())
        .map(|name| name.into_string().expect("golden file names are UTF-8"))
        .map(|name| {
            name.strip_suffix(".json")
                .unwrap_or_else(|| panic!("tests/golden/{name} is not a .json file"))
                .to_owned()
        })
        .collect()
}

fn every_type_has_a_golden_file<M: Direction>() {
    let files = golden_files();
    let missing: Vec<String> = M::TYPES
        .iter()
        .map(|kind| format!("{}.{kind}", M::NAME))
        .filter(|name| !files.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "message types without a golden file: {missing:?}"
    );
}

#[test]
fn every_device_to_server_type_has_a_golden_file() {
    every_type_has_a_golden_file::<DeviceToServer>();
}

#[test]
fn every_server_to_device_type_has_a_golden_file() {
    every_type_has_a_golden_file::<ServerToDevice>();
}

#[test]
fn every_viewer_to_server_type_has_a_golden_file() {
    every_type_has_a_golden_file::<ViewerToServer>();
}

#[test]
fn every_server_to_viewer_type_has_a_golden_file() {
    every_type_has_a_golden_file::<ServerToViewer>();
}

#[test]
fn every_viewer_to_device_type_has_a_golden_file() {
    every_type_has_a_golden_file::<ViewerToDevice>();
}

#[test]
fn every_device_to_viewer_type_has_a_golden_file() {
    every_type_has_a_golden_file::<DeviceToViewer>();
}

#[test]
fn every_golden_file_is_checked_by_a_test() {
    let checked: BTreeSet<String> = CHECKED.iter().map(|name| (*name).to_owned()).collect();
    let files = golden_files();
    let unchecked: Vec<&String> = files.difference(&checked).collect();
    assert!(
        unchecked.is_empty(),
        "golden files that no test checks: {unchecked:?}"
    );
    let missing: Vec<&String> = checked.difference(&files).collect();
    assert!(
        missing.is_empty(),
        "tests whose golden file is missing: {missing:?}"
    );
}

#[test]
fn golden_files_are_pretty_printed_objects_within_the_message_size_limit() {
    for name in golden_files() {
        let text = read_golden(&name);
        assert!(
            parse(&name, &text).is_object(),
            "{name}.json is not a JSON object"
        );
        assert!(
            text.starts_with("{\n  \""),
            "{name}.json is not pretty-printed"
        );
        assert!(
            text.len() <= mumu_shared::MAX_MESSAGE_BYTES,
            "{name}.json is too large"
        );
    }
}
