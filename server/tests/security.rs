//! The adversarial suite: each test is an attack on the server as an outsider or a logged-in
//! stranger would try it, and the behaviour that stops it. docs/security.md lists the promises
//! these tests keep. Where the database or Redis is involved, each runs on both stacks.

mod common;

use common::{Stack, TestServer, stack_enabled, watch};
use mumu_shared::api::{AuthResponse, LoginRequest, RegisterRequest};
use mumu_shared::signaling::*;
use mumu_shared::{ErrorCode, PROTOCOL_VERSION, encode};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn login(username: &str, password: &str) -> LoginRequest {
    LoginRequest {
        username: username.into(),
        password: password.into(),
    }
}

/// A raw HTTP/1.1 request, and the status line of the answer (or why there was none).
async fn raw_status(addr: &str, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap_or(0);
    String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

fn host_of(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Waits up to `secs` for `check` to hold.
async fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..secs * 20 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within {secs} s");
}

fn viewer_sockets(server: &TestServer) -> i64 {
    server
        .state
        .metrics
        .viewer_sockets
        .load(std::sync::atomic::Ordering::Relaxed)
}

stack_tests! {
    // High: a cookie rides along on any request the browser makes; an Authorization header
    // that is not Bearer must not switch the origin check off.
    async fn a_cookie_from_another_site_is_refused_whatever_authorization_header_comes_with_it(stack) {
        let server = TestServer::start(stack).await;
        let victim = server.register("victim").await;
        let device = server.enroll().await;
        let cookie = format!("mumu_session={}", victim.access_token);
        let pair = serde_json::json!({ "pairing_code": device.pairing_code });
        for authorization in [None, Some("Basic dXNlcjpwYXNz"), Some("Negotiate abc"), Some("Bearer")] {
            let mut request = server
                .http
                .post(server.url("/api/devices/pair"))
                .header("cookie", &cookie)
                .header("origin", "https://evil.cams.example")
                .json(&pair);
            if let Some(value) = authorization {
                request = request.header("authorization", value);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 403, "with {authorization:?}");
            let body: serde_json::Value = response.json().await.unwrap();
            assert!(body["error"]["message"].as_str().unwrap().contains("cross-site"), "{body}");
        }
        // The same through the viewer socket: the upgrade is refused, no hello_ack.
        let mut request = format!("{}/ws/viewer", server.ws_base).into_client_request().unwrap();
        let headers = request.headers_mut();
        headers.insert("cookie", cookie.parse().unwrap());
        headers.insert("origin", "https://evil.cams.example".parse().unwrap());
        headers.insert("authorization", "Basic dXNlcjpwYXNz".parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403)
            }
            other => panic!("the upgrade must be refused, got {:?}", other.map(|(_, r)| r.status())),
        }
        // The device was not paired to anyone.
        let (status, list) = server.get("/api/devices", Some(&victim.access_token)).await;
        assert_eq!(status, 200);
        assert_eq!(list.as_array().unwrap().len(), 0);
        // A program with a real bearer token is not a browser and is not asked for an origin.
        let response = server
            .http
            .post(server.url("/api/devices/pair"))
            .bearer_auth(&victim.access_token)
            .header("origin", "https://evil.cams.example")
            .json(&pair)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }

    // High: a viewer socket that stops reading is cut off, and holds one bounded queue until then.
    async fn a_viewer_that_stops_reading_is_cut_off_and_its_sessions_end(stack) {
        let server = TestServer::start_with(stack, |c| {
            c.signaling.ws_write_timeout_secs = 1;
            c.signaling.ws_messages_per_sec = 1000;
        })
        .await;
        let (mallory, device) = server.user_with_device("mallory").await;
        let mut cam = server.device_online(&device).await;
        let (mut viewer, _) = server.viewer_online(&mallory.access_token).await;
        let (ready, _) = watch(&mut viewer, &mut cam, &device.device_id).await;
        // From here on the viewer reads nothing; its own camera pumps large offers at it.
        let offer = SessionSdp { session_id: ready.session_id.clone(), sdp: "x".repeat(60_000) };
        let offer = encode(&mumu_shared::Envelope::new(DeviceToServer::SignalOffer(offer), 0));
        for _ in 0..600 {
            cam.try_send_raw(&offer).await;
            if viewer_sockets(&server) == 0 {
                break;
            }
        }
        eventually(20, "the non-reading viewer closed", || viewer_sockets(&server) == 0).await;
        let ended = cam.recv_matching(|m| matches!(m, ServerToDevice::WatchEnded(_))).await;
        assert!(matches!(ended.message, ServerToDevice::WatchEnded(e) if e.reason == EndReason::ViewerDisconnected));
        drop(viewer);
    }

    async fn a_device_cannot_report_a_large_or_misleading_status(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut cam = server.device_online(&device).await;
        let (mut viewer, _) = server.viewer_online(&owner.access_token).await;
        for status in [
            mumu_shared::api::DeviceStatus { source: Some("x".repeat(20_000)), ..Default::default() },
            mumu_shared::api::DeviceStatus { encoder: Some("x264\u{202E}gnp".into()), ..Default::default() },
        ] {
            cam.send_with_id(DeviceToServer::DevicePresence(status), "p").await;
            let answer = cam.recv_matching(|m| matches!(m, ServerToDevice::Error(_))).await;
            assert!(matches!(answer.message, ServerToDevice::Error(e) if e.code == ErrorCode::Validation));
        }
        // The owner saw neither.
        while let Some(envelope) = viewer.try_recv().await {
            if let ServerToViewer::DevicePresence(p) = envelope.message {
                assert!(p.status.is_none(), "{p:?}");
            }
        }
    }

    async fn what_a_device_says_to_viewers_is_kept_short_and_clean(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut cam = server.device_online(&device).await;
        let (mut viewer, _) = server.viewer_online(&owner.access_token).await;
        let (ready, _) = watch(&mut viewer, &mut cam, &device.device_id).await;
        let end = DeviceEndWatch {
            session_id: ready.session_id.clone(),
            reason: EndReason::Failed,
            message: Some(format!("\u{202E}{}", "x".repeat(10_000))),
        };
        cam.send(DeviceToServer::EndWatch(end)).await;
        let ended = viewer.recv_matching(|m| matches!(m, ServerToViewer::WatchEnded(_))).await;
        match ended.message {
            ServerToViewer::WatchEnded(e) => {
                let message = e.message.expect("the device's reason");
                assert_eq!(message.chars().count(), 200);
                assert!(!message.contains('\u{202E}'));
            }
            _ => unreachable!(),
        }
    }

    async fn one_user_cannot_open_sockets_without_bound(stack) {
        let server = TestServer::start_with(stack, |c| c.signaling.max_sockets_per_user = 3).await;
        let user = server.register("hoarder").await;
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(server.viewer_online(&user.access_token).await.0);
        }
        let mut fourth = server.viewer_socket(None).await;
        fourth.send(ViewerToServer::Hello(ViewerHello { protocol: PROTOCOL_VERSION, token: Some(user.access_token.clone()) })).await;
        match fourth.recv().await.message {
            ServerToViewer::Error(e) => {
                assert_eq!(e.code, ErrorCode::RateLimited);
                assert!(e.message.contains("3 viewer connections"), "{}", e.message);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(fourth.closed().await.is_some());
        // Closing one frees its place.
        held.pop().unwrap().close().await;
        eventually(5, "the closed socket was released", || viewer_sockets(&server) == 2).await;
        server.viewer_online(&user.access_token).await;
    }

    // Medium: guesses fired in parallel are all counted; none slips through.
    async fn parallel_login_guesses_are_counted_before_the_password_is_checked(stack) {
        let server = TestServer::start(stack).await;
        server.register("owner").await;
        let guesses = (0..30).map(|i| {
            let server = &server;
            async move { server.post("/api/auth/login", None, &login("owner", &format!("guess number {i}"))).await.0 }
        });
        let statuses = futures_util::future::join_all(guesses).await;
        let checked = statuses.iter().filter(|s| **s == 401).count();
        let refused = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!(checked, 10, "exactly the allowance was checked: {statuses:?}");
        assert_eq!(refused, 20, "{statuses:?}");
    }

    async fn a_stranger_guessing_cannot_lock_the_owner_out(stack) {
        let server = TestServer::start_with(stack, |c| c.http.trust_proxy = 1).await;
        server.register("owner").await;
        let from = |addr: &'static str, name: &str, password: &str| {
            server
                .http
                .post(server.url("/api/auth/login"))
                .header("x-forwarded-for", addr)
                .json(&login(name, password))
                .send()
        };
        // Username and email are one account: ten guesses split between them use it up.
        for i in 0..10 {
            let name = if i % 2 == 0 { "owner" } else { "OWNER@example.com" };
            assert_eq!(from("203.0.113.66", name, "wrong password").await.unwrap().status(), 401);
        }
        let locked = from("203.0.113.66", "owner@example.com", "correct horse battery").await.unwrap();
        assert_eq!(locked.status(), 429, "the stranger's address is stopped, even with the password");
        assert!(locked.headers().contains_key("retry-after"));
        // The owner, at home, logs in as always.
        let home = from("198.51.100.7", "owner", "correct horse battery").await.unwrap();
        assert_eq!(home.status(), 200);
    }

    async fn the_slower_ceiling_holds_off_a_guesser_with_many_addresses(stack) {
        let server = TestServer::start_with(stack, |c| {
            c.http.trust_proxy = 1;
            c.auth.login_failures_per_hour = 15;
        })
        .await;
        server.register("owner").await;
        let mut statuses = Vec::new();
        for i in 0..20 {
            let response = server
                .http
                .post(server.url("/api/auth/login"))
                .header("x-forwarded-for", format!("203.0.113.{i}"))
                .json(&login("owner", "wrong password"))
                .send()
                .await
                .unwrap();
            statuses.push(response.status().as_u16());
        }
        assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 15, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 5, "{statuses:?}");
    }

    async fn registrations_and_pairing_guesses_are_limited_per_address(stack) {
        let server = TestServer::start_with(stack, |c| {
            c.auth.register_per_hour = 4;
            c.devices.pair_attempts_per_min = 2;
        })
        .await;
        let mut accounts = Vec::new();
        for i in 0..4 {
            accounts.push(server.register(&format!("sock{i}")).await);
        }
        let body = RegisterRequest { username: "sock4".into(), email: "sock4@example.com".into(), password: "correct horse battery".into(), invitation: None };
        let (status, json) = server.post("/api/auth/register", None, &body).await;
        assert_eq!(status, 429, "{json}");
        assert!(json["error"]["message"].as_str().unwrap().contains("new accounts"), "{json}");
        // Four accounts at two guesses each would be eight; the address allows six.
        let mut statuses = Vec::new();
        for account in &accounts {
            for _ in 0..2 {
                statuses.push(server.pair(&account.access_token, "ABCD-EFGH").await.0);
            }
        }
        assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 6, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 2, "{statuses:?}");
    }

    // Medium: a login that ends takes its sockets with it, on whichever server holds them.
    async fn logging_out_closes_the_sockets_that_login_opened(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut cam = server.device_online(&device).await;
        let (mut kept, _) = server.viewer_online(&owner.access_token).await;
        let other = server.post("/api/auth/login", None, &login("alice", "correct horse battery")).await.1;
        let other: AuthResponse = serde_json::from_value(other).unwrap();
        let (mut leaving, _) = server.viewer_online(&other.access_token).await;
        let (ready, _) = watch(&mut leaving, &mut cam, &device.device_id).await;
        assert_eq!(server.post("/api/auth/logout", Some(&other.access_token), &serde_json::json!({})).await.0, 204);
        let closing = leaving.recv_matching(|m| matches!(m, ServerToViewer::Error(_))).await;
        assert!(matches!(closing.message, ServerToViewer::Error(e) if e.code == ErrorCode::Unauthorized));
        assert!(leaving.closed().await.is_some());
        let ended = cam.recv_matching(|m| matches!(m, ServerToDevice::WatchEnded(_))).await;
        assert!(matches!(ended.message, ServerToDevice::WatchEnded(e) if e.session_id == ready.session_id));
        // The other login's socket stays, until the owner logs out everywhere.
        kept.send(ViewerToServer::Heartbeat(Heartbeat {})).await;
        assert!(matches!(kept.recv_matching(|m| !matches!(m, ServerToViewer::DevicePresence(_))).await.message, ServerToViewer::HeartbeatAck(_)));
        assert_eq!(server.post("/api/auth/logout-all", Some(&owner.access_token), &serde_json::json!({})).await.0, 204);
        assert!(kept.closed().await.is_some());
        assert_eq!(server.get("/api/auth/me", Some(&owner.access_token)).await.0, 401);
    }

    async fn a_password_change_ends_every_other_login(stack) {
        let server = TestServer::start(stack).await;
        let laptop = server.register("alice").await;
        let phone = server.post("/api/auth/login", None, &login("alice", "correct horse battery")).await.1;
        let phone: AuthResponse = serde_json::from_value(phone).unwrap();
        let (mut phone_socket, _) = server.viewer_online(&phone.access_token).await;
        let (mut laptop_socket, _) = server.viewer_online(&laptop.access_token).await;
        let change = |current: &str| serde_json::json!({ "current_password": current, "new_password": "a much better passphrase" });
        let (status, json) = server.post("/api/auth/password", Some(&laptop.access_token), &change("not my password")).await;
        assert_eq!(status, 403, "{json}");
        let (status, json) = server.post("/api/auth/password", Some(&laptop.access_token), &change("correct horse battery")).await;
        assert_eq!(status, 204, "{json}");
        // The phone (which may be lost) is out; the laptop that changed it goes on.
        assert!(phone_socket.closed().await.is_some());
        assert_eq!(server.get("/api/auth/me", Some(&phone.access_token)).await.0, 401);
        assert_eq!(server.get("/api/auth/me", Some(&laptop.access_token)).await.0, 200);
        laptop_socket.send(ViewerToServer::Heartbeat(Heartbeat {})).await;
        assert!(matches!(laptop_socket.recv_matching(|m| !matches!(m, ServerToViewer::DevicePresence(_))).await.message, ServerToViewer::HeartbeatAck(_)));
        assert_eq!(server.post("/api/auth/login", None, &login("alice", "correct horse battery")).await.0, 401);
        assert_eq!(server.post("/api/auth/login", None, &login("alice", "a much better passphrase")).await.0, 200);
    }

    // Medium: TURN credentials are minted per watch, at a bounded rate, named after the user.
    async fn watch_requests_and_their_relay_credentials_are_rationed_and_named(stack) {
        let server = TestServer::start_with(stack, |c| c.signaling.watches_per_min = 2).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut cam = server.device_online(&device).await;
        let (mut viewer, _) = server.viewer_online(&owner.access_token).await;
        for _ in 0..2 {
            let (ready, request) = watch(&mut viewer, &mut cam, &device.device_id).await;
            for servers in [&ready.ice_servers, &request.ice_servers] {
                let username = servers.iter().find_map(|s| s.username.clone()).expect("a TURN credential");
                assert!(username.contains(owner.user.id.as_str()), "{username}");
            }
        }
        viewer.send_with_id(ViewerToServer::WatchRequest(ViewerWatchRequest::new(device.device_id.clone())), "w3").await;
        let refused = viewer.recv_matching(|m| matches!(m, ServerToViewer::Error(_))).await;
        assert!(matches!(refused.message, ServerToViewer::Error(e) if e.code == ErrorCode::RateLimited));
    }

    // Low: the owner always finds a place among the viewers of their own camera.
    async fn guests_cannot_take_the_owners_place(stack) {
        let server = TestServer::start_with(stack, |c| c.signaling.max_sessions_per_device = 2).await;
        let (owner, device, guest) = server.user_with_shared_device("alice", "bob").await;
        let mut cam = server.device_online(&device).await;
        let (mut guest_socket, _) = server.viewer_online(&guest.access_token).await;
        watch(&mut guest_socket, &mut cam, &device.device_id).await;
        guest_socket.send(ViewerToServer::WatchRequest(ViewerWatchRequest::new(device.device_id.clone()))).await;
        let refused = guest_socket.recv_matching(|m| matches!(m, ServerToViewer::Error(_))).await;
        assert!(matches!(refused.message, ServerToViewer::Error(e) if e.code == ErrorCode::MaxSessions));
        let (mut owner_socket, _) = server.viewer_online(&owner.access_token).await;
        watch(&mut owner_socket, &mut cam, &device.device_id).await;
    }

    async fn guests_hear_nothing_more_of_a_removed_device(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device, guest) = server.user_with_shared_device("alice", "bob").await;
        let mut cam = server.device_online(&device).await;
        let (mut guest_socket, _) = server.viewer_online(&guest.access_token).await;
        assert_eq!(server.delete(&format!("/api/devices/{}", device.device_id), &owner.access_token).await.0, 204);
        guest_socket.recv_matching(|m| matches!(m, ServerToViewer::DeviceRemoved(_))).await;
        assert!(cam.closed().await.is_some());
        tokio::time::sleep(Duration::from_millis(300)).await;
        while let Some(envelope) = guest_socket.try_recv().await {
            assert!(!matches!(envelope.message, ServerToViewer::DevicePresence(_)), "{envelope:?}");
        }
    }

    async fn names_that_hide_or_reverse_text_are_refused(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let path = format!("/api/devices/{}", device.device_id);
        for name in ["Porch\u{202E}gnp.exe", "Porch\u{200B}", "Porch\u{2028}2"] {
            let (status, json) = server.patch(&path, &owner.access_token, &serde_json::json!({ "name": name })).await;
            assert_eq!(status, 400, "{name:?}: {json}");
        }
    }

    // Low: rows a stranger (or time) creates do not pile up for ever.
    async fn what_is_enrolled_and_never_paired_or_ended_long_ago_is_forgotten(stack) {
        use mumu_server::janitor::{Retention, sweep};
        let server = TestServer::start(stack).await;
        let (owner, paired) = server.user_with_device("alice").await;
        let abandoned = server.enroll().await;
        assert_eq!(server.post("/api/auth/logout", Some(&owner.access_token), &serde_json::json!({})).await.0, 204);
        server.clock.advance_ms(20 * 24 * 3600 * 1000);
        let fresh_abandoned = server.enroll().await;
        server.clock.advance_ms(11 * 24 * 3600 * 1000);
        let swept = sweep(&server.state.db, Retention::default(), server.now()).await.unwrap();
        assert_eq!(swept.devices, 1, "{swept:?}");
        assert_eq!(swept.logins, 1, "{swept:?}");
        let row = |id| server.state.devices.row(id);
        assert!(row(&abandoned.device_id).await.unwrap().is_none(), "31 days unpaired: forgotten");
        assert!(row(&fresh_abandoned.device_id).await.unwrap().is_some(), "11 days: kept");
        assert!(row(&paired.device_id).await.unwrap().is_some(), "paired devices stay");
        assert_eq!(sweep(&server.state.db, Retention::default(), server.now()).await.unwrap(), Default::default());
    }

    async fn no_malformed_request_gets_a_server_error(stack) {
        let server = TestServer::start(stack).await;
        let user = server.register("fuzzer").await;
        let paths = [
            "/api/auth/register", "/api/auth/login", "/api/auth/logout", "/api/auth/logout-all",
            "/api/auth/password", "/api/auth/me", "/api/devices/enroll", "/api/pairing/generate",
            "/api/devices/pair", "/api/devices", "/api/devices/x/status", "/api/devices/x",
            "/api/devices/x/shares", "/api/devices/x/shares/y", "/api/devices/%00/status",
            "/api/invitations", "/api/invitations/x",
            "/api/devices/..%2F..%2Fetc/status", "/healthz", "/readyz", "/metrics", "/api/openapi.json",
            "/ws/viewer", "/ws/device", "/login?next=%0d%0aSet-Cookie:x=y", "/login?next=/%09/evil.example",
        ];
        let bodies: [&[u8]; 7] = [
            b"", b"{", b"null", b"[]", b"{\"username\": 5, \"password\": []}",
            b"{\"pairing_code\": \"\\ud800\"}", &[0xff, 0xfe, 0x00],
        ];
        let methods = [reqwest::Method::GET, reqwest::Method::POST, reqwest::Method::PATCH, reqwest::Method::DELETE, reqwest::Method::PUT];
        let mut tried = 0;
        for path in paths {
            for method in &methods {
                for body in bodies {
                    for token in [None, Some(user.access_token.as_str()), Some("garbage.token.here")] {
                        let mut request = server.http.request(method.clone(), server.url(path)).body(body.to_vec());
                        if let Some(token) = token {
                            request = request.bearer_auth(token);
                        }
                        if body.first() == Some(&b'{') {
                            request = request.header("content-type", "application/json");
                        }
                        let status = request.send().await.unwrap().status();
                        assert!(status.as_u16() < 500, "{method} {path} with {:?}: {status}", String::from_utf8_lossy(body));
                        tried += 1;
                    }
                }
            }
        }
        assert!(tried > 2000);
        assert_eq!(server.get("/healthz", None).await.0, 200);
    }
}

// Medium: a browser on a sibling subdomain plants its own session cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_cookie_cannot_pair_the_victims_camera_into_another_account() {
    // Over HTTPS the session cookie is __Host-: a sibling cannot set it, and one it set under
    // the plain name is ignored.
    let server = TestServer::start_with(common::Stack::Embedded, |c| {
        c.public_url = Some("https://cams.example".into());
    })
    .await;
    let body = RegisterRequest {
        username: "victim".into(),
        email: "v@example.com".into(),
        password: "correct horse battery".into(),
        invitation: None,
    };
    let response = server
        .http
        .post(server.url("/api/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.starts_with("__Host-mumu_session=")
            && set_cookie.contains("; Secure")
            && set_cookie.contains("Path=/"),
        "{set_cookie}"
    );
    assert!(
        !set_cookie.to_ascii_lowercase().contains("domain="),
        "{set_cookie}"
    );
    let victim: AuthResponse = response.json().await.unwrap();
    // The victim is the household's first account; the attacker was invited (a member).
    server.set_admin(&victim.access_token);
    let attacker = server.register("attacker").await;
    let device = server.enroll().await;
    let pair = server
        .http
        .post(server.url("/api/devices/pair"))
        .header("origin", "https://cams.example")
        .header(
            "cookie",
            format!(
                "mumu_session={}; __Host-mumu_session={}",
                attacker.access_token, victim.access_token
            ),
        )
        .json(&serde_json::json!({ "pairing_code": device.pairing_code }))
        .send()
        .await
        .unwrap();
    assert_eq!(pair.status(), 201);
    let (_, mine) = server.get("/api/devices", Some(&victim.access_token)).await;
    assert_eq!(
        mine.as_array().unwrap().len(),
        1,
        "paired into the victim's account"
    );
    let (_, theirs) = server
        .get("/api/devices", Some(&attacker.access_token))
        .await;
    assert_eq!(theirs.as_array().unwrap().len(), 0);
    // An http:// page on the same host is not this https site.
    let downgraded = server
        .http
        .post(server.url("/api/auth/logout"))
        .header("origin", "http://cams.example")
        .header("host", "cams.example")
        .header(
            "cookie",
            format!("__Host-mumu_session={}", victim.access_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(downgraded.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_plain_http_two_session_cookies_are_refused_not_guessed() {
    let server = TestServer::start(common::Stack::Embedded).await;
    let victim = server.register("victim").await;
    let attacker = server.register("attacker").await;
    let me = server
        .http
        .get(server.url("/api/auth/me"))
        .header(
            "cookie",
            format!(
                "mumu_session={}; mumu_session={}",
                attacker.access_token, victim.access_token
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    let body: serde_json::Value = me.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("two mumu_session cookies"),
        "{body}"
    );
}

// Medium: a form sent before the app has taken the server's page over (a slow phone, a quick
// Enter) would go natively, as a GET with every field, the password among them, in the address,
// the history and the logs. The pages' forms say post, and their submit buttons wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_never_travels_in_an_address() {
    let server = TestServer::start(common::Stack::Embedded).await;
    for path in ["/login", "/register"] {
        let page = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(page.status(), 200, "{path}");
        let html = page.text().await.unwrap();
        let opening_tags = |tag: &str| -> Vec<String> {
            html.split(tag)
                .skip(1)
                .map(|rest| format!("{tag}{}", &rest[..rest.find('>').unwrap_or(rest.len())]))
                .collect()
        };
        let forms = opening_tags("<form");
        assert!(!forms.is_empty(), "{path} has no form");
        for form in forms {
            assert!(form.contains(r#"method="post""#), "{path}: {form}>");
        }
        let submits = opening_tags(r#"<button type="submit""#);
        assert!(!submits.is_empty(), "{path} has no submit button");
        for button in submits {
            assert!(button.contains("disabled"), "{path}: {button}>");
        }
    }
}

// Medium: slow clients hold a connection for seconds, and a flood of them never starves
// everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_time_out_and_a_flood_of_them_does_not_starve_the_server() {
    let server = TestServer::start_with(common::Stack::Embedded, |c| {
        c.http.http_header_timeout_secs = 1;
        c.http.http_request_timeout_secs = 2;
        c.http.max_connections = 40;
    })
    .await;
    let addr = host_of(&server);
    // Twice the cap in connections that send half a request line and stall.
    let mut stalled = Vec::new();
    for _ in 0..80 {
        if let Ok(Ok(mut tcp)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(&addr)).await
        {
            let _ = tcp.write_all(b"GET /healthz HTT").await;
            stalled.push(tcp);
        }
    }
    // Health still answers within a few header timeouts: the stalled ones are cut, places free.
    let started = std::time::Instant::now();
    let status = raw_status(
        &addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(status.contains("200"), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // Each stalled connection was closed by the server.
    for tcp in &mut stalled[..5] {
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("closed within 5 s")
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    }
    // A body that trickles is answered 408, with a reason.
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user").await.unwrap();
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("not complete within 2 s"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_for_this_machine_or_the_holder_of_the_token() {
    let server = TestServer::start_with(common::Stack::Embedded, |c| c.http.trust_proxy = 1).await;
    let from = |addr: &'static str| {
        server
            .http
            .get(server.url("/metrics"))
            .header("x-forwarded-for", addr)
    };
    assert_eq!(from("127.0.0.1").send().await.unwrap().status(), 200);
    assert_eq!(from("203.0.113.9").send().await.unwrap().status(), 403);
    let mut server = TestServer::start_with(common::Stack::Embedded, |c| {
        c.http.metrics_token = Some(mumu_server::secrets::Secret::new("scrape-me-please"));
    })
    .await;
    let metrics = server.url("/metrics");
    assert_eq!(
        server.http.get(&metrics).send().await.unwrap().status(),
        401
    );
    assert_eq!(
        server
            .http
            .get(&metrics)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        server
            .http
            .get(&metrics)
            .bearer_auth("scrape-me-please")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start(common::Stack::Embedded).await;
    server.register("alice").await;
    let dir = server.state.config.storage.data_dir.clone();
    let mode = std::fs::metadata(dir.join("mumu.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mumu.db is {:o}", mode & 0o777);
    let nested = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}/new/dir/mumu.db?mode=rwc",
        nested.path().display()
    );
    mumu_server::db::Db::connect(&url, 1).await.unwrap();
    let dir_mode = std::fs::metadata(nested.path().join("new/dir"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
}

// Low: at the most verbose log level, no token, password or device secret reaches the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn even_trace_logging_never_writes_a_credential() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as Ws;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mumu-server"))
        .env("MUMU_LISTEN", format!("127.0.0.1:{port}"))
        .env("MUMU_DATA_DIR", dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("RUST_LOG", "trace")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the server started");
    let password = "a secret passphrase 42";
    let body = RegisterRequest {
        username: "alice".into(),
        email: "alice@example.com".into(),
        password: password.into(),
        invitation: None,
    };
    let auth: AuthResponse = http
        .post(format!("{base}/api/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let enrolled: mumu_shared::api::EnrollResponse = http
        .post(format!("{base}/api/devices/enroll"))
        .json(&mumu_shared::api::EnrollRequest {
            name: None,
            agent_version: "t".into(),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        http.get(format!("{base}/api/auth/me"))
            .bearer_auth(&auth.access_token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (mut viewer, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws/viewer"))
            .await
            .unwrap();
    let hello = ViewerToServer::Hello(ViewerHello {
        protocol: PROTOCOL_VERSION,
        token: Some(auth.access_token.clone()),
    });
    viewer
        .send(Ws::Text(
            encode(&mumu_shared::Envelope::new(hello, 0)).into(),
        ))
        .await
        .unwrap();
    viewer.next().await.unwrap().unwrap();
    let (mut device, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws/device"))
            .await
            .unwrap();
    let hello = DeviceToServer::Hello(common::hello(&enrolled.device_id, &enrolled.device_secret));
    device
        .send(Ws::Text(
            encode(&mumu_shared::Envelope::new(hello, 0)).into(),
        ))
        .await
        .unwrap();
    device.next().await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(
        text.lines().count() > 50,
        "trace logging was on: {} lines",
        text.lines().count()
    );
    for (what, secret) in [
        ("the access token", auth.access_token.as_str()),
        ("the password", password),
        ("the device secret", enrolled.device_secret.as_str()),
    ] {
        assert!(!text.contains(secret), "{what} is in the trace log");
    }
}

/// Several servers behind one address allow what one allows: guesses spread over two servers
/// of one deployment draw from the same buckets in Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_spread_over_two_servers_hit_the_limit_of_one() {
    if !stack_enabled(Stack::Scaled) {
        return;
    }
    let a = TestServer::start_with(Stack::Scaled, |c| c.devices.pair_attempts_per_min = 4).await;
    let b = TestServer::start_beside(&a).await;
    a.register("owner").await;
    let mut statuses = Vec::new();
    for i in 0..10 {
        let server = if i % 2 == 0 { &a } else { &b };
        let login = server
            .post("/api/auth/login", None, &login("owner", "wrong password"))
            .await;
        statuses.push(login.0);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        10,
        "{statuses:?}"
    );
    let (status, json) = b
        .post("/api/auth/login", None, &login("owner", "wrong password"))
        .await;
    assert_eq!(status, 429, "the eleventh guess, on either server: {json}");
    let (status, _) = a
        .post("/api/auth/login", None, &login("owner", "wrong password"))
        .await;
    assert_eq!(status, 429);

    // Pairing guesses by one user, alternating servers: four in all, not four on each.
    let user = b.register("guesser").await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let server = if i % 2 == 0 { &a } else { &b };
        statuses.push(server.pair(&user.access_token, "ABCD-EFGH").await.0);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        4,
        "{statuses:?}"
    );
}
