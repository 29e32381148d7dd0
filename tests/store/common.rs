use std::fs;
use std::path::{Path, PathBuf};

use identityd::store::{RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, Wal, WalOptions};

pub fn opts(segment_bytes: u64, preallocate: bool) -> WalOptions {
    WalOptions {
        segment_bytes,
        preallocate,
    }
}

/// Deterministic payload with no zero bytes.
pub fn payload(lsn: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u64 * 31 + lsn * 7) % 255 + 1) as u8)
        .collect()
}

/// Opens a fresh log, appends `payloads`, syncs, and drops it.
pub fn write_log(dir: &Path, o: WalOptions, payloads: &[Vec<u8>]) {
    let (mut wal, rec) = Wal::open(dir, o, 0, false).unwrap();
    assert!(rec.records.is_empty());
    for (i, p) in payloads.iter().enumerate() {
        assert_eq!(wal.append(p).unwrap(), i as u64 + 1);
    }
    wal.sync().unwrap();
}

pub fn seg_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            n.starts_with("wal-") && n.ends_with(".log")
        })
        .collect();
    v.sort();
    v
}

pub fn flip(path: &Path, offset: usize, mask: u8) {
    let mut d = fs::read(path).unwrap();
    d[offset] ^= mask;
    fs::write(path, d).unwrap();
}

/// File offset of record number `idx` (0-based) in a single segment holding `lens`.
pub fn record_offset(lens: &[usize], idx: usize) -> usize {
    SEGMENT_HEADER_LEN
        + lens[..idx]
            .iter()
            .map(|l| RECORD_HEADER_LEN + l)
            .sum::<usize>()
}

/// Asserts the recovered records are exactly `lsns` with `payload(lsn, len_of(lsn))`.
pub fn assert_records(
    records: &[(u64, Vec<u8>)],
    lsns: std::ops::RangeInclusive<u64>,
    len_of: impl Fn(u64) -> usize,
) {
    let want: Vec<(u64, Vec<u8>)> = lsns.map(|l| (l, payload(l, len_of(l)))).collect();
    assert_eq!(records.len(), want.len(), "record count");
    assert!(records == want.as_slice(), "records differ");
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
