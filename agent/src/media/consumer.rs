//! Who uses the encoded stream, and what the capture's owner ([`super::capture::Capture`]) needs
//! from each of their branches.
//!
//! Every consumer's bin hangs off a tee named `<kind>-<name>` (`viewer-<session>`,
//! `audio-<session>`, `recorder-disk`): an error message names its branch through its source element's ancestry,
//! without the owner looking anything up while GStreamer holds its locks.

use gstreamer as gst;
use gstreamer::prelude::*;
use mumu_shared::SessionId;
use std::fmt;

/// What a consumer of the encoded stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConsumerKind {
    /// A watch session: a peer connection to one viewer.
    Viewer,
    /// Writes the stream to disk.
    Recorder,
    /// Looks at the stream for motion.
    Detector,
    /// A viewer's sound: the encoded Opus payloaded into that viewer's peer connection. Its own
    /// consumer, so that its failure costs the viewer the sound and never the picture.
    Audio,
}

impl ConsumerKind {
    const ALL: [Self; 4] = [Self::Viewer, Self::Recorder, Self::Detector, Self::Audio];

    /// The kind as its bins' names start.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Recorder => "recorder",
            Self::Detector => "detector",
            Self::Audio => "audio",
        }
    }
}

/// One consumer: its kind and a name unique within the kind (a viewer's is its session id).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConsumerId {
    kind: ConsumerKind,
    name: String,
}

impl ConsumerId {
    /// A consumer of `kind` called `name`.
    pub fn new(kind: ConsumerKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
        }
    }

    /// The viewer of a watch session.
    pub fn viewer(session: &SessionId) -> Self {
        Self::new(ConsumerKind::Viewer, session.as_str())
    }

    /// The sound of a watch session's viewer.
    pub fn audio(session: &SessionId) -> Self {
        Self::new(ConsumerKind::Audio, session.as_str())
    }

    /// What it is.
    pub fn kind(&self) -> ConsumerKind {
        self.kind
    }

    /// Its name within its kind.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The watch session, for a viewer.
    pub fn session(&self) -> Option<SessionId> {
        (self.kind == ConsumerKind::Viewer).then(|| SessionId::from(self.name.as_str()))
    }

    /// The name of its bin in the capture pipeline.
    pub fn bin_name(&self) -> String {
        format!("{}-{}", self.kind.as_str(), self.name)
    }

    /// The consumer whose bin is called `name`, if it is one.
    pub fn from_bin_name(name: &str) -> Option<Self> {
        ConsumerKind::ALL.into_iter().find_map(|kind| {
            let rest = name.strip_prefix(kind.as_str())?.strip_prefix('-')?;
            (!rest.is_empty()).then(|| Self::new(kind, rest))
        })
    }

    /// The consumer whose branch holds `object` (an element, or a pad of one), found through
    /// its ancestry: the outermost consumer bin above it. `None`: the capture's own part.
    pub fn owning(object: &gst::Object) -> Option<Self> {
        let mut found = None;
        let mut next = Some(object.clone());
        while let Some(current) = next {
            if let Some(id) = Self::from_bin_name(&current.name()) {
                found = Some(id);
            }
            next = current.parent();
        }
        found
    }
}

impl fmt::Display for ConsumerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.name)
    }
}

/// A consumer's branch, as its owner sees it. The branch is the consumer's own business (a
/// viewer's peer connection, a recorder's files); the owner only takes it off the tee.
pub trait Branch: Send + Sync + fmt::Debug {
    /// Takes the branch off the tee between buffers and frees it; the capture and the other
    /// branches go on undisturbed. Idempotent.
    fn detach(&self);
}

/// Stops and removes every consumer bin still in `pipeline`, before the pipeline itself stops.
/// A detach finishes on GStreamer's thread pool; if that runs while the pipeline's own state
/// change walks the same bin, the bin can be disposed still PAUSED, and GLib aborts on a mutex
/// it still holds. Stopping them here first leaves that removal nothing to race with.
pub fn stop_all(pipeline: &gst::Pipeline) -> usize {
    let bins: Vec<gst::Element> = pipeline
        .children()
        .into_iter()
        .filter(|child| ConsumerId::from_bin_name(&child.name()).is_some())
        .collect();
    for bin in &bins {
        let _ = bin.set_state(gst::State::Null);
        let _ = pipeline.remove(bin);
    }
    bins.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bin_name_says_which_consumer_it_serves() {
        let viewer = ConsumerId::viewer(&SessionId::from("3f6c-2a9e"));
        assert_eq!(viewer.bin_name(), "viewer-3f6c-2a9e");
        assert_eq!(ConsumerId::from_bin_name("viewer-3f6c-2a9e"), Some(viewer));
        assert_eq!(
            ConsumerId::from_bin_name("audio-3f6c-2a9e"),
            Some(ConsumerId::audio(&SessionId::from("3f6c-2a9e")))
        );
        assert_eq!(
            ConsumerId::from_bin_name("recorder-disk"),
            Some(ConsumerId::new(ConsumerKind::Recorder, "disk"))
        );
        for capture_part in [
            "x264enc0",
            "fanout",
            "viewer-",
            "viewers-a",
            "webrtc",
            "audiotestsrc0",
            "audioconvert0",
            "sound",
        ] {
            assert_eq!(
                ConsumerId::from_bin_name(capture_part),
                None,
                "{capture_part}"
            );
        }
    }

    #[test]
    fn an_element_deep_in_a_consumer_bin_names_that_consumer() {
        crate::media::init_for_tests();
        let pipeline = gst::Pipeline::with_name("mumu-capture");
        let bin = gst::Bin::with_name("viewer-a");
        let inner = gst::Bin::with_name("webrtc");
        let sink = gst::ElementFactory::make("fakesink").build().unwrap();
        let encoder = gst::ElementFactory::make("identity").build().unwrap();
        inner.add(&sink).unwrap();
        bin.add(&inner).unwrap();
        pipeline.add_many([bin.upcast_ref(), &encoder]).unwrap();
        assert_eq!(
            ConsumerId::owning(sink.upcast_ref()),
            Some(ConsumerId::viewer(&SessionId::from("a")))
        );
        assert_eq!(ConsumerId::owning(encoder.upcast_ref()), None);
        assert_eq!(stop_all(&pipeline), 1);
        assert_eq!(
            pipeline.children().len(),
            1,
            "the capture's own element stays"
        );
    }
}
