//! The camera's sound against a real (test-picture) pipeline: one Opus encode whatever the
//! number of viewers, the sound in every viewer's offer beside the picture (and none without
//! `--audio`), the simulator's beep in the first 100 ms of each second of its clock, a viewer's
//! sound that fails removed while its picture keeps its rate, and the sound leaving with its
//! viewer.

use gstreamer as gst;
use gstreamer::prelude::*;
use mumu_agent::media::audio::AudioSource;
use mumu_agent::media::capture::Capture;
use mumu_agent::media::consumer::{ConsumerId, ConsumerKind};
use mumu_agent::media::{MediaEvent, VideoSettings};
use mumu_agent::sessions::Sessions;
use mumu_shared::SessionId;
use mumu_shared::signaling::{
    DeviceWatchRequest, EndReason, IceTransportPolicy, ServerToDevice, WatchEnded,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc::UnboundedReceiver;

/// The slowest a viewer's picture may get, against the camera's 30.
const MIN_FPS: f64 = 25.0;

fn settings(audio: bool) -> VideoSettings {
    VideoSettings {
        framerate: 30,
        audio: audio.then_some(AudioSource::Beep),
        ..VideoSettings::small_test()
    }
}

fn start(audio: bool) -> (Capture, UnboundedReceiver<MediaEvent>, Sessions) {
    gst::init().expect("GStreamer initialises");
    let (events, rx) = tokio::sync::mpsc::unbounded_channel();
    let capture = Capture::start(&settings(audio), events.clone()).expect("the pipeline starts");
    let sessions = Sessions::new(capture.clone(), events, 8);
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

/// The offers made within two seconds, by session.
async fn offers(events: &mut UnboundedReceiver<MediaEvent>, n: usize) -> Vec<(SessionId, String)> {
    let mut offers = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), async {
        while offers.len() < n {
            match events.recv().await.expect("the branches report") {
                MediaEvent::Offer { session, sdp } => offers.push((session, sdp)),
                MediaEvent::BranchFailed { consumer, reason } => panic!("{consumer}: {reason}"),
                MediaEvent::CaptureFailed { reason } => panic!("{reason}"),
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} offers of {n}", offers.len()));
    offers
}

#[tokio::test]
async fn every_viewer_gets_the_one_opus_encode_in_the_same_offer_as_the_picture() {
    let (capture, mut events, mut sessions) = start(true);
    for session in ["a", "b", "c"] {
        assert!(sessions.on_server_message(watch(session)).is_empty());
    }
    for (session, sdp) in offers(&mut events, 3).await {
        let video = sdp
            .find("m=video")
            .unwrap_or_else(|| panic!("{session}: {sdp}"));
        let audio = sdp
            .find("m=audio")
            .unwrap_or_else(|| panic!("{session}: {sdp}"));
        assert!(video < audio, "the picture's m-line first:\n{sdp}");
        assert!(sdp.contains("a=rtpmap:97 OPUS/48000/2"), "{sdp}");
        let sound = &sdp[audio..];
        assert!(sound.contains("a=sendonly"), "{sdp}");
        assert!(sdp.contains("a=group:BUNDLE video0 audio1"), "{sdp}");
        // One stream of two tracks, in the form every browser reads.
        let streams: Vec<&str> = sdp
            .lines()
            .filter_map(|l| l.strip_prefix("a=msid:")?.split_whitespace().next())
            .collect();
        assert_eq!(streams.len(), 2, "{sdp}");
        assert_eq!(streams[0], streams[1], "{sdp}");
    }
    assert_eq!(capture.count(ConsumerKind::Audio), 3);
    assert_eq!(
        capture.audio_encoder_count(),
        1,
        "one Opus encoder for three viewers"
    );
    assert_eq!(capture.encoder_count(), 1, "and one H.264 encoder");
}

#[tokio::test]
async fn without_sound_the_offer_has_no_audio_section() {
    let (capture, mut events, mut sessions) = start(false);
    sessions.on_server_message(watch("a"));
    let (_, sdp) = offers(&mut events, 1).await.remove(0);
    assert!(!sdp.contains("m=audio"), "{sdp}");
    assert_eq!(capture.count(ConsumerKind::Audio), 0);
    assert_eq!(capture.audio_encoder_count(), 0);
}

#[tokio::test]
async fn the_sound_leaves_with_its_viewer_and_gives_back_every_element() {
    let (capture, mut events, mut sessions) = start(true);
    let before = capture.element_count();
    sessions.on_server_message(watch("a"));
    offers(&mut events, 1).await;
    assert!(
        capture
            .bin_of(&ConsumerId::audio(&SessionId::from("a")))
            .is_some()
    );
    sessions.on_server_message(ServerToDevice::WatchEnded(WatchEnded {
        session_id: "a".into(),
        reason: EndReason::ViewerLeft,
        message: None,
    }));
    let left = Instant::now();
    while capture.element_count() != before {
        assert!(
            left.elapsed() < Duration::from_secs(2),
            "{} elements after the viewer left, {before} before",
            capture.element_count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(capture.consumers().is_empty());
}

/// Goertzel: the amplitude of `hz` in `samples` at 48 kHz.
fn tone_amplitude(samples: &[i16], hz: f64) -> f64 {
    let coefficient = 2.0 * (2.0 * std::f64::consts::PI * hz / 48_000.0).cos();
    let (mut previous, mut before) = (0.0f64, 0.0f64);
    for &sample in samples {
        let next = f64::from(sample) + coefficient * previous - before;
        before = previous;
        previous = next;
    }
    let power = previous * previous + before * before - coefficient * previous * before;
    2.0 * power.max(0.0).sqrt() / samples.len() as f64
}

#[tokio::test]
async fn the_simulators_beep_sounds_in_the_first_100_ms_of_every_second_of_its_clock() {
    let (capture, _events, _sessions) = start(true);
    // The encoded sound, decoded again: each 5 ms block's wall-clock time (the pipeline's
    // running time mapped to the real-time clock, as the beep is placed) and whether it is loud.
    let make = |factory: &str| gst::ElementFactory::make(factory).build().expect(factory);
    let raw = make("capsfilter");
    raw.set_property(
        "caps",
        "audio/x-raw,format=S16LE,rate=48000,channels=1"
            .parse::<gst::Caps>()
            .unwrap(),
    );
    let ear = make("appsink");
    ear.set_property("sync", false);
    ear.set_property("emit-signals", true);
    let elements = vec![make("opusdec"), make("audioconvert"), raw, ear.clone()];
    let blocks: Arc<Mutex<Vec<(i128, bool)>>> = Arc::default();
    let heard = blocks.clone();
    ear.connect("new-sample", false, move |values| {
        let sink = values[0].get::<gst::Element>().ok()?;
        let sample = sink.emit_by_name::<Option<gst::Sample>>("pull-sample", &[])?;
        let buffer = sample.buffer()?;
        let (clock, base) = (sink.clock()?, sink.base_time()?);
        let realtime = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_nanos() as i128;
        let to_wall = realtime - i128::from(clock.time().nseconds()) + i128::from(base.nseconds());
        let start = i128::from(buffer.pts()?.nseconds()) + to_wall;
        let map = buffer.map_readable().ok()?;
        let samples: Vec<i16> = map
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        let mut heard = heard.lock().unwrap();
        for (i, block) in samples.chunks_exact(240).enumerate() {
            let at = start + i as i128 * 5_000_000;
            heard.push((at, tone_amplitude(block, 1000.0) > 2_000.0));
        }
        Some(gst::FlowReturn::Ok.to_value())
    });
    capture
        .attach_queued_audio(
            ConsumerId::new(ConsumerKind::Recorder, "ear"),
            elements,
            Duration::from_secs(1),
        )
        .expect("a consumer of the sound");
    tokio::time::sleep(Duration::from_secs(4)).await;

    let blocks = blocks.lock().unwrap().clone();
    assert!(blocks.len() > 600, "{} blocks of 5 ms in 4 s", blocks.len());
    // Where in its second each loud block falls (ms), allowing Opus's own delay (6.5 ms
    // look-ahead, 20 ms frames) and the picture's drawing lag around the edges.
    let phase = |at: i128| (at.rem_euclid(1_000_000_000) / 1_000_000) as i64;
    let loud: Vec<i64> = blocks
        .iter()
        .filter(|(_, l)| *l)
        .map(|(at, _)| phase(*at))
        .collect();
    let early = loud.iter().filter(|p| **p > 500).map(|p| p - 1000).min();
    let late = loud.iter().filter(|p| **p < 500).max();
    eprintln!(
        "loud 5 ms blocks from {early:?} to {late:?} ms into their second (a block starts there)"
    );
    let stray: Vec<i64> = loud
        .iter()
        .copied()
        .filter(|p| !(*p < 130 || *p > 970))
        .collect();
    assert!(
        stray.is_empty(),
        "loud blocks outside the beeps at {stray:?} ms into their second"
    );
    let beeps = loud.iter().filter(|p| (40..60).contains(*p)).count();
    assert!(
        beeps >= 3 * 4,
        "the middle of at least three beeps is loud: {beeps} blocks at 40-60 ms"
    );
    let quiet_middle = blocks
        .iter()
        .filter(|(at, l)| !*l && (300..700).contains(&phase(*at)))
        .count();
    assert!(quiet_middle > 200, "the rest of each second is quiet");
}

#[tokio::test]
async fn a_viewers_sound_that_fails_is_removed_while_its_picture_keeps_30_fps() {
    let (capture, mut events, mut sessions) = start(true);
    sessions.on_server_message(watch("a"));
    let viewer = ConsumerId::viewer(&SessionId::from("a"));
    let sound = ConsumerId::audio(&SessionId::from("a"));
    let frames = Arc::new(AtomicUsize::new(0));
    let counter = frames.clone();
    capture
        .bin_of(&viewer)
        .expect("the viewer's bin")
        .static_pad("sink")
        .expect("a sink")
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let counted = frames.load(Ordering::Relaxed);
    let started = Instant::now();
    // The payloader fails, as an element does: an error message from inside the sound's bin.
    let payloader = capture
        .bin_of(&sound)
        .expect("the sound's bin")
        .children()
        .into_iter()
        .find(|e| e.factory().is_some_and(|f| f.name() == "rtpopuspay"))
        .expect("its payloader");
    let message = gst::message::Error::builder(gst::StreamError::Failed, "broken on purpose")
        .src(&payloader)
        .build();
    payloader.post_message(message).expect("posted");

    let (failed, reason) = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match events.recv().await.expect("the capture reports") {
                MediaEvent::BranchFailed { consumer, reason } => return (consumer, reason),
                MediaEvent::CaptureFailed { reason } => panic!("the camera went down: {reason}"),
                _ => {}
            }
        }
    })
    .await
    .expect("the failure is reported");
    assert_eq!(failed, sound, "{reason}");
    assert!(reason.contains("broken on purpose"), "{reason}");
    while capture.bin_of(&sound).is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the sound's bin stays"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(started.elapsed())).await;
    let fps = (frames.load(Ordering::Relaxed) - counted) as f64 / started.elapsed().as_secs_f64();
    assert!(
        fps >= MIN_FPS,
        "the picture while its sound failed: {fps:.1} fps"
    );
    assert_eq!(sessions.viewers(), 1, "the viewer's session goes on");
    assert_eq!(capture.consumers(), [viewer], "only the picture is left");
    assert!(capture.is_running());
}
