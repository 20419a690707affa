//! A consumer behind a leaky queue: `queue ! <the consumer's elements>` in a bin off the tee, the
//! shape of a recorder's or a motion detector's branch.
//!
//! The queue gives the consumer a thread of its own and a bound: a disk or an analysis slower
//! than the stream loses the consumer's own oldest frames (`leaky=downstream`) and never holds
//! the tee, so live viewers do not feel it. Its sink is a fuse (see [`super::fuse`]): a
//! consumer that fails is removed by the capture's owner, not the camera.

use super::consumer::{Branch, ConsumerId};
use super::{MediaError, fuse, make, tee_link};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How much the branch's leaky queue holds before it drops its oldest frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueLimit {
    /// This much of the stream (encoded frames are small).
    Time(Duration),
    /// This many frames (raw frames are large: a second of 720p is 40 MB).
    Frames(u32),
}

/// A queued consumer's branch. Cloning shares it.
#[derive(Clone, Debug)]
pub struct QueuedBranch(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    id: ConsumerId,
    pipeline: gst::Pipeline,
    bin: gst::Bin,
    /// The tee pad feeding the branch, until it is detached.
    tee_pad: Mutex<Option<gst::Pad>>,
}

impl QueuedBranch {
    /// Builds `queue ! elements…` for `id`, links it to `tee` and starts it; on failure
    /// nothing is left in the pipeline.
    pub fn attach(
        pipeline: &gst::Pipeline,
        tee: &gst::Element,
        id: ConsumerId,
        elements: Vec<gst::Element>,
        limit: QueueLimit,
    ) -> Result<Self, MediaError> {
        let bin = gst::Bin::with_name(&id.bin_name());
        let queue = make("queue")?;
        queue.set_property_from_str("leaky", "downstream");
        queue.set_property("max-size-bytes", 0u32);
        let (frames, time) = match limit {
            QueueLimit::Time(max) => (0, u64::try_from(max.as_nanos()).unwrap_or(u64::MAX)),
            QueueLimit::Frames(frames) => (frames, 0),
        };
        queue.set_property("max-size-buffers", frames);
        queue.set_property("max-size-time", time);
        let mut chain = vec![queue.clone()];
        chain.extend(elements);
        bin.add_many(&chain)
            .map_err(|e| MediaError::link(format!("the elements of {id}"), e))?;
        gst::Element::link_many(&chain)
            .map_err(|e| MediaError::link(format!("the elements of {id}"), e))?;
        no_preroll(&bin);
        let queue_sink = queue
            .static_pad("sink")
            .ok_or_else(|| MediaError::Gst("queue has no sink pad".into()))?;
        let sink = fuse::sink_pad(&queue_sink)?;
        bin.add_pad(&sink)
            .map_err(|e| MediaError::link(format!("the sink of {id}"), e))?;

        let blocked = tee_link::link(pipeline, tee, &bin, &sink)?;
        let tee_pad = blocked.pad.clone();
        if let Err(e) = bin.sync_state_with_parent() {
            blocked.release();
            tee_link::unlink(pipeline, Some(tee_pad), &bin, |bin| {
                let _ = bin.set_state(gst::State::Null);
            });
            return Err(MediaError::State {
                what: id.to_string(),
                detail: e.to_string(),
            });
        }
        blocked.release();
        tracing::info!(consumer = %id, ?limit, "branch attached behind a leaky queue");
        Ok(Self(Arc::new(Inner {
            id,
            pipeline: pipeline.clone(),
            bin,
            tee_pad: Mutex::new(Some(tee_pad)),
        })))
    }

    /// Who this branch serves.
    pub fn id(&self) -> &ConsumerId {
        &self.0.id
    }

    /// The branch's bin (to look inside it, or to hear from its elements).
    pub fn bin(&self) -> &gst::Bin {
        &self.0.bin
    }
}

impl Branch for QueuedBranch {
    fn detach(&self) {
        let Some(tee_pad) = self.0.tee_pad.lock().ok().and_then(|mut p| p.take()) else {
            return;
        };
        tee_link::unlink(&self.0.pipeline, Some(tee_pad), &self.0.bin, |bin| {
            let _ = bin.set_state(gst::State::Null);
        });
    }
}

/// Makes every sink in `bin` change state at once (`async=false`) instead of waiting for its
/// first frame: a sink prerolling in a running pipeline takes the pipeline's state with it
/// (PAUSED until that frame), and the live viewers stalled meanwhile (19 fps over the second a
/// recorder joined, in the test).
/// Calls `overrun` each time the branch's leaky queue drops a frame (it is full each time it
/// overruns, and lets its oldest frame go): the sink never waits, so only a starved CPU makes
/// it happen.
pub(crate) fn on_overrun(bin: &gst::Bin, overrun: impl Fn() + Send + Sync + 'static) {
    let queue = bin
        .iterate_elements()
        .into_iter()
        .flatten()
        .find(|e| e.factory().is_some_and(|f| f.name() == "queue"));
    if let Some(queue) = queue {
        queue.connect("overrun", false, move |_| {
            overrun();
            None
        });
    }
}

fn no_preroll(bin: &gst::Bin) {
    let mut elements = bin.iterate_recurse();
    while let Ok(Some(element)) = elements.next() {
        if element.element_flags().contains(gst::ElementFlags::SINK)
            && element.find_property("async").is_some()
        {
            element.set_property("async", false);
        }
    }
}
