//! Who may see a camera's recordings (issue 34, "Who may see history"): the owner always, a
//! person it is shared with when the owner allowed it on the share. The server marks each watch
//! from the share row (`watch_request.grants`) and tells the camera at once when the owner
//! changes the permission (`session_grants`), on whichever server holds it; the camera enforces.
//! The same grants carry `configure` (issue 35): the owner and a share with role `admin` may
//! read and change the camera's motion settings, a `viewer` share never; a role changed while a
//! session runs reaches the camera at once.

mod common;

use common::{Device, TestServer, watch};
use mumu_shared::SessionId;
use mumu_shared::signaling::{Grants, ServerToDevice, SessionGrants};
use serde_json::json;

/// The next `session_grants` the camera hears.
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

fn share_path(device: &mumu_shared::DeviceId, username: &str) -> String {
    format!("/api/devices/{device}/shares/{username}")
}

stack_tests! {
    async fn a_share_sees_no_recordings_until_the_owner_allows_it(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device, guest) = server.user_with_shared_device("alice", "bob").await;
        let shares = format!("/api/devices/{}/shares", device.device_id);
        let (_, list) = server.get(&shares, Some(&owner.access_token)).await;
        assert_eq!(list, json!([{"username": "bob", "granted_at": list[0]["granted_at"], "role": "viewer", "recordings": false, "notifications": true, "talk": false}]));
        let mut cam = server.device_online(&device).await;

        let (mut bob, _) = server.viewer_online(&guest.access_token).await;
        let (_, request) = watch(&mut bob, &mut cam, &device.device_id).await;
        assert_eq!(request.grants, Grants { recordings: false, configure: false, talk: false }, "a share sees live video only, by default");
        let (mut alice, _) = server.viewer_online(&owner.access_token).await;
        let (_, request) = watch(&mut alice, &mut cam, &device.device_id).await;
        assert_eq!(request.grants, Grants { recordings: true, configure: true, talk: true }, "the owner sees recordings and configures, always");

        let (status, json) = server.patch(&share_path(&device.device_id, "BOB"), &owner.access_token, &json!({"recordings": true})).await;
        assert_eq!(status, 200, "{json}");
        assert_eq!((json["username"].as_str(), json["recordings"].as_bool()), (Some("bob"), Some(true)));
        assert_eq!(json["granted_at"], list[0]["granted_at"], "editing a share keeps when it was granted");
        let (_, list) = server.get(&shares, Some(&owner.access_token)).await;
        assert_eq!(list[0]["recordings"], true);
        let (_, request) = watch(&mut bob, &mut cam, &device.device_id).await;
        assert_eq!(request.grants, Grants { recordings: true, configure: false, talk: false }, "a watch after the change carries it");
    }

    async fn a_share_may_allow_recordings_from_the_start(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let guest = server.register("carol").await;
        let shares = format!("/api/devices/{}/shares", device.device_id);
        let (status, json) = server.post(&shares, Some(&owner.access_token), &json!({"username": "carol", "recordings": true})).await;
        assert_eq!(status, 201, "{json}");
        assert_eq!(json["recordings"], true);
        let mut cam = server.device_online(&device).await;
        let (mut carol, _) = server.viewer_online(&guest.access_token).await;
        let (_, request) = watch(&mut carol, &mut cam, &device.device_id).await;
        assert!(request.grants.recordings);
    }

    async fn revoking_tells_the_camera_for_that_persons_sessions_only(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let shares = format!("/api/devices/{}/shares", device.device_id);
        let mut logins = Vec::new();
        for name in ["bob", "carol"] {
            let login = server.register(name).await;
            let (status, json) = server.post(&shares, Some(&owner.access_token), &json!({"username": name, "recordings": true})).await;
            assert_eq!(status, 201, "{json}");
            logins.push(login);
        }
        let mut cam = server.device_online(&device).await;
        let mut sessions: Vec<SessionId> = Vec::new();
        let mut viewers = Vec::new();
        for token in [&logins[0].access_token, &logins[1].access_token, &owner.access_token] {
            let (mut viewer, _) = server.viewer_online(token).await;
            let (ready, request) = watch(&mut viewer, &mut cam, &device.device_id).await;
            assert!(request.grants.recordings);
            sessions.push(ready.session_id);
            viewers.push(viewer);
        }

        let bob = share_path(&device.device_id, "bob");
        let (status, json) = server.patch(&bob, &owner.access_token, &json!({"recordings": false})).await;
        assert_eq!(status, 200, "{json}");
        let told = grants_heard(&mut cam).await;
        assert_eq!(told, SessionGrants { session_id: sessions[0].clone(), grants: Grants { recordings: false, configure: false, talk: false } });
        cam.silent_for(500).await; // carol's and alice's sessions keep theirs

        let (status, _) = server.patch(&bob, &owner.access_token, &json!({"recordings": true})).await;
        assert_eq!(status, 200);
        let told = grants_heard(&mut cam).await;
        assert_eq!(told, SessionGrants { session_id: sessions[0].clone(), grants: Grants { recordings: true, configure: false, talk: false } });
        // The session itself goes on: the viewer was not told it ended.
        viewers[0].silent_for(200).await;
    }

    async fn an_admin_share_configures_motion_and_a_role_change_reaches_a_running_session(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let shares = format!("/api/devices/{}/shares", device.device_id);
        let dave = server.register("dave").await;
        let (status, json) = server.post(&shares, Some(&owner.access_token), &json!({"username": "dave", "role": "admin"})).await;
        assert_eq!(status, 201, "{json}");
        let guest = server.register("bob").await;
        let (status, json) = server.post(&shares, Some(&owner.access_token), &json!({"username": "bob"})).await;
        assert_eq!(status, 201, "{json}");
        let bob = "bob";
        let mut cam = server.device_online(&device).await;

        let (mut admin, _) = server.viewer_online(&dave.access_token).await;
        let (_, request) = watch(&mut admin, &mut cam, &device.device_id).await;
        assert_eq!(request.grants, Grants { recordings: false, configure: true, talk: false }, "an admin configures motion");
        let (mut viewer, _) = server.viewer_online(&guest.access_token).await;
        let (ready, request) = watch(&mut viewer, &mut cam, &device.device_id).await;
        assert_eq!(request.grants, Grants { recordings: false, configure: false, talk: false }, "a viewer share does not");

        // Made an admin while watching: the camera hears it for that session.
        let (status, json) = server.patch(&share_path(&device.device_id, bob), &owner.access_token, &json!({"role": "admin"})).await;
        assert_eq!(status, 200, "{json}");
        let told = grants_heard(&mut cam).await;
        assert_eq!(told, SessionGrants { session_id: ready.session_id.clone(), grants: Grants { recordings: false, configure: true, talk: false } });
        // And back: the camera stops taking settings from it at once.
        let (status, json) = server.patch(&share_path(&device.device_id, bob), &owner.access_token, &json!({"role": "viewer"})).await;
        assert_eq!(status, 200, "{json}");
        let told = grants_heard(&mut cam).await;
        assert_eq!(told, SessionGrants { session_id: ready.session_id, grants: Grants { recordings: false, configure: false, talk: false } });
        viewer.silent_for(200).await;
    }

    async fn only_the_owner_edits_a_share_and_a_bad_body_names_the_field(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device, guest) = server.user_with_shared_device("alice", "bob").await;
        let stranger = server.register("mallory").await;
        let bob = share_path(&device.device_id, "bob");
        let allow = json!({"recordings": true});

        let (status, json) = server.patch(&bob, &guest.access_token, &allow).await;
        assert_eq!((status, json["error"]["code"].as_str()), (403, Some("forbidden")), "{json}");
        let (status, json) = server.patch(&bob, &stranger.access_token, &allow).await;
        assert_eq!((status, json["error"]["code"].as_str()), (404, Some("not_found")), "someone else's device looks unknown: {json}");

        let (status, json) = server.patch(&share_path(&device.device_id, "mallory"), &owner.access_token, &allow).await;
        assert_eq!((status, json["error"]["code"].as_str()), (404, Some("not_found")), "{json}");
        assert!(json["error"]["message"].as_str().unwrap().contains("not shared with mallory"), "{json}");
        let (status, json) = server.patch(&share_path(&device.device_id, "nobody"), &owner.access_token, &allow).await;
        assert_eq!(status, 404, "{json}");
        let (status, json) = server.patch(&share_path(&device.device_id, "alice"), &owner.access_token, &allow).await;
        assert_eq!(status, 400, "the owner has no share to edit: {json}");

        for body in [json!({}), json!({"recordings": "yes"}), json!({"recordings": null})] {
            let (status, json) = server.patch(&bob, &owner.access_token, &body).await;
            assert_eq!(status, 400, "{body}: {json}");
            let message = json["error"]["message"].as_str().unwrap();
            assert!(message.contains("recordings"), "{body}: the error names the field: {message}");
        }
        let (_, list) = server.get(&format!("/api/devices/{}/shares", device.device_id), Some(&owner.access_token)).await;
        assert_eq!(list[0]["recordings"], false, "nothing refused changed the share");
    }
}

/// Two servers of one deployment: bob watches through server A a camera held by server B; the
/// owner's change, made through either server, reaches the camera on B for bob's session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_reaches_the_camera_on_another_server() {
    if !common::stack_enabled(common::Stack::Scaled) {
        return;
    }
    let a = TestServer::start(common::Stack::Scaled).await;
    let b = TestServer::start_beside(&a).await;
    let (owner, device, guest) = b.user_with_shared_device("alice", "bob").await;
    let mut cam = b.device_online(&device).await;
    let (mut bob, _) = a.viewer_online(&guest.access_token).await;
    let (ready, request) = watch(&mut bob, &mut cam, &device.device_id).await;
    assert!(!request.grants.recordings);

    let path = share_path(&device.device_id, "bob");
    for (server, recordings) in [(&a, true), (&b, false)] {
        let (status, json) = server
            .patch(
                &path,
                &owner.access_token,
                &json!({ "recordings": recordings }),
            )
            .await;
        assert_eq!(status, 200, "{json}");
        let told = grants_heard(&mut cam).await;
        assert_eq!(
            told,
            SessionGrants {
                session_id: ready.session_id.clone(),
                grants: Grants {
                    recordings,
                    configure: false,
                    talk: false
                }
            }
        );
    }
}
