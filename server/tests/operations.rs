//! What operators and API clients rely on: health, readiness, metrics, the OpenAPI document and
//! the self-hosted docs page, and the `migrate` subcommand.

mod common;

use common::TestServer;

stack_tests! {
    async fn health_and_readiness_report_each_dependency(stack) {
        let server = TestServer::start(stack).await;
        let (status, body) = server.get("/healthz", None).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
        let (status, body) = server.get("/readyz", None).await;
        assert_eq!(status, 200, "{body}");
        let checks = body["checks"].as_array().unwrap();
        assert_eq!(checks.len(), 2);
        assert!(checks.iter().all(|c| c["status"] == "ok"), "{body}");
        let presence = if stack == common::Stack::Scaled { "presence (redis)" } else { "presence (in-process)" };
        assert!(checks.iter().any(|c| c["name"] == presence), "{body}");
    }

    async fn metrics_count_sockets_and_sessions(stack) {
        let server = TestServer::start(stack).await;
        let (owner, device) = server.user_with_device("alice").await;
        let _cam = server.device_online(&device).await;
        let (_viewer, _) = server.viewer_online(&owner.access_token).await;
        let resp = server.http.get(server.url("/metrics")).send().await.unwrap();
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = resp.text().await.unwrap();
        assert!(text.contains("mumu_sockets{kind=\"device\"} 1"), "{text}");
        assert!(text.contains("mumu_sockets{kind=\"viewer\"} 1"), "{text}");
        assert!(text.contains("# TYPE mumu_sessions_active gauge"));
    }
}

/// Every status the API answers is one its operation declares: each operation in the OpenAPI
/// document is called as its user would and as a careless or hostile client would (no token, a
/// bad one, someone else's device, an unknown one, a body that is not JSON, the wrong shape,
/// too large), and whatever comes back must be in that operation's list.
#[tokio::test]
async fn every_status_an_operation_answers_is_in_its_openapi_entry() {
    let server = TestServer::start(common::Stack::Embedded).await;
    let (_, doc) = server.get("/api/openapi.json", None).await;
    let (owner, device) = server.user_with_device("owner").await;
    let stranger = server.register("stranger").await;
    let other_device = server.enroll().await;
    let mut undeclared = Vec::new();
    let mut calls = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let declared: Vec<u16> = operation["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|s| s.parse().unwrap())
                .collect();
            for id in [
                device.device_id.as_str(),
                other_device.device_id.as_str(),
                "no-such-device",
            ] {
                let path = template
                    .replace("{id}", id)
                    .replace("{username}", "stranger");
                let tokens = [
                    None,
                    Some(owner.access_token.as_str()),
                    Some(stranger.access_token.as_str()),
                    Some("garbage.token.value"),
                    Some(device.device_secret.as_str()),
                ];
                let big = format!("{{\"name\": \"{}\"}}", "x".repeat(20_000));
                let bodies: [Option<&str>; 6] = [
                    None,
                    Some("{"),
                    Some("[]"),
                    Some(
                        "{\"name\": \"Porch\", \"username\": \"stranger\", \"password\": \"x\", \"pairing_code\": \"ABCD-EFGH\", \"email\": \"s@example.com\", \"agent_version\": \"1\", \"current_password\": \"x\", \"new_password\": \"y\"}",
                    ),
                    Some(big.as_str()),
                    Some("{\"name\": 5}"),
                ];
                for token in tokens {
                    for body in bodies {
                        let method =
                            reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                        let mut request = server.http.request(method.clone(), server.url(&path));
                        if let Some(token) = token {
                            request = request.bearer_auth(token);
                        }
                        if let Some(body) = body {
                            request = request
                                .header("content-type", "application/json")
                                .body(body.to_owned());
                        }
                        let status = request.send().await.unwrap().status().as_u16();
                        calls += 1;
                        if !declared.contains(&status) {
                            undeclared.push(format!(
                                "{method} {template} answered {status} (declares {declared:?})"
                            ));
                        }
                    }
                }
            }
        }
    }
    undeclared.sort();
    undeclared.dedup();
    assert!(calls > 500, "{calls}");
    assert!(
        undeclared.is_empty(),
        "statuses the OpenAPI document leaves out:\n{}",
        undeclared.join("\n")
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_rest_call() {
    let server = TestServer::start(common::Stack::Embedded).await;
    let (status, doc) = server.get("/api/openapi.json", None).await;
    assert_eq!(status, 200);
    for path in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/logout",
        "/api/auth/me",
        "/api/devices/enroll",
        "/api/pairing/generate",
        "/api/devices/pair",
        "/api/devices",
        "/api/devices/{id}/status",
        "/api/devices/{id}",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"].get("ErrorResponse").is_some());
}

#[tokio::test]
async fn the_api_docs_page_loads_nothing_from_elsewhere() {
    let server = TestServer::start(common::Stack::Embedded).await;
    let resp = server
        .http
        .get(server.url("/api/docs/"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    for tag in html
        .split('<')
        .filter(|t| t.starts_with("script") || t.starts_with("link"))
    {
        assert!(
            !tag.contains("http://") && !tag.contains("https://"),
            "external resource: <{tag}"
        );
    }
    let js = server
        .http
        .get(server.url("/api/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        js.status(),
        200,
        "the script is served by the server itself"
    );
}

#[test]
fn the_migrate_subcommand_prepares_a_fresh_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mumu-server"))
        .arg("migrate")
        .env("MUMU_DATA_DIR", dir.path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    assert!(dir.path().join("mumu.db").exists());
}

#[tokio::test]
async fn with_redis_the_shared_secrets_must_be_set_not_generated() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = mumu_server::config::Config::defaults();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.storage.data_dir = dir.path().to_owned();
    config.storage.database_url = None;
    config.storage.redis_url = Some("redis://127.0.0.1:6379".into());
    config.auth.jwt_secret = Some(mumu_server::secrets::Secret::new(
        "a jwt secret of some length",
    ));
    config.turn.turn_secret = None;
    let clock = mumu_server::clock::ManualClock::new();
    let error = match mumu_server::Server::bind(config, clock).await {
        Ok(_) => panic!("a server with Redis and a generated TURN secret must not start"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains("TURN_SECRET") && !error.contains("JWT_SECRET and"),
        "{error}"
    );
    assert!(error.contains("REDIS_URL is set"), "{error}");
    assert!(
        !dir.path().join("turn_secret").exists(),
        "nothing was generated"
    );
}

#[test]
fn a_bad_database_url_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mumu-server"))
        .arg("migrate")
        .env("MUMU_DATA_DIR", dir.path())
        .env("DATABASE_URL", "mysql://user:hunter2@db/mumu")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sqlite:// or postgres://"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "the password is not printed: {err}"
    );
}

/// `mumu-server check-ready`, the containers' health check: ready when `/readyz` says so, a
/// clear reason when nothing listens.
#[tokio::test]
async fn check_ready_asks_readyz_on_the_listen_port() {
    let server = TestServer::start(common::Stack::Embedded).await;
    let addr: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let wildcard = std::net::SocketAddr::new([0, 0, 0, 0].into(), addr.port());
    let check =
        move || mumu_server::readiness::check_ready(wildcard, std::time::Duration::from_secs(3));
    let body = tokio::task::spawn_blocking(check)
        .await
        .unwrap()
        .expect("ready");
    assert!(body.contains("\"status\":\"ok\""), "{body}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let refused = mumu_server::readiness::check_ready(closed, std::time::Duration::from_secs(1))
        .expect_err("nothing listens there");
    assert!(
        refused
            .to_string()
            .starts_with(&format!("no server answers at {closed}")),
        "{refused}"
    );
}
