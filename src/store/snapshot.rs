//! Snapshot files: `snap-<lsn, 20 digits>.bin` = 36-byte header + payload.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::{Result, StoreError, io_err};
use super::frame::{u32_at, u64_at};
use super::sync_dir;

/// Magic bytes at the start of every snapshot file.
pub const SNAP_MAGIC: [u8; 8] = *b"IDDSNAP\x01";
/// On-disk format version of snapshots written by this build.
pub const SNAP_VERSION: u32 = 1;
/// magic (8) + version u32 + lsn u64 + payload_len u64 + payload CRC32C u32 + header CRC32C u32.
pub const SNAP_HEADER_LEN: usize = 36;

const PREFIX: &str = "snap-";
const SUFFIX: &str = ".bin";
const TMP_SUFFIX: &str = ".bin.tmp";

/// File name of the snapshot at `lsn`: `snap-<lsn as 20 digits>.bin`.
pub fn snapshot_file_name(lsn: u64) -> String {
    format!("{PREFIX}{lsn:020}{SUFFIX}")
}

fn parse_snapshot_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A snapshot returned by [`load_snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedSnapshot {
    /// The LSN the snapshot covers (replay the WAL after it).
    pub lsn: u64,
    /// The caller's encoded state.
    pub payload: Vec<u8>,
    /// The file it came from.
    pub path: PathBuf,
    /// Newer snapshots that were damaged and skipped (only with `repair`).
    pub skipped: Vec<SkippedSnapshot>,
}

/// A damaged snapshot that `load_snapshot(.., repair = true)` passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedSnapshot {
    /// The damaged file.
    pub path: PathBuf,
    /// Why it was rejected (names file and offset).
    pub error: String,
}

fn encode_header(lsn: u64, payload_len: u64, payload_crc: u32) -> [u8; SNAP_HEADER_LEN] {
    let mut h = [0u8; SNAP_HEADER_LEN];
    h[0..8].copy_from_slice(&SNAP_MAGIC);
    h[8..12].copy_from_slice(&SNAP_VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&lsn.to_le_bytes());
    h[20..28].copy_from_slice(&payload_len.to_le_bytes());
    h[28..32].copy_from_slice(&payload_crc.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..32]);
    h[32..36].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Snapshot files as (lsn, path), sorted by LSN ascending.
type SnapshotList = Vec<(u64, PathBuf)>;

/// Snapshot files sorted by LSN ascending, plus stray tmp files.
fn list_snapshots(dir: &Path) -> Result<(SnapshotList, Vec<PathBuf>)> {
    let mut snaps = Vec::new();
    let mut tmps = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(lsn) = parse_snapshot_name(name) {
            snaps.push((lsn, entry.path()));
        } else if name.starts_with(PREFIX) && name.ends_with(TMP_SUFFIX) {
            tmps.push(entry.path());
        }
    }
    snaps.sort();
    Ok((snaps, tmps))
}

/// Counts bytes and computes the CRC32C of everything written through it.
struct CrcWriter<W> {
    inner: W,
    crc: u32,
    len: u64,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `payload` as the snapshot at `lsn`: `.tmp` file, write, fsync, rename,
/// fsync the directory. Returns the final path.
pub fn write_snapshot(dir: &Path, lsn: u64, payload: &[u8]) -> Result<PathBuf> {
    write_snapshot_from(dir, lsn, |w| w.write_all(payload))
}

/// Streaming variant of [`write_snapshot`]: `writer_fn` writes the payload into
/// a buffered writer; length and CRC32C are computed on the way, and the header
/// is filled in afterwards. An error from `writer_fn` removes the tmp file.
pub fn write_snapshot_from(
    dir: &Path,
    lsn: u64,
    writer_fn: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<PathBuf> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join(snapshot_file_name(lsn));
    let tmp = dir.join(format!("{}.tmp", snapshot_file_name(lsn)));
    let result = write_tmp(&tmp, lsn, writer_fn);
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    sync_dir(dir)?;
    tracing::info!(path = %path.display(), lsn, "snapshot written");
    Ok(path)
}

fn write_tmp(
    tmp: &Path,
    lsn: u64,
    writer_fn: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    let file = super::create_private(tmp).map_err(io_err(tmp))?;
    let mut w = CrcWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        crc: 0,
        len: 0,
    };
    w.inner
        .write_all(&[0u8; SNAP_HEADER_LEN])
        .map_err(io_err(tmp))?;
    writer_fn(&mut w).map_err(io_err(tmp))?;
    let (crc, len) = (w.crc, w.len);
    let file = w.inner.into_inner().map_err(|e| StoreError::Io {
        path: tmp.to_path_buf(),
        source: e.into_error(),
    })?;
    file.write_all_at(&encode_header(lsn, len, crc), 0)
        .map_err(io_err(tmp))?;
    file.sync_all().map_err(io_err(tmp))
}

/// Validates a snapshot file; returns its payload if `want_payload`.
/// The CRC is always checked (streamed when the payload is not wanted).
fn check_snapshot(path: &Path, name_lsn: u64, want_payload: bool) -> Result<Option<Vec<u8>>> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let file_len = f.metadata().map_err(io_err(path))?.len();
    let bad_header = |reason: String| StoreError::BadHeader {
        path: path.to_path_buf(),
        reason,
    };
    if file_len < SNAP_HEADER_LEN as u64 {
        return Err(bad_header(format!(
            "file has {file_len} bytes, shorter than the {SNAP_HEADER_LEN}-byte snapshot header"
        )));
    }
    let mut h = [0u8; SNAP_HEADER_LEN];
    f.read_exact(&mut h).map_err(io_err(path))?;
    if h[0..8] != SNAP_MAGIC {
        return Err(bad_header(format!(
            "wrong magic {:02x?} (expected {:02x?})",
            &h[0..8],
            SNAP_MAGIC
        )));
    }
    if crc32c::crc32c(&h[0..32]) != u32_at(&h, 32) {
        return Err(bad_header("header checksum mismatch".into()));
    }
    let version = u32_at(&h, 8);
    if version != SNAP_VERSION {
        return Err(bad_header(format!(
            "unsupported format version {version} (this build reads version {SNAP_VERSION})"
        )));
    }
    let lsn = u64_at(&h, 12);
    if lsn != name_lsn {
        return Err(bad_header(format!(
            "header says LSN {lsn} but the file name says {name_lsn}"
        )));
    }
    let payload_len = u64_at(&h, 20);
    let present = file_len - SNAP_HEADER_LEN as u64;
    if payload_len != present {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            offset: file_len.min(SNAP_HEADER_LEN as u64 + payload_len),
            reason: format!(
                "header promises {payload_len} payload bytes but the file holds {present}"
            ),
        });
    }
    let want_crc = u32_at(&h, 28);
    let (crc, payload) = if want_payload {
        // payload_len equals the real file size here, so this allocation is bounded by the file.
        let mut payload = Vec::with_capacity(usize::try_from(payload_len).unwrap_or(0));
        f.read_to_end(&mut payload).map_err(io_err(path))?;
        (crc32c::crc32c(&payload), Some(payload))
    } else {
        let mut crc = 0u32;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(io_err(path))?;
            if n == 0 {
                break;
            }
            crc = crc32c::crc32c_append(crc, &buf[..n]);
        }
        (crc, None)
    };
    if crc != want_crc {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            offset: SNAP_HEADER_LEN as u64,
            reason: format!(
                "payload checksum mismatch over {payload_len} bytes (CRC32C {crc:08x}, header says {want_crc:08x})"
            ),
        });
    }
    Ok(payload)
}

/// Checks one snapshot file without keeping its payload; returns the payload length.
pub(crate) fn verify_snapshot_file(path: &Path, name_lsn: u64) -> Result<u64> {
    check_snapshot(path, name_lsn, false)?;
    let len = fs::metadata(path).map_err(io_err(path))?.len();
    Ok(len - SNAP_HEADER_LEN as u64)
}

/// Parses a snapshot file name (for verify).
pub(crate) fn snapshot_name_lsn(name: &str) -> Option<u64> {
    parse_snapshot_name(name)
}

/// Loads the newest snapshot in `dir` (`Ok(None)` if there is none). A damaged
/// newest snapshot is an error naming the file, unless `repair`: then older
/// ones are tried in turn and the skipped files are listed in the result. If
/// no valid snapshot remains, the newest one's error is returned even with
/// `repair` (starting from an empty state could silently lose data). I/O errors
/// are always returned. Stray `.tmp` files are ignored.
pub fn load_snapshot(dir: &Path, repair: bool) -> Result<Option<LoadedSnapshot>> {
    if !dir.exists() {
        return Ok(None);
    }
    let (snaps, _) = list_snapshots(dir)?;
    let mut skipped = Vec::new();
    let mut first_err = None;
    for (lsn, path) in snaps.into_iter().rev() {
        match check_snapshot(&path, lsn, true) {
            Ok(payload) => {
                tracing::info!(path = %path.display(), lsn, "snapshot loaded");
                return Ok(Some(LoadedSnapshot {
                    lsn,
                    payload: payload.unwrap_or_default(),
                    path,
                    skipped,
                }));
            }
            Err(e @ (StoreError::Corrupt { .. } | StoreError::BadHeader { .. })) if repair => {
                tracing::warn!(error = %e, "skipping damaged snapshot");
                skipped.push(SkippedSnapshot {
                    path,
                    error: e.to_string(),
                });
                first_err.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(None),
    }
}

/// Keeps the newest `keep` (>= 1) valid snapshots and deletes the older ones
/// and stray `snap-*.bin.tmp` files. Damaged snapshots newer than the oldest
/// kept one are left in place (they need attention); damaged older ones are
/// deleted with the rest. Do not call while a snapshot is being written.
pub fn prune_snapshots(dir: &Path, keep: usize) -> Result<()> {
    if keep == 0 {
        return Err(StoreError::InvalidArgument(
            "prune_snapshots: keep must be at least 1".into(),
        ));
    }
    let (snaps, tmps) = list_snapshots(dir)?;
    let mut removed = 0usize;
    for tmp in &tmps {
        fs::remove_file(tmp).map_err(io_err(tmp))?;
        tracing::info!(path = %tmp.display(), "removed stray snapshot tmp file");
        removed += 1;
    }
    let mut valid = 0usize;
    for (lsn, path) in snaps.into_iter().rev() {
        if valid < keep {
            match check_snapshot(&path, lsn, false) {
                Ok(_) => valid += 1,
                Err(e @ (StoreError::Corrupt { .. } | StoreError::BadHeader { .. })) => {
                    tracing::warn!(error = %e, "damaged snapshot left in place by prune");
                }
                Err(e) => return Err(e),
            }
        } else {
            fs::remove_file(&path).map_err(io_err(&path))?;
            tracing::info!(path = %path.display(), lsn, "pruned snapshot");
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(())
}
