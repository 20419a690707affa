//! What motion detection costs the camera: the agent's capture pipeline (the simulator, x264)
//! run at 1280x720 and 640x480 at 30 fps, in alternating windows without and with the
//! detector, measuring the process's CPU time (from /proc) and the detector thread's own.
//!
//! `cargo run --release -p mumu-agent --example motion_cost [WINDOW_SECS] [ROUNDS]`
//! (defaults 10 and 3). Run it on an idle machine: it measures the whole process.
//!
//! `... --example motion_cost quiet [SECS]` instead runs the still simulator (1280x720, its
//! clock included) with the detector for `SECS` (default 600) and prints the events it made:
//! there should be none.
//!
//! `... --example motion_cost crossings [SECS] [EVERY]` runs the simulator with an object
//! crossing every `EVERY` seconds (default 5) for `SECS` (default 120) and prints the crossings
//! against the events: one event per crossing.

use mumu_agent::media::VideoSettings;
use mumu_agent::media::capture::{Capture, Encoder, Source};
use mumu_agent::motion::MotionService;
use mumu_agent::motion::store::Retention;
use mumu_shared::events::MotionSettings;
use std::time::{Duration, Instant};

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

/// utime + stime of a /proc stat line, in seconds.
fn cpu_of(stat: &str) -> f64 {
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    ticks as f64 / TICKS
}

fn process_cpu() -> f64 {
    cpu_of(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default())
}

/// CPU seconds of this process's threads named `name`.
fn thread_cpu(name: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.trim() == name)
        })
        .map(|task| cpu_of(&std::fs::read_to_string(task.path().join("stat")).unwrap_or_default()))
        .sum()
}

/// CPU seconds per second over `window`, and the detector thread's.
async fn measure(window: Duration) -> (f64, f64) {
    let (cpu, motion, started) = (process_cpu(), thread_cpu("motion"), Instant::now());
    tokio::time::sleep(window).await;
    let elapsed = started.elapsed().as_secs_f64();
    (
        (process_cpu() - cpu) / elapsed,
        (thread_cpu("motion") - motion).max(0.0) / elapsed,
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1).peekable();
    gstreamer::init().expect("GStreamer initialises");
    if args.peek().is_some_and(|a| a == "quiet") {
        args.next();
        let secs = args.next().and_then(|a| a.parse().ok()).unwrap_or(600);
        return quiet(Duration::from_secs(secs)).await;
    }
    if args.peek().is_some_and(|a| a == "crossings") {
        args.next();
        let secs = args.next().and_then(|a| a.parse().ok()).unwrap_or(120);
        let every = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
        return crossings(Duration::from_secs(secs), Duration::from_secs(every)).await;
    }
    let window = Duration::from_secs(args.next().and_then(|a| a.parse().ok()).unwrap_or(10));
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    println!(
        "motion detection cost: simulator (smpte75 + clock), x264enc, 30 fps, {} s windows, {rounds} rounds",
        window.as_secs()
    );
    println!("| size | without, CPU-s/s | with, CPU-s/s | added | detector thread |");
    println!("| --- | --- | --- | --- | --- |");
    for (width, height) in [(1280, 720), (640, 480)] {
        let settings = simulator(width, height);
        let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
        let capture = Capture::start(&settings, events).expect("the pipeline starts");
        let dir = tempfile::tempdir().expect("a temporary directory");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (mut without, mut with, mut thread) = (vec![], vec![], vec![]);
        for _ in 0..rounds {
            without.push(measure(window).await.0);
            let service = MotionService::start_with(
                &capture,
                dir.path(),
                MotionSettings::default(),
                true,
                Retention::default(),
            )
            .expect("detection starts");
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (cpu, detector) = measure(window).await;
            with.push(cpu);
            thread.push(detector);
            tokio::task::spawn_blocking(move || service.stop())
                .await
                .expect("stopped");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (a, b) = (mean(&without), mean(&with));
        println!(
            "| {width}x{height} | {a:.4} | {b:.4} | {:.4} ({:.1} % of a core) | {:.4} |",
            b - a,
            (b - a) * 100.0,
            mean(&thread)
        );
        eprintln!("  without {without:.4?}, with {with:.4?}, detector thread {thread:.4?}");
        capture.shut_down();
    }
}

/// The agent's simulator at `width` x `height`, 30 fps, as the agent encodes it by default.
fn simulator(width: u32, height: u32) -> VideoSettings {
    VideoSettings {
        source: Source::Test {
            pattern: mumu_agent::media::source::DEFAULT_PATTERN.into(),
        },
        encoder: Some(Encoder::X264),
        width,
        height,
        framerate: 30,
        bitrate_kbps: 1500,
        key_int: 60,
        ..VideoSettings::small_test()
    }
}

/// The still simulator watched for `length`: the events it made.
async fn quiet(length: Duration) {
    let (pictures, dropped, found) = detect(simulator(1280, 720), length).await;
    println!(
        "still simulator, 1280x720, {} s: {pictures} pictures looked at, {dropped} dropped, {} events {found:?}",
        length.as_secs(),
        found.len()
    );
}

/// The simulator with an object crossing every `every`, watched for `length`: one event per
/// crossing is right.
async fn crossings(length: Duration, every: Duration) {
    let settings = VideoSettings {
        simulated_motion: Some(every),
        ..simulator(1280, 720)
    };
    let started = Instant::now();
    let (pictures, dropped, found) = detect(settings, length).await;
    // A crossing starts at every multiple of `every` of the picture's clock, the first at once.
    let crossings = started.elapsed().as_millis() / every.as_millis().max(1) + 1;
    let starts: Vec<i64> = found.iter().map(|e| e.start).collect();
    println!(
        "simulator crossing every {} s, 1280x720, {} s: {pictures} pictures looked at, {dropped} dropped, {crossings} crossings, {} events (one per crossing is right), starts {starts:?}",
        every.as_secs(),
        length.as_secs(),
        found.len()
    );
}

/// Detection on the simulator `settings` for `length`: pictures looked at, dropped, and the
/// events made.
async fn detect(
    settings: VideoSettings,
    length: Duration,
) -> (u64, u64, Vec<mumu_shared::events::EventRecord>) {
    let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
    let capture = Capture::start(&settings, events).expect("the pipeline starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let service = MotionService::start_with(
        &capture,
        dir.path(),
        MotionSettings::default(),
        true,
        Retention::default(),
    )
    .expect("detection starts");
    tokio::time::sleep(length).await;
    let health = service.health_probe()();
    let found = service.events();
    tokio::task::spawn_blocking(move || service.stop())
        .await
        .expect("stopped");
    capture.shut_down();
    (health.pictures, health.pictures_dropped, found)
}
