//! Error type of the storage layer. Every variant names the file (and, where
//! it applies, the byte offset) it is about.

use std::io;
use std::path::PathBuf;

/// Errors returned by the WAL, snapshot and verify functions.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An operating-system I/O call failed on `path`.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File or directory the call was about.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A record or snapshot payload failed its checks (CRC, length, LSN order).
    #[error("corrupt data in {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the first bad byte range (start of the bad record).
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A file header is unreadable: wrong magic, unknown version, bad header CRC,
    /// or an LSN that disagrees with the file name.
    #[error("bad header in {path}: {reason}")]
    BadHeader {
        /// The file whose header is bad.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Records are missing: the LSNs do not continue from the snapshot LSN to the
    /// first segment, or from one segment to the next.
    #[error(
        "missing WAL segment in {dir}: expected LSN {expected_lsn} next, but {found_path} starts at LSN {found_lsn}"
    )]
    MissingSegment {
        /// The WAL directory.
        dir: PathBuf,
        /// The LSN that should have come next.
        expected_lsn: u64,
        /// The segment found instead.
        found_path: PathBuf,
        /// First LSN of that segment.
        found_lsn: u64,
    },
    /// The log ends before the LSN the caller already holds in a snapshot, so new
    /// records would reuse LSNs.
    #[error("WAL in {dir} ends at LSN {last_lsn}, before the requested start LSN {after_lsn}")]
    LogBehindSnapshot {
        /// The WAL directory.
        dir: PathBuf,
        /// Last LSN present in the log.
        last_lsn: u64,
        /// The `after_lsn` passed to `Wal::open`.
        after_lsn: u64,
    },
    /// `append` was given a payload larger than [`MAX_RECORD_BYTES`](crate::store::MAX_RECORD_BYTES).
    #[error("record of {len} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge {
        /// Payload length given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An earlier write or sync failed; the log refuses further use and must be
    /// reopened (which runs recovery). Sync failures are fatal by contract.
    #[error("WAL in {dir} is unusable after an earlier I/O failure; reopen it to recover")]
    Failed {
        /// The WAL directory.
        dir: PathBuf,
    },
    /// Invalid `WalOptions` or arguments.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Result alias used throughout the store.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Helper: wrap an `io::Error` with the path it concerns.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.into();
    move |source| StoreError::Io { path, source }
}
