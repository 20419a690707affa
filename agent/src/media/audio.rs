//! The camera's sound: where it comes from, and its one Opus encode for every viewer.
//!
//! Beside the video, in the same capture pipeline (so it starts and stops with it, and runs on
//! the same clock): `source ! audioconvert ! audioresample ! capsfilter (mono, 48 kHz) !
//! opusenc ! tee`. Each viewer's [`super::audio_branch::AudioBranch`] hangs off that tee and
//! payloads the one encoded stream into its own peer connection, as the video branches do with
//! the H.264: a viewer costs an `rtpopuspay` and SRTP, never another encoder.
//!
//! The source is the simulator's beep ([`super::beep`]) with the test picture, else a
//! microphone: `--audio-device` names an ALSA device (`alsasrc`) or a PipeWire/PulseAudio
//! source (`pulsesrc`, which PipeWire serves too); without a name, `autoaudiosrc` takes the
//! system's default input. That default suits both homes of the agent: a Raspberry Pi service
//! has no sound server, and autoaudiosrc falls through to ALSA's `default` device; a desktop
//! runs PipeWire or PulseAudio, and autoaudiosrc takes the source its user chose there.

use super::{MediaError, make};
use gstreamer as gst;
use gstreamer::prelude::*;

/// The Opus bitrate: speech and room sound in mono, well inside any viewer's link.
pub const OPUS_BITRATE: i32 = 32_000;
/// Opus's own rate, and the rate of the raw sound the encoder is given.
pub const RATE: i32 = 48_000;
/// The longest device name taken (ALSA's and PipeWire's are well under this).
const MAX_DEVICE_NAME: usize = 200;

/// Where the sound comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AudioSource {
    /// The simulator's 1 kHz beep at the start of every second of its picture's clock.
    Beep,
    /// The system's default input, as `autoaudiosrc` finds it.
    Default,
    /// An ALSA capture device (`hw:1,0`, `plughw:CARD=Device,DEV=0`, `default`): `alsasrc`.
    Alsa(String),
    /// A PipeWire or PulseAudio source (`alsa_input.usb-…-mono`): `pulsesrc`.
    Pulse(String),
}

impl AudioSource {
    /// The source for `device` (`None`: the beep with the test picture, else the system's
    /// default input). A name with a `:`, or without a `.`, is ALSA's (`hw:1,0`, `default`);
    /// one with a `.` and no `:` is a PipeWire/PulseAudio source name
    /// (`alsa_input.usb-0d8c_USB_Sound_Device-00.mono-fallback`).
    pub fn choose(device: Option<&str>, test_picture: bool) -> Result<Self, MediaError> {
        let Some(name) = device else {
            return Ok(if test_picture {
                Self::Beep
            } else {
                Self::Default
            });
        };
        let name = name.trim();
        if name.is_empty()
            || name.len() > MAX_DEVICE_NAME
            || name.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(MediaError::BadSetting(format!(
                "audio_device must be an ALSA device (hw:1,0) or a PipeWire/PulseAudio source name, \
                 without spaces, at most {MAX_DEVICE_NAME} characters (got {:?}); `arecord -L` or \
                 `pactl list short sources` lists them",
                super::sdp::shorten(name)
            )));
        }
        Ok(if name.contains(':') || !name.contains('.') {
            Self::Alsa(name.to_owned())
        } else {
            Self::Pulse(name.to_owned())
        })
    }

    /// How the source is named in the logs and the status.
    pub fn describe(&self) -> String {
        match self {
            Self::Beep => "beep".into(),
            Self::Default => "default".into(),
            Self::Alsa(name) => format!("alsa:{name}"),
            Self::Pulse(name) => format!("pulse:{name}"),
        }
    }
}

/// The source element of a microphone (not the beep: see [`super::beep::elements`]).
fn microphone(source: &AudioSource) -> Result<gst::Element, MediaError> {
    let (factory, device) = match source {
        AudioSource::Beep | AudioSource::Default => ("autoaudiosrc", None),
        AudioSource::Alsa(name) => ("alsasrc", Some(name)),
        AudioSource::Pulse(name) => ("pulsesrc", Some(name)),
    };
    let element = gst::ElementFactory::make(factory)
        .name("microphone")
        .build()
        .map_err(|_| {
            MediaError::MissingElement(format!(
                "{factory} (gstreamer1.0-alsa for ALSA, gstreamer1.0-pulseaudio for PipeWire/PulseAudio)"
            ))
        })?;
    if let Some(name) = device {
        element.set_property("device", name);
    }
    Ok(element)
}

/// Whether the microphone opens (its device is there and free): tried before the pipeline is
/// built, so that a camera without one still shows its picture. The reason when it does not.
pub fn check_opens(source: &AudioSource) -> Result<(), MediaError> {
    if *source == AudioSource::Beep {
        return Ok(());
    }
    let element = microphone(source)?;
    let opened = element.set_state(gst::State::Ready);
    let _ = element.set_state(gst::State::Null);
    opened.map(|_| ()).map_err(|_| {
        MediaError::BadSetting(format!(
            "the audio source {} does not open (no microphone, in use, or no permission: is the \
             user in the audio group?)",
            source.describe()
        ))
    })
}

/// The source's elements, in order, ending in raw sound.
pub fn source_elements(source: &AudioSource) -> Result<Vec<gst::Element>, MediaError> {
    match source {
        AudioSource::Beep => super::beep::elements(),
        other => Ok(vec![microphone(other)?]),
    }
}

/// What makes Opus of any raw sound: `audioconvert ! audioresample ! capsfilter ! opusenc`.
pub fn encoder_elements() -> Result<Vec<gst::Element>, MediaError> {
    let convert = make("audioconvert")?;
    let resample = make("audioresample")?;
    let raw = make("capsfilter")?;
    raw.set_property(
        "caps",
        gst::Caps::builder("audio/x-raw")
            .field("rate", RATE)
            .field("channels", 1i32)
            .build(),
    );
    let opus = make("opusenc")?;
    opus.set_property("bitrate", OPUS_BITRATE);
    // 20 ms frames: what browsers send and expect (and one RTP packet each).
    super::set_enum(&opus, "frame-size", "20")?;
    Ok(vec![convert, resample, raw, opus])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_name_is_alsas_or_a_sound_servers_by_its_shape() {
        assert_eq!(AudioSource::choose(None, true).unwrap(), AudioSource::Beep);
        assert_eq!(
            AudioSource::choose(None, false).unwrap(),
            AudioSource::Default
        );
        for alsa in ["hw:1,0", "plughw:CARD=Device,DEV=0", "default", "dsnoop"] {
            assert_eq!(
                AudioSource::choose(Some(alsa), false).unwrap(),
                AudioSource::Alsa(alsa.into()),
                "{alsa}"
            );
        }
        let pipewire = "alsa_input.usb-0d8c_USB_Sound_Device-00.mono-fallback";
        assert_eq!(
            AudioSource::choose(Some(pipewire), true).unwrap(),
            AudioSource::Pulse(pipewire.into()),
            "a named device wins over the beep"
        );
    }

    #[test]
    fn a_device_name_with_spaces_or_controls_or_too_long_is_refused_with_how_to_list_them() {
        let long = "x".repeat(MAX_DEVICE_NAME + 1);
        for bad in ["", "hw:1, 0", "a\u{7}b", long.as_str()] {
            let error = AudioSource::choose(Some(bad), false)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("audio_device") && error.contains("arecord -L"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_encoder_makes_mono_opus_at_48_khz_in_20_ms_frames() {
        crate::media::init_for_tests();
        let chain = encoder_elements().unwrap();
        let caps = chain[2].property::<gst::Caps>("caps");
        let s = caps.structure(0).unwrap();
        assert_eq!(s.get::<i32>("rate"), Ok(RATE));
        assert_eq!(s.get::<i32>("channels"), Ok(1));
        assert_eq!(chain[3].property::<i32>("bitrate"), OPUS_BITRATE);
    }
}
