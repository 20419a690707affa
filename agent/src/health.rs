//! A file the agent touches each time the server acknowledges it (the hello, every heartbeat),
//! and `mumu-agent health`, which reads its age: a container's health check that needs no port,
//! no curl and no shell. Off unless `--health-file` is given (an SD card is spared the writes).
//!
//! The file's first line is the time of the server's last answer (Unix ms). While the camera
//! records, counters follow it, one `name value` per line as Prometheus writes them, for the
//! Pi's watchdog and for people: whether the recorder runs, frames dropped before the disk (the
//! recorder's queue) and by it, bytes recorded and written, segments, write errors. While
//! motion detection is on, its counters follow (`mumu_motion_*`): whether the detector runs,
//! pictures looked at and dropped, events, thumbnails, errors.

use crate::media::recorder::RecorderStats;
use crate::motion::service::MotionHealth;
use crate::recording::WriterStats;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use thiserror::Error;

/// The recording's state, as the health file reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordingHealth {
    /// The recorder's branch is in the pipeline.
    pub recording: bool,
    /// What the recorder counts before the disk.
    pub recorder: RecorderStats,
    /// What the writer and retention count.
    pub store: WriterStats,
}

impl RecordingHealth {
    /// The counters as `name value` lines.
    pub fn lines(&self) -> String {
        let Self {
            recording,
            recorder,
            store,
        } = self;
        [
            ("mumu_recording_active", u64::from(*recording)),
            ("mumu_recording_frames_taken_total", recorder.frames_taken),
            (
                "mumu_recording_frames_dropped_before_disk_total",
                recorder.frames_dropped,
            ),
            ("mumu_recording_frames_written_total", store.frames_written),
            (
                "mumu_recording_frames_dropped_by_disk_total",
                store.frames_dropped,
            ),
            ("mumu_recording_bytes_recorded_total", store.bytes_recorded),
            ("mumu_recording_bytes_written_total", store.bytes_written),
            ("mumu_recording_segments_total", store.segments),
            (
                "mumu_recording_segments_deleted_total",
                store.segments_deleted,
            ),
            ("mumu_recording_write_errors_total", store.write_errors),
        ]
        .iter()
        .map(|(name, value)| format!("{name} {value}\n"))
        .collect()
    }
}

type RecordingProbe = Box<dyn Fn() -> RecordingHealth + Send>;

/// What reads the recording's counters, while the camera records.
static RECORDING: Mutex<Option<RecordingProbe>> = Mutex::new(None);

/// From now on each mark also writes what `probe` reads (`None`: the recording stopped).
pub fn report_recording(probe: Option<RecordingProbe>) {
    *RECORDING.lock().unwrap_or_else(|e| e.into_inner()) = probe;
}

type MotionProbe = Box<dyn Fn() -> MotionHealth + Send>;

/// What reads the motion detector's counters, while it runs.
static MOTION: Mutex<Option<MotionProbe>> = Mutex::new(None);

/// From now on each mark also writes what `probe` reads (`None`: detection stopped).
pub fn report_motion(probe: Option<MotionProbe>) {
    *MOTION.lock().unwrap_or_else(|e| e.into_inner()) = probe;
}

/// The motion detector's counters now, while it runs.
pub fn motion() -> Option<MotionHealth> {
    MOTION
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|probe| probe())
}

/// Heartbeats come every 20 s: older than this, three went unanswered.
pub const MAX_AGE: Duration = Duration::from_secs(90);

/// Why the agent is not healthy.
#[derive(Debug, Error)]
pub enum Unhealthy {
    /// No file: the agent never reached the server (or is not told to write one).
    #[error("{path}: the agent has not reached its server yet ({source})")]
    NeverConnected {
        /// The health file.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The server has not answered for too long.
    #[error("the server last answered {} s ago (more than {} s)", .age.as_secs(), MAX_AGE.as_secs())]
    Stale {
        /// Since the last answer.
        age: Duration,
    },
}

/// The recording's counters now, while the camera records.
pub fn recording() -> Option<RecordingHealth> {
    RECORDING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|probe| probe())
}

/// Records that the server just answered.
pub fn mark(path: &Path) {
    let now = crate::now_ms();
    let recording = recording().map(|r| r.lines()).unwrap_or_default();
    let motion = motion().map(|m| m.lines()).unwrap_or_default();
    if let Err(e) = std::fs::write(path, format!("{now}\n{recording}{motion}")) {
        tracing::warn!(path = %path.display(), "cannot write the health file: {e}");
    }
}

/// How long ago the server last answered, if recently enough.
pub fn check(path: &Path) -> Result<Duration, Unhealthy> {
    let never = |source| Unhealthy::NeverConnected {
        path: path.display().to_string(),
        source,
    };
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(never)?;
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    if age > MAX_AGE {
        return Err(Unhealthy::Stale { age });
    }
    Ok(age)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recording_counters_are_one_per_line() {
        let health = RecordingHealth {
            recording: true,
            recorder: RecorderStats {
                frames_taken: 900,
                frames_dropped: 3,
            },
            store: WriterStats {
                frames_written: 897,
                ..WriterStats::default()
            },
        };
        let lines = health.lines();
        assert!(lines.starts_with("mumu_recording_active 1\n"), "{lines}");
        assert!(lines.contains("\nmumu_recording_frames_dropped_before_disk_total 3\n"));
        assert!(lines.contains("\nmumu_recording_frames_written_total 897\n"));
        assert_eq!(lines.lines().count(), 10);
    }

    #[test]
    fn the_motion_counters_are_one_per_line() {
        let health = MotionHealth {
            active: true,
            pictures: 3_000,
            events_recorded: 2,
            ..MotionHealth::default()
        };
        let lines = health.lines();
        assert!(lines.starts_with("mumu_motion_active 1\n"), "{lines}");
        assert!(lines.contains("\nmumu_motion_pictures_total 3000\n"));
        assert!(lines.contains("\nmumu_motion_events_total 2\n"));
        assert_eq!(lines.lines().count(), 8);
    }

    #[test]
    fn healthy_after_a_mark_and_stale_when_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alive");
        let never = check(&path).unwrap_err();
        assert!(matches!(never, Unhealthy::NeverConnected { .. }), "{never}");
        mark(&path);
        assert!(check(&path).unwrap() < Duration::from_secs(5));
        let old = SystemTime::now() - MAX_AGE - Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let stale = check(&path).unwrap_err();
        assert!(
            stale.to_string().starts_with("the server last answered 9"),
            "{stale}"
        );
    }
}
