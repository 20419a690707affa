//! Motion detection against a real (test-picture) pipeline: the simulator's crossing object
//! makes one event per crossing in the zone over its path and none in a zone away from it; a
//! privacy mask over the path is black in the encoded stream and the detector still sees the
//! object outside it; the still simulator, clock and all, makes no event; a detector that
//! fails is removed and the camera goes on. The tests run side by side, each about 20 s.

use gstreamer as gst;
use gstreamer::prelude::*;
use mumu_agent::media::capture::Capture;
use mumu_agent::media::consumer::{ConsumerId, ConsumerKind};
use mumu_agent::media::motion::{FrameAnalyser, MotionBranch, RawFrame};
use mumu_agent::media::source::Source;
use mumu_agent::media::{MediaEvent, VideoSettings, keyframes};
use mumu_agent::motion::MotionService;
use mumu_agent::motion::store::Retention;
use mumu_shared::events::{EventRecord, MotionSettings, MotionZone, PrivacyMask, rectangle};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// How often the simulator's object crosses.
const EVERY: Duration = Duration::from_secs(5);

/// The simulator as the agent shows it (still bars and a clock), small and cheap.
fn settings(simulated_motion: Option<Duration>) -> VideoSettings {
    VideoSettings {
        source: Source::Test {
            pattern: mumu_agent::media::source::DEFAULT_PATTERN.into(),
        },
        width: 320,
        height: 240,
        framerate: 15,
        simulated_motion,
        ..VideoSettings::small_test()
    }
}

fn start(simulated_motion: Option<Duration>) -> (Capture, UnboundedReceiver<MediaEvent>) {
    gst::init().expect("GStreamer initialises");
    let (events, rx) = tokio::sync::mpsc::unbounded_channel();
    let capture = Capture::start(&settings(simulated_motion), events).expect("the pipeline starts");
    (capture, rx)
}

/// The band the object crosses (55 % down, a fifth of the height high) and some margin.
fn path() -> MotionZone {
    MotionZone {
        name: "path".into(),
        points: rectangle(0, 3500, 10_000, 7500),
    }
}

/// The bottom strip: the object never goes there, nor does the clock.
fn away() -> MotionZone {
    MotionZone {
        name: "away".into(),
        points: rectangle(0, 8200, 10_000, 10_000),
    }
}

/// Runs detection with `motion` for `window`; the events recorded, and how many crossings
/// began in that time.
async fn detect(
    capture: &Capture,
    motion: MotionSettings,
    window: Duration,
) -> (Vec<EventRecord>, u64, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let service =
        MotionService::start_with(capture, dir.path(), motion, true, Retention::default())
            .expect("detection starts");
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let pictures = service.health_probe()().pictures;
    let crossings = started.elapsed().as_millis() as u64 / EVERY.as_millis() as u64 + 1;
    tokio::task::spawn_blocking(move || service.stop())
        .await
        .unwrap();
    // About 5 a second (the first second less: the pipeline starts).
    assert!(
        pictures as f64 >= window.as_secs_f64() * 4.0,
        "the detector saw {pictures} pictures in {window:?}"
    );
    let events = read_events(dir.path());
    (events, crossings, dir)
}

fn read_events(dir: &std::path::Path) -> Vec<EventRecord> {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("an event record"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_crossing_every_5_s_makes_one_event_per_crossing_in_the_zone_of_its_path() {
    let (capture, _events) = start(Some(EVERY));
    let motion = MotionSettings {
        zones: vec![path(), away()],
        ..MotionSettings::default()
    };
    let (events, crossings, dir) = detect(&capture, motion, Duration::from_secs(21)).await;
    eprintln!("{crossings} crossings, events: {events:#?}");
    assert!(
        events.len() as u64 + 1 >= crossings && events.len() as u64 <= crossings,
        "{} events for {crossings} crossings",
        events.len()
    );
    for event in &events {
        assert_eq!(
            event.zones,
            ["path"],
            "the zone away stays quiet: {event:?}"
        );
        assert!(event.end - event.start < 3_000, "{event:?}");
        assert!(event.thumbnail, "{event:?}");
        let jpeg = std::fs::read(dir.path().join(format!("{}.jpg", event.start))).unwrap();
        assert_eq!(&jpeg[..2], [0xFF, 0xD8], "a JPEG file");
    }
    let starts: Vec<i64> = events.iter().map(|e| e.start).collect();
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            (4_500..=5_500).contains(&gap),
            "one event per crossing: {starts:?}"
        );
    }
    assert_eq!(capture.encoder_count(), 1, "still one encoder");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_still_simulator_with_its_clock_makes_no_event() {
    let (capture, _events) = start(None);
    let (events, _, _dir) =
        detect(&capture, MotionSettings::default(), Duration::from_secs(20)).await;
    assert_eq!(events, [], "no event from the still picture and its clock");
}

/// A decoder of the encoded stream, as a viewer decodes it: an appsink of I420 frames.
fn decoded_frames(capture: &Capture) -> gst::Element {
    let make = |name: &str| gst::ElementFactory::make(name).build().expect(name);
    let sink = make("appsink");
    sink.set_property("sync", false);
    sink.set_property("max-buffers", 1u32);
    sink.set_property("drop", true);
    sink.set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("format", "I420")
            .build(),
    );
    let elements = vec![
        make("h264parse"),
        make("avdec_h264"),
        make("videoconvert"),
        sink.clone(),
    ];
    capture
        .attach_queued(
            ConsumerId::new(ConsumerKind::Viewer, "decoder"),
            elements,
            Duration::from_secs(1),
        )
        .expect("the decoder attaches");
    sink.static_pad("sink")
        .unwrap()
        .push_event(keyframes::join_request_event());
    sink
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mask_over_the_path_is_black_for_viewers_and_the_object_is_seen_beside_it() {
    let (capture, _events) = start(Some(EVERY));
    // The left half of the path is masked: the object crosses it unseen, then comes out.
    let mask = rectangle(0, 3000, 5000, 8000);
    let motion = MotionSettings {
        zones: vec![path()],
        masks: vec![PrivacyMask {
            points: mask.clone(),
        }],
        ..MotionSettings::default()
    };
    let decoder = decoded_frames(&capture);
    let detecting = detect(&capture, motion, Duration::from_secs(16));
    let sampling = async {
        // Frames decoded while the object crosses the masked half (0.2–0.7 s into a crossing)
        // and while it does not: the mask is black in both.
        let mut checked = 0;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(8) {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let sink = decoder.clone();
            let sample = tokio::task::spawn_blocking(move || {
                sink.emit_by_name::<Option<gst::Sample>>(
                    "try-pull-sample",
                    &[&gst::ClockTime::from_mseconds(500)],
                )
            })
            .await
            .unwrap();
            let Some(sample) = sample else { continue };
            let buffer = sample.buffer().unwrap();
            let map = buffer.map_readable().unwrap();
            let (width, height) = (320usize, 240usize);
            let luma = &map[..width * height];
            // Inside the mask, away from its edges (the encoder blurs an edge a little).
            for y in (240 * 30 / 100 + 6..240 * 80 / 100 - 6).step_by(5) {
                for x in (4..160 - 6).step_by(5) {
                    let level = luma[y * width + x];
                    assert!(level <= 24, "masked pixel ({x}, {y}) is {level}, not black");
                }
            }
            checked += 1;
        }
        checked
    };
    let ((events, _, _dir), checked) = tokio::join!(detecting, sampling);
    assert!(checked >= 10, "only {checked} decoded frames checked");
    assert!(!events.is_empty(), "the object is seen outside the mask");
    assert!(events.iter().all(|e| e.zones == ["path"]), "{events:?}");
}

/// An analyser that gives up at its third frame.
struct Panicking(u32);

impl FrameAnalyser for Panicking {
    fn analyse(&mut self, _frame: RawFrame) {
        self.0 += 1;
        assert!(self.0 < 3, "the analyser gives up");
    }

    fn finish(&mut self) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detector_that_fails_is_removed_and_the_camera_goes_on() {
    let (capture, mut events) = start(None);
    let branch = MotionBranch::attach(&capture, Panicking(0)).expect("the branch attaches");
    let failed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.recv().await.expect("the capture reports") {
                MediaEvent::BranchFailed { consumer, .. } => return consumer,
                MediaEvent::CaptureFailed { reason } => panic!("the camera went down: {reason}"),
                _ => {}
            }
        }
    })
    .await
    .expect("the failure is reported");
    assert_eq!(failed.kind(), ConsumerKind::Detector);
    assert!(!branch.is_attached());
    assert!(capture.is_running(), "the camera goes on");
    tokio::task::spawn_blocking(move || branch.stop())
        .await
        .unwrap();
}
