//! From scores picture by picture to events: an event starts once motion has lasted a few
//! pictures in a row (a lone moving picture is a flicker, or the clock's digits turning), and
//! ends after a quiet period; an event that goes on too long is cut, so that each one has an
//! end and a thumbnail that means something.

use super::detector::Score;
use mumu_shared::UnixMillis;

/// Pictures in a row with motion before an event starts (0.6 s at 5 pictures a second).
pub const START_PICTURES: usize = 3;

/// An event ends after this long without sustained motion, in milliseconds.
pub const QUIET_MS: i64 = 2_000;

/// An event is cut after this long (a new one starts if the motion goes on), in milliseconds.
pub const MAX_EVENT_MS: i64 = 5 * 60_000;

/// What a picture changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// An event began at `start` (the first of the pictures that started it).
    Started {
        /// When the motion began.
        start: UnixMillis,
    },
    /// The event is over.
    Ended(Ended),
}

/// An event that is over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    /// When the motion began.
    pub start: UnixMillis,
    /// The last sustained motion.
    pub end: UnixMillis,
    /// The zones that fired, as indices into the settings' zones.
    pub zones: Vec<usize>,
    /// The largest moving area, in ten-thousandths of the picture.
    pub peak: u16,
}

#[derive(Debug)]
struct Ongoing {
    start: UnixMillis,
    last_motion: UnixMillis,
    zones: u32,
    peak: u16,
}

impl Ongoing {
    fn ended(&self) -> Ended {
        Ended {
            start: self.start,
            end: self.last_motion,
            zones: (0..32).filter(|z| self.zones & (1 << z) != 0).collect(),
            peak: self.peak,
        }
    }
}

/// The event state machine.
#[derive(Debug)]
pub struct Tracker {
    min_area: u16,
    /// The moving pictures in a row so far: when, which zones, how much.
    run: Vec<(UnixMillis, u32, u16)>,
    current: Option<Ongoing>,
}

impl Tracker {
    /// A tracker counting a zone as moving from `min_area` ten-thousandths of the picture.
    pub fn new(min_area: u16) -> Self {
        Self {
            min_area: min_area.max(1),
            run: Vec::with_capacity(START_PICTURES),
            current: None,
        }
    }

    /// From the next picture on, a zone moves from `min_area`.
    pub fn set_min_area(&mut self, min_area: u16) {
        self.min_area = min_area.max(1);
    }

    /// Whether an event is under way.
    pub fn in_event(&self) -> bool {
        self.current.is_some()
    }

    /// Takes the score of the picture captured `at`.
    pub fn observe(&mut self, at: UnixMillis, score: &Score) -> Option<Change> {
        let zones = score
            .zones
            .iter()
            .enumerate()
            .filter(|&(_, &area)| area >= self.min_area)
            .fold(0u32, |bits, (zone, _)| bits | (1 << zone));
        if zones == 0 {
            self.run.clear();
        } else if self.run.len() < START_PICTURES {
            self.run.push((at, zones, score.peak()));
        } else {
            // Only the latest START_PICTURES matter.
            self.run.rotate_left(1);
            if let Some(last) = self.run.last_mut() {
                *last = (at, zones, score.peak());
            }
        }
        match &mut self.current {
            Some(event) => {
                if self.run.len() >= 2 {
                    event.last_motion = at;
                    event.zones |= zones;
                    event.peak = event.peak.max(score.peak());
                }
                if at - event.start >= MAX_EVENT_MS || at - event.last_motion >= QUIET_MS {
                    let ended = event.ended();
                    self.current = None;
                    self.run.clear();
                    return Some(Change::Ended(ended));
                }
                None
            }
            None if self.run.len() >= START_PICTURES => {
                let start = self.run[0].0;
                self.current = Some(Ongoing {
                    start,
                    last_motion: at,
                    zones: self.run.iter().fold(0, |bits, r| bits | r.1),
                    peak: self.run.iter().map(|r| r.2).max().unwrap_or(0),
                });
                Some(Change::Started { start })
            }
            None => None,
        }
    }

    /// The event under way so far (its `end`: the last sustained motion), if there is one.
    pub fn ongoing(&self) -> Option<Ended> {
        self.current.as_ref().map(Ongoing::ended)
    }

    /// Ends the event under way, if there is one (the detector stops).
    pub fn finish(&mut self) -> Option<Ended> {
        self.run.clear();
        self.current.take().map(|event| event.ended())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(zones: &[u16]) -> Score {
        Score {
            zones: zones.to_vec(),
        }
    }

    /// Feeds `scores` at 5 pictures a second from t = 0; the changes and their times.
    fn run(tracker: &mut Tracker, scores: &[Score]) -> Vec<(UnixMillis, Change)> {
        scores
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let at = i as i64 * 200;
                tracker.observe(at, s).map(|c| (at, c))
            })
            .collect()
    }

    #[test]
    fn motion_that_lasts_starts_one_event_that_ends_after_the_quiet() {
        let mut tracker = Tracker::new(100);
        let mut scores = vec![score(&[0, 0]); 5];
        scores.extend(vec![score(&[300, 0]); 6]);
        scores.push(score(&[50, 500]));
        scores.push(score(&[0, 400]));
        scores.extend(vec![score(&[0, 0]); 20]);
        let changes = run(&mut tracker, &scores);
        assert_eq!(
            changes,
            [
                (1_400, Change::Started { start: 1_000 }),
                (
                    4_400,
                    Change::Ended(Ended {
                        start: 1_000,
                        end: 2_400,
                        zones: vec![0, 1],
                        peak: 500
                    })
                )
            ]
        );
    }

    #[test]
    fn flickers_and_small_motion_start_nothing() {
        let mut tracker = Tracker::new(100);
        // A moving picture every second (the clock's digits), two in a row, and a lot of
        // pictures with motion below the minimum area.
        let mut scores = vec![];
        for _ in 0..10 {
            scores.push(score(&[400]));
            scores.extend(vec![score(&[0]); 4]);
        }
        scores.extend([score(&[400]), score(&[400]), score(&[0])]);
        scores.extend(vec![score(&[99]); 50]);
        assert_eq!(run(&mut tracker, &scores), []);
        assert!(!tracker.in_event());
    }

    #[test]
    fn endless_motion_is_cut_into_events_of_bounded_length() {
        let mut tracker = Tracker::new(100);
        let pictures = (MAX_EVENT_MS / 200) as usize * 2 + 10;
        let changes = run(&mut tracker, &vec![score(&[300]); pictures]);
        let ended: Vec<_> = changes
            .iter()
            .filter_map(|(_, c)| match c {
                Change::Ended(e) => Some(e.end - e.start),
                Change::Started { .. } => None,
            })
            .collect();
        assert_eq!(ended.len(), 2, "{changes:?}");
        assert!(ended.iter().all(|&length| length <= MAX_EVENT_MS));
        assert!(tracker.in_event(), "a third one is under way");
        assert!(tracker.finish().is_some());
    }
}
