//! TOTP (RFC 6238 over RFC 4226): HMAC-SHA-1, 6 digits, 30 s step, ±1 step accepted, a step never
//! accepted twice. Pure: the caller passes the time and keeps the last used step.

use std::fmt;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

/// Step length in seconds.
pub const STEP_SECONDS: u64 = 30;
/// Digits in a code.
pub const DIGITS: u32 = 6;
/// Bytes in a generated secret (160 bits, as RFC 4226 recommends).
pub const SECRET_LEN: usize = 20;

/// A TOTP shared secret. `Debug` prints `TotpSecret(***)`; equality is constant-time.
#[derive(Clone, serde::Serialize, serde::Deserialize, bincode::Encode, bincode::Decode)]
pub struct TotpSecret(Vec<u8>);

impl PartialEq for TotpSecret {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.as_slice().ct_eq(other.0.as_slice()))
    }
}

impl Eq for TotpSecret {}

impl TotpSecret {
    /// Wraps raw secret bytes (e.g. read back from storage).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Decodes a base32 secret (RFC 4648; case-insensitive, padding and whitespace ignored).
    pub fn from_base32(text: &str) -> Result<Self, Base32Error> {
        base32_decode(text).map(Self)
    }

    /// The raw bytes, for persisting. Never log them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(***)")
    }
}

/// A fresh 20-byte secret from the thread-local CSPRNG.
pub fn generate_secret() -> TotpSecret {
    let mut bytes = vec![0u8; SECRET_LEN];
    rand::rng().fill_bytes(&mut bytes);
    TotpSecret(bytes)
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The secret in base32 (RFC 4648 alphabet, no padding), as authenticator apps expect.
pub fn base32(secret: &TotpSecret) -> String {
    base32_encode(&secret.0)
}

/// RFC 4648 base32 without padding.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u16 = 0;
    let mut bits: u32 = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u16::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[usize::from((buffer >> bits) & 0x1f)]));
        }
        buffer &= (1u16 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(
            ALPHABET[usize::from((buffer << (5 - bits)) & 0x1f)],
        ));
    }
    out
}

/// Why a base32 text did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base32Error {
    /// A character outside the RFC 4648 alphabet (the character itself is not reported: it may
    /// be part of a secret).
    #[error("invalid base32 character")]
    InvalidCharacter,
    /// A length no encoder produces (1, 3 or 6 characters past a multiple of 8).
    #[error("invalid base32 length")]
    InvalidLength,
}

/// Decodes RFC 4648 base32: case-insensitive; ASCII whitespace and trailing `=` ignored.
pub fn base32_decode(text: &str) -> Result<Vec<u8>, Base32Error> {
    let trimmed = text.trim_end_matches(|c: char| c == '=' || c.is_ascii_whitespace());
    let mut out = Vec::with_capacity(trimmed.len() * 5 / 8);
    let mut buffer: u16 = 0;
    let mut bits: u32 = 0;
    let mut chars = 0usize;
    for c in trimmed.bytes() {
        if c.is_ascii_whitespace() {
            continue;
        }
        let v = match c.to_ascii_uppercase() {
            u @ b'A'..=b'Z' => u - b'A',
            d @ b'2'..=b'7' => d - b'2' + 26,
            _ => return Err(Base32Error::InvalidCharacter),
        };
        chars += 1;
        buffer = (buffer << 5) | u16::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            // Truncation to the low byte is the point here.
            out.push(((buffer >> bits) & 0xff) as u8);
            buffer &= (1u16 << bits) - 1;
        }
    }
    if matches!(chars % 8, 1 | 3 | 6) {
        return Err(Base32Error::InvalidLength);
    }
    Ok(out)
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `otpauth://` key URI for enrolment (QR code):
/// `otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`,
/// with issuer and account percent-encoded. The URI contains the secret: never log it.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &TotpSecret) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        account = percent_encode(account),
        secret = base32(secret),
    )
}

fn mac(key: &[u8]) -> HmacSha1 {
    // HMAC's key schedule done by hand so that it cannot fail: keys longer than the 64-byte
    // block are hashed first, shorter ones zero-padded.
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        let hashed = Sha1::digest(key);
        block[..hashed.len()].copy_from_slice(&hashed);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <HmacSha1 as KeyInit>::new(&block.into())
}

/// RFC 4226 HOTP value for `counter`, as `digits` decimal digits (clamped to 1..=9), zero-padded.
pub fn hotp(secret: &TotpSecret, counter: u64, digits: u32) -> String {
    let digits = digits.clamp(1, 9);
    let mut m = mac(&secret.0);
    m.update(&counter.to_be_bytes());
    let h = m.finalize().into_bytes();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    let value = bin % 10u32.pow(digits);
    format!("{value:0width$}", width = digits as usize)
}

/// The 6-digit code for a time step (`unix_seconds / 30`).
pub fn code_at(secret: &TotpSecret, unix_step: u64) -> String {
    hotp(secret, unix_step, DIGITS)
}

/// The time step containing `now_ms`, or `None` before the epoch.
pub fn step_at(now_ms: i64) -> Option<u64> {
    u64::try_from(now_ms)
        .ok()
        .map(|ms| ms / 1000 / STEP_SECONDS)
}

/// Verifies `code` at `now_ms`, accepting the current step and one step either side. Returns the
/// matched step, which the caller must store as the new `last_used_step`; a step at or before
/// `last_used_step` is never accepted (no replay). Comparisons are constant-time.
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    now_ms: i64,
    last_used_step: Option<u64>,
) -> Option<u64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(now_ms)?;
    let mut matched = None;
    for step in [now.checked_sub(1), Some(now), now.checked_add(1)]
        .into_iter()
        .flatten()
    {
        let expected = code_at(secret, step);
        let equal = bool::from(expected.as_bytes().ct_eq(code.as_bytes()));
        let fresh = last_used_step.is_none_or(|last| step > last);
        if equal && fresh {
            matched = Some(step);
        }
    }
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec())
    }

    /// RFC 6238 appendix B, SHA-1 rows.
    const VECTORS: &[(u64, &str)] = &[
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    #[test]
    fn rfc6238_sha1_vectors_8_digits() {
        for &(t, expected) in VECTORS {
            assert_eq!(hotp(&rfc_secret(), t / STEP_SECONDS, 8), expected, "T={t}");
        }
    }

    #[test]
    fn rfc6238_sha1_vectors_6_digits() {
        for &(t, expected) in VECTORS {
            assert_eq!(
                code_at(&rfc_secret(), t / STEP_SECONDS),
                expected[2..],
                "T={t}"
            );
        }
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, e) in expected.iter().enumerate() {
            assert_eq!(hotp(&rfc_secret(), counter as u64, 6), *e);
        }
    }

    #[test]
    fn long_key_is_hashed_like_hmac() {
        // A key longer than the block must give HMAC(SHA1(key)), i.e. the same as the hashed key.
        let long = TotpSecret::from_bytes(vec![0xAB; 100]);
        let hashed = TotpSecret::from_bytes(Sha1::digest(vec![0xAB; 100]).to_vec());
        assert_eq!(code_at(&long, 12345), code_at(&hashed, 12345));
    }

    /// RFC 6238 T=1234567890 s, the first millisecond of step 41152263.
    const T0: i64 = 1_234_567_890_000;
    fn now_step() -> u64 {
        step_at(T0).unwrap()
    }

    #[test]
    fn current_and_adjacent_steps_accepted() {
        let s = rfc_secret();
        let n = now_step();
        assert_eq!(verify(&s, &code_at(&s, n), T0, None), Some(n));
        assert_eq!(verify(&s, &code_at(&s, n - 1), T0, None), Some(n - 1));
        assert_eq!(verify(&s, &code_at(&s, n + 1), T0, None), Some(n + 1));
        // RFC vector at T0, checked at the last millisecond of the same step.
        assert_eq!(verify(&s, "005924", T0 + 29_999, None), Some(n));
    }

    #[test]
    fn two_steps_away_rejected() {
        let s = rfc_secret();
        let n = now_step();
        for step in [n - 2, n + 2, n - 10, n + 10] {
            let c = code_at(&s, step);
            // Guard against an accidental collision with an accepted step.
            if [n - 1, n, n + 1].iter().any(|&k| code_at(&s, k) == c) {
                continue;
            }
            assert_eq!(verify(&s, &c, T0, None), None, "step {step}");
        }
    }

    #[test]
    fn replay_rejected() {
        let s = rfc_secret();
        let n = now_step();
        let c = code_at(&s, n);
        let used = verify(&s, &c, T0, None);
        assert_eq!(used, Some(n));
        assert_eq!(verify(&s, &c, T0, used), None);
        assert_eq!(verify(&s, &c, T0 + 10_000, used), None);
        // An older step inside the window is refused too once a newer one was used.
        assert_eq!(verify(&s, &code_at(&s, n - 1), T0, used), None);
        // The next step is still fine.
        assert_eq!(verify(&s, &code_at(&s, n + 1), T0, used), Some(n + 1));
    }

    #[test]
    fn malformed_codes_rejected() {
        let s = rfc_secret();
        for c in ["", "12345", "1234567", "abcdef", " 12345", "+12345"] {
            assert_eq!(verify(&s, c, T0, None), None, "{c:?}");
        }
        assert_eq!(verify(&s, &code_at(&s, 0), -1, None), None);
    }

    #[test]
    fn step_zero_has_no_previous_step() {
        let s = rfc_secret();
        assert_eq!(verify(&s, &code_at(&s, 0), 0, None), Some(0));
        assert_eq!(verify(&s, &code_at(&s, 1), 0, None), Some(1));
    }

    #[test]
    fn base32_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (plain, enc) in cases {
            assert_eq!(base32_encode(plain.as_bytes()), enc);
            assert_eq!(base32_decode(enc).unwrap(), plain.as_bytes());
        }
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        assert_eq!(base32_decode("MZXW 6YTB OI").unwrap(), b"foobar");
        assert_eq!(base32_decode("MZXW1"), Err(Base32Error::InvalidCharacter));
        assert_eq!(base32_decode("MZX"), Err(Base32Error::InvalidLength));
    }

    #[test]
    fn base32_round_trip_random() {
        for len in 0..64 {
            let mut bytes = vec![0u8; len];
            rand::rng().fill_bytes(&mut bytes);
            let enc = base32_encode(&bytes);
            assert!(!enc.contains('='));
            assert_eq!(base32_decode(&enc).unwrap(), bytes);
        }
        let s = generate_secret();
        assert_eq!(s.as_bytes().len(), SECRET_LEN);
        assert_eq!(TotpSecret::from_base32(&base32(&s)).unwrap(), s);
        assert_eq!(base32(&s).len(), 32);
    }

    #[test]
    fn uri_format() {
        let s = rfc_secret();
        let uri = otpauth_uri("identityd", "alice@example.com", &s);
        assert_eq!(
            uri,
            "otpauth://totp/identityd:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=identityd&algorithm=SHA1&digits=6&period=30"
        );
        let uri = otpauth_uri("Acme Co:Prod", "bob smith", &s);
        assert!(uri.starts_with("otpauth://totp/Acme%20Co%3AProd:bob%20smith?secret="));
        assert!(uri.contains("&issuer=Acme%20Co%3AProd&"));
        let uri = otpauth_uri("한국", "a", &s);
        assert!(uri.starts_with("otpauth://totp/%ED%95%9C%EA%B5%AD:a?"));
    }

    #[test]
    fn debug_is_redacted() {
        let s = rfc_secret();
        assert_eq!(format!("{s:?}"), "TotpSecret(***)");
    }
}
