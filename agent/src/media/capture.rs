//! The owner of the capture pipeline: it knows every consumer of the stream (viewers and the
//! recorder take the encoded one, the motion detector the raw frames before the encoder), and
//! from them decides how long the pipeline runs and what becomes of a branch that fails.
//!
//! - **Lifetime**: the pipeline runs while any consumer is attached, whatever its kind. Once the
//!   last has gone it runs on for the idle time (`--idle-stop-secs`), then stops (the camera is
//!   released, the encoder rests) until a consumer comes again. A recorder keeps it up.
//! - **Failures**: every branch's sink is a fuse (see [`super::fuse`]), so the tee never hears
//!   a branch's fatal flow. An error message from inside a consumer's bin (found through its
//!   source's ancestry, see [`ConsumerId::owning`]) removes that branch only, is logged, and is
//!   reported as [`MediaEvent::BranchFailed`]; the camera and the other branches go on. An error
//!   from the capture's own part (source, encoder) is [`MediaEvent::CaptureFailed`], as before.
//! - **Shutdown**: every branch is detached and stopped before the pipeline stops.
//! - **Sound**: a viewer's sound is a consumer of its own ([`ConsumerKind::Audio`], attached
//!   with the viewer when the camera has sound), so a failure in it is handled like any
//!   branch's: removed and reported, the viewer keeps the picture. It leaves with its viewer.
//!
//! A new kind of consumer brings its own [`Branch`] and attaches it with [`Capture::attach`]; a
//! plain one (a sink behind a leaky queue, as a recorder's) is [`Capture::attach_queued`].
//!
//! `Capture` is a handle: clones share the one pipeline, so each consumer's keeper (the session
//! table, a recorder) can hold one. The pipeline stops when the last handle goes.

use super::audio::AudioSource;
use super::audio_branch::AudioBranch;
use super::branch::{PeerOptions, ViewerBranch};
use super::consumer::{self, Branch, ConsumerId, ConsumerKind};
pub use super::pipeline::{CapturePipeline, Encoder, Source};
use super::queued::{QueueLimit, QueuedBranch};
use super::{MediaError, MediaEvent, MediaEvents, VideoSettings};
use futures_util::StreamExt;
use gstreamer as gst;
use gstreamer::prelude::*;
use mumu_shared::SessionId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// The capture pipeline and everyone who uses it. Cloning shares it.
#[derive(Clone, Debug)]
pub struct Capture(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    pipeline: CapturePipeline,
    users: Mutex<Users>,
}

#[derive(Debug)]
struct Users {
    branches: HashMap<ConsumerId, Arc<dyn Branch>>,
    /// Stop the pipeline after this long without consumers; `None`: never.
    idle_stop: Option<Duration>,
    /// Since when nobody has used the pipeline (while it runs).
    idle_since: Option<Instant>,
    /// Shut down: nothing attaches any more.
    closed: bool,
}

impl Capture {
    /// Builds the pipeline, starts it, and reports what goes wrong in it to `events`.
    pub fn start(settings: &VideoSettings, events: MediaEvents) -> Result<Self, MediaError> {
        let pipeline = CapturePipeline::start(settings)?;
        let capture = Self(Arc::new(Shared {
            pipeline,
            users: Mutex::new(Users {
                branches: HashMap::new(),
                idle_stop: None,
                idle_since: Some(Instant::now()),
                closed: false,
            }),
        }));
        watch_bus(&capture, events)?;
        Ok(capture)
    }

    /// Stops the pipeline when nobody has used it for `after` (`None`: never).
    pub fn with_idle_stop(self, after: Option<Duration>) -> Self {
        self.users().idle_stop = after;
        self
    }

    fn users(&self) -> MutexGuard<'_, Users> {
        self.0.users()
    }

    /// The encoder in use.
    pub fn encoder(&self) -> Encoder {
        self.0.pipeline.encoder()
    }

    /// The source in use.
    pub fn source(&self) -> &Source {
        self.0.pipeline.source()
    }

    /// Where the sound comes from, when the camera has sound (a microphone that did not open
    /// leaves the camera without).
    pub fn audio(&self) -> Option<&AudioSource> {
        self.0.pipeline.audio()
    }

    /// Whether the pipeline is playing (not stopped for want of consumers).
    pub fn is_running(&self) -> bool {
        self.0.pipeline.is_running()
    }

    /// How many video encoders the pipeline holds (one, whoever is attached).
    pub fn encoder_count(&self) -> usize {
        self.0.pipeline.encoder_count()
    }

    /// How many audio encoders the pipeline holds (one with sound, whatever the viewers).
    pub fn audio_encoder_count(&self) -> usize {
        self.0.pipeline.audio_encoder_count()
    }

    /// How many elements the pipeline holds, counting inside consumer bins.
    pub fn element_count(&self) -> usize {
        self.0.pipeline.element_count()
    }

    /// Every consumer attached.
    pub fn consumers(&self) -> Vec<ConsumerId> {
        self.users().branches.keys().cloned().collect()
    }

    /// The bin of `id`'s branch while it is in the pipeline, to look inside it.
    pub fn bin_of(&self, id: &ConsumerId) -> Option<gst::Bin> {
        self.0
            .pipeline
            .pipeline()
            .by_name(&id.bin_name())
            .and_then(|element| element.downcast().ok())
    }

    /// How many consumers of `kind` are attached.
    pub fn count(&self, kind: ConsumerKind) -> usize {
        self.users()
            .branches
            .keys()
            .filter(|id| id.kind() == kind)
            .count()
    }

    /// Hangs a branch for `id`, made by `build` from the pipeline and its tee, off the tee,
    /// starting the pipeline first if it had stopped for want of consumers.
    pub fn attach<B>(
        &self,
        id: ConsumerId,
        build: impl FnOnce(&gst::Pipeline, &gst::Element) -> Result<B, MediaError>,
    ) -> Result<B, MediaError>
    where
        B: Branch + Clone + 'static,
    {
        {
            let users = self.users();
            if users.closed {
                return Err(MediaError::Gst(format!(
                    "{id}: the capture is shutting down"
                )));
            }
            if users.branches.contains_key(&id) {
                return Err(MediaError::Gst(format!("{id} is attached already")));
            }
        }
        self.0.pipeline.resume(&id.to_string())?;
        let branch = build(self.0.pipeline.pipeline(), self.0.pipeline.tee())?;
        let mut users = self.users();
        users.branches.insert(id, Arc::new(branch.clone()));
        users.idle_since = None;
        Ok(branch)
    }

    /// Hangs a new viewer branch for `session` off the tee and starts it; its offer follows as
    /// a [`MediaEvent::Offer`]. When the camera has sound, the offer has it too, and the
    /// viewer's sound branch hangs off the sound's tee; if that fails, the viewer gets the
    /// picture alone.
    pub fn attach_viewer(
        &self,
        session: SessionId,
        options: &PeerOptions,
        events: MediaEvents,
    ) -> Result<ViewerBranch, MediaError> {
        let audio_tee = self.0.pipeline.audio_tee().cloned();
        let viewer = self.attach(ConsumerId::viewer(&session), |pipeline, tee| {
            ViewerBranch::attach(
                pipeline,
                tee,
                session.clone(),
                options,
                audio_tee.is_some(),
                events,
            )
        })?;
        if let (Some(audio_tee), Some(port)) = (audio_tee, viewer.audio_port().cloned()) {
            let attached = self.attach(ConsumerId::audio(&session), |pipeline, _| {
                AudioBranch::attach(pipeline, &audio_tee, session.clone(), &port)
            });
            if let Err(e) = attached {
                tracing::warn!(%session, error = %e, "the viewer gets the picture without sound");
            }
        }
        Ok(viewer)
    }

    /// Hangs `elements` (linked in order, the first with a sink pad) off the tee for `id`,
    /// behind a leaky queue that holds at most `max_queued` of the stream: a slow consumer
    /// loses its own oldest frames, never the others' (see [`QueuedBranch`]).
    pub fn attach_queued(
        &self,
        id: ConsumerId,
        elements: Vec<gst::Element>,
        max_queued: Duration,
    ) -> Result<QueuedBranch, MediaError> {
        self.attach(id.clone(), |pipeline, tee| {
            QueuedBranch::attach(pipeline, tee, id, elements, QueueLimit::Time(max_queued))
        })
    }

    /// Hangs `elements` off the raw frames, before the encoder, for `id`, behind a leaky queue
    /// of at most `max_frames` frames (see [`Capture::attach_queued`]).
    pub fn attach_queued_raw(
        &self,
        id: ConsumerId,
        elements: Vec<gst::Element>,
        max_frames: u32,
    ) -> Result<QueuedBranch, MediaError> {
        let raw_tee = self.0.pipeline.raw_tee().clone();
        self.attach(id.clone(), move |pipeline, _| {
            QueuedBranch::attach(
                pipeline,
                &raw_tee,
                id,
                elements,
                QueueLimit::Frames(max_frames),
            )
        })
    }

    /// Hangs `elements` off the encoded sound (Opus), for `id`, behind a leaky queue that holds
    /// at most `max_queued` of it (see [`Capture::attach_queued`]). An error if the camera has
    /// no sound.
    pub fn attach_queued_audio(
        &self,
        id: ConsumerId,
        elements: Vec<gst::Element>,
        max_queued: Duration,
    ) -> Result<QueuedBranch, MediaError> {
        let audio_tee = self
            .0
            .pipeline
            .audio_tee()
            .cloned()
            .ok_or_else(|| MediaError::Gst(format!("{id}: the camera has no sound")))?;
        self.attach(id.clone(), move |pipeline, _| {
            QueuedBranch::attach(
                pipeline,
                &audio_tee,
                id,
                elements,
                QueueLimit::Time(max_queued),
            )
        })
    }

    /// Blacks out `masks` in every frame from the next one on, before the encoder: no viewer,
    /// recording or thumbnail sees what is under them. Validated by the caller.
    pub fn set_privacy_masks(&self, masks: &[mumu_shared::events::PrivacyMask]) {
        self.0.pipeline.painter().set_masks(masks);
    }

    /// The picture's width and height.
    pub fn picture_size(&self) -> (u32, u32) {
        self.0.pipeline.size()
    }

    /// Detaches `id`'s branch, if it is attached; true if it was.
    pub fn detach(&self, id: &ConsumerId) -> bool {
        self.0.detach(id)
    }

    /// When the pipeline is due to stop for want of consumers, if it is.
    pub fn idle_deadline(&self) -> Option<Instant> {
        let users = self.users();
        Some(users.idle_since? + users.idle_stop?)
    }

    /// Stops the pipeline if nobody has used it for the idle time; true if it stopped.
    pub fn stop_if_idle(&self, now: Instant) -> bool {
        let after = {
            let mut users = self.users();
            let due = users
                .idle_since
                .zip(users.idle_stop)
                .is_some_and(|(since, after)| now >= since + after);
            if !due || !users.branches.is_empty() {
                return false;
            }
            users.idle_since = None;
            users.idle_stop.unwrap_or_default()
        };
        self.0
            .pipeline
            .stop(&format!("nobody watched for {} s", after.as_secs_f32()));
        true
    }

    /// Detaches and stops every branch, then stops the pipeline; nothing attaches after this.
    /// Also done when the last handle goes.
    pub fn shut_down(&self) {
        self.0.shut_down();
    }
}

impl Shared {
    fn users(&self) -> MutexGuard<'_, Users> {
        // Plain data: a panic elsewhere while holding the lock leaves nothing half-done.
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn detach(&self, id: &ConsumerId) -> bool {
        // A viewer's sound leaves with it, first (it feeds the viewer's webrtcbin).
        if id.kind() == ConsumerKind::Viewer {
            self.detach(&ConsumerId::new(ConsumerKind::Audio, id.name()));
        }
        let branch = {
            let mut users = self.users();
            let branch = users.branches.remove(id);
            if users.branches.is_empty() && users.idle_since.is_none() && !users.closed {
                // The idle clock starts only while the pipeline runs: a stopped one stays so.
                if self.pipeline.is_running() {
                    users.idle_since = Some(Instant::now());
                }
            }
            branch
        };
        // Outside the lock: a detach may run its first step on this thread.
        match branch {
            Some(branch) => {
                branch.detach();
                true
            }
            None => false,
        }
    }

    /// A branch's element posted an error: that branch goes, the rest stays. False if the
    /// branch had gone already (a second error from the same failure).
    fn branch_failed(&self, id: &ConsumerId, reason: &str) -> bool {
        let removed = self.detach(id);
        if removed {
            tracing::warn!(
                consumer = %id,
                %reason,
                "branch failed: removed; the camera and the other branches go on"
            );
        } else {
            tracing::debug!(consumer = %id, %reason, "error from a branch already removed");
        }
        removed
    }

    fn shut_down(&self) {
        let branches: Vec<_> = {
            let mut users = self.users();
            users.closed = true;
            users.idle_since = None;
            users.branches.drain().collect()
        };
        // Stopped here, on this thread, while still in the pipeline: a detach alone would let
        // them go on GStreamer's thread pool, possibly after the pipeline stopped (and a viewer
        // waits for its ICE gathering before it stops). Detached after, so that each lets go of
        // its tee pad and knows it is gone.
        let pipeline = self.pipeline.pipeline();
        let stopped = consumer::stop_all(pipeline);
        for (_, branch) in &branches {
            branch.detach();
        }
        if pipeline.set_state(gst::State::Null).is_err() {
            tracing::warn!("the capture pipeline did not stop");
        }
        tracing::info!(
            consumers = branches.len(),
            branches_stopped = stopped,
            "capture shut down: every branch stopped, then the pipeline"
        );
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if !self.users().closed {
            self.shut_down();
        }
    }
}

/// Whether `source` is webrtcbin's SCTP encoder or decoder (a viewer's data channels).
fn is_data_channel_transport(source: &gst::Object) -> bool {
    source
        .downcast_ref::<gst::Element>()
        .and_then(|element| element.factory())
        .is_some_and(|factory| matches!(factory.name().as_str(), "sctpenc" | "sctpdec"))
}

/// Routes the pipeline's errors: one from inside a consumer's bin removes that branch and is
/// reported as [`MediaEvent::BranchFailed`]; anything else is [`MediaEvent::CaptureFailed`].
fn watch_bus(capture: &Capture, events: MediaEvents) -> Result<(), MediaError> {
    let bus = capture
        .0
        .pipeline
        .pipeline()
        .bus()
        .ok_or_else(|| MediaError::Gst("the pipeline has no bus".into()))?;
    let mut messages = bus.stream();
    let owner: Weak<Shared> = Arc::downgrade(&capture.0);
    tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            match message.view() {
                gst::MessageView::Error(err) => {
                    let source = err.src();
                    let path = source
                        .map(|s| s.path_string().to_string())
                        .unwrap_or_default();
                    let reason = format!(
                        "{path}: {} ({})",
                        err.error(),
                        err.debug().map(|d| d.to_string()).unwrap_or_default()
                    );
                    if source.is_some_and(is_data_channel_transport) {
                        // The viewer's SCTP association ends with an error when it closes its
                        // peer connection or the data channel's transport breaks: the video
                        // (SRTP) may go on, and a viewer that has gone is ended by the server
                        // or by ICE, with the right reason.
                        tracing::info!(%reason, "a viewer's data channel transport ended");
                        continue;
                    }
                    let event = match source.and_then(ConsumerId::owning) {
                        Some(consumer) => {
                            let Some(owner) = owner.upgrade() else { break };
                            if !owner.branch_failed(&consumer, &reason) {
                                continue;
                            }
                            MediaEvent::BranchFailed { consumer, reason }
                        }
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
