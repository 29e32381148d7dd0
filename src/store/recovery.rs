//! Recovery and snapshot payloads: the model-aware layer over the payload-agnostic WAL and
//! snapshot files. Recovery loads the newest valid snapshot, then replays every log record after
//! the LSN it covers through the same `DomainState::apply` as live writes.

use super::{StoreError, Wal, WalOptions, load_snapshot, prune_snapshots, write_snapshot_from};
use crate::model::events::{Event, Record};
use crate::model::state::{DomainImage, DomainState};
use bincode::{Decode, Encode};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::path::PathBuf;
use std::time::Instant;

/// Format version of [`SnapshotImage`].
pub const SNAPSHOT_IMAGE_VERSION: u16 = 1;

/// What a snapshot file holds: every live domain's image and the ids of deleted domains.
///
/// `covered_lsn` is the WAL LSN the snapshot covers: every record at or below it is included.
/// Each domain image may include a few later records too (images are copied after the LSN was
/// read); its own `seq` says which, and replay skips records with `seq <= image.seq`.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct SnapshotImage {
    pub version: u16,
    pub covered_lsn: u64,
    pub domains: Vec<DomainImage>,
    pub tombstones: Vec<String>,
}

pub fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// What recovery hands to the server.
pub struct RecoveredState {
    pub domains: Vec<DomainState>,
    pub tombstones: BTreeSet<String>,
    pub wal: Wal,
    pub snapshot_lsn: u64,
    pub records_replayed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("snapshot {path}: cannot decode its payload: {reason}")]
    SnapshotDecode { path: String, reason: String },
    #[error("write-ahead log record {lsn}: cannot decode: {reason}")]
    RecordDecode { lsn: u64, reason: String },
    #[error("write-ahead log record {lsn}: domain {domain_id} has no DomainCreated before it")]
    UnknownDomain { lsn: u64, domain_id: String },
}

/// Loads the newest snapshot and replays the log after it. With `repair`, a damaged snapshot
/// falls back to the previous one and a damaged log is truncated at the first bad record (the
/// store layer keeps the cut bytes); without it, damage stops startup with the file and offset.
pub fn recover(
    dir: &Path,
    opts: WalOptions,
    repair: bool,
) -> Result<RecoveredState, RecoveryError> {
    let started = Instant::now();
    let mut domains: BTreeMap<String, DomainState> = BTreeMap::new();
    let mut tombstones = BTreeSet::new();
    let mut snapshot_lsn = 0;
    if let Some(snap) = load_snapshot(dir, repair)? {
        for s in &snap.skipped {
            tracing::warn!(path = %s.path.display(), error = %s.error, "skipped a damaged snapshot (repair)");
        }
        let (image, _): (SnapshotImage, _) =
            bincode::decode_from_slice(&snap.payload, bincode_config()).map_err(|e| {
                RecoveryError::SnapshotDecode {
                    path: snap.path.display().to_string(),
                    reason: e.to_string(),
                }
            })?;
        snapshot_lsn = image.covered_lsn;
        tombstones.extend(image.tombstones);
        for img in image.domains {
            let id = img.domain.domain_id.clone();
            domains.insert(id, DomainState::from_image(img));
        }
        tracing::info!(path = %snap.path.display(), lsn = snapshot_lsn, domains = domains.len(),
            ms = started.elapsed().as_millis() as u64, "loaded snapshot");
    }
    let (wal, rec) = Wal::open(dir, opts, snapshot_lsn, repair)?;
    if let Some(t) = &rec.truncated_tail {
        tracing::warn!(file = %t.file.display(), offset = t.offset, bytes = t.bytes_cut,
            saved_to = %t.saved_to.display(), "truncated a torn write at the end of the log");
    }
    if let Some(r) = &rec.repaired {
        tracing::warn!(file = %r.file.display(), problem = %r.problem, "repaired the log");
    }
    let total = rec.records.len();
    let mut last_report = Instant::now();
    // Consumed as replayed: each record's bytes and events are freed once applied.
    for (i, (lsn, bytes)) in rec.records.into_iter().enumerate() {
        let r = Record::decode(&bytes).map_err(|e| RecoveryError::RecordDecode {
            lsn,
            reason: e.to_string(),
        })?;
        drop(bytes);
        replay(&mut domains, &mut tombstones, lsn, r)?;
        if last_report.elapsed().as_secs() >= 2 {
            tracing::info!(replayed = i + 1, total, "replaying the log");
            last_report = Instant::now();
        }
    }
    let (live, deleted): (Vec<DomainState>, Vec<DomainState>) =
        domains.into_values().partition(|d| !d.deleted);
    tombstones.extend(deleted.into_iter().map(|d| d.domain.domain_id));
    tracing::info!(
        domains = live.len(),
        users = live.iter().map(|d| d.users.len()).sum::<usize>(),
        records = total,
        ms = started.elapsed().as_millis() as u64,
        "recovery complete"
    );
    Ok(RecoveredState {
        domains: live,
        tombstones,
        wal,
        snapshot_lsn,
        records_replayed: total,
    })
}

/// Applies one logged record to the recovering state.
fn replay(
    domains: &mut BTreeMap<String, DomainState>,
    tombstones: &mut BTreeSet<String>,
    lsn: u64,
    r: Record,
) -> Result<(), RecoveryError> {
    if tombstones.contains(&r.domain_id) {
        return Ok(());
    }
    if let Some(state) = domains.get_mut(&r.domain_id) {
        if r.seq > state.seq {
            state.apply_record_owned(r);
        }
        return Ok(());
    }
    match r.events.first() {
        Some(Event::DomainCreated(d)) => {
            let mut state = DomainState::new(d.clone());
            let id = r.domain_id.clone();
            state.apply_record_owned(r);
            domains.insert(id, state);
            Ok(())
        }
        _ => Err(RecoveryError::UnknownDomain {
            lsn,
            domain_id: r.domain_id.clone(),
        }),
    }
}

/// Snapshots kept on disk: the newest, and the previous one to fall back to with `--repair`.
pub const SNAPSHOTS_KEPT: usize = 2;

/// Encodes `image` straight into a new snapshot file (checksummed, fsynced, renamed), then keeps
/// only the newest [`SNAPSHOTS_KEPT`] snapshots.
pub fn write_image(dir: &Path, image: &SnapshotImage) -> Result<PathBuf, StoreError> {
    let path = write_snapshot_from(dir, image.covered_lsn, |w| {
        use std::io::Write as _;
        let mut buffered = std::io::BufWriter::with_capacity(1 << 20, w);
        bincode::encode_into_std_write(image, &mut buffered, bincode_config())
            .map_err(std::io::Error::other)?;
        buffered.flush()
    })?;
    prune_snapshots(dir, SNAPSHOTS_KEPT)?;
    Ok(path)
}

/// `identityd snapshot --offline`: recovers a data dir (as startup would) and writes a snapshot
/// covering everything in it. The caller holds the data dir's lock.
pub fn snapshot_offline(dir: &Path, opts: WalOptions) -> Result<(PathBuf, u64), RecoveryError> {
    let r = recover(dir, opts, false)?;
    let mut wal = r.wal;
    let image = SnapshotImage {
        version: SNAPSHOT_IMAGE_VERSION,
        covered_lsn: wal.last_lsn(),
        domains: r.domains.iter().map(DomainState::image).collect(),
        tombstones: r.tombstones.into_iter().collect(),
    };
    let path = write_image(dir, &image)?;
    wal.remove_segments_upto(r.snapshot_lsn)?;
    Ok((path, image.covered_lsn))
}
