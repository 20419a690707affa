//! A consumer bin's sink pad that keeps the branch's failures away from the tee.
//!
//! The tee stops at the first branch that returns a fatal flow (a full disk's `filesink`, a
//! viewer's payloader refusing caps), and hands that flow upstream: the encoder's and the
//! source's streaming thread pauses, and one broken consumer takes the camera down. Every
//! consumer bin's ghost sink pad is a fuse instead: whatever its branch returns, the tee hears
//! `Ok`, and the first fatal flow is posted as an error message from the bin, so the capture's
//! owner removes that branch even when none of its elements said why.

use super::MediaError;
use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A ghost pad `sink` for a consumer bin, proxying `target`, that never returns the branch's
/// flow errors to the tee.
pub fn sink_pad(target: &gst::Pad) -> Result<gst::GhostPad, MediaError> {
    let tripped = Arc::new(AtomicBool::new(false));
    let list_tripped = tripped.clone();
    Ok(gst::GhostPad::builder_with_target(target)
        .map_err(|e| MediaError::Gst(e.to_string()))?
        .name("sink")
        .chain_function(move |pad, parent, buffer| {
            contain(
                pad,
                &tripped,
                gst::ProxyPad::chain_default(pad, parent, buffer),
            )
        })
        .chain_list_function(move |pad, parent, list| {
            contain(
                pad,
                &list_tripped,
                gst::ProxyPad::chain_list_default(pad, parent, list),
            )
        })
        .build())
}

/// What the tee hears of one push into the branch.
fn contain(
    pad: &gst::GhostPad,
    tripped: &AtomicBool,
    flow: Result<gst::FlowSuccess, gst::FlowError>,
) -> Result<gst::FlowSuccess, gst::FlowError> {
    match flow {
        Ok(success) => Ok(success),
        // A branch stopping or at its end is its own business, not the stream's.
        Err(gst::FlowError::Flushing | gst::FlowError::Eos | gst::FlowError::NotLinked) => {
            Ok(gst::FlowSuccess::Ok)
        }
        Err(fatal) => {
            if !tripped.swap(true, Ordering::Relaxed)
                && let Some(bin) = pad.parent_element()
            {
                let message = gst::message::Error::builder(
                    gst::StreamError::Failed,
                    &format!("the branch stopped taking the stream ({fatal:?})"),
                )
                .src(&bin)
                .build();
                let _ = bin.post_message(message);
            }
            Ok(gst::FlowSuccess::Ok)
        }
    }
}
