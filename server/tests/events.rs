//! Motion events on the server: a camera's `motion_event` stored and listed for those who may
//! see the camera (strangers get `not_found`), and notified once by webhook to the owner and the
//! shares with the permission, signed, past the cooldown, arming and quiet hours; webhooks that
//! would reach private addresses refused, slow receivers cut off without holding others up, and
//! bad input refused with a clear error.

mod common;

use common::receiver::Receiver;
use common::{Device, TestServer};
use mumu_shared::api::{AuthResponse, EnrollResponse, Event};
use mumu_shared::signaling::{DeviceToServer, MotionEvent, ServerToDevice};
use mumu_shared::{ErrorBody, ErrorCode, UnixMillis};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn error_code(json: &serde_json::Value) -> &str {
    json["error"]["code"].as_str().unwrap_or_default()
}

fn error_message(json: &serde_json::Value) -> &str {
    json["error"]["message"].as_str().unwrap_or_default()
}

fn started(start: UnixMillis, zones: &[&str]) -> DeviceToServer {
    DeviceToServer::MotionEvent(MotionEvent {
        start,
        end: None,
        zones: zones.iter().map(|z| (*z).to_owned()).collect(),
        peak_score: 250,
    })
}

fn ended(start: UnixMillis, end: UnixMillis, zones: &[&str]) -> DeviceToServer {
    DeviceToServer::MotionEvent(MotionEvent {
        start,
        end: Some(end),
        zones: zones.iter().map(|z| (*z).to_owned()).collect(),
        peak_score: 420,
    })
}

/// The error the device's socket gets next.
async fn device_error(device: &mut Device) -> ErrorBody {
    match device
        .recv_matching(|m| matches!(m, ServerToDevice::Error(_)))
        .await
        .message
    {
        ServerToDevice::Error(e) => e,
        _ => unreachable!(),
    }
}

/// The events `path` lists for `token`, once `ready` holds (the socket's messages are handled
/// in the background).
async fn events_when(
    server: &TestServer,
    path: &str,
    token: &str,
    ready: impl Fn(&[Event]) -> bool,
) -> Vec<Event> {
    for _ in 0..100 {
        let (status, json) = server.get(path, Some(token)).await;
        assert_eq!(status, 200, "{path}: {json}");
        let events: Vec<Event> = serde_json::from_value(json).unwrap();
        if ready(&events) {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} never listed what was expected");
}

/// A server whose webhooks may reach this machine's receivers (that is what the allowed list is
/// for), with an owner, a guest the camera is shared with, and the camera online.
async fn household(
    stack: common::Stack,
) -> (
    TestServer,
    AuthResponse,
    EnrollResponse,
    AuthResponse,
    Device,
) {
    household_with(stack, |_| {}).await
}

async fn household_with(
    stack: common::Stack,
    tweak: impl FnOnce(&mut mumu_server::config::Config),
) -> (
    TestServer,
    AuthResponse,
    EnrollResponse,
    AuthResponse,
    Device,
) {
    let server = TestServer::start_with(stack, |config| {
        config.events.webhook_allowed_hosts = vec!["127.0.0.1".into()];
        tweak(config);
    })
    .await;
    let (owner, device, guest) = server.user_with_shared_device("alice", "bob").await;
    let camera = server.device_online(&device).await;
    (server, owner, device, guest, camera)
}

/// Sets `token`'s webhook to `url`; returns its secret.
async fn set_webhook(server: &TestServer, token: &str, url: &str, secret: Option<&str>) -> String {
    let body = match secret {
        Some(s) => json!({"url": url, "secret": s}),
        None => json!({"url": url}),
    };
    let response = server
        .http
        .put(server.url("/api/webhook"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, 200, "set webhook: {json}");
    match secret {
        Some(s) => {
            assert!(
                json.get("secret").is_none(),
                "a chosen secret is not echoed: {json}"
            );
            s.to_owned()
        }
        None => json["secret"]
            .as_str()
            .expect("a made secret, shown once")
            .to_owned(),
    }
}

async fn put(
    server: &TestServer,
    path: &str,
    token: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = server
        .http
        .put(server.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

stack_tests! {
    async fn a_cameras_events_are_stored_listed_for_its_people_and_hidden_from_strangers(stack) {
        let (server, owner, device, guest, mut camera) = household(stack).await;
        let stranger = server.register("mallory").await;
        let id = &device.device_id;
        let t0 = server.now() - 60_000;
        camera.send(started(t0, &["door"])).await;
        camera.send(ended(t0, t0 + 4_000, &["door", "path"])).await;
        camera.send(started(t0 + 10_000, &[])).await;
        camera.send(started(t0 + 20_000, &["door"])).await;
        // The same start again (a repeat after a reconnect): still one event.
        camera.send(started(t0 + 20_000, &["door"])).await;

        let path = format!("/api/devices/{id}/events");
        let events = events_when(&server, &path, &owner.access_token, |e| e.len() == 3).await;
        let starts: Vec<_> = events.iter().map(|e| e.start).collect();
        assert_eq!(starts, [t0 + 20_000, t0 + 10_000, t0], "newest first");
        let first = &events[2];
        assert_eq!(first.end, Some(t0 + 4_000), "the end completed the start");
        assert_eq!(first.zones, ["door", "path"]);
        assert_eq!(first.peak_score, 420);
        assert_eq!(first.device_name, "Porch");
        assert_eq!(events[1].end, None, "under way");

        // Paging: `before` the last start seen, `limit` at most.
        let (_, page) = server.get(&format!("{path}?limit=2"), Some(&owner.access_token)).await;
        assert_eq!(page.as_array().unwrap().len(), 2);
        let (_, rest) = server.get(&format!("{path}?limit=2&before={}", t0 + 10_000), Some(&owner.access_token)).await;
        let rest: Vec<Event> = serde_json::from_value(rest).unwrap();
        assert_eq!(rest.iter().map(|e| e.start).collect::<Vec<_>>(), [t0]);
        let (status, json) = server.get(&format!("{path}?limit=5000"), Some(&owner.access_token)).await;
        assert_eq!((status, error_code(&json)), (400, "validation"), "{json}");
        assert!(error_message(&json).contains("limit must be 1 to 200"), "{json}");
        let (status, json) = server.get(&format!("{path}?before=yesterday"), Some(&owner.access_token)).await;
        assert_eq!((status, error_code(&json)), (400, "validation"), "{json}");

        // The person it is shared with sees them, here and across their cameras.
        let (status, json) = server.get(&path, Some(&guest.access_token)).await;
        assert_eq!(status, 200, "{json}");
        assert_eq!(json.as_array().unwrap().len(), 3);
        let (_, all) = server.get("/api/events", Some(&guest.access_token)).await;
        assert_eq!(all.as_array().unwrap().len(), 3);

        // A stranger: the same answer as for a camera that does not exist.
        let (status, json) = server.get(&path, Some(&stranger.access_token)).await;
        assert_eq!((status, error_code(&json)), (404, "not_found"), "{json}");
        let (status, unknown) = server.get("/api/devices/no-such-camera/events", Some(&stranger.access_token)).await;
        assert_eq!(status, 404);
        assert_eq!(error_code(&unknown), "not_found");
        let (_, none) = server.get("/api/events", Some(&stranger.access_token)).await;
        assert_eq!(none, json!([]));
        let (status, _) = server.get("/api/events", None).await;
        assert_eq!(status, 401);

        // Removing the camera removes its events.
        let (status, _) = server.delete(&format!("/api/devices/{id}"), &owner.access_token).await;
        assert_eq!(status, 204);
        let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events WHERE device_id = $1")
            .bind(id.as_str())
            .fetch_one(&server.state.db.pool)
            .await
            .unwrap();
        assert_eq!(left, 0);
        let (_, all) = server.get("/api/events", Some(&owner.access_token)).await;
        assert_eq!(all, json!([]));
    }

    async fn the_owner_and_shares_with_notifications_get_one_signed_webhook_per_event(stack) {
        let (server, owner, device, guest, mut camera) = household(stack).await;
        let quiet = server.register("carol").await;
        let shares = format!("/api/devices/{}/shares", device.device_id);
        let (status, json) = server.post(&shares, Some(&owner.access_token), &json!({"username": "carol", "notifications": false})).await;
        assert_eq!(status, 201, "{json}");
        let mut hooks = Receiver::start().await;
        let owner_secret = set_webhook(&server, &owner.access_token, &hooks.url("/alice"), None).await;
        let guest_secret = set_webhook(&server, &guest.access_token, &hooks.url("/bob"), Some("bob's secret, long enough")).await;
        set_webhook(&server, &quiet.access_token, &hooks.url("/carol"), None).await;
        let (status, json) = server.get("/api/webhook", Some(&owner.access_token)).await;
        assert_eq!(status, 200);
        assert_eq!(json["url"], hooks.url("/alice"));
        assert!(json.get("secret").is_none(), "never shown again: {json}");

        let start = server.now();
        camera.send(started(start, &["door"])).await;
        let mut got = [hooks.next().await, hooks.next().await];
        got.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(got[0].path, "/alice");
        assert_eq!(got[1].path, "/bob");
        assert!(got[0].signed_with(&owner_secret), "the owner's delivery verifies with their secret");
        assert!(got[1].signed_with(&guest_secret));
        assert!(!got[1].signed_with(&owner_secret), "and only with theirs");
        let timestamp: i64 = got[0].header("x-mumu-timestamp").parse().unwrap();
        assert!((timestamp - start / 1000).abs() <= 2, "{timestamp}");
        assert_eq!(got[0].header("content-type"), "application/json");
        assert_eq!(
            got[0].json(),
            json!({
                "kind": "motion",
                "camera_id": device.device_id,
                "camera_name": "Porch",
                "start": start,
                "end": null,
                "zones": ["door"],
                "peak_score": 250,
            }),
            "the camera and the event, no picture"
        );
        // Carol's share does not notify; the event's end notifies nobody again.
        camera.send(ended(start, start + 3_000, &["door"])).await;
        hooks.silent_for(600).await;

        // Quiet hours that cover now silence Bob alone.
        server.clock.advance_ms(61_000);
        let now_min = (server.now() / 60_000) % 1440;
        let clock = |m: i64| format!("{:02}:{:02}", m.rem_euclid(1440) / 60, m.rem_euclid(1440) % 60);
        let (status, json) = put(&server, "/api/quiet-hours", &guest.access_token,
            &json!({"start": clock(now_min - 60), "end": clock(now_min + 60), "utc_offset_minutes": 0})).await;
        assert_eq!(status, 200, "{json}");
        camera.send(started(server.now(), &[])).await;
        assert_eq!(hooks.next().await.path, "/alice");
        hooks.silent_for(600).await;
    }

    async fn the_cooldown_silences_a_camera_for_a_minute_after_it_notified(stack) {
        let (server, owner, device, _guest, mut camera) = household(stack).await;
        let mut hooks = Receiver::start().await;
        set_webhook(&server, &owner.access_token, &hooks.url("/alice"), None).await;
        let path = format!("/api/devices/{}/notifications", device.device_id);
        let (status, json) = server.get(&path, Some(&owner.access_token)).await;
        assert_eq!(status, 200);
        assert_eq!(json, json!({"cooldown_secs": 60, "always": false}));

        camera.send(started(server.now(), &[])).await;
        hooks.next().await;
        server.clock.advance_ms(30_000);
        camera.send(started(server.now(), &[])).await;
        hooks.silent_for(500).await;
        events_when(&server, &format!("/api/devices/{}/events", device.device_id), &owner.access_token, |e| e.len() == 2).await;
        server.clock.advance_ms(31_000);
        camera.send(started(server.now(), &[])).await;
        hooks.next().await;

        // The owner shortens it.
        let (status, json) = server.patch(&path, &owner.access_token, &json!({"cooldown_secs": 5})).await;
        assert_eq!(status, 200, "{json}");
        assert_eq!(json["cooldown_secs"], 5);
        server.clock.advance_ms(5_000);
        camera.send(started(server.now(), &[])).await;
        hooks.next().await;
        let (status, json) = server.patch(&path, &owner.access_token, &json!({"cooldown_secs": 100_000})).await;
        assert_eq!((status, error_code(&json)), (400, "validation"), "{json}");
        let (status, json) = server.patch(&path, &owner.access_token, &json!({})).await;
        assert_eq!((status, error_code(&json)), (400, "validation"), "{json}");
    }

    async fn arming_off_and_home_silence_cameras_but_an_always_camera_passes_at_home(stack) {
        let (server, owner, device, guest, mut camera) = household(stack).await;
        let mut hooks = Receiver::start().await;
        set_webhook(&server, &owner.access_token, &hooks.url("/alice"), None).await;
        let notifications = format!("/api/devices/{}/notifications", device.device_id);
        let (status, _) = server.patch(&notifications, &owner.access_token, &json!({"cooldown_secs": 0})).await;
        assert_eq!(status, 200);
        let (_, arming) = server.get("/api/arming", Some(&guest.access_token)).await;
        assert_eq!(arming, json!({"mode": "away"}), "away until someone says otherwise");

        // Only the household's admin arms it; a viewer cannot mark a camera.
        let (status, json) = put(&server, "/api/arming", &guest.access_token, &json!({"mode": "off"})).await;
        assert_eq!((status, error_code(&json)), (403, "forbidden"), "{json}");
        let (status, json) = server.patch(&notifications, &guest.access_token, &json!({"always": true})).await;
        assert_eq!((status, error_code(&json)), (403, "forbidden"), "{json}");
        let (status, json) = put(&server, "/api/arming", &owner.access_token, &json!({"mode": "sometimes"})).await;
        assert_eq!(status, 400, "{json}");

        let (status, json) = put(&server, "/api/arming", &owner.access_token, &json!({"mode": "off"})).await;
        assert_eq!((status, json), (200, json!({"mode": "off"})));
        camera.send(started(server.now(), &[])).await;
        hooks.silent_for(500).await;

        put(&server, "/api/arming", &owner.access_token, &json!({"mode": "home"})).await;
        server.clock.advance_ms(1_000);
        camera.send(started(server.now(), &[])).await;
        hooks.silent_for(500).await;

        let (status, json) = server.patch(&notifications, &owner.access_token, &json!({"always": true})).await;
        assert_eq!((status, json), (200, json!({"cooldown_secs": 0, "always": true})));
        server.clock.advance_ms(1_000);
        camera.send(started(server.now(), &[])).await;
        hooks.next().await;

        put(&server, "/api/arming", &owner.access_token, &json!({"mode": "off"})).await;
        server.clock.advance_ms(1_000);
        camera.send(started(server.now(), &[])).await;
        hooks.silent_for(500).await;
        let events = events_when(&server, &format!("/api/devices/{}/events", device.device_id), &owner.access_token, |e| e.len() == 4).await;
        assert_eq!(events.len(), 4, "every event is kept, notified or not");
    }

    async fn a_webhook_into_a_private_network_is_refused_unless_its_host_is_allowed(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let token = &owner.access_token;
        for (url, words) in [
            ("http://127.0.0.1:8123/api/webhook/x", "is a loopback address 127.0.0.1"),
            ("http://localhost:8123/hook", "is a loopback address"),
            ("http://[::1]/hook", "a loopback"),
            ("http://192.168.1.20/hook", "a private address"),
            ("http://169.254.169.254/latest/meta-data", "a link-local address"),
            ("http://[fd00::1]/hook", "a unique-local address"),
            ("http://0.0.0.0/hook", "an unspecified address"),
            ("ftp://example.com/hook", "must start with http:// or https://"),
            ("file:///etc/passwd", "must start with http:// or https://"),
            ("not a url", "not a URL"),
        ] {
            let (status, json) = put(&server, "/api/webhook", token, &json!({"url": url})).await;
            assert_eq!((status, error_code(&json)), (400, "validation"), "{url}: {json}");
            assert!(error_message(&json).contains(words), "{url}: {json}");
            if words.contains("address") {
                assert!(error_message(&json).contains("MUMU_WEBHOOK_ALLOWED_HOSTS"), "{json}");
            }
        }
        let (status, json) = put(&server, "/api/webhook", token, &json!({"url": "https://93.184.215.14/x", "secret": "short"})).await;
        assert_eq!((status, error_code(&json)), (400, "validation"), "{json}");
        assert!(error_message(&json).contains("secret must be 16 to 128 characters"), "{json}");
        // A body far over the limit is cut off at it. (100 KB, not 10 MB: the server answers 413
        // and closes as soon as the limit is passed, and a client still writing 10 MB then gets
        // a broken pipe instead of the answer; the limit itself is what is tested.)
        let huge = json!({"url": format!("https://example.com/{}", "a".repeat(100 * 1024))});
        let (status, json) = put(&server, "/api/webhook", token, &huge).await;
        assert_eq!((status, error_code(&json)), (413, "message_too_large"), "{json}");
        let (status, json) = server.get("/api/webhook", Some(token)).await;
        assert_eq!((status, error_code(&json)), (404, "not_found"), "nothing was set: {json}");

        // At delivery the address is checked again, names resolved by the client itself: a
        // row that names loopback (set before the operator's list changed, or a name that
        // resolves elsewhere now) is refused, and nothing reaches the receiver.
        let mut hooks = Receiver::start().await;
        for url in [hooks.url("/literal"), format!("http://localhost:{}/name", hooks.addr.port())] {
            sqlx::query("DELETE FROM webhooks WHERE user_id = $1")
                .bind(owner.user.id.as_str())
                .execute(&server.state.db.pool).await.unwrap();
            sqlx::query("INSERT INTO webhooks (user_id, url, secret, created_at) VALUES ($1, $2, 'sixteen chars ok!', 0)")
                .bind(owner.user.id.as_str())
                .bind(&url)
                .execute(&server.state.db.pool).await.unwrap();
            let refused = server.state.webhook_sender.stats().refused.load(Ordering::Relaxed);
            let mut camera = server.device_online(&device).await;
            server.clock.advance_ms(61_000);
            camera.send(started(server.now(), &[])).await;
            let stats = server.state.webhook_sender.stats();
            for _ in 0..100 {
                if stats.refused.load(Ordering::Relaxed) > refused {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(stats.refused.load(Ordering::Relaxed), refused + 1, "{url}");
            hooks.silent_for(200).await;
        }

        // Listed by the operator, the same receiver is reached.
        let allowed = TestServer::start_with(stack, |c| c.events.webhook_allowed_hosts = vec!["localhost".into(), "127.0.0.1".into()]).await;
        let admin = allowed.register("alice").await;
        for url in [hooks.url("/literal"), format!("http://localhost:{}/name", hooks.addr.port())] {
            let (status, json) = put(&allowed, "/api/webhook", &admin.access_token, &json!({"url": url})).await;
            assert_eq!(status, 200, "{url}: {json}");
        }
        let (status, _) = allowed.delete("/api/webhook", &admin.access_token).await;
        assert_eq!(status, 204);
        let (status, _) = allowed.delete("/api/webhook", &admin.access_token).await;
        assert_eq!(status, 404);
    }

    async fn a_slow_receiver_times_out_without_holding_up_another_accounts_webhook(stack) {
        let (server, owner, _device, guest, mut camera) = household_with(stack, |c| {
            c.events.webhook_timeout_ms = 400;
            c.events.webhook_attempts = 2;
            c.events.webhook_retry_ms = 100;
        }).await;
        let mut slow = Receiver::slow(Duration::from_secs(30)).await;
        let mut fast = Receiver::start().await;
        set_webhook(&server, &owner.access_token, &slow.url("/alice"), None).await;
        set_webhook(&server, &guest.access_token, &fast.url("/bob"), None).await;

        let sent = Instant::now();
        camera.send(started(server.now(), &[])).await;
        let first = slow.next().await;
        let quick = fast.next().await;
        assert!(quick.at - sent < Duration::from_secs(1), "Bob's came in {:?}", quick.at - sent);
        // The slow one is tried again after its deadline and the delay, then given up.
        let second = slow.next().await;
        let gap = second.at - first.at;
        assert!(gap >= Duration::from_millis(450) && gap < Duration::from_secs(3), "retried after {gap:?}");
        let stats = server.state.webhook_sender.stats();
        for _ in 0..100 {
            if stats.failed.load(Ordering::Relaxed) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(stats.failed.load(Ordering::Relaxed), 1, "given up after 2 attempts");
        assert_eq!(stats.delivered.load(Ordering::Relaxed), 1);
        slow.silent_for(300).await;
    }

    async fn bad_motion_events_are_refused_with_clear_errors(stack) {
        let server = TestServer::start_with(stack, |c| c.events.motion_events_per_min = 5).await;
        let (owner, device) = server.user_with_device("alice").await;
        // A camera nobody claimed.
        let stray = server.enroll().await;
        let mut unpaired = server.device_online(&stray).await;
        unpaired.send(started(server.now(), &[])).await;
        let error = device_error(&mut unpaired).await;
        assert_eq!(error.code, ErrorCode::Forbidden);
        assert!(error.message.contains("not paired"), "{error:?}");

        let mut camera = server.device_online(&device).await;
        let crowd: Vec<String> = (0..1000).map(|i| format!("z{i}")).collect();
        let crowd: Vec<&str> = crowd.iter().map(String::as_str).collect();
        camera.send(started(server.now(), &crowd)).await;
        let error = device_error(&mut camera).await;
        assert_eq!(error.code, ErrorCode::Validation);
        assert_eq!(error.message, "motion_event names at most 8 zones (got 1000)");

        camera.send(started(server.now() + 3_600_000, &[])).await;
        let error = device_error(&mut camera).await;
        assert!(error.message.contains("in the future"), "{error:?}");
        camera.send(ended(server.now(), server.now() - 1, &[])).await;
        let error = device_error(&mut camera).await;
        assert!(error.message.contains("after its start"), "{error:?}");
        let long = "x".repeat(40);
        camera.send(started(server.now(), &[long.as_str()])).await;
        let error = device_error(&mut camera).await;
        assert!(error.message.contains("zone name"), "{error:?}");

        let path = format!("/api/devices/{}/events", device.device_id);
        let (_, events) = server.get(&path, Some(&owner.access_token)).await;
        assert_eq!(events, json!([]), "nothing bad was stored");

        // The per-camera allowance (5 a minute here) counts the refused ones too: the fifth
        // passes, the sixth is refused and the socket stays open.
        let start = server.now();
        camera.send(started(start, &[])).await;
        events_when(&server, &path, &owner.access_token, |e| e.len() == 1).await;
        camera.send(ended(start, start + 1_000, &[])).await;
        let error = device_error(&mut camera).await;
        assert_eq!(error.code, ErrorCode::RateLimited, "{error:?}");
        assert!(error.message.contains("motion events from this camera"), "{error:?}");
        server.clock.advance_ms(60_000);
        camera.send(ended(start, start + 1_000, &[])).await;
        events_when(&server, &path, &owner.access_token, |e| e[0].end == Some(start + 1_000)).await;
    }

    async fn events_past_their_retention_are_forgotten_by_the_sweep(stack) {
        use mumu_server::janitor::{Retention, sweep};
        let server = TestServer::start_with(stack, |c| {
            c.events.event_retention_days = 7;
            c.auth.session_ttl_secs = 30 * 86_400;
        }).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut camera = server.device_online(&device).await;
        let old = server.now();
        camera.send(started(old, &[])).await;
        server.clock.advance_ms(6 * 86_400_000);
        camera.send(started(server.now(), &[])).await;
        let path = format!("/api/devices/{}/events", device.device_id);
        events_when(&server, &path, &owner.access_token, |e| e.len() == 2).await;
        server.clock.advance_ms(2 * 86_400_000);
        // An event older than the retention is refused as it arrives, too.
        camera.send(started(old, &["late"])).await;
        let error = device_error(&mut camera).await;
        assert!(error.message.contains("older than events are kept"), "{error:?}");
        let retention = Retention { event_days: server.state.config.events.event_retention_days, ..Retention::default() };
        let swept = sweep(&server.state.db, retention, server.now()).await.unwrap();
        assert_eq!(swept.events, 1, "{swept:?}");
        let events = events_when(&server, &path, &owner.access_token, |e| e.len() == 1).await;
        assert!(events[0].start > old);
    }

    async fn an_event_told_again_through_another_server_notifies_once(stack) {
        // Several servers share one database only on the scaled stack.
        if stack != common::Stack::Scaled {
            return;
        }
        let (server, owner, device, _guest, mut camera) = household(stack).await;
        let other = TestServer::start_beside(&server).await;
        let mut hooks = Receiver::start().await;
        set_webhook(&server, &owner.access_token, &hooks.url("/alice"), None).await;
        // No cooldown: only the event's identity keeps it from notifying twice.
        let notifications = format!("/api/devices/{}/notifications", device.device_id);
        let (status, _) = server.patch(&notifications, &owner.access_token, &json!({"cooldown_secs": 0})).await;
        assert_eq!(status, 200);
        let start = server.now();
        camera.send(started(start, &["door"])).await;
        hooks.next().await;
        // The camera reconnects through the other server and sends what it had queued.
        let mut moved = other.device_online(&device).await;
        moved.send(started(start, &["door"])).await;
        moved.send(ended(start, start + 2_000, &["door"])).await;
        hooks.silent_for(800).await;
        let path = format!("/api/devices/{}/events", device.device_id);
        let events = events_when(&other, &path, &owner.access_token, |e| e.first().is_some_and(|e| e.end.is_some())).await;
        assert_eq!(events.len(), 1);
        // A new event through the new server notifies, once.
        moved.send(started(start + 10_000, &[])).await;
        hooks.next().await;
        hooks.silent_for(300).await;
    }
}
