//! Write-ahead log and snapshot files for identityd.
//!
//! The layer is payload-agnostic: records and snapshots are opaque byte
//! slices. All integers are little endian. CRCs are CRC32C (Castagnoli).
//!
//! # On-disk format
//!
//! A data directory holds WAL segments `wal-<first LSN, 20 digits>.log` and
//! snapshots `snap-<LSN, 20 digits>.bin`.
//!
//! **Segment** = 24-byte header, then records, then optionally zeros
//! (preallocated space):
//!
//! ```text
//! header: magic b"IDDWAL\0\x01" (8) | version u32 = 1 | first_lsn u64 | crc32c(previous 20 bytes) u32
//! record: len u32 | crc u32 = crc32c(lsn bytes ++ payload) | lsn u64 | payload (len bytes, len <= 16 MiB)
//! ```
//!
//! LSNs start at 1 and grow by exactly 1 per record, across segments: a
//! segment's first record has the LSN in its header and name, and the next
//! segment starts where the previous one ends.
//!
//! **Snapshot** = 36-byte header, then the payload:
//!
//! ```text
//! magic b"IDDSNAP\x01" (8) | version u32 = 1 | lsn u64 | payload_len u64 | crc32c(payload) u32 | crc32c(previous 32 bytes) u32
//! ```
//!
//! Files are created as `<name>.tmp`, fsynced, renamed into place, and the
//! directory is fsynced, so a crash never leaves a half-written segment header
//! or snapshot under its final name. Leftover `*.tmp` files are ignored
//! (and deleted by `Wal::open` / `prune_snapshots`).
//!
//! # Recovery rules (`Wal::open`)
//!
//! Segments are scanned record by record. A record is valid when its length is
//! at most 16 MiB, it fits in the file, its CRC matches and its LSN is the next
//! expected one. At the first invalid position:
//!
//! 1. **Clean end**: end of file, or only zero bytes until end of file
//!    (preallocated space). Not an error; appends continue there.
//! 2. **Torn tail** (an incomplete, never-synced write), in either of two shapes:
//!    - *unwritten hole*: a 512-byte sector overlapping the bad record reads as
//!      zeros from the record start (or the sector start) to the sector end —
//!      what a sector still holding its pre-write contents looks like. The log
//!      ends there **even if valid-looking records follow**: a completed `sync`
//!      would have written the hole first, so anything after it was never synced
//!      (page writeback may persist later pages before earlier ones);
//!    - *cut short*: the record header is cut by end of file, or its length
//!      reaches past the last non-zero byte (past EOF or into the zero tail),
//!      **and no valid record (correct CRC, LSN >= the expected one) starts
//!      anywhere after it**.
//!
//!    In the last segment the bytes from the bad offset to the last non-zero byte
//!    are copied to `<segment>.torn-<offset>` (fsynced), the segment is truncated
//!    there, and `Recovered::truncated_tail` reports it (warn log). In an earlier
//!    segment it is corruption: segments are fully synced before the next exists.
//! 3. **Corruption**: everything else, reported as [`StoreError::Corrupt`] with
//!    file and offset — a bad record followed by a valid one (the etcd rule), a
//!    *complete* final record whose CRC fails and that has no unwritten sector
//!    (bit rot of synced data), a CRC-valid record with an unexpected LSN.
//! 4. **Bad header** (magic, CRC, version, LSN different from the file name):
//!    [`StoreError::BadHeader`].
//! 5. **Missing records**: the first segment needed starts after `after_lsn + 1`,
//!    or a segment does not start right after the previous one ends:
//!    [`StoreError::MissingSegment`]. A log that ends before `after_lsn`:
//!    [`StoreError::LogBehindSnapshot`].
//!
//! Stated plainly, the ambiguous cases: a bit flip that enlarges the length of
//! the very last record is indistinguishable from a torn write, and so is damage
//! to a record containing a sector-aligned run of zeros; both are truncated as
//! torn tails (the bytes are kept in the `.torn-*` file, and a warning is logged).
//!
//! With `repair = true`, cases 2–5 anywhere are repaired instead of returned:
//! the bad segment is truncated at the first bad record (bytes saved as for a
//! torn tail; a segment with a bad header is dropped whole), every later
//! segment is renamed to `<name>.dropped`, and `Recovered::repaired` says
//! what happened. If what remains ends before `after_lsn` (or nothing remains),
//! all remaining segments are moved aside and a new log starts at `after_lsn + 1`.
//!
//! Segments entirely below `after_lsn` are not read by `open` (they are covered
//! by the snapshot); `verify_dir` checks them.
//!
//! # Snapshots
//!
//! `load_snapshot` returns the newest snapshot; if it is damaged that is an
//! error naming the file, unless `repair`, which falls back to the next older
//! valid one and lists the skipped files.

mod error;
mod frame;
pub mod recovery;
mod segment;
mod snapshot;
mod verify;
mod wal;

pub use error::{Result, StoreError};
pub use frame::{MAX_RECORD_BYTES, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, WAL_MAGIC, WAL_VERSION};
pub use snapshot::{
    LoadedSnapshot, SNAP_HEADER_LEN, SNAP_MAGIC, SNAP_VERSION, SkippedSnapshot, load_snapshot,
    prune_snapshots, snapshot_file_name, write_snapshot, write_snapshot_from,
};
pub use verify::{FileKind, FileReport, FileStatus, VerifyReport, verify_dir};
pub use wal::{Recovered, RepairReport, TornTail, Wal, WalOptions};

use std::fs::File;
use std::path::{Path, PathBuf};

use error::io_err;

/// fsyncs a directory so that file creations, renames and deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// `base` if no such file exists, else `base.1`, `base.2`, ...
pub(crate) fn unique_path(base: PathBuf) -> PathBuf {
    if !base.exists() {
        return base;
    }
    let mut n = 1u32;
    loop {
        let p = PathBuf::from(format!("{}.{n}", base.display()));
        if !p.exists() {
            return p;
        }
        n += 1;
    }
}

/// Creates (or truncates) a file readable by its owner only: log records and snapshots hold
/// password hashes and codes' HMACs.
pub(crate) fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}
