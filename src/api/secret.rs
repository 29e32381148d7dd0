//! Secrets on the wire: passwords, tokens and keys. `Debug` never shows them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// A secret (a string unless said otherwise). Its `Debug` is `Secret(***)`; it has no `Display`.
/// Serialized transparently: it travels, it is just never printed.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T = String>(T);

impl<T> Secret<T> {
    pub const fn wrap(value: T) -> Self {
        Secret(value)
    }
    /// The secret value. Call sites that use this are the only places a secret is read; never
    /// log or format what it returns.
    pub fn expose(&self) -> &T {
        &self.0
    }
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl Secret<String> {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl schemars::JsonSchema for Secret {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "password"})
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}
impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// The credential every call carries: a system key, an access token, or nothing; and the
/// address of the peer it came from, set by the transport (never sent on the wire: a client
/// cannot choose it), used to rate-limit the calls anyone may make.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential(pub Option<Secret>, #[serde(skip)] pub Option<IpAddr>);

impl Credential {
    pub fn none() -> Self {
        Credential(None, None)
    }
    pub fn bearer(s: impl Into<String>) -> Self {
        Credential(Some(Secret::new(s)), None)
    }
    /// The same credential as received from `peer` (transports call this).
    pub fn with_peer(mut self, peer: Option<IpAddr>) -> Self {
        self.1 = peer;
        self
    }
    /// The peer's address, when the call came in over a network transport.
    pub fn peer(&self) -> Option<IpAddr> {
        self.1
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Credential(None)"),
            Some(_) => f.write_str("Credential(***)"),
        }
    }
}

impl From<Vec<u8>> for Secret<Vec<u8>> {
    fn from(v: Vec<u8>) -> Self {
        Secret(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn debug_never_shows_the_secret() {
        let s = Secret::new("hunter2-Password1");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let c = Credential::bearer("abcdef0123");
        assert!(!format!("{c:?}").contains("abcdef"));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"hunter2-Password1\"");
    }

    #[test]
    fn the_peer_never_travels() {
        let c = Credential::bearer("k").with_peer(Some([10, 0, 0, 1].into()));
        let cfg = bincode::config::legacy();
        let bytes = bincode::serde::encode_to_vec(&c, cfg).unwrap();
        // The same bytes as the credential alone (the old newtype's encoding).
        let alone = bincode::serde::encode_to_vec(Some(Secret::new("k")), cfg).unwrap();
        assert_eq!(bytes, alone);
        let (back, _): (Credential, usize) =
            bincode::serde::decode_from_slice(&bytes, cfg).unwrap();
        assert_eq!(back.peer(), None);
        assert_eq!(back.0, c.0);
    }
}
