//! System.* (SYSTEM only): operational calls beyond Cloudforet's API.

use super::Service;
use crate::actor::snapshot::SnapshotReport;
use crate::api::*;

impl Service {
    /// Takes a snapshot now (`identityd snapshot` on a running server).
    pub async fn system_snapshot(&self, cred: Credential, _req: Empty) -> ApiResult<SnapshotInfo> {
        self.inner.authn.system(&cred, self.now())?;
        let r = self.snapshot_now().await?;
        Ok(SnapshotInfo {
            path: r.path.display().to_string(),
            lsn: r.lsn,
            domains: r.domains as u64,
            users: r.users as u64,
            max_copy_ms: r.max_copy_ms,
            total_ms: r.total_ms,
        })
    }

    /// Takes a snapshot (periodic timer, shutdown, and `system_snapshot`).
    pub async fn snapshot_now(&self) -> ApiResult<SnapshotReport> {
        let Some(s) = &self.inner.snapshotter else {
            return Err(ApiError::unavailable("this server keeps no data on disk"));
        };
        s.take(self.registry()).await.map_err(|e| {
            tracing::error!(error = %e, "snapshot failed");
            ApiError::unavailable("the snapshot could not be written; see the server log")
        })
    }

    /// Log bytes written since the newest snapshot (None in memory-only mode).
    pub async fn log_bytes_since_snapshot(&self) -> Option<u64> {
        let s = self.inner.snapshotter.as_ref()?;
        let lsn = s.last_lsn();
        self.registry()
            .persist()
            .with_log(move |log| log.bytes_since(lsn))
            .await
    }
}
