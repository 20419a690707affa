//! A camera behind one home router, a viewer behind another: does the video get through, and
//! which way? Each scenario builds its own lab of network namespaces (see
//! `common/nat_lab.rs`), starts the real coturn, mumu-server and mumu-agent inside, watches
//! with the real `mumu-probe`, and prints the selected candidate pair (local/remote types,
//! seen from the viewer), the frames received and the time to the first frame.
//!
//! They need root (CI runs as root); elsewhere each says why it is skipped. webrtc-rs relays
//! over UDP only, so the TURN-over-TCP scenario, and the web app's own words for a refused
//! relay, run in headless Chromium inside the viewer's namespace.

mod common;

use common::browser::{Browser, site_root};
use common::nat_lab::{Lab, Nat, Ns, TURN_SECRET, in_netns};
use mumu_probe::watch::Summary;
use std::time::{Duration, Instant};

/// One lab at a time: each runs a camera that encodes video, on a machine of two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A lab with coturn (sharing `coturn_secret` with nobody unless it is the lab's), the
/// server (with `server_env`) and a paired camera behind router A.
async fn lab(
    nat_a: Nat,
    nat_b: Nat,
    coturn_secret: &str,
    server_env: &[(&str, &str)],
) -> Option<Lab> {
    let mut lab = Lab::create(nat_a, nat_b)?;
    lab.start_coturn(coturn_secret).await;
    lab.start_server(server_env).await;
    lab.start_paired_camera().await;
    Some(lab)
}

fn report(scenario: &str, lab: &Lab, summary: &Summary) {
    println!(
        "{scenario}: viewer's pair={} (udp) relayed={} KB frames={} fps={:.1} first_frame={:.0} ms renewals={}",
        summary.candidate_pair.as_deref().unwrap_or("-"),
        lab.relayed_bytes() / 1000,
        summary.frames,
        summary.fps,
        summary.first_frame_ms.unwrap_or_default(),
        summary.renewals,
    );
}

/// The camera's video did not go through coturn: its relay ports carried only the peers'
/// permission and check traffic (a few KB), not three seconds of video (~100 KB).
fn assert_direct(lab: &Lab) {
    let relayed = lab.relayed_bytes();
    assert!(
        relayed < 20_000,
        "the media went through coturn ({relayed} bytes relayed)"
    );
}

/// The camera behind an endpoint-independent router A, the viewer in `viewer`: the video
/// plays, and with `direct` it comes straight from the camera, not through coturn.
async fn watch_behind_router_a(scenario: &str, viewer: Ns, direct: bool) {
    let _one = ONE_AT_A_TIME.lock().await;
    let nat = Nat::EndpointIndependent;
    let Some(lab) = lab(nat, nat, TURN_SECRET, &[]).await else {
        return;
    };
    let summary = watched(&lab, viewer, 3.0);
    report(scenario, &lab, &summary);
    if direct {
        assert_direct(&lab);
    }
    assert!(
        summary.first_frame_verified && summary.fps > 15.0,
        "{summary:?}"
    );
}

fn watched(lab: &Lab, from: Ns, seconds: f64) -> Summary {
    lab.probe(from, seconds, &[])
        .unwrap_or_else(|e| panic!("the watch failed: {e}\n--- probe ---\n{}", lab.log("probe")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_two_endpoint_independent_routers_media_flows_directly() {
    watch_behind_router_a("two endpoint-independent NATs", Ns::Viewer, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_two_symmetric_routers_media_flows_through_coturn() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(lab) = lab(Nat::Symmetric, Nat::Symmetric, TURN_SECRET, &[]).await else {
        return;
    };
    let summary = watched(&lab, Ns::Viewer, 3.0);
    report("two symmetric NATs", &lab, &summary);
    let relayed = lab.relayed_bytes();
    assert!(
        relayed > 50_000,
        "two symmetric NATs, yet coturn relayed only {relayed} bytes"
    );
    assert!(
        summary.first_frame_verified && summary.fps > 15.0,
        "{summary:?}"
    );
    let coturn = lab.log("coturn");
    assert!(
        coturn.contains("CHANNEL_BIND processed, success")
            || coturn.contains("CREATE_PERMISSION processed, success"),
        "coturn's log shows the relayed session:\n{coturn}"
    );
}

/// Playback of a recording through two symmetric routers: the camera's history channel rides
/// the relayed peer connection, so a seek answers through coturn and the server sees none of
/// the recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_plays_back_through_coturn_behind_two_symmetric_routers() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(mut lab) = Lab::create(Nat::Symmetric, Nat::Symmetric) else {
        return;
    };
    lab.start_coturn(TURN_SECRET).await;
    lab.start_server(&[]).await;
    let recordings = lab.dir().join("recordings").display().to_string();
    lab.start_paired_camera_with(&[
        "--record-dir",
        &recordings,
        "--record-segment-secs",
        "5",
        "--record-max-gb",
        "1",
    ])
    .await;
    tokio::time::sleep(Duration::from_secs(14)).await;
    let (server_before, relayed_before) = (lab.server_bytes(), lab.relayed_bytes());
    let base = lab.base();
    let (summary, playback) = in_netns(&lab.ns(Ns::Viewer), move || async move {
        relayed_playback(&base).await
    })
    .await;
    let (server, relayed) = (
        lab.server_bytes() - server_before,
        lab.relayed_bytes() - relayed_before,
    );
    println!(
        "relayed playback: pair={} seek to first bytes {:.0} ms, {} KB of recording; coturn relayed {} KB, the server {} KB",
        summary.candidate_pair.as_deref().unwrap_or("-"),
        playback.first_bytes_ms,
        playback.bytes / 1000,
        relayed / 1000,
        server / 1000
    );
    assert!(
        summary
            .candidate_pair
            .as_deref()
            .is_some_and(|p| p.contains("relay")),
        "the session was relayed: {summary:?}"
    );
    // Five seconds of the simulator's picture (~0.2 Mb/s).
    assert!(playback.bytes > 50_000, "{playback:?}");
    assert!(
        relayed > playback.bytes as u64,
        "the recording went through coturn ({relayed} bytes relayed, {} played)",
        playback.bytes
    );
    assert!(
        server < 100_000,
        "the server carried {server} bytes while {} bytes of recording played: signaling only",
        playback.bytes
    );
}

#[derive(Debug)]
struct Playback {
    first_bytes_ms: f64,
    bytes: usize,
}

/// Watches as the owner, seeks 8 s back in the recording and reads 5 s of it.
async fn relayed_playback(base: &str) -> (Summary, Playback) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut options = mumu_probe::watch::WatchOptions::new(
        base,
        "owner",
        common::PASSWORD,
        Duration::from_secs(12),
    );
    options.history = Some(tx);
    let watching = tokio::spawn(async move { mumu_probe::watch::watch(&options).await });
    let mut history = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the history channel opened through the relay")
        .expect("the watch runs");
    let asked = Instant::now();
    let at = mumu_probe::now_ms() - 8_000;
    let playing = history
        .play(1, at, Duration::from_secs(5))
        .await
        .expect("the camera plays from 8 s ago");
    assert!(
        playing.start <= at && at - playing.start <= 2_500,
        "{playing:?}"
    );
    let mut first_bytes = None;
    let (bytes, _) = history
        .collect(1, Duration::from_secs(5), |b| {
            first_bytes.get_or_insert_with(|| asked.elapsed());
            mumu_probe::history::fragment_times(b).1.len() >= 5
        })
        .await
        .expect("the recording arrives");
    history.stop(1).await.ok();
    let summary = watching
        .await
        .expect("the watch task")
        .expect("the live watch went on beside the playback");
    let playback = Playback {
        first_bytes_ms: first_bytes.unwrap_or_default().as_secs_f64() * 1000.0,
        bytes: bytes.len(),
    };
    (summary, playback)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_turn_secret_is_reported_in_seconds_not_a_frozen_connecting() {
    let _one = ONE_AT_A_TIME.lock().await;
    // coturn and the server disagree on the secret: every credential is refused.
    let Some(lab) = lab(
        Nat::Symmetric,
        Nat::Symmetric,
        "not-the-servers-secret",
        &[],
    )
    .await
    else {
        return;
    };
    let started = Instant::now();
    let error = lab
        .probe(Ns::Viewer, 3.0, &[])
        .expect_err("no path to the camera");
    let took = started.elapsed();
    println!("wrong TURN secret: the probe said after {took:.1?}: {error}");
    assert!(error.contains("could not reach the camera"), "{error}");
    assert!(error.contains("refused our credentials"), "{error}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(lab.log("coturn").contains("401"), "coturn refused with 401");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_behind_a_router_reaches_a_viewer_on_the_open_internet() {
    // Either path is right here: the camera's libnice nominates its relay pair now and then,
    // when that pair's check (coturn sits beside the viewer) answers first.
    watch_behind_router_a("camera behind router A, viewer public", Ns::Public, false).await;
}

/// GStreamer 1.22's nice transport (Debian 12, Raspberry Pi OS) crashed the whole agent when a
/// viewer's session ended before the camera had finished gathering its candidates from coturn:
/// Chromium viewers leaving within a second, through symmetric routers, then four watches at
/// once took the camera down every time. It must stay up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_leaving_while_the_camera_still_gathers_candidates_leave_it_running() {
    let _one = ONE_AT_A_TIME.lock().await;
    let site = site_root();
    let env = [("LEPTOS_SITE_ROOT", site.to_str().unwrap())];
    let Some(lab) = lab(Nat::Symmetric, Nat::Symmetric, TURN_SECRET, &env).await else {
        return;
    };
    let base = lab.base();
    in_netns(&lab.ns(Ns::Viewer), move || async move {
        let browser = Browser::logged_in_as_owner(&base).await;
        // Each watch from the dashboard ends the one before, right after its first frame.
        for _ in 0..2 {
            browser.watch_from_dashboard().await;
        }
        browser.close().await;
    })
    .await;
    let summaries: Vec<Summary> = std::thread::scope(|scope| {
        let watches: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| watched(&lab, Ns::Viewer, 1.0)))
            .collect();
        watches.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for summary in &summaries {
        assert!(summary.fps > 20.0, "{summary:?}");
    }
    assert!(
        !lab.log("server").contains("device disconnected"),
        "the camera dropped off:\n{}",
        lab.log("agent")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_watch_outlives_its_turn_credentials_by_renewing() {
    let _one = ONE_AT_A_TIME.lock().await;
    const TTL_SECS: f64 = 10.0;
    let env = [
        ("TURN_CREDENTIAL_TTL_SECS", "10"),
        ("MUMU_ICE_TRANSPORT_POLICY", "relay"),
    ];
    let Some(lab) = lab(Nat::Symmetric, Nat::Symmetric, TURN_SECRET, &env).await else {
        return;
    };
    let summary = watched(&lab, Ns::Viewer, 3.0 * TTL_SECS);
    report(
        "relay only, credentials of 10 s, watched 30 s",
        &lab,
        &summary,
    );
    assert!(
        summary
            .candidate_pair
            .as_deref()
            .is_some_and(|p| p.starts_with("relay/")),
        "{summary:?}"
    );
    assert!(summary.renewals >= 3, "renewed every 7.5 s: {summary:?}");
    assert!(summary.seconds >= 3.0 * TTL_SECS - 1.0, "{summary:?}");
    assert!(summary.fps > 20.0, "the video kept flowing: {summary:?}");
    assert!(
        summary.max_frame_gap_ms < 500.0,
        "no stall at a switch: {summary:?}"
    );
    let server = lab.log("server");
    let renewed = server.matches("watch renewed").count();
    println!(
        "server log: {renewed} renewals; coturn: {} allocations",
        lab.log("coturn")
            .matches("ALLOCATE processed, success")
            .count()
    );
    assert!(renewed >= 3, "{server}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_renews_a_relayed_watch_without_the_picture_stopping() {
    let _one = ONE_AT_A_TIME.lock().await;
    const TTL_SECS: u64 = 10;
    let site = site_root();
    let env = [
        ("LEPTOS_SITE_ROOT", site.to_str().unwrap()),
        ("TURN_CREDENTIAL_TTL_SECS", "10"),
        ("MUMU_ICE_TRANSPORT_POLICY", "relay"),
    ];
    let Some(lab) = lab(Nat::Symmetric, Nat::Symmetric, TURN_SECRET, &env).await else {
        return;
    };
    let base = lab.base();
    let seen = in_netns(&lab.ns(Ns::Viewer), move || async move {
        let browser = Browser::logged_in_as_owner(&base).await;
        browser.click("li.device a.button.primary").await;
        browser
            .wait_js(
                "the watch playing",
                Duration::from_secs(30),
                "const t = document.querySelector('.tile'); \
                 return t && t.dataset.phase === 'connected' && t.dataset.firstFrameMs ? true : null;",
            )
            .await;
        // Every frame the <video> presents, and every phase the tile passes through, from
        // here on: a switch of sessions must show as neither a gap nor a phase change.
        browser
            .js(
                "const tile = document.querySelector('.tile'); \
                 const video = tile.querySelector('video'); \
                 const seen = window.__seen = {frames: 0, maxGapMs: 0, last: performance.now(), phases: []}; \
                 const onFrame = (now) => { \
                   seen.maxGapMs = Math.max(seen.maxGapMs, now - seen.last); \
                   seen.last = now; seen.frames++; video.requestVideoFrameCallback(onFrame); }; \
                 video.requestVideoFrameCallback(onFrame); \
                 new MutationObserver(() => seen.phases.push(tile.dataset.phase)) \
                   .observe(tile, {attributes: true, attributeFilter: ['data-phase']});",
                vec![],
            )
            .await;
        tokio::time::sleep(Duration::from_secs(3 * TTL_SECS)).await;
        let seen = browser
            .js(
                "const s = window.__seen; \
                 const tile = document.querySelector('.tile'); \
                 return {frames: s.frames, maxGapMs: Math.max(s.maxGapMs, performance.now() - s.last), \
                   phases: s.phases, phase: tile.dataset.phase, path: tile.querySelector('.path')?.dataset.path};",
                vec![],
            )
            .await;
        browser.screenshot("nat-lab-renewed").await;
        browser.close().await;
        seen
    })
    .await;
    // Each renewal renews the session the one before made: the switches happened.
    let field = |line: &str, name: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    let server = lab.log("server");
    let chain: Vec<(Option<String>, Option<String>)> = server
        .lines()
        .filter(|l| l.contains("watch renewed"))
        .map(|l| (field(l, "renews"), field(l, "session_id")))
        .collect();
    assert!(
        chain
            .iter()
            .all(|(old, new)| old.is_some() && new.is_some()),
        "every renewal names its session and the one it renews: {chain:?}"
    );
    for pair in chain.windows(2) {
        assert_eq!(
            pair[1].0, pair[0].1,
            "renewed the session the last renewal made"
        );
    }
    let renewed = chain.len();
    println!(
        "relay only in Chromium, credentials of 10 s, watched 30 s: {renewed} renewals, frames={} \
         longest gap={:.0} ms path={}",
        seen["frames"],
        seen["maxGapMs"].as_f64().unwrap_or_default(),
        seen["path"],
    );
    assert!(renewed >= 3, "renewed every 7.5 s: {renewed}");
    assert_eq!(seen["phase"], "connected", "{seen}");
    assert_eq!(
        seen["phases"],
        serde_json::json!([]),
        "never left 'connected': {seen}"
    );
    assert!(
        seen["frames"].as_u64().unwrap_or_default() > 20 * 3 * TTL_SECS,
        "the picture kept moving: {seen}"
    );
    assert!(
        seen["maxGapMs"].as_f64().unwrap_or(f64::MAX) < 1000.0,
        "no stall at a switch: {seen}"
    );
    assert!(
        seen["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("relayed")),
        "{seen}"
    );
}

/// What Chromium in `ns` made of watching the lab's camera as the owner: the tile's path badge
/// and time to first frame once it plays, or what its overlay said if it never did.
async fn watch_in_chromium(lab: &Lab, ns: Ns) -> Result<(String, f64), String> {
    let base = lab.base();
    in_netns(&lab.ns(ns), move || async move {
        let browser = Browser::logged_in_as_owner(&base).await;
        browser.click("li.device a.button.primary").await;
        let outcome = browser
            .wait_js(
                "the watch playing, or giving up with a reason",
                Duration::from_secs(30),
                "const t = document.querySelector('.tile'); \
                 if (!t) return null; \
                 const path = t.querySelector('.path')?.dataset.path; \
                 if (t.dataset.phase === 'connected' && path && t.dataset.firstFrameMs) \
                   return {path, ms: Number(t.dataset.firstFrameMs)}; \
                 const said = t.querySelector('.overlay')?.innerText || ''; \
                 return said.includes('could not') || said.includes('worked') ? {failed: said} : null;",
            )
            .await;
        browser.screenshot("nat-lab").await;
        browser.close().await;
        match outcome["failed"].as_str() {
            Some(said) => Err(said.to_owned()),
            None => Ok((
                outcome["path"].as_str().unwrap_or_default().to_owned(),
                outcome["ms"].as_f64().unwrap_or_default(),
            )),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_network_that_allows_only_tcp_gets_video_over_turn_tcp() {
    let _one = ONE_AT_A_TIME.lock().await;
    let site = site_root();
    let env = [("LEPTOS_SITE_ROOT", site.to_str().unwrap())];
    let Some(lab) = lab(Nat::EndpointIndependent, Nat::Symmetric, TURN_SECRET, &env).await else {
        return;
    };
    lab.block_udp_from_viewer_lan();
    let (path, first_frame_ms) = watch_in_chromium(&lab, Ns::Viewer)
        .await
        .unwrap_or_else(|said| panic!("the watch failed: {said}"));
    println!(
        "viewer network without UDP (Chromium): path={path} first_frame={first_frame_ms:.0} ms"
    );
    assert_eq!(path, "relayed · TCP");
    assert!(
        lab.log("coturn").contains("TCP"),
        "coturn served a TCP client"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_says_why_when_the_relay_refuses_its_credentials() {
    let _one = ONE_AT_A_TIME.lock().await;
    let site = site_root();
    let env = [("LEPTOS_SITE_ROOT", site.to_str().unwrap())];
    let Some(lab) = lab(
        Nat::Symmetric,
        Nat::Symmetric,
        "not-the-servers-secret",
        &env,
    )
    .await
    else {
        return;
    };
    let started = Instant::now();
    let said = watch_in_chromium(&lab, Ns::Viewer)
        .await
        .expect_err("no path to the camera");
    println!(
        "wrong TURN secret (Chromium), after {:.1?}: {said}",
        started.elapsed()
    );
    assert!(said.contains("refused our credentials"), "{said}");
    assert!(said.contains("TURN_SECRET"), "{said}");
}
