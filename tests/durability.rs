//! Durability: restarts, SIGKILL at random moments, damaged files.

mod common;
use common::*;
use identityd::api::*;
use identityd::client::{connect, ctx};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

async fn all_users(
    c: &identityd::client::IdentityClient,
    key: &Credential,
    domain_id: &str,
) -> BTreeMap<String, UserInfo> {
    let q = UserQuery {
        domain_id: domain_id.into(),
        query: Some(identityd::value!({"page": {"limit": 100000}})),
        ..Default::default()
    };
    let l = c.user_list(ctx(), key.clone(), q).await.unwrap().unwrap();
    l.results
        .into_iter()
        .map(|u| (u.user_id.clone(), u))
        .collect()
}

#[tokio::test]
async fn a_clean_restart_brings_back_exactly_the_same_state() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    for i in 0..50 {
        let mut r = new_user(&d.id, &format!("u{i}@acme.io"));
        r.tags = Some(identityd::value!({"n": i}));
        call!(c.user_create(ctx(), d.admin.clone(), r)).unwrap();
    }
    call!(c.user_disable(ctx(), d.admin.clone(), user_req(&d.id, "u3@acme.io"))).unwrap();
    call!(c.user_delete(ctx(), d.admin.clone(), user_req(&d.id, "u4@acme.io"))).unwrap();
    let gone = domain(&c, &s.key, "gone").await;
    call!(c.domain_delete(
        ctx(),
        s.key.clone(),
        DomainRequest {
            domain_id: gone.id.clone()
        }
    ))
    .unwrap();
    let before = all_users(&c, &s.key, &d.id).await;
    let key = s.key.clone();
    let dir = s.stop();

    let s = TestServer::start_in(dir, |_| {});
    let c = s.client().await;
    assert_eq!(all_users(&c, &key, &d.id).await, before);
    // The token signing key survived: the admin's old token still works.
    let g = GetUserRequest {
        user_id: "u3@acme.io".into(),
        domain_id: d.id.clone(),
        only: None,
    };
    assert_eq!(
        call!(c.user_get(ctx(), d.admin.clone(), g)).unwrap().state,
        Some(UserState::Disabled)
    );
    assert_code!(
        call!(c.domain_get(ctx(), key.clone(), DomainRequest { domain_id: gone.id })),
        NotFound
    );
    // The deleted domain's name is free; passwords still verify after recovery.
    domain(&c, &key, "gone").await;
    login(&c, &d.id, "u7@acme.io", PW).await.unwrap();
}

#[tokio::test]
async fn a_second_process_cannot_open_the_same_data_dir() {
    let s = TestServer::start();
    let err = match identityd::server::Server::start(
        test_config(s.dir.path()),
        identityd::model::clock::ManualClock::new(T0),
    ) {
        Ok(_) => panic!("a second server started on the same data dir"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("in use"), "{err}");
}

/// What a writer knows about one user: the versions it saw acknowledged and the one in flight.
#[derive(Default, Clone)]
struct Known {
    created: bool,
    acked_version: Option<u32>,
    attempted_version: Option<u32>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments and frequent snapshots: kills land during rolls and snapshot writes too.
    let extra = [
        "--snapshot-interval",
        "1",
        "--snapshot-log-bytes",
        "1048576",
    ];
    let p = spawn_binary(dir.path(), &extra).unwrap();
    let key = system_key(dir.path());
    let c = connect(p.rpc.as_str()).await.unwrap();
    let d = domain(&c, &key, "crash").await;
    drop(c);
    p.kill9();

    let known: Arc<Mutex<BTreeMap<String, Known>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut iterations = 0;
    let mut rng_state: u64 = 0x9E3779B97F4A7C15;
    let mut next = move || {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state
    };
    while iterations < 12 && Instant::now() < deadline {
        iterations += 1;
        let p = spawn_binary(dir.path(), &extra).unwrap();
        let c = connect(p.rpc.as_str()).await.unwrap();
        // Everything acknowledged before every earlier kill is here, exactly.
        let so_far = known.lock().unwrap().clone();
        check(&c, &key, &d.id, &so_far).await;

        let mut writers = Vec::new();
        for w in 0..8 {
            let c = connect(p.rpc.as_str()).await.unwrap();
            let (key, did, known) = (key.clone(), d.id.clone(), known.clone());
            writers.push(tokio::spawn(async move {
                for n in 0.. {
                    let uid = format!("i{iterations}-w{w}-{n}@x.io");
                    known.lock().unwrap().insert(uid.clone(), Known::default());
                    let mut r = new_user(&did, &uid);
                    r.name = Some("v0".into());
                    r.password = None;
                    r.user_type = Some(UserType::ApiUser);
                    r.user_id = uid.clone();
                    match c.user_create(ctx(), key.clone(), r).await {
                        Ok(Ok(_)) => {
                            let mut k = known.lock().unwrap();
                            let e = k.get_mut(&uid).unwrap();
                            e.created = true;
                            e.acked_version = Some(0);
                        }
                        _ => return,
                    }
                    for v in 1..=3u32 {
                        known
                            .lock()
                            .unwrap()
                            .get_mut(&uid)
                            .unwrap()
                            .attempted_version = Some(v);
                        let up = UpdateUserRequest {
                            user_id: uid.clone(),
                            domain_id: did.clone(),
                            name: Some(format!("v{v}")),
                            ..Default::default()
                        };
                        match c.user_update(ctx(), key.clone(), up).await {
                            Ok(Ok(_)) => {
                                known.lock().unwrap().get_mut(&uid).unwrap().acked_version = Some(v)
                            }
                            _ => return,
                        }
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(100 + next() % 700)).await;
        p.kill9();
        for w in writers {
            let _ = w.await;
        }
    }
    let p = spawn_binary(dir.path(), &extra).unwrap();
    let c = connect(p.rpc.as_str()).await.unwrap();
    let k = known.lock().unwrap().clone();
    check(&c, &key, &d.id, &k).await;
    let acked = k.values().filter(|v| v.created).count();
    assert!(
        iterations >= 3 && acked > 100,
        "the test did real work: {iterations} kills, {acked} users"
    );
    p.term();
}

async fn check(
    c: &identityd::client::IdentityClient,
    key: &Credential,
    did: &str,
    known: &BTreeMap<String, Known>,
) {
    let users = all_users(c, key, did).await;
    for (uid, k) in known {
        match users.get(uid) {
            None => assert!(!k.created, "{uid}: an acknowledged create was lost"),
            Some(u) => {
                let v: u32 = u
                    .name
                    .as_deref()
                    .and_then(|n| n.strip_prefix('v'))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("{uid}: half-applied record: {u:?}"));
                let acked = k.acked_version.unwrap_or(0);
                let attempted = k.attempted_version.unwrap_or(0).max(acked);
                assert!(
                    v >= acked && v <= attempted,
                    "{uid}: version {v}, acknowledged {acked}, attempted {attempted}"
                );
                assert_eq!(u.user_type, Some(UserType::ApiUser), "{uid}: fields intact");
            }
        }
    }
    // Nothing exists that no writer attempted.
    for uid in users.keys().filter(|u| u.starts_with('i')) {
        assert!(known.contains_key(uid), "{uid} appeared from nowhere");
    }
}

/// Writes a few records through the real binary and stops it with SIGKILL (no final snapshot).
async fn populate(dir: &std::path::Path, users: usize) -> String {
    let p = spawn_binary(dir, &[]).unwrap();
    let key = system_key(dir);
    let c = connect(p.rpc.as_str()).await.unwrap();
    let d = domain(&c, &key, "acme").await;
    for i in 0..users {
        call!(c.user_create(
            ctx(),
            d.admin.clone(),
            new_user(&d.id, &format!("u{i}@acme.io"))
        ))
        .unwrap();
    }
    p.kill9();
    d.id
}

fn segment(dir: &std::path::Path) -> std::path::PathBuf {
    let mut segs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name().unwrap().to_str().unwrap().starts_with("wal-")
                && p.extension().is_some_and(|e| e == "log")
        })
        .collect();
    segs.sort();
    segs.remove(0)
}

#[tokio::test]
async fn a_flipped_byte_mid_log_stops_startup_naming_file_and_offset_until_repair() {
    let dir = tempfile::tempdir().unwrap();
    let did = populate(dir.path(), 5).await;
    let seg = segment(dir.path());
    let mut bytes = std::fs::read(&seg).unwrap();
    // Flip a payload byte of the first record (after the 24-byte header and 16-byte frame).
    bytes[24 + 16 + 10] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();

    let err = spawn_binary(dir.path(), &[])
        .err()
        .expect("startup must refuse a corrupt log");
    assert!(
        err.contains(seg.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
    assert!(err.contains("offset"), "{err}");
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_identityd"))
        .args(["verify-data", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!verify.status.success());
    assert!(String::from_utf8_lossy(&verify.stdout).contains("offset"));

    // With --repair it starts, truncating at the first bad record (here: the domain's creation).
    let p = spawn_binary(dir.path(), &["--repair"]).unwrap();
    let c = connect(p.rpc.as_str()).await.unwrap();
    let key = system_key(dir.path());
    assert_code!(
        call!(c.domain_get(ctx(), key, DomainRequest { domain_id: did })),
        NotFound
    );
    p.term();
}

#[tokio::test]
async fn a_torn_tail_is_truncated_and_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    let did = populate(dir.path(), 3).await;
    let seg = segment(dir.path());
    let bytes = std::fs::read(&seg).unwrap();
    let end = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
    // Half-write the last record: zero its last 20 bytes (as if the sector never reached disk).
    let mut torn = bytes.clone();
    for b in &mut torn[end - 20..end] {
        *b = 0;
    }
    std::fs::write(&seg, &torn).unwrap();
    let p = spawn_binary(dir.path(), &[]).unwrap();
    let c = connect(p.rpc.as_str()).await.unwrap();
    let key = system_key(dir.path());
    let users = all_users(&c, &key, &did).await;
    assert_eq!(
        users.len(),
        3,
        "admin + 2 users: the torn last record is gone, the rest is intact"
    );
    p.term();
    let saved: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".torn-"))
        .collect();
    assert_eq!(saved.len(), 1, "the cut bytes are kept: {saved:?}");
}

#[tokio::test]
async fn a_damaged_snapshot_stops_startup_unless_repair_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = spawn_binary(dir.path(), &[]).unwrap();
    let key = system_key(dir.path());
    let c = connect(p.rpc.as_str()).await.unwrap();
    let d = domain(&c, &key, "acme").await;
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, "a@acme.io"))).unwrap();
    call!(c.system_snapshot(ctx(), key.clone(), Empty {})).unwrap();
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, "b@acme.io"))).unwrap();
    let newest = call!(c.system_snapshot(ctx(), key.clone(), Empty {})).unwrap();
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, "c@acme.io"))).unwrap();
    p.kill9();

    let bytes = std::fs::read(&newest.path).unwrap();
    std::fs::write(&newest.path, &bytes[..bytes.len() / 2]).unwrap();
    let err = spawn_binary(dir.path(), &[])
        .err()
        .expect("startup must refuse a damaged snapshot");
    assert!(err.contains("snap-"), "{err}");

    // Repair falls back to the previous snapshot and replays the log kept since it: nothing lost.
    let p = spawn_binary(dir.path(), &["--repair"]).unwrap();
    let c = connect(p.rpc.as_str()).await.unwrap();
    let users = all_users(&c, &key, &d.id).await;
    assert!(
        ["a@acme.io", "b@acme.io", "c@acme.io"]
            .iter()
            .all(|u| users.contains_key(*u)),
        "{:?}",
        users.keys()
    );
    p.term();
}

#[tokio::test]
async fn a_missing_segment_or_wrong_magic_stops_startup() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 2).await;
    let seg = segment(dir.path());
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[0] = b'X';
    std::fs::write(&seg, &bytes).unwrap();
    let err = spawn_binary(dir.path(), &[])
        .err()
        .expect("wrong magic must stop startup");
    assert!(
        err.contains(seg.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    // Many small segments, then remove one in the middle.
    let p = spawn_binary(dir.path(), &["--wal-segment-bytes", "4096"]).unwrap();
    let key = system_key(dir.path());
    let c = connect(p.rpc.as_str()).await.unwrap();
    let d = domain(&c, &key, "acme").await;
    for i in 0..60 {
        call!(c.user_create(
            ctx(),
            d.admin.clone(),
            new_user(&d.id, &format!("u{i}@acme.io"))
        ))
        .unwrap();
    }
    p.kill9();
    let mut segs: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segs.sort();
    assert!(segs.len() >= 3, "{segs:?}");
    std::fs::remove_file(&segs[1]).unwrap();
    let err = spawn_binary(dir.path(), &["--wal-segment-bytes", "4096"])
        .err()
        .expect("a missing segment must stop startup");
    assert!(
        err.to_lowercase().contains("missing") || err.contains("gap"),
        "{err}"
    );
}

#[tokio::test]
async fn sigterm_writes_a_final_snapshot_and_the_next_start_replays_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = spawn_binary(dir.path(), &["--snapshot-interval", "0"]).unwrap();
    let key = system_key(dir.path());
    let c = connect(p.rpc.as_str()).await.unwrap();
    let d = domain(&c, &key, "acme").await;
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, "a@acme.io"))).unwrap();
    assert!(p.term().success());
    let snaps = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .starts_with("snap-")
        })
        .count();
    assert_eq!(snaps, 1);
    let p = spawn_binary(dir.path(), &[]).unwrap();
    let c = connect(p.rpc.as_str()).await.unwrap();
    assert!(all_users(&c, &key, &d.id).await.contains_key("a@acme.io"));
    p.term();
}
