//! Access and refresh tokens: JWTs signed with Ed25519 (`alg: EdDSA`). The signing key lives in
//! `<data-dir>/token.key` (mode 0600); the public half is served as a JWK so other services can
//! verify tokens locally.

use crate::api::{ApiError, ApiResult, Map, RoleType, Secret};
use crate::model::clock::Millis;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::path::Path;

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
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(***)")
    }
}

impl TokenKeys {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        let verifying = signing.verifying_key();
        TokenKeys { signing, verifying }
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
        self.verify_inner(token, typ, now)
            .ok_or_else(ApiError::authenticate)
    }

    fn verify_inner(&self, token: &str, typ: TokenType, now: Millis) -> Option<Claims> {
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
        let claims: Claims = serde_json::from_slice(&B64.decode(p).ok()?).ok()?;
        let now_s = now.div_euclid(1000);
        (claims.iss == ISSUER && claims.typ == typ && claims.exp > now_s).then_some(claims)
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
