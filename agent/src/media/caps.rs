//! The RTP caps webrtcbin advertises in its offer: H.264 video, and Opus sound when the camera
//! has it.
//!
//! x264enc's constrained-baseline stream carries constraint flags that make rtph264pay write
//! `profile-level-id=42c0xx`, which Firefox refuses. Constrained baseline 3.1,
//! `42e01f`, is what every browser accepts, and the stream decodes as that. The payloader's caps
//! are rewritten on their way to webrtcbin, so webrtcbin's offer and its own idea of the stream
//! agree (no SDP text munging).

use gstreamer as gst;
use gstreamer::prelude::*;

/// The profile-level-id advertised: constrained baseline, level 3.1.
pub const PROFILE_LEVEL_ID: &str = "42e01f";

/// The RTP payload type of the video.
pub const PAYLOAD_TYPE: u32 = 96;

/// The caps webrtcbin offers before a frame has reached it: what the payloader will send,
/// known in advance, so the offer need not wait for the encoder's next frame. The stream's own
/// caps, when they come, agree with these (same payload type, SSRC, profile and mode).
pub fn offered(ssrc: u32) -> gst::Caps {
    gst::Caps::builder("application/x-rtp")
        .field("media", "video")
        .field("encoding-name", "H264")
        .field("clock-rate", 90_000i32)
        .field("payload", PAYLOAD_TYPE as i32)
        .field("packetization-mode", "1")
        .field("profile-level-id", PROFILE_LEVEL_ID)
        .field("level-asymmetry-allowed", "1")
        .field("ssrc", ssrc)
        .build()
}

/// The RTP payload type of the sound.
pub const AUDIO_PAYLOAD_TYPE: u32 = 97;

/// The Opus caps webrtcbin offers for the sound, known in advance like the video's (the
/// payloader's own agree: `rtpopuspay` always says `OPUS/48000/2`, mono or not, as RFC 7587
/// requires).
pub fn offered_audio(ssrc: u32) -> gst::Caps {
    gst::Caps::builder("application/x-rtp")
        .field("media", "audio")
        .field("encoding-name", "OPUS")
        .field("clock-rate", 48_000i32)
        .field("payload", AUDIO_PAYLOAD_TYPE as i32)
        .field("encoding-params", "2")
        .field("ssrc", ssrc)
        .build()
}

/// `caps` with the advertised profile-level-id and packetization-mode 1 (non-interleaved, which
/// is what browsers decode).
pub fn advertised(caps: &gst::CapsRef) -> gst::Caps {
    let mut caps = caps.to_owned();
    if let Some(s) = caps.make_mut().structure_mut(0)
        && s.name() == "application/x-rtp"
    {
        s.set("profile-level-id", PROFILE_LEVEL_ID);
        s.set("packetization-mode", "1");
    }
    caps
}

/// Rewrites every caps event leaving `pad` (the payloader's source pad).
pub fn install_rewrite(pad: &gst::Pad) {
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |_pad, info| {
        let Some(gst::PadProbeData::Event(event)) = &info.data else {
            return gst::PadProbeReturn::Ok;
        };
        if let gst::EventView::Caps(caps) = event.view() {
            let rewritten = advertised(caps.caps());
            info.data = Some(gst::PadProbeData::Event(gst::event::Caps::new(&rewritten)));
        }
        gst::PadProbeReturn::Ok
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x264_constrained_baseline_is_advertised_as_42e01f_with_packetization_mode_1() {
        crate::media::init_for_tests();
        let caps: gst::Caps = "application/x-rtp,media=video,encoding-name=H264,payload=96,\
             clock-rate=90000,profile-level-id=(string)42c01f,packetization-mode=(string)1"
            .parse()
            .unwrap();
        let out = advertised(&caps);
        let s = out.structure(0).unwrap();
        assert_eq!(s.get::<&str>("profile-level-id").unwrap(), "42e01f");
        assert_eq!(s.get::<&str>("packetization-mode").unwrap(), "1");
        assert_eq!(s.get::<&str>("encoding-name").unwrap(), "H264");
    }

    #[test]
    fn the_offered_caps_agree_with_the_payloaders_own() {
        crate::media::init_for_tests();
        let from_payloader: gst::Caps = "application/x-rtp,media=(string)video,\
             encoding-name=(string)H264,payload=(int)96,clock-rate=(int)90000,\
             profile-level-id=(string)42c01f,packetization-mode=(string)1,ssrc=(uint)1234,\
             timestamp-offset=(uint)5,seqnum-offset=(uint)7,a-framerate=(string)30"
            .parse()
            .unwrap();
        assert!(advertised(&from_payloader).can_intersect(&offered(1234)));
        assert!(!advertised(&from_payloader).can_intersect(&offered(4321)));
    }

    #[test]
    fn the_offered_opus_caps_agree_with_rtpopuspays_own() {
        crate::media::init_for_tests();
        let from_payloader: gst::Caps = "application/x-rtp, media=(string)audio, \
             clock-rate=(int)48000, encoding-name=(string)OPUS, sprop-stereo=(string)0, \
             encoding-params=(string)2, sprop-maxcapturerate=(string)48000, payload=(int)97, \
             ssrc=(uint)99, timestamp-offset=(uint)1, seqnum-offset=(uint)2"
            .parse()
            .unwrap();
        assert!(from_payloader.can_intersect(&offered_audio(99)));
        assert!(!from_payloader.can_intersect(&offered(99)));
    }

    #[test]
    fn caps_that_are_not_rtp_are_left_alone() {
        crate::media::init_for_tests();
        let caps: gst::Caps = "video/x-h264,profile=constrained-baseline".parse().unwrap();
        assert_eq!(advertised(&caps), caps);
    }
}
