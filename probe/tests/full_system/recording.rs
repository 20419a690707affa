//! A recording camera, whole: the agent records its simulated camera; the probe, watching
//! through the real server, lists, plays and exports the recording over the session's
//! `history` data channel, and the server's own I/O shows none of it passed through it.

use crate::common::{PASSWORD, System};
use mumu_probe::history::{HistoryChannel, HistoryError, fragment_times};
use mumu_probe::watch::{Summary, WatchError, WatchOptions, watch};
use mumu_shared::UnixMillis;
use mumu_shared::history::{RefusalCode, Span};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio::sync::mpsc;

/// Ten-second segments, so that a short test crosses several.
const SEGMENT_SECS: &str = "10";

fn now() -> UnixMillis {
    mumu_probe::now_ms()
}

/// The system with the agent recording into a directory of the test's.
async fn recording_system(extra: &[&str]) -> (System, PathBuf) {
    let dir = tempfile::tempdir().unwrap().keep();
    let recordings = dir.join("recordings");
    let recordings_arg = recordings.to_str().unwrap().to_owned();
    let mut args = vec![
        "--record-dir",
        &recordings_arg,
        "--record-segment-secs",
        SEGMENT_SECS,
        // A bound of its own: the default (fill the disk to 90 %) keeps only the segment being
        // written on a build machine's fuller disk.
        "--record-max-gb",
        "1",
    ];
    args.extend_from_slice(extra);
    (System::start_with(&args).await, recordings)
}

/// A watch as `user` that runs in the background for `seconds`, and the camera's history
/// channel in it.
pub(crate) async fn watch_with_history(
    system: &System,
    user: &str,
    seconds: u64,
) -> (
    tokio::task::JoinHandle<Result<Summary, WatchError>>,
    HistoryChannel,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut options = WatchOptions::new(&system.base, user, PASSWORD, Duration::from_secs(seconds));
    options.history = Some(tx);
    let watching = tokio::spawn(async move { watch(&options).await });
    let channel = tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("the camera opened its history channel within 15 s")
        .expect("the watch is running");
    (watching, channel)
}

/// The bytes the process `pid` has read and written through system calls (sockets, files).
pub(crate) fn io_bytes(pid: u32) -> u64 {
    crate::common::proc::Proc(pid).io_bytes()
}

/// `gst-discoverer-1.0`'s verdict on `path`: its duration in seconds, or what it said.
fn discover(path: &Path) -> Result<f64, String> {
    let out = Command::new("gst-discoverer-1.0")
        .arg(path)
        .output()
        .map_err(|e| format!("gst-discoverer-1.0: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || !text.contains("Done discovering") || text.contains("error") {
        return Err(text);
    }
    let duration = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Duration: "))
        .ok_or_else(|| format!("no duration: {text}"))?;
    // h:mm:ss.nnnnnnnnn
    let mut parts = duration.split(':');
    let (h, m, s) = (parts.next(), parts.next(), parts.next());
    let seconds = h.and_then(|h| h.parse::<f64>().ok()).unwrap_or(0.0) * 3600.0
        + m.and_then(|m| m.parse::<f64>().ok()).unwrap_or(0.0) * 60.0
        + s.and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    Ok(seconds)
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn covers(spans: &[Span], from: UnixMillis, to: UnixMillis) -> bool {
    spans.iter().any(|s| s.start <= from && s.end >= to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_plays_and_exports_peer_to_peer_and_the_server_carries_none_of_it() {
    let (system, recordings) = recording_system(&[]).await;
    let started = now();
    // Recording runs with nobody watching: the capture's owner keeps the camera up for it.
    tokio::time::sleep(Duration::from_secs(40)).await;
    assert!(
        segments(&recordings).len() >= 3,
        "ten-second segments after 40 s: {:?}\n{}",
        segments(&recordings),
        system.agent_log()
    );

    let (watching, mut history) = watch_with_history(&system, "owner", 60).await;
    let listed = history
        .list(now() - 3_600_000, now() + 60_000)
        .await
        .unwrap();
    assert!(listed.recording, "{listed:?}");
    assert!(
        covers(&listed.spans, started + 3_000, now() - 3_000),
        "one unbroken span from the start to now: {listed:?}"
    );

    // Play from 30 s ago, with the server's I/O counted around it.
    let server_pid = system.server.as_ref().unwrap().0.id();
    let io_before = io_bytes(server_pid);
    let at = now() - 30_000;
    let playing = history.play(1, at, Duration::from_secs(20)).await.unwrap();
    assert!(
        playing.mime.starts_with("video/mp4; codecs=\"avc1."),
        "{playing:?}"
    );
    assert!(
        playing.start <= at && at - playing.start <= 2_500,
        "playback starts at the keyframe at or before the time asked for (keyframes every 2 s): asked {at}, got {playing:?}"
    );
    let (bytes, _) = history
        .collect(1, Duration::from_secs(5), |b| {
            fragment_times(b).1.len() >= 15
        })
        .await
        .unwrap();
    let (timescale, fragments) = fragment_times(&bytes);
    let timescale = f64::from(timescale.expect("an init segment came first"));
    let wall = |decode_time: u64| playing.origin + (decode_time as f64 / timescale * 1000.0) as i64;
    let first = wall(fragments[0].decode_time);
    assert!(
        (first - playing.start).abs() <= 100,
        "the first fragment's time is the playback's start: {first} vs {playing:?}"
    );
    assert!(
        fragments
            .iter()
            .any(|f| (wall(f.decode_time) - at).abs() <= 1_000
                || (wall(f.decode_time) <= at && f.samples > 0)),
        "a fragment within 1 s of the time asked for"
    );
    history.stop(1).await.unwrap();

    // Export 20 s, then resume it from the middle: the same bytes.
    let (from, to) = (now() - 35_000, now() - 15_000);
    let (exporting, file) = history.export(2, from, to, 0).await.unwrap();
    assert_eq!(file.len() as u64, exporting.bytes, "{exporting:?}");
    assert!(
        exporting.start <= from && exporting.end >= to - 100,
        "{exporting:?}"
    );
    let half = file.len() as u64 / 2;
    let (_, rest) = history.export(3, from, to, half).await.unwrap();
    assert_eq!(
        rest,
        file[half as usize..],
        "a resumed export sends the same bytes"
    );
    let io_after = io_bytes(server_pid);
    let media = bytes.len() + file.len() + rest.len();
    // The simulator's ball on a plain ground is ~0.2 Mb/s: 35 s of it is ~1 MB.
    assert!(
        media > 500_000,
        "the recording went to the viewer: {media} bytes"
    );
    assert!(
        io_after - io_before < 100_000 && (io_after - io_before) * 5 < media as u64,
        "the server read and wrote {} bytes while {media} bytes of recording went to the viewer: it carried none of them",
        io_after - io_before
    );
    let path = recordings.with_file_name("export.mp4");
    std::fs::write(&path, &file).unwrap();
    let duration = discover(&path).unwrap_or_else(|e| panic!("the export does not open: {e}"));
    let expected = (exporting.end - exporting.start) as f64 / 1000.0;
    assert!(
        (duration - expected).abs() < 0.2 && duration >= 19.9,
        "the export lasts {duration} s; expected {expected} s"
    );

    // Bad requests get a clear refusal, and the channel goes on.
    history
        .send_text(r#"{"type":"play","payload":{"stream":4,"until":1}}"#)
        .await
        .unwrap();
    let refused = history.next_text(Duration::from_secs(5)).await.unwrap();
    let text = format!("{refused:?}");
    assert!(
        text.contains("BadMessage") && text.contains("at"),
        "a malformed play names the missing field: {text}"
    );
    match history
        .export(5, now() - 7_300_000, now() - 100_000, 0)
        .await
    {
        Err(HistoryError::Refused(r)) => assert_eq!(r.code, RefusalCode::BadRange, "{r:?}"),
        other => panic!("an export over an hour is refused: {other:?}"),
    }
    match history
        .play(6, started - 3_600_000, Duration::from_secs(5))
        .await
    {
        Err(HistoryError::Refused(r)) => {
            assert_eq!(r.code, RefusalCode::NoRecording, "{r:?}");
            assert!(
                r.nearest.is_some(),
                "the nearest recording is offered: {r:?}"
            );
        }
        other => panic!("playing a time with no recording is refused: {other:?}"),
    }
    let listed = history.list(now() - 60_000, now()).await.unwrap();
    assert!(!listed.spans.is_empty(), "the channel still answers");
    watching.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_loses_at_most_two_seconds_and_every_segment_still_opens() {
    let (mut system, recordings) = recording_system(&[]).await;
    tokio::time::sleep(Duration::from_secs(15)).await;
    let killed_at = now();
    let status = Command::new("kill")
        .args(["-9", &system.agent_pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_secs(3)).await;
    system.restart_agent();
    tokio::time::sleep(Duration::from_secs(12)).await;

    for segment in segments(&recordings) {
        discover(&segment)
            .unwrap_or_else(|e| panic!("{} does not open after the kill: {e}", segment.display()));
    }
    let (watching, mut history) = watch_with_history(&system, "owner", 30).await;
    let listed = history.list(killed_at - 60_000, now()).await.unwrap();
    let before = listed
        .spans
        .iter()
        .filter(|s| s.start < killed_at)
        .map(|s| s.end)
        .max()
        .expect("a span before the kill");
    assert!(
        killed_at - before <= 2_000,
        "at most 2 s lost to kill -9: recorded up to {before}, killed at {killed_at}: {listed:?}"
    );
    assert!(
        listed.spans.iter().any(|s| s.start > killed_at),
        "recording goes on after the restart: {listed:?}"
    );
    watching.abort();
}

/// The owner shares the camera with `guest` (registered here); `recordings` says whether the
/// share may see the recordings. Returns the device id.
pub(crate) async fn share_with_guest(system: &System, recordings: bool) -> String {
    let base = &system.base;
    let owner = mumu_probe::rest::login(base, "owner", PASSWORD)
        .await
        .unwrap();
    system.register_invited("guest").await;
    let client = reqwest::Client::new();
    let devices: serde_json::Value = client
        .get(format!("{base}/api/devices"))
        .bearer_auth(&owner.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let device = devices[0]["id"]
        .as_str()
        .expect("the owner's camera")
        .to_owned();
    let shared = client
        .post(format!("{base}/api/devices/{device}/shares"))
        .bearer_auth(&owner.access_token)
        .json(&serde_json::json!({ "username": "guest", "recordings": recordings }))
        .send()
        .await
        .unwrap();
    assert!(
        shared.status().is_success(),
        "{}",
        shared.text().await.unwrap()
    );
    device
}

/// The owner sets the guest's permission to see recordings.
async fn allow_guest_recordings(system: &System, device: &str, recordings: bool) {
    let owner = mumu_probe::rest::login(&system.base, "owner", PASSWORD)
        .await
        .unwrap();
    let changed = reqwest::Client::new()
        .patch(format!("{}/api/devices/{device}/shares/guest", system.base))
        .bearer_auth(&owner.access_token)
        .json(&serde_json::json!({ "recordings": recordings }))
        .send()
        .await
        .unwrap();
    assert!(
        changed.status().is_success(),
        "{}",
        changed.text().await.unwrap()
    );
}

pub(crate) fn refused_for_permission<T: std::fmt::Debug>(
    result: Result<T, HistoryError>,
    what: &str,
) {
    match result {
        Err(HistoryError::Refused(r)) => {
            assert_eq!(r.code, RefusalCode::NotPermitted, "{what}: {r:?}");
            assert!(!r.message.is_empty(), "{what}: the refusal says why");
        }
        other => panic!("{what} without the permission is refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_camera_shows_its_recordings_only_to_shares_the_owner_allowed_and_a_revocation_ends_playback()
 {
    let (system, _recordings) = recording_system(&[]).await;
    let device = share_with_guest(&system, false).await;
    tokio::time::sleep(Duration::from_secs(8)).await;

    // Without the permission: list, play and export are refused by the camera.
    let (watching, mut history) = watch_with_history(&system, "guest", 60).await;
    refused_for_permission(history.list(now() - 60_000, now()).await, "list");
    refused_for_permission(
        history.play(1, now() - 5_000, Duration::from_secs(3)).await,
        "play",
    );
    refused_for_permission(
        history.export(2, now() - 6_000, now() - 2_000, 0).await,
        "export",
    );
    watching.abort();

    // Allowed: all three work on the next watch.
    allow_guest_recordings(&system, &device, true).await;
    let (watching, mut history) = watch_with_history(&system, "guest", 60).await;
    let listed = history.list(now() - 60_000, now()).await.unwrap();
    assert!(!listed.spans.is_empty(), "{listed:?}");
    let (exporting, file) = history
        .export(2, now() - 6_000, now() - 3_000, 0)
        .await
        .unwrap();
    assert_eq!(file.len() as u64, exporting.bytes);
    history
        .play(1, now() - 6_000, Duration::from_secs(2))
        .await
        .unwrap();

    // Revoked while playing: the camera ends the playback at once, and refuses what follows.
    allow_guest_recordings(&system, &device, false).await;
    let ended = loop {
        match history.recv(Duration::from_secs(10)).await.unwrap() {
            mumu_probe::history::Incoming::Text(envelope) => {
                if let mumu_shared::history::DeviceToViewer::StreamEnded(ended) = envelope.message {
                    break ended;
                }
            }
            _ => continue,
        }
    };
    assert_eq!(
        ended.reason,
        mumu_shared::history::StreamEndReason::Revoked,
        "{ended:?}"
    );
    refused_for_permission(
        history.list(now() - 60_000, now()).await,
        "list after revoking",
    );
    watching.abort();
}
