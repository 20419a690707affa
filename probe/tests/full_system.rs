//! The whole system as a person runs it: the real server, the real agent on the test picture,
//! pairing over REST, and the probe watching through the server (see `common`).

#[path = "full_system/audio.rs"]
mod audio;
mod common;
#[path = "full_system/events.rs"]
mod events;
#[path = "full_system/notifications.rs"]
mod notifications;
#[path = "full_system/recording.rs"]
mod recording;

use common::{System, stored_code};
use mumu_probe::watch::open_socket;
use mumu_shared::signaling::{
    EndReason, IceCandidate, ServerToViewer, SessionIce, SessionSdp, ViewerToServer,
    ViewerWatchRequest,
};
use mumu_shared::{ErrorBody, ErrorCode, SessionId};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_the_simulated_camera_through_the_real_server() {
    let system = System::start().await;
    let summary = system.watch_ok(5.0).await;
    assert!(
        summary.first_frame_verified,
        "SPS, PPS and an IDR came first: {summary:?}"
    );
    assert!(summary.seconds >= 4.9, "five seconds of video: {summary:?}");
    assert!(summary.fps >= 25.0, "at least 25 fps: {summary:?}");
    assert!(summary.keyframes >= 1, "{summary:?}");
    assert_eq!(
        summary.frames_before_keyframe, 0,
        "nothing it could not decode came before the keyframe: {summary:?}"
    );
    assert_eq!(summary.large_gaps, 0, "{summary:?}");
    let (connected, first_frame) = (
        summary.connected_ms.unwrap(),
        summary.first_frame_ms.unwrap(),
    );
    assert!(
        first_frame - connected <= 200.0,
        "a keyframe within 200 ms of the connection (connected at {connected:.0} ms, first frame at {first_frame:.0} ms)"
    );
    assert_eq!(summary.ended_early, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_viewers_share_the_camera_and_one_leaving_stalls_nobody() {
    let system = System::start().await;
    // First learn the pipeline's sizes: two viewers leaving one after the other show the size
    // with one branch and the base size.
    let (a, b) = tokio::join!(system.watch_ok(1.0), system.watch_ok(3.0));
    assert!(a.first_frame_verified && b.first_frame_verified);
    let sizes = removed_sizes(&system, 2).await;
    let (base, branch) = (sizes[1], sizes[0] - sizes[1]);
    assert!(branch > 0, "a viewer's branch has elements: {sizes:?}");

    let (short, long_a, long_b) = tokio::join!(
        system.watch_ok(1.5),
        system.watch_ok(5.0),
        system.watch_ok(5.0)
    );
    assert!(
        short.first_frame_verified && short.ended_early.is_none(),
        "{short:?}"
    );
    for summary in [&a, &b, &short, &long_a, &long_b] {
        assert_eq!(
            summary.frames_before_keyframe, 0,
            "each viewer starts at its own keyframe, however close the joins: {summary:?}"
        );
    }
    for summary in [&long_a, &long_b] {
        assert!(summary.first_frame_verified, "{summary:?}");
        assert!(
            summary.fps >= 25.0,
            "the others keep their frame rate: {summary:?}"
        );
        assert_eq!(summary.large_gaps, 0, "and do not stall: {summary:?}");
    }
    let sizes = removed_sizes(&system, 5).await;
    assert_eq!(
        sizes[2],
        base + 2 * branch,
        "one of three gone: the size for two viewers"
    );
    assert_eq!(sizes[4], base, "all gone: back to the base pipeline");
}

/// The pipeline's element count logged after each of the first `n` viewer branches went away.
async fn removed_sizes(system: &System, n: usize) -> Vec<u32> {
    common::wait_until(
        "viewer branches removed",
        std::time::Duration::from_secs(10),
        || {
            let sizes: Vec<u32> = system
                .agent_log()
                .lines()
                .filter(|l| l.contains("viewer branch removed"))
                .filter_map(|l| {
                    l.split("elements=")
                        .nth(1)?
                        .split_whitespace()
                        .next()?
                        .parse()
                        .ok()
                })
                .collect();
            (sizes.len() >= n).then_some(sizes)
        },
    )
    .await
}

/// Watches, lets `interrupt` break the system three seconds in, and returns why the watch
/// ended; then proves a new watch works.
async fn interrupted_watch(
    system: &mut System,
    interrupt: impl AsyncFnOnce(&mut System),
) -> String {
    let base = system.base.clone();
    let watching = tokio::spawn(async move { common::watch_at(&base, 30.0).await });
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    interrupt(system).await;
    let summary = watching
        .await
        .unwrap()
        .expect("the watch ran until it was interrupted");
    assert!(
        summary.first_frame_verified,
        "it was watching before: {summary:?}"
    );
    let again = system.watch_ok(2.0).await;
    assert!(again.first_frame_verified && again.fps >= 25.0, "{again:?}");
    summary.ended_early.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_ends_the_watch_with_a_reason_and_the_camera_comes_back() {
    let mut system = System::start().await;
    let why = interrupted_watch(&mut system, async |s| s.restart_server().await).await;
    assert!(
        why.contains("server_shutdown"),
        "the viewer heard why: {why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_restart_ends_the_watch_with_a_reason_and_the_camera_comes_back() {
    let mut system = System::start().await;
    let why = interrupted_watch(&mut system, async |s| s.restart_agent()).await;
    assert!(
        why.contains("device_ended") || why.contains("device_disconnected"),
        "the viewer heard why: {why}"
    );
}

/// Reads `socket` until `want` picks a message out, failing the test after 20 s.
async fn expect<T>(
    socket: &mut mumu_probe::viewer_socket::ViewerSocket,
    what: &str,
    mut want: impl FnMut(ServerToViewer) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let envelope = tokio::time::timeout_at(deadline, socket.recv())
            .await
            .unwrap_or_else(|_| panic!("{what} within 20 s"))
            .unwrap_or_else(|e| panic!("{what}: the socket failed: {e}"));
        if let Some(found) = want(envelope.message) {
            return found;
        }
    }
}

fn error_code(message: ServerToViewer) -> Option<ErrorBody> {
    match message {
        ServerToViewer::Error(error) => Some(error),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_from_a_viewer_is_refused_and_the_other_viewer_keeps_watching() {
    let system = System::start().await;
    let base = system.base.clone();
    let good = tokio::spawn(async move { common::watch_at(&base, 8.0).await });

    let (mut bad, ack) = open_socket(&system.base, "owner", common::PASSWORD)
        .await
        .expect("a second viewer socket");
    let device = match ack.devices.iter().find(|d| d.online) {
        Some(online) => online.device_id.clone(),
        None => {
            expect(&mut bad, "the camera online", |m| match m {
                ServerToViewer::DevicePresence(p) if p.online => Some(p.device_id),
                _ => None,
            })
            .await
        }
    };

    // Not a message at all: the server says what was wrong and keeps the socket.
    bad.send_text("this is not json").await.unwrap();
    let error = expect(&mut bad, "an error for a non-JSON frame", error_code).await;
    assert_eq!(error.code, ErrorCode::BadMessage, "{error}");

    // An answer for a session that does not exist.
    let answer = |session_id: &SessionId, sdp: &str| {
        ViewerToServer::SignalAnswer(SessionSdp {
            session_id: session_id.clone(),
            sdp: sdp.into(),
        })
    };
    bad.send(answer(&"no-such-session".into(), "v=0\r\n"), None)
        .await
        .unwrap();
    let error = expect(&mut bad, "an error for an unknown session", error_code).await;
    assert_eq!(error.code, ErrorCode::SessionNotFound, "{error}");

    // Its own session: ICE before the answer (a well-formed candidate is kept for later, a
    // malformed one refused), then garbage as the answer.
    bad.send(
        ViewerToServer::WatchRequest(ViewerWatchRequest::new(device.clone())),
        Some("bad-1"),
    )
    .await
    .unwrap();
    let session = expect(&mut bad, "watch_ready", |m| match m {
        ServerToViewer::WatchReady(ready) => Some(ready.session_id),
        ServerToViewer::Error(e) => panic!("the watch was refused: {e}"),
        _ => None,
    })
    .await;
    expect(&mut bad, "the device's offer", |m| match m {
        ServerToViewer::SignalOffer(offer) => Some(offer),
        _ => None,
    })
    .await;
    for candidate in [
        "candidate:1 1 UDP 2015363327 192.0.2.7 47129 typ host",
        "candidate:garbage",
    ] {
        let ice = ViewerToServer::SignalIce(SessionIce {
            session_id: session.clone(),
            candidate: Some(IceCandidate {
                candidate: candidate.into(),
                sdp_mid: None,
                sdp_m_line_index: Some(0),
            }),
        });
        bad.send(ice, None).await.unwrap();
    }
    bad.send(answer(&session, "garbage, not SDP"), None)
        .await
        .unwrap();
    let ended = expect(
        &mut bad,
        "watch_ended for the garbage answer",
        |m| match m {
            ServerToViewer::WatchEnded(ended) if ended.session_id == session => Some(ended),
            _ => None,
        },
    )
    .await;
    assert_eq!(ended.reason, EndReason::Failed, "{ended:?}");
    let why = ended.message.unwrap_or_default();
    assert!(why.contains("SDP"), "the viewer is told why: {why}");

    // The session is over: more about it is refused by the server.
    bad.send(answer(&session, "v=0\r\n"), None).await.unwrap();
    let error = expect(&mut bad, "an error for an ended session", error_code).await;
    assert_eq!(error.code, ErrorCode::SessionNotFound, "{error}");
    bad.close().await;

    let summary = good
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("the good viewer: {e}\n{}", system.agent_log()));
    assert_eq!(summary.ended_early, None, "{summary:?}");
    assert!(
        summary.fps >= 25.0,
        "the other viewer kept its frame rate: {summary:?}"
    );
    assert_eq!(summary.large_gaps, 0, "{summary:?}");
    assert!(
        summary.max_frame_gap_ms < 700.0,
        "and never stalled: {summary:?}"
    );

    let log = system.agent_log();
    for logged in [
        "ICE candidate refused",
        "candidate before the answer",
        "bad SDP for session",
    ] {
        assert!(log.contains(logged), "the agent logged {logged:?}:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_camera_stops_when_nobody_watches_and_the_next_watch_starts_it() {
    let system = System::start_with(&["--idle-stop-secs", "1"]).await;
    let stops = || {
        system
            .agent_log()
            .matches("capture pipeline stopped: nobody watched")
            .count()
    };
    common::wait_until("the idle pipeline stopped", Duration::from_secs(20), || {
        (stops() >= 1).then_some(())
    })
    .await;
    for round in 1..=2 {
        let summary = system.watch_ok(1.5).await;
        assert!(
            summary.first_frame_verified && summary.fps >= 25.0,
            "round {round}: {summary:?}"
        );
        common::wait_until("stopped again", Duration::from_secs(20), || {
            (stops() > round).then_some(())
        })
        .await;
    }
    let log = system.agent_log();
    assert_eq!(
        log.matches("capture pipeline started again").count(),
        2,
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_pairing_code_is_replaced_and_the_new_one_pairs() {
    // Codes live 6 s: the agent must fetch a fresh one (with its secret) before the old one
    // runs out, and the fresh one is the one that pairs (System pairs with the stored code).
    let system = System::start_full(&[], &[("MUMU_PAIRING_CODE_TTL_SECS", "6")], async |state| {
        let first = common::wait_until("a first code", Duration::from_secs(20), || {
            stored_code(state)
        })
        .await;
        common::wait_until("a fresh code", Duration::from_secs(20), || {
            stored_code(state).filter(|c| *c != first)
        })
        .await;
    })
    .await;
    let summary = system.watch_ok(1.0).await;
    assert!(summary.first_frame_verified, "{summary:?}");
    let log = system.agent_log();
    assert!(
        log.contains("the pairing code is about to expire: getting a new one"),
        "{log}"
    );
}
