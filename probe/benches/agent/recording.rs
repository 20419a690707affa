//! What recording costs and gives, side by side in one window: two agents with the same
//! picture, one recording and one not, each with the same number of viewers; the disk it fills
//! per hour and what it writes per byte of video; and how fast a recording leaves the camera
//! as an export over the peer connection (loopback).

use crate::common::proc::Proc;
use crate::common::{self, PASSWORD, System};
use crate::cpu_over;
use mumu_probe::watch::{WatchOptions, watch};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The figures of one picture size.
pub struct RecordingFigures {
    pub label: String,
    /// (viewers, CPU-s/s recording, CPU-s/s not recording).
    pub cpu: Vec<(usize, f64, f64)>,
    /// Bytes on disk per hour of recording, from the directory's growth over the window.
    pub bytes_per_hour: f64,
    /// Bytes written / bytes of H.264 recorded, from the agent's health file.
    pub write_amplification: Option<f64>,
    /// Export of the last `export_secs` seconds: bytes and seconds taken.
    pub export_secs: u64,
    pub export_bytes: u64,
    pub export_took: f64,
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Write amplification from the recording counters in the agent's health file
/// (`mumu_recording_bytes_written_total`, `mumu_recording_bytes_recorded_total`).
fn write_amplification(health: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(health).ok()?;
    let counter = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
    };
    let written = counter("mumu_recording_bytes_written_total ")?;
    let recorded = counter("mumu_recording_bytes_recorded_total ")?;
    (recorded > 0.0).then(|| written / recorded)
}

/// `n` watches of `user`'s camera for `seconds` each.
fn watching(base: &str, user: &str, n: usize, seconds: f64) -> Vec<tokio::task::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let options = WatchOptions::new(base, user, PASSWORD, Duration::from_secs_f64(seconds));
            tokio::spawn(async move {
                watch(&options).await.expect("a viewer watches");
            })
        })
        .collect()
}

/// Recording on against off at one size, with each of `counts` viewers on both agents.
pub async fn recording(
    label: &str,
    size: &[&str],
    counts: &[usize],
    settle: Duration,
    window: Duration,
) -> RecordingFigures {
    let scratch = tempfile::tempdir().unwrap();
    let recordings: PathBuf = scratch.path().join("recordings");
    let recordings_arg = recordings.display().to_string();
    let health = scratch.path().join("health");
    let health_arg = health.display().to_string();
    let most = counts.iter().max().copied().unwrap_or(1).max(1).to_string();
    let mut args = vec!["--idle-stop-secs", "0", "--test-pattern", "ball"];
    args.extend_from_slice(size);
    let mut recording_args = args.clone();
    recording_args.extend([
        "--record-dir",
        recordings_arg.as_str(),
        "--health-file",
        health_arg.as_str(),
    ]);
    let server_env = [
        ("MUMU_MAX_SESSIONS_PER_DEVICE", most.as_str()),
        ("MUMU_MAX_SOCKETS_PER_USER", "1000"),
        ("MUMU_LOGIN_FAILURES_PER_MIN", "1000"),
        ("MUMU_WATCHES_PER_MIN", "0"),
    ];
    let system = System::start_full(&recording_args, &server_env, async |_| {}).await;
    // The agent that does not record: the same flags otherwise, its own owner.
    let plain_args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let plain = common::start_named_agent(system.dir.path(), "plain", &system.base, &plain_args);
    let code = common::pairing_code(&system.dir.path().join("plain")).await;
    let auth = system.register_invited("plain").await;
    common::pair(&system.base, &auth.access_token, &code, "Plain").await;
    let (on, off) = (Proc(system.agent_pid()), Proc(plain.0.id()));

    let stays = (settle + window).as_secs_f64() + 1.0;
    let mut cpu = Vec::new();
    let (mut grew, mut grew_over) = (0u64, 0.0f64);
    for &viewers in counts {
        let mut tasks = watching(&system.base, "owner", viewers, stays);
        tasks.extend(watching(&system.base, "plain", viewers, stays));
        tokio::time::sleep(settle).await;
        let (before, t0) = (dir_bytes(&recordings), Instant::now());
        let [with, without] = cpu_over([&on, &off], window).await;
        grew += dir_bytes(&recordings).saturating_sub(before);
        grew_over += t0.elapsed().as_secs_f64();
        for task in tasks {
            task.await.expect("the watch task");
        }
        cpu.push((viewers, with, without));
    }

    // An export of what was recorded meanwhile, over the owner's peer connection.
    let recorded = (grew_over as u64).max(1);
    let export_secs = recorded.min(60);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut options = WatchOptions::new(&system.base, "owner", PASSWORD, Duration::from_secs(120));
    options.history = Some(tx);
    let live = tokio::spawn(async move { watch(&options).await });
    let mut history = rx.recv().await.expect("the history channel");
    let to = mumu_probe::now_ms() - 2_000;
    let from = to - export_secs as i64 * 1000;
    let started = Instant::now();
    let (exporting, bytes) = history
        .export(1, from, to, 0)
        .await
        .expect("the export completes");
    let export_took = started.elapsed().as_secs_f64();
    assert_eq!(bytes.len() as u64, exporting.bytes);
    live.abort();
    let figures = RecordingFigures {
        label: label.to_owned(),
        cpu,
        bytes_per_hour: grew as f64 / grew_over.max(0.001) * 3600.0,
        write_amplification: write_amplification(&health),
        export_secs,
        export_bytes: exporting.bytes,
        export_took,
    };
    plain.terminate();
    figures
}

/// Prints the figures of every size.
pub fn print(all: &[RecordingFigures]) {
    if all.is_empty() {
        return;
    }
    for f in all {
        crate::print_on_off(
            "Recording: agent CPU-s/s with recording on and off, the two agents side by side in one window, same viewers each",
            ("on", "off"),
            &f.label,
            &f.cpu,
            f.label == all[0].label,
        );
    }
    for f in all {
        println!(
            "{}: {:.0} MB on disk per hour of recording; write amplification {} (aim < 1.1); export of {} s: {:.1} MB in {:.2} s = {:.1} MB/s on loopback, so 10 minutes take about {:.1} s",
            f.label,
            f.bytes_per_hour / 1e6,
            f.write_amplification
                .map_or("not reported".to_owned(), |w| format!("{w:.3}")),
            f.export_secs,
            f.export_bytes as f64 / 1e6,
            f.export_took,
            f.export_bytes as f64 / 1e6 / f.export_took,
            f.export_took * 600.0 / f.export_secs as f64,
        );
    }
}
