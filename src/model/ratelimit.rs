//! Token-bucket rate limiting for the calls anyone may make (+noauth). Pure: time is passed in.
//!
//! Each key (a peer address, or a hashed (domain, user) target) has a bucket holding at most
//! `burst` tokens that refills at `per_minute` tokens a minute; a call takes one token or is
//! refused. Memory is bounded: at most `max_keys` buckets are kept; a bucket that has refilled
//! completely is the same as no bucket and is dropped when room is needed. When every kept bucket
//! is still draining, new keys share one overflow bucket, so a flood from many sources is bounded
//! as a whole and cannot evict (and so reset) the bucket of a source already being limited.

use super::clock::Millis;
use std::collections::HashMap;
use std::hash::Hash;

/// One token, in the bucket's fixed-point units: a minute's worth of milliseconds, so that a
/// refill of `per_minute` tokens a minute is exactly `per_minute` units a millisecond.
const UNIT: u64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatePolicy {
    /// Tokens a bucket holds when full (calls allowed at once); 0 disables the limit.
    pub burst: u32,
    /// Tokens added a minute.
    pub per_minute: u32,
    /// Buckets kept at most.
    pub max_keys: usize,
}

impl RatePolicy {
    pub const fn disabled() -> Self {
        RatePolicy {
            burst: 0,
            per_minute: 0,
            max_keys: 0,
        }
    }
    fn capacity(&self) -> u64 {
        u64::from(self.burst).saturating_mul(UNIT)
    }
}

/// The limits on +noauth calls: per source (peer address; IPv6 by /64) and per target
/// (domain, user id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoauthLimits {
    pub per_source: RatePolicy,
    pub per_target: RatePolicy,
}

impl Default for NoauthLimits {
    fn default() -> Self {
        NoauthLimits {
            per_source: RatePolicy {
                burst: 100,
                per_minute: 600,
                max_keys: 65_536,
            },
            // Above the lockout's 10 failures: a blocked attempt never hashes and must keep
            // answering LOGIN_BLOCKED, so the lockout, not this, bounds guesses.
            per_target: RatePolicy {
                burst: 30,
                per_minute: 30,
                max_keys: 65_536,
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// In units of 1/UNIT token.
    level: u64,
    at: Millis,
}

impl Bucket {
    fn full(p: &RatePolicy, now: Millis) -> Self {
        Bucket {
            level: p.capacity(),
            at: now,
        }
    }
    fn refill(&mut self, p: &RatePolicy, now: Millis) {
        let elapsed = u64::try_from(now.saturating_sub(self.at)).unwrap_or(0);
        let added = elapsed.saturating_mul(u64::from(p.per_minute));
        self.level = self.level.saturating_add(added).min(p.capacity());
        // Time never goes back for a bucket (a clock step back just refills nothing).
        self.at = self.at.max(now);
    }
    fn take(&mut self, p: &RatePolicy, now: Millis) -> bool {
        self.refill(p, now);
        if self.level >= UNIT {
            self.level -= UNIT;
            true
        } else {
            false
        }
    }
    fn is_full(&self, p: &RatePolicy, now: Millis) -> bool {
        let mut b = *self;
        b.refill(p, now);
        b.level >= p.capacity()
    }
}

/// Buckets by key.
#[derive(Debug)]
pub struct RateLimiter<K> {
    policy: RatePolicy,
    buckets: HashMap<K, Bucket>,
    overflow: Option<Bucket>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    pub fn new(policy: RatePolicy) -> Self {
        RateLimiter {
            policy,
            buckets: HashMap::new(),
            overflow: None,
        }
    }

    pub fn policy(&self) -> RatePolicy {
        self.policy
    }

    /// Takes a token for `key`: true if the call may go on.
    pub fn allow(&mut self, key: K, now: Millis) -> bool {
        let p = self.policy;
        if p.burst == 0 {
            return true;
        }
        if let Some(b) = self.buckets.get_mut(&key) {
            return b.take(&p, now);
        }
        if self.buckets.len() >= p.max_keys {
            self.buckets.retain(|_, b| !b.is_full(&p, now));
        }
        if self.buckets.len() >= p.max_keys {
            return self
                .overflow
                .get_or_insert_with(|| Bucket::full(&p, now))
                .take(&p, now);
        }
        let mut b = Bucket::full(&p, now);
        let ok = b.take(&p, now);
        self.buckets.insert(key, b);
        ok
    }

    /// Buckets kept (the overflow bucket not counted).
    pub fn len(&self) -> usize {
        self.buckets.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(burst: u32, per_minute: u32, max_keys: usize) -> RatePolicy {
        RatePolicy {
            burst,
            per_minute,
            max_keys,
        }
    }

    #[test]
    fn burst_then_refill() {
        let mut l = RateLimiter::new(policy(3, 60, 10));
        assert!((0..3).all(|_| l.allow("a", 0)));
        assert!(!l.allow("a", 0));
        assert!(!l.allow("a", 999), "one token a second");
        assert!(l.allow("a", 1000));
        assert!(!l.allow("a", 1000));
        assert!(l.allow("b", 1000), "keys are independent");
    }

    #[test]
    fn refill_never_exceeds_burst_and_survives_huge_gaps() {
        let mut l = RateLimiter::new(policy(2, u32::MAX, 10));
        assert!(l.allow("a", i64::MIN));
        assert!(l.allow("a", i64::MAX));
        assert!(l.allow("a", i64::MAX));
        assert!(!l.allow("a", i64::MAX));
        // A clock step back refills nothing and does not panic.
        assert!(!l.allow("a", 0));
    }

    #[test]
    fn disabled_allows_everything() {
        let mut l = RateLimiter::new(RatePolicy::disabled());
        assert!((0..1000).all(|i| l.allow(i, 0)));
        assert!(l.is_empty());
    }

    #[test]
    fn bounded_keys_and_draining_buckets_are_never_evicted() {
        let mut l = RateLimiter::new(policy(2, 1, 4));
        assert!(l.allow(0, 0));
        assert!(l.allow(0, 0));
        assert!(!l.allow(0, 0), "key 0 is limited");
        for k in 1..1000 {
            l.allow(k, 0);
        }
        assert!(l.len() <= 4);
        assert!(!l.allow(0, 0), "a flood of new keys did not reset key 0");
        // New keys beyond the cap share one overflow bucket of `burst` tokens.
        let overflow_ok = (2000..2100).filter(|&k| l.allow(k, 0)).count();
        assert!(overflow_ok <= 2, "{overflow_ok}");
        // Full buckets are dropped when room is needed.
        let later = 10 * 60_000;
        assert!(l.allow(5000, later));
        assert!(l.len() <= 4);
    }
}
