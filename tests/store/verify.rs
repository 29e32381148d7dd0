use std::fs;

use identityd::store::{
    FileKind, FileStatus, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, Wal, verify_dir, write_snapshot,
};
use tempfile::TempDir;

use crate::common::*;

fn data_dir() -> TempDir {
    let t = TempDir::new().unwrap();
    let payloads: Vec<Vec<u8>> = (1..=30u64).map(|l| payload(l, 50)).collect();
    write_log(t.path(), opts(400, true), &payloads);
    write_snapshot(t.path(), 12, b"state@12").unwrap();
    t
}

#[test]
fn clean_dir_is_ok() {
    let t = data_dir();
    let r = verify_dir(t.path()).unwrap();
    assert!(r.ok(), "{r}");
    let text = r.to_string();
    assert!(text.contains("OK"), "{text}");
    assert!(text.contains("snap-00000000000000000012.bin"), "{text}");
    let wal: Vec<_> = r
        .files
        .iter()
        .filter(|f| f.kind == FileKind::WalSegment)
        .collect();
    assert_eq!(wal.iter().map(|f| f.records).sum::<u64>(), 30);
    assert_eq!(wal[0].first_lsn, Some(1));
    assert_eq!(wal.last().unwrap().last_lsn, Some(30));
}

#[test]
fn flipped_byte_is_reported_with_file_and_offset() {
    let t = data_dir();
    let seg = seg_files(t.path())[1].clone();
    let off = SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 50; // second record of the segment
    flip(&seg, off + 30, 0x40);
    let r = verify_dir(t.path()).unwrap();
    assert!(!r.ok());
    let line = r.files.iter().find(|f| f.path == seg).unwrap();
    match &line.status {
        FileStatus::Error(e) => assert!(e.contains(&format!("offset {off}")), "{e}"),
        other => panic!("{other:?}"),
    }
    let text = r.to_string();
    eprintln!("{text}");
    let name = seg.file_name().unwrap().to_str().unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains(name) && l.contains(&format!("offset {off}"))),
        "{text}"
    );
    // The gap this leaves before the next segment is reported too.
    assert!(!r.problems.is_empty(), "{text}");

    // And a flipped byte in the snapshot payload.
    let snap = t.path().join("snap-00000000000000000012.bin");
    flip(&snap, 40, 0x01);
    let text = verify_dir(t.path()).unwrap().to_string();
    assert!(
        text.lines()
            .any(|l| l.contains("snap-00000000000000000012.bin") && l.contains("ERROR")),
        "{text}"
    );
}

#[test]
fn torn_tail_is_a_warning_and_missing_segment_a_problem() {
    let t = data_dir();
    let segs = seg_files(t.path());
    // An unsynced partial record after the last one (in preallocated space).
    let (mut wal, _) = Wal::open(t.path(), opts(400, true), 0, false).unwrap();
    wal.append(&payload(31, 50)).unwrap();
    wal.flush().unwrap();
    drop(wal);
    let segs_now = seg_files(t.path());
    let active = segs_now.last().unwrap();
    let mut d = fs::read(active).unwrap();
    let end = d.iter().rposition(|&b| b != 0).unwrap() + 1;
    d[end - 20..end].fill(0);
    fs::write(active, &d).unwrap();
    let r = verify_dir(t.path()).unwrap();
    assert!(r.ok(), "{r}");
    assert!(
        r.files
            .iter()
            .any(|f| matches!(&f.status, FileStatus::Warning(w) if w.contains("torn"))),
        "{r}"
    );

    fs::remove_file(&segs[segs.len() / 2]).unwrap();
    let r = verify_dir(t.path()).unwrap();
    assert!(!r.ok());
    assert_eq!(r.problems.len(), 1, "{r}");
}
