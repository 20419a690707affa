//! The writer: frames in, segments out. It keeps the frames of the fragment being gathered (a
//! second at most), writes each fragment in one positional write followed by `sync_data`, and
//! turns every disk error into dropped, counted frames.

use super::h264;
use super::index::{self, IndexLine, Segment};
use super::mp4::{self, Sample, StreamParams};
use super::segment_file::ticks_to_us;
use super::{Frame, Store};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::time::{Duration, Instant};

/// A fragment is written once this much is pending (and at every keyframe).
const FRAGMENT: Duration = Duration::from_secs(1);
/// ... or once this many frames are pending (a stuck clock must not grow memory).
const MAX_PENDING_FRAMES: usize = 300;
/// A frame whose wall clock is further than this from what its `pts` predicts starts a new
/// segment (the clock was stepped).
const CLOCK_JUMP_US: i64 = 1_000_000;
/// The duration of a segment's last frame when nothing says otherwise (30 frames/s).
const DEFAULT_FRAME_TICKS: u32 = 3000;
/// The most write problems logged per [`LOG_EVERY`].
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Writes the live stream into segments. Blocking file I/O: call it from a thread of its own.
#[derive(Debug)]
pub struct SegmentWriter {
    store: Store,
    generation: u64,
    segment: Option<OpenSegment>,
    pending: Vec<Pending>,
    /// The newest SPS and PPS seen.
    params: Option<StreamParams>,
    last_log: Option<Instant>,
    unlogged: u64,
}

#[derive(Debug)]
struct Pending {
    sample: Vec<u8>,
    sync: bool,
    pts: Duration,
    captured_us: i64,
}

#[derive(Debug)]
struct OpenSegment {
    file: File,
    record: Segment,
    params: StreamParams,
    first_pts: Duration,
    first_captured_us: i64,
    /// The media time the next fragment starts at.
    next_decode: u64,
    sequence: u32,
    fragments: u32,
    last_duration: u32,
}

fn ticks(d: Duration) -> u64 {
    u64::try_from(d.as_nanos() * 9 / 100_000).unwrap_or(u64::MAX)
}

fn is_disk_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

impl SegmentWriter {
    pub(super) fn new(store: Store, generation: u64) -> Self {
        Self {
            store,
            generation,
            segment: None,
            pending: Vec::new(),
            params: None,
            last_log: None,
            unlogged: 0,
        }
    }

    /// Adds a frame. A frame the disk refuses is dropped and counted, never fatal: the caller
    /// goes on with the next.
    pub fn push(&mut self, frame: Frame) {
        {
            let mut state = self.store.state();
            state.stats.bytes_recorded += frame.data.len() as u64;
            if state.writer_generation != self.generation {
                state.stats.frames_dropped += 1;
                return;
            }
        }
        let unit = h264::access_unit(&frame.data);
        if unit.sample.is_empty() {
            // No start code: not Annex B. Nothing a decoder could use.
            self.store.state().stats.frames_dropped += 1;
            return;
        }
        let key = frame.keyframe;
        if key {
            self.learn_params(unit.sps.as_deref(), unit.pps.as_deref());
        }
        if let Some(segment) = &self.segment {
            let since = frame.pts.saturating_sub(segment.first_pts);
            let expected_us =
                segment.first_captured_us + i64::try_from(since.as_micros()).unwrap_or(i64::MAX);
            let jumped = (frame.captured_us - expected_us).abs() > CLOCK_JUMP_US;
            let new_params = key && self.params.as_ref() != Some(&segment.params);
            let long = key && since >= self.store.inner.limits.segment;
            if jumped || new_params || long {
                if jumped {
                    tracing::info!(
                        by_ms = (frame.captured_us - expected_us) / 1000,
                        "the wall clock jumped: new recording segment"
                    );
                }
                self.flush(frame.pts);
                self.close();
            } else if let Some(first) = self.pending.first()
                && (key
                    || frame.pts.saturating_sub(first.pts) >= FRAGMENT
                    || self.pending.len() >= MAX_PENDING_FRAMES)
            {
                self.flush(frame.pts);
            }
        }
        // Without a segment, wait for a keyframe (at the start, after a clock jump or a write
        // error) to start one.
        if self.segment.is_none() && (!key || !self.open(&frame)) {
            self.store.state().stats.frames_dropped += 1;
            return;
        }
        self.pending.push(Pending {
            sample: unit.sample,
            sync: key,
            pts: frame.pts,
            captured_us: frame.captured_us,
        });
    }

    /// Ends the current segment cleanly (at shutdown).
    pub fn finish(&mut self) {
        let last_duration = match self.pending.as_slice() {
            [.., a, b] => b.pts.saturating_sub(a.pts),
            _ => Duration::from_nanos(
                u64::from(
                    self.segment
                        .as_ref()
                        .map_or(DEFAULT_FRAME_TICKS, |s| s.last_duration),
                ) * 100_000
                    / 9,
            ),
        };
        if let Some(last) = self.pending.last() {
            self.flush(last.pts + last_duration);
        }
        self.close();
    }

    fn learn_params(&mut self, sps: Option<&[u8]>, pps: Option<&[u8]>) {
        let old = self.params.as_ref();
        let sps = sps
            .map(<[u8]>::to_vec)
            .or_else(|| old.map(|p| p.sps.clone()));
        let pps = pps
            .map(<[u8]>::to_vec)
            .or_else(|| old.map(|p| p.pps.clone()));
        if let (Some(sps), Some(pps)) = (sps, pps)
            && let Some(info) = h264::parse_sps(&sps)
        {
            self.params = Some(StreamParams { sps, pps, info });
        }
    }

    /// Starts a segment at keyframe `frame`; false if it could not be created.
    fn open(&mut self, frame: &Frame) -> bool {
        let Some(params) = self.params.clone() else {
            return false;
        };
        let dir = self.store.dir().to_path_buf();
        let init = mp4::init_segment(&params, 0);
        let mut n = 0;
        let (file, name) = loop {
            let name = index::file_name(frame.captured_us, n);
            match File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(dir.join(&name))
            {
                Ok(file) => break (file, name),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => {
                    self.write_failed(&format!("creating {name}"), &e, 1);
                    return false;
                }
            }
        };
        if let Err(e) = self.write_at(&file, 0, &init) {
            self.write_failed(&format!("writing {name}"), &e, 1);
            let _ = std::fs::remove_file(dir.join(&name));
            return false;
        }
        // The new name must survive a power cut too.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        let record = Segment {
            file: name,
            bytes: init.len() as u64,
            start_us: frame.captured_us,
            end_us: frame.captured_us,
        };
        self.set_live(Some(record.clone()));
        self.segment = Some(OpenSegment {
            file,
            record,
            params,
            first_pts: frame.pts,
            first_captured_us: frame.captured_us,
            next_decode: 0,
            sequence: 0,
            fragments: 0,
            last_duration: DEFAULT_FRAME_TICKS,
        });
        true
    }

    /// Writes the pending frames as one fragment, the last one lasting until `end_pts`.
    fn flush(&mut self, end_pts: Duration) {
        let Some(segment) = self.segment.as_mut() else {
            self.pending.clear();
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        // A pts that went back (the pipeline restarted) gives the last frame the usual length.
        let last_pts = pending[pending.len() - 1].pts;
        let end_pts = if end_pts > last_pts {
            end_pts
        } else {
            last_pts + Duration::from_nanos(u64::from(segment.last_duration) * 100_000 / 9)
        };
        let at = |pts: Duration| ticks(pts.saturating_sub(segment.first_pts));
        let mut samples = Vec::with_capacity(pending.len());
        for (i, frame) in pending.iter().enumerate() {
            let next = pending.get(i + 1).map_or(end_pts, |f| f.pts);
            let duration = u32::try_from(at(next).saturating_sub(at(frame.pts)))
                .unwrap_or(u32::MAX)
                .max(1);
            let size = u32::try_from(frame.sample.len()).unwrap_or(u32::MAX);
            samples.push(Sample {
                duration,
                size,
                sync: frame.sync,
            });
        }
        segment.sequence += 1;
        let decode = segment.next_decode;
        let payload: u64 = pending.iter().map(|f| f.sample.len() as u64).sum();
        let mut bytes = mp4::prft(pending[0].captured_us, decode);
        bytes.extend(mp4::moof(segment.sequence, decode, &samples));
        bytes.extend(mp4::mdat_header(payload));
        bytes.reserve(usize::try_from(payload).unwrap_or(0));
        for frame in &pending {
            bytes.extend_from_slice(&frame.sample);
        }
        let offset = segment.record.bytes;
        let file = segment.file.try_clone();
        let written = file.and_then(|file| self.write_at(&file, offset, &bytes));
        let Some(segment) = self.segment.as_mut() else {
            return;
        };
        if let Err(e) = written {
            // Leave the file as it was before this fragment, so it stays whole.
            let _ = segment.file.set_len(offset);
            let name = segment.record.file.clone();
            self.write_failed(&format!("writing {name}"), &e, pending.len() as u64);
            self.close();
            return;
        }
        let total: u64 = samples.iter().map(|s| u64::from(s.duration)).sum();
        segment.next_decode += total;
        segment.fragments += 1;
        segment.last_duration = samples[samples.len().saturating_sub(2)].duration;
        segment.record.bytes += bytes.len() as u64;
        segment.record.end_us = pending[0].captured_us + ticks_to_us(total);
        let over_cap = {
            let mut state = self.store.state();
            state.stats.frames_written += pending.len() as u64;
            state.stats.bytes_written += bytes.len() as u64;
            if state.writer_generation == self.generation {
                state.live = Some(segment.record.clone());
            }
            self.store.inner.limits.max_bytes.is_some_and(|max| {
                state.finished_bytes() + segment.record.bytes > max && !state.segments.is_empty()
            })
        };
        if over_cap {
            self.store.enforce_retention(false);
        }
    }

    /// Writes `bytes` at `offset` and syncs; on a full disk, lets retention free space and tries
    /// once more.
    fn write_at(&self, file: &File, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let attempt = || {
            file.write_all_at(bytes, offset)
                .and_then(|()| file.sync_data())
        };
        match attempt() {
            Err(e) if is_disk_full(&e) => {
                let _ = file.set_len(offset);
                if self.store.enforce_retention(true) == 0 {
                    return Err(e);
                }
                attempt()
            }
            other => other,
        }
    }

    /// Ends the segment being written: in the index if it has a fragment, else removed.
    fn close(&mut self) {
        self.pending.clear();
        let Some(segment) = self.segment.take() else {
            return;
        };
        let dir = self.store.dir().to_path_buf();
        if segment.fragments == 0 {
            self.set_live(None);
            let _ = std::fs::remove_file(dir.join(&segment.record.file));
            return;
        }
        // Its duration, for players that do not read every fragment. The disk is written
        // before the lock is taken: readers never wait on an fsync.
        let init = mp4::init_segment(&segment.params, segment.next_decode);
        let mut written = 0;
        match segment
            .file
            .write_all_at(&init, 0)
            .and_then(|()| segment.file.sync_all())
        {
            Ok(()) => written += init.len() as u64,
            Err(e) => {
                tracing::debug!(error = %e, "could not write a segment's duration (written at the next start)")
            }
        }
        let line = IndexLine::Added(segment.record.clone());
        {
            let mut state = self.store.state();
            if state.writer_generation == self.generation {
                state.live = None;
            }
            state.stats.bytes_written += written;
            state.stats.segments += 1;
            state.segments.insert(segment.record.key(), segment.record);
        }
        self.store.log_index(&line);
        self.store.enforce_retention(false);
    }

    /// Shows the segment being written to readers (unless a newer writer took over).
    fn set_live(&self, record: Option<Segment>) {
        let mut state = self.store.state();
        if state.writer_generation == self.generation {
            state.live = record;
        }
    }

    /// Counts and logs (at most every [`LOG_EVERY`]) a write that failed, losing `frames`.
    fn write_failed(&mut self, what: &str, error: &io::Error, frames: u64) {
        {
            let mut state = self.store.state();
            state.stats.write_errors += 1;
            state.stats.frames_dropped += frames;
        }
        if self.last_log.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            self.unlogged += 1;
            return;
        }
        tracing::warn!(%error, suppressed = self.unlogged, "recording: {what} failed; frames dropped until the next keyframe");
        self.last_log = Some(Instant::now());
        self.unlogged = 0;
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        self.finish();
    }
}
