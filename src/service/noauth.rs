//! Bounds on the calls anyone may make (+noauth: `Token.issue`, `Token.refresh`, `Token.grant`,
//! `reset_password` v1/v2), SPEC 11: identifiers are checked for length and form before anything
//! is looked up or kept, and calls are rate-limited per source (the peer address the transport
//! saw; IPv6 by /64) and per target (domain, user id) before any hashing, lookup or mail.

use super::Service;
use crate::api::{ApiError, ApiResult, Credential, ErrorCode};
use crate::model::clock::Millis;
use crate::model::ratelimit::{NoauthLimits, RateLimiter};
use crate::model::validate::USER_ID_MAX;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Longest domain id accepted where one arrives from anyone (ours are `domain-` + 12 hex).
pub const DOMAIN_ID_MAX: usize = 64;

/// The rate limiters and their counters (one per service).
pub(crate) struct Floods {
    source: Mutex<RateLimiter<IpAddr>>,
    target: Mutex<RateLimiter<[u8; 32]>>,
    limited_source: AtomicU64,
    limited_target: AtomicU64,
}

impl Floods {
    pub(crate) fn new(l: NoauthLimits) -> Self {
        Floods {
            source: Mutex::new(RateLimiter::new(l.per_source)),
            target: Mutex::new(RateLimiter::new(l.per_target)),
            limited_source: AtomicU64::new(0),
            limited_target: AtomicU64::new(0),
        }
    }
}

/// What a +noauth call acts on, for the per-target limit.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    Login {
        domain_id: &'a str,
        user_id: &'a str,
    },
    Reset {
        domain_id: &'a str,
        user_id: &'a str,
    },
}

impl Target<'_> {
    /// A fixed-size key: what a caller sends is never kept.
    fn key(&self) -> [u8; 32] {
        let (kind, d, u) = match self {
            Target::Login { domain_id, user_id } => (b"login".as_slice(), domain_id, user_id),
            Target::Reset { domain_id, user_id } => (b"reset".as_slice(), domain_id, user_id),
        };
        let mut h = Sha256::new();
        h.update(kind);
        h.update([0]);
        h.update(d.as_bytes());
        h.update([0]);
        h.update(u.as_bytes());
        h.finalize().into()
    }
}

/// A source's key: an IPv4 address, or the /64 of an IPv6 one (what one host usually has).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

fn too_many(by: &str) -> ApiError {
    ApiError::new(
        ErrorCode::TooManyRequests,
        format!("Too many requests. (limit = per {by}, retry later)"),
    )
}

/// An identifier from anyone: present, at most `max` characters, no whitespace or control
/// characters (what create allows). The message never echoes the value.
pub(crate) fn check_id(key: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.is_empty() {
        return Err(ApiError::required(key));
    }
    // `len` first: a value of more bytes than 4 × max cannot have at most max characters.
    let too_long = v.len() > max.saturating_mul(4) || v.chars().count() > max;
    if too_long {
        return Err(ApiError::invalid(key, &format!("at most {max} characters")));
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid(
            key,
            "no whitespace or control characters",
        ));
    }
    Ok(())
}

/// `domain_id` and `user_id` of a +noauth call.
pub(crate) fn check_ids(domain_key: &str, d: &str, user_key: &str, u: &str) -> ApiResult<()> {
    check_id(domain_key, d, DOMAIN_ID_MAX)?;
    check_id(user_key, u, USER_ID_MAX)
}

impl Service {
    /// Admits a +noauth call: per source first (a refused source uses up nothing of the target),
    /// then per target.
    pub(crate) fn admit_noauth(
        &self,
        cred: &Credential,
        target: Option<Target<'_>>,
    ) -> ApiResult<()> {
        let f = &self.inner.floods;
        let now: Millis = self.now();
        if let Some(ip) = cred.peer() {
            let ok = f
                .source
                .lock()
                .map(|mut l| l.allow(source_key(ip), now))
                .unwrap_or(false);
            if !ok {
                f.limited_source.fetch_add(1, Ordering::Relaxed);
                return Err(too_many("source"));
            }
        }
        if let Some(t) = target {
            let ok = f
                .target
                .lock()
                .map(|mut l| l.allow(t.key(), now))
                .unwrap_or(false);
            if !ok {
                f.limited_target.fetch_add(1, Ordering::Relaxed);
                return Err(too_many("target"));
            }
        }
        Ok(())
    }

    /// Prometheus text of the flood bounds (no tenant labels): lockout entries over all domains,
    /// the hashing pool's work and refusals, and the +noauth refusals.
    pub async fn flood_metrics(&self) -> String {
        use std::fmt::Write as _;
        let mut lockout = 0u64;
        for id in self.registry().domain_ids() {
            if let Ok(n) = self
                .registry()
                .exec(&id, |ctx| Ok(ctx.lockout.len() as u64))
                .await
            {
                lockout = lockout.saturating_add(n);
            }
        }
        let h = self.inner.hasher.stats();
        let f = &self.inner.floods;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "# HELP identityd_lockout_entries Login lockout entries kept, all domains.\n\
             # TYPE identityd_lockout_entries gauge\n\
             identityd_lockout_entries {lockout}"
        );
        let _ = writeln!(
            o,
            "# HELP identityd_hash_jobs_total Password hashing pool jobs by kind.\n\
             # TYPE identityd_hash_jobs_total counter\n\
             identityd_hash_jobs_total{{kind=\"hash\"}} {}\n\
             identityd_hash_jobs_total{{kind=\"verify\"}} {}\n\
             identityd_hash_jobs_total{{kind=\"dummy_verify\"}} {}",
            h.hashes, h.verifies, h.dummy_verifies
        );
        let _ = writeln!(
            o,
            "# HELP identityd_hash_refused_total Hashing jobs refused: main queue full, or the dummy budget used up.\n\
             # TYPE identityd_hash_refused_total counter\n\
             identityd_hash_refused_total{{queue=\"main\"}} {}\n\
             identityd_hash_refused_total{{queue=\"dummy\"}} {}",
            h.refused, h.dummy_refused
        );
        let _ = writeln!(
            o,
            "# HELP identityd_noauth_limited_total +noauth calls refused by a rate limit.\n\
             # TYPE identityd_noauth_limited_total counter\n\
             identityd_noauth_limited_total{{by=\"source\"}} {}\n\
             identityd_noauth_limited_total{{by=\"target\"}} {}",
            f.limited_source.load(Ordering::Relaxed),
            f.limited_target.load(Ordering::Relaxed)
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_bounded_without_echo() {
        let long = "a".repeat(1 << 20);
        let e = check_id("credentials.user_id", &long, USER_ID_MAX).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameter);
        assert!(e.message.len() < 200, "{}", e.message);
        assert!(check_id("u", &"é".repeat(60), 60).is_ok());
        assert!(check_id("u", &"é".repeat(61), 60).is_err());
        assert!(check_id("u", "a b", 60).is_err());
        assert_eq!(
            check_id("u", "", 60).unwrap_err().code,
            ErrorCode::RequiredParameter
        );
    }

    #[test]
    fn ipv6_sources_are_grouped_by_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(source_key(a), source_key(b));
        assert_ne!(source_key(a), source_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(source_key(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
