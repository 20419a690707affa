//! The share's "may talk" permission (issue 35's household, for the sound issue's talk back):
//! off unless the owner marks the share, stored with it, listed and edited like the other
//! permissions, and carried in the grants the camera hears, at watch time and at once when it
//! changes, so the camera can refuse talk from a session not marked. And the device list says
//! whose a shared camera is, for the dashboard's "shared by" mark.

mod common;

use common::{Device, TestServer, watch};
use mumu_shared::signaling::{Grants, ServerToDevice, SessionGrants};
use serde_json::json;

async fn grants_heard(cam: &mut Device) -> SessionGrants {
    match cam
        .recv_matching(|m| matches!(m, ServerToDevice::SessionGrants(_)))
        .await
        .message
    {
        ServerToDevice::SessionGrants(g) => g,
        _ => unreachable!(),
    }
}

stack_tests! {
    async fn a_share_talks_only_when_marked_and_the_camera_hears_a_change_at_once(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device, guest) = server.user_with_shared_device("alice", "bob").await;
        let shares = format!("/api/devices/{}/shares", device.device_id);
        let bob = format!("{shares}/bob");
        let (_, list) = server.get(&shares, Some(&owner.access_token)).await;
        assert_eq!(list[0]["talk"], false, "nobody talks unless allowed: {list}");

        let mut cam = server.device_online(&device).await;
        let (mut alice, _) = server.viewer_online(&owner.access_token).await;
        let (_, request) = watch(&mut alice, &mut cam, &device.device_id).await;
        assert!(request.grants.talk, "the owner talks, always");
        let (mut viewer, _) = server.viewer_online(&guest.access_token).await;
        let (ready, request) = watch(&mut viewer, &mut cam, &device.device_id).await;
        assert!(!request.grants.talk, "an unmarked share does not");

        let (status, json) = server.patch(&bob, &owner.access_token, &json!({"talk": true})).await;
        assert_eq!(status, 200, "{json}");
        assert_eq!((json["talk"].as_bool(), json["recordings"].as_bool()), (Some(true), Some(false)), "only talk changed: {json}");
        let told = grants_heard(&mut cam).await;
        assert_eq!(told, SessionGrants { session_id: ready.session_id.clone(), grants: Grants { recordings: false, configure: false, talk: true } });
        let (_, list) = server.get(&shares, Some(&owner.access_token)).await;
        assert_eq!(list[0]["talk"], true);

        let (status, _) = server.patch(&bob, &owner.access_token, &json!({"talk": false})).await;
        assert_eq!(status, 200);
        let told = grants_heard(&mut cam).await;
        assert!(!told.grants.talk, "withdrawn at once: {told:?}");
        // The session goes on: only what it may do changed.
        viewer.silent_for(200).await;
    }

    async fn talk_may_be_given_with_the_share_and_a_bad_value_names_the_field(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let carol = server.register("carol").await;
        let shares = format!("/api/devices/{}/shares", device.device_id);
        let (status, json) = server.post(&shares, Some(&owner.access_token), &json!({"username": "carol@example.com", "talk": true})).await;
        assert_eq!(status, 201, "shared by the account's email: {json}");
        assert_eq!((json["username"].as_str(), json["talk"].as_bool()), (Some("carol"), Some(true)));
        let mut cam = server.device_online(&device).await;
        let (mut viewer, _) = server.viewer_online(&carol.access_token).await;
        let (_, request) = watch(&mut viewer, &mut cam, &device.device_id).await;
        assert_eq!(request.grants, Grants { recordings: false, configure: false, talk: true });

        let (status, json) = server.patch(&format!("{shares}/carol"), &owner.access_token, &json!({"talk": "yes"})).await;
        assert_eq!(status, 400, "{json}");
        assert!(json["error"]["message"].as_str().unwrap().contains("talk"), "the error names the field: {json}");
        // A viewer of the camera cannot give themselves the right to talk.
        let (status, json) = server.patch(&format!("{shares}/carol"), &carol.access_token, &json!({"talk": true})).await;
        assert_eq!((status, json["error"]["code"].as_str()), (403, Some("forbidden")), "{json}");
    }

    async fn a_shared_camera_says_whose_it_is_and_an_own_one_does_not(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device, guest) = server.user_with_shared_device("alice", "bob").await;
        let (status, list) = server.get("/api/devices", Some(&guest.access_token)).await;
        assert_eq!(status, 200, "{list}");
        assert_eq!((list[0]["role"].as_str(), list[0]["shared_by"].as_str()), (Some("viewer"), Some("alice")), "{list}");
        let (_, one) = server.get(&format!("/api/devices/{}/status", device.device_id), Some(&guest.access_token)).await;
        assert_eq!(one["shared_by"], "alice", "{one}");
        let (_, own) = server.get("/api/devices", Some(&owner.access_token)).await;
        assert_eq!(own[0]["role"], "owner");
        assert!(own[0].get("shared_by").is_none(), "no mark on one's own camera: {own}");
    }
}
