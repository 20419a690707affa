//! Decoding what arrives, with GStreamer: RTP packets in (as webrtc-rs hands them over), raw
//! samples or pictures out, each stamped with the RTP time it was sent with. The probe decodes
//! the sound always (Opus is cheap) and the picture only when asked to measure A/V sync
//! (H.264 costs real CPU, and the other figures need only the packets: see [`crate::h264`]).
//!
//! `appsrc ! depayloader ! decoder ! appsink`, its own small pipeline per stream, unsynchronised
//! (it decodes as fast as packets come). A packet's buffer is stamped with its RTP timestamp,
//! unwrapped and counted from the stream's first, so every decoded output says which RTP time
//! it starts at.

use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::OnceLock;
use thiserror::Error;

/// The decoder could not be made.
#[derive(Debug, Error)]
#[error("decoder: {0}")]
pub struct DecodeError(String);

/// Initialises GStreamer once for the process.
pub fn init() -> Result<(), DecodeError> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| gst::init().map_err(|e| format!("GStreamer: {e}")))
        .clone()
        .map_err(DecodeError)
}

/// What comes out of a decoder: the RTP time (in the stream's clock rate, counted from its
/// first packet) of its first sample, and its bytes (S16LE mono at 48 kHz for Opus; I420 for
/// H.264, with the picture's width and height).
#[derive(Debug)]
pub struct Decoded {
    /// RTP time of the output's start, from the stream's first packet.
    pub rtp_time: u64,
    /// Width and height of a picture (0 for sound).
    pub size: (u32, u32),
    /// The raw data.
    pub data: Vec<u8>,
}

/// A stream being decoded.
pub struct RtpDecoder {
    pipeline: gst::Pipeline,
    src: gst::Element,
    clock_rate: u64,
    unwrap: Unwrap,
}

impl RtpDecoder {
    /// Opus sound, decoded to 16-bit mono at 48 kHz.
    pub fn opus(
        payload_type: u8,
        on_output: impl Fn(Decoded) + Send + Sync + 'static,
    ) -> Result<Self, DecodeError> {
        Self::new(
            &format!(
                "application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload={payload_type}"
            ),
            "rtpopusdepay ! opusdec ! audioconvert ! audioresample ! \
             audio/x-raw,format=S16LE,rate=48000,channels=1",
            48_000,
            on_output,
        )
    }

    /// H.264 pictures, decoded to I420.
    pub fn h264(
        payload_type: u8,
        on_output: impl Fn(Decoded) + Send + Sync + 'static,
    ) -> Result<Self, DecodeError> {
        Self::new(
            &format!(
                "application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload={payload_type}"
            ),
            "rtph264depay ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=I420",
            90_000,
            on_output,
        )
    }

    fn new(
        caps: &str,
        chain: &str,
        clock_rate: u64,
        on_output: impl Fn(Decoded) + Send + Sync + 'static,
    ) -> Result<Self, DecodeError> {
        init()?;
        let description = format!(
            "appsrc name=in format=time caps=\"{caps}\" ! {chain} ! appsink name=out sync=false emit-signals=true"
        );
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| DecodeError(format!("{description}: {e}")))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| DecodeError("not a pipeline".into()))?;
        let src = pipeline
            .by_name("in")
            .ok_or_else(|| DecodeError("no appsrc".into()))?;
        let sink = pipeline
            .by_name("out")
            .ok_or_else(|| DecodeError("no appsink".into()))?;
        sink.connect("new-sample", false, move |values| {
            let sink = values.first()?.get::<gst::Element>().ok()?;
            let sample = sink.emit_by_name::<Option<gst::Sample>>("pull-sample", &[])?;
            let buffer = sample.buffer()?;
            let size = sample
                .caps()
                .and_then(|c| c.structure(0))
                .map(|s| {
                    (
                        s.get::<i32>("width").unwrap_or(0) as u32,
                        s.get::<i32>("height").unwrap_or(0) as u32,
                    )
                })
                .unwrap_or((0, 0));
            let rtp_time = buffer.pts().map_or(0, |pts| {
                ((u128::from(pts.nseconds()) * u128::from(clock_rate) + 500_000_000)
                    / 1_000_000_000) as u64
            });
            if let Ok(map) = buffer.map_readable() {
                on_output(Decoded {
                    rtp_time,
                    size,
                    data: map.as_slice().to_vec(),
                });
            }
            Some(gst::FlowReturn::Ok.to_value())
        });
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| DecodeError(format!("the decoder did not start: {e}")))?;
        Ok(Self {
            pipeline,
            src,
            clock_rate,
            unwrap: Unwrap::default(),
        })
    }

    /// Hands one RTP packet to the decoder; returns its RTP time from the stream's first.
    pub fn push(
        &mut self,
        payload_type: u8,
        seq: u16,
        timestamp: u32,
        marker: bool,
        ssrc: u32,
        payload: &[u8],
    ) -> u64 {
        let rtp_time = self.unwrap.next(timestamp);
        let mut packet = Vec::with_capacity(12 + payload.len());
        packet.push(0x80);
        packet.push(u8::from(marker) << 7 | (payload_type & 0x7f));
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(&timestamp.to_be_bytes());
        packet.extend_from_slice(&ssrc.to_be_bytes());
        packet.extend_from_slice(payload);
        let mut buffer = gst::Buffer::from_mut_slice(packet);
        if let Some(buffer) = buffer.get_mut() {
            buffer.set_pts(gst::ClockTime::from_nseconds(
                ((u128::from(rtp_time) * 1_000_000_000 + u128::from(self.clock_rate) / 2)
                    / u128::from(self.clock_rate)) as u64,
            ));
        }
        let _ = self
            .src
            .emit_by_name::<gst::FlowReturn>("push-buffer", &[&buffer]);
        rtp_time
    }
}

impl Drop for RtpDecoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// RTP timestamps unwrapped past their 32-bit wrap and counted from the first one.
#[derive(Debug, Default)]
pub struct Unwrap {
    first: Option<u32>,
    last: u64,
}

impl Unwrap {
    /// `timestamp`'s distance from the first, in RTP units (a late packet's a little less
    /// than the latest).
    pub fn next(&mut self, timestamp: u32) -> u64 {
        let first = *self.first.get_or_insert(timestamp);
        let since_first = timestamp.wrapping_sub(first);
        // The candidate nearest the latest value, in the same 2^32 turn or an adjacent one.
        let turn = self.last & !0xffff_ffff;
        let candidates = [turn.wrapping_sub(1 << 32), turn, turn + (1 << 32)]
            .map(|t| t.wrapping_add(u64::from(since_first)));
        let best = candidates
            .into_iter()
            .filter(|c| *c < (1 << 63))
            .min_by_key(|c| c.abs_diff(self.last))
            .unwrap_or(u64::from(since_first));
        self.last = self.last.max(best);
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_times_count_from_the_first_and_go_on_past_the_wrap() {
        let mut unwrap = Unwrap::default();
        assert_eq!(unwrap.next(u32::MAX - 960), 0);
        assert_eq!(unwrap.next(u32::MAX - 480 + 1), 481);
        assert_eq!(unwrap.next(500), 1461);
        assert_eq!(unwrap.next(20), 981, "a late packet before the wrap's");
        assert_eq!(unwrap.next(980), 1941);
    }
}
