//! The one capture + encode pipeline every viewer shares:
//! `source ! capsfilter ! [clockoverlay] ! videoconvert ! encoder ! capsfilter ! h264parse ! tee`.
//!
//! The `tee` allows having no viewers at all (`allow-not-linked`), so the pipeline runs on when
//! the last one leaves. Its sink pad carries the keyframe throttle (see [`super::keyframes`]).

pub use super::encoder::Encoder;
pub use super::source::Source;
use super::{MediaError, MediaEvent, MediaEvents, encoder, keyframes, make, source};
use futures_util::StreamExt;
use gstreamer as gst;
use gstreamer::prelude::*;
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
}

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

    /// The pipeline that viewer branches join.
    pub fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    /// The tee that viewer branches hang off.
    pub fn tee(&self) -> &gst::Element {
        &self.tee
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
        super::branch::stop_all(&self.pipeline);
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

    /// Asks the encoder for a keyframe (through the throttle).
    pub fn request_keyframe(&self) {
        if let Some(pad) = self.tee.static_pad("sink") {
            pad.push_event(keyframes::force_key_unit_event());
        }
    }

    /// How many video encoders the pipeline holds, counting inside viewer bins: one, however
    /// many viewers there are, is the point of the design.
    pub fn encoder_count(&self) -> usize {
        let mut count = 0;
        let mut elements = self.pipeline.iterate_recurse();
        loop {
            match elements.next() {
                Ok(Some(element)) => {
                    let klass = element
                        .factory()
                        .and_then(|f| f.metadata("klass").map(str::to_owned))
                        .unwrap_or_default();
                    count += usize::from(klass.contains("Encoder") && klass.contains("Video"));
                }
                Ok(None) | Err(gst::IteratorError::Error) => return count,
                Err(gst::IteratorError::Resync) => {
                    elements.resync();
                    count = 0;
                }
            }
        }
    }

    /// How many elements the pipeline holds, counting inside viewer bins: a leaving viewer
    /// must give all of its back.
    pub fn element_count(&self) -> usize {
        element_count(self.pipeline.upcast_ref())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        super::branch::stop_all(&self.pipeline);
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// How many elements `bin` holds, recursively. Starts over when the bin changes meanwhile (a
/// branch coming or going on another thread), so nothing is counted twice.
pub fn element_count(bin: &gst::Bin) -> usize {
    let mut elements = bin.iterate_recurse();
    let mut count = 0;
    loop {
        match elements.next() {
            Ok(Some(_)) => count += 1,
            Ok(None) | Err(gst::IteratorError::Error) => return count,
            Err(gst::IteratorError::Resync) => {
                elements.resync();
                count = 0;
            }
        }
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
                    let event = match super::branch::session_of_path(&path) {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small, cheap picture for tests.
    pub(crate) fn settings() -> VideoSettings {
        VideoSettings {
            source: Source::test(),
            encoder: Some(Encoder::X264),
            width: 320,
            height: 240,
            framerate: 15,
            bitrate_kbps: 300,
            key_int: 30,
            keyframe_min_interval: Duration::from_millis(250),
        }
    }
}
