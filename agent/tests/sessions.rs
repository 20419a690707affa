//! The session table against a real (test-picture) pipeline: refusals and bad input from the
//! other side end only the session they concern.

use mumu_agent::media::capture::{Capture, Source};
use mumu_agent::media::{MediaEvent, VideoSettings, dtls};
use mumu_agent::sessions::Sessions;
use mumu_shared::SessionId;
use mumu_shared::signaling::{
    DeviceEndWatch, DeviceToServer, DeviceWatchRequest, EndReason, IceCandidate,
    IceTransportPolicy, ServerToDevice, SessionIce, SessionSdp,
};
use std::time::Duration;

fn settings() -> VideoSettings {
    VideoSettings::small_test()
}

fn watch(session: &str) -> ServerToDevice {
    ServerToDevice::WatchRequest(DeviceWatchRequest {
        session_id: session.into(),
        viewer: "alice".into(),
        ice_servers: vec![],
        ice_transport_policy: IceTransportPolicy::All,
        grants: mumu_shared::signaling::Grants::default(),
    })
}

fn ended(messages: &[DeviceToServer]) -> Vec<(SessionId, EndReason)> {
    messages
        .iter()
        .filter_map(|m| match m {
            DeviceToServer::EndWatch(DeviceEndWatch {
                session_id, reason, ..
            }) => Some((session_id.clone(), *reason)),
            _ => None,
        })
        .collect()
}

fn sessions(max_viewers: usize) -> Sessions {
    sessions_idle_after(max_viewers, None)
}

fn sessions_idle_after(max_viewers: usize, idle_stop: Option<Duration>) -> Sessions {
    gstreamer::init().expect("GStreamer initialises");
    let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
    let capture = Capture::start(&settings(), events.clone())
        .expect("the test pipeline starts")
        .with_idle_stop(idle_stop);
    Sessions::new(capture, events, max_viewers)
}

#[tokio::test]
async fn a_viewer_beyond_the_maximum_is_refused_with_max_viewers() {
    let mut sessions = sessions(2);
    assert!(sessions.on_server_message(watch("a")).is_empty());
    assert!(sessions.on_server_message(watch("b")).is_empty());
    let refused = sessions.on_server_message(watch("c"));
    assert_eq!(ended(&refused), [("c".into(), EndReason::MaxViewers)]);
    assert_eq!(sessions.viewers(), 2);
}

#[tokio::test]
async fn an_answer_that_is_not_sdp_ends_only_its_own_session() {
    let mut sessions = sessions(4);
    sessions.on_server_message(watch("a"));
    sessions.on_server_message(watch("b"));
    let replies = sessions.on_server_message(ServerToDevice::SignalAnswer(SessionSdp {
        session_id: "a".into(),
        sdp: "this is not a session description".into(),
    }));
    assert_eq!(ended(&replies), [("a".into(), EndReason::Failed)]);
    assert_eq!(sessions.viewers(), 1);
}

#[tokio::test]
async fn messages_for_unknown_sessions_and_early_candidates_change_nothing() {
    let mut sessions = sessions(4);
    sessions.on_server_message(watch("a"));
    let answer = sessions.on_server_message(ServerToDevice::SignalAnswer(SessionSdp {
        session_id: "nobody".into(),
        sdp: "v=0\r\n".into(),
    }));
    let early = sessions.on_server_message(ServerToDevice::SignalIce(SessionIce {
        session_id: "a".into(),
        candidate: Some(IceCandidate {
            candidate: "candidate:1 1 UDP 2015363327 192.0.2.9 47129 typ host".into(),
            sdp_mid: Some("video0".into()),
            sdp_m_line_index: Some(0),
        }),
    }));
    assert!(answer.is_empty() && early.is_empty());
    assert_eq!(sessions.viewers(), 1);
}

#[tokio::test]
async fn a_leaving_viewer_gives_back_every_element_of_its_branch() {
    let mut sessions = sessions(4);
    let before = sessions.capture().element_count();
    sessions.on_server_message(watch("a"));
    assert!(sessions.capture().element_count() > before);
    sessions.on_server_message(ServerToDevice::WatchEnded(
        mumu_shared::signaling::WatchEnded {
            session_id: "a".into(),
            reason: EndReason::ViewerLeft,
            message: None,
        },
    ));
    // Removal happens off this thread (`call_async`).
    for _ in 0..100 {
        if sessions.capture().element_count() == before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "{} elements after the viewer left, {before} before it came",
        sessions.capture().element_count()
    );
}

#[tokio::test]
async fn the_pipeline_stops_when_nobody_watches_and_starts_again_for_the_next_viewer() {
    let idle = Duration::from_millis(300);
    let mut sessions = sessions_idle_after(4, Some(idle));
    let capture = sessions.capture().clone();
    assert!(capture.is_running());
    let due = capture.idle_deadline().expect("idle from the start");
    assert!(
        !capture.stop_if_idle(due - Duration::from_millis(100)),
        "not yet"
    );
    assert!(capture.stop_if_idle(due), "due: stopped");
    assert!(!capture.is_running());
    assert_eq!(capture.idle_deadline(), None, "nothing more to stop");

    assert!(sessions.on_server_message(watch("a")).is_empty());
    assert!(capture.is_running(), "a viewer starts it again");
    assert_eq!(capture.idle_deadline(), None, "never idle with a viewer");

    sessions.on_server_message(ServerToDevice::WatchEnded(
        mumu_shared::signaling::WatchEnded {
            session_id: "a".into(),
            reason: EndReason::ViewerLeft,
            message: None,
        },
    ));
    let due = capture.idle_deadline().expect("idle again");
    assert!(due >= std::time::Instant::now() + idle - Duration::from_millis(100));
    assert!(capture.stop_if_idle(due));
    assert!(!capture.is_running());
}

#[tokio::test]
async fn without_an_idle_time_the_pipeline_runs_on() {
    let sessions = sessions_idle_after(4, None);
    let capture = sessions.capture();
    assert_eq!(capture.idle_deadline(), None);
    assert!(!capture.stop_if_idle(std::time::Instant::now() + Duration::from_secs(3600)));
    assert!(capture.is_running());
}

#[tokio::test]
async fn every_viewer_shares_the_one_encoder() {
    let mut sessions = sessions(4);
    assert_eq!(sessions.capture().encoder_count(), 1);
    for viewer in ["a", "b", "c"] {
        sessions.on_server_message(watch(viewer));
    }
    assert_eq!(sessions.viewers(), 3);
    assert_eq!(sessions.capture().encoder_count(), 1, "still one encoder");
}

#[tokio::test]
async fn an_unknown_test_pattern_is_refused_with_the_known_ones() {
    gstreamer::init().expect("GStreamer initialises");
    let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
    let mut bad = settings();
    bad.source = Source::Test {
        pattern: "plaid".into(),
    };
    let error = Capture::start(&bad, events)
        .expect_err("no such pattern")
        .to_string();
    assert!(
        error.contains("plaid") && error.contains("ball"),
        "says what was wrong and what exists: {error}"
    );
}

#[tokio::test]
async fn the_offer_comes_before_the_next_frame_and_names_the_agents_ecdsa_certificate() {
    gstreamer::init().expect("GStreamer initialises");
    // One frame a second: an offer that waited for the stream's own caps would wait for the
    // encoder's next frame, most of a second away.
    let mut slow = settings();
    slow.framerate = 1;
    let (events, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let capture = Capture::start(&slow, events.clone()).expect("the test pipeline starts");
    tokio::time::sleep(Duration::from_millis(100)).await; // the first frame has gone by
    let mut sessions = Sessions::new(capture, events, 4);
    let asked = std::time::Instant::now();
    sessions.on_server_message(watch("a"));
    let sdp = tokio::time::timeout(Duration::from_millis(600), async {
        loop {
            match rx.recv().await.expect("the branch reports") {
                MediaEvent::Offer { sdp, .. } => return sdp,
                MediaEvent::BranchFailed { reason, .. } => panic!("{reason}"),
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no offer {:?} after the watch request", asked.elapsed()));

    let fingerprint = format!("a=fingerprint:sha-256 {}", dtls::certificate().fingerprint);
    assert!(sdp.contains(&fingerprint), "{fingerprint} not in\n{sdp}");
    assert!(sdp.contains("a=rtpmap:96 H264/90000"), "{sdp}");
    assert!(sdp.contains("profile-level-id=42e01f"), "{sdp}");
    assert!(sdp.contains("packetization-mode=1"), "{sdp}");
    assert!(sdp.contains("level-asymmetry-allowed=1"), "{sdp}");
    assert!(
        sdp.contains("a=ssrc:"),
        "the SSRC is named in advance:\n{sdp}"
    );
}

#[tokio::test]
async fn a_viewer_that_starts_the_stopped_pipeline_again_gets_its_stream() {
    gstreamer::init().expect("GStreamer initialises");
    let (events, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let capture = Capture::start(&settings(), events.clone())
        .expect("the test pipeline starts")
        .with_idle_stop(Some(Duration::from_millis(1)));
    let mut sessions = Sessions::new(capture, events, 4);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(sessions.capture().stop_if_idle(std::time::Instant::now()));
    // The encoder negotiates again as the pipeline starts, with this viewer's branch already
    // hanging off the tee.
    sessions.on_server_message(watch("a"));
    let failure = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match rx.recv().await {
                Some(MediaEvent::CaptureFailed { reason }) => return reason,
                Some(MediaEvent::BranchFailed { reason, .. }) => return reason,
                Some(_) => {}
                None => std::future::pending::<()>().await,
            }
        }
    })
    .await;
    assert!(failure.is_err(), "{failure:?}");
    assert!(sessions.capture().is_running());
}
