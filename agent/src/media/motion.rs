//! The motion detector's branch: raw frames from before the encoder, made small and rare by
//! GStreamer, handed to an analyser on a thread of its own.
//!
//! `queue (leaky, 3 frames) ! videorate (drop only, 5 fps) ! videoscale ! videoconvert !
//! I420 at 320 px wide ! appsink` hangs off the raw tee (see [`super::pipeline`]) like any
//! queued consumer: the encoder stays one, the frames are dropped before they are scaled, and a
//! slow analysis loses its own frames, never the camera's. The appsink's callback copies the
//! small picture's luma, stamps it with its capture time, and hands it to a bounded channel;
//! the analyser (an [`FrameAnalyser`], the detector) runs on the branch's thread. A thumbnail is
//! made only when the analyser asks for one ([`RawFrame::jpeg`]), by GStreamer's `jpegenc`
//! from that frame. An analyser that stops taking frames makes the sink refuse the stream: the
//! branch's fuse reports it and the capture's owner removes the branch, the camera goes on.

use super::capture::Capture;
use super::consumer::{ConsumerId, ConsumerKind};
use super::recorder::capture_time_us;
use super::{MediaError, make, queued};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

/// Frames a second the analyser gets.
pub const ANALYSED_FPS: i32 = 5;

/// The analysed picture's width (its height keeps the camera's shape); thumbnails are this size.
pub const ANALYSED_WIDTH: u32 = 320;

/// Raw frames the branch's leaky queue holds (full-size ones: each is over a megabyte at 720p).
const QUEUED_FRAMES: u32 = 3;

/// Frames waiting for the analyser; past it a frame is dropped and counted.
const CHANNEL_FRAMES: usize = 2;

/// How long a thumbnail may take to encode.
const JPEG_TIMEOUT: gst::ClockTime = gst::ClockTime::from_seconds(2);

/// The detector's consumer id: there is one.
pub fn consumer_id() -> ConsumerId {
    ConsumerId::new(ConsumerKind::Detector, "motion")
}

/// One small frame for the analyser.
pub struct RawFrame {
    /// Width of [`RawFrame::luma`].
    pub width: usize,
    /// Height of [`RawFrame::luma`].
    pub height: usize,
    /// The grey picture, rows packed.
    pub luma: Vec<u8>,
    /// When it was captured, UTC milliseconds.
    pub captured_ms: i64,
    sample: gst::Sample,
}

impl std::fmt::Debug for RawFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("captured_ms", &self.captured_ms)
            .finish_non_exhaustive()
    }
}

impl RawFrame {
    /// This frame as a JPEG file (blocking: GStreamer encodes it); `None` if that failed.
    pub fn jpeg(&self) -> Option<Vec<u8>> {
        let caps = gst::Caps::builder("image/jpeg").build();
        let converted = gst_video::convert_sample(&self.sample, &caps, Some(JPEG_TIMEOUT))
            .map_err(|e| tracing::warn!(error = %e, "motion: the thumbnail could not be made"))
            .ok()?;
        let buffer = converted.buffer()?;
        Some(buffer.map_readable().ok()?.as_slice().to_vec())
    }
}

/// What looks at the frames (the motion detector): called from the branch's thread only.
pub trait FrameAnalyser: Send + 'static {
    /// Looks at the next frame.
    fn analyse(&mut self, frame: RawFrame);
    /// The branch stops: end what is under way.
    fn finish(&mut self);
}

/// What the branch counts before the analyser.
#[derive(Debug, Default)]
pub struct BranchCounters {
    /// Frames handed to the analyser.
    pub taken: AtomicU64,
    /// Frames dropped: the analyser was behind, or the queue was full.
    pub dropped: AtomicU64,
}

enum Message {
    Frame(RawFrame),
    Finish,
}

/// The detector's branch and its thread. Stopping (or dropping) it detaches the branch and
/// lets the analyser finish.
#[derive(Debug)]
pub struct MotionBranch {
    capture: Capture,
    counters: Arc<BranchCounters>,
    tx: SyncSender<Message>,
    thread: Option<JoinHandle<()>>,
}

impl MotionBranch {
    /// Hangs the detector's branch off `capture`'s raw frames (the capture then runs whether
    /// or not anyone watches) and starts the thread that runs `analyser`.
    pub fn attach(capture: &Capture, analyser: impl FrameAnalyser) -> Result<Self, MediaError> {
        let counters = Arc::new(BranchCounters::default());
        let (tx, rx) = std::sync::mpsc::sync_channel(CHANNEL_FRAMES);
        let alive = Arc::new(AtomicBool::new(true));
        let thread = std::thread::Builder::new()
            .name("motion".into())
            .spawn({
                let alive = alive.clone();
                move || analyse_frames(analyser, rx, &alive)
            })
            .map_err(|e| MediaError::Gst(format!("could not start the motion thread: {e}")))?;
        let branch = Self {
            capture: capture.clone(),
            counters: counters.clone(),
            tx: tx.clone(),
            thread: Some(thread),
        };
        let (width, height) = capture.picture_size();
        let mut elements = vec![];
        let rate = make("videorate")?;
        rate.set_property("drop-only", true);
        rate.set_property("max-rate", ANALYSED_FPS);
        elements.push(rate);
        elements.push(make("videoscale")?);
        elements.push(make("videoconvert")?);
        let small = make("capsfilter")?;
        small.set_property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("format", "I420")
                .field("width", ANALYSED_WIDTH as i32)
                .field("height", analysed_height(width, height) as i32)
                .build(),
        );
        elements.push(small);
        elements.push(appsink(tx, counters.clone(), alive)?);
        let attached = capture.attach_queued_raw(consumer_id(), elements, QUEUED_FRAMES)?;
        let dropped = counters.clone();
        queued::on_overrun(attached.bin(), move || {
            dropped.dropped.fetch_add(1, Ordering::Relaxed);
        });
        tracing::info!(
            fps = ANALYSED_FPS,
            width = ANALYSED_WIDTH,
            "motion: the detector's branch is attached"
        );
        Ok(branch)
    }

    /// Whether the branch is still in the pipeline (a branch that failed was removed).
    pub fn is_attached(&self) -> bool {
        self.capture.count(ConsumerKind::Detector) > 0
    }

    /// Frames handed to the analyser so far.
    pub fn frames_taken(&self) -> u64 {
        self.counters.taken.load(Ordering::Relaxed)
    }

    /// Frames dropped before the analyser so far.
    pub fn frames_dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// The counters, to read from elsewhere.
    pub fn counters(&self) -> Arc<BranchCounters> {
        self.counters.clone()
    }

    /// Detaches the branch and lets the analyser finish; blocks until it has.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.capture.detach(&consumer_id());
        let Some(thread) = self.thread.take() else {
            return;
        };
        // A full channel holds at most two frames: blocking here is short.
        let _ = self.tx.send(Message::Finish);
        if thread.join().is_err() {
            tracing::error!("the motion thread panicked");
        }
    }
}

impl Drop for MotionBranch {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// The analysed picture's height for a camera of `width` x `height`: the same shape, even.
pub fn analysed_height(width: u32, height: u32) -> u32 {
    let scaled = u64::from(ANALYSED_WIDTH) * u64::from(height) / u64::from(width.max(1));
    (scaled as u32 & !1).max(2)
}

fn analyse_frames(mut analyser: impl FrameAnalyser, rx: Receiver<Message>, alive: &AtomicBool) {
    struct Dead<'a>(&'a AtomicBool);
    impl Drop for Dead<'_> {
        fn drop(&mut self) {
            // Also on a panic: the sink then refuses the stream, and the branch is removed.
            self.0.store(false, Ordering::Relaxed);
        }
    }
    let _dead = Dead(alive);
    while let Ok(Message::Frame(frame)) = rx.recv() {
        analyser.analyse(frame);
    }
    analyser.finish();
    tracing::info!("motion: the detector stopped");
}

fn appsink(
    tx: SyncSender<Message>,
    counters: Arc<BranchCounters>,
    alive: Arc<AtomicBool>,
) -> Result<gst::Element, MediaError> {
    let sink = make("appsink")?;
    sink.set_property("sync", false);
    sink.set_property("emit-signals", true);
    sink.set_property("max-buffers", 1u32);
    sink.set_property("drop", true);
    sink.connect("new-sample", false, move |values| {
        let flow = (|| {
            let sink = values.first()?.get::<gst::Element>().ok()?;
            let sample = sink.emit_by_name::<Option<gst::Sample>>("pull-sample", &[])?;
            if !alive.load(Ordering::Relaxed) {
                return Some(gst::FlowReturn::Error);
            }
            let Some(frame) = frame_of(&sink, sample) else {
                return Some(gst::FlowReturn::Ok);
            };
            match tx.try_send(Message::Frame(frame)) {
                Ok(()) => {
                    counters.taken.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Full(_)) => {
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => return Some(gst::FlowReturn::Error),
            }
            Some(gst::FlowReturn::Ok)
        })()
        .unwrap_or(gst::FlowReturn::Ok);
        Some(flow.to_value())
    });
    Ok(sink)
}

/// The small frame in `sample`: its luma copied out, stamped with its capture time.
fn frame_of(sink: &gst::Element, sample: gst::Sample) -> Option<RawFrame> {
    let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
    let buffer = sample.buffer()?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).ok()?;
    let (width, height) = (info.width() as usize, info.height() as usize);
    let stride = usize::try_from(*info.stride().first()?).ok()?;
    let plane = frame.plane_data(0).ok()?;
    let mut luma = Vec::with_capacity(width * height);
    for y in 0..height {
        luma.extend_from_slice(plane.get(y * stride..y * stride + width)?);
    }
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let captured_us = match (buffer.pts(), sink.clock(), sink.base_time()) {
        (Some(pts), Some(clock), Some(base)) => {
            let running = sample
                .segment()
                .and_then(|s| s.downcast_ref::<gst::ClockTime>())
                .and_then(|s| s.to_running_time(pts))
                .unwrap_or(pts);
            capture_time_us(now_us, clock.time(), base + running)
        }
        _ => now_us,
    };
    drop(frame);
    Some(RawFrame {
        width,
        height,
        luma,
        captured_ms: captured_us / 1_000,
        sample,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_analysed_picture_keeps_the_camera_shape() {
        assert_eq!(analysed_height(1280, 720), 180);
        assert_eq!(analysed_height(640, 480), 240);
        assert_eq!(analysed_height(320, 240), 240);
        assert_eq!(analysed_height(1920, 1080), 180);
    }
}
