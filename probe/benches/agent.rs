//! The agent benchmark: the real `mumu-server` and `mumu-agent` (release builds, as child
//! processes, the agent on its test picture) and viewers from the probe library in this
//! process, all on loopback. It prints:
//!
//! 1. time to first frame: `watch_request` sent → first decodable frame (SPS, PPS, IDR) in the
//!    probe, through the server; p50/p95 over 20 tries with the pipeline running (warm), and
//!    from a stopped pipeline (`--idle-stop-secs 1`, each try waits until the agent logged the
//!    stop);
//! 2. the agent's CPU (user+system seconds per wall second, from /proc/<pid>/stat) over a
//!    window, its RSS (VmRSS, VmHWM) and threads, with 0, 1, 2, 4, 8 and 16 viewers watching,
//!    at 1280x720@30 and 640x480@30 (`pattern=ball`, x264enc), how many encoders the pipeline
//!    held (the agent logs `encoders=` as each viewer joins), and, as one viewer leaves
//!    halfway, the longest wait between two frames of the others. The one-encode floor is the
//!    CPU with the pipeline running and nobody watching, measured in the same window on a twin:
//!    a second agent with the same flags that nobody watches (this machine's speed drifts by
//!    tens of percent within a run, so a floor measured minutes earlier is no yardstick);
//! 3. recording: the agent's CPU with recording on and off (two agents side by side in one
//!    window, 0 and 4 viewers each), the bytes on disk per hour, the write amplification
//!    (bytes written / H.264 bytes, from the health file) and an export's throughput over the
//!    peer connection;
//! 4. sound: the agent's CPU with `--audio` and without (two agents side by side in one window,
//!    1 and 8 viewers each, and the added cost per viewer), and A/V sync as the probe measures
//!    it (the beep's arrival against the frame where the picture's clock shows the next second).
//!
//! `cargo build --release -p mumu-server -p mumu-agent && cargo bench -p mumu-probe --bench agent`
//! (the bench builds the two release binaries itself, so the first part is only needed
//! elsewhere). `MUMU_BENCH_WINDOW_SECS` (default 15) sets the CPU window,
//! `MUMU_BENCH_TRIES` (default 20) the tries per time-to-first-frame figure,
//! `MUMU_BENCH_ONLY=ttff`, `=load`, `=recording` or `=audio` runs one part, and `MUMU_BENCH_SIZE=640x480`
//! (or `1280x720`) one picture size. `MUMU_AGENT_BIN` measures another build of
//! the agent (an earlier commit's, for a before/after). Under
//! `cargo test --all-targets` (no `--bench` argument) it makes a small smoke run with debug
//! builds instead (those `cargo test --workspace` built), checking that the benchmark still
//! works; its figures mean nothing.

#[path = "agent/audio.rs"]
mod audio;
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "agent/recording.rs"]
mod recording;

use common::System;
use common::bench::{build_release_binaries, env_u64, percentile};
use common::proc::Proc;
use mumu_probe::watch::{Summary, WatchError, WatchOptions};
use std::time::{Duration, Instant};

/// Figures measured earlier on this machine for the alternatives (DESIGN.md, Targets):
/// sender CPU-s/s at 640x480@30 with 1 / 4 / 8 viewers.
const AIORTC_CPU: [f64; 3] = [0.13, 0.45, 0.85];
const WEBRTCSINK_CPU: [f64; 3] = [0.09, 0.17, 0.27];

struct Ttff {
    label: String,
    samples: Vec<f64>,
    /// The parts of the median try: offer, connected.
    offer_p50: f64,
    connected_p50: f64,
}

impl Ttff {
    fn from(label: String, summaries: &[Summary]) -> Self {
        let sorted = |f: fn(&Summary) -> Option<f64>| {
            let mut v: Vec<f64> = summaries.iter().filter_map(f).collect();
            v.sort_by(f64::total_cmp);
            v
        };
        Self {
            label,
            samples: sorted(|s| s.first_frame_ms),
            offer_p50: percentile(&sorted(|s| s.offer_ms), 50.0),
            connected_p50: percentile(&sorted(|s| s.connected_ms), 50.0),
        }
    }

    fn row(&self) -> String {
        format!(
            "{:<40} {:>4} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>10.1} {:>12.1}",
            self.label,
            self.samples.len(),
            percentile(&self.samples, 50.0),
            percentile(&self.samples, 95.0),
            self.samples.first().copied().unwrap_or(f64::NAN),
            self.samples.last().copied().unwrap_or(f64::NAN),
            self.offer_p50,
            self.connected_p50,
        )
    }
}

/// One short watch that must show decodable video.
async fn one_watch(system: &System) -> Summary {
    let summary = system.watch_ok(0.3).await;
    assert!(summary.first_frame_verified, "{summary:?}");
    summary
}

/// How often the agent logged `needle`.
fn logged(system: &System, needle: &str) -> usize {
    system.agent_log().matches(needle).count()
}

/// Time to first frame at one size, warm and from stopped.
async fn time_to_first_frame(size: &[&str], label: &str, tries: usize) -> Vec<Ttff> {
    let mut args = vec!["--idle-stop-secs", "0"];
    args.extend_from_slice(size);
    let warm = System::start_with(&args).await;
    // The first watch of a process pays for webrtcbin's DTLS certificate: shown on its own.
    let first = one_watch(&warm).await;
    let mut summaries = Vec::new();
    for _ in 0..tries {
        summaries.push(one_watch(&warm).await);
    }
    drop(warm);

    let mut args = vec!["--idle-stop-secs", "1"];
    args.extend_from_slice(size);
    let cold = System::start_with(&args).await;
    one_watch(&cold).await;
    let mut from_stopped = Vec::new();
    for _ in 0..tries {
        let stops = logged(&cold, "capture pipeline stopped");
        common::wait_until("the idle pipeline stopped", Duration::from_secs(30), || {
            (logged(&cold, "capture pipeline stopped") > stops).then_some(())
        })
        .await;
        from_stopped.push(one_watch(&cold).await);
    }
    vec![
        Ttff::from(format!("{label} first watch of the process"), &[first]),
        Ttff::from(format!("{label} pipeline running"), &summaries),
        Ttff::from(format!("{label} pipeline stopped"), &from_stopped),
    ]
}

struct Load {
    viewers: usize,
    cpu: f64,
    /// The CPU of the twin (an identical agent nobody watches) in the same window.
    twin_cpu: f64,
    rss: f64,
    hwm: f64,
    min_fps: f64,
    /// The longest wait between two frames of a viewer that stayed, while one left.
    max_gap_ms: f64,
    threads: usize,
    encoders: usize,
}

/// Watches running as tasks.
type Watches = Vec<tokio::task::JoinHandle<Result<Summary, WatchError>>>;

/// One picture size's rows of a side-by-side CPU comparison (viewers, CPU-s/s with the feature
/// `on`, without it `off`), under `title` and the columns' heading when `heading`.
pub(crate) fn print_on_off(
    title: &str,
    (on, off): (&str, &str),
    label: &str,
    rows: &[(usize, f64, f64)],
    heading: bool,
) {
    if heading {
        println!("\n{title}");
        println!(
            "{:<12} {:>7} {:>9} {:>9} {:>14}",
            "size", "viewers", on, off, "added (% core)"
        );
    }
    for (viewers, with, without) in rows {
        println!(
            "{label:<12} {viewers:>7} {with:>9.3} {without:>9.3} {:>14.1}",
            (with - without) * 100.0
        );
    }
}

/// The CPU-s/s of each process over the same `window`.
pub(crate) async fn cpu_over<const N: usize>(procs: [&Proc; N], window: Duration) -> [f64; N] {
    let (cpu0, t0) = (procs.map(Proc::cpu_seconds), Instant::now());
    tokio::time::sleep(window).await;
    let seconds = t0.elapsed().as_secs_f64();
    let cpu1 = procs.map(Proc::cpu_seconds);
    std::array::from_fn(|i| (cpu1[i] - cpu0[i]) / seconds)
}

/// `viewers` watches of the owner's camera, `stays` seconds each; with `first_leaves`, the
/// first one leaves after that many.
fn start_watching(
    system: &System,
    viewers: usize,
    stays: f64,
    first_leaves: Option<f64>,
) -> Watches {
    (0..viewers)
        .map(|i| {
            let base = system.base.clone();
            let seconds = match first_leaves {
                Some(leaves) if i == 0 => leaves,
                _ => stays,
            };
            tokio::spawn(async move { common::watch_at(&base, seconds).await })
        })
        .collect()
}

/// The watches' summaries, each of which must have run to its end.
async fn finished(system: &System, watching: Watches) -> Vec<Summary> {
    let mut summaries = Vec::new();
    for watch in watching {
        let summary = watch
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("a viewer failed: {e}\n{}", system.agent_log()));
        assert!(summary.ended_early.is_none(), "{summary:?}");
        summaries.push(summary);
    }
    summaries
}

/// The twin: a second agent with the same flags, paired to its own user and watched once (so
/// that, like the measured agent, it has loaded what a viewer needs and its pipeline runs), then
/// left without viewers. Its CPU in each window is the one-encode floor of that very window:
/// this machine's speed drifts by tens of percent within a run (other tenants of the host), so a
/// floor measured minutes earlier is no yardstick.
async fn start_twin(system: &System) -> common::Running {
    let (twin, code) = system.start_another_agent("twin").await;
    let auth = system.register_invited("twin").await;
    common::pair(&system.base, &auth.access_token, &code, "Twin").await;
    let options = WatchOptions::new(
        &system.base,
        "twin",
        common::PASSWORD,
        Duration::from_millis(300),
    );
    let summary = mumu_probe::watch::watch(&options)
        .await
        .expect("the twin streams");
    assert!(summary.first_frame_verified, "{summary:?}");
    twin
}

/// The agent's CPU and memory with each number of viewers, at one size, beside its twin's CPU.
/// With two viewers or more, one of them leaves halfway through the window: the others must not
/// stall.
async fn load(size: &[&str], counts: &[usize], settle: Duration, window: Duration) -> Vec<Load> {
    let most = counts.iter().max().copied().unwrap_or(1).to_string();
    let mut args = vec![
        "--idle-stop-secs",
        "0",
        "--test-pattern",
        "ball",
        "--max-viewers",
        &most,
    ];
    args.extend_from_slice(size);
    // The server's own limits allow that many viewers of one camera, logging in at once.
    let server_env = [
        ("MUMU_MAX_SESSIONS_PER_DEVICE", most.as_str()),
        ("MUMU_MAX_SOCKETS_PER_USER", "1000"),
        ("MUMU_LOGIN_FAILURES_PER_MIN", "1000"),
        ("MUMU_WATCHES_PER_MIN", "0"),
    ];
    let system = System::start_full(&args, &server_env, async |_| {}).await;
    one_watch(&system).await; // loads what a viewer needs, once
    let twin_process = start_twin(&system).await;
    let (agent, twin) = (Proc(system.agent_pid()), Proc(twin_process.0.id()));
    let stays = (settle + window).as_secs_f64() + 1.0;
    let mut rows = Vec::new();
    for &viewers in counts {
        let leaves = (viewers > 1).then(|| (settle + window / 2).as_secs_f64());
        let watching = start_watching(&system, viewers, stays, leaves);
        tokio::time::sleep(settle).await;
        let [cpu, twin_cpu] = cpu_over([&agent, &twin], window).await;
        let (rss, hwm) = (agent.status_mib("VmRSS:"), agent.status_mib("VmHWM:"));
        let threads = agent.status("Threads:") as usize;
        let summaries = finished(&system, watching).await;
        let min_fps = summaries
            .iter()
            .map(|s| s.fps)
            .fold(f64::INFINITY, f64::min);
        // The first viewer is the one that left.
        let max_gap_ms = summaries
            .iter()
            .skip(1)
            .map(|s| s.max_frame_gap_ms)
            .fold(0.0, f64::max);
        let encoders = max_logged_encoders(&system);
        rows.push(Load {
            viewers,
            cpu,
            twin_cpu,
            rss,
            hwm,
            min_fps: if viewers == 0 { f64::NAN } else { min_fps },
            max_gap_ms: if viewers > 1 { max_gap_ms } else { f64::NAN },
            threads,
            encoders,
        });
        // Let the branches go before the next count.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    twin_process.terminate();
    rows
}

/// The row for `n` viewers.
fn row_of(rows: &[Load], n: usize) -> Option<&Load> {
    rows.iter().find(|r| r.viewers == n)
}

/// The most encoders the agent reported in its pipeline as viewers joined.
fn max_logged_encoders(system: &System) -> usize {
    system
        .agent_log()
        .lines()
        .filter(|l| l.contains("viewer branch attached"))
        .filter_map(|l| {
            l.split("encoders=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    if !smoke {
        // Under `cargo test --workspace --all-targets` the debug binaries are built already
        // (as for the full-system tests); building them here with this package's feature set
        // would only rebuild them.
        build_release_binaries();
    }
    let tries = if smoke {
        2
    } else {
        env_u64("MUMU_BENCH_TRIES", 20) as usize
    };
    let window = Duration::from_secs(if smoke {
        1
    } else {
        env_u64("MUMU_BENCH_WINDOW_SECS", 15)
    });
    let settle = Duration::from_secs(if smoke { 2 } else { 4 });
    let counts: &[usize] = if smoke {
        &[0, 1, 2]
    } else {
        &[0, 1, 2, 4, 8, 16]
    };
    let sizes: &[(&str, [&str; 4])] = if smoke {
        &[("640x480@30", ["--width", "640", "--height", "480"])]
    } else {
        &[
            ("1280x720@30", ["--width", "1280", "--height", "720"]),
            ("640x480@30", ["--width", "640", "--height", "480"]),
        ]
    };
    // MUMU_BENCH_SIZE=640x480 (or 1280x720) runs one picture size.
    let only_size = std::env::var("MUMU_BENCH_SIZE").unwrap_or_default();
    let sizes: Vec<_> = sizes
        .iter()
        .filter(|(label, _)| label.starts_with(only_size.as_str()))
        .collect();
    println!(
        "mumu-agent benchmark: {} builds, loopback, test picture pattern=ball, x264enc{}",
        if smoke { "debug" } else { "release" },
        if smoke {
            " -- smoke run under cargo test: sizes reduced, figures meaningless"
        } else {
            ""
        }
    );

    // MUMU_BENCH_ONLY=ttff, =load, =recording or =audio runs one part.
    let only = std::env::var("MUMU_BENCH_ONLY").unwrap_or_default();
    let runs = |part: &str| only.is_empty() || only == part;
    let mut ttff = Vec::new();
    let mut loads = Vec::new();
    let mut recordings = Vec::new();
    let mut sounds = Vec::new();
    let recording_counts: &[usize] = if smoke { &[0] } else { &[0, 4] };
    let audio_counts: &[usize] = if smoke { &[1] } else { &[1, 8] };
    let sync_secs = if smoke { 3.0 } else { 20.0 };
    for (label, size) in sizes {
        if runs("ttff") {
            ttff.extend(time_to_first_frame(size, label, tries).await);
        }
        if runs("load") {
            loads.push((*label, load(size, counts, settle, window).await));
        }
        if runs("recording") {
            recordings
                .push(recording::recording(label, size, recording_counts, settle, window).await);
        }
        if runs("audio") {
            sounds.push(audio::audio(label, size, audio_counts, settle, window, sync_secs).await);
        }
    }
    recording::print(&recordings);
    audio::print(&sounds);

    println!(
        "\nTime to first frame, ms (watch_request sent -> first decodable frame in the probe, through the server)"
    );
    println!(
        "{:<40} {:>4} {:>8} {:>8} {:>8} {:>8} {:>10} {:>12}",
        "", "n", "p50", "p95", "min", "max", "offer p50", "connected p50"
    );
    for row in &ttff {
        println!("{}", row.row());
    }

    if loads.is_empty() {
        return;
    }
    println!(
        "\nAgent CPU (CPU-s/s over {} s) and memory (MiB) by viewers watching; the twin is an identical \
         agent nobody watches, measured in the same window",
        window.as_secs()
    );
    let mut header = format!("{:>7}", "viewers");
    for (label, _) in &loads {
        header += &format!(" | {label:^80}");
    }
    println!("{header}");
    let mut sub = format!("{:>7}", "");
    for _ in &loads {
        sub += &format!(
            " | {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>11} {:>7} {:>8}",
            "CPU", "twin", "x twin", "RSS", "HWM", "min fps", "gap ms (1)", "threads", "encoders"
        );
    }
    println!("{sub}");
    for (i, viewers) in counts.iter().enumerate() {
        let mut line = format!("{viewers:>7}");
        for (_, rows) in &loads {
            let r = &rows[i];
            line += &format!(
                " | {:>7.3} {:>7.3} {:>7.2} {:>7.1} {:>7.1} {:>8.1} {:>11.0} {:>7} {:>8}",
                r.cpu,
                r.twin_cpu,
                r.cpu / r.twin_cpu,
                r.rss,
                r.hwm,
                r.min_fps,
                r.max_gap_ms,
                r.threads,
                r.encoders
            );
        }
        println!("{line}");
    }
    println!(
        "(1) the longest wait between two frames of the viewers that stayed while one of them left"
    );
    for (label, rows) in &loads {
        if let (Some(one), Some(four)) = (row_of(rows, 1), row_of(rows, 4)) {
            println!(
                "{label}: 4 viewers = {:.2}x the CPU of one, each against its twin (aim < 1.3x)",
                (four.cpu / four.twin_cpu) / (one.cpu / one.twin_cpu)
            );
        }
        let (Some(floor), Some(most)) = (rows.first(), rows.last()) else {
            continue;
        };
        if most.viewers > floor.viewers {
            let added = (most.viewers - floor.viewers) as f64;
            println!(
                "{label}: {} viewers = {:.2}x the one-encode floor, the twin's CPU in the same window (aim < 1.5x; \
                 {:.2}x the {}-viewer row, minutes earlier); per viewer: {:.3} MiB RSS (aim < 1 MiB), {:.1} threads",
                most.viewers,
                most.cpu / most.twin_cpu,
                most.cpu / floor.cpu,
                floor.viewers,
                (most.rss - floor.rss) / added,
                (most.threads as f64 - floor.threads as f64) / added,
            );
        }
        let encoders = rows.iter().map(|r| r.encoders).max().unwrap_or(0);
        println!(
            "{label}: at most {encoders} encoder element(s) in the pipeline at any viewer count"
        );
    }
    if let Some((_, rows)) = loads.iter().find(|(l, _)| *l == "640x480@30") {
        let ours = [1, 4, 8].map(|n| row_of(rows, n).map_or(f64::NAN, |r| r.cpu));
        println!(
            "\nSender CPU-s/s at 640x480@30, 1 / 4 / 8 viewers, side by side (aim: 8 viewers <= 0.14)"
        );
        println!(
            "  MuMu agent (this run)          {:.3} / {:.3} / {:.3}",
            ours[0], ours[1], ours[2]
        );
        println!(
            "  webrtcsink 0.15.4 (DESIGN.md)  {:.3} / {:.3} / {:.3}",
            WEBRTCSINK_CPU[0], WEBRTCSINK_CPU[1], WEBRTCSINK_CPU[2]
        );
        println!(
            "  aiortc 1.16 (DESIGN.md)        {:.3} / {:.3} / {:.3}",
            AIORTC_CPU[0], AIORTC_CPU[1], AIORTC_CPU[2]
        );
    }
}
