use std::fs;

use identityd::store::{RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, StoreError, WAL_MAGIC, Wal};
use tempfile::TempDir;

use crate::common::*;

const BIG: u64 = 1 << 20;

#[test]
fn round_trip_and_lsns_continue_after_reopen() {
    for prealloc in [false, true] {
        let t = TempDir::new().unwrap();
        let lens: Vec<usize> = (0..100).map(|i| (i * 13) % 300).collect(); // includes empty payloads
        let payloads: Vec<Vec<u8>> = lens
            .iter()
            .enumerate()
            .map(|(i, &l)| payload(i as u64 + 1, l))
            .collect();
        write_log(t.path(), opts(BIG, prealloc), &payloads);

        let (mut wal, rec) = Wal::open(t.path(), opts(BIG, prealloc), 0, false).unwrap();
        assert_records(&rec.records, 1..=100, |l| lens[l as usize - 1]);
        assert!(rec.truncated_tail.is_none() && rec.repaired.is_none());
        assert_eq!(wal.last_lsn(), 100);
        assert_eq!(wal.append(&payload(101, 5)).unwrap(), 101);
        assert_eq!(wal.append(&payload(102, 6)).unwrap(), 102);
        wal.sync().unwrap();
        drop(wal);

        let (wal, rec) = Wal::open(t.path(), opts(BIG, prealloc), 0, false).unwrap();
        assert_eq!(rec.records.len(), 102);
        assert_eq!(rec.records[100], (101, payload(101, 5)));
        assert_eq!(rec.records[101], (102, payload(102, 6)));
        assert_eq!(wal.last_lsn(), 102);
        if prealloc {
            assert_eq!(fs::metadata(&seg_files(t.path())[0]).unwrap().len(), BIG);
        }
    }
}

#[test]
fn unsynced_unflushed_records_are_not_on_disk_but_flush_writes_them() {
    let t = TempDir::new().unwrap();
    let (mut wal, _) = Wal::open(t.path(), opts(BIG, false), 0, false).unwrap();
    wal.append(b"one").unwrap();
    let seg = &seg_files(t.path())[0];
    assert_eq!(fs::metadata(seg).unwrap().len(), SEGMENT_HEADER_LEN as u64);
    wal.flush().unwrap();
    assert_eq!(
        fs::metadata(seg).unwrap().len(),
        (SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 3) as u64
    );
}

#[test]
fn record_too_large_is_rejected_without_poisoning() {
    let t = TempDir::new().unwrap();
    let (mut wal, _) = Wal::open(t.path(), opts(BIG, false), 0, false).unwrap();
    let big = vec![1u8; identityd::store::MAX_RECORD_BYTES + 1];
    assert!(matches!(
        wal.append(&big),
        Err(StoreError::RecordTooLarge { .. })
    ));
    assert_eq!(wal.append(b"ok").unwrap(), 1);
    wal.sync().unwrap();
}

/// Cut the file at every byte offset inside the last record: the previous
/// records survive, the tail is truncated, the cut bytes are saved.
#[test]
fn truncation_at_every_offset_of_last_record() {
    let lens = [40usize, 7, 0, 90, 33];
    let payloads: Vec<Vec<u8>> = lens
        .iter()
        .enumerate()
        .map(|(i, &l)| payload(i as u64 + 1, l))
        .collect();
    let src = TempDir::new().unwrap();
    write_log(src.path(), opts(BIG, false), &payloads);
    let seg_name = seg_files(src.path())[0].file_name().unwrap().to_owned();
    let full = fs::read(src.path().join(&seg_name)).unwrap();
    let last = record_offset(&lens, 4);
    assert_eq!(full.len(), last + RECORD_HEADER_LEN + 33);

    for cut in last..full.len() {
        let t = TempDir::new().unwrap();
        let seg = t.path().join(&seg_name);
        fs::write(&seg, &full[..cut]).unwrap();
        let (mut wal, rec) = Wal::open(t.path(), opts(BIG, false), 0, false).unwrap();
        assert_records(&rec.records, 1..=4, |l| lens[l as usize - 1]);
        if cut == last {
            assert!(
                rec.truncated_tail.is_none(),
                "clean cut at a record boundary"
            );
        } else {
            let torn = rec.truncated_tail.expect("torn tail reported");
            assert_eq!(torn.file, seg);
            assert_eq!(torn.offset, last as u64);
            assert_eq!(torn.bytes_cut, (cut - last) as u64);
            let saved = fs::read(&torn.saved_to).unwrap();
            assert!(
                torn.saved_to
                    .to_str()
                    .unwrap()
                    .ends_with(&format!(".torn-{last}"))
            );
            // saved = cut bytes up to the last non-zero byte
            assert_eq!(saved.as_slice(), &full[last..last + saved.len()]);
            assert!(full[last + saved.len()..cut].iter().all(|&b| b == 0));
        }
        assert_eq!(
            fs::metadata(&seg).unwrap().len(),
            last as u64,
            "truncated to the last good record"
        );
        // Appending continues with the next LSN, and a reopen is clean.
        assert_eq!(wal.append(&payload(5, 12)).unwrap(), 5);
        wal.sync().unwrap();
        drop(wal);
        let (_, rec) = Wal::open(t.path(), opts(BIG, false), 0, false).unwrap();
        assert!(rec.truncated_tail.is_none());
        assert_eq!(rec.records.len(), 5);
        assert_eq!(rec.records[4], (5, payload(5, 12)));
    }
}

/// Same with preallocation: the unsynced part of the last record reads back as zeros.
#[test]
fn partial_last_record_in_preallocated_space_is_torn() {
    let lens = [300usize, 20, 700, 1200];
    let payloads: Vec<Vec<u8>> = lens
        .iter()
        .enumerate()
        .map(|(i, &l)| payload(i as u64 + 1, l))
        .collect();
    let src = TempDir::new().unwrap();
    write_log(src.path(), opts(64 << 10, true), &payloads);
    let seg_name = seg_files(src.path())[0].file_name().unwrap().to_owned();
    let full = fs::read(src.path().join(&seg_name)).unwrap();
    assert_eq!(full.len(), 64 << 10);
    let last = record_offset(&lens, 3);
    let end = last + RECORD_HEADER_LEN + 1200;
    for cut in (last..end).step_by(7).chain([end - 1]) {
        let t = TempDir::new().unwrap();
        let mut img = full.clone();
        img[cut..end].fill(0);
        fs::write(t.path().join(&seg_name), &img).unwrap();
        let (wal, rec) = Wal::open(t.path(), opts(64 << 10, true), 0, false).unwrap();
        assert_records(&rec.records, 1..=3, |l| lens[l as usize - 1]);
        assert_eq!(rec.truncated_tail.is_some(), cut > last, "cut at {cut}");
        assert_eq!(wal.last_lsn(), 3);
        // Truncated, then preallocated again for the appends to come.
        assert_eq!(
            fs::metadata(t.path().join(&seg_name)).unwrap().len(),
            64 << 10
        );
    }
}

#[test]
fn unwritten_sector_inside_final_record_is_torn() {
    let lens = [100usize, 3000];
    let payloads: Vec<Vec<u8>> = lens
        .iter()
        .enumerate()
        .map(|(i, &l)| payload(i as u64 + 1, l))
        .collect();
    let t = TempDir::new().unwrap();
    write_log(t.path(), opts(BIG, false), &payloads);
    let seg = seg_files(t.path())[0].clone();
    let mut img = fs::read(&seg).unwrap();
    img[1024..1536].fill(0); // one whole sector inside record 2 never reached the disk
    fs::write(&seg, &img).unwrap();
    let (_, rec) = Wal::open(t.path(), opts(BIG, false), 0, false).unwrap();
    assert_eq!(rec.records.len(), 1);
    assert_eq!(
        rec.truncated_tail.unwrap().offset,
        record_offset(&lens, 1) as u64
    );
}

fn six_record_log() -> (TempDir, std::path::PathBuf, Vec<usize>) {
    let lens = vec![300usize; 6];
    let payloads: Vec<Vec<u8>> = lens
        .iter()
        .enumerate()
        .map(|(i, &l)| payload(i as u64 + 1, l))
        .collect();
    let t = TempDir::new().unwrap();
    write_log(t.path(), opts(BIG, false), &payloads);
    let seg = seg_files(t.path())[0].clone();
    (t, seg, lens)
}

fn expect_corrupt(t: &TempDir, seg: &std::path::Path, offset: usize) -> String {
    match Wal::open(t.path(), opts(BIG, false), 0, false) {
        Err(e @ StoreError::Corrupt { .. }) => {
            let StoreError::Corrupt {
                path, offset: o, ..
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(path, seg);
            assert_eq!(*o, offset as u64);
            let msg = e.to_string();
            assert!(
                msg.contains(seg.to_str().unwrap()) && msg.contains(&format!("offset {offset}")),
                "{msg}"
            );
            msg
        }
        other => panic!("expected Corrupt at {offset}, got {other:?}"),
    }
}

#[test]
fn bit_flips_in_segment_header_are_bad_header() {
    for byte in 0..SEGMENT_HEADER_LEN {
        let (t, seg, _) = six_record_log();
        flip(&seg, byte, 0x04);
        match Wal::open(t.path(), opts(BIG, false), 0, false) {
            Err(StoreError::BadHeader { path, reason }) => {
                assert_eq!(path, seg);
                assert!(!reason.is_empty());
            }
            other => panic!("byte {byte}: expected BadHeader, got {other:?}"),
        }
    }
}

#[test]
fn bit_flips_in_a_middle_record_are_corruption_with_file_and_offset() {
    // Every field of record 3 (index 2): length, CRC, LSN, payload start/middle/end.
    let (_, _, lens) = six_record_log();
    let off = record_offset(&lens, 2);
    for (field_byte, mask) in [
        (0, 0x01),
        (0, 0x10),
        (3, 0x80),
        (4, 0x01),
        (7, 0x40),
        (8, 0x01),
        (15, 0x80),
        (16, 1),
        (150, 2),
        (315, 0x80),
    ] {
        let (t, seg, _) = six_record_log();
        flip(&seg, off + field_byte, mask);
        let msg = expect_corrupt(&t, &seg, off);
        assert!(msg.contains("valid record"), "{msg}");
    }
}

#[test]
fn bit_flips_in_last_record_follow_the_torn_rule() {
    let (_, _, lens) = six_record_log();
    let off = record_offset(&lens, 5);
    // Complete final record with a bad CRC/LSN/payload, or a shortened length:
    // not an incomplete write -> corruption.
    for (field_byte, mask) in [
        (4usize, 0x01u8),
        (6, 0x20),
        (8, 0x01),
        (9, 0x01),
        (16, 0x01),
        (200, 0x08),
        (315, 0x80),
        (0, 0x08),
    ] {
        let (t, seg, _) = six_record_log();
        flip(&seg, off + field_byte, mask);
        let msg = expect_corrupt(&t, &seg, off);
        assert!(msg.contains("complete final record"), "{msg}");
    }
    // A length that now runs past end of file looks exactly like an incomplete
    // write: torn tail, truncated and saved (300 = 0b1_0010_1100; bit 0 -> 301, bit 31 -> huge).
    for (field_byte, mask) in [(0usize, 0x01u8), (1, 0x02), (3, 0x80)] {
        let (t, seg, _) = six_record_log();
        flip(&seg, off + field_byte, mask);
        let (_, rec) = Wal::open(t.path(), opts(BIG, false), 0, false).unwrap();
        assert_eq!(rec.records.len(), 5);
        let torn = rec.truncated_tail.unwrap();
        assert_eq!((torn.file, torn.offset), (seg.clone(), off as u64));
        assert_eq!(torn.bytes_cut, (RECORD_HEADER_LEN + 300) as u64);
    }
}

#[test]
fn records_span_many_small_segments() {
    for prealloc in [false, true] {
        let t = TempDir::new().unwrap();
        let o = opts(256, prealloc);
        // Sizes vary; 600-byte records exceed a segment and get one of their own.
        let len_of = |l: u64| {
            if l.is_multiple_of(17) {
                600
            } else {
                (l as usize * 37) % 200
            }
        };
        let (mut wal, _) = Wal::open(t.path(), o, 0, false).unwrap();
        for l in 1..=300u64 {
            assert_eq!(wal.append(&payload(l, len_of(l))).unwrap(), l);
            if l % 10 == 0 {
                wal.sync().unwrap();
            }
        }
        wal.sync().unwrap();
        let segs = seg_files(t.path());
        assert!(segs.len() > 100, "{} segments", segs.len());
        assert_eq!(wal.segment_paths(), segs);
        // Closed segments are trimmed to their records (no preallocated tail).
        for s in &segs[..segs.len() - 1] {
            let len = fs::metadata(s).unwrap().len();
            assert!(
                len <= 256 || len == (SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 600) as u64,
                "{len}"
            );
        }
        drop(wal);
        let (mut wal, rec) = Wal::open(t.path(), o, 0, false).unwrap();
        assert_records(&rec.records, 1..=300, len_of);
        assert_eq!(wal.append(b"next").unwrap(), 301);
        // after_lsn filtering across segments
        drop(wal);
        for after in [0u64, 1, 16, 17, 150, 299, 300] {
            let (wal, rec) = Wal::open(t.path(), o, after, false).unwrap();
            assert_records(&rec.records, after + 1..=300, len_of);
            assert_eq!(wal.last_lsn(), 300);
        }
    }
}

#[test]
fn after_lsn_beyond_the_log_is_an_error() {
    let t = TempDir::new().unwrap();
    write_log(t.path(), opts(BIG, false), &[payload(1, 3), payload(2, 3)]);
    assert!(matches!(
        Wal::open(t.path(), opts(BIG, false), 5, false),
        Err(StoreError::LogBehindSnapshot {
            last_lsn: 2,
            after_lsn: 5,
            ..
        })
    ));
}

#[test]
fn empty_dir_with_snapshot_lsn_starts_after_it() {
    let t = TempDir::new().unwrap();
    let dir = t.path().join("new/sub");
    let (mut wal, rec) = Wal::open(&dir, opts(BIG, false), 41, false).unwrap();
    assert!(rec.records.is_empty());
    assert_eq!(wal.append(b"x").unwrap(), 42);
    assert!(seg_files(&dir)[0].ends_with("wal-00000000000000000042.log"));
}

fn many_segments(t: &TempDir) -> Vec<std::path::PathBuf> {
    let len_of = |_| 50usize;
    let payloads: Vec<Vec<u8>> = (1..=60u64).map(|l| payload(l, len_of(l))).collect();
    write_log(t.path(), opts(200, false), &payloads); // 2 records per segment
    seg_files(t.path())
}

#[test]
fn missing_middle_segment_is_detected() {
    let t = TempDir::new().unwrap();
    let segs = many_segments(&t);
    assert_eq!(segs.len(), 30);
    fs::remove_file(&segs[10]).unwrap(); // LSNs 21, 22
    match Wal::open(t.path(), opts(200, false), 0, false) {
        Err(StoreError::MissingSegment {
            expected_lsn: 21,
            found_lsn: 23,
            found_path,
            ..
        }) => {
            assert_eq!(found_path, segs[11])
        }
        other => panic!("{other:?}"),
    }
    // A snapshot at LSN >= 22 covers the hole: segments before it are not needed.
    let (_, rec) = Wal::open(t.path(), opts(200, false), 22, false).unwrap();
    assert_records(&rec.records, 23..=60, |_| 50);
}

#[test]
fn missing_first_segment_relative_to_snapshot_is_detected() {
    let t = TempDir::new().unwrap();
    let segs = many_segments(&t);
    fs::remove_file(&segs[0]).unwrap();
    assert!(matches!(
        Wal::open(t.path(), opts(200, false), 0, false),
        Err(StoreError::MissingSegment {
            expected_lsn: 1,
            found_lsn: 3,
            ..
        })
    ));
    let (_, rec) = Wal::open(t.path(), opts(200, false), 2, false).unwrap();
    assert_eq!(rec.records.len(), 58);
}

#[test]
fn wrong_magic_and_wrong_version_are_bad_header() {
    let (t, seg, _) = six_record_log();
    let mut d = fs::read(&seg).unwrap();
    d[0..8].copy_from_slice(b"NOTAWAL!");
    fs::write(&seg, &d).unwrap();
    let err = Wal::open(t.path(), opts(BIG, false), 0, false).unwrap_err();
    assert!(
        matches!(&err, StoreError::BadHeader { reason, .. } if reason.contains("magic")),
        "{err}"
    );

    // Version 2 with a correct header checksum: a real "newer format" file.
    let (t, seg, _) = six_record_log();
    let mut d = fs::read(&seg).unwrap();
    assert_eq!(d[0..8], WAL_MAGIC);
    d[8..12].copy_from_slice(&2u32.to_le_bytes());
    let crc = crc32c::crc32c(&d[0..20]);
    d[20..24].copy_from_slice(&crc.to_le_bytes());
    fs::write(&seg, &d).unwrap();
    let err = Wal::open(t.path(), opts(BIG, false), 0, false).unwrap_err();
    assert!(
        matches!(&err, StoreError::BadHeader { reason, .. } if reason.contains("version 2")),
        "{err}"
    );
    assert!(err.to_string().contains(seg.to_str().unwrap()));

    // A segment claiming LSN 0 (LSNs start at 1).
    let t = tempfile::TempDir::new().unwrap();
    let mut h = WAL_MAGIC.to_vec();
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes());
    let crc = crc32c::crc32c(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    fs::write(t.path().join("wal-00000000000000000000.log"), &h).unwrap();
    let err = Wal::open(t.path(), opts(BIG, false), 0, false).unwrap_err();
    assert!(
        matches!(&err, StoreError::BadHeader { reason, .. } if reason.contains("LSN 0")),
        "{err}"
    );

    // Empty segment file.
    let (t, seg, _) = six_record_log();
    fs::write(&seg, b"").unwrap();
    assert!(matches!(
        Wal::open(t.path(), opts(BIG, false), 0, false),
        Err(StoreError::BadHeader { .. })
    ));
}

#[test]
fn leftover_segment_tmp_is_removed() {
    let (t, seg, _) = six_record_log();
    let tmp = t.path().join("wal-00000000000000000007.log.tmp");
    fs::write(&tmp, b"IDDWAL half written").unwrap();
    let (mut wal, rec) = Wal::open(t.path(), opts(BIG, false), 0, false).unwrap();
    assert_eq!(rec.records.len(), 6);
    assert!(!tmp.exists());
    assert_eq!(wal.append(b"x").unwrap(), 7);
    assert_eq!(seg_files(t.path()), vec![seg]);
}

#[test]
fn repair_truncates_mid_log_corruption_and_drops_later_segments() {
    let t = TempDir::new().unwrap();
    let segs = many_segments(&t); // 30 segments x 2 records of 50 bytes
    let bad_off = SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 50; // second record of segment 5 (LSN 10)
    flip(&segs[4], bad_off + 20, 0x01);
    assert!(matches!(
        Wal::open(t.path(), opts(200, false), 0, false),
        Err(StoreError::Corrupt { .. })
    ));

    let (mut wal, rec) = Wal::open(t.path(), opts(200, false), 0, true).unwrap();
    assert_records(&rec.records, 1..=9, |_| 50);
    let rep = rec.repaired.unwrap();
    assert_eq!(rep.file, segs[4]);
    assert_eq!(rep.offset, Some(bad_off as u64));
    assert!(rep.problem.contains("CRC mismatch"), "{}", rep.problem);
    assert_eq!(rep.dropped_segments.len(), 25);
    assert!(
        rep.dropped_segments
            .iter()
            .all(|p| p.to_str().unwrap().ends_with(".dropped") && p.exists())
    );
    assert!(rep.saved_tail.as_ref().unwrap().exists());
    assert_eq!(rep.restarted_at, None);
    assert_eq!(seg_files(t.path()), segs[..5].to_vec());
    assert_eq!(wal.append(&payload(10, 50)).unwrap(), 10);
    wal.sync().unwrap();
    drop(wal);
    let (_, rec) = Wal::open(t.path(), opts(200, false), 0, false).unwrap();
    assert_records(&rec.records, 1..=10, |_| 50);
}

#[test]
fn repair_of_complete_final_record_bit_rot_truncates_it() {
    let (t, seg, lens) = six_record_log();
    let off = record_offset(&lens, 5);
    flip(&seg, off + 100, 0x01);
    let (wal, rec) = Wal::open(t.path(), opts(BIG, false), 0, true).unwrap();
    assert_eq!(rec.records.len(), 5);
    assert!(rec.truncated_tail.is_none());
    let rep = rec.repaired.unwrap();
    assert_eq!((rep.file, rep.offset), (seg, Some(off as u64)));
    assert!(rep.dropped_segments.is_empty());
    assert_eq!(wal.last_lsn(), 5);
}

#[test]
fn repair_of_missing_segment_and_bad_header() {
    // Missing middle segment: later segments are set aside.
    let t = TempDir::new().unwrap();
    let segs = many_segments(&t);
    fs::remove_file(&segs[10]).unwrap();
    let (mut wal, rec) = Wal::open(t.path(), opts(200, false), 0, true).unwrap();
    assert_records(&rec.records, 1..=20, |_| 50);
    assert_eq!(rec.repaired.unwrap().dropped_segments.len(), 19);
    assert_eq!(wal.append(b"x").unwrap(), 21);

    // Bad header in segment 3: it and all later ones are set aside.
    let t = TempDir::new().unwrap();
    let segs = many_segments(&t);
    flip(&segs[2], 2, 0xff);
    let (wal, rec) = Wal::open(t.path(), opts(200, false), 0, true).unwrap();
    assert_records(&rec.records, 1..=4, |_| 50);
    let rep = rec.repaired.unwrap();
    assert_eq!(rep.file, segs[2]);
    assert_eq!(rep.dropped_segments.len(), 28);
    assert_eq!(wal.last_lsn(), 4);
}

#[test]
fn repair_restarts_after_snapshot_when_the_log_falls_short() {
    let t = TempDir::new().unwrap();
    let segs = many_segments(&t);
    // Snapshot at LSN 9; segment 5 holds LSNs 9 and 10 and LSN 9 is damaged, so
    // what remains of the log ends at 8, before the snapshot.
    flip(&segs[4], SEGMENT_HEADER_LEN + 30, 0x01);
    assert!(matches!(
        Wal::open(t.path(), opts(200, false), 9, false),
        Err(StoreError::Corrupt { .. })
    ));
    let (mut wal, rec) = Wal::open(t.path(), opts(200, false), 9, true).unwrap();
    assert!(rec.records.is_empty());
    let rep = rec.repaired.unwrap();
    assert_eq!(rep.file, segs[4]);
    assert_eq!(rep.restarted_at, Some(10));
    assert_eq!(rep.dropped_segments.len(), 30);
    assert_eq!(
        seg_files(t.path()),
        vec![t.path().join("wal-00000000000000000010.log")]
    );
    assert_eq!(wal.append(b"x").unwrap(), 10);
    wal.sync().unwrap();
    drop(wal);
    let (_, rec) = Wal::open(t.path(), opts(200, false), 9, false).unwrap();
    assert_eq!(rec.records, vec![(10, b"x".to_vec())]);

    // A gap between the snapshot LSN and the first segment, repaired the same way.
    let t = TempDir::new().unwrap();
    let segs = many_segments(&t);
    fs::remove_file(&segs[0]).unwrap();
    fs::remove_file(&segs[1]).unwrap();
    let (mut wal, rec) = Wal::open(t.path(), opts(200, false), 1, true).unwrap();
    assert_eq!(rec.repaired.unwrap().restarted_at, Some(2));
    assert_eq!(wal.append(b"x").unwrap(), 2);
}

#[test]
fn torn_data_in_a_non_final_segment_is_corruption() {
    let t = TempDir::new().unwrap();
    let segs = many_segments(&t);
    let len = fs::metadata(&segs[7]).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&segs[7]).unwrap();
    f.set_len(len - 10).unwrap();
    let err = Wal::open(t.path(), opts(200, false), 0, false).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { path, .. } if *path == segs[7]),
        "{err}"
    );
    assert!(err.to_string().contains("non-final"), "{err}");
}

#[test]
fn remove_segments_upto_and_bytes_since() {
    let t = TempDir::new().unwrap();
    let o = opts(200, false);
    let segs = many_segments(&t);
    let (mut wal, _) = Wal::open(t.path(), o, 0, false).unwrap();
    let per_record = (RECORD_HEADER_LEN + 50) as u64;
    assert_eq!(wal.bytes_since(0), 60 * per_record);
    assert_eq!(wal.bytes_since(30), 30 * per_record);
    assert_eq!(wal.bytes_since(31), 29 * per_record);
    assert_eq!(wal.bytes_since(60), 0);
    wal.append(&payload(61, 50)).unwrap(); // buffered records count too
    assert_eq!(wal.bytes_since(60), per_record);

    wal.remove_segments_upto(9).unwrap(); // segments 1..=4 hold LSN 1..=8; segment 5 holds 9, 10
    let left = seg_files(t.path());
    assert_eq!(left.first(), Some(&segs[4]));
    assert_eq!(left.len(), 27);
    wal.remove_segments_upto(1000).unwrap(); // never the active segment
    assert_eq!(seg_files(t.path()).len(), 1);
    wal.sync().unwrap();
    drop(wal);

    let (_, rec) = Wal::open(t.path(), o, 60, false).unwrap();
    assert_records(&rec.records, 61..=61, |_| 50);
    assert!(matches!(
        Wal::open(t.path(), o, 0, false),
        Err(StoreError::MissingSegment { .. })
    ));
}

#[test]
fn invalid_options_are_rejected() {
    let t = TempDir::new().unwrap();
    assert!(matches!(
        Wal::open(t.path(), opts(10, false), 0, false),
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        Wal::open(t.path(), opts(BIG, false), u64::MAX, false),
        Err(StoreError::InvalidArgument(_))
    ));
}
