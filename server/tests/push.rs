//! Web Push, end to end on loopback: browsers subscribe through the real server's REST, the
//! server's sender pushes to a local push service that checks every VAPID token against the
//! deployment's key and decrypts every payload with the browser's own private key
//! (`common/push_service.rs`), and what must end a subscription ends it: the push service's
//! 410, a logout, a revoked share, a removed camera.
//!
//! The sender is called as the server's library (`state.push.deliver`), as the event path will
//! call it; no route of the shipped server sends a push on request.

mod common;

use common::push_service::PushService;
use common::{Stack, TestServer};
use mumu_server::push::sender::{Delivery, Recipients, SendError};
use mumu_server::push::vapid::VapidKeys;
use mumu_server::secrets::Secret;
use mumu_shared::DeviceId;
use mumu_shared::push::{PushNotification, PushSubscriptionRequest};
use serde_json::json;
use std::time::{Duration, Instant};

/// A server with VAPID keys, and a push service that expects them.
async fn push_server(stack: Stack) -> (TestServer, PushService) {
    let (private, public) = VapidKeys::generate();
    let service = PushService::start(&public).await;
    let server = TestServer::start_with(stack, |config| {
        config.push.vapid_private_key = Some(Secret::new(private));
        config.push.vapid_subject = Some("mailto:ops@example.com".into());
        config.push.push_allowed_hosts = vec!["127.0.0.1".into()];
    })
    .await;
    (server, service)
}

async fn subscribe(
    server: &TestServer,
    token: &str,
    subscription: &PushSubscriptionRequest,
) -> (u16, serde_json::Value) {
    server
        .post("/api/push/subscriptions", Some(token), subscription)
        .await
}

async fn put(server: &TestServer, path: &str, token: &str) -> (u16, serde_json::Value) {
    let response = server
        .http
        .put(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// An event on `device` sent to everyone who asked, waited for to the end.
async fn event(server: &TestServer, device: &DeviceId, start: i64) -> Delivery {
    server
        .state
        .push
        .deliver(
            device,
            Recipients::Everyone,
            &PushNotification::event(device.clone(), "Porch", start),
        )
        .await
        .expect("queued")
}

fn delivered(n: u32) -> Delivery {
    Delivery {
        delivered: n,
        ..Delivery::default()
    }
}

stack_tests! {
    async fn each_event_reaches_a_subscribed_browser_once_decrypted_with_its_camera_and_time(stack) {
        let (server, service) = push_server(stack).await;
        let (alice, device) = server.user_with_device("alice").await;
        let token = &alice.access_token;
        let (status, key) = server.get("/api/push/key", Some(token)).await;
        assert_eq!(status, 200, "{key}");
        assert_eq!(key["public_key"].as_str().unwrap().len(), 87, "65 bytes, base64url: {key}");

        let phone = service.subscription(Some(vec![device.device_id.clone()]));
        let (status, body) = subscribe(&server, token, &phone).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["devices"], json!([device.device_id]));
        // A second browser of the same login that did not ask for the camera hears nothing.
        let laptop = service.subscription(None);
        assert_eq!(subscribe(&server, token, &laptop).await.0, 201);

        let start = server.now() - 1_500;
        assert_eq!(event(&server, &device.device_id, start).await, delivered(1));
        let got = service.wait_for(1).await;
        assert_eq!(got.len(), 1, "exactly one push for one event");
        let push = &got[0];
        assert_eq!(push.endpoint, phone.endpoint);
        assert_eq!(push.payload, json!({
            "device_id": device.device_id,
            "device_name": "Porch",
            "start": start,
            "url": format!("/watch?d={}&at={start}", device.device_id),
        }));
        assert_eq!(push.ttl, 3600);
        assert_eq!(push.urgency.as_deref(), Some("high"));

        assert_eq!(event(&server, &device.device_id, start + 60_000).await, delivered(1));
        let got = service.wait_for(2).await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].payload["start"], start + 60_000);
        assert!(service.received_by(&laptop.endpoint).is_empty());
        assert!(service.refused().is_empty(), "{:?}", service.refused());

        // Subscribing again with the same endpoint updates, and keeps the cameras.
        let (status, body) = subscribe(&server, token, &PushSubscriptionRequest { devices: None, ..phone.clone() }).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["devices"], json!([device.device_id]));
        let (status, list) = server.get("/api/push/subscriptions", Some(token)).await;
        assert_eq!(status, 200);
        assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    }

    async fn notify_me_turns_one_cameras_pushes_on_and_off_for_this_login(stack) {
        let (server, service) = push_server(stack).await;
        let (alice, porch) = server.user_with_device("alice").await;
        let garage = server.enroll().await;
        assert_eq!(server.pair(&alice.access_token, &garage.pairing_code).await.0, 201);
        let token = &alice.access_token;

        // Before this browser subscribed, there is nothing to turn on.
        let (status, body) = put(&server, &format!("/api/devices/{}/notify", porch.device_id), token).await;
        assert_eq!(status, 409, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("subscribe this browser first"), "{body}");

        let browser = service.subscription(None);
        assert_eq!(subscribe(&server, token, &browser).await.0, 201);
        let (status, body) = put(&server, &format!("/api/devices/{}/notify", porch.device_id), token).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"device_id": porch.device_id, "notify": true, "subscriptions": 1}));

        assert_eq!(event(&server, &porch.device_id, 1).await, delivered(1));
        assert_eq!(event(&server, &garage.device_id, 2).await, delivered(0), "the garage was not asked for");

        let (status, body) = server.delete(&format!("/api/devices/{}/notify", porch.device_id), token).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["notify"], false);
        assert_eq!(event(&server, &porch.device_id, 3).await, delivered(0));
        assert_eq!(service.received().len(), 1);
        let (_, list) = server.get("/api/push/subscriptions", Some(token)).await;
        assert_eq!(list[0]["devices"], json!([]));
    }

    async fn a_410_from_the_push_service_deletes_the_subscription(stack) {
        let (server, service) = push_server(stack).await;
        let (alice, device) = server.user_with_device("alice").await;
        let browser = service.subscription(Some(vec![device.device_id.clone()]));
        assert_eq!(subscribe(&server, &alice.access_token, &browser).await.0, 201);
        service.gone(&browser.endpoint);
        assert_eq!(
            event(&server, &device.device_id, 1).await,
            Delivery { removed: 1, ..Delivery::default() }
        );
        let (_, list) = server.get("/api/push/subscriptions", Some(&alice.access_token)).await;
        assert_eq!(list, json!([]));
        assert_eq!(event(&server, &device.device_id, 2).await, Delivery::default());
        assert_eq!(service.attempts(&browser.endpoint), 1, "nothing is sent to a gone subscription");
    }

    async fn logging_out_deletes_the_logins_subscriptions_and_no_other(stack) {
        let (server, service) = push_server(stack).await;
        let (alice, device) = server.user_with_device("alice").await;
        let phone_login = alice.access_token.clone();
        let laptop_login = login(&server, "alice").await;
        let phone = service.subscription(Some(vec![device.device_id.clone()]));
        let laptop = service.subscription(Some(vec![device.device_id.clone()]));
        assert_eq!(subscribe(&server, &phone_login, &phone).await.0, 201);
        assert_eq!(subscribe(&server, &laptop_login, &laptop).await.0, 201);
        assert_eq!(event(&server, &device.device_id, 1).await, delivered(2));

        let (status, _) = server.post("/api/auth/logout", Some(&phone_login), &json!({})).await;
        assert_eq!(status, 204);
        assert_eq!(subscription_rows(&server).await, 1, "the phone's row is gone, the laptop's stays");
        assert_eq!(event(&server, &device.device_id, 2).await, delivered(1));
        assert_eq!(service.received_by(&phone.endpoint).len(), 1);
        assert_eq!(service.received_by(&laptop.endpoint).len(), 2);

        // A password change ends the other logins, and their subscriptions with them.
        let tablet_login = login(&server, "alice").await;
        let tablet = service.subscription(Some(vec![device.device_id.clone()]));
        assert_eq!(subscribe(&server, &tablet_login, &tablet).await.0, 201);
        let change = json!({"current_password": "correct horse battery", "new_password": "battery staple horse"});
        let (status, body) = server.post("/api/auth/password", Some(&laptop_login), &change).await;
        assert_eq!(status, 204, "{body}");
        assert_eq!(subscription_rows(&server).await, 1, "the tablet's row is gone, the laptop's stays");
        assert_eq!(event(&server, &device.device_id, 3).await, delivered(1));
        assert_eq!(service.received_by(&laptop.endpoint).len(), 3);

        let (status, _) = server.post("/api/auth/logout-all", Some(&laptop_login), &json!({})).await;
        assert_eq!(status, 204);
        assert_eq!(subscription_rows(&server).await, 0);
    }

    async fn revoking_a_share_or_removing_the_camera_ends_its_pushes(stack) {
        let (server, service) = push_server(stack).await;
        let (owner, device, guest) = server.user_with_shared_device("olivia", "gus").await;
        let guests = service.subscription(Some(vec![device.device_id.clone()]));
        let owners = service.subscription(Some(vec![device.device_id.clone()]));
        assert_eq!(subscribe(&server, &guest.access_token, &guests).await.0, 201);
        assert_eq!(subscribe(&server, &owner.access_token, &owners).await.0, 201);
        assert_eq!(event(&server, &device.device_id, 1).await, delivered(2));

        // The policy may name who to tell: only the guest.
        let only_guest = server.state.push.deliver(
            &device.device_id,
            Recipients::Only(vec![guest.user.id.clone()]),
            &PushNotification::event(device.device_id.clone(), "Porch", 2),
        ).await.unwrap();
        assert_eq!(only_guest, delivered(1));
        assert_eq!(service.received_by(&guests.endpoint).len(), 2);

        // The owner turns the guest's notifications off: no push, and no turning it back on.
        let share = format!("/api/devices/{}/shares/gus", device.device_id);
        let (status, _) = server.patch(&share, &owner.access_token, &json!({"notifications": false})).await;
        assert_eq!(status, 200);
        assert_eq!(event(&server, &device.device_id, 3).await, delivered(1));
        let (status, body) = put(&server, &format!("/api/devices/{}/notify", device.device_id), &guest.access_token).await;
        assert_eq!(status, 403, "{body}");
        let (status, _) = server.patch(&share, &owner.access_token, &json!({"notifications": true})).await;
        assert_eq!(status, 200);
        assert_eq!(event(&server, &device.device_id, 4).await, delivered(2));

        // Revoked: the guest's "notify me" for the camera is gone with the share.
        let (status, _) = server.delete(&share, &owner.access_token).await;
        assert_eq!(status, 204);
        assert_eq!(event(&server, &device.device_id, 5).await, delivered(1));
        let (_, list) = server.get("/api/push/subscriptions", Some(&guest.access_token)).await;
        assert_eq!(list[0]["devices"], json!([]), "{list}");
        assert_eq!(service.received_by(&guests.endpoint).len(), 3);

        // Removed: nobody's subscription names it any more.
        let (status, _) = server.delete(&format!("/api/devices/{}", device.device_id), &owner.access_token).await;
        assert_eq!(status, 204);
        assert_eq!(event(&server, &device.device_id, 6).await, Delivery::default());
        let (_, list) = server.get("/api/push/subscriptions", Some(&owner.access_token)).await;
        assert_eq!(list[0]["devices"], json!([]), "{list}");
    }

    async fn bad_subscriptions_are_refused_with_what_was_wrong(stack) {
        let (server, service) = push_server(stack).await;
        let (alice, device) = server.user_with_device("alice").await;
        let (bob, bobs_device) = server.user_with_device("bob").await;
        let token = &alice.access_token;
        let good = service.subscription(None);
        let refused = |status: u16, body: &serde_json::Value, expected: u16, says: &str| {
            assert_eq!(status, expected, "{body}");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(says), "expected {says:?} in {body}");
        };
        let with = |endpoint: &str| PushSubscriptionRequest { endpoint: endpoint.into(), ..good.clone() };

        let (s, b) = subscribe(&server, token, &with("http://push.example.com/x")).await;
        refused(s, &b, 400, "must be https");
        let (s, b) = subscribe(&server, token, &with("https://10.0.0.7/push/x")).await;
        refused(s, &b, 400, "10.0.0.7");
        let (s, b) = subscribe(&server, token, &with("https://169.254.169.254/latest")).await;
        refused(s, &b, 400, "non-public");
        let (s, b) = subscribe(&server, token, &with("javascript:alert(1)")).await;
        refused(s, &b, 400, "endpoint");
        let long = format!("https://push.example.com/{}", "x".repeat(2000));
        let (s, b) = subscribe(&server, token, &with(&long)).await;
        refused(s, &b, 400, "longer than");

        let mut bad_point = good.clone();
        bad_point.keys.p256dh = good.keys.auth.clone();
        let (s, b) = subscribe(&server, token, &bad_point).await;
        refused(s, &b, 400, "uncompressed P-256");
        let mut off_curve = good.clone();
        off_curve.keys.p256dh = format!("BA{}", "A".repeat(85));
        let (s, b) = subscribe(&server, token, &off_curve).await;
        refused(s, &b, 400, "p256dh");
        let mut short_auth = good.clone();
        short_auth.keys.auth = "AAAAAAAA".into();
        let (s, b) = subscribe(&server, token, &short_auth).await;
        refused(s, &b, 400, "16 bytes");

        let unknown = PushSubscriptionRequest { devices: Some(vec![DeviceId::from("no-such-camera")]), ..good.clone() };
        let (s, b) = subscribe(&server, token, &unknown).await;
        refused(s, &b, 404, "no camera no-such-camera");
        let someone_elses = PushSubscriptionRequest { devices: Some(vec![bobs_device.device_id.clone()]), ..good.clone() };
        let (s, b) = subscribe(&server, token, &someone_elses).await;
        refused(s, &b, 404, "no camera");
        let (s, b) = put(&server, &format!("/api/devices/{}/notify", bobs_device.device_id), &bob.access_token).await;
        refused(s, &b, 409, "subscribe this browser first");
        assert_eq!(subscription_rows(&server).await, 0, "nothing refused was stored");

        // One login holds a few subscriptions; the next one is refused until one goes.
        let mut ids = Vec::new();
        for _ in 0..4 {
            let (s, b) = subscribe(&server, token, &service.subscription(Some(vec![device.device_id.clone()]))).await;
            assert_eq!(s, 201, "{b}");
            ids.push(b["id"].as_str().unwrap().to_owned());
        }
        let (s, b) = subscribe(&server, token, &service.subscription(None)).await;
        refused(s, &b, 409, "already holds 4");
        let (s, _) = server.delete(&format!("/api/push/subscriptions/{}", ids[0]), token).await;
        assert_eq!(s, 204);
        assert_eq!(subscribe(&server, token, &service.subscription(None)).await.0, 201);
        // Another login cannot delete this one's.
        let (s, b) = server.delete(&format!("/api/push/subscriptions/{}", ids[1]), &bob.access_token).await;
        refused(s, &b, 404, "no push subscription");
    }

    async fn a_push_service_that_is_busy_or_failing_is_tried_again_a_little(stack) {
        let (server, service) = push_server(stack).await;
        let (alice, device) = server.user_with_device("alice").await;
        let browser = service.subscription(Some(vec![device.device_id.clone()]));
        assert_eq!(subscribe(&server, &alice.access_token, &browser).await.0, 201);
        // A 500 (tried again after a second), a 429 with Retry-After: 0, then accepted.
        service.answer(&browser.endpoint, &[500, 429]);
        assert_eq!(event(&server, &device.device_id, 1).await, delivered(1));
        assert_eq!(service.attempts(&browser.endpoint), 3);
        // Failing for good: three attempts, then given up; the subscription stays.
        service.answer(&browser.endpoint, &[503, 429, 503]);
        let started = Instant::now();
        assert_eq!(event(&server, &device.device_id, 2).await, Delivery { failed: 1, ..Delivery::default() });
        assert_eq!(service.attempts(&browser.endpoint), 6);
        assert!(started.elapsed() < Duration::from_secs(10));
        // A refusal that retrying cannot fix (400) is not retried.
        service.answer(&browser.endpoint, &[400]);
        assert_eq!(event(&server, &device.device_id, 3).await, Delivery { failed: 1, ..Delivery::default() });
        assert_eq!(service.attempts(&browser.endpoint), 7);
        let (_, list) = server.get("/api/push/subscriptions", Some(&alice.access_token)).await;
        assert_eq!(list.as_array().unwrap().len(), 1);
    }
}

async fn login(server: &TestServer, name: &str) -> String {
    let (status, body) = server
        .post(
            "/api/auth/login",
            None,
            &json!({"username": name, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn subscription_rows(server: &TestServer) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM push_subscriptions")
        .fetch_one(&server.state.db.pool)
        .await
        .unwrap();
    n
}

#[tokio::test]
async fn pushes_signed_with_another_deployments_key_are_refused_by_the_push_service() {
    // The push service expects one key; the server signs with another: every push is refused
    // (403), which shows the service really checks the signature.
    let (_, expected) = VapidKeys::generate();
    let service = PushService::start(&expected).await;
    let (private, _) = VapidKeys::generate();
    let server = TestServer::start_with(Stack::Embedded, |config| {
        config.push.vapid_private_key = Some(Secret::new(private));
        config.push.vapid_subject = Some("https://cams.example.com".into());
        config.push.push_allowed_hosts = vec!["127.0.0.1".into()];
    })
    .await;
    let (alice, device) = server.user_with_device("alice").await;
    let browser = service.subscription(Some(vec![device.device_id.clone()]));
    assert_eq!(
        subscribe(&server, &alice.access_token, &browser).await.0,
        201
    );
    assert_eq!(
        event(&server, &device.device_id, 1).await,
        Delivery {
            failed: 1,
            ..Delivery::default()
        }
    );
    assert!(service.received().is_empty());
    assert!(
        service.refused()[0].contains("not the key"),
        "{:?}",
        service.refused()
    );
}

#[tokio::test]
async fn without_vapid_keys_push_is_off_and_the_api_says_so() {
    let server = TestServer::start(Stack::Embedded).await;
    let (alice, device) = server.user_with_device("alice").await;
    let token = &alice.access_token;
    let (status, body) = server.get("/api/push/key", Some(token)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "push_disabled");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MUMU_VAPID_PRIVATE_KEY"),
        "{body}"
    );
    let service = PushService::start(&VapidKeys::generate().1).await;
    let (status, body) = subscribe(&server, token, &service.subscription(None)).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("push_disabled"))
    );
    let (status, _) = put(
        &server,
        &format!("/api/devices/{}/notify", device.device_id),
        token,
    )
    .await;
    assert_eq!(status, 503);
    let (status, list) = server.get("/api/push/subscriptions", Some(token)).await;
    assert_eq!((status, list), (200, json!([])));
    let queued = server.state.push.notify(
        &device.device_id,
        Recipients::Everyone,
        &PushNotification::event(device.device_id.clone(), "Porch", 1),
    );
    assert!(matches!(queued, Err(SendError::Disabled)), "{queued:?}");
}

#[tokio::test]
async fn a_notification_too_large_for_a_push_message_is_refused_before_sending() {
    let (server, service) = push_server(Stack::Embedded).await;
    let (alice, device) = server.user_with_device("alice").await;
    let browser = service.subscription(Some(vec![device.device_id.clone()]));
    assert_eq!(
        subscribe(&server, &alice.access_token, &browser).await.0,
        201
    );
    let named = |name: String| PushNotification::event(device.device_id.clone(), name, 1);
    let base = serde_json::to_vec(&named(String::new())).unwrap().len();
    // The largest payload that fits is accepted whole by a push service's 4,096 bytes...
    let largest = named("x".repeat(mumu_shared::push::MAX_PAYLOAD_BYTES - base));
    let delivery = server
        .state
        .push
        .deliver(&device.device_id, Recipients::Everyone, &largest)
        .await
        .unwrap();
    assert_eq!(delivery, delivered(1), "{:?}", service.refused());
    // ...and a byte more is refused here, before anything is sent.
    let over = named("x".repeat(mumu_shared::push::MAX_PAYLOAD_BYTES - base + 1));
    let queued = server
        .state
        .push
        .notify(&device.device_id, Recipients::Everyone, &over);
    assert!(
        matches!(queued, Err(SendError::TooLarge(n)) if n == mumu_shared::push::MAX_PAYLOAD_BYTES + 1),
        "{queued:?}"
    );
    assert_eq!(service.attempts(&browser.endpoint), 1);
}

/// Event to push received by the local push service, on loopback: 100 events one after the
/// other, each to 20 browsers (five logins of one account, four each: the account's bound,
/// which the 21st subscription meets). Prints p50/p99.
/// `cargo test --workspace --test push -- latency --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_latency_on_loopback() {
    let (server, service) = push_server(Stack::Embedded).await;
    let (alice, device) = server.user_with_device("alice").await;
    let mut browsers = Vec::new();
    for i in 0..20 {
        // Four per login: several logins of one account.
        let token = if i % 4 == 0 || browsers.is_empty() {
            login(&server, "alice").await
        } else {
            browsers
                .last()
                .map(|(t, _): &(String, _)| t.clone())
                .unwrap()
        };
        let browser = service.subscription(Some(vec![device.device_id.clone()]));
        let (status, body) = subscribe(&server, &token, &browser).await;
        assert_eq!(status, 201, "{body}");
        browsers.push((token, browser));
    }
    let (status, body) = subscribe(&server, &alice.access_token, &service.subscription(None)).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("20 push subscriptions"),
        "{body}"
    );
    let mut latencies = Vec::new();
    for i in 0..100 {
        let sent = Instant::now();
        let before = service.received().len();
        server
            .state
            .push
            .notify(
                &device.device_id,
                Recipients::Everyone,
                &PushNotification::event(device.device_id.clone(), "Porch", i),
            )
            .unwrap();
        let got = service.wait_for(before + 20).await;
        for push in &got[before..] {
            latencies.push(push.at.duration_since(sent));
        }
    }
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "push latency, event -> received by the local push service (loopback, 20 browsers x 100 events): \
         p50 {:?}, p99 {:?}, max {:?}",
        p(0.5),
        p(0.99),
        latencies.last().unwrap()
    );
    assert!(p(0.5) < Duration::from_secs(1));
    assert!(p(0.99) < Duration::from_secs(2));
}

/// The local push service is only worth its tests if it refuses what a real one refuses: a
/// token signed by another key (whatever `k=` claims), an expired one, one for another origin.
#[tokio::test]
async fn the_local_push_service_refuses_forged_expired_and_misaddressed_tokens() {
    use base64::Engine;
    let (private, public) = VapidKeys::generate();
    let service = PushService::start(&public).await;
    let browser = service.subscription(None);
    let endpoint = url::Url::parse(&browser.endpoint).unwrap();
    let decode = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap()
    };
    let browser_key = p256::PublicKey::from_sec1_bytes(&decode(&browser.keys.p256dh)).unwrap();
    let auth: [u8; 16] = decode(&browser.keys.auth).try_into().unwrap();
    let body = web_push_native::encrypt(
        br#"{"hello":1}"#.to_vec(),
        &browser_key,
        &web_push_native::Auth::from(auth),
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let keys = VapidKeys::new(&private, "mailto:ops@example.com").unwrap();
    let (forger_private, _) = VapidKeys::generate();
    let forger = VapidKeys::new(&forger_private, "mailto:ops@example.com").unwrap();
    let forged = forger
        .authorization(&endpoint, now)
        .unwrap()
        .replace(forger.public_key(), &public);
    let expired = keys
        .authorization(&endpoint, now - 13 * 3600 * 1000)
        .unwrap();
    let elsewhere = keys
        .authorization(&url::Url::parse("https://push.example.com/x").unwrap(), now)
        .unwrap();
    let good = keys.authorization(&endpoint, now).unwrap();
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for authorization in [&forged, &expired, &elsewhere, &good] {
        let response = http
            .post(endpoint.clone())
            .header("authorization", authorization)
            .header("ttl", "60")
            .header("content-encoding", "aes128gcm")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 201], "{:?}", service.refused());
    let refused = service.refused().join("\n");
    assert!(refused.contains("InvalidSignature"), "{refused}");
    assert!(refused.contains("ExpiredSignature"), "{refused}");
    assert!(refused.contains("InvalidAudience"), "{refused}");
    assert_eq!(service.received()[0].payload, json!({"hello": 1}));
}

#[tokio::test]
async fn the_vapid_keys_command_prints_a_pair_that_a_server_serves_from_a_file() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mumu-server"))
        .arg("vapid-keys")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let value = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {text}"))
            .trim()
            .to_owned()
    };
    let private = value("MUMU_VAPID_PRIVATE_KEY=");
    let public = value("# public key (served at /api/push/key): ");
    assert!(value("MUMU_VAPID_SUBJECT=").starts_with("mailto:"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vapid_private_key");
    std::fs::write(&file, format!("{private}\n")).unwrap();
    let server = TestServer::start_with(Stack::Embedded, |config| {
        config.push.vapid_private_key = Some(Secret::new(file.display().to_string()));
        config.push.vapid_subject = Some("mailto:ops@example.com".into());
    })
    .await;
    let alice = server.register("alice").await;
    let (status, key) = server.get("/api/push/key", Some(&alice.access_token)).await;
    assert_eq!(
        (status, key["public_key"].as_str()),
        (200, Some(public.as_str()))
    );
}

#[tokio::test]
async fn a_wrong_vapid_key_or_subject_stops_the_server_with_the_reason() {
    let (private, _) = VapidKeys::generate();
    let cases = [
        (
            "not-a-key",
            Some("mailto:ops@example.com"),
            "MUMU_VAPID_PRIVATE_KEY is not a VAPID private key",
        ),
        (private.as_str(), None, "MUMU_VAPID_SUBJECT must be"),
        (
            private.as_str(),
            Some("ops@example.com"),
            "MUMU_VAPID_SUBJECT must be",
        ),
        (
            "/no/such/vapid/key",
            Some("mailto:ops@example.com"),
            "names the file /no/such/vapid/key",
        ),
    ];
    for (key, subject, says) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut config = mumu_server::config::Config::defaults();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.storage.data_dir = dir.path().to_owned();
        config.storage.database_url = None;
        config.storage.redis_url = None;
        config.push.vapid_private_key = Some(Secret::new(key));
        config.push.vapid_subject = subject.map(str::to_owned);
        let refused = mumu_server::Server::bind(config, mumu_server::clock::ManualClock::new())
            .await
            .err()
            .unwrap_or_else(|| panic!("{key} / {subject:?} was accepted"));
        assert!(format!("{refused:#}").contains(says), "{refused:#}");
    }
}
