//! Taking snapshots: read the log's last LSN (after a sync, so everything up to it is durable
//! and applied), copy each domain actor's image (each actor pauses only for its own copy),
//! encode and write the snapshot file on a separate thread, then delete the log segments and
//! older snapshots it makes redundant.

use super::domain::TakeImage;
use super::registry::Registry;
use crate::store::recovery::{SNAPSHOT_IMAGE_VERSION, SnapshotImage, write_image};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct SnapshotReport {
    pub path: PathBuf,
    pub lsn: u64,
    pub domains: usize,
    pub users: usize,
    /// Time the slowest actor was paused copying its image.
    pub max_copy_ms: u64,
    pub total_ms: u64,
}

pub struct Snapshotter {
    dir: PathBuf,
    /// LSN of the newest snapshot. When a new one is written, log segments are deleted only up
    /// to this (the then previous snapshot), so falling back to it (`--repair`) loses nothing.
    last_lsn: AtomicU64,
    running: tokio::sync::Mutex<()>,
}

impl Snapshotter {
    pub fn new(dir: PathBuf, last_lsn: u64) -> Self {
        Snapshotter {
            dir,
            last_lsn: AtomicU64::new(last_lsn),
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// LSN covered by the newest snapshot.
    pub fn last_lsn(&self) -> u64 {
        self.last_lsn.load(Ordering::Relaxed)
    }

    /// Takes a snapshot now (one at a time).
    pub async fn take(&self, reg: &Registry) -> Result<SnapshotReport, String> {
        let _guard = self.running.lock().await;
        let started = Instant::now();
        let persist = reg.persist().clone();
        let lsn = persist
            .with_log(|log| log.last_lsn())
            .await
            .ok_or("the persistence actor is not running")?;
        let mut domains = Vec::new();
        let mut max_copy_ms = 0;
        for id in reg.domain_ids() {
            let Some(addr) = reg.get(&id) else { continue };
            let t = Instant::now();
            if let Ok(Some(img)) = addr.send(TakeImage).await {
                max_copy_ms = max_copy_ms.max(t.elapsed().as_millis() as u64);
                domains.push(img);
            }
        }
        let users = domains.iter().map(|d| d.user_count()).sum();
        let n_domains = domains.len();
        let tombstones = reg.tombstones();
        let dir = self.dir.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("snapshot".into())
            .spawn(move || {
                let image = SnapshotImage {
                    version: SNAPSHOT_IMAGE_VERSION,
                    covered_lsn: lsn,
                    domains: domains.into_iter().map(|d| d.into_image()).collect(),
                    tombstones,
                };
                let _ = tx.send(write_image(&dir, &image));
            })
            .map_err(|e| e.to_string())?;
        let path = rx
            .await
            .map_err(|_| "the snapshot thread stopped".to_string())?
            .map_err(|e| e.to_string())?;
        // The snapshot is durable: segments older than the previous snapshot are now redundant.
        let keep_from = self.last_lsn.load(Ordering::Relaxed);
        match persist
            .with_log(move |log| log.remove_upto(keep_from))
            .await
        {
            Some(Err(e)) => tracing::warn!(error = %e, "could not delete old log segments"),
            None => return Err("the persistence actor is not running".into()),
            Some(Ok(())) => {}
        }
        self.last_lsn.store(lsn, Ordering::Relaxed);
        let report = SnapshotReport {
            path,
            lsn,
            domains: n_domains,
            users,
            max_copy_ms,
            total_ms: started.elapsed().as_millis() as u64,
        };
        tracing::info!(path = %report.path.display(), lsn, domains = n_domains, users,
            max_copy_ms, total_ms = report.total_ms, "snapshot written");
        Ok(report)
    }
}
