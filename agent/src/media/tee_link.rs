//! Hanging a consumer's bin off the tee, and taking it off again, without the other branches
//! ever seeing a half-pushed buffer.

use super::consumer::ConsumerId;
use super::{MediaError, count_elements};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::Mutex;

/// A tee pad linked to a branch that was just added, blocked until the branch runs.
#[derive(Debug)]
pub struct Blocked {
    /// The tee pad feeding the branch.
    pub pad: gst::Pad,
    probe: gst::PadProbeId,
}

impl Blocked {
    /// Lets buffers flow into the branch.
    pub fn release(self) {
        self.pad.remove_probe(self.probe);
    }
}

/// Adds `bin` to `pipeline` and links its `sink` to a new pad of `tee`, blocked: the caller
/// brings the bin to the pipeline's state, then [`Blocked::release`]s it. On failure nothing
/// is left behind.
pub fn link(
    pipeline: &gst::Pipeline,
    tee: &gst::Element,
    bin: &gst::Bin,
    sink: &gst::GhostPad,
) -> Result<Blocked, MediaError> {
    pipeline
        .add(bin)
        .map_err(|e| MediaError::link(format!("{} into the pipeline", bin.name()), e))?;
    let Some(pad) = tee.request_pad_simple("src_%u") else {
        let _ = pipeline.remove(bin);
        return Err(MediaError::Gst("the tee gave no src pad".into()));
    };
    let Some(probe) = pad.add_probe(gst::PadProbeType::BLOCK_DOWNSTREAM, |_, _| {
        gst::PadProbeReturn::Ok
    }) else {
        tee.release_request_pad(&pad);
        let _ = pipeline.remove(bin);
        return Err(MediaError::Gst("could not block the tee pad".into()));
    };
    if let Err(e) = pad.link(sink) {
        pad.remove_probe(probe);
        tee.release_request_pad(&pad);
        let _ = pipeline.remove(bin);
        return Err(MediaError::link(format!("the tee to {}", bin.name()), e));
    }
    Ok(Blocked { pad, probe })
}

/// Unlinks `bin` from `tee_pad` between two buffers, then, off the streaming threads, releases
/// the pad, removes the bin from `pipeline` and hands it to `stop`. Without a tee pad (never
/// linked, or already let go) only the removal and `stop` happen.
pub fn unlink(
    pipeline: &gst::Pipeline,
    tee_pad: Option<gst::Pad>,
    bin: &gst::Bin,
    stop: impl FnOnce(gst::Bin) + Send + 'static,
) {
    let pipeline = pipeline.clone();
    let removed = bin.clone();
    let release = move |tee_pad: Option<gst::Pad>| {
        pipeline.call_async(move |pipeline| {
            if let Some(tee_pad) = tee_pad
                && let Some(tee) = tee_pad.parent_element()
            {
                tee.release_request_pad(&tee_pad);
            }
            let _ = pipeline.remove(&removed);
            let elements = count_elements(pipeline.upcast_ref(), |_| true);
            match ConsumerId::from_bin_name(&removed.name()) {
                Some(consumer) => tracing::info!(
                    %consumer,
                    elements,
                    "{} branch removed",
                    consumer.kind().as_str()
                ),
                None => tracing::info!(bin = %removed.name(), elements, "branch removed"),
            }
            stop(removed);
        });
    };
    let Some(tee_pad) = tee_pad else {
        release(None);
        return;
    };
    // IDLE: runs at once if the tee is not pushing to this pad, or right after the push in
    // progress, so the unlink never cuts a buffer in half.
    let sink = bin.static_pad("sink");
    let release = Mutex::new(Some(release));
    tee_pad.add_probe(gst::PadProbeType::IDLE, move |tee_pad, _| {
        if let Some(sink) = &sink {
            let _ = tee_pad.unlink(sink);
        }
        let release = release.lock().ok().and_then(|mut r| r.take());
        if let Some(release) = release {
            release(Some(tee_pad.clone()));
        }
        gst::PadProbeReturn::Remove
    });
}
