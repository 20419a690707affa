//! Retry delays, one rule for every part that reconnects (the agent to the server, the web app's
//! socket, a watch that failed): exponential backoff with "equal jitter".
//!
//! When the server restarts, every camera and every tab loses its socket at the same instant.
//! Doubling the wait after each failure keeps a dead server from being hammered; the random
//! part (between half and all of the wait) keeps them from coming back in lockstep, and never
//! waits zero. The randomness is the caller's (the OS's on the agent, `Math.random` in the
//! browser), so the rule itself is pure and tested here.

use std::time::Duration;

/// The wait before retry number `failures` (1 for the first retry) without jitter: `first`,
/// doubled for each failure before it, at most `max`.
pub fn ceiling(first: Duration, max: Duration, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
    first.saturating_mul(factor).min(max)
}

/// `ceiling` scaled into [half, all] of itself by `random`, uniform in [0, 1].
pub fn jittered(ceiling: Duration, random: f64) -> Duration {
    ceiling.mul_f64(0.5 + 0.5 * random.clamp(0.0, 1.0))
}

/// The wait before retry number `failures`: [`ceiling`] with [`jittered`] applied.
pub fn retry_delay(first: Duration, max: Duration, failures: u32, random: f64) -> Duration {
    jittered(ceiling(first, max, failures), random)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(15);

    #[test]
    fn waits_double_from_the_first_up_to_the_cap() {
        let ms = |n| ceiling(FIRST, MAX, n).as_millis();
        assert_eq!([ms(1), ms(2), ms(3), ms(4)], [500, 1000, 2000, 4000]);
        assert_eq!(ms(6), 15_000);
        assert_eq!(ms(0), 500, "no failure yet counts as the first");
        assert_eq!(ms(u32::MAX), 15_000, "no overflow");
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_wait() {
        assert_eq!(retry_delay(FIRST, MAX, 2, 1.0), Duration::from_millis(1000));
        assert_eq!(retry_delay(FIRST, MAX, 2, 0.0), Duration::from_millis(500));
        assert_eq!(
            retry_delay(FIRST, MAX, 20, 0.5),
            Duration::from_millis(11_250)
        );
        assert_eq!(
            jittered(MAX, 7.0),
            MAX,
            "out-of-range randomness is clamped"
        );
        assert_eq!(jittered(MAX, -1.0), MAX / 2);
    }
}
