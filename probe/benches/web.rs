//! The web app benchmark. It prints:
//!
//! 1. the size of what a browser downloads for the app: the WASM, its JS glue and the CSS,
//!    raw, Brotli and gzip as the server sends them, from a release build
//!    (`scripts/build-site --release`, which the bench runs first);
//! 2. time from clicking "Watch" on the dashboard to the first decoded frame (the `<video>`'s
//!    `loadeddata`) in headless Chromium on a desktop and emulating a phone, and in Firefox ESR,
//!    against the real `mumu-server` (release) and a simulated `mumu-agent` (release, x264enc)
//!    on loopback; the app measures it with `performance.now()` and shows it as
//!    `data-first-frame-ms`. The first watch after the agent starts (its pipeline starting too)
//!    is shown apart; p50/p95 are over the tries after it;
//! 3. time from navigation start to a usable dashboard (the app hydrated, the cameras listed) in
//!    Chromium on an emulated Slow 4G link (1.6 Mbit/s down, 150 ms RTT), p50 over 5 loads with
//!    an empty cache and 5 with a warm one;
//! 4. on a camera that has recorded for a minute, time from a click on the timeline (a real
//!    pointer, 30–60 s back) to the first frame of the recorded picture presented by the
//!    playback `<video>` (`requestVideoFrameCallback`), and from a click on Live back to a live
//!    frame, in Chromium on loopback: p50/p95 over the tries.
//!
//! `cargo bench -p mumu-probe --bench web` (needs wasm-bindgen, wasm-opt, chromium,
//! chromedriver, firefox-esr, geckodriver and the OpenH264 plugin, all of which `scripts/test`
//! installs). `MUMU_BENCH_TRIES` (default 10) sets the tries per size;
//! `MUMU_BENCH_ONLY=slow-link` prints the first and third parts only, `=recording` the first
//! and fourth (the fourth is left out of the smoke run: it waits a minute for a recording). Under `cargo test
//! --all-targets` it makes a small smoke run with the debug builds the tests use; its figures
//! mean nothing.

#[path = "../tests/common/mod.rs"]
mod common;

use common::System;
use common::bench::{build_release_binaries, build_release_site, env_u64, percentile};
use common::browser::{Browser, Kind, site_root};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Bytes of `file`, raw and as its Brotli and gzip copies beside it (what the server sends).
fn sizes(file: &Path) -> (u64, u64, u64) {
    let len = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
    let beside = |ext: &str| {
        let mut name = file.as_os_str().to_owned();
        name.push(ext);
        len(Path::new(&name))
    };
    // A development build has no compressed copies: 0.
    (len(file), beside(".br"), beside(".gz"))
}

/// The app's three files in `site`, by the names a release build gave them (`hash.txt`), or
/// plain in a development build, then the split-off pages' loader (`lazy: <name>.js`, which
/// the JS imports): what the first load fetches.
fn app_files(site: &Path) -> Vec<String> {
    let hashes = std::fs::read_to_string(site.join("hash.txt")).unwrap_or_default();
    let mut files: Vec<String> = ["wasm", "js", "css"]
        .iter()
        .map(|ext| {
            match hashes
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{ext}: ")))
            {
                Some(hash) => format!("mumu.{hash}.{ext}"),
                None => format!("mumu.{ext}"),
            }
        })
        .collect();
    files.extend(lazy_files(&hashes).filter(|f| f.ends_with(".js")));
    files
}

/// The split-off pages' files a release build lists in its `hash.txt`.
fn lazy_files(hashes: &str) -> impl Iterator<Item = String> + '_ {
    hashes
        .lines()
        .filter_map(|l| l.strip_prefix("lazy: "))
        .map(str::to_owned)
}

/// What the browsers say they are.
fn browser_versions() -> String {
    let version = |variable: &str, default: &str| {
        let program = std::env::var(variable).unwrap_or_else(|_| default.into());
        Command::new(&program)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or(program)
    };
    format!(
        "{}, {}",
        version("MUMU_CHROMIUM", "/usr/bin/chromium"),
        version("MUMU_FIREFOX", "/usr/bin/firefox-esr")
    )
}

/// Click-to-first-frame times in `kind` at one camera size: the first watch, then `tries` more.
async fn click_to_first_frame(kind: Kind, size: &[&str], tries: usize) -> (f64, Vec<f64>) {
    let site = site_root();
    let env = [("LEPTOS_SITE_ROOT", site.to_str().unwrap())];
    let system = System::start_full(size, &env, async |_| {}).await;
    let browser = Browser::logged_in_as_owner_in(kind, &system.base).await;
    let mut times = Vec::new();
    for _ in 0..=tries {
        times.push(browser.watch_from_dashboard().await);
    }
    browser.close().await;
    let first = times.remove(0);
    times.sort_by(f64::total_cmp);
    (first, times)
}

/// Click on the timeline → recorded picture, and click on Live → live picture, in Chromium on
/// a camera that has recorded for over a minute; `tries` of each.
async fn recording_seeks(tries: usize) -> (Vec<f64>, Vec<f64>) {
    let site = site_root();
    let scratch = tempfile::tempdir().unwrap();
    let recordings = scratch.path().join("recordings").display().to_string();
    let system = System::start_full(
        &["--record-dir", &recordings, "--record-segment-secs", "15"],
        &[("LEPTOS_SITE_ROOT", site.to_str().unwrap())],
        async |_| {},
    )
    .await;
    tokio::time::sleep(Duration::from_secs(65)).await;
    let browser = Browser::logged_in_as_owner_in(Kind::Chromium, &system.base).await;
    browser.open_recordings().await;
    let times = browser.click_times(tries).await;
    browser.close().await;
    times
}

/// Chromium's "Slow 4G": 1.6 Mbit/s down, 750 kbit/s up, 150 ms round trip.
const SLOW_4G: (f64, f64, f64) = (1_600_000.0, 750_000.0, 150.0);

/// Set in the page before any of its own scripts: the time (ms from navigation start) when the
/// dashboard is usable, which is when the app has taken the page over and lists the cameras
/// (the list comes over the app's socket, so the server's HTML never has it).
const READY_PROBE: &str = "new MutationObserver((_, watcher) => {
    if (window.__mumuReady === undefined && document.querySelector('ul.devices li.device')) {
        window.__mumuReady = performance.now();
        watcher.disconnect();
    }
}).observe(document, { childList: true, subtree: true });";

/// Navigation start → usable dashboard in Chromium on an emulated Slow 4G link, `loads` times
/// with an empty cache (cold), then `loads` times with what the first visit cached (warm).
async fn dashboard_on_a_slow_link(loads: usize) -> (Vec<f64>, Vec<f64>) {
    let site = site_root();
    let env = [("LEPTOS_SITE_ROOT", site.to_str().unwrap())];
    let system = System::start_full(&[], &env, async |_| {}).await;
    let browser = Browser::logged_in_as_owner_in(Kind::Chromium, &system.base).await;
    let (down, up, rtt) = SLOW_4G;
    browser.cdp("Network.enable", json!({})).await;
    browser
        .cdp(
            "Network.emulateNetworkConditions",
            json!({ "offline": false, "latency": rtt,
                    "downloadThroughput": down / 8.0, "uploadThroughput": up / 8.0 }),
        )
        .await;
    browser
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": READY_PROBE }),
        )
        .await;
    let dashboard = format!("{}/", system.base);
    let load = async |cold: bool| {
        if cold {
            browser.cdp("Network.clearBrowserCache", json!({})).await;
        }
        browser.goto(&dashboard).await;
        let ready = browser
            .wait_js(
                "the dashboard usable",
                Duration::from_secs(60),
                "return window.__mumuReady === undefined ? null : window.__mumuReady",
            )
            .await;
        ready.as_f64().unwrap()
    };
    let mut cold = Vec::new();
    for _ in 0..loads {
        cold.push(load(true).await);
    }
    let mut warm = Vec::new();
    for _ in 0..loads {
        warm.push(load(false).await);
    }
    browser.close().await;
    cold.sort_by(f64::total_cmp);
    warm.sort_by(f64::total_cmp);
    (cold, warm)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    if !smoke {
        build_release_binaries();
        build_release_site();
    }
    let tries = if smoke {
        2
    } else {
        env_u64("MUMU_BENCH_TRIES", 10) as usize
    };
    println!(
        "MuMu web app benchmark: {} builds, {}, loopback{}",
        if smoke { "debug" } else { "release" },
        browser_versions(),
        if smoke {
            " -- smoke run under cargo test: figures meaningless"
        } else {
            ""
        }
    );

    let site = site_root();
    println!(
        "\nDownload size, bytes (what the server sends: Brotli, or gzip to a browser without it)"
    );
    println!("{:<34} {:>10} {:>10} {:>10}", "", "raw", "brotli", "gzip");
    let mut total = (0, 0, 0);
    for file in app_files(&site) {
        let (raw, brotli, gzip) = sizes(&site.join("pkg").join(&file));
        total = (total.0 + raw, total.1 + brotli, total.2 + gzip);
        println!("{file:<34} {raw:>10} {brotli:>10} {gzip:>10}");
    }
    println!(
        "{:<34} {:>10} {:>10} {:>10}",
        "all", total.0, total.1, total.2
    );
    let hashes = std::fs::read_to_string(site.join("hash.txt")).unwrap_or_default();
    let chunks: Vec<String> = lazy_files(&hashes)
        .filter(|f| f.ends_with(".wasm"))
        .collect();
    if !chunks.is_empty() {
        println!("fetched when their page opens:");
    }
    for file in chunks {
        let (raw, brotli, gzip) = sizes(&site.join("pkg").join(&file));
        println!("{file:<34} {raw:>10} {brotli:>10} {gzip:>10}");
    }

    let only = std::env::var("MUMU_BENCH_ONLY").unwrap_or_default();
    if only != "recording" {
        let loads = if smoke { 1 } else { 5 };
        let (cold, warm) = dashboard_on_a_slow_link(loads).await;
        let (down, up, rtt) = SLOW_4G;
        println!(
            "\nNavigation -> dashboard usable (hydrated, cameras listed), Chromium on a slow link \
             ({:.1} Mbit/s down, {:.2} up, {rtt:.0} ms RTT), ms over {loads} loads",
            down / 1e6,
            up / 1e6
        );
        println!("{:<8} {:>8} {:>8} {:>8}", "cache", "p50", "min", "max");
        for (label, times) in [("cold", &cold), ("warm", &warm)] {
            println!(
                "{label:<8} {:>8.0} {:>8.0} {:>8.0}",
                percentile(times, 50.0),
                times.first().copied().unwrap_or(f64::NAN),
                times.last().copied().unwrap_or(f64::NAN),
            );
        }
    }

    // The recording part waits a minute for the camera to record: not in the smoke run (the
    // browser test plays a recording in the same page).
    if !smoke && (only == "recording" || only.is_empty()) {
        let (seeks, lives) = recording_seeks(tries).await;
        println!(
            "\nRecorded picture, Chromium on loopback, ms (click -> first frame presented; p50/p95/min/max over {} tries)",
            seeks.len()
        );
        for (label, times) in [
            ("timeline click, 30-60 s back", &seeks),
            ("Live click", &lives),
        ] {
            println!(
                "{label:<30} {:>8.0} {:>8.0} {:>8.0} {:>8.0}",
                percentile(times, 50.0),
                percentile(times, 95.0),
                times.first().copied().unwrap_or(f64::NAN),
                times.last().copied().unwrap_or(f64::NAN),
            );
        }
    }
    if only == "slow-link" || only == "recording" {
        return;
    }
    const HD: (&str, [&str; 4]) = ("1280x720", ["--width", "1280", "--height", "720"]);
    const VGA: (&str, [&str; 4]) = ("640x480", ["--width", "640", "--height", "480"]);
    let phone = Kind::Phone {
        width: 390,
        height: 844,
    };
    let runs: &[(Kind, (&str, [&str; 4]))] = if smoke {
        &[(Kind::Chromium, VGA), (Kind::Firefox, VGA)]
    } else {
        &[
            (Kind::Chromium, HD),
            (Kind::Chromium, VGA),
            (phone, VGA),
            (Kind::Firefox, HD),
            (Kind::Firefox, VGA),
        ]
    };
    println!(
        "\nClick on Watch -> first decoded frame, ms (x264enc, test picture; \
         p50/p95/min/max over the tries after the first)"
    );
    println!(
        "{:<16} {:<10} {:>4} {:>8} {:>8} {:>8} {:>8} {:>12}",
        "browser", "camera", "n", "p50", "p95", "min", "max", "first watch"
    );
    for (kind, (label, size)) in runs {
        let (first, times) = click_to_first_frame(*kind, size, tries).await;
        println!(
            "{:<16} {label:<10} {:>4} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {first:>12.0}",
            kind.name(),
            times.len(),
            percentile(&times, 50.0),
            percentile(&times, 95.0),
            times.first().copied().unwrap_or(f64::NAN),
            times.last().copied().unwrap_or(f64::NAN),
        );
    }
}
