//! Where the pictures come from: the test picture, a V4L2 webcam (raw or MJPEG), or the
//! Raspberry Pi camera module through libcamera; `auto` takes the first one present. Each
//! gives the capture pipeline a chain of elements ending in raw video at the configured size
//! and rate.

use super::VideoSettings;
use super::{MediaError, has_element, make, set_enum};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::path::PathBuf;

/// Which video source to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The first one present: libcamera, then V4L2, then the test picture.
    Auto,
    /// The test picture.
    Test,
    /// A V4L2 device (USB webcam), raw or MJPEG.
    V4l2,
    /// The Raspberry Pi camera module through libcamera.
    Libcamera,
}

/// The simulator's pattern unless told otherwise: still colour bars (SMPTE 75 %, without the
/// noise patch of `smpte`), so that the simulator shows no motion but its clock, and motion
/// events only when asked for (`--simulate-motion-every`).
pub const DEFAULT_PATTERN: &str = "smpte75";

/// Where the pictures come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A live `videotestsrc` with a clock: the simulator. `pattern` is videotestsrc's pattern
    /// name ([`DEFAULT_PATTERN`] for the agent; `ball` moves, so the encoder has real work).
    Test {
        /// videotestsrc's `pattern`.
        pattern: String,
    },
    /// A V4L2 device (a USB webcam): raw video, or MJPEG decoded by `jpegdec`.
    V4l2 {
        /// The device node, e.g. `/dev/video0`.
        device: PathBuf,
    },
    /// The Raspberry Pi camera module through `libcamerasrc`.
    Libcamera,
}

impl Source {
    /// The test picture with its moving ball: what the pipeline's own tests use.
    pub fn test() -> Self {
        Self::Test {
            pattern: "ball".into(),
        }
    }

    /// The source for `kind`; `auto` takes the first present of a libcamera camera, the V4L2
    /// `device`, and the test picture.
    pub fn choose(kind: SourceKind, device: PathBuf, pattern: String) -> Result<Self, MediaError> {
        let presence = Presence {
            libcamera_element: has_element("libcamerasrc"),
            libcamera_camera: kind == SourceKind::Auto && libcamera_camera_present(),
            v4l2_element: has_element("v4l2src"),
            device_exists: device.exists(),
        };
        Self::choose_given(kind, device, pattern, &presence)
    }

    /// [`Source::choose`] on what was found on this machine.
    fn choose_given(
        kind: SourceKind,
        device: PathBuf,
        pattern: String,
        found: &Presence,
    ) -> Result<Self, MediaError> {
        match kind {
            SourceKind::Test => Ok(Self::Test { pattern }),
            SourceKind::Libcamera if !found.libcamera_element => Err(MediaError::BadSetting(
                "--source libcamera needs GStreamer's libcamerasrc: install gstreamer1.0-libcamera"
                    .into(),
            )),
            SourceKind::Libcamera => Ok(Self::Libcamera),
            SourceKind::V4l2 if !found.v4l2_element => Err(MediaError::BadSetting(
                "--source v4l2 needs GStreamer's v4l2src: install gstreamer1.0-plugins-good".into(),
            )),
            SourceKind::V4l2 if !found.device_exists => Err(MediaError::BadSetting(format!(
                "no V4L2 device {} (is the webcam plugged in? `v4l2-ctl --list-devices` lists them)",
                device.display()
            ))),
            SourceKind::V4l2 => Ok(Self::V4l2 { device }),
            SourceKind::Auto if found.libcamera_element && found.libcamera_camera => {
                Ok(Self::Libcamera)
            }
            SourceKind::Auto if found.v4l2_element && found.device_exists => {
                Ok(Self::V4l2 { device })
            }
            SourceKind::Auto => {
                tracing::warn!(
                    device = %device.display(),
                    "no camera found (no libcamera camera, no V4L2 device): using the test picture"
                );
                Ok(Self::Test { pattern })
            }
        }
    }

    /// How the source is reported in the device status.
    pub fn describe(&self) -> String {
        match self {
            Self::Test { .. } => "test".into(),
            Self::V4l2 { device } => format!("v4l2:{}", device.display()),
            Self::Libcamera => "libcamera".into(),
        }
    }
}

/// What [`Source::choose`] found on the machine.
#[derive(Debug, Default)]
struct Presence {
    libcamera_element: bool,
    libcamera_camera: bool,
    v4l2_element: bool,
    device_exists: bool,
}

/// Whether libcamera sees a camera (its device provider lists one).
fn libcamera_camera_present() -> bool {
    gst::DeviceProviderFactory::by_name("libcameraprovider")
        .is_some_and(|provider| !provider.devices().is_empty())
}

/// What a V4L2 device is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V4l2Format {
    /// Raw video at the size and rate: no decoding.
    Raw,
    /// MJPEG at the size and rate, decoded by `jpegdec` (most USB webcams give 720p at 30
    /// only this way).
    Mjpeg,
}

impl V4l2Format {
    /// Raw if the device offers it at `width`x`height`@`fps`, else MJPEG if it offers that.
    pub fn pick(
        device_caps: &gst::Caps,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<Self, String> {
        for (format, caps) in [
            (Self::Raw, sized("video/x-raw", width, height, fps)),
            (Self::Mjpeg, sized("image/jpeg", width, height, fps)),
        ] {
            if device_caps.can_intersect(&caps) {
                return Ok(format);
            }
        }
        Err(format!(
            "the device offers neither raw video nor MJPEG at {width}x{height}@{fps} (what it offers: `v4l2-ctl --list-formats-ext`)"
        ))
    }
}

/// `media_type` at a size and rate.
fn sized(media_type: &str, width: u32, height: u32, fps: u32) -> gst::Caps {
    gst::Caps::builder(media_type)
        .field("width", width as i32)
        .field("height", height as i32)
        .field("framerate", gst::Fraction::new(fps as i32, 1))
        .build()
}

fn capsfilter(caps: &gst::Caps) -> Result<gst::Element, MediaError> {
    let filter = make("capsfilter")?;
    filter.set_property("caps", caps);
    Ok(filter)
}

/// The source's elements, in order, ending in raw video at the configured size and rate.
pub fn elements(
    source: &Source,
    settings: &VideoSettings,
) -> Result<Vec<gst::Element>, MediaError> {
    let (width, height, fps) = (settings.width, settings.height, settings.framerate);
    match source {
        Source::Test { pattern } => {
            let test = gst::ElementFactory::make("videotestsrc")
                .name("source")
                .property("is-live", true)
                .build()
                .map_err(|_| MediaError::MissingElement("videotestsrc".into()))?;
            set_enum(&test, "pattern", pattern)?;
            let mut caps = sized("video/x-raw", width, height, fps);
            caps.make_mut().set("format", "I420");
            let overlay = make("clockoverlay")?;
            overlay.set_property_from_str("time-format", "%H:%M:%S");
            Ok(vec![test, capsfilter(&caps)?, overlay])
        }
        Source::V4l2 { device } => {
            let v4l2 = gst::ElementFactory::make("v4l2src")
                .name("source")
                .property("device", device.to_string_lossy().to_string())
                .build()
                .map_err(|_| MediaError::MissingElement("v4l2src".into()))?;
            let format = V4l2Format::pick(&device_caps(&v4l2, device)?, width, height, fps)
                .map_err(|e| MediaError::BadSetting(format!("{}: {e}", device.display())))?;
            tracing::info!(device = %device.display(), ?format, "V4L2 format");
            Ok(match format {
                V4l2Format::Raw => {
                    vec![v4l2, capsfilter(&sized("video/x-raw", width, height, fps))?]
                }
                V4l2Format::Mjpeg => vec![
                    v4l2,
                    capsfilter(&sized("image/jpeg", width, height, fps))?,
                    make("jpegdec")?,
                ],
            })
        }
        Source::Libcamera => {
            let camera = gst::ElementFactory::make("libcamerasrc")
                .name("source")
                .build()
                .map_err(|_| MediaError::MissingElement("libcamerasrc".into()))?;
            Ok(vec![
                camera,
                capsfilter(&sized("video/x-raw", width, height, fps))?,
            ])
        }
    }
}

/// What the device can give, asked with the element in READY (the device opened).
fn device_caps(v4l2: &gst::Element, device: &std::path::Path) -> Result<gst::Caps, MediaError> {
    v4l2.set_state(gst::State::Ready).map_err(|_| {
        MediaError::BadSetting(format!(
            "cannot open {} (in use by another program, or no permission: is the user in the video group?)",
            device.display()
        ))
    })?;
    let caps = v4l2
        .static_pad("src")
        .map(|pad| pad.query_caps(None))
        .unwrap_or_else(gst::Caps::new_empty);
    let _ = v4l2.set_state(gst::State::Null);
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(libcamera: bool, v4l2_device: bool) -> Presence {
        Presence {
            libcamera_element: true,
            libcamera_camera: libcamera,
            v4l2_element: true,
            device_exists: v4l2_device,
        }
    }

    fn choose(kind: SourceKind, found: &Presence) -> Result<Source, MediaError> {
        Source::choose_given(kind, "/dev/video0".into(), "ball".into(), found)
    }

    #[test]
    fn auto_takes_libcamera_then_v4l2_then_the_test_picture() {
        let v4l2 = Source::V4l2 {
            device: "/dev/video0".into(),
        };
        assert_eq!(
            choose(SourceKind::Auto, &found(true, true)).unwrap(),
            Source::Libcamera
        );
        assert_eq!(choose(SourceKind::Auto, &found(false, true)).unwrap(), v4l2);
        assert_eq!(
            choose(SourceKind::Auto, &found(false, false)).unwrap(),
            Source::test()
        );
    }

    #[test]
    fn an_explicit_source_that_is_not_there_is_an_error_that_says_why() {
        let no_device = choose(SourceKind::V4l2, &found(false, false))
            .unwrap_err()
            .to_string();
        assert!(no_device.contains("/dev/video0"), "{no_device}");
        let no_libcamera = Presence::default();
        let error = choose(SourceKind::Libcamera, &no_libcamera)
            .unwrap_err()
            .to_string();
        assert!(error.contains("gstreamer1.0-libcamera"), "{error}");
        assert_eq!(
            choose(SourceKind::Test, &no_libcamera).unwrap(),
            Source::test()
        );
    }

    #[test]
    fn a_webcam_gives_raw_video_when_it_can_and_mjpeg_otherwise() {
        crate::media::init_for_tests();
        let webcam: gst::Caps = "video/x-raw, format=YUY2, width=640, height=480, framerate=30/1; \
             video/x-raw, format=YUY2, width=1280, height=720, framerate=10/1; \
             image/jpeg, width=1280, height=720, framerate={ 30/1, 15/1 }"
            .parse()
            .unwrap();
        assert_eq!(V4l2Format::pick(&webcam, 640, 480, 30), Ok(V4l2Format::Raw));
        assert_eq!(
            V4l2Format::pick(&webcam, 1280, 720, 30),
            Ok(V4l2Format::Mjpeg)
        );
        let none = V4l2Format::pick(&webcam, 1920, 1080, 30).unwrap_err();
        assert!(none.contains("1920x1080@30"), "{none}");
    }

    #[test]
    fn the_test_picture_is_a_live_source_at_the_configured_size() {
        crate::media::init_for_tests();
        let settings = VideoSettings::small_test();
        let chain = elements(&Source::test(), &settings).unwrap();
        assert!(chain[0].property::<bool>("is-live"));
        let caps = chain[1].property::<gst::Caps>("caps");
        let s = caps.structure(0).unwrap();
        assert_eq!(s.get::<i32>("width"), Ok(320));
        assert_eq!(s.get::<&str>("format"), Ok("I420"));
    }
}
