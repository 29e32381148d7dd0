//! Access and refresh tokens: JWTs signed with Ed25519 (`alg: EdDSA`). The signing key lives in
//! `<data-dir>/token.key` (mode 0600); the public half is served as a JWK so other services can
//! verify tokens locally.

use crate::api::{ApiError, ApiResult, Map, RoleType, Secret};
use crate::model::clock::Millis;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

pub const ISSUER: &str = "identityd";
const HEADER_JSON: &str = r#"{"alg":"EdDSA","typ":"JWT"}"#;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenType {
    #[serde(rename = "ACCESS_TOKEN")]
    Access,
    #[serde(rename = "REFRESH_TOKEN")]
    Refresh,
}

/// The claims of SPEC section 2, plus `cv`, the user's credential version when the token was
/// issued: a password change bumps it, so older tokens stop working.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub typ: TokenType,
    pub own: String,
    pub did: String,
    pub aud: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub ver: String,
    pub rol: RoleType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wid: Option<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    pub injected_params: Map,
    pub cv: u64,
}

impl Claims {
    /// Whether a token with these claims may call `method` (`identity:User.get`, …): a token with
    /// a non-empty `permissions` claim only reaches methods starting with one of its prefixes.
    pub fn allows(&self, method: &str) -> bool {
        self.permissions.is_empty()
            || self
                .permissions
                .iter()
                .any(|p| method.starts_with(p.as_str()))
    }
}

/// The server's token signing key.
pub struct TokenKeys {
    signing: SigningKey,
    verifying: VerifyingKey,
    /// Tokens that passed every check once: token text → its claims. Checking the signature is a
    /// pure function of the token and this key (~30 µs of Ed25519, most of a `user_get`), so a
    /// token seen before skips it; the time-dependent checks (type, expiry) run on every use.
    /// Only successes are kept, keyed by the whole token text; bounded, cleared when full.
    verified: Mutex<HashMap<String, Claims>>,
}

/// Most verified tokens remembered (about 1 KiB each).
const VERIFIED_CACHE_MAX: usize = 16_384;

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(***)")
    }
}

impl TokenKeys {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        let verifying = signing.verifying_key();
        TokenKeys {
            signing,
            verifying,
            verified: Mutex::new(HashMap::new()),
        }
    }

    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut seed);
        Self::from_seed(seed)
    }

    /// Loads `path` (64 hex chars) or creates it with a fresh key, mode 0600.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        let seed = super::syskey::load_or_create_secret(path)?;
        Ok(Self::from_seed(seed))
    }

    pub fn sign(&self, claims: &Claims) -> Secret {
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let signing_input = format!("{}.{}", B64.encode(HEADER_JSON), B64.encode(payload));
        let sig = self.signing.sign(signing_input.as_bytes());
        Secret::new(format!("{signing_input}.{}", B64.encode(sig.to_bytes())))
    }

    /// Checks signature, header, issuer, type and expiry. Every failure is the same
    /// `ERROR_AUTHENTICATE_FAILURE`: a caller learns nothing about why.
    pub fn verify(&self, token: &str, typ: TokenType, now: Millis) -> ApiResult<Claims> {
        let cached = self
            .verified
            .lock()
            .ok()
            .and_then(|m| m.get(token).cloned());
        if let Some(claims) = cached {
            return Self::current(claims, typ, now).ok_or_else(ApiError::authenticate);
        }
        let claims = self
            .verify_signed(token)
            .and_then(|c| Self::current(c, typ, now))
            .ok_or_else(ApiError::authenticate)?;
        if let Ok(mut m) = self.verified.lock() {
            if m.len() >= VERIFIED_CACHE_MAX {
                m.clear();
            }
            m.insert(token.to_owned(), claims.clone());
        }
        Ok(claims)
    }

    /// The checks that depend on the call: issuer, type and expiry.
    fn current(claims: Claims, typ: TokenType, now: Millis) -> Option<Claims> {
        let now_s = now.div_euclid(1000);
        (claims.iss == ISSUER && claims.typ == typ && claims.exp > now_s).then_some(claims)
    }

    /// Shape, header and signature; the claims as signed.
    fn verify_signed(&self, token: &str) -> Option<Claims> {
        if token.len() > 8192 {
            return None;
        }
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: serde_json::Value = serde_json::from_slice(&B64.decode(h).ok()?).ok()?;
        if header.get("alg")?.as_str()? != "EdDSA" {
            return None;
        }
        let sig = Signature::from_slice(&B64.decode(s).ok()?).ok()?;
        let signing_input = &token[..h.len() + 1 + p.len()];
        self.verifying.verify(signing_input.as_bytes(), &sig).ok()?;
        serde_json::from_slice(&B64.decode(p).ok()?).ok()
    }

    /// The public key as an OKP/Ed25519 JWK (JSON text).
    pub fn public_jwk(&self) -> String {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
            "x": B64.encode(self.verifying.as_bytes()),
        })
        .to_string()
    }
}

/// A random token id.
pub fn new_jti() -> String {
    let mut b = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut b);
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(typ: TokenType, exp: i64) -> Claims {
        Claims {
            iss: ISSUER.into(),
            typ,
            own: "USER".into(),
            did: "domain-abc".into(),
            aud: "a@b.io".into(),
            jti: new_jti(),
            iat: 0,
            exp,
            ver: "2.0".into(),
            rol: RoleType::DomainAdmin,
            wid: None,
            permissions: vec![],
            injected_params: Map::new(),
            cv: 3,
        }
    }

    #[test]
    fn sign_verify_and_reject() {
        let k = TokenKeys::generate();
        let t = k.sign(&claims(TokenType::Access, 100));
        let c = k.verify(t.expose(), TokenType::Access, 99_000).unwrap();
        assert_eq!(c.aud, "a@b.io");
        assert_eq!(c.cv, 3);
        // expired, wrong type, other key, tampered payload, garbage
        assert!(k.verify(t.expose(), TokenType::Access, 100_000).is_err());
        assert!(k.verify(t.expose(), TokenType::Refresh, 0).is_err());
        assert!(
            TokenKeys::generate()
                .verify(t.expose(), TokenType::Access, 0)
                .is_err()
        );
        let mut parts: Vec<String> = t.expose().split('.').map(String::from).collect();
        let mut c2 = claims(TokenType::Access, 100);
        c2.aud = "evil@b.io".into();
        parts[1] = B64.encode(serde_json::to_vec(&c2).unwrap());
        assert!(k.verify(&parts.join("."), TokenType::Access, 0).is_err());
        for junk in ["", "a.b", "a.b.c.d", "...."] {
            assert_eq!(
                k.verify(junk, TokenType::Access, 0).unwrap_err().code,
                crate::api::ErrorCode::AuthenticateFailure
            );
        }
    }

    #[test]
    fn remembered_tokens_are_still_checked_for_type_and_expiry() {
        let k = TokenKeys::generate();
        let t = k.sign(&claims(TokenType::Access, 100));
        // First use verifies the signature and remembers the token; later uses hit the cache.
        for _ in 0..2 {
            assert!(k.verify(t.expose(), TokenType::Access, 99_000).is_ok());
        }
        assert!(k.verify(t.expose(), TokenType::Access, 100_000).is_err());
        assert!(k.verify(t.expose(), TokenType::Refresh, 0).is_err());
        // A tampered copy of a remembered token is verified on its own (and fails).
        let mut parts: Vec<String> = t.expose().split('.').map(String::from).collect();
        let mut c2 = claims(TokenType::Access, 100);
        c2.aud = "evil@b.io".into();
        parts[1] = B64.encode(serde_json::to_vec(&c2).unwrap());
        assert!(k.verify(&parts.join("."), TokenType::Access, 0).is_err());
        // Failures are not remembered; another key never accepts it.
        assert!(
            TokenKeys::generate()
                .verify(t.expose(), TokenType::Access, 0)
                .is_err()
        );
        assert_eq!(k.verified.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_cache_is_bounded() {
        let k = TokenKeys::generate();
        for i in 0..VERIFIED_CACHE_MAX + 10 {
            let mut c = claims(TokenType::Access, 100);
            c.iat = i as i64;
            let t = k.sign(&c);
            assert!(k.verify(t.expose(), TokenType::Access, 0).is_ok());
        }
        assert!(k.verified.lock().unwrap().len() <= VERIFIED_CACHE_MAX);
    }

    #[test]
    fn jwk_verifies_with_the_public_half_only() {
        let k = TokenKeys::generate();
        let jwk: serde_json::Value = serde_json::from_str(&k.public_jwk()).unwrap();
        let x = B64.decode(jwk["x"].as_str().unwrap()).unwrap();
        let vk = VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap();
        let t = k.sign(&claims(TokenType::Access, 100));
        let (input, sig) = t.expose().rsplit_once('.').unwrap();
        let sig = Signature::from_slice(&B64.decode(sig).unwrap()).unwrap();
        assert!(vk.verify(input.as_bytes(), &sig).is_ok());
    }

    #[test]
    fn permission_prefixes() {
        let mut c = claims(TokenType::Access, 1);
        assert!(c.allows("identity:User.create"));
        c.permissions = vec!["identity:UserProfile".into()];
        assert!(c.allows("identity:UserProfile.update_password"));
        assert!(!c.allows("identity:User.create"));
    }
}
