//! One viewer's sound: a bin `rtpopuspay` hanging off the sound's tee, whose source feeds the
//! audio transceiver of that viewer's webrtcbin (the viewer bin's `audio_sink`, see
//! [`super::branch::AudioPort`]).
//!
//! It is a consumer of its own (`audio-<session>`), beside the viewer's branch rather than
//! inside it, so that what the capture's owner already does for every branch holds for it: its
//! sink is a fuse (the sound's tee never hears its failure), an error from inside it removes
//! it alone and is reported, and the viewer keeps the picture. It leaves with its viewer.
//!
//! Like the picture, no sound is sent before the peer connection is up: webrtcbin would hold
//! some of it and hand the viewer a burst of stale sound on connecting. Opus frames need no
//! keyframe, so the first one after that is sent as it comes.

use super::branch::AudioPort;
use super::consumer::{Branch, ConsumerId};
use super::{MediaError, caps, fuse, make, tee_link};
use gstreamer as gst;
use gstreamer::prelude::*;
use mumu_shared::SessionId;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

/// One viewer's sound branch. Cloning shares it.
#[derive(Clone, Debug)]
pub struct AudioBranch(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    session: SessionId,
    pipeline: gst::Pipeline,
    bin: gst::Bin,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The sound tee's pad feeding this branch, until it is released.
    tee_pad: Option<gst::Pad>,
    detached: bool,
}

impl AudioBranch {
    /// Builds the sound branch of `session`'s viewer, links it from the sound's `tee` to the
    /// viewer's `port`, and starts it.
    pub fn attach(
        pipeline: &gst::Pipeline,
        tee: &gst::Element,
        session: SessionId,
        port: &AudioPort,
    ) -> Result<Self, MediaError> {
        let bin = gst::Bin::with_name(&ConsumerId::audio(&session).bin_name());
        let pay = make("rtpopuspay")?;
        pay.set_property("pt", caps::AUDIO_PAYLOAD_TYPE);
        pay.set_property("ssrc", port.ssrc);
        bin.add(&pay)
            .map_err(|e| MediaError::link("the audio payloader", e))?;
        let pay_sink = pay
            .static_pad("sink")
            .ok_or_else(|| MediaError::Gst("rtpopuspay has no sink pad".into()))?;
        let pay_src = pay
            .static_pad("src")
            .ok_or_else(|| MediaError::Gst("rtpopuspay has no src pad".into()))?;
        // Nothing before the peer connection is up. `Handled` rather than `Drop`, as for the
        // picture's gate (GStreamer 1.22 unrefs a NULL buffer behind gstreamer-rs on `Drop`).
        let connected = port.connected.clone();
        pay_sink.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if connected.load(Ordering::Acquire) {
                gst::PadProbeReturn::Ok
            } else {
                gst::PadProbeReturn::Handled
            }
        });
        let sink = fuse::sink_pad(&pay_sink)?;
        bin.add_pad(&sink)
            .map_err(|e| MediaError::link("the audio bin's sink", e))?;
        let src = gst::GhostPad::builder_with_target(&pay_src)
            .map_err(|e| MediaError::Gst(e.to_string()))?
            .name("src")
            .build();
        bin.add_pad(&src)
            .map_err(|e| MediaError::link("the audio bin's src", e))?;

        let blocked = tee_link::link(pipeline, tee, &bin, &sink)?;
        if let Err(e) = src.link(&port.pad) {
            let pad = blocked.pad.clone();
            blocked.release();
            tee_link::unlink(pipeline, Some(pad), &bin, |bin| {
                let _ = bin.set_state(gst::State::Null);
            });
            return Err(MediaError::link("the sound to the viewer's webrtcbin", e));
        }
        let branch = Self(Arc::new(Inner {
            session,
            pipeline: pipeline.clone(),
            bin: bin.clone(),
            state: Mutex::new(State {
                tee_pad: Some(blocked.pad.clone()),
                detached: false,
            }),
        }));
        let session = branch.0.session.clone();
        bin.call_async(move |bin| {
            let synced = bin.sync_state_with_parent();
            blocked.release();
            if let Err(e) = synced {
                // The bus has the element's own error; the owner removes the branch from it.
                tracing::warn!(%session, error = %e, "the sound branch did not start");
            }
        });
        Ok(branch)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Unlinks the branch from the sound's tee between two buffers and stops it; the viewer's
    /// picture and the other viewers go on.
    pub fn detach(&self) {
        let tee_pad = {
            let mut state = self.state();
            if state.detached {
                return;
            }
            state.detached = true;
            state.tee_pad.take()
        };
        let session = self.0.session.clone();
        tee_link::unlink(&self.0.pipeline, tee_pad, &self.0.bin, move |bin| {
            let _ = bin.set_state(gst::State::Null);
            tracing::debug!(%session, "sound branch stopped");
        });
    }
}

impl Branch for AudioBranch {
    fn detach(&self) {
        AudioBranch::detach(self);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The backstop, as for a viewer's branch.
        let detached = self.state.lock().map(|s| s.detached).unwrap_or(true);
        if !detached {
            let pipeline = self.pipeline.clone();
            self.bin.call_async(move |bin| {
                let _ = pipeline.remove(bin);
                let _ = bin.set_state(gst::State::Null);
            });
        }
    }
}
