//! What of the shared stream reaches one viewer as its peer connection comes up: nothing before
//! it is up, then frames from the first keyframe on (see [`super::branch`] for why).

use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

const CLOSED: u8 = 0;
const AWAITING_KEYFRAME: u8 = 1;
const OPEN: u8 = 2;

/// Frames dropped while awaiting the keyframe before it is asked for again: the one asked for
/// comes with the encoder's next frame or the one after, unless the request was lost (the
/// encoder still starting, say). A viewer given no frame asks for none, so the gate does.
const ASK_AGAIN_EVERY: u32 = 3;

/// What becomes of one frame at the gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// On to the payloader.
    Pass,
    /// Dropped.
    Drop,
    /// Dropped, and the keyframe is late: ask the encoder again (through the throttle).
    DropAndAskAgain,
}

/// One viewer's gate, read on the streaming thread and opened from webrtcbin's.
#[derive(Debug, Default)]
pub struct Gate {
    state: AtomicU8,
    dropped: AtomicU32,
}

impl Gate {
    /// The peer connection is up: frames pass from the next keyframe on.
    pub fn connect(&self) {
        let _ = self.state.compare_exchange(
            CLOSED,
            AWAITING_KEYFRAME,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Whether RTP may reach webrtcbin: from the first keyframe after connecting on. Opened
    /// by the streaming thread itself ([`Gate::frame`]), so a frame that was in the
    /// payloader as the connection came up cannot slip through ahead of the keyframe.
    pub fn open(&self) -> bool {
        self.state.load(Ordering::Acquire) == OPEN
    }

    /// What becomes of a frame. Before the peer connection is up every frame passes (its RTP
    /// is dropped after the payloader); then none until a keyframe.
    pub fn frame(&self, keyframe: bool) -> Verdict {
        match self.state.load(Ordering::Acquire) {
            AWAITING_KEYFRAME if keyframe => {
                self.state.store(OPEN, Ordering::Release);
                Verdict::Pass
            }
            AWAITING_KEYFRAME => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_multiple_of(ASK_AGAIN_EVERY) {
                    Verdict::DropAndAskAgain
                } else {
                    Verdict::Drop
                }
            }
            _ => Verdict::Pass,
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
        assert_eq!(
            gate.frame(false),
            Verdict::Pass,
            "payloaded, then dropped as RTP"
        );
        gate.connect();
        assert!(!gate.open(), "a frame payloaded before is still dropped");
        assert_eq!(
            gate.frame(false),
            Verdict::Drop,
            "a frame it could not decode"
        );
        assert_eq!(gate.frame(true), Verdict::Pass, "the keyframe");
        assert!(gate.open());
        assert_eq!(gate.frame(false), Verdict::Pass, "and everything after it");
        gate.connect();
        assert_eq!(
            gate.frame(false),
            Verdict::Pass,
            "connecting again does not close it"
        );
    }

    #[test]
    fn a_late_keyframe_is_asked_for_again_every_few_frames() {
        let gate = Gate::default();
        gate.connect();
        let verdicts: Vec<Verdict> = (0..7).map(|_| gate.frame(false)).collect();
        use Verdict::{Drop, DropAndAskAgain};
        assert_eq!(
            verdicts,
            [
                Drop,
                Drop,
                DropAndAskAgain,
                Drop,
                Drop,
                DropAndAskAgain,
                Drop
            ]
        );
        assert_eq!(gate.frame(true), Verdict::Pass);
    }
}
