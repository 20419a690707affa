//! The one capture + encode pipeline every viewer shares:
//! `source ! capsfilter ! [clockoverlay] ! videoconvert ! encoder ! capsfilter ! h264parse !
//! capsfilter ! tee`.
//!
//! The `tee` allows having no viewers at all (`allow-not-linked`), so the pipeline runs on when
//! the last one leaves. Its sink pad carries the keyframe throttle (see [`super::keyframes`]).

use super::branch::{self, PeerOptions, ViewerBranch};
pub use super::encoder::Encoder;
pub use super::source::Source;
use super::{
    MediaError, MediaEvent, MediaEvents, VideoSettings, count_elements, encoder, keyframes, make,
    source,
};
use futures_util::StreamExt;
use gstreamer as gst;
use gstreamer::prelude::*;
use mumu_shared::SessionId;

/// The running capture pipeline.
#[derive(Debug)]
pub struct Capture {
    pipeline: gst::Pipeline,
    tee: gst::Element,
    encoder: Encoder,
    source: Source,
}

impl Capture {
    /// Builds the pipeline, starts it, and reports bus errors to `events`.
    pub fn start(settings: &VideoSettings, events: MediaEvents) -> Result<Self, MediaError> {
        let encoder = match settings.encoder {
            Some(forced) => forced,
            None => Encoder::probe()?,
        };
        let pipeline = gst::Pipeline::with_name("mumu-capture");

        let mut chain = source::elements(&settings.source, settings)?;
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

        watch_bus(&pipeline, events)?;
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
            "capture pipeline started (one encoder shared by all viewers)"
        );
        Ok(Self {
            pipeline,
            tee,
            encoder,
            source: settings.source.clone(),
        })
    }

    /// The encoder in use.
    pub fn encoder(&self) -> Encoder {
        self.encoder
    }

    /// The source in use.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Whether the pipeline is playing (not stopped for want of viewers).
    pub fn is_running(&self) -> bool {
        self.pipeline.current_state() == gst::State::Playing
            || self.pipeline.pending_state() == gst::State::Playing
    }

    /// Stops capturing and encoding (the camera is released, the CPU rests) until
    /// [`Capture::resume`]. Must only be called with no viewer branches attached.
    pub fn stop(&self, why: &str) {
        branch::stop_all(&self.pipeline);
        match self.pipeline.set_state(gst::State::Null) {
            Ok(_) => tracing::info!("capture pipeline stopped: {why}"),
            Err(e) => tracing::warn!(error = %e, "the capture pipeline did not stop"),
        }
    }

    /// Starts a stopped pipeline again; a running one is left as it is.
    pub fn resume(&self) -> Result<(), MediaError> {
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
            "capture pipeline started again for a viewer"
        );
        Ok(())
    }

    /// How many video encoders the pipeline holds, counting inside viewer bins: one, however
    /// many viewers there are, is the point of the design.
    pub fn encoder_count(&self) -> usize {
        count_elements(self.pipeline.upcast_ref(), |element| {
            let klass = element
                .factory()
                .and_then(|f| f.metadata("klass").map(str::to_owned))
                .unwrap_or_default();
            klass.contains("Encoder") && klass.contains("Video")
        })
    }

    /// How many elements the pipeline holds, counting inside viewer bins: a leaving viewer
    /// must give all of its back.
    pub fn element_count(&self) -> usize {
        count_elements(self.pipeline.upcast_ref(), |_| true)
    }

    /// Hangs a new viewer branch for `session` off the tee and starts it; its offer follows as
    /// a [`MediaEvent::Offer`].
    pub fn attach_viewer(
        &self,
        session: SessionId,
        options: &PeerOptions,
        events: MediaEvents,
    ) -> Result<ViewerBranch, MediaError> {
        ViewerBranch::attach(&self.pipeline, &self.tee, session, options, events)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        branch::stop_all(&self.pipeline);
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Forwards the pipeline's errors as [`MediaEvent`]s: an error inside a viewer's bin fails that
/// viewer only; anything else fails the capture.
fn watch_bus(pipeline: &gst::Pipeline, events: MediaEvents) -> Result<(), MediaError> {
    let bus = pipeline
        .bus()
        .ok_or_else(|| MediaError::Gst("the pipeline has no bus".into()))?;
    let mut messages = bus.stream();
    tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            match message.view() {
                gst::MessageView::Error(err) => {
                    let path = err
                        .src()
                        .map(|s| s.path_string().to_string())
                        .unwrap_or_default();
                    let reason = format!(
                        "{path}: {} ({})",
                        err.error(),
                        err.debug().map(|d| d.to_string()).unwrap_or_default()
                    );
                    let event = match branch::session_of_path(&path) {
                        Some(session) => MediaEvent::BranchFailed { session, reason },
                        None => MediaEvent::CaptureFailed { reason },
                    };
                    if events.send(event).is_err() {
                        break;
                    }
                }
                gst::MessageView::Warning(warning) => {
                    tracing::warn!(
                        source = ?warning.src().map(|s| s.path_string()),
                        "{} ({:?})",
                        warning.error(),
                        warning.debug()
                    );
                }
                _ => {}
            }
        }
    });
    Ok(())
}
