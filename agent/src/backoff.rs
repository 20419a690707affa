//! Reconnect delays: the shared rule ([`mumu_shared::backoff`]) with the attempt count kept.

use mumu_shared::backoff::retry_delay;
use rand::Rng;
use std::time::Duration;

/// The delays before successive reconnect attempts.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `base` and doubles up to `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempt: 0,
        }
    }

    /// The delay before the next attempt: the doubled delay, capped, then scaled by a random
    /// factor in [0.5, 1.0] ("equal jitter": never zero, never above the cap).
    pub fn next_delay(&mut self) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        let random = rand::rng().random_range(0.0..=1.0);
        retry_delay(self.base, self.max, self.attempt, random)
    }

    /// Back to the first delay, after a connection that worked.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_until_the_cap_and_stay_within_the_jitter_band() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let ceilings = [100, 200, 400, 800, 1000, 1000];
        for ceiling in ceilings {
            let delay = backoff.next_delay();
            let ceiling = Duration::from_millis(ceiling);
            assert!(delay <= ceiling, "{delay:?} above {ceiling:?}");
            assert!(delay >= ceiling / 2, "{delay:?} below half of {ceiling:?}");
        }
    }

    #[test]
    fn a_reset_starts_again_from_the_base_delay() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        for _ in 0..5 {
            backoff.next_delay();
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn many_attempts_do_not_overflow() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        for _ in 0..1000 {
            assert!(backoff.next_delay() <= Duration::from_secs(30));
        }
    }
}
