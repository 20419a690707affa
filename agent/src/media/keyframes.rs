//! Keyframe requests to the shared encoder, throttled.
//!
//! Every viewer can ask for a keyframe: the agent does when a viewer joins, and
//! webrtcbin does on each PLI/FIR from a viewer. All of them reach the one encoder as upstream
//! `GstForceKeyUnit` events through the `tee`. Keyframes are large, and one viewer on a lossy
//! link could otherwise keyframe-storm everyone. So at most one request passes per
//! `min_interval`; a request inside the window is not lost but coalesced into one deferred
//! request at the window's end, which serves everyone who asked meanwhile.
//!
//! A viewer's own requests pass whatever the window ([`join_request_event`]): the first, made
//! as its branch starts, and a second as its peer connection comes up (the held keyframe may
//! have reached the viewer before its SRTP keys, or gone stale: see [`super::gate`] and
//! `ViewerBranch::open_gate`). Nothing the encoder made before reached the viewer, so holding
//! them back would only hold back its first frame (by up to `min_interval`, when another
//! viewer had just joined). They come at most twice per watch,
//! and watches are bounded by the server (per device at once, per user per minute), so they
//! cannot storm the encoder.

use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to do with one keyframe request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Let it through to the encoder.
    Forward,
    /// Drop it and ask again after this delay.
    Defer(Duration),
    /// Drop it: a deferred request is already scheduled.
    Coalesce,
}

/// The throttle's memory.
#[derive(Debug)]
pub struct Throttle {
    min_interval: Duration,
    last_forwarded: Option<Instant>,
    deferred: bool,
}

impl Throttle {
    /// At most one keyframe request per `min_interval`.
    pub fn new(min_interval: Duration) -> Self {
        Self {
            min_interval,
            last_forwarded: None,
            deferred: false,
        }
    }

    /// Decides about a request arriving at `now`; a viewer's first (`join`) always passes.
    pub fn decide(&mut self, now: Instant, join: bool) -> Decision {
        if join {
            self.last_forwarded = Some(now);
            return Decision::Forward;
        }
        match self.last_forwarded {
            Some(last) if now.saturating_duration_since(last) < self.min_interval => {
                if self.deferred {
                    Decision::Coalesce
                } else {
                    self.deferred = true;
                    Decision::Defer(self.min_interval - now.saturating_duration_since(last))
                }
            }
            _ => {
                self.last_forwarded = Some(now);
                self.deferred = false;
                Decision::Forward
            }
        }
    }
}

/// Whether an event is a keyframe request.
pub fn is_force_key_unit(event: &gst::EventRef) -> bool {
    event.type_() == gst::EventType::CustomUpstream
        && event
            .structure()
            .is_some_and(|s| s.name() == "GstForceKeyUnit")
}

/// The field that marks a viewer's first keyframe request.
const JOIN_FIELD: &str = "mumu-join";

/// A keyframe request, as sent upstream from a branch.
pub fn force_key_unit_event() -> gst::Event {
    gstreamer_video::UpstreamForceKeyUnitEvent::builder()
        .all_headers(true)
        .build()
}

/// A viewer's own keyframe request, for the first frame it gets: not throttled.
pub fn join_request_event() -> gst::Event {
    gstreamer_video::UpstreamForceKeyUnitEvent::builder()
        .all_headers(true)
        .other_field(JOIN_FIELD, true)
        .build()
}

fn is_join_request(event: &gst::EventRef) -> bool {
    event
        .structure()
        .is_some_and(|s| s.get::<bool>(JOIN_FIELD) == Ok(true))
}

/// Throttles every keyframe request passing `pad` (the tee's sink pad, where all branches'
/// upstream events meet). Deferred requests are sent again from a tokio task on `runtime`.
pub fn install(pad: &gst::Pad, min_interval: Duration, runtime: tokio::runtime::Handle) {
    let throttle = Arc::new(Mutex::new(Throttle::new(min_interval)));
    pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |pad, info| {
        let Some(event) = info.event() else {
            return gst::PadProbeReturn::Ok;
        };
        if !is_force_key_unit(event) {
            return gst::PadProbeReturn::Ok;
        }
        let join = is_join_request(event);
        let decision = match throttle.lock() {
            Ok(mut throttle) => throttle.decide(Instant::now(), join),
            Err(_) => Decision::Forward,
        };
        match decision {
            Decision::Forward => {
                tracing::debug!(join, "keyframe request forwarded to the encoder");
                gst::PadProbeReturn::Ok
            }
            Decision::Defer(delay) => {
                tracing::debug!(?delay, "keyframe request deferred");
                let pad = pad.downgrade();
                runtime.spawn(async move {
                    tokio::time::sleep(delay).await;
                    if let Some(pad) = pad.upgrade() {
                        pad.push_event(force_key_unit_event());
                    }
                });
                gst::PadProbeReturn::Handled
            }
            // `Handled`, not `Drop`: gstreamer-rs has taken the event out of the probe info, and
            // with `Drop` GStreamer 1.22 then unrefs NULL (a GStreamer-CRITICAL in the log each
            // time a viewer's keyframe request is held back). gstreamer-rs frees it.
            Decision::Coalesce => gst::PadProbeReturn::Handled,
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_request_passes_and_the_next_in_the_window_is_deferred_to_its_end() {
        let mut throttle = Throttle::new(Duration::from_millis(500));
        let t0 = Instant::now();
        assert_eq!(throttle.decide(t0, false), Decision::Forward);
        assert_eq!(
            throttle.decide(t0 + Duration::from_millis(200), false),
            Decision::Defer(Duration::from_millis(300))
        );
    }

    #[test]
    fn a_storm_of_requests_in_one_window_becomes_a_single_deferred_one() {
        let mut throttle = Throttle::new(Duration::from_millis(500));
        let t0 = Instant::now();
        throttle.decide(t0, false);
        assert!(matches!(
            throttle.decide(t0 + Duration::from_millis(10), false),
            Decision::Defer(_)
        ));
        for ms in 20..30 {
            assert_eq!(
                throttle.decide(t0 + Duration::from_millis(ms), false),
                Decision::Coalesce
            );
        }
        // The deferred request arrives at the window's end and passes.
        assert_eq!(
            throttle.decide(t0 + Duration::from_millis(500), false),
            Decision::Forward
        );
        assert!(matches!(
            throttle.decide(t0 + Duration::from_millis(600), false),
            Decision::Defer(_)
        ));
    }

    #[test]
    fn a_viewers_first_request_passes_inside_the_window_and_opens_a_new_one() {
        let mut throttle = Throttle::new(Duration::from_millis(250));
        let t0 = Instant::now();
        assert_eq!(throttle.decide(t0, false), Decision::Forward);
        let joined = t0 + Duration::from_millis(100);
        assert_eq!(throttle.decide(joined, true), Decision::Forward);
        // The window starts again from the join: a PLI just after it waits its turn.
        assert_eq!(
            throttle.decide(joined + Duration::from_millis(50), false),
            Decision::Defer(Duration::from_millis(200))
        );
    }

    #[test]
    fn only_force_key_unit_events_count_as_keyframe_requests() {
        crate::media::init_for_tests();
        assert!(is_force_key_unit(&force_key_unit_event()));
        assert!(is_force_key_unit(&join_request_event()));
        assert!(is_join_request(&join_request_event()));
        assert!(!is_join_request(&force_key_unit_event()));
        assert!(!is_force_key_unit(&gst::event::Reconfigure::new()));
    }
}
