//! Recording against a real (test-picture) pipeline and a real peer: the recorder records with
//! nobody watching, a viewer keeps its frame rate while it does, a disk that fills up costs the
//! recording and never the live picture; the `history` data channel is in the offer only while
//! recording, reaches a real webrtcbin peer, and the history service's refusals travel on it;
//! the same channel serves the motion settings to a session granted `configure`, and only to it.

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_webrtc as gst_webrtc;
use mumu_agent::history::History;
use mumu_agent::media::branch::PeerOptions;
use mumu_agent::media::capture::Capture;
use mumu_agent::media::channel::{ChannelHandler, ChannelHook, DataChannel};
use mumu_agent::media::consumer::{ConsumerId, ConsumerKind};
use mumu_agent::media::recorder::{EncodedFrame, FrameWriter, Recorder};
use mumu_agent::media::{MediaEvent, VideoSettings};
use mumu_agent::motion::MotionService;
use mumu_agent::motion::store::Retention;
use mumu_agent::recording::{Limits, Store};
use mumu_agent::sessions::Sessions;
use mumu_shared::SessionId;
use mumu_shared::history::{DeviceToViewer, RefusalCode, StreamEndReason};
use mumu_shared::signaling::{
    DeviceWatchRequest, Grants, IceCandidate, IceTransportPolicy, ServerToDevice, SessionGrants,
    SessionIce, SessionSdp,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

const FPS: u32 = 30;
/// The slowest a viewer may get, against the camera's 30 (as the other tests allow).
const MIN_FPS: f64 = 25.0;
const WINDOW: Duration = Duration::from_secs(2);

fn settings() -> VideoSettings {
    VideoSettings {
        framerate: FPS,
        ..VideoSettings::small_test()
    }
}

fn start_capture(
    idle_stop: Option<Duration>,
) -> (
    Capture,
    UnboundedReceiver<MediaEvent>,
    UnboundedSender<MediaEvent>,
) {
    gst::init().expect("GStreamer initialises");
    let (events, rx) = unbounded_channel();
    let capture = Capture::start(&settings(), events.clone())
        .expect("the test pipeline starts")
        .with_idle_stop(idle_stop);
    (capture, rx, events)
}

fn limits(segment: Duration) -> Limits {
    Limits {
        max_bytes: Some(200_000_000),
        keep: None,
        segment,
    }
}

fn watch(session: &str, grants: Grants) -> ServerToDevice {
    ServerToDevice::WatchRequest(DeviceWatchRequest {
        session_id: session.into(),
        viewer: "alice".into(),
        ice_servers: vec![],
        ice_transport_policy: IceTransportPolicy::All,
        grants,
    })
}

/// Counts the frames the tee hands to `bin`.
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

async fn fps_over(frames: &AtomicUsize, window: Duration) -> f64 {
    let before = frames.load(Ordering::Relaxed);
    tokio::time::sleep(window).await;
    (frames.load(Ordering::Relaxed) - before) as f64 / window.as_secs_f64()
}

/// The segment files in `dir` (recursively), with their sizes.
fn segment_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut found = vec![];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(segment_files(&path));
        } else if path.extension().is_some_and(|e| e == "mp4" || e == "m4s") {
            let size = entry.metadata().map_or(0, |m| m.len());
            found.push((path, size));
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// A real viewer: webrtcbin in a pipeline of its own, answering the agent's offer on loopback.
// ---------------------------------------------------------------------------------------------

/// What the viewer's webrtcbin reports.
enum Heard {
    Candidate(u32, String),
    Text(String),
    Binary(Vec<u8>),
    ChannelOpen,
}

struct Viewer {
    pipeline: gst::Pipeline,
    webrtc: gst::Element,
    heard: UnboundedReceiver<Heard>,
    channel: Arc<Mutex<Option<gst_webrtc::WebRTCDataChannel>>>,
    /// Video frames depayloaded.
    frames: Arc<AtomicUsize>,
}

impl Viewer {
    fn new() -> Self {
        let pipeline = gst::Pipeline::with_name("viewer");
        let webrtc = gst::ElementFactory::make("webrtcbin")
            .property_from_str("bundle-policy", "max-bundle")
            .build()
            .expect("webrtcbin");
        pipeline.add(&webrtc).unwrap();
        let (tx, heard) = unbounded_channel();
        let candidates = tx.clone();
        webrtc.connect("on-ice-candidate", false, move |values| {
            let mline = values[1].get::<u32>().unwrap();
            let candidate = values[2].get::<String>().unwrap();
            let _ = candidates.send(Heard::Candidate(mline, candidate));
            None
        });
        let frames = Arc::new(AtomicUsize::new(0));
        let counted = frames.clone();
        let pipe = pipeline.downgrade();
        webrtc.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipe.upgrade() else {
                return;
            };
            if pad.direction() != gst::PadDirection::Src {
                return;
            }
            let depay = gst::ElementFactory::make("rtph264depay").build().unwrap();
            let sink = gst::ElementFactory::make("fakesink")
                .property("sync", false)
                .build()
                .unwrap();
            pipeline.add_many([&depay, &sink]).unwrap();
            depay.link(&sink).unwrap();
            depay.sync_state_with_parent().unwrap();
            sink.sync_state_with_parent().unwrap();
            let counted = counted.clone();
            sink.static_pad("sink")
                .unwrap()
                .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                    counted.fetch_add(1, Ordering::Relaxed);
                    gst::PadProbeReturn::Ok
                });
            let _ = pad.link(&depay.static_pad("sink").unwrap());
        });
        let channel = Arc::new(Mutex::new(None));
        let kept = channel.clone();
        webrtc.connect("on-data-channel", false, move |values| {
            let channel = values[1].get::<gst_webrtc::WebRTCDataChannel>().unwrap();
            let texts = tx.clone();
            channel.connect_on_message_string(move |_, text| {
                let _ = texts.send(Heard::Text(text.unwrap_or_default().to_owned()));
            });
            let binaries = tx.clone();
            channel.connect_on_message_data(move |_, bytes| {
                let _ = binaries.send(Heard::Binary(bytes.map(|b| b.to_vec()).unwrap_or_default()));
            });
            *kept.lock().unwrap() = Some(channel.clone());
            let open = tx.clone();
            if channel.ready_state() == gst_webrtc::WebRTCDataChannelState::Open {
                let _ = open.send(Heard::ChannelOpen);
            } else {
                channel.connect_on_open(move |_| {
                    let _ = open.send(Heard::ChannelOpen);
                });
            }
            None
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        Self {
            pipeline,
            webrtc,
            heard,
            channel,
            frames,
        }
    }

    /// Takes the offer and gives the answer's SDP.
    fn answer(&self, offer: &str) -> String {
        let sdp = gstreamer_sdp::SDPMessage::parse_buffer(offer.as_bytes()).unwrap();
        let offer =
            gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Offer, sdp);
        let promise = gst::Promise::new();
        self.webrtc
            .emit_by_name::<()>("set-remote-description", &[&offer, &promise]);
        promise.wait();
        let promise = gst::Promise::new();
        self.webrtc
            .emit_by_name::<()>("create-answer", &[&None::<gst::Structure>, &promise]);
        promise.wait();
        let reply = promise.get_reply().expect("an answer");
        let answer = reply
            .get::<gst_webrtc::WebRTCSessionDescription>("answer")
            .expect("an answer");
        self.webrtc
            .emit_by_name::<()>("set-local-description", &[&answer, &None::<gst::Promise>]);
        answer.sdp().as_text().unwrap()
    }

    fn add_candidate(&self, candidate: &IceCandidate) {
        let mline = u32::from(candidate.sdp_m_line_index.unwrap_or(0));
        self.webrtc
            .emit_by_name::<()>("add-ice-candidate", &[&mline, &candidate.candidate]);
    }

    fn send_text(&self, text: &str) {
        let channel = self.channel.lock().unwrap().clone();
        let channel = channel.expect("the channel is open");
        channel.send_string_full(Some(text)).expect("sent");
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Carries signaling between the agent's side and the viewer until `done` says so; returns
/// what `done` returned. `to_agent` hands the agent what the viewer says (answer, candidates).
async fn converse<T>(
    viewer: &mut Viewer,
    events: &mut UnboundedReceiver<MediaEvent>,
    limit: Duration,
    mut to_agent: impl FnMut(ServerToDevice),
    mut done: impl FnMut(&Heard) -> Option<T>,
) -> T {
    let session: SessionId = "a".into();
    tokio::time::timeout(limit, async {
        loop {
            tokio::select! {
                Some(event) = events.recv() => match event {
                    MediaEvent::Offer { sdp, .. } => {
                        let answer = viewer.answer(&sdp);
                        to_agent(ServerToDevice::SignalAnswer(SessionSdp {
                            session_id: session.clone(),
                            sdp: answer,
                        }));
                    }
                    MediaEvent::IceCandidate { candidate: Some(candidate), .. } => {
                        viewer.add_candidate(&candidate)
                    }
                    MediaEvent::CaptureFailed { reason } => panic!("the camera went down: {reason}"),
                    MediaEvent::BranchFailed { consumer, reason } => {
                        panic!("{consumer} failed: {reason}")
                    }
                    _ => {}
                },
                Some(heard) = viewer.heard.recv() => {
                    if let Heard::Candidate(mline, candidate) = &heard {
                        to_agent(ServerToDevice::SignalIce(SessionIce {
                            session_id: session.clone(),
                            candidate: Some(IceCandidate {
                                candidate: candidate.clone(),
                                sdp_mid: None,
                                sdp_m_line_index: u16::try_from(*mline).ok(),
                            }),
                        }));
                    }
                    if let Some(done) = done(&heard) {
                        return done;
                    }
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("nothing came of it within {limit:?}"))
}

/// The viewer's next history message, carrying signaling meanwhile.
async fn next_reply(
    viewer: &mut Viewer,
    events: &mut UnboundedReceiver<MediaEvent>,
    sessions: &mut Sessions,
) -> DeviceToViewer {
    converse(
        viewer,
        events,
        Duration::from_secs(10),
        |m| {
            sessions.on_server_message(m);
        },
        |heard| match heard {
            Heard::Text(text) => Some(
                mumu_shared::decode::<DeviceToViewer>(text)
                    .expect("the camera speaks the protocol")
                    .message,
            ),
            _ => None,
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// The data channel (no recording needed).
// ---------------------------------------------------------------------------------------------

/// Echoes text back, and answers `bytes N` with N bytes in one binary message.
struct Echo(Mutex<Option<DataChannel>>);

impl ChannelHandler for Echo {
    fn on_text(&self, text: &str) {
        let channel = self.0.lock().unwrap().clone().unwrap();
        match text.strip_prefix("bytes ") {
            Some(n) => {
                let n: usize = n.parse().unwrap();
                channel.send_binary(&vec![7u8; n]).unwrap();
            }
            None => channel.send_text(&format!("echo {text}")).unwrap(),
        }
    }
    fn on_binary(&self, _: &[u8]) {}
    fn on_room(&self) {}
    fn on_closed(&self) {}
}

fn offer_of(events: &mut UnboundedReceiver<MediaEvent>) -> String {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        match events.try_recv() {
            Ok(MediaEvent::Offer { sdp, .. }) => return sdp,
            Ok(_) => {}
            Err(_) => {
                assert!(Instant::now() < until, "no offer within 5 s");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offer_carries_the_history_channel_only_when_asked_to() {
    let (capture, mut events, sender) = start_capture(None);
    capture
        .attach_viewer("plain".into(), &PeerOptions::default(), sender.clone())
        .expect("a viewer");
    let plain = offer_of(&mut events);
    assert_eq!(plain.matches("m=").count(), 1, "the video alone:\n{plain}");
    assert!(!plain.contains("m=application"), "{plain}");

    let made = Arc::new(AtomicUsize::new(0));
    let counted = made.clone();
    let options = PeerOptions {
        data_channel: Some(ChannelHook {
            label: mumu_shared::history::CHANNEL_LABEL.into(),
            made: Arc::new(move |_| {
                counted.fetch_add(1, Ordering::Relaxed);
            }),
        }),
        ..PeerOptions::default()
    };
    capture
        .attach_viewer("history".into(), &options, sender)
        .expect("a viewer");
    let with = offer_of(&mut events);
    let sections: Vec<&str> = with.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(sections.len(), 2, "{with}");
    assert!(
        sections[0].starts_with("m=video"),
        "the video first: {with}"
    );
    assert!(
        sections[1].starts_with("m=application") && sections[1].contains("webrtc-datachannel"),
        "{with}"
    );
    assert!(
        with.contains("a=group:BUNDLE video0 application1")
            || with
                .lines()
                .any(|l| l.starts_with("a=group:BUNDLE") && l.split(' ').count() == 3),
        "both bundled: {with}"
    );
    assert_eq!(made.load(Ordering::Relaxed), 1, "the hook got the channel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_channel_reaches_a_real_peer_and_the_video_plays_beside_it() {
    let (capture, mut events, sender) = start_capture(None);
    let echo = Arc::new(Echo(Mutex::new(None)));
    let served = echo.clone();
    let options = PeerOptions {
        data_channel: Some(ChannelHook {
            label: mumu_shared::history::CHANNEL_LABEL.into(),
            made: Arc::new(move |channel: DataChannel| {
                let handler: Arc<dyn ChannelHandler> = served.clone();
                channel.serve(Arc::downgrade(&handler), 64 * 1024);
                *served.0.lock().unwrap() = Some(channel);
            }),
        }),
        ..PeerOptions::default()
    };
    let branch = capture
        .attach_viewer("a".into(), &options, sender)
        .expect("a viewer");
    let mut viewer = Viewer::new();
    let to_agent = |message: ServerToDevice| match message {
        ServerToDevice::SignalAnswer(answer) => branch.apply_answer(&answer.sdp).expect("answer"),
        ServerToDevice::SignalIce(ice) => branch
            .add_remote_candidate(ice.candidate.as_ref())
            .expect("candidate"),
        _ => {}
    };
    let started = Instant::now();
    converse(
        &mut viewer,
        &mut events,
        Duration::from_secs(15),
        to_agent,
        |h| matches!(h, Heard::ChannelOpen).then_some(()),
    )
    .await;
    eprintln!("history channel open after {:?}", started.elapsed());
    viewer.send_text("hello");
    let to_agent = |_| {};
    let echoed = converse(
        &mut viewer,
        &mut events,
        Duration::from_secs(5),
        to_agent,
        |h| match h {
            Heard::Text(t) => Some(t.clone()),
            _ => None,
        },
    )
    .await;
    assert_eq!(echoed, "echo hello");
    viewer.send_text(&format!(
        "bytes {}",
        4 + mumu_shared::history::MAX_CHUNK_BYTES
    ));
    let bytes = converse(
        &mut viewer,
        &mut events,
        Duration::from_secs(5),
        |_| {},
        |h| match h {
            Heard::Binary(b) => Some(b.len()),
            _ => None,
        },
    )
    .await;
    assert_eq!(
        bytes,
        4 + mumu_shared::history::MAX_CHUNK_BYTES,
        "a whole chunk arrives in one message"
    );
    // The video beside it: the viewer decodes frames at the camera's rate.
    let fps = fps_over(&viewer.frames, WINDOW).await;
    assert!(
        fps >= MIN_FPS,
        "the viewer's video beside the channel: {fps:.1} fps"
    );
    drop(echo);
}

// ---------------------------------------------------------------------------------------------
// Recording (needs the store).
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_starts_with_nobody_watching_and_segments_appear() {
    let dir = tempfile::tempdir().unwrap();
    let idle = Duration::from_millis(300);
    let (capture, _events, _sender) = start_capture(Some(idle));
    let store = Store::open(dir.path(), limits(Duration::from_secs(2))).expect("the store opens");
    let recorder = Recorder::attach(&capture, store.writer()).expect("the recorder attaches");
    assert_eq!(capture.count(ConsumerKind::Recorder), 1);
    assert_eq!(capture.count(ConsumerKind::Viewer), 0);
    assert_eq!(capture.idle_deadline(), None, "never idle while recording");

    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!capture.stop_if_idle(Instant::now() + Duration::from_secs(3600)));
    assert!(capture.is_running(), "the camera runs with nobody watching");
    let stats = recorder.stats();
    assert!(
        stats.frames_taken as f64 >= 4.0 * f64::from(FPS),
        "about 5 s of frames reached the writer: {stats:?}"
    );
    assert_eq!(stats.frames_dropped, 0, "a fast disk drops nothing");
    recorder.stop();
    assert_eq!(
        capture.count(ConsumerKind::Recorder),
        0,
        "stopping detaches it"
    );

    let files = segment_files(dir.path());
    assert!(files.len() >= 2, "segments of 2 s over 5 s: {files:?}");
    assert!(files.iter().all(|(_, size)| *size > 0), "{files:?}");
    let written = store.stats();
    assert!(
        written.frames_written >= stats.frames_taken - 1,
        "{written:?} vs {stats:?}"
    );
    let now = mumu_agent::now_ms();
    let (spans, truncated) = store.spans(now - 60_000, now + 1_000);
    assert!(!truncated);
    let recorded: i64 = spans.iter().map(|s| s.end - s.start).sum();
    assert!(
        (4_000..=7_000).contains(&recorded),
        "about 5 s recorded: {recorded} ms in {spans:?}"
    );
    // Each segment opens in GStreamer's own discoverer, as the issue asks of every one.
    for (path, _) in &files {
        let out = std::process::Command::new("gst-discoverer-1.0")
            .arg(path)
            .output()
            .expect("gst-discoverer-1.0 runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("H.264"),
            "{}: {text}",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_keeps_30_fps_while_recording() {
    let dir = tempfile::tempdir().unwrap();
    let (capture, _events, sender) = start_capture(None);
    let store = Store::open(dir.path(), limits(Duration::from_secs(60))).unwrap();
    let recorder = Recorder::attach(&capture, store.writer()).unwrap();
    let mut sessions = Sessions::new(capture.clone(), sender, 4);
    sessions.on_server_message(watch("a", Grants::default()));
    let viewer = ConsumerId::viewer(&SessionId::from("a"));
    let frames = count_frames(&capture.bin_of(&viewer).expect("the viewer's bin"));
    for _ in 0..2 {
        let fps = fps_over(&frames, WINDOW).await;
        assert!(fps >= MIN_FPS, "the viewer while recording: {fps:.1} fps");
    }
    assert_eq!(capture.encoder_count(), 1, "one encoder for both");
    assert_eq!(recorder.stats().frames_dropped, 0);
}

/// A disk that takes a quarter of a second for every frame.
struct SlowDisk(Arc<AtomicUsize>);

impl FrameWriter for SlowDisk {
    fn push(&mut self, _: EncodedFrame) {
        std::thread::sleep(Duration::from_millis(250));
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn finish(&mut self) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_disk_drops_recorded_frames_and_counts_them_while_the_viewer_keeps_30_fps() {
    let (capture, _events, sender) = start_capture(None);
    let written = Arc::new(AtomicUsize::new(0));
    let recorder = Recorder::attach(&capture, SlowDisk(written.clone())).unwrap();
    let mut sessions = Sessions::new(capture.clone(), sender, 4);
    sessions.on_server_message(watch("a", Grants::default()));
    let viewer = ConsumerId::viewer(&SessionId::from("a"));
    let frames = count_frames(&capture.bin_of(&viewer).expect("the viewer's bin"));
    // Long enough for the writer's channel (about 2 s of frames) to fill up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for _ in 0..2 {
        let fps = fps_over(&frames, WINDOW).await;
        assert!(
            fps >= MIN_FPS,
            "the viewer beside a slow disk: {fps:.1} fps"
        );
    }
    let stats = recorder.stats();
    assert!(stats.frames_dropped > 0, "the slow disk shows: {stats:?}");
    assert!(recorder.is_attached(), "a slow disk is not a failure");
    assert!(
        written.load(Ordering::Relaxed) >= 10,
        "the disk still gets what it can take"
    );
    eprintln!(
        "slow disk: {stats:?}, {} written",
        written.load(Ordering::Relaxed)
    );
    let stopping = Instant::now();
    recorder.stop();
    assert!(
        stopping.elapsed() < Duration::from_secs(4),
        "stopping does not wait for a slow disk to take every queued frame: {:?}",
        stopping.elapsed()
    );
}

/// A tmpfs of `bytes` mounted on a new directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(bytes: u64) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
            .arg("tmpfs")
            .arg(dir.path())
            .status()
            .ok()?;
        status.success().then_some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills what is left of the disk.
    fn fill(&self) {
        use std::io::Write;
        let mut filler = std::fs::File::create(self.path().join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while filler.write_all(&block).is_ok() {}
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_fills_up_costs_the_recording_never_the_live_picture() {
    let Some(disk) = SmallDisk::mount(8 * 1024 * 1024) else {
        panic!("this test mounts a small tmpfs (as root, as CI runs it)");
    };
    let (capture, mut events, sender) = start_capture(None);
    let store = Store::open(disk.path(), limits(Duration::from_secs(2))).unwrap();
    let recorder = Recorder::attach(&capture, store.writer()).unwrap();
    let mut sessions = Sessions::new(capture.clone(), sender, 4);
    sessions.on_server_message(watch("a", Grants::default()));
    let viewer = ConsumerId::viewer(&SessionId::from("a"));
    let frames = count_frames(&capture.bin_of(&viewer).expect("the viewer's bin"));
    let fps = fps_over(&frames, WINDOW).await;
    assert!(fps >= MIN_FPS, "before the disk fills: {fps:.1} fps");

    disk.fill();
    let counted = frames.load(Ordering::Relaxed);
    let filled = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let through =
        (frames.load(Ordering::Relaxed) - counted) as f64 / filled.elapsed().as_secs_f64();
    assert!(
        through >= MIN_FPS,
        "while the disk is full: {through:.1} fps"
    );
    assert!(capture.is_running(), "the camera goes on");
    assert_eq!(sessions.viewers(), 1, "the viewer's session goes on");
    while let Ok(event) = events.try_recv() {
        if let MediaEvent::CaptureFailed { reason } = event {
            panic!("the camera went down: {reason}");
        }
    }
    // And it says so: the writer counts what the disk refused, or retention made room by
    // deleting the oldest (or the branch is gone, and the capture's owner said why).
    let written = store.stats();
    assert!(
        written.write_errors > 0
            || written.frames_dropped > 0
            || written.segments_deleted > 0
            || !recorder.is_attached(),
        "the full disk shows: {written:?}, {:?}",
        recorder.stats()
    );
    eprintln!(
        "full disk: {through:.1} fps live; writer {written:?}; recorder {:?}",
        recorder.stats()
    );
    drop(recorder);
    drop(sessions);
}

// ---------------------------------------------------------------------------------------------
// The history service on the real data channel.
// ---------------------------------------------------------------------------------------------

fn request(text: serde_json::Value) -> String {
    text.to_string()
}

fn refusal(reply: &DeviceToViewer) -> (RefusalCode, String) {
    match reply {
        DeviceToViewer::Refused(refused) => (refused.code, refused.message.clone()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_service_refuses_clearly_on_the_real_channel() {
    let dir = tempfile::tempdir().unwrap();
    let (capture, mut events, sender) = start_capture(None);
    let store = Store::open(dir.path(), limits(Duration::from_secs(2))).unwrap();
    let recorder = Recorder::attach(&capture, store.writer()).unwrap();
    let watched = capture.clone();
    let history = History::new(store.clone(), "Front porch", move || {
        watched.count(ConsumerKind::Recorder) > 0
    });
    let mut sessions = Sessions::new(capture.clone(), sender, 4).with_history(Some(history));
    // Recorded for a while before anyone asks.
    tokio::time::sleep(Duration::from_secs(4)).await;

    assert!(
        sessions
            .on_server_message(watch("a", Grants::default()))
            .is_empty()
    );
    let mut viewer = Viewer::new();
    converse(
        &mut viewer,
        &mut events,
        Duration::from_secs(15),
        |m| {
            sessions.on_server_message(m);
        },
        |h| matches!(h, Heard::ChannelOpen).then_some(()),
    )
    .await;
    let now = mumu_agent::now_ms();

    // Without the grant: list, play and export are refused.
    for (kind, payload) in [
        ("list", serde_json::json!({"from": now - 60_000, "to": now})),
        (
            "play",
            serde_json::json!({"stream": 1, "at": now - 3_000, "until": now}),
        ),
        (
            "export",
            serde_json::json!({"stream": 2, "from": now - 3_000, "to": now}),
        ),
    ] {
        viewer.send_text(&request(
            serde_json::json!({"type": kind, "payload": payload, "request_id": kind}),
        ));
        let reply = next_reply(&mut viewer, &mut events, &mut sessions).await;
        let (code, message) = refusal(&reply);
        assert_eq!(code, RefusalCode::NotPermitted, "{kind}: {message}");
        assert!(message.contains("not allowed"), "{message}");
    }

    // The owner allows it.
    sessions.on_server_message(ServerToDevice::SessionGrants(SessionGrants {
        session_id: "a".into(),
        grants: Grants {
            recordings: true,
            ..Grants::default()
        },
    }));
    viewer.send_text(&request(serde_json::json!({"type": "list", "payload": {"from": now - 60_000, "to": now + 1_000}, "request_id": "l"})));
    match next_reply(&mut viewer, &mut events, &mut sessions).await {
        DeviceToViewer::Recordings(recordings) => {
            assert!(recordings.recording);
            assert!(!recordings.spans.is_empty(), "{recordings:?}");
        }
        other => panic!("expected recordings, got {other:?}"),
    }

    // A malformed request: the refusal names the field.
    viewer.send_text(r#"{"type":"play","payload":{"stream":1,"at":"yesterday","until":5}}"#);
    let (code, message) = refusal(&next_reply(&mut viewer, &mut events, &mut sessions).await);
    assert_eq!(code, RefusalCode::BadMessage);
    assert!(message.contains("`at`"), "names the field: {message}");
    // Too long a message.
    let long = format!(
        r#"{{"type":"list","payload":{{"from":0,"to":1}},"pad":"{}"}}"#,
        "x".repeat(mumu_shared::history::MAX_TEXT_BYTES)
    );
    // A webrtcbin peer refuses to send one this long (a browser's limit is higher): handed to
    // the session as the channel would; the refusal goes back on the channel.
    let history = sessions.history_of(&"a".into()).unwrap().clone();
    tokio::task::spawn_blocking(move || history.handle_text(&long))
        .await
        .unwrap();
    let (code, message) = refusal(&next_reply(&mut viewer, &mut events, &mut sessions).await);
    assert_eq!(code, RefusalCode::BadMessage);
    assert!(message.contains("at most 262144 bytes"), "{message}");
    // Too long an export.
    viewer.send_text(&request(serde_json::json!({"type": "export", "payload": {"stream": 3, "from": now - 2 * 3_600_000, "to": now}})));
    let (code, message) = refusal(&next_reply(&mut viewer, &mut events, &mut sessions).await);
    assert_eq!(code, RefusalCode::BadRange, "{message}");
    assert!(message.contains("at most 60 minutes"), "{message}");
    // A time with nothing recorded: the nearest recording is offered.
    viewer.send_text(&request(serde_json::json!({"type": "play", "payload": {"stream": 4, "at": now - 3_600_000, "until": now}})));
    match next_reply(&mut viewer, &mut events, &mut sessions).await {
        DeviceToViewer::Refused(refused) => {
            assert_eq!(
                refused.code,
                RefusalCode::NoRecording,
                "{}",
                refused.message
            );
            assert!(refused.nearest.is_some(), "{refused:?}");
        }
        other => panic!("expected no_recording, got {other:?}"),
    }

    // Two playbacks run; a third is refused: busy.
    for stream in [10, 11] {
        viewer.send_text(&request(serde_json::json!({"type": "play", "payload": {"stream": stream, "at": now - 3_000, "until": now - 2_500}})));
        match next_reply(&mut viewer, &mut events, &mut sessions).await {
            DeviceToViewer::Playing(playing) => assert_eq!(playing.stream, stream),
            other => panic!("expected playing, got {other:?}"),
        }
    }
    viewer.send_text(&request(serde_json::json!({"type": "play", "payload": {"stream": 12, "at": now - 3_000, "until": now}})));
    let (code, message) = loop {
        match next_reply(&mut viewer, &mut events, &mut sessions).await {
            DeviceToViewer::Refused(refused) => break (refused.code, refused.message),
            _ => continue,
        }
    };
    assert_eq!(code, RefusalCode::Busy, "{message}");
    assert_eq!(sessions.history_of(&"a".into()).unwrap().streams(), 2);

    // Revoked: the running playbacks end, and say why.
    sessions.on_server_message(ServerToDevice::SessionGrants(SessionGrants {
        session_id: "a".into(),
        grants: Grants {
            recordings: false,
            ..Grants::default()
        },
    }));
    let mut revoked = 0;
    while revoked < 2 {
        if let DeviceToViewer::StreamEnded(ended) =
            next_reply(&mut viewer, &mut events, &mut sessions).await
        {
            assert_eq!(ended.reason, StreamEndReason::Revoked, "{ended:?}");
            revoked += 1;
        }
    }
    drop(recorder);
}

/// What the viewer hears next on the history channel: a message, or a chunk's stream and size.
enum Said {
    Message(DeviceToViewer),
    Chunk(u32, Vec<u8>),
}

async fn next_said(
    viewer: &mut Viewer,
    events: &mut UnboundedReceiver<MediaEvent>,
    sessions: &mut Sessions,
) -> Said {
    converse(
        viewer,
        events,
        Duration::from_secs(10),
        |m| {
            sessions.on_server_message(m);
        },
        |heard| match heard {
            Heard::Text(text) => Some(Said::Message(
                mumu_shared::decode::<DeviceToViewer>(text)
                    .expect("the camera speaks the protocol")
                    .message,
            )),
            Heard::Binary(bytes) => {
                let (stream, bytes) =
                    mumu_shared::history::split_chunk(bytes).expect("a chunk names its stream");
                Some(Said::Chunk(stream, bytes.to_vec()))
            }
            _ => None,
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playback_waits_for_more_and_an_export_arrives_whole_on_the_real_channel() {
    let dir = tempfile::tempdir().unwrap();
    let (capture, mut events, sender) = start_capture(None);
    let store = Store::open(dir.path(), limits(Duration::from_secs(2))).unwrap();
    let recorder = Recorder::attach(&capture, store.writer()).unwrap();
    let history = History::new(store.clone(), "Front/porch", || true);
    let mut sessions = Sessions::new(capture.clone(), sender, 4).with_history(Some(history));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        sessions
            .on_server_message(watch(
                "a",
                Grants {
                    recordings: true,
                    ..Grants::default()
                }
            ))
            .is_empty()
    );
    let mut viewer = Viewer::new();
    converse(
        &mut viewer,
        &mut events,
        Duration::from_secs(15),
        |m| {
            sessions.on_server_message(m);
        },
        |h| matches!(h, Heard::ChannelOpen).then_some(()),
    )
    .await;
    let now = mumu_agent::now_ms();

    // A playback of half a second stops there until the viewer asks for more.
    viewer.send_text(&request(serde_json::json!({"type": "play", "payload": {"stream": 1, "at": now - 4_000, "until": now - 3_500}, "request_id": "p"})));
    let playing = match next_said(&mut viewer, &mut events, &mut sessions).await {
        Said::Message(DeviceToViewer::Playing(playing)) => playing,
        Said::Message(other) => panic!("expected playing, got {other:?}"),
        Said::Chunk(..) => panic!("a chunk before `playing`"),
    };
    assert!(playing.mime.starts_with("video/mp4"), "{playing:?}");
    assert!(
        (now - 6_000..=now - 3_500).contains(&playing.start),
        "starts at the keyframe before: {playing:?}"
    );
    let mut played = 0;
    let quiet = loop {
        match tokio::time::timeout(
            Duration::from_millis(1_500),
            next_said(&mut viewer, &mut events, &mut sessions),
        )
        .await
        {
            Ok(Said::Chunk(1, bytes)) => played += bytes.len(),
            Ok(Said::Chunk(other, _)) => panic!("a chunk of stream {other}"),
            Ok(Said::Message(message)) => panic!("the playback went on past `until`: {message:?}"),
            Err(_) => break played,
        }
    };
    assert!(quiet > 0, "the init segment and the first fragments came");
    viewer.send_text(&request(
        serde_json::json!({"type": "more", "payload": {"stream": 1, "until": now + 60_000}}),
    ));
    let ended = loop {
        match next_said(&mut viewer, &mut events, &mut sessions).await {
            Said::Chunk(1, bytes) => played += bytes.len(),
            Said::Chunk(other, _) => panic!("a chunk of stream {other}"),
            Said::Message(DeviceToViewer::StreamEnded(ended)) => break ended,
            Said::Message(other) => panic!("expected chunks then stream_ended, got {other:?}"),
        }
    };
    assert_eq!(ended.reason, StreamEndReason::LiveEdge, "{ended:?}");
    assert!(
        played > quiet,
        "`more` sent more: {played} bytes after {quiet}"
    );

    // An export of two seconds: `exporting`, every byte, then `complete`.
    viewer.send_text(&request(serde_json::json!({"type": "export", "payload": {"stream": 2, "from": now - 4_000, "to": now - 2_000}, "request_id": "e"})));
    let exporting = match next_said(&mut viewer, &mut events, &mut sessions).await {
        Said::Message(DeviceToViewer::Exporting(exporting)) => exporting,
        Said::Message(other) => panic!("expected exporting, got {other:?}"),
        Said::Chunk(..) => panic!("a chunk before `exporting`"),
    };
    assert!(
        exporting.file_name.starts_with("Front_porch "),
        "{exporting:?}"
    );
    assert!(exporting.file_name.ends_with(".mp4"), "{exporting:?}");
    let mut file = vec![];
    let ended = loop {
        match next_said(&mut viewer, &mut events, &mut sessions).await {
            Said::Chunk(2, bytes) => {
                assert!(bytes.len() <= mumu_shared::history::MAX_CHUNK_BYTES);
                file.extend_from_slice(&bytes);
            }
            Said::Chunk(other, _) => panic!("a chunk of stream {other}"),
            Said::Message(DeviceToViewer::StreamEnded(ended)) => break ended,
            Said::Message(other) => panic!("expected chunks then stream_ended, got {other:?}"),
        }
    };
    assert_eq!(ended.reason, StreamEndReason::Complete, "{ended:?}");
    assert_eq!(file.len() as u64, exporting.bytes, "every byte, once");
    let path = dir.path().join("exported.mp4");
    std::fs::write(&path, &file).unwrap();
    let out = std::process::Command::new("gst-discoverer-1.0")
        .arg(&path)
        .output()
        .expect("gst-discoverer-1.0 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("H.264"), "{text}");
    let seconds = duration_of(&text).expect("the discoverer reads a duration");
    assert!(
        (1.9..=3.2).contains(&seconds),
        "two seconds from the keyframe at or before `from`: {seconds} s"
    );
    assert_eq!(sessions.history_of(&"a".into()).unwrap().streams(), 0);

    // A viewer that vanishes mid-playback: the session's release stops its streams.
    viewer.send_text(&request(serde_json::json!({"type": "play", "payload": {"stream": 3, "at": now - 4_000, "until": now - 3_500}})));
    assert!(matches!(
        next_said(&mut viewer, &mut events, &mut sessions).await,
        Said::Message(DeviceToViewer::Playing(_))
    ));
    let history = sessions.history_of(&"a".into()).unwrap().clone();
    assert_eq!(history.streams(), 1, "waiting for `more`");
    sessions.on_server_message(ServerToDevice::WatchEnded(
        mumu_shared::signaling::WatchEnded {
            session_id: "a".into(),
            reason: mumu_shared::signaling::EndReason::ViewerDisconnected,
            message: None,
        },
    ));
    let released = Instant::now();
    while history.streams() > 0 {
        assert!(
            released.elapsed() < Duration::from_secs(2),
            "the stream outlived its session"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "stream stopped {:?} after the session ended",
        released.elapsed()
    );
    drop(recorder);
}

/// The `Duration: H:MM:SS.fff` gst-discoverer-1.0 prints, in seconds.
fn duration_of(report: &str) -> Option<f64> {
    let at = report.find("Duration: ")? + "Duration: ".len();
    let text = report[at..].split_whitespace().next()?;
    let mut parts = text.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}

// ---------------------------------------------------------------------------------------------
// Motion settings and events on the same channel, on a camera that does not record.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_without_recordings_serves_its_motion_settings_to_configure_grants_only() {
    let dir = tempfile::tempdir().unwrap();
    let (capture, mut events, sender) = start_capture(None);
    // Detection off: the settings (and their masks) still apply.
    let motion = MotionService::start(&capture, dir.path(), false, Retention::default()).unwrap();
    let history = History::without_recordings("Porch").with_motion(Some(motion.handle()));
    let mut sessions = Sessions::new(capture.clone(), sender, 4).with_history(Some(history));
    let viewer_only = Grants {
        recordings: true,
        ..Grants::default()
    };
    assert!(
        sessions
            .on_server_message(watch("a", viewer_only))
            .is_empty()
    );
    let mut viewer = Viewer::new();
    converse(
        &mut viewer,
        &mut events,
        Duration::from_secs(15),
        |m| {
            sessions.on_server_message(m);
        },
        |h| matches!(h, Heard::ChannelOpen).then_some(()),
    )
    .await;

    viewer.send_text(r#"{"type":"list","payload":{"from":0,"to":1}}"#);
    let (code, message) = refusal(&next_reply(&mut viewer, &mut events, &mut sessions).await);
    assert_eq!(code, RefusalCode::NotRecording, "{message}");
    viewer.send_text(r#"{"type":"list_events","payload":{}}"#);
    match next_reply(&mut viewer, &mut events, &mut sessions).await {
        DeviceToViewer::Events(listed) => {
            assert!(listed.events.is_empty() && !listed.detecting, "{listed:?}")
        }
        other => panic!("expected events, got {other:?}"),
    }
    let mask = r#"{"points":[{"x":0,"y":0},{"x":5000,"y":0},{"x":5000,"y":5000}]}"#;
    let set = format!(
        r#"{{"type":"set_motion_settings","payload":{{"settings":{{"masks":[{mask}]}}}}}}"#
    );
    viewer.send_text(&set);
    let (code, message) = refusal(&next_reply(&mut viewer, &mut events, &mut sessions).await);
    assert_eq!(code, RefusalCode::NotPermitted, "{message}");
    assert!(message.contains("motion settings"), "{message}");

    // Made an admin: the settings are read and changed, kept on disk, in force.
    sessions.on_server_message(ServerToDevice::SessionGrants(SessionGrants {
        session_id: "a".into(),
        grants: Grants {
            recordings: true,
            configure: true,
            ..Grants::default()
        },
    }));
    viewer.send_text(&set);
    match next_reply(&mut viewer, &mut events, &mut sessions).await {
        DeviceToViewer::MotionSettings(current) => {
            assert_eq!(current.settings.masks.len(), 1, "{current:?}");
            assert!(!current.detecting);
        }
        other => panic!("expected motion_settings, got {other:?}"),
    }
    assert_eq!(motion.settings().masks.len(), 1, "in force");
    assert!(dir.path().join("motion.json").exists(), "kept");
    viewer.send_text(r#"{"type":"set_motion_settings","payload":{"settings":{"sensitivity":0}}}"#);
    let (code, message) = refusal(&next_reply(&mut viewer, &mut events, &mut sessions).await);
    assert_eq!(code, RefusalCode::InvalidSettings, "{message}");
    assert!(message.contains("sensitivity"), "{message}");
    viewer.send_text(r#"{"type":"get_thumbnail","payload":{"stream":1,"start":5}}"#);
    let (code, message) = refusal(&next_reply(&mut viewer, &mut events, &mut sessions).await);
    assert_eq!(code, RefusalCode::NoEvent, "{message}");
    assert_eq!(
        motion.settings().masks.len(),
        1,
        "nothing refused changed them"
    );
    drop(sessions);
    motion.stop();
}
