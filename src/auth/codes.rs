//! One-time verification codes (SPEC 5.1): 6 decimal digits from a CSPRNG, stored only as an
//! HMAC-SHA256 under a server key, compared in constant time, consumed on success, invalidated
//! after the configured number of wrong tries, and expiring.
//!
//! Everything here is pure: the caller passes the time and applies the outcome of [`check`] to
//! its stored state (see [`apply`] and [`check_and_apply`]).

use std::fmt;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Number of decimal digits in a code.
pub const CODE_LEN: usize = 6;
/// Default number of wrong tries after which a code is invalid (SPEC 5.1).
pub const DEFAULT_MAX_ATTEMPTS: u8 = 5;
/// Default lifetime of an e-mail verification code: 3600 s.
pub const DEFAULT_VERIFY_EMAIL_TTL_MS: i64 = 3_600_000;
/// Default lifetime of an MFA code: 300 s.
pub const DEFAULT_MFA_TTL_MS: i64 = 300_000;

/// Server secret for the code HMAC (HMAC-SHA256, 32 bytes). `Debug` prints `CodeKey(***)`.
#[derive(Clone)]
pub struct CodeKey([u8; 32]);

impl CodeKey {
    /// Wraps 32 key bytes (e.g. read from the server's key file).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random key from the thread-local CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The key bytes, for persisting the key. Never log them.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC zero-pads a key shorter than the block (64 bytes for SHA-256), so padding here
        // gives exactly HMAC(key, ·) without the fallible `new_from_slice`.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.0);
        <HmacSha256 as KeyInit>::new(&block.into())
    }
}

impl fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeKey(***)")
    }
}

/// What a code was issued for. A code only verifies for the purpose it was issued for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
pub enum CodePurpose {
    /// `User.verify_email` / `UserProfile.verify_email`.
    VerifyEmail,
    /// Confirming `enable_mfa`.
    MfaEnable,
    /// Confirming `disable_mfa` without `force`.
    MfaDisable,
    /// Second factor at login (`Token.issue` with `auth_type: MFA`).
    MfaLogin,
}

impl CodePurpose {
    fn tag(self) -> u8 {
        match self {
            Self::VerifyEmail => 1,
            Self::MfaEnable => 2,
            Self::MfaDisable => 3,
            Self::MfaLogin => 4,
        }
    }
}

/// A pending code as persisted: only the keyed digest, never the code. `Debug` hides the digest.
#[derive(
    Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, bincode::Encode, bincode::Decode,
)]
pub struct StoredCode {
    /// What the code was issued for.
    pub purpose: CodePurpose,
    /// HMAC-SHA256(server key, purpose ‖ code).
    pub digest: [u8; 32],
    /// Expiry, ms since the Unix epoch; the code is expired at and after this instant.
    pub expires_at: i64,
    /// Wrong tries still allowed; at 0 the code is exhausted.
    pub attempts_left: u8,
}

impl fmt::Debug for StoredCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCode")
            .field("purpose", &self.purpose)
            .field("digest", &format_args!("***"))
            .field("expires_at", &self.expires_at)
            .field("attempts_left", &self.attempts_left)
            .finish()
    }
}

impl StoredCode {
    /// Stores `code` for `purpose`, valid for `ttl_ms` from `now_ms`, allowing `max_attempts`
    /// wrong tries (0 makes a code that never verifies).
    pub fn new(
        key: &CodeKey,
        purpose: CodePurpose,
        code: &str,
        now_ms: i64,
        ttl_ms: i64,
        max_attempts: u8,
    ) -> Self {
        Self {
            purpose,
            digest: digest(key, purpose, code),
            expires_at: now_ms.saturating_add(ttl_ms),
            attempts_left: max_attempts,
        }
    }

    /// True while the code can still be accepted (not expired, not exhausted): lets a sweeper
    /// drop dead codes.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.attempts_left > 0 && now_ms < self.expires_at
    }
}

/// Outcome of [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code matches: the caller must consume (delete) the stored code.
    Ok,
    /// The code does not match: the caller must store `attempts_left` (one fewer than before).
    Wrong {
        /// Wrong tries still allowed after this one.
        attempts_left: u8,
    },
    /// The code expired: the caller drops it.
    Expired,
    /// No tries left: the caller drops it.
    Exhausted,
    /// The stored code was issued for another purpose. Nothing was compared (so this is no
    /// oracle for the code) and the stored code is left as it is.
    WrongPurpose,
}

fn digest(key: &CodeKey, purpose: CodePurpose, code: &str) -> [u8; 32] {
    let mut mac = key.mac();
    mac.update(b"identityd-code-v1\0");
    mac.update(&[purpose.tag(), 0]);
    mac.update(code.as_bytes());
    mac.finalize().into_bytes().into()
}

/// A fresh code: 6 decimal digits, uniform, from the thread-local CSPRNG (rejection sampling, so
/// no modulo bias).
pub fn generate_code() -> String {
    // 4_294_000_000 is the largest multiple of 10^6 that is <= 2^32.
    const LIMIT: u32 = 4_294_000_000;
    let mut rng = rand::rng();
    loop {
        let x: u32 = rng.random();
        if x < LIMIT {
            return format!("{:06}", x % 1_000_000);
        }
    }
}

/// Checks a submitted code against the stored one. Pure: compares the HMAC in constant time and
/// reports the outcome; the caller applies it (see [`apply`]): consume on `Ok`, store the
/// decremented count on `Wrong`, drop on `Expired`/`Exhausted`, keep on `WrongPurpose`.
pub fn check(
    stored: &StoredCode,
    key: &CodeKey,
    purpose: CodePurpose,
    code: &str,
    now_ms: i64,
) -> CodeCheck {
    if stored.purpose != purpose {
        return CodeCheck::WrongPurpose;
    }
    if stored.attempts_left == 0 {
        return CodeCheck::Exhausted;
    }
    if now_ms >= stored.expires_at {
        return CodeCheck::Expired;
    }
    let submitted = digest(key, purpose, code);
    if bool::from(submitted.ct_eq(&stored.digest)) {
        CodeCheck::Ok
    } else {
        CodeCheck::Wrong {
            attempts_left: stored.attempts_left.saturating_sub(1),
        }
    }
}

/// Applies an outcome of [`check`] to the stored state: what the slot holds afterwards.
/// `Ok`, `Expired` and `Exhausted` remove the code; `Wrong` decrements its tries (a code at 0
/// tries is kept so the next check reports `Exhausted`); `WrongPurpose` leaves it unchanged.
pub fn apply(stored: Option<StoredCode>, outcome: CodeCheck) -> Option<StoredCode> {
    let mut stored = stored?;
    match outcome {
        CodeCheck::Ok | CodeCheck::Expired | CodeCheck::Exhausted => None,
        CodeCheck::Wrong { .. } => {
            stored.attempts_left = stored.attempts_left.saturating_sub(1);
            Some(stored)
        }
        CodeCheck::WrongPurpose => Some(stored),
    }
}

/// [`check`] then [`apply`] on a slot in place. An empty slot gives `None`.
pub fn check_and_apply(
    slot: &mut Option<StoredCode>,
    key: &CodeKey,
    purpose: CodePurpose,
    code: &str,
    now_ms: i64,
) -> Option<CodeCheck> {
    let outcome = check(slot.as_ref()?, key, purpose, code, now_ms);
    *slot = apply(slot.take(), outcome);
    Some(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_700_000_000_000;

    fn key() -> CodeKey {
        CodeKey::from_bytes([7u8; 32])
    }

    fn stored(code: &str) -> StoredCode {
        StoredCode::new(&key(), CodePurpose::VerifyEmail, code, NOW, 3_600_000, 5)
    }

    #[test]
    fn generated_codes_are_six_digits() {
        for _ in 0..1000 {
            let c = generate_code();
            assert_eq!(c.len(), CODE_LEN);
            assert!(c.bytes().all(|b| b.is_ascii_digit()), "{c}");
        }
    }

    #[test]
    fn generated_codes_cover_the_first_digit_evenly() {
        // 20k draws: each leading digit expects 2000; a biased or constant generator fails.
        let mut counts = [0u32; 10];
        for _ in 0..20_000 {
            let c = generate_code();
            let d = usize::from(c.as_bytes()[0] - b'0');
            counts[d] += 1;
        }
        for (d, n) in counts.iter().enumerate() {
            assert!((1700..2300).contains(n), "digit {d}: {n}");
        }
    }

    #[test]
    fn right_code_ok_and_consumed() {
        let mut slot = Some(stored("123456"));
        let r = check_and_apply(
            &mut slot,
            &key(),
            CodePurpose::VerifyEmail,
            "123456",
            NOW + 1,
        );
        assert_eq!(r, Some(CodeCheck::Ok));
        assert!(slot.is_none());
        let again = check_and_apply(
            &mut slot,
            &key(),
            CodePurpose::VerifyEmail,
            "123456",
            NOW + 2,
        );
        assert_eq!(again, None);
    }

    #[test]
    fn wrong_code_decrements() {
        let s = stored("123456");
        let r = check(&s, &key(), CodePurpose::VerifyEmail, "654321", NOW);
        assert_eq!(r, CodeCheck::Wrong { attempts_left: 4 });
        let s2 = apply(Some(s), r);
        assert_eq!(s2.as_ref().map(|s| s.attempts_left), Some(4));
        // Still accepts the right code afterwards.
        let s2 = s2.unwrap();
        assert_eq!(
            check(&s2, &key(), CodePurpose::VerifyEmail, "123456", NOW),
            CodeCheck::Ok
        );
    }

    #[test]
    fn sixth_try_after_five_wrong_is_exhausted_even_with_right_code() {
        let mut slot = Some(stored("123456"));
        for expected_left in (0..5u8).rev() {
            let r = check_and_apply(&mut slot, &key(), CodePurpose::VerifyEmail, "000000", NOW);
            assert_eq!(
                r,
                Some(CodeCheck::Wrong {
                    attempts_left: expected_left
                })
            );
        }
        assert_eq!(slot.as_ref().map(|s| s.attempts_left), Some(0));
        let r = check_and_apply(&mut slot, &key(), CodePurpose::VerifyEmail, "123456", NOW);
        assert_eq!(r, Some(CodeCheck::Exhausted));
        assert!(slot.is_none());
    }

    #[test]
    fn expired() {
        let s = stored("123456");
        assert_eq!(
            check(
                &s,
                &key(),
                CodePurpose::VerifyEmail,
                "123456",
                NOW + 3_600_000 - 1
            ),
            CodeCheck::Ok
        );
        assert_eq!(
            check(
                &s,
                &key(),
                CodePurpose::VerifyEmail,
                "123456",
                NOW + 3_600_000
            ),
            CodeCheck::Expired
        );
        assert!(apply(Some(s), CodeCheck::Expired).is_none());
    }

    #[test]
    fn wrong_purpose_compares_nothing_and_keeps_code() {
        let s = stored("123456");
        for p in [
            CodePurpose::MfaEnable,
            CodePurpose::MfaDisable,
            CodePurpose::MfaLogin,
        ] {
            assert_eq!(check(&s, &key(), p, "123456", NOW), CodeCheck::WrongPurpose);
        }
        assert_eq!(apply(Some(s.clone()), CodeCheck::WrongPurpose), Some(s));
    }

    #[test]
    fn digest_depends_on_key_and_purpose() {
        let a = stored("123456");
        let other_key = CodeKey::from_bytes([8u8; 32]);
        assert_eq!(
            check(&a, &other_key, CodePurpose::VerifyEmail, "123456", NOW),
            CodeCheck::Wrong { attempts_left: 4 }
        );
        let b = StoredCode::new(&key(), CodePurpose::MfaLogin, "123456", NOW, 1000, 5);
        assert_ne!(a.digest, b.digest);
    }

    #[test]
    fn zero_attempts_never_verifies() {
        let s = StoredCode::new(&key(), CodePurpose::MfaLogin, "123456", NOW, 1000, 0);
        assert_eq!(
            check(&s, &key(), CodePurpose::MfaLogin, "123456", NOW),
            CodeCheck::Exhausted
        );
        assert!(!s.is_live(NOW));
    }

    #[test]
    fn debug_is_redacted() {
        let s = stored("123456");
        let dbg = format!("{s:?}");
        assert!(dbg.contains("***"));
        assert!(!dbg.contains(&format!("{:?}", s.digest)));
        assert_eq!(format!("{:?}", key()), "CodeKey(***)");
    }

    #[test]
    fn bincode_native_and_serde_round_trip() {
        let s = stored("123456");
        let cfg = bincode::config::standard();
        let bytes = bincode::encode_to_vec(&s, cfg).unwrap();
        let (back, _): (StoredCode, usize) = bincode::decode_from_slice(&bytes, cfg).unwrap();
        assert_eq!(back, s);
        let bytes = bincode::serde::encode_to_vec(&s, cfg).unwrap();
        let (back, _): (StoredCode, usize) =
            bincode::serde::decode_from_slice(&bytes, cfg).unwrap();
        assert_eq!(back, s);
    }

    #[derive(Debug, Clone)]
    enum Submit {
        Right,
        Wrong(u32),
        OtherPurpose,
        Late,
    }

    fn submit_strategy() -> impl Strategy<Value = Submit> {
        prop_oneof![
            Just(Submit::Right),
            (0u32..1_000_000).prop_map(Submit::Wrong),
            Just(Submit::OtherPurpose),
            Just(Submit::Late),
        ]
    }

    proptest! {
        /// Whatever the sequence of submissions, the right code is accepted at most once, never
        /// after `max` wrong tries, and never after expiry.
        #[test]
        fn right_code_accepted_at_most_once(
            subs in proptest::collection::vec(submit_strategy(), 0..40),
            max in 0u8..8,
        ) {
            let code = "424242";
            let ttl = 10_000;
            let mut slot = Some(StoredCode::new(&key(), CodePurpose::MfaLogin, code, NOW, ttl, max));
            let mut oks = 0u32;
            let mut wrongs = 0u32;
            for (i, s) in subs.iter().enumerate() {
                let t = NOW + i64::try_from(i).unwrap();
                let (purpose, submitted, at) = match s {
                    Submit::Right => (CodePurpose::MfaLogin, code.to_string(), t),
                    Submit::Wrong(n) => {
                        let w = format!("{n:06}");
                        (CodePurpose::MfaLogin, if w == code { "000001".into() } else { w }, t)
                    }
                    Submit::OtherPurpose => (CodePurpose::VerifyEmail, code.to_string(), t),
                    Submit::Late => (CodePurpose::MfaLogin, code.to_string(), NOW + ttl),
                };
                let outcome = slot
                    .as_ref()
                    .map(|st| check(st, &key(), purpose, &submitted, at));
                if let Some(o) = outcome {
                    slot = apply(slot.take(), o);
                    match o {
                        CodeCheck::Ok => {
                            oks += 1;
                            prop_assert!(wrongs < u32::from(max));
                            prop_assert!(at < NOW + ttl);
                            prop_assert!(slot.is_none());
                        }
                        CodeCheck::Wrong { .. } => wrongs += 1,
                        _ => {}
                    }
                }
            }
            prop_assert!(oks <= 1);
            prop_assert!(wrongs <= u32::from(max));
        }
    }
}
