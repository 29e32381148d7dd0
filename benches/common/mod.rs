//! Synthetic users with typical field sizes for the query benchmarks. Deterministic: user `i`
//! is always the same user.

#![allow(dead_code)]

use identityd::api::{
    Backend, DomainState as DomainStatus, Map, RoleType, UserState, UserType, Value,
};
use identityd::model::entities::{Domain, PasswordHash, User};
use identityd::model::events::Event;
use identityd::model::state::DomainState;

pub const DOMAIN_ID: &str = "domain-bench000001";
/// A fixed "now" (2026-09-21) so runs do not depend on the clock.
pub const T0: i64 = 1_790_000_000_000;

/// Users to build: `IDENTITYD_BENCH_USERS`, default 1,000,000.
pub fn users_from_env() -> usize {
    std::env::var("IDENTITYD_BENCH_USERS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(1_000_000)
}

/// splitmix64.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const FIRST: &[&str] = &[
    "Minjun", "Seoyeon", "Jiho", "Haeun", "Doyun", "Jiwoo", "Alice", "Bob", "Carol", "David",
    "Emma", "Frank", "Grace", "Henry", "Isabel", "James", "Kenji", "Laura", "Mateo", "Nora",
];
const LAST: &[&str] = &[
    "Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim", "Smith", "Johnson",
    "Brown", "Garcia", "Miller", "Davis", "Tanaka", "Sato", "Muller", "Rossi",
];
const COMPANIES: &[&str] = &[
    "acme-corp",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "cyberdyne",
];

/// The user id of user `i` (an e-mail address, as Cloudforet's LOCAL users have).
pub fn user_id(i: usize) -> String {
    let r = mix(i as u64);
    let first = FIRST[(r % 20) as usize].to_lowercase();
    let last = LAST[((r >> 8) % 20) as usize].to_lowercase();
    let co = COMPANIES[((r >> 16) % 8) as usize];
    format!("{first}.{last}{i}@{co}.com")
}

/// A 97-byte PHC string shaped like the server's argon2id hashes (does not verify anything).
fn phc(i: usize) -> PasswordHash {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(97);
    s.push_str("$argon2id$v=19$m=19456,t=2,p=1$");
    let mut x = mix(!(i as u64));
    for k in 0..66 {
        if k % 10 == 0 {
            x = mix(x ^ k);
        }
        if k == 22 {
            s.push('$');
        }
        s.push(B64[(x & 63) as usize] as char);
        x >>= 6;
    }
    PasswordHash(s)
}

/// User `i`: 90 % ENABLED, 8 % DISABLED, 2 % PENDING; 5 % API_USER; 3 % EXTERNAL; a name of
/// first name, initial and last name (10,400 distinct names); e-mail = user id for 90 %.
pub fn user(i: usize) -> User {
    let r = mix(i as u64 ^ 0x5EED);
    let user_id = user_id(i);
    let first = FIRST[(mix(i as u64) % 20) as usize];
    let last = LAST[((mix(i as u64) >> 8) % 20) as usize];
    let initial = (b'A' + (r % 26) as u8) as char;
    let state = match (r >> 8) % 100 {
        0..90 => UserState::Enabled,
        90..98 => UserState::Disabled,
        _ => UserState::Pending,
    };
    let user_type = if (r >> 16) % 100 < 5 {
        UserType::ApiUser
    } else {
        UserType::User
    };
    let backend = if (r >> 24) % 100 < 3 {
        Backend::External
    } else {
        Backend::Local
    };
    let email = if (r >> 32).is_multiple_of(10) {
        format!(
            "{}.{}{}@mail.example.org",
            first.to_lowercase(),
            last.to_lowercase(),
            i % 997
        )
    } else {
        user_id.clone()
    };
    let mut tags = Map::new();
    tags.insert("team".into(), Value::from(format!("team-{}", i % 100)));
    tags.insert("role".into(), Value::from("engineer"));
    let at = T0 - 86_400_000 + i as i64;
    User {
        user_id,
        name: format!("{first} {initial}. {last}"),
        state,
        email,
        email_verified: (r >> 40).is_multiple_of(2),
        user_type,
        backend,
        password_hash: Some(phc(i)),
        language: if i.is_multiple_of(3) { "ko" } else { "en" }.into(),
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

pub fn domain() -> Domain {
    Domain {
        domain_id: DOMAIN_ID.into(),
        name: "bench".into(),
        state: DomainStatus::Enabled,
        tags: Map::new(),
        created_at: T0 - 86_400_000,
    }
}

/// A domain with users `0..n`, built through `apply` as recovery builds it.
pub fn domain_state(n: usize) -> DomainState {
    let mut s = DomainState::new(domain());
    s.apply(&Event::DomainCreated(domain()));
    for i in 0..n {
        s.apply(&Event::UserCreated(user(i)));
    }
    s.seq = 1;
    s
}

/// Resident set size of this process, in bytes (Linux; 0 elsewhere).
pub fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}
