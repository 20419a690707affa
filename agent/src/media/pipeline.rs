//! The one capture + encode pipeline every consumer shares:
//! `source ! capsfilter ! [clockoverlay] ! videoconvert ! capsfilter (I420 or NV12) ! raw tee !
//! videoconvert ! encoder ! capsfilter ! h264parse ! capsfilter ! tee`.
//!
//! The raw frames are painted in place before the raw tee (privacy masks, the simulator's
//! crossing object: [`super::paint`]), so every consumer sees them painted. The raw tee feeds
//! the one encoder and, when motion detection is on, the detector's branch (small, rare frames:
//! [`super::motion`]); the second `videoconvert` passes frames through untouched unless the
//! encoder wants another layout. The encoded `tee` allows having no consumers at all
//! (`allow-not-linked`), so the pipeline runs on when the last one leaves. Its sink pad carries the keyframe throttle (see
//! [`super::keyframes`]). What hangs off the tee, and for how long the pipeline runs, is its
//! owner's business: [`super::capture::Capture`].
//!
//! With sound on, a second chain runs beside the picture in the same pipeline: `audio source !
//! audioconvert ! audioresample ! capsfilter ! opusenc ! tee` (see [`super::audio`]). One
//! pipeline means one clock and one running time for both, which is what lets a viewer line
//! them up, and the sound starts and stops with the picture. The pipeline keeps the system
//! clock even when a microphone offers its own (ALSA and PulseAudio sources do): the picture's
//! timing stays what it was without sound, and the microphone is slaved to it.

use super::audio::{self, AudioSource};
use super::beep::{self, DrawingLag};
pub use super::encoder::Encoder;
use super::paint::{CrossingObject, Painter};
pub use super::source::Source;
use super::{
    MediaError, VideoSettings, consumer, count_elements, encoder, keyframes, make, source,
};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::Arc;

/// The capture pipeline, built and playing.
#[derive(Debug)]
pub struct CapturePipeline {
    pipeline: gst::Pipeline,
    tee: gst::Element,
    raw_tee: gst::Element,
    /// The encoded sound's tee, when the camera has sound.
    audio_tee: Option<gst::Element>,
    audio: Option<AudioSource>,
    painter: Arc<Painter>,
    size: (u32, u32),
    encoder: Encoder,
    source: Source,
}

impl CapturePipeline {
    /// Builds the pipeline and starts it.
    pub fn start(settings: &VideoSettings) -> Result<Self, MediaError> {
        let encoder = match settings.encoder {
            Some(forced) => forced,
            None => Encoder::probe()?,
        };
        let pipeline = gst::Pipeline::with_name("mumu-capture");

        let mut chain = source::elements(&settings.source, settings)?;
        let overlay = chain
            .iter()
            .find(|e| e.factory().is_some_and(|f| f.name() == "clockoverlay"))
            .cloned();
        chain.push(make("videoconvert")?);
        // Layouts with a whole luma plane, which the painter and the detector read.
        let raw = make("capsfilter")?;
        raw.set_property(
            "caps",
            "video/x-raw, format=(string){ I420, NV12 }"
                .parse::<gst::Caps>()
                .map_err(|e| MediaError::Gst(format!("raw caps: {e}")))?,
        );
        chain.push(raw.clone());
        let raw_tee = gst::ElementFactory::make("tee")
            .name("raw")
            .property("allow-not-linked", true)
            .build()
            .map_err(|_| MediaError::MissingElement("tee".into()))?;
        chain.push(raw_tee.clone());
        chain.push(make("videoconvert")?);
        chain.extend(encoder::elements(encoder, settings)?);
        chain.push(make("h264parse")?);
        // Fixed here, whoever is attached when the encoder negotiates: with a viewer's branch
        // already linked as the pipeline starts again, h264parse picked `avc` (which the
        // payloader's template lists first) and the payloader refused it.
        let parsed = make("capsfilter")?;
        parsed.set_property(
            "caps",
            gst::Caps::builder("video/x-h264")
                .field("stream-format", "byte-stream")
                .field("alignment", "au")
                .build(),
        );
        chain.push(parsed);
        let tee = gst::ElementFactory::make("tee")
            .name("fanout")
            .property("allow-not-linked", true)
            .build()
            .map_err(|_| MediaError::MissingElement("tee".into()))?;

        chain.push(tee.clone());
        pipeline
            .add_many(&chain)
            .map_err(|e| MediaError::link("the capture elements", e))?;
        gst::Element::link_many(&chain).map_err(|e| MediaError::link("the capture chain", e))?;

        let tee_sink = tee
            .static_pad("sink")
            .ok_or_else(|| MediaError::Gst("tee has no sink pad".into()))?;
        keyframes::install(
            &tee_sink,
            settings.keyframe_min_interval,
            tokio::runtime::Handle::current(),
        );
        let object = match (&settings.source, settings.simulated_motion) {
            (Source::Test { .. }, Some(every)) => Some(CrossingObject::every(every)),
            (_, Some(_)) => {
                tracing::warn!("simulated motion is for the test picture only: ignored");
                None
            }
            (_, None) => None,
        };
        let painter = Arc::new(Painter::new(object));
        let raw_src = raw
            .static_pad("src")
            .ok_or_else(|| MediaError::Gst("capsfilter has no src pad".into()))?;
        super::paint::install(&raw_src, painter.clone());
        let audio = settings
            .audio
            .clone()
            .filter(|source| match audio::check_opens(source) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "no sound: the camera goes on with the picture alone");
                    false
                }
            });
        let audio_tee = match &audio {
            Some(source) => Some(add_audio(&pipeline, source, overlay.as_ref())?),
            None => None,
        };
        pipeline.use_clock(Some(&gst::SystemClock::obtain()));

        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| MediaError::State {
                what: "the capture pipeline".into(),
                detail: e.to_string(),
            })?;
        tracing::info!(
            encoder = encoder.element(),
            width = settings.width,
            height = settings.height,
            fps = settings.framerate,
            bitrate_kbps = settings.bitrate_kbps,
            key_int = settings.key_int,
            audio = %audio.as_ref().map_or_else(|| "none".into(), AudioSource::describe),
            "capture pipeline started (one encoder shared by all viewers)"
        );
        Ok(Self {
            pipeline,
            tee,
            raw_tee,
            audio_tee,
            audio,
            painter,
            size: (settings.width, settings.height),
            encoder,
            source: settings.source.clone(),
        })
    }

    /// The pipeline itself.
    pub fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    /// The tee every branch hangs off.
    pub fn tee(&self) -> &gst::Element {
        &self.tee
    }

    /// The tee of the raw frames, before the encoder (the motion detector hangs off it).
    pub fn raw_tee(&self) -> &gst::Element {
        &self.raw_tee
    }

    /// The tee of the encoded sound, when the camera has sound.
    pub fn audio_tee(&self) -> Option<&gst::Element> {
        self.audio_tee.as_ref()
    }

    /// Where the sound comes from, when the camera has sound.
    pub fn audio(&self) -> Option<&AudioSource> {
        self.audio.as_ref()
    }

    /// What paints the raw frames (privacy masks).
    pub fn painter(&self) -> &Painter {
        &self.painter
    }

    /// The picture's width and height, as configured.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// The encoder in use.
    pub fn encoder(&self) -> Encoder {
        self.encoder
    }

    /// The source in use.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Whether the pipeline is playing (not stopped for want of consumers).
    pub fn is_running(&self) -> bool {
        self.pipeline.current_state() == gst::State::Playing
            || self.pipeline.pending_state() == gst::State::Playing
    }

    /// Stops capturing and encoding (the camera is released, the CPU rests) until
    /// [`CapturePipeline::resume`]. Any consumer bin still in it is stopped first.
    pub fn stop(&self, why: &str) {
        consumer::stop_all(&self.pipeline);
        match self.pipeline.set_state(gst::State::Null) {
            Ok(_) => tracing::info!("capture pipeline stopped: {why}"),
            Err(e) => tracing::warn!(error = %e, "the capture pipeline did not stop"),
        }
    }

    /// Starts a stopped pipeline again for `whom`; a running one is left as it is.
    pub fn resume(&self, whom: &str) -> Result<(), MediaError> {
        if self.is_running() {
            return Ok(());
        }
        self.pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| MediaError::State {
                what: "the capture pipeline".into(),
                detail: e.to_string(),
            })?;
        tracing::info!(
            encoder = self.encoder.element(),
            "capture pipeline started again for {whom}"
        );
        Ok(())
    }

    /// How many video encoders the pipeline holds, counting inside consumer bins: one, however
    /// many consumers there are, is the point of the design.
    pub fn encoder_count(&self) -> usize {
        count_elements(self.pipeline.upcast_ref(), |element| {
            let klass = element
                .factory()
                .and_then(|f| f.metadata("klass").map(str::to_owned))
                .unwrap_or_default();
            klass.contains("Encoder") && klass.contains("Video")
        })
    }

    /// How many audio encoders the pipeline holds: one with sound, whoever listens.
    pub fn audio_encoder_count(&self) -> usize {
        count_elements(self.pipeline.upcast_ref(), |element| {
            let klass = element
                .factory()
                .and_then(|f| f.metadata("klass").map(str::to_owned))
                .unwrap_or_default();
            klass.contains("Encoder") && klass.contains("Audio")
        })
    }

    /// How many elements the pipeline holds, counting inside consumer bins: a leaving consumer
    /// must give all of its back.
    pub fn element_count(&self) -> usize {
        count_elements(self.pipeline.upcast_ref(), |_| true)
    }
}

/// Adds the sound's chain to `pipeline`: `source ! encoder ! tee`; the beep is kept in step
/// with the clock `overlay` draws. Returns the tee.
fn add_audio(
    pipeline: &gst::Pipeline,
    source: &AudioSource,
    overlay: Option<&gst::Element>,
) -> Result<gst::Element, MediaError> {
    let mut chain = audio::source_elements(source)?;
    let raw_end = chain
        .last()
        .and_then(|e| e.static_pad("src"))
        .ok_or_else(|| MediaError::Gst("the audio source has no src pad".into()))?;
    if *source == AudioSource::Beep {
        let lag = Arc::new(DrawingLag::default());
        match overlay.and_then(|o| o.static_pad("video_sink")) {
            Some(pad) => beep::track_drawing_lag(&pad, lag.clone()),
            None => tracing::warn!("the beep has no clock in the picture to keep in step with"),
        }
        beep::install(&raw_end, lag);
    }
    chain.extend(audio::encoder_elements()?);
    let tee = gst::ElementFactory::make("tee")
        .name("sound")
        .property("allow-not-linked", true)
        .build()
        .map_err(|_| MediaError::MissingElement("tee".into()))?;
    chain.push(tee.clone());
    pipeline
        .add_many(&chain)
        .map_err(|e| MediaError::link("the audio elements", e))?;
    gst::Element::link_many(&chain).map_err(|e| MediaError::link("the audio chain", e))?;
    Ok(tee)
}

impl Drop for CapturePipeline {
    fn drop(&mut self) {
        consumer::stop_all(&self.pipeline);
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
