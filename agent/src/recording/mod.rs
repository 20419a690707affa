//! Recording on the camera: the encoded stream written to disk as fragmented MP4 segments of
//! about a minute, an index of what is kept, retention, and reading it back for playback and
//! export (over the session's `history` data channel, never through the server).
//!
//! CONTRACT (filled in by the storage work; the recorder branch and the history service code
//! against these signatures):
//! - [`Store::open`] scans the directory, repairs a segment cut short by a crash, rebuilds the
//!   index from the files when it is missing or damaged, and starts retention.
//! - [`Store::writer`] gives the one [`SegmentWriter`]; the recorder pushes every encoded frame.
//! - [`Store::spans`], [`Store::playback`], [`Store::export`] read what is kept.

use mumu_shared::UnixMillis;
use mumu_shared::history::Span;
use std::path::{Path, PathBuf};
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
pub struct Store {}

impl Store {
    /// Opens (creating it if need be) the recordings directory `dir`.
    pub fn open(dir: &Path, limits: Limits) -> Result<Self, RecordingError> {
        let _ = (dir, limits);
        todo!("storage")
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        todo!("storage")
    }

    /// The writer for the live stream (one per store).
    pub fn writer(&self) -> SegmentWriter {
        todo!("storage")
    }

    /// The counters so far.
    pub fn stats(&self) -> WriterStats {
        todo!("storage")
    }

    /// The recorded spans meeting `[from, to)`, oldest first, clipped to it; true if more than
    /// [`mumu_shared::history::MAX_SPANS`] met it (the newest are returned).
    pub fn spans(&self, from: UnixMillis, to: UnixMillis) -> (Vec<Span>, bool) {
        let _ = (from, to);
        todo!("storage")
    }

    /// The oldest recorded time kept.
    pub fn oldest(&self) -> Option<UnixMillis> {
        todo!("storage")
    }

    /// A playback from the last keyframe at or before `at`.
    pub fn playback(&self, at: UnixMillis) -> Result<Playback, RecordingError> {
        let _ = at;
        todo!("storage")
    }

    /// An MP4 file of `[from, to]` (at most an hour), from the keyframe at or before `from`.
    pub fn export(&self, from: UnixMillis, to: UnixMillis) -> Result<ExportFile, RecordingError> {
        let _ = (from, to);
        todo!("storage")
    }
}

/// Writes the live stream into segments. Blocking file I/O: call it from a thread of its own.
#[derive(Debug)]
pub struct SegmentWriter {}

impl SegmentWriter {
    /// Adds a frame. A frame the disk refuses is dropped and counted, never fatal: the caller
    /// goes on with the next.
    pub fn push(&mut self, frame: Frame) {
        let _ = frame;
        todo!("storage")
    }

    /// Ends the current segment cleanly (at shutdown).
    pub fn finish(&mut self) {
        todo!("storage")
    }
}

/// A playback being read: fragmented MP4 for Media Source Extensions, media time zero at
/// [`Playback::origin`].
#[derive(Debug)]
pub struct Playback {}

impl Playback {
    /// Capture time of the first frame.
    pub fn start(&self) -> UnixMillis {
        todo!("storage")
    }

    /// Wall-clock time of media time zero.
    pub fn origin(&self) -> UnixMillis {
        todo!("storage")
    }

    /// `video/mp4; codecs="avc1.PPCCLL"`.
    pub fn mime(&self) -> String {
        todo!("storage")
    }

    /// The next bytes to send (the init segment first, then whole fragments), as long as the
    /// fragment starts before `until`; `Ok(None)` when the next one starts at or after `until`
    /// (send `more` to go on) — see [`Playback::at_live_edge`] for the end of what is recorded.
    pub fn next(&mut self, until: UnixMillis) -> Result<Option<Vec<u8>>, RecordingError> {
        let _ = until;
        todo!("storage")
    }

    /// True once every recorded frame up to the newest has been returned.
    pub fn at_live_edge(&self) -> bool {
        todo!("storage")
    }
}

/// An export: one MP4 file laid out in advance, read in pieces from any offset.
#[derive(Debug)]
pub struct ExportFile {}

impl ExportFile {
    /// Capture time of the first frame.
    pub fn start(&self) -> UnixMillis {
        todo!("storage")
    }

    /// Capture time of the end of the last frame.
    pub fn end(&self) -> UnixMillis {
        todo!("storage")
    }

    /// The file's size in bytes.
    pub fn len(&self) -> u64 {
        todo!("storage")
    }

    /// Whether the file is empty (never, for an export that was made).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Up to `max` bytes of the file from `offset`; empty at the end.
    pub fn read_at(&mut self, offset: u64, max: usize) -> Result<Vec<u8>, RecordingError> {
        let _ = (offset, max);
        todo!("storage")
    }
}
