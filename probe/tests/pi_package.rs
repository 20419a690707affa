//! The Raspberry Pi package, run: the arm64 `.deb` that `scripts/package-pi` builds holds what a
//! Pi needs (the binary, the unit, the configuration, the GStreamer dependencies), and the
//! `mumu-agent` unpacked from it, started under qemu-user with Debian's arm64 GStreamer, enrols
//! with the real server, is paired, and streams the test picture until the probe has received and
//! verified encoded frames. It is the only proof on an x86 machine that the Pi build runs.
//!
//! Skipped, saying why, where the arm64 build or packages are missing; with
//! `MUMU_PI_SMOKE=required` (what `scripts/test` sets) that fails instead. `scripts/test` builds
//! the package while the tests run and names it in `MUMU_PI_PACKAGE` (see
//! [`package_built_beside`]).

mod common;

use common::{
    PASSWORD, Running, free_port, log, pair, start_server, stored_code, target_dir, wait_until,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const QEMU: &str = "/usr/bin/qemu-aarch64-static";
/// An arm64 plugin the agent cannot do without (webrtcbin), from gstreamer1.0-plugins-bad:arm64.
const ARM64_WEBRTC: &str = "/usr/lib/aarch64-linux-gnu/gstreamer-1.0/libgstwebrtc.so";
const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;
const FPS: u32 = 15;

#[test]
fn the_package_holds_the_binary_the_unit_and_the_configuration() {
    let Some(deb) = arm64_package() else {
        return;
    };
    let listing = dpkg_deb(&["--contents"], &deb, None);
    for path in [
        "./usr/bin/mumu-agent",
        "./usr/lib/systemd/system/mumu-agent.service",
        "./etc/mumu-agent/agent.toml",
    ] {
        assert!(
            listing.contains(path),
            "the package holds {path}:\n{listing}"
        );
    }
    let control = dpkg_deb(&["--field"], &deb, None);
    assert!(control.contains("Architecture: arm64\n"), "{control}");
    for plugin in [
        "gstreamer1.0-plugins-bad",
        "gstreamer1.0-plugins-ugly",
        "gstreamer1.0-nice",
    ] {
        assert!(
            control.contains(plugin),
            "the package depends on {plugin}: {control}"
        );
    }
    let scripts = tempfile::tempdir().unwrap();
    dpkg_deb(&["--control"], &deb, Some(scripts.path()));
    let read = |name: &str| std::fs::read_to_string(scripts.path().join(name)).unwrap();
    assert_eq!(
        read("conffiles").trim(),
        "/etc/mumu-agent/agent.toml",
        "the configuration survives upgrades"
    );
    let postinst = read("postinst");
    assert!(
        postinst.contains("deb-systemd-helper enable mumu-agent.service"),
        "the service is enabled at install:\n{postinst}"
    );
    assert!(
        postinst.contains("journalctl -u mumu-agent"),
        "the postinst says where the pairing code is"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_packaged_agent_streams_verified_frames_under_qemu() {
    let Some(deb) = arm64_package() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let unpacked = dir.path().join("deb");
    dpkg_deb(&["-x"], &deb, Some(&unpacked));
    let agent = unpacked.join("usr/bin/mumu-agent");
    assert!(
        is_aarch64_elf(&agent),
        "{} is an aarch64 program",
        agent.display()
    );
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = start_server(dir.path(), port, &[]).await;

    let state = dir.path().join("agent");
    let health = dir.path().join("agent.alive");
    let started = Instant::now();
    let _agent = Running(
        Command::new(QEMU)
            .arg(&agent)
            .args(["--simulate", "--server", &base, "--state-dir"])
            .arg(&state)
            .args([
                "--width",
                &WIDTH.to_string(),
                "--height",
                &HEIGHT.to_string(),
            ])
            .args(["--fps", &FPS.to_string(), "--bitrate-kbps", "300"])
            .arg("--health-file")
            .arg(&health)
            // The arm64 plugin registry of its own, scanned in the process: the scanner helper
            // is an arm64 program, which this machine may not run without binfmt.
            .env("GST_REGISTRY", dir.path().join("registry.aarch64.bin"))
            .env("GST_REGISTRY_FORK", "no")
            .stdin(Stdio::null())
            .stdout(log(dir.path(), "agent.out"))
            .stderr(log(dir.path(), "agent.log"))
            .spawn()
            .expect("qemu-aarch64-static starts"),
    );
    let agent_log = || std::fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default();

    // Emulated, the agent's start (and GStreamer's first plugin scan) takes seconds, not ms.
    let code = wait_until(
        "the aarch64 agent enrolled and showing a code",
        Duration::from_secs(120),
        || stored_code(&state),
    )
    .await;
    let enrolled = started.elapsed();
    let auth = mumu_probe::rest::register(&base, "owner", "owner@example.com", PASSWORD)
        .await
        .expect("registered");
    let link = format!("{base}/pair?code={code}");
    wait_until(
        "the journal showing the pairing link",
        Duration::from_secs(30),
        || agent_log().contains(&link).then_some(()),
    )
    .await;
    pair(&base, &auth.access_token, &code, "Pi under qemu").await;

    let summary = common::watch_at(&base, 5.0)
        .await
        .unwrap_or_else(|e| panic!("the watch failed: {e}\n--- agent log ---\n{}", agent_log()));
    eprintln!(
        "aarch64 agent under qemu: enrolled {:.1} s after start; {} frames ({} keyframes, {} KiB) \
         at {WIDTH}x{HEIGHT}, {:.1} fps and {:.0} kbit/s over {:.1} s; first frame {:.0} ms after \
         the watch request",
        enrolled.as_secs_f64(),
        summary.frames,
        summary.keyframes,
        summary.bytes / 1024,
        summary.fps,
        summary.kbps,
        summary.seconds,
        summary.first_frame_ms.unwrap_or(f64::NAN),
    );
    assert!(
        summary.first_frame_verified,
        "SPS, PPS and an IDR came first: {summary:?}\n{}",
        agent_log()
    );
    assert!(summary.seconds >= 4.9, "five seconds of video: {summary:?}");
    assert!(
        summary.frames >= 5 * u64::from(FPS) / 2,
        "at least half the frames of five seconds at {FPS} fps: {summary:?}\n{}",
        agent_log()
    );
    assert!(summary.keyframes >= 1, "{summary:?}");
    assert_eq!(summary.ended_early, None);

    // The container health check, as the packaged binary answers it.
    let checked = Command::new(QEMU)
        .arg(&agent)
        .arg("health")
        .arg("--health-file")
        .arg(&health)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success() && said.starts_with("the server answered"),
        "mumu-agent health: {said}{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// The arm64 package `scripts/package-pi` built, when this machine can run what it holds;
/// `None` after saying why it cannot.
fn arm64_package() -> Option<PathBuf> {
    let debs = target_dir().join("debian");
    let deb = match std::env::var("MUMU_PI_PACKAGE") {
        Ok(ready) => Some(package_built_beside(Path::new(&ready))),
        Err(_) => std::fs::read_dir(&debs)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with("_arm64.deb"))
            .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok()),
    };
    let missing = match &deb {
        None => Some(format!(
            "no mumu-agent_*_arm64.deb in {} (scripts/package-pi builds it)",
            debs.display()
        )),
        Some(_) if !Path::new(QEMU).exists() => {
            Some(format!("{QEMU} is missing (Debian's qemu-user-static)"))
        }
        Some(_) if !Path::new(ARM64_WEBRTC).exists() => Some(format!(
            "{ARM64_WEBRTC} is missing (Debian's arm64 GStreamer: scripts/lib.sh ensure_arm64_runtime)"
        )),
        Some(_) => None,
    };
    if let Some(why) = missing {
        assert!(
            std::env::var("MUMU_PI_SMOKE").as_deref() != Ok("required"),
            "the arm64 package checks are required here, but {why}"
        );
        eprintln!("arm64 package checks skipped: {why}");
        return None;
    }
    deb
}

/// The package that `scripts/test` builds while the tests run: it writes `ready` once done, with
/// the .deb's path, or with "failed: ..." and the end of the build's output. Waited for, since
/// the build runs only on the CPU the tests leave idle.
fn package_built_beside(ready: &Path) -> PathBuf {
    const LIMIT: Duration = Duration::from_secs(20 * 60);
    let start = Instant::now();
    let said = loop {
        if let Ok(said) = std::fs::read_to_string(ready) {
            break said;
        }
        assert!(
            start.elapsed() < LIMIT,
            "scripts/package-pi did not finish within {LIMIT:?} ({} never appeared)",
            ready.display()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(!said.starts_with("failed"), "the Pi package: {said}");
    let deb = PathBuf::from(said.trim());
    assert!(
        deb.exists(),
        "{} names {}, which is missing",
        ready.display(),
        deb.display()
    );
    deb
}

/// What `dpkg-deb <args> <deb> [<into>]` prints.
fn dpkg_deb(args: &[&str], deb: &Path, into: Option<&Path>) -> String {
    let output = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .args(into)
        .output()
        .expect("dpkg-deb runs");
    assert!(
        output.status.success(),
        "dpkg-deb {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// An ELF file for machine 183 (EM_AARCH64), 64-bit little-endian.
fn is_aarch64_elf(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    bytes.len() > 20
        && bytes.starts_with(b"\x7fELF\x02\x01")
        && u16::from_le_bytes([bytes[18], bytes[19]]) == 183
}
