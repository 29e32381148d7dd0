use std::fs;

use identityd::store::{
    SNAP_HEADER_LEN, StoreError, load_snapshot, prune_snapshots, snapshot_file_name,
    write_snapshot, write_snapshot_from,
};
use tempfile::TempDir;

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn round_trip_and_streaming_variant() {
    let t = TempDir::new().unwrap();
    assert!(load_snapshot(t.path(), false).unwrap().is_none());
    assert!(
        load_snapshot(&t.path().join("nope"), false)
            .unwrap()
            .is_none()
    );

    let p = write_snapshot(t.path(), 7, b"state at seven").unwrap();
    assert_eq!(p, t.path().join("snap-00000000000000000007.bin"));
    let s = load_snapshot(t.path(), false).unwrap().unwrap();
    assert_eq!(
        (s.lsn, s.payload.as_slice(), &s.path),
        (7, &b"state at seven"[..], &p)
    );
    assert!(s.skipped.is_empty());

    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    write_snapshot_from(t.path(), 9, |w| {
        for chunk in big.chunks(4096) {
            w.write_all(chunk)?;
        }
        Ok(())
    })
    .unwrap();
    let s = load_snapshot(t.path(), false).unwrap().unwrap();
    assert_eq!(s.lsn, 9);
    assert!(s.payload == big);
    assert_eq!(
        fs::metadata(&s.path).unwrap().len(),
        (SNAP_HEADER_LEN + big.len()) as u64
    );

    // Empty payload is fine too.
    write_snapshot(t.path(), 10, b"").unwrap();
    assert_eq!(
        load_snapshot(t.path(), false).unwrap().unwrap().payload,
        b""
    );
    assert_eq!(names(t.path()).len(), 3, "no tmp files left behind");
}

#[test]
fn failed_streaming_writer_leaves_nothing() {
    let t = TempDir::new().unwrap();
    let err = write_snapshot_from(t.path(), 3, |w| {
        w.write_all(b"partial")?;
        Err(std::io::Error::other("encoder failed"))
    })
    .unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }));
    assert!(names(t.path()).is_empty());
}

#[test]
fn truncated_newest_is_an_error_unless_repair_falls_back() {
    let t = TempDir::new().unwrap();
    write_snapshot(t.path(), 5, &[5u8; 1000]).unwrap();
    let newest = write_snapshot(t.path(), 8, &[8u8; 1000]).unwrap();
    let f = fs::OpenOptions::new().write(true).open(&newest).unwrap();
    f.set_len(500).unwrap();

    let err = load_snapshot(t.path(), false).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { path, .. } if *path == newest),
        "{err}"
    );
    assert!(
        err.to_string().contains("snap-00000000000000000008.bin"),
        "{err}"
    );

    let s = load_snapshot(t.path(), true).unwrap().unwrap();
    assert_eq!((s.lsn, s.payload.len()), (5, 1000));
    assert_eq!(s.skipped.len(), 1);
    assert_eq!(s.skipped[0].path, newest);
}

#[test]
fn flipped_bytes_are_detected() {
    let t = TempDir::new().unwrap();
    let p = write_snapshot(t.path(), 1, &[1u8; 100]).unwrap();
    let orig = fs::read(&p).unwrap();
    for (off, want_header) in [
        (0usize, true),
        (10, true),
        (14, true),
        (22, true),
        (29, true),
        (35, true),
        (36, false),
        (135, false),
    ] {
        let mut d = orig.clone();
        d[off] ^= 0x01;
        fs::write(&p, &d).unwrap();
        match load_snapshot(t.path(), false) {
            Err(StoreError::BadHeader { .. }) if want_header => {}
            Err(StoreError::Corrupt { offset, .. }) if !want_header => {
                assert_eq!(offset, SNAP_HEADER_LEN as u64)
            }
            other => panic!("byte {off}: {other:?}"),
        }
    }
    // All snapshots damaged: even repair returns the newest one's error.
    assert!(matches!(
        load_snapshot(t.path(), true),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn leftover_tmp_is_ignored_and_pruned() {
    let t = TempDir::new().unwrap();
    write_snapshot(t.path(), 4, b"four").unwrap();
    let tmp = t.path().join(format!("{}.tmp", snapshot_file_name(99)));
    fs::write(&tmp, b"half a snapshot").unwrap();
    let s = load_snapshot(t.path(), false).unwrap().unwrap();
    assert_eq!(s.lsn, 4);
    prune_snapshots(t.path(), 3).unwrap();
    assert!(!tmp.exists());
    assert_eq!(names(t.path()), vec![snapshot_file_name(4)]);
}

#[test]
fn prune_keeps_newest_n_valid() {
    let t = TempDir::new().unwrap();
    for lsn in [10u64, 20, 30, 40, 50] {
        write_snapshot(t.path(), lsn, &lsn.to_le_bytes()).unwrap();
    }
    prune_snapshots(t.path(), 2).unwrap();
    assert_eq!(
        names(t.path()),
        vec![snapshot_file_name(40), snapshot_file_name(50)]
    );

    // A damaged newest one does not count as kept and is left for inspection.
    write_snapshot(t.path(), 60, b"sixty").unwrap();
    let p60 = t.path().join(snapshot_file_name(60));
    let mut d = fs::read(&p60).unwrap();
    let last = d.len() - 1;
    d[last] ^= 0xff;
    fs::write(&p60, d).unwrap();
    prune_snapshots(t.path(), 1).unwrap();
    assert_eq!(
        names(t.path()),
        vec![snapshot_file_name(50), snapshot_file_name(60)]
    );

    assert!(matches!(
        prune_snapshots(t.path(), 0),
        Err(StoreError::InvalidArgument(_))
    ));
}
