//! What of the shared stream reaches one viewer as its peer connection comes up: nothing before
//! it is up, and then frames from a keyframe on (see [`super::branch`] for why).
//!
//! The encoder is asked for that keyframe as the viewer asks to watch, not once its peer
//! connection is up: by then the keyframe has usually been made, and the gate holds it, with the
//! frames after it, until the connection is up. The viewer's first frame then goes out the
//! moment it can, instead of with the encoder's next frame (up to a frame interval, 33 ms at 30
//! fps, later). What is held is bounded by age ([`MAX_HOLD`]): a connection slower than that
//! would start on a stale picture, so the gate lets the held frames go, drops what follows, and
//! asks for a fresh keyframe once the connection is up.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The oldest a held keyframe may be and still start the viewer: the held frames reach the
/// viewer at once, so this is also the most the viewer's picture can start behind.
pub const MAX_HOLD: Duration = Duration::from_millis(100);
/// The most frames held, whatever their age (a camera far above 30 fps).
const MAX_HELD_FRAMES: usize = 8;
/// Frames dropped while awaiting the keyframe before it is asked for again: the one asked for
/// comes with the encoder's next frame or the one after, unless the request was lost (the
/// encoder still starting, say). A viewer given no frame asks for none, so the gate does.
const ASK_AGAIN_EVERY: u32 = 3;

/// What becomes of one frame at the gate.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// On to the payloader.
    Pass,
    /// Kept by the gate until the peer connection is up.
    Held,
    /// Dropped.
    Drop,
    /// Dropped, and the keyframe is late: ask the encoder again (through the throttle).
    DropAndAskAgain,
}

/// What the gate has for a viewer whose peer connection just came up.
#[derive(Debug, PartialEq, Eq)]
pub enum Connected<F> {
    /// Frames from a keyframe on, to send now, in order; frames pass from here on.
    Release(Vec<F>),
    /// The hold went stale: ask for a fresh keyframe now; frames pass from it on.
    AskForKeyframe,
    /// Nothing to do: the keyframe asked for as the branch started has not come yet (frames
    /// pass from it on), or the gate was open already.
    Wait,
}

#[derive(Debug)]
enum Phase<F> {
    /// Not connected, nothing held: frames are dropped until a keyframe. `let_go` once a
    /// stale hold was dropped: the keyframe asked for has come and gone.
    Seeking { let_go: bool },
    /// Not connected; a keyframe arrived at `since` and is held, with the frames after it.
    Holding { since: Instant, frames: Vec<F> },
    /// Connected, with nothing held: frames are dropped until a keyframe.
    Awaiting { dropped: u32 },
    /// Frames pass.
    Open,
}

/// One viewer's gate over frames `F`, fed on the streaming thread and told of the connection
/// from GStreamer's thread pool.
#[derive(Debug)]
pub struct Gate<F> {
    phase: Mutex<Phase<F>>,
}

impl<F> Default for Gate<F> {
    fn default() -> Self {
        Self {
            phase: Mutex::new(Phase::Seeking { let_go: false }),
        }
    }
}

impl<F> Gate<F> {
    fn phase(&self) -> MutexGuard<'_, Phase<F>> {
        // Plain data: a panic elsewhere while holding the lock leaves nothing half-done.
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What becomes of `frame`, arriving at `now`. A held frame is kept by the gate.
    pub fn frame(&self, frame: F, keyframe: bool, now: Instant) -> Verdict {
        let mut phase = self.phase();
        match &mut *phase {
            Phase::Open => Verdict::Pass,
            Phase::Awaiting { .. } if keyframe => {
                *phase = Phase::Open;
                Verdict::Pass
            }
            Phase::Awaiting { dropped } => {
                *dropped += 1;
                if dropped.is_multiple_of(ASK_AGAIN_EVERY) {
                    Verdict::DropAndAskAgain
                } else {
                    Verdict::Drop
                }
            }
            Phase::Holding { since, frames }
                if now.saturating_duration_since(*since) <= MAX_HOLD
                    && frames.len() < MAX_HELD_FRAMES =>
            {
                frames.push(frame);
                Verdict::Held
            }
            Phase::Holding { .. } | Phase::Seeking { .. } if keyframe => {
                *phase = Phase::Holding {
                    since: now,
                    frames: vec![frame],
                };
                Verdict::Held
            }
            Phase::Holding { .. } => {
                *phase = Phase::Seeking { let_go: true };
                Verdict::Drop
            }
            Phase::Seeking { .. } => Verdict::Drop,
        }
    }

    /// The peer connection is up at `now`: what the viewer gets first.
    pub fn connect(&self, now: Instant) -> Connected<F> {
        let mut phase = self.phase();
        match std::mem::replace(&mut *phase, Phase::Open) {
            Phase::Open => Connected::Wait,
            Phase::Holding { since, frames }
                if now.saturating_duration_since(since) <= MAX_HOLD =>
            {
                Connected::Release(frames)
            }
            Phase::Awaiting { dropped } => {
                *phase = Phase::Awaiting { dropped };
                Connected::Wait
            }
            Phase::Seeking { let_go: false } => {
                *phase = Phase::Awaiting { dropped: 0 };
                Connected::Wait
            }
            Phase::Holding { .. } | Phase::Seeking { let_go: true } => {
                *phase = Phase::Awaiting { dropped: 0 };
                Connected::AskForKeyframe
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(33);

    #[test]
    fn frames_from_a_keyframe_before_the_connection_are_held_and_released_when_it_is_up() {
        let gate = Gate::default();
        let t0 = Instant::now();
        assert_eq!(gate.frame(1, false, t0), Verdict::Drop, "no keyframe yet");
        assert_eq!(gate.frame(2, true, t0 + FRAME), Verdict::Held);
        assert_eq!(gate.frame(3, false, t0 + FRAME * 2), Verdict::Held);
        assert_eq!(gate.connect(t0 + FRAME * 2), Connected::Release(vec![2, 3]));
        assert_eq!(gate.frame(4, false, t0 + FRAME * 3), Verdict::Pass);
        assert_eq!(gate.connect(t0 + FRAME * 3), Connected::Wait);
    }

    #[test]
    fn a_stale_hold_is_let_go_and_a_fresh_keyframe_asked_for_once_connected() {
        let gate = Gate::default();
        let t0 = Instant::now();
        assert_eq!(gate.frame(1, true, t0), Verdict::Held);
        assert_eq!(gate.frame(2, false, t0 + FRAME), Verdict::Held);
        assert_eq!(
            gate.frame(3, false, t0 + MAX_HOLD + FRAME),
            Verdict::Drop,
            "too old"
        );
        assert_eq!(
            gate.frame(4, false, t0 + MAX_HOLD + FRAME * 2),
            Verdict::Drop
        );
        assert_eq!(gate.connect(t0 + MAX_HOLD * 2), Connected::AskForKeyframe);
        assert_eq!(gate.frame(5, false, t0 + MAX_HOLD * 3), Verdict::Drop);
        assert_eq!(
            gate.frame(6, true, t0 + MAX_HOLD * 3 + FRAME),
            Verdict::Pass
        );
        assert_eq!(
            gate.frame(7, false, t0 + MAX_HOLD * 3 + FRAME * 2),
            Verdict::Pass
        );
    }

    #[test]
    fn a_hold_that_aged_while_the_connection_came_up_is_not_released() {
        let gate = Gate::default();
        let t0 = Instant::now();
        assert_eq!(gate.frame(1, true, t0), Verdict::Held);
        assert_eq!(
            gate.connect(t0 + MAX_HOLD + FRAME),
            Connected::AskForKeyframe
        );
        assert_eq!(gate.frame(2, false, t0 + MAX_HOLD + FRAME), Verdict::Drop);
        assert_eq!(
            gate.frame(3, true, t0 + MAX_HOLD + FRAME * 2),
            Verdict::Pass
        );
    }

    #[test]
    fn a_newer_keyframe_restarts_a_stale_hold() {
        let gate = Gate::default();
        let t0 = Instant::now();
        assert_eq!(gate.frame(1, true, t0), Verdict::Held);
        let later = t0 + MAX_HOLD + FRAME;
        assert_eq!(gate.frame(2, true, later), Verdict::Held);
        assert_eq!(gate.connect(later + FRAME), Connected::Release(vec![2]));
    }

    #[test]
    fn the_hold_is_bounded_in_frames_too() {
        let gate = Gate::default();
        let t0 = Instant::now();
        assert_eq!(gate.frame(0, true, t0), Verdict::Held);
        for n in 1..MAX_HELD_FRAMES {
            assert_eq!(gate.frame(n, false, t0), Verdict::Held);
        }
        assert_eq!(gate.frame(MAX_HELD_FRAMES, false, t0), Verdict::Drop);
        assert_eq!(gate.connect(t0), Connected::AskForKeyframe);
    }

    #[test]
    fn a_connection_faster_than_the_keyframe_waits_for_it_without_asking_again() {
        let gate = Gate::default();
        let t0 = Instant::now();
        assert_eq!(gate.frame(1, false, t0), Verdict::Drop);
        assert_eq!(gate.connect(t0 + FRAME / 2), Connected::Wait);
        assert_eq!(gate.frame(2, true, t0 + FRAME), Verdict::Pass);
        assert_eq!(gate.frame(3, false, t0 + FRAME * 2), Verdict::Pass);
    }

    #[test]
    fn a_late_keyframe_is_asked_for_again_every_few_frames() {
        let gate = Gate::default();
        let t0 = Instant::now();
        assert_eq!(gate.connect(t0), Connected::Wait);
        let verdicts: Vec<Verdict> = (0..7).map(|n| gate.frame(n, false, t0)).collect();
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
        assert_eq!(gate.frame(7, true, t0), Verdict::Pass);
    }
}
