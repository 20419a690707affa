//! What operators and API clients rely on: health, readiness, metrics, the OpenAPI document and
//! the self-hosted docs page, the `migrate` subcommand, and the web app's files as served.

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
                        "{\"name\": \"Porch\", \"username\": \"stranger\", \"password\": \"x\", \"pairing_code\": \"ABCD-EFGH\", \"email\": \"s@example.com\", \"agent_version\": \"1\", \"current_password\": \"x\", \"new_password\": \"y\", \"invitation\": \"0123\", \"recordings\": true}",
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
        "/api/devices/{id}/shares",
        "/api/devices/{id}/shares/{username}",
        "/api/invitations",
        "/api/invitations/{id}",
        "/api/events",
        "/api/devices/{id}/events",
        "/api/devices/{id}/notifications",
        "/api/arming",
        "/api/quiet-hours",
        "/api/webhook",
        "/api/push/key",
        "/api/push/subscriptions",
        "/api/push/subscriptions/{id}",
        "/api/devices/{id}/notify",
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

/// The app's files as a browser receives them (docs/browsers.md, "The app's size").
mod served_app {
    use super::common::{Stack, TestServer};
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    /// Bytes on the wire for what the first load fetches, the WASM, its JS (and the module it
    /// imports, the split-off pages' loader) and the CSS together, whichever of Brotli and gzip
    /// the browser takes.
    const BUDGET: usize = 300_000;

    /// A server whose site settings point at `site`.
    async fn serving(site: &Path) -> (TestServer, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let settings = dir.path().join("Leptos.toml");
        let text = format!(
            "[package.metadata.leptos]\noutput-name = \"mumu\"\nsite-root = \"{}\"\nsite-pkg-dir = \"pkg\"\n",
            site.display()
        );
        std::fs::write(&settings, text).unwrap();
        let server = TestServer::start_with(Stack::Embedded, |c| c.site_config = settings).await;
        (server, dir)
    }

    /// What the first load of a page fetches: the app's three files that the page links to, by
    /// the names it uses, and the modules its JS imports (a split build's loader), which a
    /// browser fetches before it runs the JS.
    async fn first_load(server: &TestServer) -> Vec<String> {
        let mut files = linked_files(server).await;
        let js = server
            .http
            .get(server.url(&files[0]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let dir = &files[0][..files[0].rfind('/').unwrap()];
        let imports: Vec<String> = js
            .split("from ")
            .skip(1)
            .filter_map(|rest| {
                let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
                let name = rest[1..].split(quote).next()?;
                Some(format!("{dir}/{}", name.strip_prefix("./")?))
            })
            .collect();
        for import in imports {
            // The glue imports the loader once per function it takes from it.
            if !files.contains(&import) {
                files.push(import);
            }
        }
        files
    }

    /// The split-off pages' chunks of the release at `site` (`lazy:` lines of its hash.txt),
    /// fetched by the app only when such a page opens.
    fn chunks(site: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(site.join("hash.txt")).unwrap();
        text.lines()
            .filter_map(|line| line.strip_prefix("lazy:"))
            .map(|name| format!("/pkg/{}", name.trim()))
            .filter(|path| path.ends_with(".wasm"))
            .collect()
    }

    /// The app's three files that `page` links to, by the names it uses.
    async fn linked_files(server: &TestServer) -> Vec<String> {
        let page = server.http.get(server.url("/login")).send().await.unwrap();
        assert_eq!(
            page.headers()["cache-control"],
            "no-store",
            "pages are never kept"
        );
        let html = page.text().await.unwrap();
        let files: Vec<String> = ["js", "wasm", "css"]
            .iter()
            .map(|ext| {
                let end = html
                    .find(&format!(".{ext}\""))
                    .unwrap_or_else(|| panic!("the page links no .{ext}: {html}"));
                let start = html[..end].rfind("/pkg/").unwrap();
                format!("{}.{ext}", &html[start..end])
            })
            .collect();
        files
    }

    /// `GET path` offering `encodings`: the status, `Content-Encoding`, `Cache-Control`, `Vary`
    /// and the bytes as they came.
    async fn fetch(server: &TestServer, path: &str, encodings: &str) -> Fetched {
        let mut request = server.http.get(server.url(path));
        if !encodings.is_empty() {
            request = request.header("accept-encoding", encodings);
        }
        let response = request.send().await.unwrap();
        let header = |name: &str| {
            let value = response.headers().get(name);
            value
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        Fetched {
            status: response.status().as_u16(),
            encoding: header("content-encoding"),
            cache: header("cache-control"),
            vary: header("vary"),
            content_type: header("content-type"),
            body: response.bytes().await.unwrap().to_vec(),
        }
    }

    #[derive(Debug)]
    struct Fetched {
        status: u16,
        encoding: String,
        cache: String,
        vary: String,
        content_type: String,
        body: Vec<u8>,
    }

    /// `bytes` through `program -dc` (brotli or gzip, the tools the build compresses with).
    fn decode(program: &str, bytes: &[u8]) -> Vec<u8> {
        let mut child = Command::new(program)
            .arg("-dc")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e} (scripts/build-site installs it)"));
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{program} -dc");
        out.stdout
    }

    /// The release build that ships (`scripts/build-release server`, which scripts/test runs)
    /// from a running server: each file in Brotli to a browser that takes it, in gzip to one that
    /// takes only gzip, kept for a year, and decoding to the built file; under the budget both
    /// ways.
    #[tokio::test]
    async fn the_shipped_app_arrives_compressed_cached_and_under_its_budget() {
        let Ok(site) = std::env::var("MUMU_SHIPPED_SITE") else {
            eprintln!("skipped: MUMU_SHIPPED_SITE names no release build of the site");
            return;
        };
        let site = PathBuf::from(site);
        let (server, _dir) = serving(&site).await;
        let first = first_load(&server).await;
        let chunks = chunks(&site);
        assert!(
            !chunks.is_empty(),
            "a release splits the rarely used pages off"
        );
        assert!(
            first.iter().all(|f| !chunks.contains(f)),
            "no chunk is fetched by the first load: {first:?}"
        );
        let (mut brotli, mut gzip) = (0, 0);
        for path in &first {
            let (br, gz) = arrives_compressed_and_cached(&server, &site, path).await;
            brotli += br;
            gzip += gz;
        }
        for path in &chunks {
            let (br, gz) = arrives_compressed_and_cached(&server, &site, path).await;
            eprintln!(
                "{path}, fetched when its page opens: {br} bytes with Brotli, {gz} with gzip"
            );
        }
        eprintln!(
            "the first load ({}) on the wire: {brotli} bytes with Brotli, {gzip} with gzip (budget {BUDGET})",
            first.join(", ")
        );
        assert!(
            brotli < BUDGET,
            "{brotli} bytes with Brotli, over the budget of {BUDGET}"
        );
        assert!(
            gzip < BUDGET,
            "{gzip} bytes with gzip, over the budget of {BUDGET}"
        );
    }

    /// `path` of the release at `site` in Brotli to a browser that takes it, in gzip to one that
    /// takes only gzip, kept for a year and decoding to the built file: its bytes on the wire
    /// both ways.
    async fn arrives_compressed_and_cached(
        server: &TestServer,
        site: &Path,
        path: &str,
    ) -> (usize, usize) {
        let built = std::fs::read(site.join(path.trim_start_matches('/'))).unwrap();
        let (mut brotli, mut gzip) = (0, 0);
        for (offered, sent, program, total) in [
            ("br, gzip", "br", "brotli", &mut brotli),
            ("gzip", "gzip", "gzip", &mut gzip),
        ] {
            let got = fetch(server, path, offered).await;
            assert_eq!(
                (got.status, &*got.encoding),
                (200, sent),
                "{path} for {offered}"
            );
            assert_eq!(got.cache, "public, max-age=31536000, immutable", "{path}");
            assert_eq!(got.vary, "accept-encoding", "{path}");
            assert!(
                decode(program, &got.body) == built,
                "{path} in {sent} decodes to the built file"
            );
            *total += got.body.len();
        }
        let plain = fetch(server, path, "").await;
        assert_eq!(
            (&*plain.encoding, plain.body.len()),
            ("", built.len()),
            "{path} as it is"
        );
        (brotli, gzip)
    }

    /// A site's files laid out as the WASM build leaves them, named and compressed by the same
    /// step of scripts/build-site that a release build runs.
    fn built_site(dir: &Path, wasm: &[u8]) {
        std::fs::create_dir_all(dir.join("pkg")).unwrap();
        std::fs::write(dir.join("pkg/mumu.wasm"), wasm).unwrap();
        std::fs::write(
            dir.join("pkg/mumu.js"),
            "export default function init() {}\n",
        )
        .unwrap();
        std::fs::write(dir.join("pkg/mumu.css"), "body { margin: 0 }\n").unwrap();
        std::fs::write(dir.join("favicon.svg"), "<svg/>\n").unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-site");
        let status = Command::new(script)
            .arg("--name-and-compress")
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "scripts/build-site --name-and-compress");
    }

    /// A release with a change has new names: the page links them, and the old ones are no longer
    /// served as the app (a browser holding an old page gets no stale file in a new one's place).
    #[tokio::test]
    async fn a_new_release_is_new_names_and_the_old_ones_are_gone() {
        let first = tempfile::tempdir().unwrap();
        built_site(first.path(), b"\0asm one build");
        let (server, _dir) = serving(first.path()).await;
        let old = linked_files(&server).await;
        let wasm = fetch(&server, &old[1], "br, gzip").await;
        assert_eq!((wasm.status, &*wasm.encoding), (200, "br"));
        assert_eq!(wasm.content_type, "application/wasm");
        let icon = fetch(&server, "/favicon.svg", "").await;
        assert_eq!(
            icon.cache, "no-cache",
            "files named otherwise are asked for again"
        );
        drop(server);

        // The same site folder, rebuilt after a change in the code.
        std::fs::remove_dir_all(first.path()).unwrap();
        built_site(first.path(), b"\0asm the next build");
        let (server, _dir) = serving(first.path()).await;
        let new = linked_files(&server).await;
        assert_ne!(new[1], old[1], "a changed WASM has a new name");
        assert_eq!(new[0], old[0], "an unchanged file keeps its name");
        assert_eq!(
            fetch(&server, &new[1], "").await.body,
            b"\0asm the next build"
        );
        let stale = fetch(&server, &old[1], "").await;
        assert!(
            stale.status == 404 || !stale.content_type.starts_with("application/wasm"),
            "the old name is not served as the app: {stale:?}"
        );
    }
}
