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
