//! Devices over HTTP: enrolment, pairing codes, claiming, listing, renaming, removing.

mod common;

use common::{TestServer, hello};
use mumu_shared::api::{EnrollRequest, UpdateDeviceRequest};
use mumu_shared::signaling::{DeviceToServer, ServerToDevice};
use serde_json::json;

stack_tests! {
    async fn enrolment_gives_an_id_a_secret_and_a_readable_pairing_code(stack) {
        let server = TestServer::start(stack).await;
        let device = server.enroll().await;
        assert!(device.device_secret.len() >= 40);
        let code = &device.pairing_code;
        assert_eq!(code.len(), 9, "{code}");
        assert_eq!(&code[4..5], "-");
        let ttl = device.expires_at - server.now();
        assert!((590_000..=600_000).contains(&ttl), "codes live ten minutes: {ttl}");
    }

    async fn a_user_pairs_a_device_by_its_code_and_sees_it_listed(stack) {
        let server = TestServer::start(stack).await;
        let user = server.register("alice").await;
        let device = server.enroll().await;
        let typed = device.pairing_code.to_lowercase().replace('-', " ");
        let (status, json) = server.pair(&user.access_token, &typed).await;
        assert_eq!(status, 201, "{json}");
        assert_eq!(json["name"], "Porch");
        assert_eq!(json["role"], "owner");
        let (status, list) = server.get("/api/devices", Some(&user.access_token)).await;
        assert_eq!(status, 200);
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["id"], device.device_id.0);
        assert_eq!(list[0]["is_online"], false);
        let other = server.register("bob").await;
        let (_, theirs) = server.get("/api/devices", Some(&other.access_token)).await;
        assert_eq!(theirs, json!([]));
    }

    async fn a_pairing_code_works_only_once(stack) {
        let server = TestServer::start(stack).await;
        let (_, device) = server.user_with_device("alice").await;
        let mallory = server.register("mallory").await;
        let (status, json) = server.pair(&mallory.access_token, &device.pairing_code).await;
        assert_eq!(status, 410, "{json}");
        assert_eq!(json["error"]["code"], "pairing_code_used");
    }

    async fn an_expired_pairing_code_is_refused(stack) {
        let server = TestServer::start(stack).await;
        let user = server.register("alice").await;
        let device = server.enroll().await;
        server.clock.advance_ms(601_000);
        let (status, json) = server.pair(&user.access_token, &device.pairing_code).await;
        assert_eq!(status, 410, "{json}");
        assert_eq!(json["error"]["code"], "pairing_code_expired");
        // A day on, the next code issued sweeps it away: then it is simply unknown.
        server.clock.advance_ms(24 * 3600 * 1000);
        server.enroll().await;
        let (status, json) = server.pair(&user.access_token, &device.pairing_code).await;
        assert_eq!(status, 400, "{json}");
        assert_eq!(json["error"]["code"], "invalid_pairing_code");
    }

    async fn guessed_codes_are_refused_and_guessing_is_rate_limited(stack) {
        let server = TestServer::start_with(stack, |c| c.devices.pair_attempts_per_min = 5).await;
        let user = server.register("mallory").await;
        let device = server.enroll().await;
        for guess in ["ABCD-EFGH", "HJKM-NPQR", "2345-6789", "WXYZ-2345", "STVW-XYZ2"] {
            let (status, json) = server.pair(&user.access_token, guess).await;
            assert_eq!(status, 400, "{json}");
            assert_eq!(json["error"]["code"], "invalid_pairing_code");
        }
        let (status, json) = server.pair(&user.access_token, &device.pairing_code).await;
        assert_eq!(status, 429, "even the right code waits once the limit is hit: {json}");
        let (status, json) = server.pair(&user.access_token, "0O1I").await;
        assert_eq!(status, 429, "{json}");
    }

    async fn a_malformed_code_says_what_a_code_looks_like(stack) {
        let server = TestServer::start(stack).await;
        let user = server.register("alice").await;
        let (status, json) = server.pair(&user.access_token, "12").await;
        assert_eq!(status, 400);
        assert!(json["error"]["message"].as_str().unwrap().contains("ABCD-EFGH"), "{json}");
    }

    async fn an_unpaired_device_gets_a_fresh_code_and_the_old_one_dies(stack) {
        let server = TestServer::start(stack).await;
        let device = server.enroll().await;
        let resp = server.http.post(server.url("/api/pairing/generate")).bearer_auth(&device.device_secret).send().await.unwrap();
        assert_eq!(resp.status(), 201);
        let fresh: mumu_shared::api::PairingCode = resp.json().await.unwrap();
        assert_ne!(fresh.pairing_code, device.pairing_code);
        let user = server.register("alice").await;
        let (status, _) = server.pair(&user.access_token, &device.pairing_code).await;
        assert_eq!(status, 400, "the old code is gone");
        let (status, _) = server.pair(&user.access_token, &fresh.pairing_code).await;
        assert_eq!(status, 201);
        let resp = server.http.post(server.url("/api/pairing/generate")).bearer_auth(&device.device_secret).send().await.unwrap();
        assert_eq!(resp.status(), 409, "a paired device gets no new code");
        let resp = server.http.post(server.url("/api/pairing/generate")).bearer_auth("wrong-secret").send().await.unwrap();
        assert_eq!(resp.status(), 401);
    }

    async fn enrolment_is_rate_limited_per_address(stack) {
        let server = TestServer::start_with(stack, |c| c.devices.enroll_per_min = 2).await;
        let body = EnrollRequest { name: None, agent_version: "test".into() };
        for _ in 0..2 {
            assert_eq!(server.post("/api/devices/enroll", None, &body).await.0, 201);
        }
        let (status, json) = server.post("/api/devices/enroll", None, &body).await;
        assert_eq!(status, 429, "{json}");
        assert_eq!(json["error"]["code"], "rate_limited");
    }

    async fn owners_rename_devices_and_others_cannot_touch_them(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let path = format!("/api/devices/{}", device.device_id);
        let (status, json) = server.patch(&path, &owner.access_token, &UpdateDeviceRequest { name: "  Garden  ".into() }).await;
        assert_eq!(status, 200, "{json}");
        assert_eq!(json["name"], "Garden");
        let (status, json) = server.patch(&path, &owner.access_token, &UpdateDeviceRequest { name: "".into() }).await;
        assert_eq!(status, 400, "{json}");
        let stranger = server.register("mallory").await;
        let (status, json) = server.patch(&path, &stranger.access_token, &UpdateDeviceRequest { name: "Mine".into() }).await;
        // Someone else's device looks exactly like one that does not exist.
        assert_eq!(status, 404, "{json}");
        assert_eq!(server.delete(&path, &stranger.access_token).await.0, 404);
        assert_eq!(server.get(&format!("{path}/status"), Some(&stranger.access_token)).await.0, 404);
        let (status, json) = server.get("/api/devices/no-such-device/status", Some(&owner.access_token)).await;
        assert_eq!(status, 404, "{json}");
        let (status, json) = server.get(&format!("{path}/status"), Some(&owner.access_token)).await;
        assert_eq!(status, 200);
        assert_eq!(json["name"], "Garden");
    }

    async fn removing_a_device_closes_its_socket_and_kills_its_secret(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let mut socket = server.device_online(&device).await;
        let path = format!("/api/devices/{}", device.device_id);
        assert_eq!(server.delete(&path, &owner.access_token).await.0, 204);
        let removed = socket.recv_matching(|m| matches!(m, ServerToDevice::Error(_))).await;
        match removed.message {
            ServerToDevice::Error(e) => assert_eq!(e.code, mumu_shared::ErrorCode::DeviceRemoved),
            _ => unreachable!(),
        }
        assert_eq!(socket.closed().await, Some(1008));
        let mut again = server.device_socket().await;
        again.send(DeviceToServer::Hello(hello(&device.device_id, &device.device_secret))).await;
        match again.recv().await.message {
            ServerToDevice::Error(e) => assert_eq!(e.code, mumu_shared::ErrorCode::Unauthorized),
            other => panic!("expected unauthorized, got {other:?}"),
        }
        let (_, list) = server.get("/api/devices", Some(&owner.access_token)).await;
        assert_eq!(list, json!([]));
    }

    async fn owners_share_devices_by_username_and_take_them_back(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let friend = server.register("bob").await;
        let shares = format!("/api/devices/{}/shares", device.device_id);
        let (status, json) = server.post(&shares, Some(&owner.access_token), &json!({"username": "BOB"})).await;
        assert_eq!(status, 201, "{json}");
        assert_eq!(json["username"], "bob");
        let (status, _) = server.post(&shares, Some(&owner.access_token), &json!({"username": "bob"})).await;
        assert_eq!(status, 409, "sharing twice is a conflict");
        let (status, json) = server.post(&shares, Some(&owner.access_token), &json!({"username": "nobody"})).await;
        assert_eq!(status, 404, "{json}");
        let (status, _) = server.post(&shares, Some(&owner.access_token), &json!({"username": "alice"})).await;
        assert_eq!(status, 400, "the owner cannot share with themselves");
        let (status, _) = server.post(&shares, Some(&friend.access_token), &json!({"username": "bob"})).await;
        assert_eq!(status, 403, "a viewer cannot share further");
        let (_, list) = server.get(&shares, Some(&owner.access_token)).await;
        assert_eq!(list[0]["username"], "bob");
        let (_, theirs) = server.get("/api/devices", Some(&friend.access_token)).await;
        assert_eq!(theirs[0]["role"], "viewer");
        let path = format!("/api/devices/{}", device.device_id);
        let (status, _) = server.patch(&path, &friend.access_token, &UpdateDeviceRequest { name: "Mine".into() }).await;
        assert_eq!(status, 403, "viewers watch only");
        assert_eq!(server.delete(&format!("{shares}/bob"), &owner.access_token).await.0, 204);
        assert_eq!(server.delete(&format!("{shares}/bob"), &owner.access_token).await.0, 404);
        let (_, theirs) = server.get("/api/devices", Some(&friend.access_token)).await;
        assert_eq!(theirs, json!([]));
    }
}
