//! What of the shared stream reaches one viewer as its peer connection comes up: nothing before
//! it is up, then frames from the first keyframe on (see [`super::branch`] for why).

use std::sync::atomic::{AtomicU8, Ordering};

const CLOSED: u8 = 0;
const AWAITING_KEYFRAME: u8 = 1;
const OPEN: u8 = 2;

/// One viewer's gate, read on the streaming thread and opened from webrtcbin's.
#[derive(Debug, Default)]
pub struct Gate(AtomicU8);

impl Gate {
    /// The peer connection is up: frames pass from the next keyframe on.
    pub fn connect(&self) {
        let _ = self.0.compare_exchange(
            CLOSED,
            AWAITING_KEYFRAME,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Whether RTP may reach webrtcbin: from the first keyframe after connecting on. Opened
    /// by the streaming thread itself ([`Gate::passes`]), so a frame that was in the
    /// payloader as the connection came up cannot slip through ahead of the keyframe.
    pub fn open(&self) -> bool {
        self.0.load(Ordering::Acquire) == OPEN
    }

    /// Whether a frame goes on to the payloader. Before the peer connection is up every frame
    /// does (its RTP is dropped after the payloader); then none until a keyframe.
    pub fn passes(&self, keyframe: bool) -> bool {
        match self.0.load(Ordering::Acquire) {
            AWAITING_KEYFRAME if keyframe => {
                self.0.store(OPEN, Ordering::Release);
                true
            }
            AWAITING_KEYFRAME => false,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewer_gets_nothing_before_connecting_and_then_starts_at_a_keyframe() {
        let gate = Gate::default();
        assert!(!gate.open());
        assert!(gate.passes(false), "payloaded, then dropped as RTP");
        gate.connect();
        assert!(!gate.open(), "a frame payloaded before is still dropped");
        assert!(!gate.passes(false), "a delta frame it could not decode");
        assert!(gate.passes(true), "the keyframe");
        assert!(gate.open());
        assert!(gate.passes(false), "and everything after it");
        gate.connect();
        assert!(gate.passes(false), "connecting again does not close it");
    }
}
