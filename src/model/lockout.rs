//! Login failure counting and blocking (SPEC 5.4), per (domain, user_id). Pure: time is passed
//! in. Kept in memory only: a restart forgets counts (documented in ARCHITECTURE.md).
//!
//! Memory is bounded whatever the caller sends: entries are keyed by the SHA-256 of the user id
//! (32 bytes, whatever its length; each domain actor has its own table, so the domain is
//! implicit), an entry is removed as soon as it counts nothing, and the table never holds more
//! than `max_entries`. At the cap, entries that count nothing any more are pruned; if the table
//! is still full, a user id that has no entry is refused ([`Begin::Full`]). Nothing that counts
//! (a failure in its window, a block, an attempt in flight) is ever evicted, so flooding the
//! table cannot unblock or reset anyone.

use super::clock::Millis;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub window_ms: i64,
    pub block_ms: i64,
    /// Entries kept at most (per domain); beyond, new user ids are refused until entries expire.
    pub max_entries: usize,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 10,
            window_ms: 300_000,
            block_ms: 300_000,
            max_entries: 100_000,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Attempts {
    failures: u32,
    window_start: Millis,
    in_flight: u32,
    blocked_until: Millis,
}

impl Attempts {
    /// Whether the entry still counts something at `now` (else it can be dropped).
    fn counts(&self, p: &LockoutPolicy, now: Millis) -> bool {
        self.in_flight > 0
            || self.blocked_until > now
            || (self.failures > 0 && now.saturating_sub(self.window_start) < p.window_ms)
    }
}

/// The fixed-size key of a user id.
type Key = [u8; 32];

fn key(user_id: &str) -> Key {
    Sha256::digest(user_id.as_bytes()).into()
}

#[derive(Debug, Default)]
pub struct Lockout {
    policy: LockoutPolicy,
    entries: HashMap<Key, Attempts>,
}

/// Outcome of [`Lockout::begin`].
#[derive(Debug, PartialEq, Eq)]
pub enum Begin {
    /// Go on and verify the password; call `finish` (or `release`) afterwards.
    Proceed,
    /// Blocked: refuse without verifying.
    Blocked,
    /// The table is full of entries that still count: refuse without verifying (nothing kept).
    Full,
}

impl Lockout {
    pub fn new(policy: LockoutPolicy) -> Self {
        Lockout {
            policy,
            entries: HashMap::new(),
        }
    }

    /// Reserves an attempt before its hash runs: a pair with `failures + in_flight` at the limit is
    /// refused, so parallel guesses cannot exceed it.
    pub fn begin(&mut self, user_id: &str, now: Millis) -> Begin {
        let k = key(user_id);
        if !self.entries.contains_key(&k) && self.entries.len() >= self.policy.max_entries {
            self.prune(now);
            if self.entries.len() >= self.policy.max_entries {
                return Begin::Full;
            }
        }
        let p = self.policy;
        let a = self.entries.entry(k).or_default();
        if a.blocked_until > now {
            return Begin::Blocked;
        }
        if a.failures > 0 && now.saturating_sub(a.window_start) >= p.window_ms {
            a.failures = 0;
        }
        if a.failures.saturating_add(a.in_flight) >= p.max_failures {
            return Begin::Blocked;
        }
        a.in_flight = a.in_flight.saturating_add(1);
        Begin::Proceed
    }

    /// Records the outcome of a reserved attempt.
    pub fn finish(&mut self, user_id: &str, success: bool, now: Millis) {
        let p = self.policy;
        let k = key(user_id);
        let Some(a) = self.entries.get_mut(&k) else {
            return;
        };
        a.in_flight = a.in_flight.saturating_sub(1);
        if success {
            a.failures = 0;
        } else {
            if a.failures == 0 || now.saturating_sub(a.window_start) >= p.window_ms {
                a.failures = 0;
                a.window_start = now;
            }
            a.failures = a.failures.saturating_add(1);
            if a.failures >= p.max_failures {
                a.blocked_until = now.saturating_add(p.block_ms);
                a.failures = 0;
            }
        }
        self.forget_if_idle(k, now);
    }

    /// Releases a reservation without counting it (the attempt never reached a verdict); the
    /// entry goes when it counts nothing else.
    pub fn release(&mut self, user_id: &str, now: Millis) {
        let k = key(user_id);
        if let Some(a) = self.entries.get_mut(&k) {
            a.in_flight = a.in_flight.saturating_sub(1);
        }
        self.forget_if_idle(k, now);
    }

    fn forget_if_idle(&mut self, k: Key, now: Millis) {
        let p = self.policy;
        if self.entries.get(&k).is_some_and(|a| !a.counts(&p, now)) {
            self.entries.remove(&k);
        }
    }

    pub fn is_blocked(&self, user_id: &str, now: Millis) -> bool {
        self.entries
            .get(&key(user_id))
            .is_some_and(|a| a.blocked_until > now)
    }

    fn prune(&mut self, now: Millis) {
        let p = self.policy;
        self.entries.retain(|_, a| a.counts(&p, now));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(l: &mut Lockout, now: Millis) {
        assert_eq!(l.begin("u", now), Begin::Proceed);
        l.finish("u", false, now);
    }

    #[test]
    fn tenth_failure_blocks_for_block_time() {
        let mut l = Lockout::new(LockoutPolicy::default());
        for i in 0..9 {
            fail(&mut l, 1000 + i);
        }
        assert!(!l.is_blocked("u", 2000));
        fail(&mut l, 5000);
        assert!(l.is_blocked("u", 5000));
        assert_eq!(l.begin("u", 5000 + 299_999), Begin::Blocked);
        assert_eq!(l.begin("u", 5000 + 300_000), Begin::Proceed);
    }

    #[test]
    fn window_expiry_resets_count() {
        let mut l = Lockout::new(LockoutPolicy::default());
        for _ in 0..9 {
            fail(&mut l, 0);
        }
        // The window opened at the first failure (t=0) and lasts 300 s.
        fail(&mut l, 300_000);
        assert!(!l.is_blocked("u", 300_000), "a new window started");
    }

    #[test]
    fn success_clears_count() {
        let mut l = Lockout::new(LockoutPolicy::default());
        for _ in 0..9 {
            fail(&mut l, 0);
        }
        assert_eq!(l.begin("u", 1), Begin::Proceed);
        l.finish("u", true, 1);
        for _ in 0..9 {
            fail(&mut l, 2);
        }
        assert!(!l.is_blocked("u", 2));
    }

    #[test]
    fn parallel_attempts_cannot_exceed_limit() {
        let mut l = Lockout::new(LockoutPolicy::default());
        let proceeded = (0..50)
            .filter(|_| l.begin("u", 0) == Begin::Proceed)
            .count();
        assert_eq!(proceeded, 10);
        for _ in 0..10 {
            l.finish("u", false, 0);
        }
        assert!(l.is_blocked("u", 0));
    }

    #[test]
    fn pairs_are_independent_and_bounded() {
        let mut l = Lockout::new(LockoutPolicy {
            max_entries: 4,
            ..Default::default()
        });
        for _ in 0..10 {
            assert_eq!(l.begin("a", 0), Begin::Proceed);
            l.finish("a", false, 0);
        }
        assert_eq!(l.begin("b", 0), Begin::Proceed);
        l.finish("b", true, 0);
        assert!(l.is_blocked("a", 0));
        assert!(!l.is_blocked("b", 0));
        for i in 0..10 {
            let id = format!("x{i}");
            if l.begin(&id, 400_000) == Begin::Proceed {
                l.finish(&id, false, 400_000);
            }
        }
        assert!(l.len() <= 11, "expired entries were pruned: {}", l.len());
    }

    #[test]
    fn release_forgets_an_entry_that_counts_nothing() {
        let mut l = Lockout::new(LockoutPolicy::default());
        assert_eq!(l.begin("u", 0), Begin::Proceed);
        l.release("u", 0);
        assert!(l.is_empty());
        fail(&mut l, 0);
        assert_eq!(l.begin("u", 1), Begin::Proceed);
        l.release("u", 1);
        assert_eq!(l.len(), 1, "the failure still counts");
    }

    #[test]
    fn a_full_table_refuses_new_ids_and_never_evicts_a_block() {
        let mut l = Lockout::new(LockoutPolicy {
            max_entries: 3,
            ..Default::default()
        });
        for _ in 0..10 {
            fail(&mut l, 0);
        }
        assert!(l.is_blocked("u", 0));
        let long = "x".repeat(1 << 20);
        for i in 0..2 {
            let id = format!("{long}{i}");
            assert_eq!(l.begin(&id, 1), Begin::Proceed);
            l.finish(&id, false, 1);
        }
        assert_eq!(l.len(), 3);
        assert_eq!(l.begin("flood", 2), Begin::Full);
        assert_eq!(l.len(), 3, "a refused id is not kept");
        assert!(l.is_blocked("u", 2), "flooding did not unblock");
        assert_eq!(l.begin("u", 2), Begin::Blocked);
        // Once the failures expire they are pruned and new ids fit again.
        assert_eq!(l.begin("late", 300_001), Begin::Proceed);
        assert!(l.len() <= 2, "{}", l.len());
    }
}
