//! The capture's owner against a real (test-picture) pipeline: a consumer's branch that fails
//! is removed and reported while a viewer's branch keeps its frame rate; every consumer, not
//! only viewers, keeps the pipeline up; shutdown stops every branch before the pipeline.

use gstreamer as gst;
use gstreamer::prelude::*;
use mumu_agent::media::capture::Capture;
use mumu_agent::media::consumer::{ConsumerId, ConsumerKind};
use mumu_agent::media::{MediaEvent, VideoSettings};
use mumu_agent::sessions::Sessions;
use mumu_shared::SessionId;
use mumu_shared::signaling::{DeviceWatchRequest, IceTransportPolicy, ServerToDevice};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

const FPS: u32 = 30;
/// The slowest a viewer may get, against the camera's 30 (as the full-system tests allow).
const MIN_FPS: f64 = 25.0;
/// Frames are counted over windows this long.
const WINDOW: Duration = Duration::from_secs(2);

/// The test picture at 30 fps, small enough to stay cheap on a loaded machine.
fn settings() -> VideoSettings {
    VideoSettings {
        framerate: FPS,
        ..VideoSettings::small_test()
    }
}

fn start(idle_stop: Option<Duration>) -> (Capture, UnboundedReceiver<MediaEvent>, Sessions) {
    gst::init().expect("GStreamer initialises");
    let (events, rx) = tokio::sync::mpsc::unbounded_channel();
    let capture = Capture::start(&settings(), events.clone())
        .expect("the test pipeline starts")
        .with_idle_stop(idle_stop);
    let sessions = Sessions::new(capture.clone(), events, 4);
    (capture, rx, sessions)
}

fn watch(session: &str) -> ServerToDevice {
    ServerToDevice::WatchRequest(DeviceWatchRequest {
        session_id: session.into(),
        viewer: "alice".into(),
        ice_servers: vec![],
        ice_transport_policy: IceTransportPolicy::All,
        grants: mumu_shared::signaling::Grants::default(),
    })
}

/// Counts the frames the tee hands to `bin` (at its sink, before anything of the branch).
fn count_frames(bin: &gst::Bin) -> Arc<AtomicUsize> {
    let frames = Arc::new(AtomicUsize::new(0));
    let counter = frames.clone();
    bin.static_pad("sink")
        .expect("a branch has a sink")
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    frames
}

/// Frames per second counted over `window`.
async fn fps_over(frames: &AtomicUsize, window: Duration) -> f64 {
    let before = frames.load(Ordering::Relaxed);
    tokio::time::sleep(window).await;
    (frames.load(Ordering::Relaxed) - before) as f64 / window.as_secs_f64()
}

/// A viewer's branch being fed, and its frame counter.
async fn a_viewer_watching(
    capture: &Capture,
    sessions: &mut Sessions,
) -> (ConsumerId, Arc<AtomicUsize>) {
    assert!(sessions.on_server_message(watch("a")).is_empty());
    let viewer = ConsumerId::viewer(&SessionId::from("a"));
    let frames = count_frames(&capture.bin_of(&viewer).expect("the viewer's bin"));
    let fps = fps_over(&frames, WINDOW).await;
    assert!(fps >= MIN_FPS, "the viewer's branch before: {fps:.1} fps");
    (viewer, frames)
}

/// The first failure reported within `limit`; a capture failure fails the test.
async fn branch_failure(
    events: &mut UnboundedReceiver<MediaEvent>,
    limit: Duration,
) -> (ConsumerId, String) {
    tokio::time::timeout(limit, async {
        loop {
            match events.recv().await.expect("the capture reports") {
                MediaEvent::BranchFailed { consumer, reason } => return (consumer, reason),
                MediaEvent::CaptureFailed { reason } => panic!("the camera went down: {reason}"),
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no branch failure reported within {limit:?}"))
}

async fn until_gone(capture: &Capture, id: &ConsumerId) {
    let asked = Instant::now();
    while capture.bin_of(id).is_some() {
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{id}'s bin still in the pipeline"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A consumer whose branch fails on purpose a moment after it starts, while a viewer watches:
/// the failed branch is reported and removed, and the viewer keeps its 30 fps throughout.
async fn a_failing_consumer_leaves_the_viewer_at_full_rate(failing: Vec<gst::Element>) -> String {
    let (capture, mut events, mut sessions) = start(None);
    let (viewer, frames) = a_viewer_watching(&capture, &mut sessions).await;

    let recorder = ConsumerId::new(ConsumerKind::Recorder, "disk");
    let counted = frames.load(Ordering::Relaxed);
    let started = Instant::now();
    capture
        .attach_queued(recorder.clone(), failing, Duration::from_secs(1))
        .expect("the failing branch attaches (it fails only once it writes)");
    let (failed, reason) = branch_failure(&mut events, Duration::from_secs(5)).await;
    assert_eq!(failed, recorder, "{reason}");
    until_gone(&capture, &recorder).await;
    // One window over the attach, the failure and the removal, long enough to count in.
    tokio::time::sleep(WINDOW.saturating_sub(started.elapsed())).await;
    let through =
        (frames.load(Ordering::Relaxed) - counted) as f64 / started.elapsed().as_secs_f64();
    assert!(
        through >= MIN_FPS,
        "the viewer's branch while the other failed: {through:.1} fps"
    );

    let after = fps_over(&frames, WINDOW).await;
    assert!(
        after >= MIN_FPS,
        "the viewer's branch after: {after:.1} fps"
    );
    eprintln!("the viewer's branch: {through:.1} fps through the failure, {after:.1} after");
    assert_eq!(capture.consumers(), [viewer], "only the viewer is left");
    assert_eq!(sessions.viewers(), 1, "the viewer's session goes on");
    assert!(capture.is_running());
    assert_eq!(capture.encoder_count(), 1);
    while let Ok(event) = events.try_recv() {
        match event {
            MediaEvent::CaptureFailed { reason } => panic!("the camera went down: {reason}"),
            MediaEvent::BranchFailed { consumer, reason } => {
                assert_eq!(
                    consumer, recorder,
                    "reported once, and nobody else: {reason}"
                )
            }
            _ => {}
        }
    }
    reason
}

#[tokio::test]
async fn a_recorder_on_a_full_disk_is_removed_while_the_viewer_keeps_30_fps() {
    gst::init().expect("GStreamer initialises");
    // /dev/full takes the file open and refuses every write: ENOSPC, as a full disk does.
    let sink = gst::ElementFactory::make("filesink")
        .property("location", "/dev/full")
        .property_from_str("buffer-mode", "unbuffered")
        .build()
        .expect("filesink");
    let reason = a_failing_consumer_leaves_the_viewer_at_full_rate(vec![sink]).await;
    assert!(reason.contains("space"), "says the disk is full: {reason}");
}

#[tokio::test]
async fn a_consumer_that_breaks_without_a_word_is_removed_while_the_viewer_keeps_30_fps() {
    gst::init().expect("GStreamer initialises");
    // Takes five frames, then refuses every one with a flow error and posts nothing: only the
    // branch's fuse can tell the owner (without it the tee handed the error to the encoder and
    // the source, and the camera went down).
    let sink = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .build()
        .expect("fakesink");
    let taken = AtomicUsize::new(0);
    sink.static_pad("sink").expect("a sink pad").add_probe(
        gst::PadProbeType::BUFFER,
        move |_, info| {
            if taken.fetch_add(1, Ordering::Relaxed) < 5 {
                return gst::PadProbeReturn::Ok;
            }
            info.flow_res = Err(gst::FlowError::Error);
            gst::PadProbeReturn::Handled
        },
    );
    let reason = a_failing_consumer_leaves_the_viewer_at_full_rate(vec![sink]).await;
    assert!(
        reason.contains("stopped taking the stream"),
        "the fuse says why: {reason}"
    );
}

#[tokio::test]
async fn a_recorder_keeps_the_capture_up_without_viewers() {
    let idle = Duration::from_millis(200);
    let (capture, _events, _sessions) = start(Some(idle));
    assert!(capture.idle_deadline().is_some(), "idle with nobody");

    let recorder = ConsumerId::new(ConsumerKind::Recorder, "disk");
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    capture
        .attach_queued(recorder.clone(), vec![sink], Duration::from_secs(1))
        .expect("a recorder attaches");
    assert_eq!(capture.count(ConsumerKind::Recorder), 1);
    assert_eq!(capture.count(ConsumerKind::Viewer), 0);
    assert_eq!(capture.idle_deadline(), None, "never idle while recording");
    assert!(!capture.stop_if_idle(Instant::now() + Duration::from_secs(3600)));
    assert!(capture.is_running());

    assert!(capture.detach(&recorder));
    assert!(!capture.detach(&recorder), "once");
    let due = capture
        .idle_deadline()
        .expect("idle once the recorder has gone");
    assert!(capture.stop_if_idle(due));
    assert!(!capture.is_running());
}

#[tokio::test]
async fn shutdown_stops_every_branch_before_the_pipeline() {
    let (capture, _events, mut sessions) = start(None);
    let base = capture.element_count();
    assert!(sessions.on_server_message(watch("a")).is_empty());
    let recorder = ConsumerId::new(ConsumerKind::Recorder, "disk");
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    capture
        .attach_queued(recorder.clone(), vec![sink], Duration::from_secs(1))
        .expect("a recorder attaches");
    let viewer = ConsumerId::viewer(&SessionId::from("a"));
    let bins = [&viewer, &recorder].map(|id| capture.bin_of(id).expect("attached"));
    tokio::time::sleep(Duration::from_millis(300)).await;

    capture.shut_down();
    for bin in &bins {
        assert_eq!(
            bin.current_state(),
            gst::State::Null,
            "{} stopped",
            bin.name()
        );
        assert!(bin.parent().is_none(), "{} removed", bin.name());
    }
    assert!(capture.consumers().is_empty());
    assert_eq!(
        capture.element_count(),
        base,
        "only the capture's own elements"
    );
    assert!(!capture.is_running());
    let late = gst::ElementFactory::make("fakesink").build().unwrap();
    assert!(
        capture
            .attach_queued(
                ConsumerId::new(ConsumerKind::Detector, "late"),
                vec![late],
                Duration::from_secs(1)
            )
            .is_err(),
        "nothing attaches after shutdown"
    );
}
