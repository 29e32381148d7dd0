//! The saved session: `config.toml` (mode 0600, in a 0700 directory) under
//! `$IDENTITYCTL_CONFIG_DIR`, `$XDG_CONFIG_HOME/identityctl` or `~/.config/identityctl`. `login`
//! writes it; later calls take the server address, domain and access token from it when no flag
//! or environment variable gives them.

use anyhow::Context as _;
use identityd::api::Secret;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// What `login` saves. Tokens are [`Secret`]s: their `Debug` is redacted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub addr: Option<String>,
    pub domain_id: Option<String>,
    pub user_id: Option<String>,
    pub access_token: Option<Secret>,
    pub refresh_token: Option<Secret>,
}

/// The directory: an explicit one, else `$XDG_CONFIG_HOME/identityctl`, else
/// `$HOME/.config/identityctl`.
pub fn dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(d) = explicit {
        return Ok(d.to_owned());
    }
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    if let Some(x) = xdg {
        return Ok(x.join("identityctl"));
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .context("cannot find the config directory: set XDG_CONFIG_HOME, HOME or --config-dir")?;
    Ok(home.join(".config").join("identityctl"))
}

pub fn file(dir: &Path) -> PathBuf {
    dir.join("config.toml")
}

/// Loads the session; a missing file is an empty session. Warns when others may read the file.
pub fn load(dir: &Path) -> anyhow::Result<Session> {
    let path = file(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Session::default()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if let Ok(meta) = std::fs::metadata(&path)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "identityctl: warning: {} is accessible by other users; run `chmod 600` on it",
            path.display()
        );
    }
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Saves the session atomically: a new 0600 file renamed over the old one.
pub fn save(dir: &Path, session: &Session) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting the mode of {}", dir.display()))?;
    let path = file(dir);
    let tmp = dir.join(format!(".config.toml.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let text = toml::to_string(session).context("encoding the session")?;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(path)
}

/// Removes the saved session; true when there was one.
pub fn remove(dir: &Path) -> anyhow::Result<bool> {
    let path = file(dir);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_privately_and_loads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("identityctl");
        assert_eq!(load(&d).unwrap(), Session::default());
        let s = Session {
            addr: Some("127.0.0.1:7700".into()),
            domain_id: Some("domain-0123456789ab".into()),
            user_id: Some("a@b.io".into()),
            access_token: Some(Secret::new("s3cr3t-value")),
            refresh_token: None,
        };
        let path = save(&d, &s).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(load(&d).unwrap(), s);
        assert!(!format!("{s:?}").contains("s3cr3t"));
        assert!(remove(&d).unwrap());
        assert!(!remove(&d).unwrap());
    }
}
