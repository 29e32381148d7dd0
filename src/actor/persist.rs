//! The persistence actor: a dedicated thread with a mailbox that owns the write-ahead log. It
//! drains every record waiting in its mailbox, appends them, syncs once for the whole group
//! (group commit) according to the fsync policy, then acknowledges each writer. An error writing
//! or syncing is fatal: the process logs it and exits, and no write is acknowledged after it.

use crate::model::events::Record;
use crossbeam_channel::{Receiver, Sender, unbounded};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// When an acknowledged write has reached stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fdatasync before acknowledging (group commit): nothing acknowledged is lost.
    Always,
    /// Written before acknowledging, synced at most a second later: a power loss may lose about
    /// the last second; a process crash loses nothing.
    EverySec,
    /// Written before acknowledging, never synced by identityd: the OS decides.
    None,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "everysec" => Ok(FsyncPolicy::EverySec),
            "none" => Ok(FsyncPolicy::None),
            _ => Err(format!("unknown fsync policy {s:?} (always|everysec|none)")),
        }
    }
}

/// The log the persistence actor writes. Implemented by the WAL; a no-op for memory mode.
pub trait Log: Send + 'static {
    /// Appends one encoded record (buffered); returns its LSN.
    fn append(&mut self, payload: &[u8]) -> Result<u64, String>;
    /// Writes buffered records to the OS.
    fn flush(&mut self) -> Result<(), String>;
    /// flush + fdatasync.
    fn sync(&mut self) -> Result<(), String>;
    /// LSN of the last appended record.
    fn last_lsn(&self) -> u64;
    /// Approximate bytes logged after `lsn` (to trigger snapshots by log size).
    fn bytes_since(&self, lsn: u64) -> u64;
    /// Deletes log files wholly covered by a durable snapshot at `lsn`.
    fn remove_upto(&mut self, lsn: u64) -> Result<(), String>;
}

impl Log for crate::store::Wal {
    fn append(&mut self, payload: &[u8]) -> Result<u64, String> {
        crate::store::Wal::append(self, payload).map_err(|e| e.to_string())
    }
    fn flush(&mut self) -> Result<(), String> {
        crate::store::Wal::flush(self).map_err(|e| e.to_string())
    }
    fn sync(&mut self) -> Result<(), String> {
        crate::store::Wal::sync(self).map_err(|e| e.to_string())
    }
    fn last_lsn(&self) -> u64 {
        crate::store::Wal::last_lsn(self)
    }
    fn bytes_since(&self, lsn: u64) -> u64 {
        crate::store::Wal::bytes_since(self, lsn)
    }
    fn remove_upto(&mut self, lsn: u64) -> Result<(), String> {
        crate::store::Wal::remove_segments_upto(self, lsn).map_err(|e| e.to_string())
    }
}

/// Work that runs on the persistence thread with the log.
type LogJob = Box<dyn FnOnce(&mut dyn Log) + Send>;

enum Msg {
    Append(Record, oneshot::Sender<()>),
    /// Runs on the persistence thread with the log (snapshots, maintenance, shutdown).
    With(LogJob),
}

/// Handle to the persistence actor; cheap to clone.
#[derive(Clone)]
pub struct PersistHandle {
    tx: Option<Sender<Msg>>,
}

/// Most records one group commit takes; the rest wait for the next group.
const MAX_GROUP: usize = 4096;

impl PersistHandle {
    /// No log at all: writes are acknowledged at once and live only in memory.
    pub fn memory() -> Self {
        PersistHandle { tx: None }
    }

    /// Starts the persistence thread over `log`.
    pub fn start(log: Box<dyn Log>, policy: FsyncPolicy) -> std::io::Result<Self> {
        let (tx, rx) = unbounded();
        std::thread::Builder::new()
            .name("persist".into())
            .spawn(move || run(rx, log, policy))?;
        Ok(PersistHandle { tx: Some(tx) })
    }

    /// Hands a record over; the receiver resolves once it is durable under the policy. An error
    /// means the persistence actor is gone and the write must not be acknowledged.
    pub fn submit(&self, r: Record) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        match &self.tx {
            None => {
                let _ = tx.send(());
            }
            Some(chan) => {
                let _ = chan.send(Msg::Append(r, tx));
            }
        }
        rx
    }

    /// Runs `f` on the persistence thread, after every record submitted before it.
    pub async fn with_log<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Log) -> R + Send + 'static,
    ) -> Option<R> {
        let chan = self.tx.as_ref()?;
        let (tx, rx) = oneshot::channel();
        let job: LogJob = Box::new(move |log| {
            let _ = tx.send(f(log));
        });
        chan.send(Msg::With(job)).ok()?;
        rx.await.ok()
    }

    pub fn is_durable(&self) -> bool {
        self.tx.is_some()
    }
}

fn fatal(what: &str, e: &str) -> ! {
    tracing::error!(error = %e, "{what} failed: the write-ahead log cannot be trusted; exiting");
    eprintln!("identityd: FATAL: {what} failed: {e}");
    std::process::exit(70)
}

fn run(rx: Receiver<Msg>, mut log: Box<dyn Log>, policy: FsyncPolicy) {
    let mut last_sync = Instant::now();
    let mut dirty = false;
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let first = if policy == FsyncPolicy::EverySec && dirty {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(m) => Some(m),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            }
        };
        let mut batch: Vec<Msg> = first.into_iter().collect();
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        for m in batch {
            match m {
                Msg::Append(r, ack) => {
                    let bytes = match r.encode() {
                        Ok(b) => b,
                        Err(e) => fatal("encoding a log record", &e.to_string()),
                    };
                    if let Err(e) = log.append(&bytes) {
                        fatal("appending to the write-ahead log", &e);
                    }
                    waiters.push(ack);
                }
                Msg::With(f) => {
                    // Everything before it must be durable first.
                    if let Err(e) = log.sync() {
                        fatal("fsync of the write-ahead log", &e);
                    }
                    for w in waiters.drain(..) {
                        let _ = w.send(());
                    }
                    dirty = false;
                    f(log.as_mut());
                }
            }
        }
        if waiters.is_empty() && !dirty {
            continue;
        }
        let result = match policy {
            FsyncPolicy::Always => log.sync(),
            FsyncPolicy::EverySec => {
                if last_sync.elapsed() >= Duration::from_secs(1) {
                    last_sync = Instant::now();
                    dirty = false;
                    log.sync()
                } else {
                    dirty = true;
                    log.flush()
                }
            }
            FsyncPolicy::None => log.flush(),
        };
        if let Err(e) = result {
            fatal("fsync of the write-ahead log", &e);
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
    if let Err(e) = log.sync() {
        fatal("final fsync of the write-ahead log", &e);
    }
}
