//! Everything GStreamer: one capture + encode pipeline ([`pipeline`]) whose H.264 is fanned out
//! through a `tee` to one branch per consumer: a [`branch::ViewerBranch`] (`rtph264pay !
//! webrtcbin`) per viewer, and [`queued::QueuedBranch`]es (a sink behind a leaky queue) for
//! the [`recorder::Recorder`] (an `appsink` feeding the recording's writer thread); before the
//! encoder, a raw `tee` feeds the motion detector's branch ([`motion::MotionBranch`]), and
//! [`paint`] blacks out the privacy masks in every frame. [`capture::Capture`] owns the
//! pipeline: it knows every consumer, keeps the pipeline running while any needs it, and removes a branch
//! that fails without stopping the camera. With sound on ([`audio`]), the same pipeline
//! encodes it once to Opus beside the picture, and an audio `tee` feeds each viewer's
//! [`audio_branch::AudioBranch`], a second transceiver in the same peer connection.
//!
//! Encoding once is the point of the design: a viewer costs packetization and SRTP, not another
//! encoder. GStreamer calls back on its own threads; what those callbacks learn reaches the
//! async side as [`MediaEvent`]s on a channel, so the signaling code never runs inside GStreamer.

pub mod audio;
pub mod audio_branch;
pub mod beep;
pub mod branch;
pub mod caps;
pub mod capture;
pub mod channel;
pub mod consumer;
pub mod dtls;
pub mod encoder;
pub mod fuse;
pub mod gate;
pub mod ice_servers;
pub mod keyframes;
pub mod motion;
pub mod paint;
pub mod pipeline;
pub mod queued;
pub mod recorder;
pub mod sdp;
pub mod settings;
pub mod source;
pub mod tee_link;

pub use settings::VideoSettings;

use consumer::ConsumerId;
use gstreamer::prelude::*;
use mumu_shared::SessionId;
use mumu_shared::signaling::IceCandidate;
use thiserror::Error;

/// Something a branch or the capture pipeline reports to the async side.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaEvent {
    /// webrtcbin made the offer for a session (already set as its local description).
    Offer {
        /// The session.
        session: SessionId,
        /// The SDP text.
        sdp: String,
    },
    /// webrtcbin found a local ICE candidate; `None` when gathering is complete.
    IceCandidate {
        /// The session.
        session: SessionId,
        /// The candidate.
        candidate: Option<IceCandidate>,
    },
    /// A consumer's branch cannot go on. A viewer's session must end with `failed`; a branch
    /// that failed in the pipeline (a bus error from inside it) has been removed already, and
    /// the camera and the other branches go on.
    BranchFailed {
        /// Whose branch.
        consumer: ConsumerId,
        /// What went wrong, for the log and the viewer.
        reason: String,
    },
    /// The shared capture/encode part failed: no viewer can be served.
    CaptureFailed {
        /// What went wrong.
        reason: String,
    },
}

/// Where media events go.
pub type MediaEvents = tokio::sync::mpsc::UnboundedSender<MediaEvent>;

/// Building or driving the pipeline failed.
#[derive(Debug, Error)]
pub enum MediaError {
    /// A GStreamer element is not installed.
    #[error("GStreamer element `{0}` is missing (install the gstreamer1.0-plugins-* packages)")]
    MissingElement(String),
    /// No usable H.264 encoder was found.
    #[error("no H.264 encoder found (tried {0})")]
    NoEncoder(String),
    /// Elements or pads could not be linked.
    #[error("could not link {what}: {detail}")]
    Link {
        /// What was being linked.
        what: String,
        /// GStreamer's reason.
        detail: String,
    },
    /// A state change was refused.
    #[error("{what} refused to change state: {detail}")]
    State {
        /// Which element or pipeline.
        what: String,
        /// GStreamer's reason.
        detail: String,
    },
    /// The session description could not be read.
    #[error("bad SDP for session {session}: {detail}")]
    BadSdp {
        /// The session.
        session: SessionId,
        /// What was wrong.
        detail: String,
    },
    /// A setting has a value the pipeline cannot take.
    #[error("{0}")]
    BadSetting(String),
    /// A viewer's ICE candidate could not be used.
    #[error("refused an ICE candidate for session {session}: {detail}")]
    BadCandidate {
        /// The session.
        session: SessionId,
        /// What was wrong.
        detail: String,
    },
    /// Any other GStreamer call that failed.
    #[error("{0}")]
    Gst(String),
}

impl MediaError {
    fn link(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        Self::Link {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}

/// Does once, at start-up, what would otherwise keep the first viewer of the process waiting:
/// makes the agent's DTLS certificate, lets GStreamer make its own (every DTLS decoder makes an
/// RSA 2048 certificate when the first one is created, whatever certificate it is then given:
/// tens of milliseconds here, longer on a Pi), and loads the plugins a viewer branch uses.
/// Nothing of it runs again, and nothing runs while nobody watches. Blocking: run it off the
/// async threads.
pub fn warm_up() {
    let started = std::time::Instant::now();
    dtls::certificate();
    let branch_elements = [
        "queue",
        "rtph264pay",
        "rtpopuspay",
        "webrtcbin",
        "dtlssrtpdec",
        "dtlssrtpenc",
        "nicesrc",
        "nicesink",
        "rtpbin",
    ];
    for factory in branch_elements {
        if let Err(e) = make(factory) {
            tracing::warn!(error = %e, "viewers cannot be served");
        }
    }
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        "ready for the first viewer (DTLS certificates made, plugins loaded)"
    );
}

/// How many elements of `bin` (recursively) `counts` accepts. Starts over when the bin changes
/// meanwhile (a branch coming or going on another thread), so nothing is counted twice.
pub fn count_elements(bin: &gstreamer::Bin, counts: impl Fn(&gstreamer::Element) -> bool) -> usize {
    let mut elements = bin.iterate_recurse();
    let mut count = 0;
    loop {
        match elements.next() {
            Ok(Some(element)) => count += usize::from(counts(&element)),
            Ok(None) | Err(gstreamer::IteratorError::Error) => return count,
            Err(gstreamer::IteratorError::Resync) => {
                elements.resync();
                count = 0;
            }
        }
    }
}

/// Makes one element, naming the package to install when it is missing.
fn make(factory: &str) -> Result<gstreamer::Element, MediaError> {
    gstreamer::ElementFactory::make(factory)
        .build()
        .map_err(|_| MediaError::MissingElement(factory.to_owned()))
}

/// Whether an element factory is installed.
fn has_element(factory: &str) -> bool {
    gstreamer::ElementFactory::find(factory).is_some()
}

/// Sets an enum property from its nick, refusing an unknown one with the values it takes
/// (GStreamer itself would only log a warning and keep the default).
pub(crate) fn set_enum(
    element: &gstreamer::Element,
    property: &str,
    nick: &str,
) -> Result<(), MediaError> {
    let Some(spec) = element.find_property(property) else {
        return Err(MediaError::Gst(format!(
            "{} has no property {property}",
            element.name()
        )));
    };
    let Some(class) = gstreamer::glib::EnumClass::with_type(spec.value_type()) else {
        return Err(MediaError::Gst(format!("{property} is not an enum")));
    };
    if class.value_by_nick(nick).is_none() {
        let known: Vec<&str> = class.values().iter().map(|v| v.nick()).collect();
        return Err(MediaError::BadSetting(format!(
            "unknown {property} {nick:?} (known: {})",
            known.join(", ")
        )));
    }
    element.set_property_from_str(property, nick);
    Ok(())
}

#[cfg(test)]
pub(crate) fn init_for_tests() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| gstreamer::init().expect("GStreamer initialises"));
}
