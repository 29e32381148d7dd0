//! Login failure counting and blocking (SPEC 5.4), per (domain, user_id). Pure: time is passed
//! in. Kept in memory only: a restart forgets counts (documented in ARCHITECTURE.md).

use super::clock::Millis;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub window_ms: i64,
    pub block_ms: i64,
    /// Entries kept at most; expired entries are pruned first when it is reached.
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

#[derive(Debug, Default)]
pub struct Lockout {
    policy: LockoutPolicy,
    entries: HashMap<String, Attempts>,
}

/// Outcome of [`Lockout::begin`].
#[derive(Debug, PartialEq, Eq)]
pub enum Begin {
    /// Go on and verify the password; call `finish` afterwards.
    Proceed,
    /// Blocked: refuse without verifying.
    Blocked,
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
        if self.entries.len() >= self.policy.max_entries && !self.entries.contains_key(user_id) {
            self.prune(now);
        }
        let p = self.policy;
        let a = self.entries.entry(user_id.to_owned()).or_default();
        if a.blocked_until > now {
            return Begin::Blocked;
        }
        if a.failures > 0 && now - a.window_start >= p.window_ms {
            a.failures = 0;
        }
        if a.failures + a.in_flight >= p.max_failures {
            return Begin::Blocked;
        }
        a.in_flight += 1;
        Begin::Proceed
    }

    /// Records the outcome of a reserved attempt.
    pub fn finish(&mut self, user_id: &str, success: bool, now: Millis) {
        let p = self.policy;
        let Some(a) = self.entries.get_mut(user_id) else {
            return;
        };
        a.in_flight = a.in_flight.saturating_sub(1);
        if success {
            a.failures = 0;
        } else {
            if a.failures == 0 || now - a.window_start >= p.window_ms {
                a.failures = 0;
                a.window_start = now;
            }
            a.failures += 1;
            if a.failures >= p.max_failures {
                a.blocked_until = now + p.block_ms;
                a.failures = 0;
            }
        }
        if a.failures == 0 && a.in_flight == 0 && a.blocked_until <= now {
            self.entries.remove(user_id);
        }
    }

    /// Releases a reservation without counting it (the attempt never reached a verdict).
    pub fn release(&mut self, user_id: &str) {
        if let Some(a) = self.entries.get_mut(user_id) {
            a.in_flight = a.in_flight.saturating_sub(1);
        }
    }

    pub fn is_blocked(&self, user_id: &str, now: Millis) -> bool {
        self.entries
            .get(user_id)
            .is_some_and(|a| a.blocked_until > now)
    }

    fn prune(&mut self, now: Millis) {
        let p = self.policy;
        self.entries.retain(|_, a| {
            a.in_flight > 0
                || a.blocked_until > now
                || (a.failures > 0 && now - a.window_start < p.window_ms)
        });
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
}
