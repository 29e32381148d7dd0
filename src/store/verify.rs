//! Offline check of a data directory: every segment and snapshot, and LSN
//! continuity between them.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use super::error::{Result, io_err};
use super::frame::{self, SEGMENT_HEADER_LEN, ScanEnd, decode_segment_header};
use super::segment::parse_segment_name;
use super::snapshot::{snapshot_name_lsn, verify_snapshot_file};

/// What kind of file a report line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `wal-*.log`
    WalSegment,
    /// `snap-*.bin`
    Snapshot,
    /// `*.tmp`: an unfinished segment or snapshot (ignored by recovery).
    TempFile,
    /// `*.torn-*`: bytes cut from a torn or repaired segment.
    SavedTail,
    /// `*.dropped*`: a segment moved out of the log by repair.
    DroppedSegment,
    /// Anything else.
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::WalSegment => "wal segment",
            FileKind::Snapshot => "snapshot",
            FileKind::TempFile => "temp file",
            FileKind::SavedTail => "saved tail",
            FileKind::DroppedSegment => "dropped segment",
            FileKind::Other => "other",
        })
    }
}

/// Health of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// Fine (may carry a note, e.g. preallocated zero tail).
    Ok(Option<String>),
    /// Recoverable without data loss of synced records (e.g. a torn tail that
    /// `Wal::open` will truncate), or a leftover file.
    Warning(String),
    /// Damage: `Wal::open` / `load_snapshot` would fail without `repair`.
    Error(String),
}

/// One file's line in a [`VerifyReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Its kind.
    pub kind: FileKind,
    /// First LSN (segment: first valid record or header LSN; snapshot: its LSN).
    pub first_lsn: Option<u64>,
    /// Last valid LSN (segments with at least one record, snapshots).
    pub last_lsn: Option<u64>,
    /// Valid records (segments).
    pub records: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// Status with the first problem and its offset.
    pub status: FileStatus,
}

/// Result of [`verify_dir`]. `Display` renders a human-readable report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The directory checked.
    pub dir: PathBuf,
    /// One entry per file, sorted by name.
    pub files: Vec<FileReport>,
    /// Problems between files (missing LSN ranges).
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// True when no file has an error and no LSNs are missing.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
            && !self
                .files
                .iter()
                .any(|f| matches!(f.status, FileStatus::Error(_)))
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "verify {}: {} ({} files)",
            self.dir.display(),
            if self.ok() { "OK" } else { "PROBLEMS FOUND" },
            self.files.len()
        )?;
        for r in &self.files {
            let name = r.path.file_name().map_or_else(
                || r.path.display().to_string(),
                |n| n.to_string_lossy().into(),
            );
            let lsns = match (r.first_lsn, r.last_lsn) {
                (Some(a), Some(b)) if a == b => format!("LSN {a}"),
                (Some(a), Some(b)) => format!("LSN {a}..={b}"),
                (Some(a), None) => format!("LSN {a}.. (empty)"),
                _ => "-".to_string(),
            };
            let status = match &r.status {
                FileStatus::Ok(None) => "ok".to_string(),
                FileStatus::Ok(Some(note)) => format!("ok ({note})"),
                FileStatus::Warning(w) => format!("WARNING: {w}"),
                FileStatus::Error(e) => format!("ERROR: {e}"),
            };
            let records = if r.kind == FileKind::WalSegment {
                format!("{} records", r.records)
            } else {
                String::new()
            };
            writeln!(
                f,
                "  {name}  [{}]  {lsns}  {records}  {} bytes  {status}",
                r.kind, r.bytes
            )?;
        }
        for p in &self.problems {
            writeln!(f, "  PROBLEM: {p}")?;
        }
        Ok(())
    }
}

fn classify_name(name: &str) -> FileKind {
    if parse_segment_name(name).is_some() {
        FileKind::WalSegment
    } else if snapshot_name_lsn(name).is_some() {
        FileKind::Snapshot
    } else if name.ends_with(".tmp") {
        FileKind::TempFile
    } else if name.contains(".torn-") {
        FileKind::SavedTail
    } else if name.contains(".dropped") {
        FileKind::DroppedSegment
    } else {
        FileKind::Other
    }
}

fn check_segment(path: &Path, name_lsn: u64, is_last: bool, report: &mut FileReport) {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            report.status = FileStatus::Error(format!("read failed: {e}"));
            return;
        }
    };
    report.bytes = data.len() as u64;
    let first = match decode_segment_header(&data) {
        Ok(first) if first != name_lsn => {
            report.status = FileStatus::Error(format!(
                "bad header: first LSN {first} differs from the file name ({name_lsn})"
            ));
            return;
        }
        Ok(first) => first,
        Err(reason) => {
            report.status = FileStatus::Error(format!("bad header at offset 0: {reason}"));
            return;
        }
    };
    let scan = frame::scan(&data, SEGMENT_HEADER_LEN, first);
    report.first_lsn = Some(first);
    report.records = scan.records.len() as u64;
    report.last_lsn = scan.records.last().map(|r| r.lsn);
    report.status = match scan.end {
        ScanEnd::Clean => FileStatus::Ok(None),
        ScanEnd::ZeroTail { offset } => FileStatus::Ok(Some(format!(
            "{} zero bytes of preallocated space from offset {offset}",
            data.len() - offset
        ))),
        ScanEnd::Torn { offset, reason } if is_last => FileStatus::Warning(format!(
            "torn tail at offset {offset} ({} bytes; unsynced write, cut on next open): {reason}",
            data.len() - offset
        )),
        ScanEnd::Torn { offset, reason } => FileStatus::Error(format!(
            "bad record at offset {offset} in a non-final segment: {reason}"
        )),
        ScanEnd::Corrupt { offset, reason } => {
            FileStatus::Error(format!("corrupt at offset {offset}: {reason}"))
        }
    };
}

/// Checks every file in `dir` without modifying anything. Returns an error
/// only if the directory itself cannot be listed; problems with files are in
/// the report (per file: kind, LSN range, records, first problem with offset).
pub fn verify_dir(dir: &Path) -> Result<VerifyReport> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        if entry.file_type().map_err(io_err(entry.path()))?.is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    let last_segment = names
        .iter()
        .rfind(|n| parse_segment_name(n).is_some())
        .cloned();

    let mut files = Vec::with_capacity(names.len());
    for name in &names {
        let path = dir.join(name);
        let kind = classify_name(name);
        let bytes = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let mut r = FileReport {
            path: path.clone(),
            kind,
            first_lsn: None,
            last_lsn: None,
            records: 0,
            bytes,
            status: FileStatus::Ok(None),
        };
        match kind {
            FileKind::WalSegment => {
                let lsn = parse_segment_name(name).unwrap_or_default();
                check_segment(
                    &path,
                    lsn,
                    last_segment.as_deref() == Some(name.as_str()),
                    &mut r,
                );
            }
            FileKind::Snapshot => {
                let lsn = snapshot_name_lsn(name).unwrap_or_default();
                r.first_lsn = Some(lsn);
                r.last_lsn = Some(lsn);
                r.status = match verify_snapshot_file(&path, lsn) {
                    Ok(payload) => FileStatus::Ok(Some(format!("payload {payload} bytes"))),
                    Err(e) => FileStatus::Error(e.to_string()),
                };
            }
            FileKind::TempFile => {
                r.status = FileStatus::Warning("leftover temp file (ignored)".into())
            }
            FileKind::SavedTail => {
                r.status = FileStatus::Warning("bytes saved from a truncated segment".into())
            }
            FileKind::DroppedSegment => {
                r.status = FileStatus::Warning("segment moved out of the log by repair".into())
            }
            FileKind::Other => r.status = FileStatus::Ok(Some("not a store file".into())),
        }
        files.push(r);
    }

    // Continuity: newest valid snapshot -> first segment -> each next segment.
    let mut problems = Vec::new();
    let newest_snapshot = files
        .iter()
        .filter(|f| f.kind == FileKind::Snapshot && matches!(f.status, FileStatus::Ok(_)))
        .filter_map(|f| f.last_lsn)
        .max();
    let segments: Vec<&FileReport> = files
        .iter()
        .filter(|f| f.kind == FileKind::WalSegment)
        .collect();
    if let Some(first) = segments.first() {
        let start = newest_snapshot.unwrap_or(0) + 1;
        let first_lsn = parse_segment_name(
            &first
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
        .unwrap_or(0);
        if first_lsn > start {
            problems.push(format!(
                "LSNs {start}..={} are missing: {} starts at LSN {first_lsn} but the newest valid snapshot covers up to {}",
                first_lsn - 1,
                first.path.display(),
                start - 1
            ));
        }
    }
    for pair in segments.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (Some(a_first), Some(b_first)) = (a.first_lsn, b.first_lsn) else {
            continue;
        };
        let next = a_first + a.records;
        if b_first != next {
            problems.push(format!(
                "{} ends at LSN {} but the next segment {} starts at LSN {b_first}",
                a.path.display(),
                next.saturating_sub(1),
                b.path.display()
            ));
        }
    }
    Ok(VerifyReport {
        dir: dir.to_path_buf(),
        files,
        problems,
    })
}
