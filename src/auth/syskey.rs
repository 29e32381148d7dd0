//! The system key: 32 random bytes, written as 64 lowercase hex characters. Presented verbatim as
//! the credential, compared in constant time; it grants the SYSTEM role.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use subtle::ConstantTimeEq;

pub struct SystemKey([u8; 32]);

impl std::fmt::Debug for SystemKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SystemKey(***)")
    }
}

impl SystemKey {
    pub fn from_bytes(b: [u8; 32]) -> Self {
        SystemKey(b)
    }

    /// Loads the key from `path`, creating it (mode 0600) when absent. Returns whether it was
    /// created.
    pub fn load_or_create(path: &Path) -> io::Result<(Self, bool)> {
        let existed = path.exists();
        let b = load_or_create_secret(path)?;
        Ok((SystemKey(b), !existed))
    }

    /// Constant-time comparison against a presented credential.
    pub fn matches(&self, presented: &str) -> bool {
        let Some(b) = parse_hex32(presented) else {
            return false;
        };
        bool::from(self.0.ct_eq(&b))
    }

    /// The key as the 64-character credential text (for tests and first-start tooling).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let v = hex::decode(s).ok()?;
    v.try_into().ok()
}

/// Reads a 32-byte secret stored as hex, or creates the file with a fresh one (mode 0600,
/// created exclusively, fsynced with its directory).
pub fn load_or_create_secret(path: &Path) -> io::Result<[u8; 32]> {
    match fs::read_to_string(path) {
        Ok(text) => parse_hex32(&text).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} does not hold 64 hex characters", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut b = [0u8; 32];
            rand::Rng::fill(&mut rand::rng(), &mut b);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)?;
            f.write_all(format!("{}\n", hex::encode(b)).as_bytes())?;
            f.sync_all()?;
            if let Some(dir) = path.parent() {
                fs::File::open(dir)?.sync_all()?;
            }
            Ok(b)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_with_mode_0600_then_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("system.key");
        let (k, created) = SystemKey::load_or_create(&p).unwrap();
        assert!(created);
        let text = fs::read_to_string(&p).unwrap();
        assert_eq!(text.len(), 65);
        assert!(text.ends_with('\n'));
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (k2, created) = SystemKey::load_or_create(&p).unwrap();
        assert!(!created);
        assert!(k2.matches(text.trim()));
        assert!(k.matches(&k2.to_hex()));
        assert!(!k.matches(&"0".repeat(64)));
        assert!(!k.matches("short"));
        assert!(!format!("{k:?}").contains(&text[..8]));
    }

    #[test]
    fn a_damaged_key_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("system.key");
        fs::write(&p, "nothex").unwrap();
        assert!(SystemKey::load_or_create(&p).is_err());
    }
}
