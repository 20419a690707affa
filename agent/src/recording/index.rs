//! What is on disk: one [`Segment`] record per file, the spans they make, their file names, and
//! the index log that saves parsing every file at start-up.

use mumu_shared::UnixMillis;
use mumu_shared::history::{MAX_SPANS, Span};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

/// Segments closer than this in time make one span (a segment ends where the next one's
/// first frame begins, give or take a frame and the clock's slew).
pub(crate) const MERGE_GAP_US: i64 = 1_500_000;

/// The file the index is kept in: one JSON line per event, appended (see the module doc).
pub(crate) const INDEX_FILE: &str = "index.jsonl";

/// One segment file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Segment {
    /// The file name, in the recordings directory.
    pub file: String,
    /// Its size in bytes (for the segment being written: the bytes of its whole fragments).
    pub bytes: u64,
    /// Capture time of its first frame, Unix µs.
    pub start_us: i64,
    /// Capture time of the end of its last frame, Unix µs.
    pub end_us: i64,
}

/// Where a segment sorts: by its start, then its name (a backwards clock step can make two
/// segments start at the same time).
pub(crate) type SegmentKey = (i64, String);

impl Segment {
    pub fn key(&self) -> SegmentKey {
        (self.start_us, self.file.clone())
    }
}

/// A line of the index log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum IndexLine {
    /// A segment was finished (or found at start-up).
    Added(Segment),
    /// A segment was deleted by retention.
    Deleted {
        /// Its file name.
        deleted: String,
    },
}

/// Reads the index log: the segments it lists by file name, and how many lines it could not
/// read (a torn last line after a power cut, or damage: those files are parsed again).
pub(crate) fn read_index(dir: &Path) -> (BTreeMap<String, Segment>, usize) {
    let mut segments = BTreeMap::new();
    let Ok(text) = std::fs::read(dir.join(INDEX_FILE)) else {
        return (segments, 0);
    };
    let mut bad = 0;
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<IndexLine>(line) {
            Ok(IndexLine::Added(segment)) => {
                segments.insert(segment.file.clone(), segment);
            }
            Ok(IndexLine::Deleted { deleted }) => {
                segments.remove(&deleted);
            }
            Err(_) => bad += 1,
        }
    }
    (segments, bad)
}

/// Replaces the index log with one line per segment, atomically (temporary file, fsync,
/// rename); returns the bytes written.
pub(crate) fn write_index<'a>(
    dir: &Path,
    segments: impl Iterator<Item = &'a Segment>,
) -> std::io::Result<u64> {
    let mut text = Vec::new();
    for segment in segments {
        serde_json::to_writer(&mut text, &IndexLine::Added(segment.clone()))?;
        text.push(b'\n');
    }
    let tmp = dir.join(format!("{INDEX_FILE}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&text)?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join(INDEX_FILE))?;
    // The rename itself must reach the disk.
    std::fs::File::open(dir)?.sync_all()?;
    Ok(text.len() as u64)
}

/// Appends a line to the index log; returns the bytes written.
pub(crate) fn append_index(dir: &Path, line: &IndexLine) -> std::io::Result<u64> {
    let mut text = serde_json::to_vec(line)?;
    text.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(INDEX_FILE))?;
    file.write_all(&text)?;
    file.sync_data()?;
    Ok(text.len() as u64)
}

/// Days since 1970-01-01 as (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A segment's file name from its first frame's capture time: `20261207T161624.123Z.mp4`, or
/// with `-n` before the extension for the `n`-th file of that name.
pub(crate) fn file_name(start_us: i64, n: u32) -> String {
    let ms = start_us.div_euclid(1000);
    let secs = ms.div_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let tod = secs.rem_euclid(86_400);
    let stem = format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}.{:03}Z",
        tod / 3600,
        tod / 60 % 60,
        tod % 60,
        ms.rem_euclid(1000)
    );
    if n == 0 {
        format!("{stem}.mp4")
    } else {
        format!("{stem}-{n}.mp4")
    }
}

/// Whether `name` is a segment file's name.
pub(crate) fn is_segment_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".mp4") else {
        return false;
    };
    let (time, n) = stem.split_once('-').unwrap_or((stem, "1"));
    let b = time.as_bytes();
    b.len() == 20
        && b[8] == b'T'
        && b[15] == b'.'
        && b[19] == b'Z'
        && [0..8, 9..15, 16..19]
            .iter()
            .all(|r| b[r.clone()].iter().all(u8::is_ascii_digit))
        && !n.is_empty()
        && n.bytes().all(|c| c.is_ascii_digit())
}

/// The spans the segments make: their union, with segments less than [`MERGE_GAP_US`] apart
/// joined. Overlapping segments (a backwards clock step) are both kept on disk; the spans only
/// say which times have a recording.
pub(crate) fn spans<'a>(segments: impl Iterator<Item = &'a Segment>) -> Vec<(i64, i64)> {
    let mut sorted: Vec<(i64, i64)> = segments.map(|s| (s.start_us, s.end_us)).collect();
    sorted.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (start, end) in sorted {
        match out.last_mut() {
            Some(last) if start <= last.1 + MERGE_GAP_US => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// A span in milliseconds: the start rounded down, the end up.
pub(crate) fn to_span((start, end): (i64, i64)) -> Span {
    Span {
        start: start.div_euclid(1000),
        end: -(-end).div_euclid(1000),
    }
}

/// The spans meeting `[from, to)` clipped to it, the newest [`MAX_SPANS`] of them, and whether
/// there were more.
pub(crate) fn clip_spans(
    all: &[(i64, i64)],
    from: UnixMillis,
    to: UnixMillis,
) -> (Vec<Span>, bool) {
    let mut met: Vec<Span> = all
        .iter()
        .map(|&s| to_span(s))
        // A segment just created has no frame yet: no span.
        .filter(|s| s.start < to && s.end > from && s.end > s.start)
        .map(|s| Span {
            start: s.start.max(from),
            end: s.end.min(to),
        })
        .collect();
    let truncated = met.len() > MAX_SPANS;
    if truncated {
        met.drain(..met.len() - MAX_SPANS);
    }
    (met, truncated)
}

/// The span nearest to `at_us`.
pub(crate) fn nearest(all: &[(i64, i64)], at_us: i64) -> Option<Span> {
    all.iter()
        .min_by_key(|&&(start, end)| {
            if at_us < start {
                start - at_us
            } else {
                (at_us - end).max(0)
            }
        })
        .map(|&s| to_span(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start_us: i64, end_us: i64) -> Segment {
        Segment {
            file: file_name(start_us, 0),
            bytes: 1,
            start_us,
            end_us,
        }
    }

    #[test]
    fn file_names_are_the_utc_start_and_are_recognised() {
        // 2026-12-07T16:16:24.123Z
        let us = 1_796_660_184_123_000;
        assert_eq!(file_name(us, 0), "20261207T161624.123Z.mp4");
        assert_eq!(file_name(us, 2), "20261207T161624.123Z-2.mp4");
        assert!(is_segment_name("20261207T161624.123Z.mp4"));
        assert!(is_segment_name("20261207T161624.123Z-12.mp4"));
        assert!(!is_segment_name("index.jsonl"));
        assert!(!is_segment_name("20261207T161624.123Z-.mp4"));
        assert_eq!(file_name(0, 0), "19700101T000000.000Z.mp4");
        assert_eq!(
            file_name(951_782_400_000_000, 0),
            "20000229T000000.000Z.mp4"
        );
    }

    #[test]
    fn close_segments_make_one_span_and_gaps_stay_visible() {
        let s = [
            seg(0, 60_000_000),
            seg(60_040_000, 120_000_000),
            seg(200_000_000, 210_000_000),
        ];
        assert_eq!(
            spans(s.iter()),
            vec![(0, 120_000_000), (200_000_000, 210_000_000)]
        );
        let all = spans(s.iter());
        let (clipped, more) = clip_spans(&all, 100_000, 205_000);
        assert!(!more);
        assert_eq!(
            clipped,
            vec![
                Span {
                    start: 100_000,
                    end: 120_000
                },
                Span {
                    start: 200_000,
                    end: 205_000
                }
            ]
        );
        assert_eq!(
            nearest(&all, 150_000_000),
            Some(Span {
                start: 0,
                end: 120_000
            })
        );
        assert_eq!(
            nearest(&all, 190_000_000),
            Some(Span {
                start: 200_000,
                end: 210_000
            })
        );
    }

    #[test]
    fn more_spans_than_allowed_are_truncated_to_the_newest() {
        let segments: Vec<Segment> = (0..MAX_SPANS as i64 + 5)
            .map(|i| seg(i * 10_000_000, i * 10_000_000 + 1_000_000))
            .collect();
        let all = spans(segments.iter());
        let (listed, truncated) = clip_spans(&all, 0, i64::MAX);
        assert!(truncated);
        assert_eq!(listed.len(), MAX_SPANS);
        assert_eq!(listed[0].start, 5 * 10_000);
        let (listed, truncated) = clip_spans(&all, 0, 100_000);
        assert!(!truncated);
        assert_eq!(listed.len(), 10);
    }
}
