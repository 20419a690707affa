//! The H.264 encoder: the best one installed (or the one forced), set up for live streaming
//! to browsers: constrained baseline, byte-stream access units, the configured bitrate and
//! keyframe interval.

use super::VideoSettings;
use super::{MediaError, has_element, make};
use gstreamer as gst;
use gstreamer::prelude::*;

/// The H.264 encoders the agent knows, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoder {
    /// The Raspberry Pi 4's hardware encoder (V4L2 M2M).
    V4l2H264,
    /// Software x264 (zerolatency, ultrafast).
    X264,
    /// Cisco's OpenH264.
    OpenH264,
}

impl Encoder {
    /// Best first.
    pub const ALL: [Self; 3] = [Self::V4l2H264, Self::X264, Self::OpenH264];

    /// The element's factory name.
    pub fn element(self) -> &'static str {
        match self {
            Self::V4l2H264 => "v4l2h264enc",
            Self::X264 => "x264enc",
            Self::OpenH264 => "openh264enc",
        }
    }

    /// Whether this encoder's element is installed.
    pub fn is_installed(self) -> bool {
        has_element(self.element())
    }

    /// The first encoder whose element is installed.
    pub fn probe() -> Result<Self, MediaError> {
        Self::first_installed(has_element)
    }

    fn first_installed(installed: impl Fn(&str) -> bool) -> Result<Self, MediaError> {
        Self::ALL
            .into_iter()
            .find(|e| installed(e.element()))
            .ok_or_else(|| {
                MediaError::NoEncoder(
                    Self::ALL
                        .iter()
                        .map(|e| e.element())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })
    }
}

/// The encoder and the capsfilter after it.
pub fn elements(
    encoder: Encoder,
    settings: &VideoSettings,
) -> Result<Vec<gst::Element>, MediaError> {
    let element = make(encoder.element())?;
    let mut caps = gst::Caps::builder("video/x-h264")
        .field("profile", "constrained-baseline")
        .field("stream-format", "byte-stream")
        .field("alignment", "au")
        .build();
    match encoder {
        Encoder::V4l2H264 => {
            let controls: gst::Structure = v4l2_controls(settings)
                .parse()
                .map_err(|e| MediaError::Gst(format!("v4l2h264enc extra-controls: {e}")))?;
            element.set_property("extra-controls", controls);
            caps.make_mut().set("level", h264_level(settings).0);
        }
        Encoder::X264 => {
            element.set_property_from_str("tune", "zerolatency");
            element.set_property_from_str("speed-preset", "ultrafast");
            element.set_property("bitrate", settings.bitrate_kbps);
            element.set_property("key-int-max", settings.key_int);
        }
        Encoder::OpenH264 => {
            element.set_property("bitrate", settings.bitrate_kbps.saturating_mul(1000));
            element.set_property("gop-size", settings.key_int);
        }
    }
    let filter = make("capsfilter")?;
    filter.set_property("caps", &caps);
    Ok(vec![element, filter])
}

/// The H.264 level for the picture (name, V4L2 control value): 3.1 up to 720p30, 4.0 above
/// (the Pi 4's encoder does up to 1080p30, level 4.0).
fn h264_level(settings: &VideoSettings) -> (&'static str, u32) {
    let macroblocks_per_second =
        settings.width.div_ceil(16) * settings.height.div_ceil(16) * settings.framerate;
    if macroblocks_per_second <= 108_000 {
        ("3.1", 9)
    } else {
        ("4", 11)
    }
}

/// v4l2h264enc's `extra-controls`: bitrate (bit/s), keyframe interval, level, and SPS/PPS
/// repeated before every keyframe so a joining viewer can start at any of them.
fn v4l2_controls(settings: &VideoSettings) -> String {
    format!(
        "controls,video_bitrate={},h264_i_frame_period={},h264_level={},repeat_sequence_header=1",
        settings.bitrate_kbps.saturating_mul(1000),
        settings.key_int,
        h264_level(settings).1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hardware_encoder_comes_first_then_x264_then_openh264() {
        let only = |names: &'static [&'static str]| move |e: &str| names.contains(&e);
        assert_eq!(
            Encoder::first_installed(only(&["x264enc", "v4l2h264enc", "openh264enc"])).unwrap(),
            Encoder::V4l2H264
        );
        assert_eq!(
            Encoder::first_installed(only(&["openh264enc", "x264enc"])).unwrap(),
            Encoder::X264
        );
        assert_eq!(
            Encoder::first_installed(only(&["openh264enc"])).unwrap(),
            Encoder::OpenH264
        );
        let none = Encoder::first_installed(only(&[])).unwrap_err().to_string();
        assert!(none.contains("v4l2h264enc, x264enc, openh264enc"), "{none}");
    }

    #[test]
    fn the_pi_encoder_gets_bitrate_keyframe_interval_and_level_as_controls() {
        let mut settings = VideoSettings::small_test();
        settings.width = 1280;
        settings.height = 720;
        settings.framerate = 30;
        settings.bitrate_kbps = 1500;
        settings.key_int = 60;
        assert_eq!(
            v4l2_controls(&settings),
            "controls,video_bitrate=1500000,h264_i_frame_period=60,h264_level=9,repeat_sequence_header=1"
        );
        settings.width = 1920;
        settings.height = 1080;
        assert_eq!(h264_level(&settings), ("4", 11));
        crate::media::init_for_tests();
        let parsed: gst::Structure = v4l2_controls(&settings).parse().unwrap();
        assert_eq!(parsed.get::<i32>("video_bitrate"), Ok(1_500_000));
    }

    #[test]
    fn x264_is_set_up_for_live_streaming_in_constrained_baseline() {
        crate::media::init_for_tests();
        let settings = VideoSettings::small_test();
        let chain = elements(Encoder::X264, &settings).unwrap();
        assert_eq!(chain[0].property::<u32>("bitrate"), settings.bitrate_kbps);
        let caps = chain[1].property::<gst::Caps>("caps");
        let s = caps.structure(0).unwrap();
        assert_eq!(s.get::<&str>("profile"), Ok("constrained-baseline"));
    }
}
