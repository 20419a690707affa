//! Accounts over HTTP: register, login, logout, me, and every way they refuse.

mod common;

use common::TestServer;
use mumu_shared::api::{LoginRequest, RegisterRequest};
use serde_json::json;

fn login(username: &str, password: &str) -> LoginRequest {
    LoginRequest {
        username: username.into(),
        password: password.into(),
    }
}

stack_tests! {
    async fn registering_returns_a_token_and_sets_an_http_only_cookie(stack) {
        let server = TestServer::start(stack).await;
        let body = RegisterRequest { username: "Alice".into(), email: "alice@example.com".into(), password: "correct horse battery".into(), invitation: None };
        let resp = server.http.post(server.url("/api/auth/register")).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 201);
        let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookie.starts_with("mumu_session="), "{cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        let auth: mumu_shared::api::AuthResponse = resp.json().await.unwrap();
        assert_eq!(auth.token_type, "bearer");
        assert_eq!(auth.user.username, "Alice");
        let (status, me) = server.get("/api/auth/me", Some(&auth.access_token)).await;
        assert_eq!(status, 200);
        assert_eq!(me["username"], "Alice");
    }

    async fn the_session_cookie_alone_authenticates_a_browser(stack) {
        let server = TestServer::start(stack).await;
        let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
        let body = RegisterRequest { username: "carol".into(), email: "carol@example.com".into(), password: "correct horse battery".into(), invitation: None };
        assert_eq!(browser.post(server.url("/api/auth/register")).json(&body).send().await.unwrap().status(), 201);
        let me = browser.get(server.url("/api/auth/me")).send().await.unwrap();
        assert_eq!(me.status(), 200);
        let logout = browser.post(server.url("/api/auth/logout")).send().await.unwrap();
        assert_eq!(logout.status(), 204);
        assert!(logout.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
        assert_eq!(browser.get(server.url("/api/auth/me")).send().await.unwrap().status(), 401);
    }

    async fn a_user_logs_in_by_username_in_any_case_or_by_email(stack) {
        let server = TestServer::start(stack).await;
        server.register("bob").await;
        for name in ["bob", "BOB", "bob@example.com"] {
            let (status, body) = server.post("/api/auth/login", None, &login(name, "correct horse battery")).await;
            assert_eq!(status, 200, "{name}: {body}");
            assert_eq!(body["user"]["username"], "bob");
        }
    }

    async fn bad_usernames_emails_and_passwords_are_refused_with_the_reason(stack) {
        let server = TestServer::start(stack).await;
        let cases = [
            ("al", "al@example.com", "correct horse battery", "3 to 32"),
            ("al ice", "al@example.com", "correct horse battery", "may contain only"),
            ("alice", "not-an-email", "correct horse battery", "'@'"),
            ("alice", "alice@example.com", "short", "at least 8"),
        ];
        for (username, email, password, expected) in cases {
            let body = RegisterRequest { username: username.into(), email: email.into(), password: password.into(), invitation: None };
            let (status, json) = server.post("/api/auth/register", None, &body).await;
            assert_eq!(status, 400, "{json}");
            assert_eq!(json["error"]["code"], "validation");
            assert!(json["error"]["message"].as_str().unwrap().contains(expected), "{json}");
        }
    }

    async fn a_taken_username_or_email_is_a_conflict_that_says_which(stack) {
        let server = TestServer::start(stack).await;
        server.register("dave").await;
        // Asked with an invitation: without one, nothing is said of who is registered.
        let same_name = RegisterRequest { email: "other@example.com".into(), ..server.register_body("DAVE").await };
        let (status, json) = server.post("/api/auth/register", None, &same_name).await;
        assert_eq!(status, 409);
        assert!(json["error"]["message"].as_str().unwrap().contains("username"), "{json}");
        let same_email = RegisterRequest { email: "Dave@example.com".into(), ..server.register_body("dave2").await };
        let (status, json) = server.post("/api/auth/register", None, &same_email).await;
        assert_eq!(status, 409);
        assert!(json["error"]["message"].as_str().unwrap().contains("email"), "{json}");
    }

    async fn wrong_passwords_are_refused_and_repeated_failures_are_rate_limited(stack) {
        let server = TestServer::start_with(stack, |c| c.auth.login_failures_per_min = 3).await;
        server.register("erin").await;
        for _ in 0..3 {
            let (status, json) = server.post("/api/auth/login", None, &login("erin", "wrong password")).await;
            assert_eq!(status, 401);
            assert_eq!(json["error"]["message"], "wrong username or password");
        }
        let resp = server.http.post(server.url("/api/auth/login")).json(&login("erin", "correct horse battery")).send().await.unwrap();
        assert_eq!(resp.status(), 429, "even the right password waits once the limit is hit");
        assert!(resp.headers().contains_key("retry-after"));
        server.clock.advance_ms(60_000);
        let (status, _) = server.post("/api/auth/login", None, &login("erin", "correct horse battery")).await;
        assert_eq!(status, 200);
    }

    async fn an_unknown_user_gets_the_same_answer_as_a_wrong_password(stack) {
        let server = TestServer::start(stack).await;
        let (status, json) = server.post("/api/auth/login", None, &login("nobody", "whatever123")).await;
        assert_eq!(status, 401);
        assert_eq!(json["error"]["message"], "wrong username or password");
    }

    async fn logout_ends_the_token_at_once(stack) {
        let server = TestServer::start(stack).await;
        let auth = server.register("frank").await;
        let (status, _) = server.post("/api/auth/logout", Some(&auth.access_token), &json!({})).await;
        assert_eq!(status, 204);
        let (status, json) = server.get("/api/auth/me", Some(&auth.access_token)).await;
        assert_eq!(status, 401);
        assert!(json["error"]["message"].as_str().unwrap().contains("ended"), "{json}");
    }

    async fn a_token_stops_working_when_it_expires(stack) {
        let server = TestServer::start_with(stack, |c| c.auth.session_ttl_secs = 3600).await;
        let auth = server.register("gina").await;
        server.clock.advance_ms(3_601_000);
        let (status, json) = server.get("/api/auth/me", Some(&auth.access_token)).await;
        assert_eq!(status, 401);
        assert!(json["error"]["message"].as_str().unwrap().contains("expired"), "{json}");
    }

    async fn missing_forged_or_garbage_tokens_are_unauthorized(stack) {
        let server = TestServer::start(stack).await;
        let (status, json) = server.get("/api/auth/me", None).await;
        assert_eq!(status, 401);
        assert_eq!(json["error"]["code"], "unauthorized");
        let forged = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4Iiwic2lkIjoieSIsImlhdCI6MCwiZXhwIjo5OTk5OTk5OTk5fQ.AAAA";
        for token in [forged, "garbage"] {
            let (status, _) = server.get("/api/auth/me", Some(token)).await;
            assert_eq!(status, 401);
        }
    }

    async fn malformed_and_oversized_bodies_get_clear_errors(stack) {
        let server = TestServer::start(stack).await;
        let resp = server.http.post(server.url("/api/auth/login")).header("content-type", "application/json").body("{not json").send().await.unwrap();
        assert_eq!(resp.status(), 400);
        let json: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(json["error"]["code"], "bad_message");
        let (status, json) = server.post("/api/auth/login", None, &json!({"username": "x"})).await;
        assert_eq!(status, 400, "{json}");
        assert!(json["error"]["message"].as_str().unwrap().contains("password"), "{json}");
        let huge = json!({"username": "x".repeat(20_000), "password": "y"});
        let (status, json) = server.post("/api/auth/login", None, &huge).await;
        assert_eq!(status, 413, "{json}");
        assert_eq!(json["error"]["code"], "message_too_large");
        let (status, json) = server.get("/api/nothing-here", None).await;
        assert_eq!(status, 404);
        assert_eq!(json["error"]["code"], "not_found");
    }
}
