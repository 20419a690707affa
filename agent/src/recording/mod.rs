//! Recording on the camera: the encoded stream written to disk as fragmented MP4 segments of
//! about a minute, an index of what is kept, retention, and reading it back for playback and
//! export (over the session's `history` data channel, never through the server).
//!
//! CONTRACT (the recorder branch and the history service code against these signatures):
//! - [`Store::open`] scans the directory, repairs a segment cut short by a crash, rebuilds the
//!   index from the files when it is missing or damaged, and starts retention.
//! - [`Store::writer`] gives the one [`SegmentWriter`]; the recorder pushes every encoded frame.
//! - [`Store::spans`], [`Store::playback`], [`Store::export`] read what is kept.
//!
//! # Design
//!
//! **Format.** Each segment is a fragmented MP4 file (ISO BMFF) written by our own box writer
//! (`mp4.rs`): `ftyp` + `moov` (one `avc1` track, timescale 90 kHz, SPS/PPS in `avcC`, size and
//! `avc1.PPCCLL` from the SPS, empty sample tables, `mvex` with `mehd` + `trex`), then fragments
//! of `prft` + `moof` (`mfhd`, `traf`: `tfhd` default-base-is-moof, `tfdt` v1, `trun` with
//! per-sample duration, size and flags) + `mdat`. Samples are AVCC (4-byte lengths); access unit
//! delimiters are dropped, SPS/PPS stay in-band too. Frames are assumed to come in presentation
//! order (no B-frames: x264 `tune=zerolatency` and the Pi's encoder), so decode time =
//! presentation time. A fragment is written at every keyframe and whenever a second is pending,
//! in one positional write, then `sync_data`. When a segment ends, its `moov` is rewritten in
//! place with its duration (same size), so players that do not read every fragment
//! (`gst-discoverer-1.0`) see its length. Overhead: about 0.4 KB/s of boxes (12 bytes per
//! sample + ~150 per fragment); write amplification (bytes written, index included / H.264
//! bytes taken) measured 1.008 at 1.54 Mb/s with 1 s fragments.
//!
//! **Timestamps.** Media time within a segment comes from the frames' `pts` (monotonic). Every
//! fragment's `prft` carries the wall clock (`captured_us`) of its first sample, so a sample's
//! capture time is `prft + (its decode time − the prft's media time)`: exact to the tick
//! (11 µs) while the clock does not step, and re-anchored every fragment.
//!
//! **Segments and names.** A segment starts at a keyframe and ends at the first keyframe after
//! [`Limits::segment`], when SPS/PPS change, or when the wall clock jumps: a frame's
//! `captured_us` more than 1 s away from what its `pts` predicts since the segment began (an
//! NTP step on a Pi without RTC, either way; also a pipeline restart, whose `pts` start again).
//! Frames from such a jump to the next keyframe are dropped (counted): they cannot start a
//! segment and would carry the old clock. Files are named by their first frame's capture time
//! in UTC, `20261207T161624.123Z.mp4`; a file is never overwritten (`-1`, `-2`… when a
//! backwards step meets an existing name).
//!
//! **Index.** In memory: one record per segment (file, bytes, first and last capture time),
//! sorted by start time then name; the segment being written is one more, updated at every
//! fragment. Spans are the union of segments, joined when less than 1.5 s apart, so gaps show.
//! After a backwards step, segments may overlap in wall-clock time: both are kept on disk and
//! listed in order; spans show their union (a timeline says *when* there is recording), and
//! playback reads them in start order, never letting media time go back (a fragment that
//! would is placed right after what was already sent). On disk: `index.jsonl`, one JSON line
//! per finished segment or deletion, appended and `fsync`ed, rather than a whole index
//! rewritten every minute (megabytes of flash writes a minute for a month of segments); it is
//! compacted (tmp + fsync + rename) once it holds more than twice as many lines as segments
//! plus 1000, so it stays bounded however long the agent runs. At [`Store::open`] it is
//! compacted too, after being checked against the files: lines that do not parse are ignored,
//! entries whose file is gone are dropped silently (deleted by hand), and files that are new or
//! whose size differs from their entry are parsed again, so a missing or garbage index is
//! rebuilt from the files.
//!
//! **Power loss.** A file cut short is `ftyp` + `moov` + whole fragments + part of one; at open
//! it is truncated to its last whole fragment and gets its duration (a file without a whole
//! fragment, or that is not a segment at all, is removed). Fragments are synced every second
//! at most, so `kill -9` or a power cut loses the pending second plus the fragment being
//! written (the test measures ≤ 2.1 s with 1 s fragments).
//!
//! **Retention** (at open, after each segment, after each fragment when over `max_bytes`, and
//! when a write fails for lack of space — that write is then retried once): oldest segments
//! first (by start time), until the total is under `max_bytes` (default: fill the filesystem
//! to 90 % but always leave 1 GiB free, from `statvfs`), and segments that ended longer than
//! `keep` ago. The segment being written is never deleted, so `max_bytes` should hold a few
//! segments. A write that still fails is undone (`set_len`), its frames dropped (counted in
//! [`WriterStats`], logged at most every 10 s), the segment ends, and the writer starts again
//! at the next keyframe: a full disk never panics and never stops the camera. The shared lock
//! is never held across an `fsync` or a file deletion.
//!
//! **Reading.** A [`Playback`] starts at the last keyframe at or before the time asked for and
//! yields the init segment (its durations zeroed: Media Source Extensions would take them for
//! the stream's), then whole fragments (`moof` + `mdat`, no `prft`) one at a time, their `tfdt`
//! rewritten to (capture time − origin) so gaps stay gaps; a fragment less than 50 ms from
//! where the previous one ended follows it directly (rounding, slew or a segment boundary), so
//! a capture time read back is within 50 ms. It reads on into later segments (sending a new
//! init segment if SPS/PPS changed) and into the one being written, whole fragments only.
//!
//! **Export.** An [`ExportFile`] is laid out when made: a `moov` with the duration (`mvhd`,
//! `tkhd`, `mdhd`, `mehd`), then one fragment per recorded one, the last cut at the end time,
//! media time on the same timeline as playback. Only `moof`s are kept in memory (about 2 MB for
//! an hour at 30 frames/s); `read_at` reads the samples asked for from the segment files. The
//! same request gives the same bytes while its recording is kept (and once recording has
//! passed its end), so a download can resume at an offset. It starts at the keyframe at or
//! before `from` (or where recording resumes, if `from` is in a gap) and stops early where
//! SPS/PPS change (one sample entry per file): [`ExportFile::end`] says where.

mod h264;
mod index;
mod mp4;
mod reader;
mod retention;
mod segment_file;
#[cfg(test)]
mod tests;
mod writer;

pub(crate) use index::civil_from_days;
pub use reader::{ExportFile, Playback};
pub use writer::SegmentWriter;

use index::{IndexLine, Segment, SegmentKey};

/// Lines the index log may hold beyond twice the segments before it is compacted.
const INDEX_SLACK_LINES: usize = if cfg!(test) { 8 } else { 1000 };
use mumu_shared::UnixMillis;
use mumu_shared::history::Span;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What went wrong with the recording.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The disk said no (full, read-only, gone).
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Nothing is recorded at the time asked for.
    #[error("nothing is recorded at {at}")]
    NoRecording {
        /// The time asked for.
        at: UnixMillis,
        /// The recorded span nearest to it, if any.
        nearest: Option<Span>,
    },
    /// A range that ends before it starts, or longer than allowed.
    #[error("{0}")]
    BadRange(String),
    /// A file that is not a segment this agent wrote (or is damaged past repair).
    #[error("{path}: {detail}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
}

impl RecordingError {
    fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

/// How much to keep.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Keep at most this many bytes of segments; `None`: fill to 90 % of the filesystem, always
    /// leaving 1 GiB free.
    pub max_bytes: Option<u64>,
    /// Delete segments older than this; `None`: keep while there is room.
    pub keep: Option<Duration>,
    /// Start a new segment at the first keyframe after this long (about a minute).
    pub segment: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: None,
            keep: None,
            segment: Duration::from_secs(60),
        }
    }
}

/// One encoded frame as the recorder takes it from the encoder.
#[derive(Clone, Debug)]
pub struct Frame {
    /// One H.264 access unit, Annex B (start codes), as `h264parse` gives it with
    /// `stream-format=byte-stream,alignment=au`; a keyframe carries SPS and PPS before its IDR.
    pub data: Vec<u8>,
    /// An IDR frame (a place to start decoding).
    pub keyframe: bool,
    /// The frame's presentation time on the pipeline's running clock (monotonic).
    pub pts: Duration,
    /// The wall-clock time (UTC) the frame was captured, in microseconds since the epoch.
    pub captured_us: i64,
}

/// Counters the health file reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Frames written.
    pub frames_written: u64,
    /// Frames lost: the disk was too slow or said no.
    pub frames_dropped: u64,
    /// Bytes of H.264 taken from the encoder.
    pub bytes_recorded: u64,
    /// Bytes written to disk (boxes included).
    pub bytes_written: u64,
    /// Segments finished.
    pub segments: u64,
    /// Segments deleted by retention.
    pub segments_deleted: u64,
    /// Write errors (each logged).
    pub write_errors: u64,
}

/// The recordings directory: its index, its retention, its writer and its readers. Cloning
/// shares it.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    limits: Limits,
    state: Mutex<State>,
}

/// Everything the writer and the readers share, behind one lock held only for bookkeeping
/// (never across a segment write).
#[derive(Debug, Default)]
struct State {
    /// Finished segments, oldest first.
    segments: BTreeMap<SegmentKey, Segment>,
    /// The segment being written: its whole fragments so far.
    live: Option<Segment>,
    stats: WriterStats,
    /// Bumped by [`Store::writer`]: only the newest writer writes.
    writer_generation: u64,
    /// Lines in the index log.
    index_lines: usize,
}

impl State {
    fn all_segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.values().chain(self.live.as_ref())
    }

    fn finished_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.bytes).sum()
    }
}

impl Store {
    /// Opens (creating it if need be) the recordings directory `dir`.
    pub fn open(dir: &Path, limits: Limits) -> Result<Self, RecordingError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| RecordingError::io(format!("creating {}", dir.display()), e))?;
        let (indexed, bad_lines) = index::read_index(dir);
        if bad_lines > 0 {
            tracing::warn!(dir = %dir.display(), bad_lines, "recording index damaged; reading the segments again");
        }
        let entries = std::fs::read_dir(dir)
            .map_err(|e| RecordingError::io(format!("listing {}", dir.display()), e))?;
        let mut segments = BTreeMap::new();
        let mut bytes_written = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !index::is_segment_name(&name) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            match indexed.get(&name) {
                Some(seg) if seg.bytes == meta.len() => {
                    segments.insert(seg.key(), seg.clone());
                }
                _ => match retention::repair(&entry.path(), &name) {
                    Ok(Some(seg)) => {
                        segments.insert(seg.key(), seg);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "skipping a file in the recordings directory")
                    }
                },
            }
        }
        let gone = indexed
            .keys()
            .filter(|n| !segments.values().any(|s| &&s.file == n))
            .count();
        if gone > 0 {
            tracing::info!(
                gone,
                "recorded segments deleted from the disk by hand left the index"
            );
        }
        match index::write_index(dir, segments.values()) {
            Ok(n) => bytes_written += n,
            Err(e) => tracing::warn!(error = %e, "could not write the recording index"),
        }
        let state = State {
            index_lines: segments.len(),
            segments,
            stats: WriterStats {
                bytes_written,
                ..WriterStats::default()
            },
            ..State::default()
        };
        let store = Self {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                limits,
                state: Mutex::new(state),
            }),
        };
        store.enforce_retention(false);
        Ok(store)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The writer for the live stream (one per store: a newer writer retires the older, whose
    /// frames are then dropped and counted).
    pub fn writer(&self) -> SegmentWriter {
        let generation = {
            let mut state = self.state();
            state.writer_generation += 1;
            state.writer_generation
        };
        SegmentWriter::new(self.clone(), generation)
    }

    /// The counters so far.
    pub fn stats(&self) -> WriterStats {
        self.state().stats
    }

    /// The recorded spans meeting `[from, to)`, oldest first, clipped to it; true if more than
    /// [`mumu_shared::history::MAX_SPANS`] met it (the newest are returned).
    pub fn spans(&self, from: UnixMillis, to: UnixMillis) -> (Vec<Span>, bool) {
        let all = index::spans(self.state().all_segments());
        index::clip_spans(&all, from, to)
    }

    /// The oldest recorded time kept.
    pub fn oldest(&self) -> Option<UnixMillis> {
        let state = self.state();
        state
            .all_segments()
            .map(|s| s.start_us)
            .min()
            .map(|us| us.div_euclid(1000))
    }

    /// Whether a segment is being written now (for `recordings.recording`).
    pub fn is_recording(&self) -> bool {
        self.state().live.is_some()
    }

    /// Bytes of segments on disk, the one being written included (for the health file).
    pub fn bytes_kept(&self) -> u64 {
        let state = self.state();
        state.finished_bytes() + state.live.as_ref().map_or(0, |s| s.bytes)
    }

    /// A playback from the last keyframe at or before `at`.
    pub fn playback(&self, at: UnixMillis) -> Result<Playback, RecordingError> {
        Playback::new(self.clone(), at)
    }

    /// An MP4 file of `[from, to]` (at most an hour), from the keyframe at or before `from`.
    pub fn export(&self, from: UnixMillis, to: UnixMillis) -> Result<ExportFile, RecordingError> {
        ExportFile::new(self, from, to)
    }

    /// Appends a line to the index log, and rewrites the log once it holds many more lines than
    /// there are segments (deletions, replaced entries), so it stays bounded however long the
    /// agent runs. Called from the writer's thread (and `open`), one at a time.
    fn log_index(&self, line: &IndexLine) {
        let written = match index::append_index(&self.inner.dir, line) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "could not write the recording index (rebuilt from the files at the next start)");
                return;
            }
        };
        let compact = {
            let mut state = self.state();
            state.stats.bytes_written += written;
            state.index_lines += 1;
            (state.index_lines > 2 * state.segments.len() + INDEX_SLACK_LINES).then(|| {
                state.index_lines = state.segments.len();
                state.segments.values().cloned().collect::<Vec<_>>()
            })
        };
        if let Some(segments) = compact {
            match index::write_index(&self.inner.dir, segments.iter()) {
                Ok(n) => self.state().stats.bytes_written += n,
                Err(e) => tracing::warn!(error = %e, "could not compact the recording index"),
            }
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves only counters half-updated: go on.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.inner.dir.join(file)
    }

    /// The segments in reading order, the one being written last.
    fn views(&self) -> Vec<Segment> {
        let state = self.state();
        let mut views: Vec<Segment> = state.segments.values().cloned().collect();
        if let Some(live) = &state.live {
            views.push(live.clone());
            views.sort_by_key(Segment::key);
        }
        views
    }

    /// The segment after `key` in reading order.
    fn view_after(&self, key: &SegmentKey) -> Option<Segment> {
        use std::ops::Bound::{Excluded, Unbounded};
        let state = self.state();
        let finished = state
            .segments
            .range((Excluded(key.clone()), Unbounded))
            .next()
            .map(|(_, s)| s);
        let live = state.live.as_ref().filter(|s| &s.key() > key);
        match (finished, live) {
            (Some(f), Some(l)) => Some(if l.key() < f.key() { l } else { f }.clone()),
            (f, l) => f.or(l).cloned(),
        }
    }

    /// How much of a segment is readable now (whole fragments), and whether it is being written;
    /// `None` once retention deleted it.
    fn readable(&self, key: &SegmentKey) -> Option<(u64, bool)> {
        let state = self.state();
        if let Some(live) = state.live.as_ref().filter(|s| &s.key() == key) {
            return Some((live.bytes, true));
        }
        state.segments.get(key).map(|s| (s.bytes, false))
    }

    /// Spans of everything kept, in µs.
    fn all_spans(&self) -> Vec<(i64, i64)> {
        index::spans(self.state().all_segments())
    }
}
