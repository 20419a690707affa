//! Signaling over WebSocket, driven by a scripted device and scripted viewers: presence, the
//! whole watch flow, teardown, and every refusal leaving the server serving everyone else.

mod common;

use common::{Device, TestServer, Viewer, hello, watch};
use mumu_shared::signaling::*;
use mumu_shared::{ErrorCode, PROTOCOL_VERSION, SessionId};

fn error_code_of_viewer(m: &ServerToViewer) -> Option<ErrorCode> {
    match m {
        ServerToViewer::Error(e) => Some(e.code),
        _ => None,
    }
}

fn error_code_of_device(m: &ServerToDevice) -> Option<ErrorCode> {
    match m {
        ServerToDevice::Error(e) => Some(e.code),
        _ => None,
    }
}

/// The next message that is not a presence update: presence notices published before a socket
/// attached may still be on their way to it, and are true but beside the point.
async fn next(viewer: &mut Viewer) -> mumu_shared::Envelope<ServerToViewer> {
    viewer
        .recv_matching(|m| !matches!(m, ServerToViewer::DevicePresence(_)))
        .await
}

/// The next message to a device that is not `paired`: a device paired just before it connected
/// may hear of it after its hello.
async fn next_cam(cam: &mut Device) -> mumu_shared::Envelope<ServerToDevice> {
    cam.recv_matching(|m| !matches!(m, ServerToDevice::Paired(_)))
        .await
}

async fn viewer_error(viewer: &mut Viewer) -> mumu_shared::ErrorBody {
    match viewer
        .recv_matching(|m| matches!(m, ServerToViewer::Error(_)))
        .await
        .message
    {
        ServerToViewer::Error(e) => e,
        _ => unreachable!(),
    }
}

async fn device_error(device: &mut Device) -> mumu_shared::ErrorBody {
    match device
        .recv_matching(|m| matches!(m, ServerToDevice::Error(_)))
        .await
        .message
    {
        ServerToDevice::Error(e) => e,
        _ => unreachable!(),
    }
}

fn ice(session: &SessionId, n: u32) -> SessionIce {
    SessionIce {
        session_id: session.clone(),
        candidate: Some(IceCandidate {
            candidate: format!(
                "candidate:{n} 1 UDP 2122252543 192.0.2.1 {} typ host",
                50_000 + n
            ),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        }),
    }
}

stack_tests! {
    async fn the_owner_sees_a_device_come_online_and_go_offline_without_asking(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let (mut viewer, ack) = server.viewer_online(&owner.access_token).await;
        assert_eq!(ack.protocol, PROTOCOL_VERSION);
        assert_eq!(ack.user.username, "alice");
        assert_eq!(ack.devices.len(), 1);
        assert!(!ack.devices[0].online);
        let socket = server.device_online(&device).await;
        // The pairing's own (offline) presence may still be on its way: wait for the online one.
        let online = viewer.recv_matching(|m| matches!(m, ServerToViewer::DevicePresence(p) if p.online)).await;
        match online.message {
            ServerToViewer::DevicePresence(p) => {
                assert_eq!(p.device_id, device.device_id);
                assert!(p.online);
            }
            _ => unreachable!(),
        }
        let (status, list) = server.get("/api/devices", Some(&owner.access_token)).await;
        assert_eq!(status, 200);
        assert_eq!(list[0]["is_online"], true);
        socket.drop_abruptly();
        let offline = viewer.recv_matching(|m| matches!(m, ServerToViewer::DevicePresence(_))).await;
        match offline.message {
            ServerToViewer::DevicePresence(p) => {
                assert!(!p.online);
                assert!(p.last_seen.is_some());
            }
            _ => unreachable!(),
        }
        let (_, list) = server.get("/api/devices", Some(&owner.access_token)).await;
        assert_eq!(list[0]["is_online"], false);
    }

    async fn a_device_status_report_reaches_the_owner_and_the_device_list(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut socket = server.device_online(&device).await;
        let (mut viewer, _) = server.viewer_online(&owner.access_token).await;
        let status = mumu_shared::api::DeviceStatus { uptime_s: 42, viewers: 0, source: Some("test".into()), encoder: Some("x264enc".into()), cpu_temp_c: Some(51.5), recording: true };
        socket.send(DeviceToServer::DevicePresence(status.clone())).await;
        let update = viewer.recv_matching(|m| matches!(m, ServerToViewer::DevicePresence(p) if p.status.is_some())).await;
        match update.message {
            ServerToViewer::DevicePresence(p) => assert_eq!(p.status, Some(status)),
            _ => unreachable!(),
        }
        let (_, list) = server.get("/api/devices", Some(&owner.access_token)).await;
        assert_eq!(list[0]["status"]["encoder"], "x264enc");
        assert_eq!(list[0]["status"]["recording"], true, "the dashboard can show that it records");
    }

    async fn a_rename_sticks_through_the_devices_next_report_and_its_disconnect(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device, guest) = server.user_with_shared_device("alice", "bob").await;
        let mut cam = server.device_online(&device).await;
        let (mut alice, _) = server.viewer_online(&owner.access_token).await;
        let (mut bob, _) = server.viewer_online(&guest.access_token).await;
        let path = format!("/api/devices/{}", device.device_id);
        let (status, _) = server.patch(&path, &owner.access_token, &serde_json::json!({"name": "Front door"})).await;
        assert_eq!(status, 200);
        for viewer in [&mut alice, &mut bob] {
            viewer.recv_matching(|m| matches!(m, ServerToViewer::DevicePresence(p) if p.name == "Front door")).await;
        }
        // The device's next status report, then its disconnect, carry the new name to everyone.
        let status = mumu_shared::api::DeviceStatus { uptime_s: 1, ..Default::default() };
        cam.send(DeviceToServer::DevicePresence(status)).await;
        for viewer in [&mut alice, &mut bob] {
            let report = viewer.recv_matching(|m| matches!(m, ServerToViewer::DevicePresence(p) if p.status.is_some())).await;
            assert!(matches!(report.message, ServerToViewer::DevicePresence(p) if p.name == "Front door"));
        }
        cam.close().await;
        for viewer in [&mut alice, &mut bob] {
            let offline = viewer.recv_matching(|m| matches!(m, ServerToViewer::DevicePresence(p) if !p.online)).await;
            assert!(matches!(offline.message, ServerToViewer::DevicePresence(p) if p.name == "Front door"));
        }
    }

    async fn pairing_tells_the_device_and_the_new_owner(stack) {
        let server = TestServer::start(stack).await;
        let owner = server.register("alice").await;
        let device = server.enroll().await;
        let mut socket = server.device_socket().await;
        socket.send(DeviceToServer::Hello(hello(&device.device_id, &device.device_secret))).await;
        match socket.recv().await.message {
            ServerToDevice::HelloAck(ack) => assert!(!ack.paired),
            other => panic!("{other:?}"),
        }
        let (mut viewer, ack) = server.viewer_online(&owner.access_token).await;
        assert!(ack.devices.is_empty());
        let (status, _) = server.pair(&owner.access_token, &device.pairing_code).await;
        assert_eq!(status, 201);
        match socket.recv().await.message {
            ServerToDevice::Paired(p) => {
                assert_eq!(p.owner, "alice");
                assert_eq!(p.name, "Porch");
            }
            other => panic!("expected paired, got {other:?}"),
        }
        let news = viewer.recv_matching(|m| matches!(m, ServerToViewer::DevicePresence(_))).await;
        match news.message {
            ServerToViewer::DevicePresence(p) => {
                assert_eq!(p.device_id, device.device_id);
                assert!(p.online, "the device is connected while it is paired");
            }
            _ => unreachable!(),
        }
    }

    async fn a_watch_passes_offer_answer_and_ice_between_its_two_ends_only(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut cam = server.device_online(&device).await;
        let (mut viewer, _) = server.viewer_online(&owner.access_token).await;
        let (ready, request) = watch(&mut viewer, &mut cam, &device.device_id).await;
        assert_eq!(request.viewer, "alice");
        for servers in [&ready.ice_servers, &request.ice_servers] {
            let turn = servers.iter().find(|s| s.urls.iter().any(|u| u.starts_with("turn:"))).expect("a TURN server");
            assert!(turn.username.as_ref().unwrap().contains(':'), "coturn REST username");
            assert!(turn.credential.is_some());
        }
        let session = ready.session_id.clone();
        cam.send(DeviceToServer::SignalOffer(SessionSdp { session_id: session.clone(), sdp: "v=0 offer".into() })).await;
        match next(&mut viewer).await.message {
            ServerToViewer::SignalOffer(o) => assert_eq!(o.sdp, "v=0 offer"),
            other => panic!("expected the offer, got {other:?}"),
        }
        viewer.send(ViewerToServer::SignalAnswer(SessionSdp { session_id: session.clone(), sdp: "v=0 answer".into() })).await;
        match next_cam(&mut cam).await.message {
            ServerToDevice::SignalAnswer(a) => assert_eq!(a.sdp, "v=0 answer"),
            other => panic!("expected the answer, got {other:?}"),
        }
        for n in 0..3 {
            cam.send(DeviceToServer::SignalIce(ice(&session, n))).await;
            viewer.send(ViewerToServer::SignalIce(ice(&session, 10 + n))).await;
        }
        cam.send(DeviceToServer::SignalIce(SessionIce { session_id: session.clone(), candidate: None })).await;
        for n in 0..3 {
            match next(&mut viewer).await.message {
                ServerToViewer::SignalIce(i) => assert_eq!(i, ice(&session, n)),
                other => panic!("{other:?}"),
            }
            match next_cam(&mut cam).await.message {
                ServerToDevice::SignalIce(i) => assert_eq!(i, ice(&session, 10 + n)),
                other => panic!("{other:?}"),
            }
        }
        match next(&mut viewer).await.message {
            ServerToViewer::SignalIce(i) => assert_eq!(i.candidate, None, "end of candidates passes through"),
            other => panic!("{other:?}"),
        }
        viewer.send(ViewerToServer::EndWatch(ViewerEndWatch { session_id: session.clone() })).await;
        match next_cam(&mut cam).await.message {
            ServerToDevice::WatchEnded(e) => {
                assert_eq!(e.session_id, session);
                assert_eq!(e.reason, EndReason::ViewerLeft);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(server.recorded_end(&session).await, "viewer_left");
        viewer.send(ViewerToServer::SignalIce(ice(&session, 99))).await;
        assert_eq!(viewer_error(&mut viewer).await.code, ErrorCode::SessionNotFound, "an ended session carries nothing");
    }

    async fn a_device_that_ends_a_session_tells_the_viewer_why(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut cam = server.device_online(&device).await;
        let (mut viewer, _) = server.viewer_online(&owner.access_token).await;
        let (ready, _) = watch(&mut viewer, &mut cam, &device.device_id).await;
        cam.send(DeviceToServer::EndWatch(DeviceEndWatch { session_id: ready.session_id.clone(), reason: EndReason::MaxViewers, message: Some("4 viewers already".into()) })).await;
        match viewer.recv_matching(|m| matches!(m, ServerToViewer::WatchEnded(_))).await.message {
            ServerToViewer::WatchEnded(e) => {
                assert_eq!(e.reason, EndReason::MaxViewers);
                assert_eq!(e.message.as_deref(), Some("4 viewers already"));
            }
            _ => unreachable!(),
        }
        assert_eq!(server.recorded_end(&ready.session_id).await, "max_viewers");
    }

    async fn when_the_viewer_drops_the_device_hears_it(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut cam = server.device_online(&device).await;
        let (mut viewer, _) = server.viewer_online(&owner.access_token).await;
        let (ready, _) = watch(&mut viewer, &mut cam, &device.device_id).await;
        viewer.drop_abruptly();
        match cam.recv_matching(|m| matches!(m, ServerToDevice::WatchEnded(_))).await.message {
            ServerToDevice::WatchEnded(e) => assert_eq!(e.reason, EndReason::ViewerDisconnected),
            _ => unreachable!(),
        }
        assert_eq!(server.recorded_end(&ready.session_id).await, "viewer_disconnected");
    }

    async fn when_the_device_drops_the_viewer_hears_it(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut cam = server.device_online(&device).await;
        let (mut viewer, _) = server.viewer_online(&owner.access_token).await;
        let (ready, _) = watch(&mut viewer, &mut cam, &device.device_id).await;
        cam.close().await;
        match viewer.recv_matching(|m| matches!(m, ServerToViewer::WatchEnded(_))).await.message {
            ServerToViewer::WatchEnded(e) => {
                assert_eq!(e.session_id, ready.session_id);
                assert_eq!(e.reason, EndReason::DeviceDisconnected);
            }
            _ => unreachable!(),
        }
        assert_eq!(server.recorded_end(&ready.session_id).await, "device_disconnected");
    }

    async fn a_device_that_connects_again_replaces_its_old_socket(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut old = server.device_online(&device).await;
        let (mut viewer, _) = server.viewer_online(&owner.access_token).await;
        let (ready, _) = watch(&mut viewer, &mut old, &device.device_id).await;
        let mut new = server.device_online(&device).await;
        assert_eq!(device_error(&mut old).await.code, ErrorCode::Replaced);
        assert_eq!(old.closed().await, Some(1000));
        match viewer.recv_matching(|m| matches!(m, ServerToViewer::WatchEnded(_))).await.message {
            ServerToViewer::WatchEnded(e) => assert_eq!(e.session_id, ready.session_id),
            _ => unreachable!(),
        }
        let (again, _) = watch(&mut viewer, &mut new, &device.device_id).await;
        assert_ne!(again.session_id, ready.session_id);
        let (_, list) = server.get("/api/devices", Some(&owner.access_token)).await;
        assert_eq!(list[0]["is_online"], true, "the old socket closing does not mark the device offline");
    }

    async fn a_wrong_device_secret_is_refused_and_the_socket_closed(stack) {
        let server = TestServer::start(stack).await;
        let device = server.enroll().await;
        let mut socket = server.device_socket().await;
        socket.send(DeviceToServer::Hello(hello(&device.device_id, "not-the-secret"))).await;
        let error = device_error(&mut socket).await;
        assert_eq!(error.code, ErrorCode::Unauthorized);
        assert!(error.message.contains("secret"), "{error}");
        assert_eq!(socket.closed().await, Some(1008));
        let mut other = server.device_socket().await;
        other.send(DeviceToServer::Hello(hello(&"no-such-device".into(), &device.device_secret))).await;
        assert_eq!(device_error(&mut other).await.code, ErrorCode::Unauthorized);
    }

    async fn an_unknown_protocol_version_is_refused(stack) {
        let server = TestServer::start(stack).await;
        let device = server.enroll().await;
        let mut socket = server.device_socket().await;
        let mut h = hello(&device.device_id, &device.device_secret);
        h.protocol = 99;
        socket.send(DeviceToServer::Hello(h)).await;
        assert_eq!(device_error(&mut socket).await.code, ErrorCode::UnsupportedProtocol);
        assert!(socket.closed().await.is_some());
    }

    async fn messages_before_hello_and_a_second_hello_are_refused_without_closing(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut socket = server.device_socket().await;
        socket.send(DeviceToServer::Heartbeat(Heartbeat {})).await;
        let error = device_error(&mut socket).await;
        assert_eq!(error.code, ErrorCode::HelloRequired);
        socket.send(DeviceToServer::Hello(hello(&device.device_id, &device.device_secret))).await;
        assert!(matches!(next_cam(&mut socket).await.message, ServerToDevice::HelloAck(_)));
        socket.send(DeviceToServer::Hello(hello(&device.device_id, &device.device_secret))).await;
        assert_eq!(device_error(&mut socket).await.code, ErrorCode::AlreadyHello);
        socket.send(DeviceToServer::Heartbeat(Heartbeat {})).await;
        assert!(matches!(next_cam(&mut socket).await.message, ServerToDevice::HeartbeatAck(_)));

        let (mut viewer, _) = server.viewer_online(&owner.access_token).await;
        viewer.send(ViewerToServer::Hello(ViewerHello { protocol: PROTOCOL_VERSION, token: Some(owner.access_token.clone()) })).await;
        assert_eq!(viewer_error(&mut viewer).await.code, ErrorCode::AlreadyHello);
        let mut fresh = server.viewer_socket(None).await;
        fresh.send(ViewerToServer::WatchRequest(ViewerWatchRequest::new(device.device_id.clone()))).await;
        assert_eq!(viewer_error(&mut fresh).await.code, ErrorCode::HelloRequired);
    }

    async fn bad_frames_get_errors_that_say_what_was_wrong_and_the_socket_keeps_serving(stack) {
        let server = TestServer::start(stack).await;
        let (owner, _device) = server.user_with_device("alice").await;
        let (mut viewer, _) = server.viewer_online(&owner.access_token).await;
        viewer.send_raw("{not json").await;
        let e = viewer_error(&mut viewer).await;
        assert_eq!(e.code, ErrorCode::BadMessage);
        assert!(e.message.contains("not valid JSON"), "{e}");
        viewer.send_raw(r#"{"type":"launch_missiles","payload":{}}"#).await;
        let e = viewer_error(&mut viewer).await;
        assert_eq!(e.code, ErrorCode::UnknownType);
        assert!(e.message.contains("launch_missiles") && e.message.contains("watch_request"), "{e}");
        viewer.send_raw(r#"{"type":"watch_request","payload":{}}"#).await;
        let e = viewer_error(&mut viewer).await;
        assert_eq!(e.code, ErrorCode::BadMessage);
        assert!(e.message.contains("device_id"), "{e}");
        let big = format!(r#"{{"type":"heartbeat","payload":{{"pad":"{}"}}}}"#, "x".repeat(mumu_shared::MAX_MESSAGE_BYTES));
        viewer.send_raw(&big).await;
        let e = viewer_error(&mut viewer).await;
        assert_eq!(e.code, ErrorCode::MessageTooLarge);
        viewer.send(ViewerToServer::Heartbeat(Heartbeat {})).await;
        assert!(matches!(next(&mut viewer).await.message, ServerToViewer::HeartbeatAck(_)), "still serving");
        let (status, metrics) = server.get("/metrics", None).await;
        assert_eq!(status, 200);
        assert!(metrics.as_str().unwrap().contains("mumu_errors_total{code=\"unknown_type\"} 1"));
    }

    async fn a_frame_past_the_transport_limit_closes_only_that_socket(stack) {
        let server = TestServer::start(stack).await;
        let (owner, _device) = server.user_with_device("alice").await;
        let (mut bystander, _) = server.viewer_online(&owner.access_token).await;
        let (mut viewer, _) = server.viewer_online(&owner.access_token).await;
        viewer.try_send_raw(&"x".repeat(1024 * 1024)).await;
        viewer.closed().await;
        bystander.send(ViewerToServer::Heartbeat(Heartbeat {})).await;
        assert!(matches!(next(&mut bystander).await.message, ServerToViewer::HeartbeatAck(_)));
    }

    async fn someone_elses_device_cannot_be_watched(stack) {
        let server = TestServer::start(stack).await;
        let (_owner, device) = server.user_with_device("alice").await;
        let _cam = server.device_online(&device).await;
        let mallory = server.register("mallory").await;
        let (mut viewer, ack) = server.viewer_online(&mallory.access_token).await;
        assert!(ack.devices.is_empty());
        viewer.send_with_id(ViewerToServer::WatchRequest(ViewerWatchRequest::new(device.device_id.clone())), "r1").await;
        let e = next(&mut viewer).await;
        assert_eq!(e.request_id.as_deref(), Some("r1"));
        assert_eq!(error_code_of_viewer(&e.message), Some(ErrorCode::NotFound));
        viewer.send(ViewerToServer::WatchRequest(ViewerWatchRequest::new("no-such-device".into()))).await;
        assert_eq!(viewer_error(&mut viewer).await.code, ErrorCode::NotFound);
    }

    async fn ice_and_answers_for_a_foreign_session_are_refused(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut cam = server.device_online(&device).await;
        let (mut viewer, _) = server.viewer_online(&owner.access_token).await;
        let (ready, _) = watch(&mut viewer, &mut cam, &device.device_id).await;
        let mallory = server.register("mallory").await;
        let (mut intruder, _) = server.viewer_online(&mallory.access_token).await;
        intruder.send(ViewerToServer::SignalIce(ice(&ready.session_id, 1))).await;
        assert_eq!(viewer_error(&mut intruder).await.code, ErrorCode::SessionNotFound);
        intruder.send(ViewerToServer::SignalAnswer(SessionSdp { session_id: ready.session_id.clone(), sdp: "v=0".into() })).await;
        assert_eq!(viewer_error(&mut intruder).await.code, ErrorCode::SessionNotFound);
        intruder.send(ViewerToServer::EndWatch(ViewerEndWatch { session_id: ready.session_id.clone() })).await;
        assert_eq!(viewer_error(&mut intruder).await.code, ErrorCode::SessionNotFound);
        // A second device cannot inject into the first device's session either.
        let (_, other_device) = server.user_with_device("bob").await;
        let mut other_cam = server.device_online(&other_device).await;
        other_cam.send(DeviceToServer::SignalOffer(SessionSdp { session_id: ready.session_id.clone(), sdp: "v=0".into() })).await;
        assert_eq!(device_error(&mut other_cam).await.code, ErrorCode::SessionNotFound);
        cam.silent_for(200).await;
        viewer.send(ViewerToServer::SignalIce(ice(&ready.session_id, 2))).await;
        assert!(matches!(next_cam(&mut cam).await.message, ServerToDevice::SignalIce(_)), "the real session still works");
    }

    async fn watching_an_offline_device_says_so(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let (mut viewer, _) = server.viewer_online(&owner.access_token).await;
        viewer.send(ViewerToServer::WatchRequest(ViewerWatchRequest::new(device.device_id.clone()))).await;
        let e = viewer_error(&mut viewer).await;
        assert_eq!(e.code, ErrorCode::DeviceOffline);
    }

    async fn a_device_serves_at_most_its_maximum_of_viewers(stack) {
        let server = TestServer::start_with(stack, |c| c.signaling.max_sessions_per_device = 1).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut cam = server.device_online(&device).await;
        let (mut first, _) = server.viewer_online(&owner.access_token).await;
        watch(&mut first, &mut cam, &device.device_id).await;
        let (mut second, _) = server.viewer_online(&owner.access_token).await;
        second.send(ViewerToServer::WatchRequest(ViewerWatchRequest::new(device.device_id.clone()))).await;
        assert_eq!(viewer_error(&mut second).await.code, ErrorCode::MaxSessions);
    }

    async fn a_flood_is_refused_then_closed_while_others_are_served(stack) {
        // 5 messages/s in bursts of 10; 20 dropped in a row close the socket.
        let server = TestServer::start_with(stack, |c| c.signaling.ws_messages_per_sec = 5).await;
        let (owner, _device) = server.user_with_device("alice").await;
        let (mut flooder, _) = server.viewer_online(&owner.access_token).await;
        let (mut calm, _) = server.viewer_online(&owner.access_token).await;
        for _ in 0..15 {
            flooder.send(ViewerToServer::Heartbeat(Heartbeat {})).await;
        }
        let e = viewer_error(&mut flooder).await;
        assert_eq!(e.code, ErrorCode::RateLimited);
        assert!(e.message.contains("dropped"), "{e}");
        for _ in 0..40 {
            // The server may close the socket before the last ones are written.
            flooder.try_send_raw(r#"{"type":"heartbeat"}"#).await;
        }
        flooder.closed().await;
        calm.send(ViewerToServer::Heartbeat(Heartbeat {})).await;
        assert!(matches!(next(&mut calm).await.message, ServerToViewer::HeartbeatAck(_)));
        let (_, metrics) = server.get("/metrics", None).await;
        assert!(metrics.as_str().unwrap().contains("mumu_errors_total{code=\"rate_limited\"}"));
    }

    async fn viewers_authenticate_by_header_or_hello_and_nothing_else(stack) {
        let server = TestServer::start(stack).await;
        let owner = server.register("alice").await;
        let mut by_header = server.viewer_socket(Some(&owner.access_token)).await;
        by_header.send(ViewerToServer::Hello(ViewerHello { protocol: PROTOCOL_VERSION, token: None })).await;
        assert!(matches!(by_header.recv().await.message, ServerToViewer::HelloAck(_)));
        let mut anonymous = server.viewer_socket(None).await;
        anonymous.send(ViewerToServer::Hello(ViewerHello { protocol: PROTOCOL_VERSION, token: None })).await;
        assert_eq!(viewer_error(&mut anonymous).await.code, ErrorCode::Unauthorized);
        assert_eq!(anonymous.closed().await, Some(1008));
        let mut forged = server.viewer_socket(None).await;
        forged.send(ViewerToServer::Hello(ViewerHello { protocol: PROTOCOL_VERSION, token: Some("forged".into()) })).await;
        assert_eq!(viewer_error(&mut forged).await.code, ErrorCode::Unauthorized);
    }

    async fn heartbeats_are_answered_and_a_silent_socket_is_closed(stack) {
        let server = TestServer::start_with(stack, |c| c.signaling.heartbeat_secs = 1).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut cam = server.device_online(&device).await;
        let (mut viewer, ack) = server.viewer_online(&owner.access_token).await;
        assert_eq!(ack.heartbeat_interval_ms, 1000);
        cam.send(DeviceToServer::Heartbeat(Heartbeat {})).await;
        let ack = next_cam(&mut cam).await.message;
        assert!(matches!(ack, ServerToDevice::HeartbeatAck(_)), "{ack:?}");
        // The viewer keeps talking; the camera falls silent.
        let mut error = None;
        for _ in 0..8 {
            viewer.send(ViewerToServer::Heartbeat(Heartbeat {})).await;
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            // (The pairing's `paired` may still reach it first, from the notice bus.)
            if let Some(e) = cam.try_recv().await
                && matches!(e.message, ServerToDevice::Error(_))
            {
                error = Some(e);
                break;
            }
        }
        let error = error.expect("the silent camera hears why it is closed");
        assert_eq!(error_code_of_device(&error.message), Some(ErrorCode::HeartbeatTimeout));
        assert_eq!(cam.closed().await, Some(1000));
        let offline = viewer.recv_matching(|m| matches!(m, ServerToViewer::DevicePresence(p) if !p.online)).await;
        assert!(matches!(offline.message, ServerToViewer::DevicePresence(_)));
    }

    async fn shutting_down_ends_every_session_on_both_sides(stack) {
        let mut server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut cam = server.device_online(&device).await;
        let (mut viewer, _) = server.viewer_online(&owner.access_token).await;
        let (ready, _) = watch(&mut viewer, &mut cam, &device.device_id).await;
        let state = server.state.clone();
        server.stop().await;
        for ended in [
            match viewer.recv_matching(|m| matches!(m, ServerToViewer::WatchEnded(_))).await.message {
                ServerToViewer::WatchEnded(e) => e,
                _ => unreachable!(),
            },
            match cam.recv_matching(|m| matches!(m, ServerToDevice::WatchEnded(_))).await.message {
                ServerToDevice::WatchEnded(e) => e,
                _ => unreachable!(),
            },
        ] {
            assert_eq!(ended.session_id, ready.session_id);
            assert_eq!(ended.reason, EndReason::ServerShutdown);
        }
        assert_eq!(error_code_of_device(&next_cam(&mut cam).await.message), Some(ErrorCode::Unavailable));
        drop(state);
    }

    async fn a_shared_viewer_watches_until_the_owner_takes_the_share_back(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let friend = server.register("bob").await;
        let mut cam = server.device_online(&device).await;
        let (mut viewer, ack) = server.viewer_online(&friend.access_token).await;
        assert!(ack.devices.is_empty());
        let shares = format!("/api/devices/{}/shares", device.device_id);
        let (status, _) = server.post(&shares, Some(&owner.access_token), &serde_json::json!({"username": "bob"})).await;
        assert_eq!(status, 201);
        match viewer.recv_matching(|m| matches!(m, ServerToViewer::DevicePresence(_))).await.message {
            ServerToViewer::DevicePresence(p) => assert!(p.online && p.device_id == device.device_id),
            _ => unreachable!(),
        }
        let (ready, request) = watch(&mut viewer, &mut cam, &device.device_id).await;
        assert_eq!(request.viewer, "bob");
        assert_eq!(server.delete(&format!("{shares}/bob"), &owner.access_token).await.0, 204);
        match cam.recv_matching(|m| matches!(m, ServerToDevice::WatchEnded(_))).await.message {
            ServerToDevice::WatchEnded(e) => assert_eq!(e.reason, EndReason::DeviceRemoved),
            _ => unreachable!(),
        }
        let removed = viewer.recv_matching(|m| matches!(m, ServerToViewer::DeviceRemoved(_))).await;
        assert!(matches!(removed.message, ServerToViewer::DeviceRemoved(r) if r.device_id == device.device_id));
        let ended = viewer.recv_matching(|m| matches!(m, ServerToViewer::WatchEnded(_))).await;
        assert!(matches!(ended.message, ServerToViewer::WatchEnded(e) if e.session_id == ready.session_id));
        viewer.send(ViewerToServer::WatchRequest(ViewerWatchRequest::new(device.device_id.clone()))).await;
        assert_eq!(viewer_error(&mut viewer).await.code, ErrorCode::NotFound);
    }
}

/// Two servers of one deployment (PostgreSQL and Redis shared): a viewer on one watches a
/// camera on the other exactly as on one server: watch_ready, offer, answer, candidates both
/// ways, and the end with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_across_two_servers_works_like_one_on_a_single_server() {
    if !common::stack_enabled(common::Stack::Scaled) {
        return;
    }
    let a = TestServer::start(common::Stack::Scaled).await;
    let b = TestServer::start_beside(&a).await;
    let (owner, device) = b.user_with_device("alice").await;
    let mut cam = b.device_online(&device).await;
    let (mut view, hello) = a.viewer_online(&owner.access_token).await;
    assert!(
        hello.devices[0].online,
        "server A sees the camera B holds online"
    );

    let (ready, request) = common::watch(&mut view, &mut cam, &device.device_id).await;
    assert_eq!(ready.session_id, request.session_id);
    let session = ready.session_id.clone();
    let sdp = |text: &str| SessionSdp {
        session_id: session.clone(),
        sdp: text.into(),
    };
    cam.send(DeviceToServer::SignalOffer(sdp("offer"))).await;
    let offer = view
        .recv_matching(|m| matches!(m, ServerToViewer::SignalOffer(_)))
        .await;
    assert!(matches!(offer.message, ServerToViewer::SignalOffer(o) if o.sdp == "offer"));
    view.send(ViewerToServer::SignalAnswer(sdp("answer"))).await;
    let answer = cam
        .recv_matching(|m| matches!(m, ServerToDevice::SignalAnswer(_)))
        .await;
    assert!(matches!(answer.message, ServerToDevice::SignalAnswer(a) if a.sdp == "answer"));
    let ice = SessionIce {
        session_id: session.clone(),
        candidate: None,
    };
    view.send(ViewerToServer::SignalIce(ice.clone())).await;
    cam.recv_matching(|m| matches!(m, ServerToDevice::SignalIce(_)))
        .await;
    cam.send(DeviceToServer::SignalIce(ice)).await;
    view.recv_matching(|m| matches!(m, ServerToViewer::SignalIce(_)))
        .await;

    cam.send(DeviceToServer::EndWatch(DeviceEndWatch {
        session_id: session.clone(),
        reason: EndReason::DeviceEnded,
        message: Some("restarting".into()),
    }))
    .await;
    let ended = view
        .recv_matching(|m| matches!(m, ServerToViewer::WatchEnded(_)))
        .await;
    assert!(matches!(
        ended.message,
        ServerToViewer::WatchEnded(e) if e.reason == EndReason::DeviceEnded && e.message.as_deref() == Some("restarting")
    ));
    assert_eq!(
        a.recorded_end(&session).await,
        "device_ended",
        "recorded by the viewer's server"
    );

    // And the other way: the viewer leaves, the camera hears it.
    let (ready, _) = common::watch(&mut view, &mut cam, &device.device_id).await;
    view.send(ViewerToServer::EndWatch(ViewerEndWatch {
        session_id: ready.session_id.clone(),
    }))
    .await;
    let ended = cam
        .recv_matching(|m| matches!(m, ServerToDevice::WatchEnded(_)))
        .await;
    assert!(
        matches!(ended.message, ServerToDevice::WatchEnded(e) if e.reason == EndReason::ViewerLeft)
    );
}
