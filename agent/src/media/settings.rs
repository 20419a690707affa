//! What the agent captures (picture, and sound when asked for) and how it encodes it: shared by the capture pipeline, the source and
//! the encoder, which read it, and by the configuration, which fills it in.

use super::audio::AudioSource;
use super::encoder::Encoder;
use super::source::Source;
use std::time::Duration;

/// What to capture and how to encode it.
#[derive(Clone, Debug)]
pub struct VideoSettings {
    /// The picture source.
    pub source: Source,
    /// Forced encoder, or `None` to take the best installed.
    pub encoder: Option<Encoder>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub framerate: u32,
    /// Target bitrate, kbit/s.
    pub bitrate_kbps: u32,
    /// At most this many frames between keyframes.
    pub key_int: u32,
    /// At most one keyframe request per this interval reaches the encoder.
    pub keyframe_min_interval: Duration,
    /// The test picture only: an object crosses it this often (`None`: it stays still).
    pub simulated_motion: Option<Duration>,
    /// The sound, encoded once beside the picture (`None`: picture only).
    pub audio: Option<AudioSource>,
}

impl VideoSettings {
    /// A small, cheap picture (the test pattern, 320x240 at 15 fps, x264): for tests.
    pub fn small_test() -> Self {
        Self {
            source: Source::test(),
            encoder: Some(Encoder::X264),
            width: 320,
            height: 240,
            framerate: 15,
            bitrate_kbps: 300,
            key_int: 30,
            keyframe_min_interval: Duration::from_millis(250),
            simulated_motion: None,
            audio: None,
        }
    }
}
