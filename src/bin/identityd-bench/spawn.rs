//! Starting and stopping a real `identityd` process (the sibling binary by default).

use anyhow::{Context as _, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `identityd` next to this executable, unless given.
pub fn server_bin(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    let me = std::env::current_exe().context("locating identityd-bench")?;
    let p = me.with_file_name("identityd");
    if !p.exists() {
        bail!(
            "{} not found: build it (cargo build --release --bins) or pass --server-bin",
            p.display()
        );
    }
    Ok(p)
}

/// A fresh directory under the system temp dir, removed on drop unless kept.
pub struct TempDir {
    pub path: PathBuf,
    pub keep: bool,
}

impl TempDir {
    pub fn new(tag: &str) -> anyhow::Result<TempDir> {
        let nonce = identityd::fixtures::mix(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
                ^ u64::from(std::process::id()),
        );
        let path = std::env::temp_dir().join(format!(
            "identityd-bench-{tag}-{}-{:08x}",
            std::process::id(),
            nonce as u32
        ));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir { path, keep: false })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A running identityd.
pub struct Server {
    child: Option<Child>,
    pub rpc: String,
    pub data_dir: PathBuf,
    /// Time from spawn to the ready line.
    pub ready_after: Duration,
    /// stderr lines seen so far (when captured).
    pub log: Arc<Mutex<Vec<String>>>,
}

/// How to start the server.
pub struct Spawn<'a> {
    pub bin: &'a Path,
    pub data_dir: &'a Path,
    /// Extra flags, passed through verbatim after ours.
    pub extra: &'a [String],
    /// Adds tiny argon2 parameters unless `extra` sets any `--argon2-*` flag.
    pub tiny_argon2: bool,
    /// `IDENTITYD_LOG` for the child.
    pub log_filter: &'a str,
    /// Capture stderr into `Server::log` (else inherit it).
    pub capture_log: bool,
}

impl Spawn<'_> {
    pub fn start(&self) -> anyhow::Result<Server> {
        let mut cmd = Command::new(self.bin);
        cmd.args(["serve", "--rpc-addr", "127.0.0.1:0", "--http-addr", ""])
            .arg("--data-dir")
            .arg(self.data_dir);
        if self.tiny_argon2 && !self.extra.iter().any(|a| a.starts_with("--argon2-")) {
            cmd.args(["--argon2-m-kib", "8", "--argon2-t", "1", "--argon2-p", "1"]);
        }
        // A load generator is one source hammering few targets: the +noauth rate limits would
        // measure themselves, not the server (pass them in `extra` to measure them).
        if !self.extra.iter().any(|a| a.starts_with("--noauth-")) {
            cmd.args(["--noauth-source-burst", "0", "--noauth-target-burst", "0"]);
        }
        cmd.args(self.extra)
            .env("IDENTITYD_LOG", self.log_filter)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if self.capture_log {
                Stdio::piped()
            } else {
                Stdio::inherit()
            });
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if let Ok(mut l) = log.lock() {
                        l.push(line);
                    }
                }
            });
        }
        let Some(out) = child.stdout.take() else {
            bail!("no stdout pipe");
        };
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        // Reads the ready line, then keeps draining stdout so the server never sees EPIPE.
        std::thread::spawn(move || {
            let mut first = true;
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if first {
                    let _ = tx.send(line);
                    first = false;
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(600)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                let tail = log.lock().map(|l| l.join("\n")).unwrap_or_default();
                bail!("identityd did not become ready (exit {status:?})\n{tail}");
            }
        };
        let ready_after = started.elapsed();
        let Some(rpc) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("rpc="))
            .map(str::to_owned)
        else {
            let _ = child.kill();
            bail!("unexpected first line from identityd: {line:?}");
        };
        Ok(Server {
            child: Some(child),
            rpc,
            data_dir: self.data_dir.to_path_buf(),
            ready_after,
            log,
        })
    }
}

impl Server {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// (VmRSS, VmHWM) in KiB from /proc.
    pub fn rss_kib(&self) -> Option<(u64, u64)> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// The system key the server created in its data dir.
    pub fn system_key(&self) -> anyhow::Result<String> {
        let p = self.data_dir.join("system.key");
        Ok(std::fs::read_to_string(&p)
            .with_context(|| format!("reading {}", p.display()))?
            .trim()
            .to_owned())
    }

    /// SIGTERM (clean stop: final snapshot), waiting up to `timeout`; then SIGKILL.
    pub fn stop(mut self, timeout: Duration) -> anyhow::Result<Duration> {
        let Some(mut child) = self.child.take() else {
            return Ok(Duration::ZERO);
        };
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        while started.elapsed() < timeout {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    bail!("identityd exited with {status} on SIGTERM");
                }
                return Ok(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!("identityd did not stop within {timeout:?}; killed")
    }

    /// SIGKILL: the data dir stays exactly as the last write left it.
    pub fn kill(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
