//! Token buckets: per socket (signaling messages) and per key (failed logins by username or
//! address, pairing attempts by user, enrolments by address, watch requests by user). Time is
//! passed in, so the limits are tested without sleeping.
//!
//! Keyed buckets live in this process (one server, the default) or in Redis, where every server
//! behind one address draws from the same buckets: N servers allow what one allows. A server
//! that cannot reach Redis counts in its own process until Redis is back: limited per server
//! for that while, never unlimited, and nobody is locked out by the outage.

use fred::prelude::*;
use mumu_shared::UnixMillis;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Where keyed buckets are kept.
#[derive(Clone, Debug)]
pub enum BucketStore {
    /// In this process.
    Local,
    /// In Redis, under `{prefix}:limit:`, shared by every server.
    Redis {
        /// The connection presence uses.
        client: Client,
        /// The deployment's key prefix.
        prefix: String,
    },
}

/// Takes (ARGV[2] = 1) or gives back (-1) one token in each bucket KEYS[i], all or none.
/// ARGV[1] is now (ms); ARGV[2i+1], ARGV[2i+2] bucket i's capacity and refill per ms. A missing
/// bucket is full, and each expires once it would be full again. Returns {0, 0}, or {i, ms}
/// when bucket i refuses and has a token again in ms.
const TAKE: &str = r"
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local left = {}
local stamps = {}
for i = 1, #KEYS do
  local cap = tonumber(ARGV[2 * i + 1])
  local per_ms = tonumber(ARGV[2 * i + 2])
  local saved = redis.call('HMGET', KEYS[i], 't', 'at')
  local tokens = tonumber(saved[1]) or cap
  local at = tonumber(saved[2]) or now
  if now > at then
    tokens = math.min(cap, tokens + (now - at) * per_ms)
  end
  if cost > 0 and tokens < cost then
    return {i, math.ceil((cost - tokens) / per_ms)}
  end
  left[i] = math.min(cap, tokens - cost)
  stamps[i] = math.max(now, at)
end
for i = 1, #KEYS do
  local cap = tonumber(ARGV[2 * i + 1])
  local per_ms = tonumber(ARGV[2 * i + 2])
  redis.call('HSET', KEYS[i], 't', tostring(left[i]), 'at', tostring(stamps[i]))
  redis.call('PEXPIRE', KEYS[i], math.ceil((cap - left[i]) / per_ms) + 1000)
end
return {0, 0}";

/// Buckets by key, under a name unique among the server's limiters. Full buckets are
/// forgotten now and then, so memory follows recent activity.
#[derive(Debug)]
pub struct KeyedLimiter {
    name: &'static str,
    rate: Option<Rate>,
    store: BucketStore,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl KeyedLimiter {
    /// A limiter at `rate` (`None`: unlimited) counting in this process.
    pub fn new(rate: Option<Rate>) -> Self {
        Self::in_store("local", rate, &BucketStore::Local)
    }

    /// A limiter named `name` at `rate`, counting in `store`.
    pub fn in_store(name: &'static str, rate: Option<Rate>, store: &BucketStore) -> Self {
        Self {
            name,
            rate,
            store: store.clone(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Uses one of `key`'s tokens; the error is seconds to wait.
    pub async fn take(&self, key: &str, now: UnixMillis) -> Result<(), u64> {
        take_all(&[(self, key)], now)
            .await
            .map_err(|(_, wait)| wait)
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

    fn take_here(&self, key: &str, now: UnixMillis) -> Result<(), u64> {
        self.with_bucket(key, now, |b, rate| b.take(rate, now))
    }

    fn refund_here(&self, key: &str, now: UnixMillis) {
        let _ = self.with_bucket(key, now, |b, rate| {
            b.refill(rate, now);
            b.tokens = (b.tokens + 1.0).min(rate.capacity);
            Ok(())
        });
    }

    /// The Redis key of `key`'s bucket: hashed, so neither usernames nor addresses are stored
    /// in the clear, and a long key costs no more than a short one.
    fn redis_key(&self, prefix: &str, key: &str) -> String {
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("{prefix}:limit:{}:{hex}", self.name)
    }
}

/// Whether the last Redis call for limits failed (logged once per outage, not per attempt).
static REDIS_DOWN: AtomicBool = AtomicBool::new(false);

/// One script call for every charge in Redis, all or none; `None` when Redis did not answer.
async fn in_redis(
    client: &Client,
    prefix: &str,
    charges: &[(&KeyedLimiter, &str)],
    cost: i64,
    now: UnixMillis,
) -> Option<Result<(), (usize, u64)>> {
    let limited: Vec<(usize, &KeyedLimiter, &str, Rate)> = charges
        .iter()
        .enumerate()
        .filter_map(|(i, (limiter, key))| Some((i, *limiter, *key, limiter.rate?)))
        .collect();
    if limited.is_empty() {
        return Some(Ok(()));
    }
    let keys: Vec<String> = limited
        .iter()
        .map(|(_, limiter, key, _)| limiter.redis_key(prefix, key))
        .collect();
    let mut args = vec![now.to_string(), cost.to_string()];
    for (_, _, _, rate) in &limited {
        args.push(rate.capacity.to_string());
        args.push(rate.per_ms.to_string());
    }
    match client.eval::<Vec<i64>, _, _, _>(TAKE, keys, args).await {
        Ok(answer) => {
            if REDIS_DOWN.swap(false, Ordering::Relaxed) {
                tracing::info!("rate limits are counted in Redis again");
            }
            Some(match answer.as_slice() {
                [refused, wait_ms, ..] if *refused > 0 => {
                    let index = limited[(*refused - 1) as usize].0;
                    let wait = (*wait_ms).max(0) as u64;
                    Err((index, wait.div_ceil(1000).max(1)))
                }
                _ => Ok(()),
            })
        }
        Err(e) => {
            if !REDIS_DOWN.swap(true, Ordering::Relaxed) {
                tracing::warn!(error = %e, "Redis does not answer: rate limits are counted per server until it does");
            }
            None
        }
    }
}

/// Takes a token from each `(limiter, key)`, all or none: when one refuses, those already taken
/// are given back. Charging before the work (not after it fails) is what keeps parallel
/// attempts from all slipping through. The error is the refusing limiter's index and the
/// seconds to wait. The limiters of one call share one store.
pub async fn take_all(
    charges: &[(&KeyedLimiter, &str)],
    now: UnixMillis,
) -> Result<(), (usize, u64)> {
    if let Some((first, _)) = charges.first()
        && let BucketStore::Redis { client, prefix } = &first.store
        && let Some(result) = in_redis(client, prefix, charges, 1, now).await
    {
        return result;
    }
    for (i, (limiter, key)) in charges.iter().enumerate() {
        if let Err(wait) = limiter.take_here(key, now) {
            for (taken, key) in &charges[..i] {
                taken.refund_here(key, now);
            }
            return Err((i, wait));
        }
    }
    Ok(())
}

/// Gives back a token to each `(limiter, key)`, for an attempt that turned out not to count (a
/// login that succeeded).
pub async fn refund_all(charges: &[(&KeyedLimiter, &str)], now: UnixMillis) {
    if let Some((first, _)) = charges.first()
        && let BucketStore::Redis { client, prefix } = &first.store
        && in_redis(client, prefix, charges, -1, now).await.is_some()
    {
        return;
    }
    for (limiter, key) in charges {
        limiter.refund_here(key, now);
    }
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

    #[tokio::test]
    async fn keys_are_limited_separately_and_zero_means_unlimited() {
        let limiter = KeyedLimiter::new(Rate::per_minute(2));
        limiter.take("alice", 0).await.unwrap();
        limiter.take("alice", 0).await.unwrap();
        assert_eq!(limiter.take("alice", 0).await, Err(30));
        assert!(limiter.take("bob", 0).await.is_ok());
        assert!(limiter.take("alice", 30_000).await.is_ok());
        refund_all(&[(&limiter, "alice")], 30_000).await;
        assert!(
            limiter.take("alice", 30_000).await.is_ok(),
            "a refunded token"
        );
        let open = KeyedLimiter::new(Rate::per_minute(0));
        for _ in 0..1000 {
            open.take("x", 0).await.unwrap();
        }
    }

    #[tokio::test]
    async fn taking_from_several_limiters_is_all_or_nothing() {
        let wide = KeyedLimiter::new(Rate::per_minute(10));
        let narrow = KeyedLimiter::new(Rate::per_minute(1));
        take_all(&[(&wide, "w"), (&narrow, "n")], 0).await.unwrap();
        assert_eq!(
            take_all(&[(&wide, "w"), (&narrow, "n")], 0).await,
            Err((1, 60))
        );
        // The refused attempt gave its token back to `wide`: 9 more fit, not 8.
        for _ in 0..9 {
            wide.take("w", 0).await.unwrap();
        }
        assert!(wide.take("w", 0).await.is_err());
    }
}
