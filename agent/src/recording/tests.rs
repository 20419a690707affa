//! The store against real H.264 (x264 through `gst-launch-1.0`), real files and
//! `gst-discoverer-1.0`.

use super::index::INDEX_FILE;
use super::mp4::{self, TIMESCALE};
use super::segment_file::{self, ticks_to_us};
use super::*;
use mumu_shared::history::MAX_EXPORT_MS;
use std::process::Command;
use std::sync::OnceLock;

const FPS: u64 = 30;
/// 2026-12-07T16:00:00Z.
const BASE_US: i64 = 1_796_659_200_000_000;
const HOUR_US: i64 = 3_600_000_000;

/// Access units of 40 s of the test picture (a ball) at 30 frames/s, a keyframe every second;
/// made once per test run.
fn access_units() -> &'static [(Vec<u8>, bool)] {
    static UNITS: OnceLock<Vec<(Vec<u8>, bool)>> = OnceLock::new();
    UNITS.get_or_init(|| encode("ball", 1200, (320, 240)))
}

/// `frames` access units of a test pattern, x264 at 1.5 Mb/s (which the ball, easy to
/// compress, stays far below).
fn encode(pattern: &str, frames: usize, (width, height): (u32, u32)) -> Vec<(Vec<u8>, bool)> {
    {
        let path = std::env::temp_dir().join(format!(
            "mumu-recording-{}-{pattern}-{width}.h264",
            std::process::id()
        ));
        let status = Command::new("gst-launch-1.0")
            .args([
                "-q",
                "videotestsrc",
                &format!("num-buffers={frames}"),
                &format!("pattern={pattern}"),
                "!",
            ])
            .args([
                &format!("video/x-raw,width={width},height={height},framerate=30/1"),
                "!",
            ])
            .args([
                "x264enc",
                "key-int-max=30",
                "tune=zerolatency",
                "bitrate=1500",
                "!",
                "h264parse",
                "!",
            ])
            .args([
                "video/x-h264,stream-format=byte-stream,alignment=au",
                "!",
                "filesink",
            ])
            .arg(format!("location={}", path.display()))
            .status()
            .expect("gst-launch-1.0 runs");
        assert!(status.success(), "gst-launch-1.0 made the test stream");
        let data = std::fs::read(&path).expect("the test stream");
        let _ = std::fs::remove_file(&path);
        let units = split_access_units(&data);
        assert_eq!(units.len(), frames, "one access unit per frame");
        assert!(units[0].1 && units[30].1, "a keyframe every second");
        units
    }
}

/// Splits an Annex B stream into access units: one starts at an AUD, SPS, PPS or SEI after a
/// slice, or at a slice whose first_mb_in_slice is 0 after a slice.
fn split_access_units(data: &[u8]) -> Vec<(Vec<u8>, bool)> {
    let mut starts: Vec<usize> = Vec::new();
    let mut i = 0;
    while i + 3 < data.len() {
        if data[i..i + 3] == [0, 0, 1] {
            starts.push(if i > 0 && data[i - 1] == 0 { i - 1 } else { i });
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units: Vec<(Vec<u8>, bool)> = Vec::new();
    let mut after_slice = false;
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(data.len());
        let nal = &data[start..end];
        let header = nal.iter().position(|&b| b == 1).expect("start code") + 1;
        let kind = nal[header] & 0x1f;
        let slice = kind == 1 || kind == 5;
        let first_mb_zero = slice && nal[header + 1] & 0x80 != 0;
        let begins = units.is_empty() || (after_slice && (matches!(kind, 6..=9) || first_mb_zero));
        if begins {
            units.push((Vec::new(), false));
        }
        let unit = units.last_mut().expect("a unit");
        unit.0.extend_from_slice(nal);
        unit.1 |= kind == 5;
        after_slice = slice;
    }
    units
}

/// Frame `i` of the test stream (cycling; the cycle restarts at a keyframe), captured at
/// `BASE_US` plus its pts plus `step_us`.
fn frame(i: u64, step_us: i64) -> Frame {
    let units = access_units();
    let (data, keyframe) = &units[usize::try_from(i).expect("small") % units.len()];
    let pts = Duration::from_nanos(i * 1_000_000_000 / FPS);
    Frame {
        data: data.clone(),
        keyframe: *keyframe,
        pts,
        captured_us: BASE_US + captured_offset(i) + step_us,
    }
}

fn captured_offset(i: u64) -> i64 {
    i64::try_from(i * 1_000_000 / FPS).expect("small")
}

fn ms(i: u64) -> UnixMillis {
    (BASE_US + captured_offset(i)) / 1000
}

/// The end of a span ending before frame `i`: rounded up to the millisecond.
fn ms_end(i: u64) -> UnixMillis {
    (BASE_US + captured_offset(i) + 999) / 1000
}

fn limits(segment_secs: u64) -> Limits {
    Limits {
        max_bytes: Some(1 << 30),
        keep: None,
        segment: Duration::from_secs(segment_secs),
    }
}

fn record(store: &Store, frames: std::ops::Range<u64>, step_us: impl Fn(u64) -> i64) {
    let mut writer = store.writer();
    for i in frames {
        writer.push(frame(i, step_us(i)));
    }
    writer.finish();
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("lists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    files.sort();
    files
}

/// What `gst-discoverer-1.0` says: duration, width, height.
fn discover(path: &Path) -> (Duration, u32, u32) {
    let out = Command::new("gst-discoverer-1.0")
        .arg(path)
        .output()
        .expect("gst-discoverer-1.0 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.contains("Error"),
        "{} does not open:\n{text}",
        path.display()
    );
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    let duration = field("Duration:");
    let parts: Vec<f64> = duration
        .split(':')
        .map(|p| p.parse().expect("number"))
        .collect();
    let secs = parts[0] * 3600.0 + parts[1] * 60.0 + parts[2];
    (
        Duration::from_secs_f64(secs),
        field("Width:").parse().expect("width"),
        field("Height:").parse().expect("height"),
    )
}

/// Every sample of a segment file with its capture time recovered from the prft: (wall µs,
/// sync).
fn recovered_samples(path: &Path) -> Vec<(i64, bool)> {
    let file = std::fs::File::open(path).expect("opens");
    let len = file.metadata().expect("meta").len();
    let scan = segment_file::scan(&file, len)
        .expect("reads")
        .expect("a segment");
    assert_eq!(scan.good_end, len, "{} is whole", path.display());
    let mut out = Vec::new();
    for fragment in scan.fragments {
        let mut elapsed = 0;
        for sample in &fragment.samples {
            out.push((fragment.wall_us + ticks_to_us(elapsed), sample.sync));
            elapsed += u64::from(sample.duration);
        }
    }
    out
}

#[test]
fn a_written_segment_opens_in_discoverer_with_its_duration_size_and_exact_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), limits(60)).expect("opens");
    record(&store, 0..300, |_| 0);
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0].file_name().expect("name"),
        "20261207T160000.000Z.mp4"
    );
    let (duration, width, height) = discover(&files[0]);
    assert_eq!((width, height), (320, 240));
    assert!(
        duration.abs_diff(Duration::from_secs(10)) <= Duration::from_millis(34),
        "duration {duration:?}"
    );

    let samples = recovered_samples(&files[0]);
    assert_eq!(samples.len(), 300);
    for (i, (wall_us, sync)) in samples.iter().enumerate() {
        let i = i as u64;
        assert!(
            (wall_us - (BASE_US + captured_offset(i))).abs() <= 20,
            "frame {i} at {wall_us}"
        );
        assert_eq!(*sync, access_units()[i as usize].1);
    }
    let stats = store.stats();
    assert_eq!(
        (stats.frames_written, stats.frames_dropped, stats.segments),
        (300, 0, 1)
    );
    assert_eq!(
        store.spans(0, i64::MAX).0,
        vec![Span {
            start: ms(0),
            end: ms(300)
        }]
    );
    assert_eq!(store.oldest(), Some(ms(0)));
}

#[test]
fn write_amplification_stays_under_1_1_at_1_5_mbps() {
    // Snow does not compress: x264 spends the whole 1.5 Mb/s on it.
    let units = encode("snow", 300, (320, 240));
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), limits(60)).expect("opens");
    let mut writer = store.writer();
    for (i, (data, keyframe)) in units.iter().enumerate() {
        let i = i as u64;
        let pts = Duration::from_nanos(i * 1_000_000_000 / FPS);
        writer.push(Frame {
            data: data.clone(),
            keyframe: *keyframe,
            pts,
            captured_us: BASE_US + captured_offset(i),
        });
    }
    writer.finish();
    let stats = store.stats();
    let amplification = stats.bytes_written as f64 / stats.bytes_recorded as f64;
    let bitrate = stats.bytes_recorded as f64 * 8.0 / 10.0 / 1e6;
    println!("write amplification {amplification:.4} at {bitrate:.2} Mb/s, 1 s fragments");
    assert!(bitrate > 1.0, "{bitrate} Mb/s");
    assert!(amplification < 1.1, "write amplification {amplification}");
}

#[test]
fn segments_start_at_the_first_keyframe_after_their_length_and_make_one_span() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), limits(3)).expect("opens");
    record(&store, 0..600, |_| 0);
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 7, "{files:?}");
    for file in &files {
        let samples = recovered_samples(file);
        assert!(samples[0].1, "{} starts with a keyframe", file.display());
        discover(file);
    }
    assert_eq!(
        store.spans(0, i64::MAX).0,
        vec![Span {
            start: ms(0),
            end: ms(600)
        }]
    );
    // The index says the same after a restart.
    drop(store);
    let store = Store::open(dir.path(), limits(3)).expect("reopens");
    assert_eq!(
        store.spans(0, i64::MAX).0,
        vec![Span {
            start: ms(0),
            end: ms(600)
        }]
    );
}

#[test]
fn a_segment_cut_short_by_a_crash_is_truncated_to_its_last_whole_fragment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), limits(60)).expect("opens");
    let mut writer = store.writer();
    for i in 0..600 {
        writer.push(frame(i, 0));
    }
    // kill -9: nothing more is written, and the last fragment is torn half-way.
    std::mem::forget(writer);
    drop(store);
    let files = segment_files(dir.path());
    let path = &files[0];
    let len = std::fs::metadata(path).expect("meta").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("opens");
    file.set_len(len - 5000).expect("truncates");

    let store = Store::open(dir.path(), limits(60)).expect("repairs");
    let repaired = std::fs::metadata(path).expect("meta").len();
    assert!(
        repaired < len - 5000,
        "truncated to a fragment boundary: {repaired}"
    );
    let (duration, ..) = discover(path);
    let (spans, _) = store.spans(0, i64::MAX);
    assert_eq!(spans.len(), 1);
    let lost_ms = ms(600) - spans[0].end;
    assert!((0..=2100).contains(&lost_ms), "lost {lost_ms} ms");
    assert!(
        duration.abs_diff(Duration::from_millis(
            u64::try_from(spans[0].end - spans[0].start).expect("positive")
        )) < Duration::from_millis(40)
    );

    // A segment with nothing but its header goes.
    let (name, cut) = (
        dir.path().join(index::file_name(BASE_US + HOUR_US, 0)),
        std::fs::read(path).expect("reads"),
    );
    std::fs::write(&name, &cut[..700]).expect("writes");
    Store::open(dir.path(), limits(60)).expect("reopens");
    assert!(!name.exists());
}

#[test]
fn clock_steps_back_and_forward_start_new_segments_with_distinct_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), limits(60)).expect("opens");
    // The clock is stepped back an hour at frame 200 and forward again at 400.
    let step = |i: u64| if (200..400).contains(&i) { -HOUR_US } else { 0 };
    record(&store, 0..600, step);
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 3, "{files:?}");
    let pushed: Vec<i64> = (0..600)
        .map(|i| BASE_US + captured_offset(i) + step(i))
        .collect();
    for file in &files {
        discover(file);
        for (wall_us, _) in recovered_samples(file) {
            let nearest = pushed
                .iter()
                .map(|p| (p - wall_us).abs())
                .min()
                .expect("frames");
            assert!(
                nearest < 100,
                "a sample at {wall_us} is {nearest} µs from every frame pushed"
            );
        }
    }
    // Frames between a step and the next keyframe are dropped.
    let next_key = |from: u64| {
        (from..)
            .find(|&i| access_units()[i as usize].1)
            .expect("a keyframe")
    };
    let (back, forward) = (next_key(200), next_key(400));
    assert_eq!(store.stats().frames_dropped, back - 200 + forward - 400);
    let expected = vec![
        Span {
            start: ms(back) - HOUR_US / 1000,
            end: ms_end(400) - HOUR_US / 1000,
        },
        Span {
            start: ms(0),
            end: ms_end(200),
        },
        Span {
            start: ms(forward),
            end: ms_end(600),
        },
    ];
    assert_eq!(store.spans(0, i64::MAX).0, expected);
    drop(store);
    let store = Store::open(dir.path(), limits(60)).expect("reopens");
    assert_eq!(store.spans(0, i64::MAX).0, expected);

    // Another step back to the very same start: a new name, nothing overwritten.
    record(&store, 0..60, |_| 0);
    let names: Vec<String> = segment_files(dir.path())
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into())
        .collect();
    assert!(names.contains(&"20261207T160000.000Z.mp4".to_owned()));
    assert!(
        names.contains(&"20261207T160000.000Z-1.mp4".to_owned()),
        "{names:?}"
    );
    // Overlapping segments: one span, both kept, playback goes on in order.
    assert_eq!(store.spans(ms(0), ms(600)).0.len(), 2);
    let mut playback = store.playback(ms(0)).expect("plays");
    let mut last_decode = 0;
    while let Some(bytes) = playback.next(i64::MAX).expect("reads") {
        for (decode, _) in fragments_of(&bytes) {
            assert!(decode >= last_decode, "media time never goes back");
            last_decode = decode;
        }
    }
    assert!(playback.at_live_edge());
}

#[test]
fn retention_deletes_the_oldest_segments_first_and_stays_under_the_cap() {
    let dir = tempfile::tempdir().expect("tempdir");
    // About ten seconds of the stream.
    let cap = access_units()
        .iter()
        .map(|(d, _)| d.len() as u64)
        .sum::<u64>()
        / 4;
    let store = Store::open(
        dir.path(),
        Limits {
            max_bytes: Some(cap),
            keep: None,
            segment: Duration::from_secs(2),
        },
    )
    .expect("opens");
    let mut writer = store.writer();
    let mut max_fragment = 0;
    for i in 0..1200 {
        let before = store.stats().bytes_written;
        writer.push(frame(i, 0));
        max_fragment = max_fragment.max(store.stats().bytes_written - before);
        let on_disk: u64 = segment_files(dir.path())
            .iter()
            .map(|p| std::fs::metadata(p).expect("meta").len())
            .sum();
        assert!(
            on_disk <= cap + max_fragment,
            "{on_disk} bytes on disk after frame {i}"
        );
    }
    writer.finish();
    let stats = store.stats();
    assert!(stats.segments_deleted > 5, "{stats:?}");
    // The newest are what is left, and the spans say so.
    let (spans, _) = store.spans(0, i64::MAX);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].end, ms(1200));
    assert!(spans[0].start > ms(600));
    assert_eq!(store.oldest(), Some(spans[0].start));
    // The index log, appended at every segment and deletion, was compacted on the way.
    let (indexed, _) = index::read_index(dir.path());
    let lines = std::fs::read_to_string(dir.path().join(INDEX_FILE))
        .expect("reads")
        .lines()
        .count();
    assert_eq!(indexed.len(), segment_files(dir.path()).len());
    assert!(
        lines <= 2 * indexed.len() + 8,
        "{lines} lines for {} segments",
        indexed.len()
    );
}

#[test]
fn retention_deletes_segments_older_than_keep() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), limits(2)).expect("opens");
    record(&store, 0..120, |_| 0);
    assert!(!store.spans(0, i64::MAX).0.is_empty());
    drop(store);
    // Recorded in December 2026 (the test's clock): older than a day whenever this runs later,
    // and newer than a day from now otherwise. Either way `keep` is honoured at open.
    let keep = Duration::from_secs(86_400);
    let store = Store::open(
        dir.path(),
        Limits {
            max_bytes: Some(1 << 30),
            keep: Some(keep),
            segment: Duration::from_secs(2),
        },
    )
    .expect("reopens");
    let now_us = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_micros(),
    )
    .expect("fits");
    let old = BASE_US + captured_offset(120) < now_us - 86_400_000_000;
    assert_eq!(store.spans(0, i64::MAX).0.is_empty(), old);
}

#[test]
fn a_segment_deleted_by_hand_leaves_the_index_without_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), limits(2)).expect("opens");
    record(&store, 0..300, |_| 0);
    drop(store);
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 5);
    std::fs::remove_file(&files[2]).expect("deletes");
    let store = Store::open(dir.path(), limits(2)).expect("reopens");
    let (spans, _) = store.spans(0, i64::MAX);
    assert_eq!(spans.len(), 2, "a gap where the file was: {spans:?}");
    assert_eq!((spans[0].start, spans[1].end), (ms(0), ms(300)));
    assert!(spans[0].end < spans[1].start);
}

#[test]
fn a_garbage_index_is_rebuilt_from_the_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), limits(2)).expect("opens");
    record(&store, 0..300, |_| 0);
    let before = store.spans(0, i64::MAX);
    drop(store);
    std::fs::write(
        dir.path().join(INDEX_FILE),
        b"\x00garbage{\"file\":\n[1,2,3]\n",
    )
    .expect("writes");
    let store = Store::open(dir.path(), limits(2)).expect("reopens");
    assert_eq!(store.spans(0, i64::MAX), before);
    let (indexed, bad) = index::read_index(dir.path());
    assert_eq!((indexed.len(), bad), (5, 0), "the index was written again");
    // Missing altogether: the same.
    std::fs::remove_file(dir.path().join(INDEX_FILE)).expect("deletes");
    let store = Store::open(dir.path(), limits(2)).expect("reopens");
    assert_eq!(store.spans(0, i64::MAX), before);
}

#[test]
fn an_export_of_20_s_has_that_duration_and_reads_the_same_from_any_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), limits(10)).expect("opens");
    record(&store, 0..1200, |_| 0);
    assert!(matches!(
        store.export(ms(100), ms(100)),
        Err(RecordingError::BadRange(_))
    ));
    assert!(matches!(
        store.export(ms(0), ms(0) + MAX_EXPORT_MS + 1),
        Err(RecordingError::BadRange(_))
    ));

    // From a keyframe (5 s) to 25 s: across two segment boundaries.
    let mut export = store.export(ms(150), ms(750)).expect("exports");
    assert_eq!((export.start(), export.end()), (ms(150), ms(750)));
    let len = export.len();
    let mut whole = Vec::new();
    loop {
        let piece = export
            .read_at(whole.len() as u64, 16 * 1024)
            .expect("reads");
        if piece.is_empty() {
            break;
        }
        whole.extend(piece);
    }
    assert_eq!(whole.len() as u64, len);
    for offset in [
        0,
        1,
        7,
        100,
        1000,
        len / 3,
        len / 2 + 13,
        len - 5000,
        len - 1,
    ] {
        for max in [1, 17, 4096, 100_000] {
            let piece = export.read_at(offset, max).expect("reads");
            let end = usize::try_from((offset + max as u64).min(len)).expect("fits");
            assert_eq!(
                piece,
                whole[usize::try_from(offset).expect("fits")..end],
                "at {offset}, {max}"
            );
        }
    }
    assert!(export.read_at(len, 10).expect("reads").is_empty());
    let path = dir.path().join("export.mp4.out");
    std::fs::write(&path, &whole).expect("writes");
    let (duration, width, height) = discover(&path);
    assert_eq!((width, height), (320, 240));
    assert!(
        duration.abs_diff(Duration::from_secs(20)) <= Duration::from_millis(34),
        "{duration:?}"
    );
    // The same request makes the same file.
    let mut again = store.export(ms(150), ms(750)).expect("exports");
    assert_eq!(
        again.read_at(0, usize::MAX).expect("reads").len() as u64,
        len.min(1 << 20)
    );
    assert_eq!(again.len(), len);
    assert_eq!(
        again.read_at(len - 70_000, 70_000).expect("reads"),
        whole[whole.len() - 70_000..]
    );
    // From a time between keyframes: from the keyframe before it.
    let export = store.export(ms(165), ms(200)).expect("exports");
    assert_eq!(export.start(), ms(150));
}

/// The fragments of playback bytes: (tfdt, samples).
fn fragments_of(bytes: &[u8]) -> Vec<(u64, Vec<mp4::Sample>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let header = mp4::box_header(&bytes[at..]).expect("a box");
        let size = usize::try_from(header.size).expect("fits");
        if &header.kind == b"moof" {
            let info = mp4::parse_moof(&bytes[at + 8..at + size]).expect("a moof");
            out.push((info.decode_time, info.samples));
        }
        at += size;
    }
    out
}

#[test]
fn playback_bytes_parse_back_into_frames_at_their_capture_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), limits(10)).expect("opens");
    record(&store, 0..600, |_| 0);
    // A later recording after a gap of about 10 s.
    record(&store, 900..1200, |_| 0);

    let mut playback = store.playback(ms(105)).expect("plays");
    assert_eq!(playback.start(), ms(90), "from the keyframe before");
    assert_eq!(playback.origin(), ms(90));
    let sps = super::h264::access_unit(&access_units()[0].0)
        .sps
        .expect("an SPS");
    let codec = super::h264::parse_sps(&sps).expect("parses").codec();
    assert_eq!(playback.mime(), format!("video/mp4; codecs=\"{codec}\""));
    let init = playback.next(ms(200)).expect("reads").expect("init");
    assert_eq!(&init[4..8], b"ftyp");
    let mut stream = init.clone();
    let mut times = Vec::new();
    while let Some(bytes) = playback.next(ms(200)).expect("reads") {
        stream.extend_from_slice(&bytes);
        for (decode, samples) in fragments_of(&bytes) {
            let mut t = decode;
            for sample in samples {
                times.push(playback.origin() * 1000 + ticks_to_us(t));
                t += u64::from(sample.duration);
            }
        }
    }
    assert!(!playback.at_live_edge(), "stopped at `until`");
    assert_eq!(
        times.len(),
        120,
        "frames 90..210 (fragments starting before 200)"
    );
    for (n, t) in times.iter().enumerate() {
        let expected = BASE_US + captured_offset(90 + n as u64);
        assert!((t - expected).abs() < 1000, "frame {n}: {t} vs {expected}");
    }
    // On to the end: the gap stays a gap in media time.
    let mut decodes = Vec::new();
    while let Some(bytes) = playback.next(i64::MAX).expect("reads") {
        stream.extend_from_slice(&bytes);
        decodes.extend(fragments_of(&bytes).into_iter().map(|(d, _)| d));
    }
    assert!(playback.at_live_edge());
    // What a browser's Media Source gets, as a file, is an MP4 GStreamer reads.
    let path = dir.path().join("playback.mp4.out");
    std::fs::write(&path, &stream).expect("writes");
    assert_eq!(discover(&path).1, 320);
    let gap = decodes
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .expect("fragments");
    let expected_gap = u64::from(TIMESCALE) * 10 + u64::from(TIMESCALE); // 10 s missing + 1 s fragment
    assert!(gap.abs_diff(expected_gap) < 3000, "gap {gap}");
    let last = *decodes.last().expect("fragments");
    assert_eq!(
        playback.origin() * 1000 + ticks_to_us(last),
        BASE_US + captured_offset(1170)
    );
}

#[test]
fn playback_in_a_gap_says_nothing_is_recorded_and_offers_the_nearest_span() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), limits(10)).expect("opens");
    assert!(matches!(
        store.playback(ms(0)),
        Err(RecordingError::NoRecording { nearest: None, .. })
    ));
    record(&store, 0..300, |_| 0);
    record(&store, 900..1200, |_| 0);
    match store.playback(ms(400)) {
        Err(RecordingError::NoRecording { at, nearest }) => {
            assert_eq!(at, ms(400));
            assert_eq!(
                nearest,
                Some(Span {
                    start: ms(0),
                    end: ms(300)
                })
            );
        }
        other => panic!("expected NoRecording, got {other:?}"),
    }
    match store.playback(ms(850)) {
        Err(RecordingError::NoRecording { nearest, .. }) => {
            assert_eq!(
                nearest,
                Some(Span {
                    start: ms(900),
                    end: ms(1200)
                })
            );
        }
        other => panic!("expected NoRecording, got {other:?}"),
    }
}

#[test]
fn playback_reads_into_the_segment_being_written_up_to_its_whole_fragments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), limits(60)).expect("opens");
    let mut writer = store.writer();
    for i in 0..100 {
        writer.push(frame(i, 0));
    }
    assert!(store.is_recording());
    let mut playback = store.playback(ms(10)).expect("plays the live segment");
    let mut frames = 0;
    while let Some(bytes) = playback.next(i64::MAX).expect("reads") {
        frames += fragments_of(&bytes)
            .iter()
            .map(|(_, s)| s.len())
            .sum::<usize>();
    }
    assert!(playback.at_live_edge());
    assert_eq!(frames, 90, "three whole fragments; the fourth is pending");
    for i in 100..200 {
        writer.push(frame(i, 0));
    }
    while let Some(bytes) = playback.next(i64::MAX).expect("reads") {
        frames += fragments_of(&bytes)
            .iter()
            .map(|(_, s)| s.len())
            .sum::<usize>();
    }
    assert_eq!(frames, 180);
    writer.finish();
    assert!(!store.is_recording());
}

/// A tmpfs of `size` mounted on a temporary directory while it lives; `None` if this process
/// may not mount (not root).
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Self(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_filesystem_makes_room_or_drops_frames_and_recording_goes_on() {
    // Segments of 2 s on 1 MiB: a write that meets a full disk deletes the oldest segment and
    // succeeds the second time.
    let Some(disk) = Tmpfs::mount("1m") else {
        println!("skipped: cannot mount a tmpfs (not root)");
        return;
    };
    let store = Store::open(
        disk.0.path(),
        Limits {
            max_bytes: Some(1 << 30),
            keep: None,
            segment: Duration::from_secs(2),
        },
    )
    .expect("opens");
    record(&store, 0..1500, |_| 0);
    let stats = store.stats();
    println!("full disk, short segments: {stats:?}");
    assert!(stats.segments_deleted > 0, "retention made room: {stats:?}");
    assert_eq!(stats.frames_written + stats.frames_dropped, 1500);
    for file in segment_files(disk.0.path()) {
        recovered_samples(&file);
    }
    assert_eq!(
        store.spans(0, i64::MAX).0.last().map(|s| s.end),
        Some(ms_end(1500))
    );
    drop(disk);

    // One segment longer than the disk: nothing to delete, so frames are dropped, the segment
    // ends, and the next one (which may then delete it) starts at the next keyframe.
    let Some(disk) = Tmpfs::mount("400k") else {
        return;
    };
    let store = Store::open(disk.0.path(), limits(60)).expect("opens");
    let mut writer = store.writer();
    for i in 0..1200 {
        writer.push(frame(i, 0));
    }
    let before_end = store.stats().frames_written;
    for i in 1200..1500 {
        writer.push(frame(i, 0));
    }
    writer.finish();
    let stats = store.stats();
    println!("full disk, long segment: {stats:?}");
    assert!(
        stats.frames_dropped > 0 && stats.write_errors > 0,
        "{stats:?}"
    );
    assert!(
        stats.frames_written > before_end + 250,
        "still recording at the end: {stats:?}"
    );
    for file in segment_files(disk.0.path()) {
        recovered_samples(&file);
        discover(&file);
    }
    let reopened = Store::open(disk.0.path(), limits(60)).expect("reopens");
    assert_eq!(reopened.spans(0, i64::MAX), store.spans(0, i64::MAX));
}

#[test]
fn the_writer_and_the_readers_can_move_to_threads_of_their_own() {
    fn send<T: Send + 'static>() {}
    send::<Store>();
    send::<SegmentWriter>();
    send::<Playback>();
    send::<ExportFile>();
    fn sync<T: Sync>() {}
    sync::<Store>();
}

#[test]
fn a_new_picture_size_starts_a_new_segment_and_playback_sends_its_init() {
    let small = encode("ball", 60, (160, 120));
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), limits(60)).expect("opens");
    let mut writer = store.writer();
    for i in 0..90 {
        writer.push(frame(i, 0));
    }
    for (n, (data, keyframe)) in small.iter().enumerate() {
        let i = 90 + n as u64;
        let pts = Duration::from_nanos(i * 1_000_000_000 / FPS);
        let captured_us = BASE_US + captured_offset(i);
        writer.push(Frame {
            data: data.clone(),
            keyframe: *keyframe,
            pts,
            captured_us,
        });
    }
    writer.finish();
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 2);
    assert_eq!(discover(&files[0]).1, 320);
    let (duration, width, height) = discover(&files[1]);
    assert_eq!((width, height), (160, 120));
    assert!(duration.abs_diff(Duration::from_secs(2)) <= Duration::from_millis(34));
    assert_eq!(
        store.spans(0, i64::MAX).0,
        vec![Span {
            start: ms(0),
            end: ms_end(150)
        }]
    );

    let mut playback = store.playback(ms(0)).expect("plays");
    let mut inits = 0;
    let mut frames = 0;
    while let Some(bytes) = playback.next(i64::MAX).expect("reads") {
        if &bytes[4..8] == b"ftyp" {
            inits += 1;
        }
        frames += fragments_of(&bytes)
            .iter()
            .map(|(_, s)| s.len())
            .sum::<usize>();
    }
    assert_eq!((inits, frames), (2, 150));
    // An export holds one sample entry: it stops where the size changed.
    let export = store.export(ms(0), ms(150)).expect("exports");
    assert_eq!(export.end(), ms_end(90));
}
