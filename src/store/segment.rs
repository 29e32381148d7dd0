//! Segment files: names, listing, creation (tmp + rename), tail truncation with
//! a saved copy, and moving segments aside during repair.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::{Result, io_err};
use super::frame::{SEGMENT_HEADER_LEN, encode_segment_header};
use super::{sync_dir, unique_path};

const PREFIX: &str = "wal-";
const SUFFIX: &str = ".log";
/// Suffix of a segment being created (before its rename).
pub(crate) const TMP_SUFFIX: &str = ".log.tmp";

/// File name of the segment whose first record has `first_lsn`.
pub(crate) fn segment_name(first_lsn: u64) -> String {
    format!("{PREFIX}{first_lsn:020}{SUFFIX}")
}

/// Parses `wal-<20 digits>.log`.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A segment file found in the directory.
#[derive(Debug, Clone)]
pub(crate) struct SegmentFile {
    pub first_lsn: u64,
    pub path: PathBuf,
}

/// Lists segments sorted by first LSN, and stray `wal-*.log.tmp` files.
pub(crate) fn list_segments(dir: &Path) -> Result<(Vec<SegmentFile>, Vec<PathBuf>)> {
    let mut segs = Vec::new();
    let mut tmps = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(first_lsn) = parse_segment_name(name) {
            segs.push(SegmentFile {
                first_lsn,
                path: entry.path(),
            });
        } else if name.starts_with(PREFIX) && name.ends_with(TMP_SUFFIX) {
            tmps.push(entry.path());
        }
    }
    segs.sort_by_key(|s| s.first_lsn);
    tmps.sort();
    Ok((segs, tmps))
}

/// Writes zeros from `from` up to `to` (real preallocation: the blocks are
/// allocated and written, so later fdatasyncs only flush data).
pub(crate) fn zero_fill(file: &File, path: &Path, from: u64, to: u64) -> Result<()> {
    const CHUNK: usize = 1 << 20;
    let zeros = vec![0u8; CHUNK];
    let mut pos = from;
    while pos < to {
        let n = usize::try_from((to - pos).min(CHUNK as u64)).unwrap_or(CHUNK);
        file.write_all_at(&zeros[..n], pos).map_err(io_err(path))?;
        pos += n as u64;
    }
    Ok(())
}

/// Creates a new segment durably: writes `<name>.tmp` with the header (and the
/// zero-filled preallocation up to `prealloc_to`), fsyncs it, renames it into
/// place and fsyncs the directory. Returns the open file (read+write) and path.
pub(crate) fn create_segment(
    dir: &Path,
    first_lsn: u64,
    prealloc_to: Option<u64>,
) -> Result<(File, PathBuf, u64)> {
    let path = dir.join(segment_name(first_lsn));
    let tmp = dir.join(format!("{}.tmp", segment_name(first_lsn)));
    let file = super::create_private(&tmp).map_err(io_err(&tmp))?;
    let header = encode_segment_header(first_lsn);
    file.write_all_at(&header, 0).map_err(io_err(&tmp))?;
    let mut len = SEGMENT_HEADER_LEN as u64;
    if let Some(to) = prealloc_to
        && to > len
    {
        zero_fill(&file, &tmp, len, to)?;
        len = to;
    }
    file.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    sync_dir(dir)?;
    tracing::debug!(path = %path.display(), first_lsn, "created WAL segment");
    Ok((file, path, len))
}

/// Name of the spare segment: created (and preallocated) ahead of time, so a roll needs no new
/// file descriptor. Its `.log.tmp` suffix makes recovery delete a spare left by a crash.
pub(crate) const SPARE_NAME: &str = "wal-spare.log.tmp";

/// Creates the spare segment file (no header yet): zero-filled up to `prealloc_to` (at least the
/// header's length) and fsynced. Returns the open file (read+write) and its length.
pub(crate) fn create_spare(dir: &Path, prealloc_to: Option<u64>) -> Result<(File, u64)> {
    let path = dir.join(SPARE_NAME);
    let file = super::create_private(&path).map_err(io_err(&path))?;
    let header = SEGMENT_HEADER_LEN as u64;
    let len = prealloc_to.unwrap_or(header).max(header);
    zero_fill(&file, &path, 0, len)?;
    file.sync_all().map_err(io_err(&path))?;
    Ok((file, len))
}

/// Turns the spare into the segment whose first record has `first_lsn`, opening nothing: writes
/// the header, fsyncs, renames it into place and fsyncs the directory through `dir_handle`.
/// Returns the file and its path.
pub(crate) fn commit_spare(
    dir: &Path,
    dir_handle: &File,
    spare: File,
    first_lsn: u64,
) -> Result<(File, PathBuf)> {
    let from = dir.join(SPARE_NAME);
    let path = dir.join(segment_name(first_lsn));
    spare
        .write_all_at(&encode_segment_header(first_lsn), 0)
        .map_err(io_err(&from))?;
    spare.sync_all().map_err(io_err(&from))?;
    fs::rename(&from, &path).map_err(io_err(&path))?;
    dir_handle.sync_all().map_err(io_err(dir))?;
    tracing::debug!(path = %path.display(), first_lsn, "WAL segment from the spare");
    Ok((spare, path))
}

/// Saves `data[offset..save_end]` to `<path>.torn-<offset>` (fsynced), then
/// truncates `path` to `offset` and fsyncs it and the directory.
/// Returns the path of the saved copy.
pub(crate) fn save_and_truncate(
    path: &Path,
    data: &[u8],
    offset: usize,
    save_end: usize,
) -> Result<PathBuf> {
    let saved = unique_path(PathBuf::from(format!("{}.torn-{offset}", path.display())));
    let mut f = super::create_private(&saved).map_err(io_err(&saved))?;
    f.write_all(&data[offset..save_end.max(offset)])
        .map_err(io_err(&saved))?;
    f.sync_all().map_err(io_err(&saved))?;
    drop(f);
    let seg = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    seg.set_len(offset as u64).map_err(io_err(path))?;
    seg.sync_all().map_err(io_err(path))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(saved)
}

/// Renames a segment to `<name>.dropped` (or `.dropped.N`) so it is no longer
/// part of the log but stays available for inspection. Does not fsync the dir.
pub(crate) fn move_aside(path: &Path) -> Result<PathBuf> {
    let target = unique_path(PathBuf::from(format!("{}.dropped", path.display())));
    fs::rename(path, &target).map_err(io_err(path))?;
    tracing::warn!(from = %path.display(), to = %target.display(), "moved WAL segment aside");
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_name(1), "wal-00000000000000000001.log");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("wal-1.log"), None);
        assert_eq!(parse_segment_name("wal-00000000000000000001.log.tmp"), None);
        assert_eq!(parse_segment_name("wal-0000000000000000000x.log"), None);
    }
}
