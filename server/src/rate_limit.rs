//! Token buckets: per socket (signaling messages) and per key (failed logins by username or
//! address, pairing attempts by user, enrolments by address). Time is passed in, so the
//! limits are tested without sleeping.

use mumu_shared::UnixMillis;
use std::collections::HashMap;
use std::sync::Mutex;

/// A rate: `capacity` tokens at most, refilled at `per_minute` tokens a minute.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    capacity: f64,
    per_ms: f64,
}

impl Rate {
    /// `n` per minute, in bursts of up to `n`. Zero means no limit.
    pub fn per_minute(n: u32) -> Option<Self> {
        (n > 0).then(|| Self {
            capacity: f64::from(n),
            per_ms: f64::from(n) / 60_000.0,
        })
    }

    /// `n` per hour, in bursts of up to `n`. Zero means no limit.
    pub fn per_hour(n: u32) -> Option<Self> {
        (n > 0).then(|| Self {
            capacity: f64::from(n),
            per_ms: f64::from(n) / 3_600_000.0,
        })
    }

    /// `n` per second, in bursts of up to `burst`.
    pub fn per_second(n: u32, burst: u32) -> Self {
        Self {
            capacity: f64::from(burst.max(1)),
            per_ms: f64::from(n.max(1)) / 1000.0,
        }
    }
}

/// One bucket.
#[derive(Clone, Debug)]
pub struct Bucket {
    tokens: f64,
    updated: UnixMillis,
}

impl Bucket {
    /// A full bucket.
    pub fn full(rate: Rate, now: UnixMillis) -> Self {
        Self {
            tokens: rate.capacity,
            updated: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: UnixMillis) {
        let elapsed = (now - self.updated).max(0) as f64;
        self.tokens = (self.tokens + elapsed * rate.per_ms).min(rate.capacity);
        self.updated = now;
    }

    /// Takes a token, or says in how many milliseconds one will be there.
    pub fn take(&mut self, rate: Rate, now: UnixMillis) -> Result<(), u64> {
        self.check(rate, now)?;
        self.tokens -= 1.0;
        Ok(())
    }

    /// Whether a token is there, without taking it.
    pub fn check(&mut self, rate: Rate, now: UnixMillis) -> Result<(), u64> {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            Ok(())
        } else {
            Err(((1.0 - self.tokens) / rate.per_ms).ceil() as u64)
        }
    }

    fn is_full(&self, rate: Rate, now: UnixMillis) -> bool {
        self.tokens + (now - self.updated).max(0) as f64 * rate.per_ms >= rate.capacity
    }
}

/// Buckets by key. Full buckets are forgotten now and then, so memory follows recent activity.
#[derive(Debug)]
pub struct KeyedLimiter {
    rate: Option<Rate>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl KeyedLimiter {
    /// A limiter at `rate` (`None`: unlimited).
    pub fn new(rate: Option<Rate>) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` may go on, without using up anything; the error is seconds to wait.
    pub fn check(&self, key: &str, now: UnixMillis) -> Result<(), u64> {
        self.with_bucket(key, now, |b, rate| b.check(rate, now))
    }

    /// Uses one of `key`'s tokens; the error is seconds to wait.
    pub fn take(&self, key: &str, now: UnixMillis) -> Result<(), u64> {
        self.with_bucket(key, now, |b, rate| b.take(rate, now))
    }

    /// Gives back a token taken for an attempt that turned out not to count (a login that
    /// succeeded).
    pub fn refund(&self, key: &str, now: UnixMillis) {
        let _ = self.with_bucket(key, now, |b, rate| {
            b.refill(rate, now);
            b.tokens = (b.tokens + 1.0).min(rate.capacity);
            Ok(())
        });
    }

    fn with_bucket(
        &self,
        key: &str,
        now: UnixMillis,
        f: impl FnOnce(&mut Bucket, Rate) -> Result<(), u64>,
    ) -> Result<(), u64> {
        let Some(rate) = self.rate else { return Ok(()) };
        let mut buckets = self.buckets.lock().expect("limiter lock");
        if buckets.len() > 10_000 {
            buckets.retain(|_, b| !b.is_full(rate, now));
        }
        let bucket = buckets
            .entry(key.to_owned())
            .or_insert_with(|| Bucket::full(rate, now));
        f(bucket, rate).map_err(|wait_ms| wait_ms.div_ceil(1000).max(1))
    }
}

/// Takes a token from each `(limiter, key)`, all or none: when one refuses, those already taken
/// are given back. Charging before the work (not after it fails) is what keeps parallel
/// attempts from all slipping through. The error is the refusing limiter's index and the
/// seconds to wait.
pub fn take_all(charges: &[(&KeyedLimiter, &str)], now: UnixMillis) -> Result<(), (usize, u64)> {
    for (i, (limiter, key)) in charges.iter().enumerate() {
        if let Err(wait) = limiter.take(key, now) {
            for (taken, key) in &charges[..i] {
                taken.refund(key, now);
            }
            return Err((i, wait));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_over_time() {
        let rate = Rate::per_second(10, 20);
        let mut b = Bucket::full(rate, 0);
        for _ in 0..20 {
            b.take(rate, 0).unwrap();
        }
        assert_eq!(b.take(rate, 0), Err(100));
        assert!(b.take(rate, 100).is_ok());
        assert!(b.take(rate, 100).is_err());
    }

    #[test]
    fn keys_are_limited_separately_and_zero_means_unlimited() {
        let limiter = KeyedLimiter::new(Rate::per_minute(2));
        limiter.take("alice", 0).unwrap();
        limiter.take("alice", 0).unwrap();
        assert_eq!(limiter.take("alice", 0), Err(30));
        assert!(limiter.check("bob", 0).is_ok());
        assert!(limiter.take("alice", 30_000).is_ok());
        limiter.refund("alice", 30_000);
        assert!(limiter.take("alice", 30_000).is_ok(), "a refunded token");
        let open = KeyedLimiter::new(Rate::per_minute(0));
        for _ in 0..1000 {
            open.take("x", 0).unwrap();
        }
    }

    #[test]
    fn taking_from_several_limiters_is_all_or_nothing() {
        let wide = KeyedLimiter::new(Rate::per_minute(10));
        let narrow = KeyedLimiter::new(Rate::per_minute(1));
        take_all(&[(&wide, "w"), (&narrow, "n")], 0).unwrap();
        assert_eq!(take_all(&[(&wide, "w"), (&narrow, "n")], 0), Err((1, 60)));
        // The refused attempt gave its token back to `wide`: 9 more fit, not 8.
        for _ in 0..9 {
            wide.take("w", 0).unwrap();
        }
        assert!(wide.take("w", 0).is_err());
    }
}
