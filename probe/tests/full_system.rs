//! The whole system as a person runs it: the real `mumu-server` (SQLite, in-process presence),
//! the real `mumu-agent` with the test picture, pairing through the REST API, and the probe
//! watching through the server. The binaries come from the same target directory as this test
//! (`cargo test --workspace --all-targets` builds them).

use mumu_probe::watch::{WatchOptions, watch};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A binary of this workspace, beside the test's own build output.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows where it is");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace --all-targets`",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_until<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_the_simulated_camera_through_the_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();

    let _server = Running(
        Command::new(binary("mumu-server"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("MUMU_ENROLL_PER_MIN", "0")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .stdout(log("server.out"))
            .stderr(log("server.log"))
            .spawn()
            .expect("mumu-server starts"),
    );
    wait_until("the server listening", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .await;

    let state = dir.path().join("agent");
    let _agent = Running(
        Command::new(binary("mumu-agent"))
            .args([
                "--simulate",
                "--server",
                &base,
                "--width",
                "640",
                "--height",
                "480",
            ])
            .arg("--state-dir")
            .arg(&state)
            .stdin(Stdio::null())
            .stdout(log("agent.out"))
            .stderr(log("agent.log"))
            .spawn()
            .expect("mumu-agent starts"),
    );
    let code = wait_until(
        "the agent enrolled and showing a code",
        Duration::from_secs(20),
        || {
            let text = std::fs::read_to_string(state.join("identity.json")).ok()?;
            let identity: serde_json::Value = serde_json::from_str(&text).ok()?;
            identity["pairing_code"].as_str().map(str::to_owned)
        },
    )
    .await;

    let auth =
        mumu_probe::rest::register(&base, "owner", "owner@example.com", "correct horse battery")
            .await
            .expect("registered");
    let paired = reqwest::Client::new()
        .post(format!("{base}/api/devices/pair"))
        .bearer_auth(&auth.access_token)
        .json(&serde_json::json!({ "pairing_code": code, "name": "Simulator" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        paired.status(),
        201,
        "{}",
        paired.text().await.unwrap_or_default()
    );

    let summary = watch(&WatchOptions {
        server: base.clone(),
        username: "owner".into(),
        password: "correct horse battery".into(),
        register: false,
        device: None,
        wait_for_device: Duration::from_secs(20),
        duration: Duration::from_secs(5),
        per_second: false,
        ice_check_interval: Duration::from_millis(50),
    })
    .await
    .unwrap_or_else(|e| {
        let agent_log = std::fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default();
        panic!("the watch failed: {e}\n--- agent log ---\n{agent_log}")
    });

    assert!(
        summary.first_frame_verified,
        "SPS, PPS and an IDR came first: {summary:?}"
    );
    assert!(summary.seconds >= 4.9, "five seconds of video: {summary:?}");
    assert!(summary.fps >= 25.0, "at least 25 fps: {summary:?}");
    assert!(summary.keyframes >= 1, "{summary:?}");
    assert_eq!(summary.large_gaps, 0, "{summary:?}");
    let (connected, first_frame) = (
        summary.connected_ms.unwrap(),
        summary.first_frame_ms.unwrap(),
    );
    assert!(
        first_frame - connected <= 200.0,
        "a keyframe within 200 ms of the connection (connected at {connected:.0} ms, first frame at {first_frame:.0} ms)"
    );
    assert_eq!(summary.ended_early, None);
}
