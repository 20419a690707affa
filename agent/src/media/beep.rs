//! The simulator's sound: a 1 kHz beep of 100 ms at the start of every second of the clock
//! drawn in its picture, so that a viewer can measure how well sound and picture agree.
//!
//! `audiotestsrc` makes a steady 1 kHz sine (live, on the pipeline's clock, 10 ms a buffer); a
//! probe after it silences every sample outside the first 100 ms of a second. Which second a
//! sample belongs to is worked out from its own timestamp, the running time the picture's frames
//! are stamped with too, mapped to the wall clock that `clockoverlay` draws:
//! `wall = pts + base time + (realtime now - pipeline clock now)`. One thing more keeps them in
//! step: `clockoverlay` reads the wall clock when it draws a frame, not at the frame's
//! timestamp, so the picture's second changes at the first frame whose drawing time has crossed
//! it. A probe before the overlay measures that lag (running time now minus the frame's
//! timestamp) and the beep is shifted by it. Both streams then carry, in their own timestamps,
//! the moment the picture's second changes, and RTCP sender reports map both timestamps to one
//! clock for the viewer.

use super::{MediaError, make, set_enum};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The beep's pitch.
pub const PITCH_HZ: f64 = 1000.0;
/// How long each beep lasts, from the start of the second.
pub const LENGTH_NS: i128 = 100_000_000;
/// Samples per second of the raw sound.
const RATE: i32 = super::audio::RATE;
const SECOND_NS: i128 = 1_000_000_000;

/// How far behind its frame's timestamp `clockoverlay` reads the wall clock, in nanoseconds.
#[derive(Debug, Default)]
pub struct DrawingLag(AtomicI64);

impl DrawingLag {
    /// The latest lag measured.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// `audiotestsrc` (a live 1 kHz sine, 10 ms a buffer) and its caps: 16-bit mono at 48 kHz,
/// the layout the shaping probe writes.
pub fn elements() -> Result<Vec<gst::Element>, MediaError> {
    let tone = gst::ElementFactory::make("audiotestsrc")
        .name("beep")
        .property("is-live", true)
        .property("freq", PITCH_HZ)
        .property("volume", 0.5f64)
        .property("samplesperbuffer", RATE / 100)
        .build()
        .map_err(|_| MediaError::MissingElement("audiotestsrc".into()))?;
    set_enum(&tone, "wave", "sine")?;
    let caps = make("capsfilter")?;
    caps.set_property(
        "caps",
        gst::Caps::builder("audio/x-raw")
            .field("format", "S16LE")
            .field("layout", "interleaved")
            .field("rate", RATE)
            .field("channels", 1i32)
            .build(),
    );
    Ok(vec![tone, caps])
}

/// The running time of `element`'s pipeline now, in nanoseconds.
fn running_now(element: &gst::Element) -> Option<i128> {
    let clock = element.clock()?;
    let base = element.base_time()?;
    Some(i128::from(clock.time().nseconds()) - i128::from(base.nseconds()))
}

/// Nanoseconds since the Unix epoch.
fn realtime_ns() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Measures, on the overlay's sink pad, how far behind each frame's timestamp the clock is
/// drawn.
pub fn track_drawing_lag(overlay_sink: &gst::Pad, lag: Arc<DrawingLag>) {
    overlay_sink.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        if let (Some(pts), Some(element)) =
            (info.buffer().and_then(|b| b.pts()), pad.parent_element())
            && let Some(now) = running_now(&element)
        {
            let behind = now - i128::from(pts.nseconds());
            lag.0
                .store(behind.clamp(0, SECOND_NS) as i64, Ordering::Relaxed);
        }
        gst::PadProbeReturn::Ok
    });
}

/// Whether a sample at wall-clock nanoseconds `wall` sounds: in the first 100 ms of a second.
pub fn sounds_at(wall: i128) -> bool {
    wall.rem_euclid(SECOND_NS) < LENGTH_NS
}

/// Silences, on `pad` (16-bit mono at 48 kHz), every sample outside the beeps.
pub fn install(pad: &gst::Pad, lag: Arc<DrawingLag>) {
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(element) = pad.parent_element() else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(running) = running_now(&element) else {
            return gst::PadProbeReturn::Ok;
        };
        // wall = running time + (realtime now - running time now), shifted by the drawing lag.
        let to_wall = realtime_ns() - running + i128::from(lag.get());
        let Some(buffer) = info.buffer_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(pts) = buffer.pts() else {
            return gst::PadProbeReturn::Ok;
        };
        let start = i128::from(pts.nseconds()) + to_wall;
        let Ok(mut map) = buffer.make_mut().map_writable() else {
            return gst::PadProbeReturn::Ok;
        };
        shape(map.as_mut_slice(), start);
        gst::PadProbeReturn::Ok
    });
}

/// Zeroes the 16-bit samples of `samples` (the first at wall-clock `start` ns) that fall
/// outside a beep.
fn shape(samples: &mut [u8], start: i128) {
    for (i, sample) in samples.chunks_exact_mut(2).enumerate() {
        let at = start + i as i128 * SECOND_NS / i128::from(RATE);
        if !sounds_at(at) {
            sample.fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_100_ms_of_each_second_sound() {
        assert!(sounds_at(5 * SECOND_NS));
        assert!(sounds_at(5 * SECOND_NS + 99_999_999));
        assert!(!sounds_at(5 * SECOND_NS + 100_000_000));
        assert!(!sounds_at(6 * SECOND_NS - 1));
        assert!(sounds_at(-SECOND_NS + 1), "before the epoch too");
    }

    #[test]
    fn a_buffer_across_the_second_keeps_the_samples_after_it_only() {
        // 10 ms of full-scale samples starting 5 ms before a second.
        let mut samples = vec![0x7fu8; 960];
        shape(&mut samples, 7 * SECOND_NS - 5_000_000);
        let loud: Vec<bool> = samples.chunks_exact(2).map(|s| s != [0, 0]).collect();
        assert_eq!(loud.iter().filter(|l| **l).count(), 240, "the last 5 ms");
        assert!(!loud[239] && loud[240]);
    }
}
