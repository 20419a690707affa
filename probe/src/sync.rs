//! A/V sync, measured at the viewer: when the simulator's picture shows its clock's next
//! second, against when its beep for that second arrives.
//!
//! The picture's second is read off the decoded frames: `clockoverlay` draws the time in the
//! top-left corner of a still picture (the simulator's colour bars), so the frame where the
//! second changes is the one where many of that corner's pixels move far from the frame
//! before (a digit's strokes), where coding noise moves a few of them a little. Its arrival is when its last packet came. Each beep (see
//! [`crate::audio_check`]) is paired with the nearest second change; the offset is the beep's
//! arrival minus the frame's, positive when the sound comes late.

use std::collections::VecDeque;
use std::time::Instant;

/// A pixel of the clock's corner whose luma moved by more than this changed: a digit's stroke
/// (white, outlined in black, on the bars) moves by a hundred or more, coding noise on a still
/// picture by a few.
const MOVED: u8 = 48;
/// Per mille of the corner's pixels that moved, which marks a new second: the seconds digit
/// alone changes several per cent of it.
pub const CHANGE: f64 = 2.0;
/// Frames whose arrival is remembered.
const ARRIVALS_KEPT: usize = 256;
/// Second changes kept.
const KEPT: usize = 3_600;
/// Two changes less than this apart (RTP 90 kHz: half a second) are one.
const MIN_APART: u64 = 45_000;
/// Beeps further than this from any second change are not paired (ms).
const MAX_PAIRING_MS: f64 = 400.0;

/// One second change seen in the picture.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SecondChange {
    /// RTP time (90 kHz, from the stream's first packet) of the first frame showing it.
    pub rtp_time: u64,
    /// When that frame arrived, if it is still remembered.
    pub arrival: Option<Instant>,
    /// How much of the corner moved, per mille.
    pub difference: f64,
}

/// Reads the clock's second changes off decoded frames.
#[derive(Debug, Default)]
pub struct PictureClock {
    corner: Option<Vec<u8>>,
    arrivals: VecDeque<(u64, Instant)>,
    /// Frames decoded.
    pub frames: u64,
    /// The second changes seen, in order.
    pub changes: Vec<SecondChange>,
    /// The largest corner difference that was not a change (the noise floor seen).
    pub largest_noise: f64,
}

impl PictureClock {
    /// A frame with RTP time `rtp_time` was complete at `now`.
    pub fn arrived(&mut self, rtp_time: u64, now: Instant) {
        if self.arrivals.back().is_some_and(|(t, _)| *t == rtp_time) {
            return;
        }
        if self.arrivals.len() == ARRIVALS_KEPT {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back((rtp_time, now));
    }

    /// A decoded I420 frame (its luma plane first, rows padded to 4 bytes).
    pub fn frame(&mut self, rtp_time: u64, (width, height): (u32, u32), data: &[u8]) {
        let stride = (width as usize).div_ceil(4) * 4;
        let (w, h) = (width as usize / 4, height as usize / 7);
        if w == 0 || h == 0 || data.len() < stride * h {
            return;
        }
        self.frames += 1;
        let corner: Vec<u8> = (0..h)
            .flat_map(|row| data[row * stride..row * stride + w].iter().copied())
            .collect();
        let Some(previous) = self.corner.replace(corner) else {
            return;
        };
        let current = self.corner.as_deref().unwrap_or_default();
        if previous.len() != current.len() {
            return;
        }
        let moved = previous
            .iter()
            .zip(current)
            .filter(|(a, b)| a.abs_diff(**b) > MOVED)
            .count();
        let difference = moved as f64 * 1000.0 / current.len() as f64;
        let apart = self
            .changes
            .last()
            .is_none_or(|c| rtp_time.saturating_sub(c.rtp_time) >= MIN_APART);
        if difference >= CHANGE && apart {
            if self.changes.len() < KEPT {
                let arrival = self
                    .arrivals
                    .iter()
                    .find(|(t, _)| *t == rtp_time)
                    .map(|(_, at)| *at);
                self.changes.push(SecondChange {
                    rtp_time,
                    arrival,
                    difference,
                });
            }
        } else if difference < CHANGE {
            self.largest_noise = self.largest_noise.max(difference);
        }
    }
}

/// Each beep's arrival minus the nearest second change's, in milliseconds (pairs further
/// apart than 400 ms are left out: a beep or a change was missed).
pub fn offsets_ms(beeps: &[Option<Instant>], changes: &[Option<Instant>]) -> Vec<f64> {
    let changes: Vec<Instant> = changes.iter().flatten().copied().collect();
    beeps
        .iter()
        .flatten()
        .filter_map(|beep| {
            changes
                .iter()
                .map(|change| signed_ms(*beep, *change))
                .min_by(|a, b| a.abs().total_cmp(&b.abs()))
        })
        .filter(|offset| offset.abs() <= MAX_PAIRING_MS)
        .collect()
}

/// `a - b` in milliseconds.
fn signed_ms(a: Instant, b: Instant) -> f64 {
    if a >= b {
        (a - b).as_secs_f64() * 1000.0
    } else {
        -((b - a).as_secs_f64() * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn picture(width: u32, height: u32, digit: u8) -> Vec<u8> {
        let mut luma = vec![180u8; (width * height * 3 / 2) as usize];
        // A "digit": a block in the corner, in one of two places.
        let x0 = 10 + usize::from(digit % 2) * 30;
        for row in 10..40 {
            for x in x0..x0 + 20 {
                luma[row * width as usize + x] = 235;
            }
        }
        luma
    }

    #[test]
    fn a_change_in_the_clocks_corner_is_a_new_second_and_noise_is_not() {
        let start = Instant::now();
        let mut clock = PictureClock::default();
        let mut noisy = picture(640, 480, 0);
        for (i, digit) in [0u8, 0, 0, 1, 1, 1].into_iter().enumerate() {
            let rtp_time = i as u64 * 3000;
            clock.arrived(rtp_time, start + Duration::from_millis(i as u64 * 33));
            let mut frame = picture(640, 480, digit);
            if digit == 0 {
                // Coding noise: a few pixels off by a little.
                noisy[5] ^= 3;
                frame = noisy.clone();
            }
            clock.frame(rtp_time, (640, 480), &frame);
        }
        assert_eq!(clock.changes.len(), 1, "{clock:?}");
        assert_eq!(clock.changes[0].rtp_time, 9000);
        assert_eq!(
            clock.changes[0].arrival,
            Some(start + Duration::from_millis(99))
        );
        assert!(clock.largest_noise < CHANGE);
    }

    #[test]
    fn beeps_pair_with_the_nearest_change_and_strays_are_left_out() {
        let t = Instant::now() + Duration::from_secs(10);
        let ms = |n: i64| {
            if n >= 0 {
                t + Duration::from_millis(n as u64)
            } else {
                t - Duration::from_millis((-n) as u64)
            }
        };
        let changes = [Some(ms(0)), Some(ms(1000)), None, Some(ms(2000))];
        let beeps = [Some(ms(30)), Some(ms(990)), None, Some(ms(3500))];
        assert_eq!(offsets_ms(&beeps, &changes), [30.0, -10.0]);
    }
}
