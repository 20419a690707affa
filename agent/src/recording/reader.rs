//! Reading what is kept: a [`Playback`] (fragmented MP4 for Media Source Extensions, one
//! fragment at a time) and an [`ExportFile`] (one MP4 file laid out in advance, read from any
//! offset).

use super::index::{self, Segment, SegmentKey};
use super::mp4::{self, Sample, StreamParams};
use super::segment_file::{self, Fragment, Read, ticks_to_us, us_to_ticks};
use super::{RecordingError, Store};
use mumu_shared::UnixMillis;
use mumu_shared::history::MAX_EXPORT_MS;
use std::fs::File;
use std::os::unix::fs::FileExt as _;

/// A fragment this close to where the previous one ended follows it directly: the gap or
/// overlap is rounding, the clock's slew or a segment boundary, not a hole in the recording.
const SNAP_TICKS: u64 = 4500; // 50 ms

/// The most bytes one [`ExportFile::read_at`] returns.
const MAX_READ: usize = 1 << 20;

/// Places fragments on the media timeline of a playback or an export: media time is capture
/// time since the origin, except that it never goes back (after a backwards clock step, a
/// fragment is placed where the previous one ended) and slight gaps are closed.
#[derive(Debug)]
struct Timeline {
    origin_us: i64,
    end: Option<u64>,
}

impl Timeline {
    fn place(&mut self, wall_us: i64, duration: u64) -> u64 {
        let t = us_to_ticks(wall_us - self.origin_us);
        let t = match self.end {
            Some(end) if t < end || t - end <= SNAP_TICKS => end,
            _ => t,
        };
        self.end = Some(t + duration);
        t
    }
}

/// A segment file open for reading.
#[derive(Debug)]
struct Cursor {
    key: SegmentKey,
    file: File,
    offset: u64,
}

/// Opens a segment: the file and its init segment, its duration zeroed (a playback's length is
/// not the segment's, and Media Source Extensions would take it for the stream's).
fn open_segment(store: &Store, view: &Segment) -> Result<(File, Vec<u8>), RecordingError> {
    let path = store.path(&view.file);
    let io = |e| RecordingError::io(format!("reading {}", path.display()), e);
    let file = File::open(&path).map_err(io)?;
    let mut init = segment_file::read_init(&file, view.bytes)
        .map_err(io)?
        .map_err(|detail| RecordingError::Damaged {
            path: path.clone(),
            detail,
        })?;
    mp4::set_init_duration(&mut init, 0);
    Ok((file, init))
}

fn read_fragment(store: &Store, cursor: &Cursor, limit: u64) -> Result<Read, RecordingError> {
    segment_file::read_fragment(&cursor.file, cursor.offset, limit).map_err(|e| {
        RecordingError::io(
            format!("reading {}", store.path(&cursor.key.1).display()),
            e,
        )
    })
}

/// Where reading for time `at_us` starts: the segment and the offset of its last fragment
/// starting with a keyframe at or before `at_us`. `NoRecording` when `at_us` is in no span.
fn locate(store: &Store, at: UnixMillis) -> Result<(Segment, u64), RecordingError> {
    let at_us = at.saturating_mul(1000);
    let spans = store.all_spans();
    let no_recording = || RecordingError::NoRecording {
        at,
        nearest: index::nearest(&spans, at_us),
    };
    if !spans
        .iter()
        .any(|&(start, end)| start <= at_us && at_us < end)
    {
        return Err(no_recording());
    }
    let view = store
        .views()
        .into_iter()
        .rev()
        .find(|v| v.start_us <= at_us)
        .ok_or_else(no_recording)?;
    let (file, init) = open_segment(store, &view)?;
    let cursor = Cursor {
        key: view.key(),
        file,
        offset: init.len() as u64,
    };
    Ok((view, last_keyframe_at_or_before(store, cursor, at_us)?))
}

fn last_keyframe_at_or_before(
    store: &Store,
    mut cursor: Cursor,
    at_us: i64,
) -> Result<u64, RecordingError> {
    let limit = store.readable(&cursor.key).map_or(0, |(bytes, _)| bytes);
    let mut found = cursor.offset;
    while let Read::Whole(fragment) = read_fragment(store, &cursor, limit)? {
        if fragment.wall_us > at_us {
            break;
        }
        if fragment.starts_with_keyframe() {
            found = cursor.offset;
        }
        cursor.offset = fragment.end;
    }
    Ok(found)
}

/// A playback being read: fragmented MP4 for Media Source Extensions, media time zero at
/// [`Playback::origin`].
#[derive(Debug)]
pub struct Playback {
    store: Store,
    start: UnixMillis,
    mime: String,
    timeline: Timeline,
    /// The init segment to send before the next fragment.
    init: Option<Vec<u8>>,
    /// The sample entry the viewer has (a new segment with other SPS/PPS sends its init).
    params: Vec<u8>,
    cursor: Cursor,
    live_edge: bool,
}

impl Playback {
    pub(super) fn new(store: Store, at: UnixMillis) -> Result<Self, RecordingError> {
        let (view, offset) = locate(&store, at)?;
        let (file, init) = open_segment(&store, &view)?;
        let cursor = Cursor {
            key: view.key(),
            file,
            offset,
        };
        let limit = store.readable(&cursor.key).map_or(0, |(bytes, _)| bytes);
        let start_us = match read_fragment(&store, &cursor, limit)? {
            Read::Whole(fragment) => fragment.wall_us,
            _ => view.start_us,
        };
        let mime = mp4::parse_init(&init).map_or_else(|| "video/mp4".to_owned(), |p| mime(&p));
        let start = start_us.div_euclid(1000);
        Ok(Self {
            store,
            start,
            mime,
            timeline: Timeline {
                origin_us: start * 1000,
                end: None,
            },
            params: init.clone(),
            init: Some(init),
            cursor,
            live_edge: false,
        })
    }

    /// Capture time of the first frame.
    pub fn start(&self) -> UnixMillis {
        self.start
    }

    /// Wall-clock time of media time zero.
    pub fn origin(&self) -> UnixMillis {
        self.timeline.origin_us.div_euclid(1000)
    }

    /// `video/mp4; codecs="avc1.PPCCLL"`.
    pub fn mime(&self) -> String {
        self.mime.clone()
    }

    /// The next bytes to send (the init segment first, then whole fragments), as long as the
    /// fragment starts before `until`; `Ok(None)` when the next one starts at or after `until`
    /// (send `more` to go on) — see [`Playback::at_live_edge`] for the end of what is recorded.
    pub fn next(&mut self, until: UnixMillis) -> Result<Option<Vec<u8>>, RecordingError> {
        if let Some(init) = self.init.take() {
            return Ok(Some(init));
        }
        let until_us = until.saturating_mul(1000);
        loop {
            // A segment retention deleted meanwhile stays readable through the open file.
            let (limit, live) = match self.store.readable(&self.cursor.key) {
                Some(readable) => readable,
                None => (self.cursor.file.metadata().map_or(0, |m| m.len()), false),
            };
            match read_fragment(&self.store, &self.cursor, limit)? {
                Read::Whole(fragment) => {
                    if fragment.wall_us >= until_us {
                        self.live_edge = false;
                        return Ok(None);
                    }
                    let bytes = self.remux(&fragment)?;
                    self.cursor.offset = fragment.end;
                    self.live_edge = false;
                    return Ok(Some(bytes));
                }
                Read::Incomplete if live => {
                    self.live_edge = true;
                    return Ok(None);
                }
                Read::Incomplete | Read::Damaged(_) => {
                    let Some(view) = self.store.view_after(&self.cursor.key) else {
                        self.live_edge = true;
                        return Ok(None);
                    };
                    let (file, init) = match open_segment(&self.store, &view) {
                        Ok(opened) => opened,
                        Err(e) => {
                            tracing::debug!(error = %e, "playback skips a segment it cannot read");
                            self.cursor.key = view.key();
                            self.cursor.offset = u64::MAX;
                            continue;
                        }
                    };
                    self.cursor = Cursor {
                        key: view.key(),
                        file,
                        offset: init.len() as u64,
                    };
                    if init != self.params {
                        self.params = init.clone();
                        return Ok(Some(init));
                    }
                }
            }
        }
    }

    /// True once every recorded frame up to the newest has been returned.
    pub fn at_live_edge(&self) -> bool {
        self.live_edge
    }

    /// The fragment's `moof` + `mdat`, its `tfdt` moved to the playback's timeline.
    fn remux(&mut self, fragment: &Fragment) -> Result<Vec<u8>, RecordingError> {
        let decode = self.timeline.place(fragment.wall_us, fragment.duration());
        let len = usize::try_from(fragment.end - fragment.moof_offset).unwrap_or(0);
        let mut bytes = vec![0; len];
        self.cursor
            .file
            .read_exact_at(&mut bytes, fragment.moof_offset)
            .map_err(|e| RecordingError::io(format!("reading {}", self.cursor.key.1), e))?;
        if !mp4::set_decode_time(&mut bytes, decode) {
            return Err(RecordingError::Damaged {
                path: self.store.path(&self.cursor.key.1),
                detail: "a moof without tfdt".into(),
            });
        }
        Ok(bytes)
    }
}

fn mime(params: &StreamParams) -> String {
    format!("video/mp4; codecs=\"{}\"", params.info.codec())
}

/// A stretch of an export file.
#[derive(Debug)]
enum Piece {
    /// Bytes made when the export was laid out (the init segment, `moof`s, `mdat` headers).
    Made(Vec<u8>),
    /// Samples read from a segment file when asked for.
    Samples { file: String, offset: u64, len: u64 },
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Self::Made(bytes) => bytes.len() as u64,
            Self::Samples { len, .. } => *len,
        }
    }
}

/// An export: one MP4 file laid out in advance, read in pieces from any offset.
#[derive(Debug)]
pub struct ExportFile {
    store: Store,
    start: UnixMillis,
    end: UnixMillis,
    /// Each piece with the file offset it starts at.
    pieces: Vec<(u64, Piece)>,
    len: u64,
    open: Option<(String, File)>,
}

impl ExportFile {
    pub(super) fn new(
        store: &Store,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Self, RecordingError> {
        if to <= from {
            return Err(RecordingError::BadRange(format!(
                "the export ends ({to}) before it starts ({from})"
            )));
        }
        if to - from > MAX_EXPORT_MS {
            return Err(RecordingError::BadRange(format!(
                "an export lasts at most {} minutes; {from}..{to} is {} s",
                MAX_EXPORT_MS / 60_000,
                (to - from) / 1000
            )));
        }
        let (from_us, to_us) = (from.saturating_mul(1000), to.saturating_mul(1000));
        let (mut view, offset) = match locate(store, from) {
            Ok(found) => found,
            // Starting in a gap: the export starts where recording resumes within the range.
            Err(RecordingError::NoRecording { at, nearest }) => {
                let later = store
                    .views()
                    .into_iter()
                    .find(|v| v.end_us > from_us && v.start_us < to_us);
                let Some(view) = later else {
                    return Err(RecordingError::NoRecording { at, nearest });
                };
                let (_, init) = open_segment(store, &view)?;
                (view, init.len() as u64)
            }
            Err(e) => return Err(e),
        };
        let (file, init) = open_segment(store, &view)?;
        let params = mp4::parse_init(&init).ok_or_else(|| RecordingError::Damaged {
            path: store.path(&view.file),
            detail: "no avcC in its moov".into(),
        })?;
        let mut cursor = Cursor {
            key: view.key(),
            file,
            offset,
        };
        let mut timeline = None::<Timeline>;
        let mut pieces = Vec::new();
        let mut sequence = 0;
        let (mut first_us, mut last_end_us) = (0, 0);
        'segments: loop {
            let limit = store.readable(&cursor.key).map_or(0, |(bytes, _)| bytes);
            while let Read::Whole(fragment) = read_fragment(store, &cursor, limit)? {
                if fragment.wall_us >= to_us {
                    break 'segments;
                }
                cursor.offset = fragment.end;
                let kept = kept_samples(&fragment, to_us);
                let timeline = timeline.get_or_insert_with(|| {
                    first_us = fragment.wall_us;
                    Timeline {
                        origin_us: fragment.wall_us,
                        end: None,
                    }
                });
                let duration: u64 = kept.iter().map(|s| u64::from(s.duration)).sum();
                let decode = timeline.place(fragment.wall_us, duration);
                last_end_us = fragment.wall_us + ticks_to_us(duration);
                let data_len: u64 = kept.iter().map(|s| u64::from(s.size)).sum();
                sequence += 1;
                let mut header = mp4::moof(sequence, decode, kept);
                header.extend(mp4::mdat_header(data_len));
                pieces.push(Piece::Made(header));
                pieces.push(Piece::Samples {
                    file: view.file.clone(),
                    offset: fragment.data_offset,
                    len: data_len,
                });
            }
            let Some(next) = store.view_after(&cursor.key) else {
                break;
            };
            if next.start_us >= to_us {
                break;
            }
            let (file, init) = open_segment(store, &next)?;
            // One sample entry per file: the export stops where the stream's parameters change.
            if mp4::parse_init(&init).as_ref() != Some(&params) {
                break;
            }
            cursor = Cursor {
                key: next.key(),
                file,
                offset: init.len() as u64,
            };
            view = next;
        }
        let Some(timeline) = timeline else {
            return Err(RecordingError::NoRecording {
                at: from,
                nearest: index::nearest(&store.all_spans(), from_us),
            });
        };
        let init = mp4::init_segment(&params, timeline.end.unwrap_or(0));
        let mut laid_out = Vec::with_capacity(pieces.len() + 1);
        let mut at = 0;
        for piece in std::iter::once(Piece::Made(init)).chain(pieces) {
            let len = piece.len();
            laid_out.push((at, piece));
            at += len;
        }
        Ok(Self {
            store: store.clone(),
            start: first_us.div_euclid(1000),
            end: -(-last_end_us).div_euclid(1000),
            pieces: laid_out,
            len: at,
            open: None,
        })
    }

    /// Capture time of the first frame.
    pub fn start(&self) -> UnixMillis {
        self.start
    }

    /// Capture time of the end of the last frame.
    pub fn end(&self) -> UnixMillis {
        self.end
    }

    /// The file's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty (never, for an export that was made).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Up to `max` bytes of the file from `offset`; empty at the end.
    pub fn read_at(&mut self, offset: u64, max: usize) -> Result<Vec<u8>, RecordingError> {
        let want = u64::try_from(max.min(MAX_READ))
            .unwrap_or(0)
            .min(self.len.saturating_sub(offset));
        let mut out = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
        let mut at = offset;
        let mut i = self
            .pieces
            .partition_point(|(start, piece)| start + piece.len() <= at);
        while (out.len() as u64) < want && i < self.pieces.len() {
            let (start, piece) = &self.pieces[i];
            let skip = at - start;
            let take = (piece.len() - skip).min(want - out.len() as u64);
            match piece {
                Piece::Made(bytes) => {
                    out.extend_from_slice(
                        &bytes[usize::try_from(skip).unwrap_or(0)..]
                            [..usize::try_from(take).unwrap_or(0)],
                    );
                }
                Piece::Samples {
                    file,
                    offset: source,
                    ..
                } => {
                    let (file, source) = (file.clone(), *source);
                    let handle = self.file(&file)?;
                    let mut buf = vec![0; usize::try_from(take).unwrap_or(0)];
                    handle
                        .read_exact_at(&mut buf, source + skip)
                        .map_err(|e| RecordingError::io(format!("reading {file}"), e))?;
                    out.extend_from_slice(&buf);
                }
            }
            at += take;
            i += 1;
        }
        Ok(out)
    }

    fn file(&mut self, name: &str) -> Result<&File, RecordingError> {
        if self.open.as_ref().is_none_or(|(open, _)| open != name) {
            let path = self.store.path(name);
            let file = File::open(&path)
                .map_err(|e| RecordingError::io(format!("reading {}", path.display()), e))?;
            self.open = Some((name.to_owned(), file));
        }
        Ok(&self.open.as_ref().expect("just opened").1)
    }
}

/// The samples of `fragment` that start before `to_us`.
fn kept_samples(fragment: &Fragment, to_us: i64) -> &[Sample] {
    let mut elapsed = 0u64;
    let count = fragment
        .samples
        .iter()
        .take_while(|s| {
            let keep = fragment.wall_us + ticks_to_us(elapsed) < to_us;
            elapsed += u64::from(s.duration);
            keep
        })
        .count();
    &fragment.samples[..count]
}
