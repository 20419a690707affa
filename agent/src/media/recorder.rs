//! The recorder: the encoded stream to disk, as one more branch off the tee.
//!
//! `queue (leaky, ~2 s) ! appsink` hangs off the tee like any queued consumer (see
//! [`super::queued`]); the tee carries H.264 already parsed to Annex B access units, which is
//! what the recording's segment writer takes (a [`FrameWriter`]), so no parser of its own. The appsink's
//! callback only stamps each frame with its capture time and hands it to a bounded channel; a
//! thread of the recorder's own owns the writer and does the file I/O. So a slow disk costs
//! recorded frames (counted, logged at most every few seconds), never a GStreamer thread, and
//! the live viewers never feel it. A writer that stops taking frames (its thread gone) makes the
//! sink refuse the stream: the branch's fuse reports it and the capture's owner removes the
//! branch, the camera goes on.
//!
//! Capture time: a live source stamps a buffer with the pipeline clock's running time at
//! capture, so `base_time + running_time` is the clock's time then, and the wall clock at that
//! moment is now minus how long ago that was. The pipeline clock is monotonic: an NTP step of the
//! wall clock moves the stamps of frames captured after it, never the order within a stream.

use super::capture::Capture;
use super::consumer::{ConsumerId, ConsumerKind};
use super::{MediaError, keyframes, make, queued};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How much of the stream the branch's leaky queue holds before it drops the oldest.
pub const MAX_QUEUED: Duration = Duration::from_secs(2);

/// Frames waiting for the writer thread: about two seconds at 30 fps. Past it a frame is
/// dropped and counted.
const CHANNEL_FRAMES: usize = 64;

/// Stopping writes the frames queued for at most this long.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Dropped frames are logged at most this often.
const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

/// One encoded frame as the recorder takes it from the tee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedFrame {
    /// One H.264 access unit, Annex B (start codes); a keyframe carries SPS and PPS.
    pub data: Vec<u8>,
    /// An IDR frame (a place to start decoding).
    pub keyframe: bool,
    /// The frame's presentation time on the pipeline's running clock (monotonic).
    pub pts: Duration,
    /// The wall-clock time (UTC) the frame was captured, in microseconds since the epoch.
    pub captured_us: i64,
}

/// Where the recorder's frames go (the recording's segment writer): blocking I/O, called from
/// the recorder's own thread only. A trait, so that the media code knows nothing of files.
pub trait FrameWriter: Send + 'static {
    /// Takes a frame; a frame it cannot keep is its own business (dropped and counted).
    fn push(&mut self, frame: EncodedFrame);
    /// Ends what is being written cleanly.
    fn finish(&mut self);
}

/// The recorder's consumer id: there is one.
pub fn consumer_id() -> ConsumerId {
    ConsumerId::new(ConsumerKind::Recorder, "disk")
}

/// What the recorder counts before the disk (the writer counts the rest).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// Frames handed to the writer thread.
    pub frames_taken: u64,
    /// Frames dropped before the disk: the writer thread was behind (a slow disk), or the
    /// branch's queue was full.
    pub frames_dropped: u64,
}

/// The recorder's counters, readable after it stops. Cloning shares them.
#[derive(Clone, Debug, Default)]
pub struct RecorderCounters(Arc<Counters>);

impl RecorderCounters {
    /// The counts now.
    pub fn snapshot(&self) -> RecorderStats {
        RecorderStats {
            frames_taken: self.0.taken.load(Ordering::Relaxed),
            frames_dropped: self.0.dropped.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    taken: AtomicU64,
    dropped: AtomicU64,
    /// Drops since the last log line.
    unlogged: AtomicU64,
    /// Since when the recorder is stopping: what is queued past STOP_GRACE is dropped.
    stopping: std::sync::Mutex<Option<Instant>>,
}

impl Counters {
    fn past_grace(&self) -> bool {
        self.stopping
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|since| since.elapsed() > STOP_GRACE)
    }
}

enum Message {
    Frame(EncodedFrame),
    /// End the segment cleanly (end of stream, or the recorder stops).
    Finish,
}

/// The recording branch and its writer thread. Stopping (or dropping) it detaches the branch and
/// finishes the segment being written.
#[derive(Debug)]
pub struct Recorder {
    capture: Capture,
    counters: Arc<Counters>,
    tx: SyncSender<Message>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Hangs the recorder off `capture` (which then runs whether or not anyone watches) and
    /// starts the thread that writes with `writer`.
    pub fn attach(capture: &Capture, writer: impl FrameWriter) -> Result<Self, MediaError> {
        let counters = Arc::new(Counters::default());
        let (tx, rx) = std::sync::mpsc::sync_channel(CHANNEL_FRAMES);
        let alive = Arc::new(AtomicBool::new(true));
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn({
                let (alive, counters) = (alive.clone(), counters.clone());
                move || write_frames(writer, rx, &alive, &counters)
            })
            .map_err(|e| MediaError::Gst(format!("could not start the recorder thread: {e}")))?;
        let sink = appsink(tx.clone(), counters.clone(), alive)?;
        let recorder = Self {
            capture: capture.clone(),
            counters,
            tx,
            thread: Some(thread),
        };
        let branch = capture.attach_queued(consumer_id(), vec![sink.clone()], MAX_QUEUED)?;
        let counters = recorder.counters.clone();
        queued::on_overrun(branch.bin(), move || {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
        });
        // A segment starts at a keyframe: ask for one now rather than wait up to the keyframe
        // interval (the branch runs once attached, so the request reaches the encoder).
        if let Some(pad) = sink.static_pad("sink") {
            pad.push_event(keyframes::join_request_event());
        }
        tracing::info!("recording: the recorder branch is attached");
        Ok(recorder)
    }

    /// Whether the branch is still in the pipeline (a branch that failed was removed).
    pub fn is_attached(&self) -> bool {
        self.capture.count(ConsumerKind::Recorder) > 0
    }

    /// The counters so far.
    pub fn stats(&self) -> RecorderStats {
        self.counters().snapshot()
    }

    /// The counters, to read later from elsewhere.
    pub fn counters(&self) -> RecorderCounters {
        RecorderCounters(self.counters.clone())
    }

    /// Detaches the branch and finishes the segment; blocks until the writer is done.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.capture.detach(&consumer_id());
        let Some(thread) = self.thread.take() else {
            return;
        };
        // The frames already queued are written, for as long as STOP_GRACE allows; past it (a
        // disk that slow) the rest are dropped, counted, so that stopping never hangs.
        *self
            .counters
            .stopping
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        // Fails only if the thread is gone.
        let _ = self.tx.send(Message::Finish);
        if thread.join().is_err() {
            tracing::error!("the recorder's writer thread panicked");
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// The writer thread: every frame to the writer, in order, until told to finish.
fn write_frames(
    mut writer: impl FrameWriter,
    rx: Receiver<Message>,
    alive: &AtomicBool,
    counters: &Counters,
) {
    struct Dead<'a>(&'a AtomicBool);
    impl Drop for Dead<'_> {
        fn drop(&mut self) {
            // Also on a panic: the sink then refuses the stream, and the branch is removed.
            self.0.store(false, Ordering::Relaxed);
        }
    }
    let _dead = Dead(alive);
    while let Ok(message) = rx.recv() {
        match message {
            Message::Frame(_) if counters.past_grace() => {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Message::Frame(frame) => writer.push(frame),
            Message::Finish => break,
        }
    }
    writer.finish();
    tracing::info!("recording: segment finished, the writer stopped");
}

/// `appsink` that stamps each sample and hands it to the writer thread without waiting.
fn appsink(
    tx: SyncSender<Message>,
    counters: Arc<Counters>,
    alive: Arc<AtomicBool>,
) -> Result<gst::Element, MediaError> {
    let sink = make("appsink")?;
    // The queue ahead is the branch's thread and bound; the sink takes frames as they come.
    sink.set_property("sync", false);
    sink.set_property("emit-signals", true);
    sink.set_property("max-buffers", 1u32);
    sink.set_property(
        "caps",
        gst::Caps::builder("video/x-h264")
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .build(),
    );
    let last_log = std::sync::Mutex::new(Instant::now() - DROP_LOG_EVERY);
    let eos_tx = tx.clone();
    sink.connect("new-sample", false, move |values| {
        let flow = (|| {
            let sink = values.first()?.get::<gst::Element>().ok()?;
            let sample = sink.emit_by_name::<Option<gst::Sample>>("pull-sample", &[])?;
            if !alive.load(Ordering::Relaxed) {
                return Some(gst::FlowReturn::Error);
            }
            let Some(frame) = frame_of(&sink, &sample) else {
                return Some(gst::FlowReturn::Ok);
            };
            match tx.try_send(Message::Frame(frame)) {
                Ok(()) => {
                    counters.taken.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Full(_)) => {
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                    let unlogged = counters.unlogged.fetch_add(1, Ordering::Relaxed) + 1;
                    if let Ok(mut last) = last_log.lock()
                        && last.elapsed() >= DROP_LOG_EVERY
                    {
                        *last = Instant::now();
                        counters.unlogged.store(0, Ordering::Relaxed);
                        tracing::warn!(
                            dropped = unlogged,
                            total = counters.dropped.load(Ordering::Relaxed),
                            "recording: the disk is too slow; frames dropped"
                        );
                    }
                }
                Err(TrySendError::Disconnected(_)) => return Some(gst::FlowReturn::Error),
            }
            Some(gst::FlowReturn::Ok)
        })()
        .unwrap_or(gst::FlowReturn::Ok);
        Some(flow.to_value())
    });
    sink.connect("eos", false, move |_| {
        let _ = eos_tx.try_send(Message::Finish);
        None
    });
    Ok(sink)
}

/// The frame in `sample`, stamped with its capture time; `None` without a timestamp.
fn frame_of(sink: &gst::Element, sample: &gst::Sample) -> Option<EncodedFrame> {
    let buffer = sample.buffer()?;
    let pts = buffer.pts()?;
    let running = sample
        .segment()
        .and_then(|s| s.downcast_ref::<gst::ClockTime>())
        .and_then(|s| s.to_running_time(pts))
        .unwrap_or(pts);
    let captured_us = match (sink.clock(), sink.base_time()) {
        (Some(clock), Some(base)) => capture_time_us(wall_clock_us(), clock.time(), base + running),
        _ => wall_clock_us(),
    };
    let data = buffer.map_readable().ok()?.as_slice().to_vec();
    Some(EncodedFrame {
        data,
        keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
        pts: Duration::from_nanos(running.nseconds()),
        captured_us,
    })
}

/// The wall-clock time a frame was captured at, from the wall clock and the pipeline clock now
/// and the pipeline clock's time at capture.
pub fn capture_time_us(
    wall_now_us: i64,
    clock_now: gst::ClockTime,
    at_capture: gst::ClockTime,
) -> i64 {
    let ago_ns = clock_now.nseconds() as i128 - at_capture.nseconds() as i128;
    let ago_us = i64::try_from(ago_ns / 1_000).unwrap_or(0);
    wall_now_us - ago_us
}

fn wall_clock_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_stamped_with_the_wall_clock_of_its_capture() {
        let now = 1_767_224_400_000_000;
        let clock_now = gst::ClockTime::from_mseconds(10_000);
        // Captured 120 ms ago on the pipeline clock.
        let at = gst::ClockTime::from_mseconds(9_880);
        assert_eq!(capture_time_us(now, clock_now, at), now - 120_000);
        // A frame stamped in the clock's future (it cannot be) is not moved past now by much.
        assert_eq!(
            capture_time_us(now, clock_now, gst::ClockTime::from_mseconds(10_001)),
            now + 1_000
        );
    }
}
