//! Synthetic data with realistic field sizes, for benchmarks (`identityd-bench`, `benches/`).
//! Deterministic: user `i` is always the same user. Not used by the server.

use crate::api::{Backend, DomainState as DomainStatus, Map, RoleType, UserState, UserType, Value};
use crate::model::clock::Millis;
use crate::model::entities::{Domain, PasswordHash, User};
use crate::model::events::{Event, RECORD_VERSION, Record};
use crate::model::state::DomainState;

/// A fixed point in time (2026-09-21) so fixtures do not depend on the clock.
pub const FIXTURE_T0: Millis = 1_790_000_000_000;

/// Teams in the `team` tag: `team-0` .. `team-99`, so `tags.team == "team-7"` matches 1 %.
pub const TEAMS: usize = 100;

/// The user id of fixture user `i` (28 characters for i < 10^7).
pub fn user_id(i: usize) -> String {
    format!("user{i:07}@bench.example.com")
}

/// A domain record for fixtures.
pub fn domain(domain_id: &str) -> Domain {
    Domain {
        domain_id: domain_id.to_owned(),
        name: format!("bench-{domain_id}"),
        state: DomainStatus::Enabled,
        tags: Map::new(),
        created_at: FIXTURE_T0,
    }
}

/// splitmix64: a tiny deterministic generator for fixture bytes.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_chars(seed: u64, n: usize, out: &mut String) {
    let mut x = seed;
    for i in 0..n {
        if i % 10 == 0 {
            x = mix(x ^ i as u64);
        }
        out.push(B64[(x & 63) as usize] as char);
        x >>= 6;
    }
}

/// A PHC string shaped exactly like what the server stores at its default argon2 parameters
/// (`$argon2id$v=19$m=19456,t=2,p=1$<22-char salt>$<43-char hash>`, 97 bytes), with pseudo-random
/// salt and hash text. It has the real length but does not verify any password.
pub fn phc_hash(i: usize) -> PasswordHash {
    let mut s = String::with_capacity(97);
    s.push_str("$argon2id$v=19$m=19456,t=2,p=1$");
    b64_chars(mix(i as u64), 22, &mut s);
    s.push('$');
    b64_chars(mix(!(i as u64)), 43, &mut s);
    PasswordHash(s)
}

/// Fixture user `i`: an ENABLED LOCAL USER with name, email, two tags, a password hash, language
/// and timezone, as a typical console-created user has.
pub fn user(i: usize) -> User {
    let user_id = user_id(i);
    let mut tags = Map::new();
    tags.insert("team".into(), Value::from(format!("team-{}", i % TEAMS)));
    tags.insert("role".into(), Value::from("engineer"));
    let at = FIXTURE_T0 + i as i64;
    User {
        name: format!("Bench User {i}"),
        email: user_id.clone(),
        user_id,
        state: UserState::Enabled,
        email_verified: false,
        user_type: UserType::User,
        backend: Backend::Local,
        password_hash: Some(phc_hash(i)),
        language: "en".into(),
        timezone: "Asia/Seoul".into(),
        required_actions: Vec::new(),
        tags,
        mfa: None,
        role_type: RoleType::User,
        role_id: None,
        last_accessed_at: None,
        created_at: at,
        updated_at: at,
        cred_version: 1,
        codes: Vec::new(),
        temp_password: None,
    }
}

/// A domain state with users `0..n`, built through `apply` as recovery builds it.
pub fn domain_state(domain_id: &str, n: usize) -> DomainState {
    let mut s = DomainState::new(domain(domain_id));
    s.apply(&Event::DomainCreated(domain(domain_id)));
    for i in 0..n {
        s.apply(&Event::UserCreated(user(i)));
    }
    s.seq = n as u64 + 1;
    s
}

/// The log record of renaming fixture user `i` (an after-image, as the server logs updates).
pub fn rename_record(domain_id: &str, seq: u64, i: usize, version: u64) -> Record {
    let mut u = user(i);
    u.name = format!("Renamed User {i} v{version}");
    u.updated_at = FIXTURE_T0 + seq as i64;
    Record {
        version: RECORD_VERSION,
        domain_id: domain_id.to_owned(),
        seq,
        at: u.updated_at,
        events: vec![Event::UserUpdated(u)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_are_realistic_and_deterministic() {
        let h = phc_hash(7);
        assert_eq!(h.0.len(), 97);
        assert_eq!(h, phc_hash(7));
        assert_ne!(h, phc_hash(8));
        assert!(crate::model::validate::looks_like_email(&user_id(3)));
        let s = domain_state("domain-x", 50);
        assert_eq!(s.users.len(), 50);
        assert_eq!(s.index.len(), 50);
        let r = rename_record("domain-x", 52, 3, 1);
        assert_eq!(Record::decode(&r.encode().unwrap()).unwrap(), r);
    }
}
