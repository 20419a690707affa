//! The household: the first account is its admin, later accounts come by invitation (single
//! use, expiring, revocable, stored hashed), and shares carry a role and permissions. Relay
//! credentials live minutes, and nobody who lost access is handed new ones.

mod common;

use common::{TestServer, watch};
use mumu_shared::api::{
    AuthResponse, HouseholdRole, Invitation, InvitationRequest, NewInvitation, RegisterRequest,
};
use mumu_shared::signaling::{ServerToDevice, ServerToViewer, ViewerToServer, ViewerWatchRequest};
use mumu_shared::{ErrorBody, ErrorCode};
use serde_json::json;

fn newcomer(name: &str, invitation: Option<&str>) -> RegisterRequest {
    RegisterRequest {
        username: name.into(),
        email: format!("{name}@example.com"),
        password: "correct horse battery".into(),
        invitation: invitation.map(str::to_owned),
    }
}

fn error_code(json: &serde_json::Value) -> &str {
    json["error"]["code"].as_str().unwrap_or_default()
}

/// The error a viewer socket gets next (skipping presence and the like).
async fn viewer_error(viewer: &mut common::Viewer) -> ErrorBody {
    match viewer
        .recv_matching(|m| matches!(m, ServerToViewer::Error(_) | ServerToViewer::WatchReady(_)))
        .await
        .message
    {
        ServerToViewer::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

async fn login_status(server: &TestServer, name: &str) -> u16 {
    let body = json!({"username": name, "password": "correct horse battery"});
    server.post("/api/auth/login", None, &body).await.0
}

stack_tests! {
    async fn the_first_account_is_the_admin_and_a_stranger_after_it_gets_nothing(stack) {
        let server = TestServer::start(stack).await;
        let admin = server.register("alice").await;
        assert_eq!(admin.user.role, HouseholdRole::Admin);
        let (_, me) = server.get("/api/auth/me", Some(&admin.access_token)).await;
        assert_eq!(me["role"], "admin");

        // The outside test's attack: register, enrol a fake camera, pair it, get TURN
        // credentials. The first step is refused, with a code the page can act on.
        let (status, json) = server.post("/api/auth/register", None, &newcomer("mallory", None)).await;
        assert_eq!(status, 403, "{json}");
        assert_eq!(error_code(&json), "invitation_required");
        assert!(json["error"]["message"].as_str().unwrap().contains("invitation"), "{json}");
        assert_eq!(login_status(&server, "mallory").await, 401, "no account was made");
        let fake = server.enroll().await;
        let (status, _) = server.pair("", &fake.pairing_code).await;
        assert_eq!(status, 401, "pairing needs an account");
        let mut socket = server.viewer_socket(None).await;
        socket.send(ViewerToServer::Hello(mumu_shared::signaling::ViewerHello {
            protocol: mumu_shared::PROTOCOL_VERSION,
            token: None,
        })).await;
        match socket.recv().await.message {
            ServerToViewer::Error(e) => assert_eq!(e.code, ErrorCode::Unauthorized),
            other => panic!("a stranger's socket was answered {other:?}"),
        }

        // Nor does the refusal say who is registered: a taken name and email get the same.
        let (status, json) = server.post("/api/auth/register", None, &newcomer("alice", None)).await;
        assert_eq!((status, error_code(&json)), (403, "invitation_required"), "{json}");
    }

    async fn an_invitation_makes_one_account_once(stack) {
        let server = TestServer::start(stack).await;
        let admin = server.register("alice").await;
        let invitation = server.invite(&admin.access_token).await;
        assert!(invitation.link.ends_with(&format!("/register?invite={}", invitation.code)), "{}", invitation.link);
        assert!(invitation.link.starts_with("http://127.0.0.1:"), "{}", invitation.link);
        let week = invitation.expires_at - server.now();
        assert!((604_000_000..=604_800_000).contains(&week), "a week by default: {week}");

        let (status, json) = server.post("/api/auth/register", None, &newcomer("bob", Some(&invitation.code))).await;
        assert_eq!(status, 201, "{json}");
        let bob: AuthResponse = serde_json::from_value(json).unwrap();
        assert_eq!(bob.user.role, HouseholdRole::Member);

        let (status, json) = server.post("/api/auth/register", None, &newcomer("carol", Some(&invitation.code))).await;
        assert_eq!((status, error_code(&json)), (403, "invitation_invalid"), "{json}");
        assert_eq!(login_status(&server, "carol").await, 401);

        let (status, json) = server.get("/api/invitations", Some(&admin.access_token)).await;
        assert_eq!(status, 200, "{json}");
        let list: Vec<Invitation> = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].used_by.as_deref(), Some("bob"));
        assert_eq!(list[0].created_by, "alice");
        assert!(list[0].used_at.is_some());
        assert!(!json.to_string().contains(&invitation.code), "the list never shows codes");
    }

    async fn expired_revoked_and_unknown_invitations_get_one_answer(stack) {
        let server = TestServer::start(stack).await;
        let admin = server.register("alice").await;
        let token = &admin.access_token;

        let short: NewInvitation = serde_json::from_value(
            server.post("/api/invitations", Some(token), &InvitationRequest { expires_in_secs: Some(3600) }).await.1,
        ).unwrap();
        let revoked = server.invite(token).await;
        let (status, _) = server.delete(&format!("/api/invitations/{}", revoked.id), token).await;
        assert_eq!(status, 204);
        let (status, json) = server.delete(&format!("/api/invitations/{}", revoked.id), token).await;
        assert_eq!((status, error_code(&json)), (404, "not_found"));
        server.clock.advance_ms(3_601_000);

        let mut answers = Vec::new();
        for (name, code) in [
            ("expired", short.code.as_str()),
            ("revoked", revoked.code.as_str()),
            ("unknown", "00000000000000000000000000000000"),
            ("garbage", &"z".repeat(200)),
        ] {
            let (status, json) = server.post("/api/auth/register", None, &newcomer(name, Some(code))).await;
            assert_eq!((status, error_code(&json)), (403, "invitation_invalid"), "{name}: {json}");
            answers.push(json);
            assert_eq!(login_status(&server, name).await, 401, "{name}");
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "one answer for all: {answers:?}");
    }

    async fn invitations_are_the_admins_alone_and_bounded(stack) {
        let server = TestServer::start(stack).await;
        let admin = server.register("alice").await;
        let member = server.register("bob").await;
        let (status, json) = server.post("/api/invitations", Some(&member.access_token), &InvitationRequest::default()).await;
        assert_eq!((status, error_code(&json)), (403, "forbidden"), "{json}");
        let (status, _) = server.get("/api/invitations", Some(&member.access_token)).await;
        assert_eq!(status, 403);
        let invitation = server.invite(&admin.access_token).await;
        let (status, _) = server.delete(&format!("/api/invitations/{}", invitation.id), &member.access_token).await;
        assert_eq!(status, 403);
        let (status, _) = server.post("/api/invitations", None, &InvitationRequest::default()).await;
        assert_eq!(status, 401);
        for secs in [10, 31 * 24 * 3600] {
            let (status, json) = server.post("/api/invitations", Some(&admin.access_token), &InvitationRequest { expires_in_secs: Some(secs) }).await;
            assert_eq!((status, error_code(&json)), (400, "validation"), "{secs}: {json}");
        }
        // Stored as a hash, never the code itself.
        let codes: Vec<(String,)> = sqlx::query_as("SELECT code_hash FROM invitations")
            .fetch_all(&server.state.db.pool).await.unwrap();
        assert!(!codes.is_empty());
        assert!(codes.iter().all(|(hash,)| hash.len() == 64 && *hash != invitation.code));
    }

    async fn open_registration_lets_anyone_make_an_account(stack) {
        let server = TestServer::start_with(stack, |c| c.auth.open_registration = true).await;
        let first = server.register("alice").await;
        assert_eq!(first.user.role, HouseholdRole::Admin);
        let (status, json) = server.post("/api/auth/register", None, &newcomer("bob", None)).await;
        assert_eq!(status, 201, "{json}");
        assert_eq!(json["user"]["role"], "member");
    }

    async fn of_two_registrations_with_one_invitation_exactly_one_wins(stack) {
        let server = TestServer::start(stack).await;
        let admin = server.register("alice").await;
        for round in 0..3 {
            let invitation = server.invite(&admin.access_token).await;
            let (a, b) = (format!("first{round}"), format!("second{round}"));
            let (first, second) = (newcomer(&a, Some(&invitation.code)), newcomer(&b, Some(&invitation.code)));
            let (one, two) = tokio::join!(
                server.post("/api/auth/register", None, &first),
                server.post("/api/auth/register", None, &second),
            );
            let mut statuses = [one.0, two.0];
            statuses.sort();
            assert_eq!(statuses, [201, 403], "round {round}: {one:?} {two:?}");
            let loser = if one.0 == 403 { &one.1 } else { &two.1 };
            assert_eq!(error_code(loser), "invitation_invalid");
            let made = [login_status(&server, &a).await, login_status(&server, &b).await];
            assert_eq!(made.iter().filter(|s| **s == 200).count(), 1, "round {round}: {made:?}");
        }
    }

    async fn a_taken_name_gives_the_invitation_back(stack) {
        let server = TestServer::start(stack).await;
        let admin = server.register("alice").await;
        let invitation = server.invite(&admin.access_token).await;
        let (status, _) = server.post("/api/auth/register", None, &newcomer("alice", Some(&invitation.code))).await;
        assert_eq!(status, 409, "an invited person may learn the name is taken");
        let (status, json) = server.post("/api/auth/register", None, &newcomer("bob", Some(&invitation.code))).await;
        assert_eq!(status, 201, "the invitation still works: {json}");
    }

    async fn shares_go_by_username_or_email_with_a_role_and_permissions(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let bob = server.register("bob").await;
        let carol = server.register("carol").await;
        server.register("dave").await;
        let shares = format!("/api/devices/{}/shares", device.device_id);
        let (status, json) = server.post(&shares, Some(&owner.access_token), &json!({"username": "Bob@Example.com", "role": "admin"})).await;
        assert_eq!(status, 201, "{json}");
        assert_eq!((json["username"].as_str(), json["role"].as_str()), (Some("bob"), Some("admin")));
        assert_eq!((json["recordings"].as_bool(), json["notifications"].as_bool()), (Some(false), Some(true)));

        // A camera's admin shares it too; a viewer cannot.
        let (status, json) = server.post(&shares, Some(&bob.access_token), &json!({"username": "carol", "notifications": false})).await;
        assert_eq!(status, 201, "{json}");
        let (status, json) = server.post(&shares, Some(&carol.access_token), &json!({"username": "dave"})).await;
        assert_eq!((status, error_code(&json)), (403, "forbidden"), "{json}");
        let (status, _) = server.get(&shares, Some(&carol.access_token)).await;
        assert_eq!(status, 403, "a viewer does not see who else watches");

        let (status, json) = server.get(&shares, Some(&bob.access_token)).await;
        assert_eq!(status, 200, "{json}");
        assert_eq!(json, json!([
            {"username": "bob", "granted_at": json[0]["granted_at"], "role": "admin", "recordings": false, "notifications": true, "talk": false},
            {"username": "carol", "granted_at": json[1]["granted_at"], "role": "viewer", "recordings": false, "notifications": false, "talk": false},
        ]));
        let (_, list) = server.get("/api/devices", Some(&bob.access_token)).await;
        assert_eq!(list[0]["role"], "admin");

        // The admin changes permissions, but never the owner's place.
        let (status, json) = server.patch(&format!("{shares}/carol@example.com"), &bob.access_token, &json!({"notifications": true, "recordings": true})).await;
        assert_eq!(status, 200, "{json}");
        assert_eq!((json["recordings"].as_bool(), json["notifications"].as_bool(), json["role"].as_str()), (Some(true), Some(true), Some("viewer")));
        let (status, json) = server.patch(&format!("{shares}/carol"), &bob.access_token, &json!({})).await;
        assert_eq!((status, error_code(&json)), (400, "validation"), "{json}");
        let (status, _) = server.patch(&format!("{shares}/alice"), &bob.access_token, &json!({"role": "viewer"})).await;
        assert_eq!(status, 400);
        let (status, _) = server.delete(&format!("{shares}/alice"), &bob.access_token).await;
        assert_eq!(status, 404, "the owner's place is no share");
        let (status, _) = server.post(&shares, Some(&bob.access_token), &json!({"username": "alice"})).await;
        assert_eq!(status, 400);
        let (status, _) = server.patch(&format!("/api/devices/{}", device.device_id), &bob.access_token, &json!({"name": "Mine"})).await;
        assert_eq!(status, 403, "a camera's admin does not rename it");
        let (status, _) = server.delete(&format!("{shares}/carol"), &bob.access_token).await;
        assert_eq!(status, 204);
        let (status, json) = server.post(&shares, Some(&owner.access_token), &json!({"username": "nobody@example.com"})).await;
        assert_eq!((status, error_code(&json)), (404, "not_found"), "{json}");
        let (_, owner_list) = server.get("/api/devices", Some(&owner.access_token)).await;
        assert_eq!(owner_list[0]["role"], "owner");
    }

    async fn relay_credentials_live_minutes_and_stop_with_the_access(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device, guest) = server.user_with_shared_device("alice", "bob").await;
        let mut cam = server.device_online(&device).await;
        let (mut viewer, _) = server.viewer_online(&guest.access_token).await;
        let now_s = server.now() / 1000;
        let (ready, request) = watch(&mut viewer, &mut cam, &device.device_id).await;
        assert_eq!(ready.ice_credentials_ttl_ms, Some(600_000), "ten minutes by default");
        for servers in [&ready.ice_servers, &request.ice_servers] {
            let username = servers.iter().find_map(|s| s.username.clone()).expect("a TURN credential");
            let expiry: i64 = username.split(':').next().unwrap().parse().unwrap();
            assert!((now_s + 599..=now_s + 601).contains(&expiry), "{username}");
        }
        // A renewal while access lasts is answered with fresh credentials.
        viewer.send(ViewerToServer::WatchRequest(ViewerWatchRequest {
            device_id: device.device_id.clone(),
            renews: Some(ready.session_id.clone()),
        })).await;
        let renewed = match viewer.recv_matching(|m| matches!(m, ServerToViewer::WatchReady(_) | ServerToViewer::Error(_))).await.message {
            ServerToViewer::WatchReady(r) => r,
            other => panic!("renewal refused: {other:?}"),
        };
        cam.recv_matching(|m| matches!(m, ServerToDevice::WatchRequest(_))).await;
        // The share is taken back: both sessions end, and a renewal gets no credentials.
        let shares = format!("/api/devices/{}/shares/bob", device.device_id);
        assert_eq!(server.delete(&shares, &owner.access_token).await.0, 204);
        let mut ended = Vec::new();
        while ended.len() < 2 {
            if let ServerToViewer::WatchEnded(e) = viewer.recv_matching(|m| matches!(m, ServerToViewer::WatchEnded(_))).await.message {
                ended.push(e.session_id);
            }
        }
        ended.sort_by(|a, b| a.0.cmp(&b.0));
        let mut expected = vec![ready.session_id.clone(), renewed.session_id.clone()];
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(ended, expected);
        viewer.send(ViewerToServer::WatchRequest(ViewerWatchRequest {
            device_id: device.device_id.clone(),
            renews: Some(renewed.session_id.clone()),
        })).await;
        assert_eq!(viewer_error(&mut viewer).await.code, ErrorCode::NotFound);

        // The owner's ended session cannot be renewed either.
        let (mut own, _) = server.viewer_online(&owner.access_token).await;
        let (mine, _) = watch(&mut own, &mut cam, &device.device_id).await;
        own.send(ViewerToServer::EndWatch(mumu_shared::signaling::ViewerEndWatch { session_id: mine.session_id.clone() })).await;
        own.send(ViewerToServer::WatchRequest(ViewerWatchRequest {
            device_id: device.device_id.clone(),
            renews: Some(mine.session_id.clone()),
        })).await;
        let refused = viewer_error(&mut own).await;
        assert_ne!(refused.code, ErrorCode::Other, "{refused:?}");

        // A logout closes the socket that would ask for more.
        let (status, _) = server.post("/api/auth/logout", Some(&owner.access_token), &json!({})).await;
        assert_eq!(status, 204);
        own.closed().await;
    }
}

#[test]
fn the_credential_lifetime_is_bounded_by_configuration() {
    use clap::Parser;
    let parse = |ttl: &str| {
        mumu_server::config::Cli::try_parse_from(["mumu-server", "--turn-ttl-secs", ttl])
            .map(|cli| cli.config.turn.turn_ttl_secs)
    };
    assert_eq!(parse("120").unwrap(), 120);
    assert!(
        parse("43200").is_err(),
        "twelve hours is no longer accepted"
    );
    assert!(parse("9").is_err());
}
