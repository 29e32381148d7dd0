//! `identityd-bench memory`: RSS per user, snapshot size and cold restart time.
//!
//! The state is built offline with the store API (not through the server): one domain with N
//! fixture users (`identityd::fixtures::user`, realistic field sizes and a 97-byte argon2id PHC
//! string each) is written as a snapshot, then a WAL tail of renames is appended after it. The
//! real `identityd serve` is then started on that data dir and timed until its ready line (which
//! it prints after recovery: snapshot load + WAL replay), and its VmRSS is read from /proc.

use crate::spawn::{self, TempDir};
use anyhow::{Context as _, bail};
use identityd::api::*;
use identityd::client::{connect, ctx};
use identityd::fixtures;
use identityd::model::state::DomainImage;
use identityd::store::recovery::{SNAPSHOT_IMAGE_VERSION, SnapshotImage, write_image};
use identityd::store::{Wal, WalOptions};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DOMAIN_ID: &str = "domain-0123456789ab";

#[derive(clap::Args, Debug)]
pub struct MemoryArgs {
    /// User counts to measure, comma-separated
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    pub users: Vec<usize>,
    /// Records in the WAL after the snapshot (each renames a random user: a full after-image)
    #[arg(long, default_value_t = 100_000)]
    pub wal_tail: usize,
    /// Also restart once with the page cache dropped (`echo 1 > /proc/sys/vm/drop_caches`; root)
    #[arg(long)]
    pub drop_caches: bool,
    /// The identityd binary [default: next to identityd-bench]
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Print the report as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Keep the data dirs
    #[arg(long)]
    pub keep_data: bool,
    /// Only write the data dir(s) (snapshot + WAL tail) and print where: for profiling recovery
    #[arg(long)]
    pub prepare_only: bool,
    /// Flags for identityd serve (after `--`)
    #[arg(last = true)]
    pub server_args: Vec<String>,
}

#[derive(Serialize, Debug)]
struct SizeReport {
    users: usize,
    snapshot_bytes: u64,
    snapshot_write_s: f64,
    wal_records: usize,
    wal_bytes: u64,
    wal_write_s: f64,
    /// Spawn to ready line, snapshot and log files in the page cache (just written).
    restart_warm_s: f64,
    snapshot_load_ms: Option<u64>,
    recovery_ms: Option<u64>,
    rss_kib: u64,
    peak_rss_kib: u64,
    /// (RSS - RSS of an empty server) / users.
    rss_per_user_bytes: f64,
    /// RSS growth of this process building the same `DomainState` through `apply` / users.
    inproc_state_bytes_per_user: f64,
    /// Spawn to ready line after dropping the page cache (with --drop-caches).
    restart_cold_s: Option<f64>,
    recovery_cold_ms: Option<u64>,
    /// SIGTERM to exit: includes the final snapshot of every user.
    stop_s: f64,
}

#[derive(Serialize, Debug)]
struct MemoryReport {
    tool: &'static str,
    mode: &'static str,
    build: &'static str,
    empty_rss_kib: u64,
    server_args: Vec<String>,
    sizes: Vec<SizeReport>,
}

pub fn main(args: MemoryArgs) -> anyhow::Result<()> {
    let bin = spawn::server_bin(args.server_bin.as_deref())?;
    anyhow::ensure!(
        args.users.iter().all(|n| (1..=20_000_000).contains(n)),
        "--users: each count must be 1..=20000000"
    );
    anyhow::ensure!(args.wal_tail <= 10_000_000, "--wal-tail is at most 10^7");

    if args.prepare_only {
        for &n in &args.users {
            let mut dir = TempDir::new(&format!("mem-{n}"))?;
            dir.keep = true;
            prepare(&args, &dir.path, n)?;
            println!("{}", dir.path.display());
        }
        return Ok(());
    }
    let empty = {
        let dir = TempDir::new("mem-empty")?;
        let s = start(&bin, &dir.path, &args.server_args)?;
        std::thread::sleep(Duration::from_millis(500));
        let (rss, _) = s.rss_kib().context("reading /proc/<pid>/status")?;
        s.stop(Duration::from_secs(60))?;
        rss
    };
    eprintln!("identityd-bench memory: empty server RSS {empty} KiB");

    let mut sizes = Vec::new();
    for &n in &args.users {
        let mut dir = TempDir::new(&format!("mem-{n}"))?;
        dir.keep = args.keep_data;
        sizes.push(measure(&args, &bin, &dir.path, n, empty)?);
        if args.keep_data {
            eprintln!("  data dir kept: {}", dir.path.display());
        }
    }

    eprintln!(
        "  {:>9} {:>10} {:>8} {:>8} {:>10} {:>9} {:>9} {:>10} {:>10} {:>9} {:>9} {:>7}",
        "users",
        "snap MB",
        "wal MB",
        "ready s",
        "recov ms",
        "RSS MB",
        "peak MB",
        "B/user",
        "apply B/u",
        "cold s",
        "cold ms",
        "stop s"
    );
    for s in &sizes {
        eprintln!(
            "  {:>9} {:>10.1} {:>8.1} {:>8.3} {:>10} {:>9.1} {:>9.1} {:>10.0} {:>10.0} {:>9} {:>9} {:>7.2}",
            s.users,
            s.snapshot_bytes as f64 / 1e6,
            s.wal_bytes as f64 / 1e6,
            s.restart_warm_s,
            s.recovery_ms.map_or("-".into(), |v| v.to_string()),
            s.rss_kib as f64 / 1024.0,
            s.peak_rss_kib as f64 / 1024.0,
            s.rss_per_user_bytes,
            s.inproc_state_bytes_per_user,
            s.restart_cold_s.map_or("-".into(), |v| format!("{v:.3}")),
            s.recovery_cold_ms.map_or("-".into(), |v| v.to_string()),
            s.stop_s
        );
    }
    if args.json {
        let r = MemoryReport {
            tool: "identityd-bench",
            mode: "memory",
            build: "offline: snapshot + WAL tail written with the store API, then identityd serve",
            empty_rss_kib: empty,
            server_args: args.server_args.clone(),
            sizes,
        };
        println!("{}", serde_json::to_string_pretty(&r)?);
    }
    Ok(())
}

fn start(bin: &Path, dir: &Path, extra: &[String]) -> anyhow::Result<spawn::Server> {
    // JSON logs: the recovery timings are read from them.
    let mut flags = extra.to_vec();
    if !flags.iter().any(|f| f.starts_with("--log-format")) {
        flags.extend(["--log-format".to_owned(), "json".to_owned()]);
    }
    spawn::Spawn {
        bin,
        data_dir: dir,
        extra: &flags,
        tiny_argon2: false,
        log_filter: "info",
        capture_log: true,
    }
    .start()
}

/// The `ms` field of the first JSON log line whose message is `what`.
fn log_ms(s: &spawn::Server, what: &str) -> Option<u64> {
    let log = s.log.lock().ok()?;
    log.iter().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        let f = v.get("fields")?;
        (f.get("message")?.as_str()? == what).then(|| f.get("ms")?.as_u64())?
    })
}

/// What writing a data dir took.
struct Prepared {
    snapshot_bytes: u64,
    snapshot_write_s: f64,
    wal_bytes: u64,
    wal_write_s: f64,
    /// The user the last log record renamed (to check replay).
    last_renamed: Option<usize>,
}

fn measure(
    args: &MemoryArgs,
    bin: &Path,
    dir: &Path,
    n: usize,
    empty_rss: u64,
) -> anyhow::Result<SizeReport> {
    // The same users built through `apply` in this process on a fresh heap: what the structures
    // themselves cost, without recovery's freed-but-retained memory.
    let before = self_rss_kib()?;
    let state = fixtures::domain_state(DOMAIN_ID, n);
    let inproc = self_rss_kib()?.saturating_sub(before);
    drop(state);
    let inproc_state_bytes_per_user = (inproc as f64 * 1024.0 / n as f64).round();

    let Prepared {
        snapshot_bytes,
        snapshot_write_s,
        wal_bytes,
        wal_write_s,
        last_renamed,
    } = prepare(args, dir, n)?;

    eprintln!("identityd-bench memory: {n} users: starting identityd");
    let s = start(bin, dir, &args.server_args)?;
    let restart_warm_s = s.ready_after.as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    let (rss_kib, peak_rss_kib) = s.rss_kib().context("reading /proc/<pid>/status")?;
    verify(&s, n, last_renamed)?;
    let snapshot_load_ms = log_ms(&s, "loaded snapshot");
    let recovery_ms = log_ms(&s, "recovery complete");

    let (s, restart_cold_s, recovery_cold_ms) = if args.drop_caches {
        // SIGKILL leaves the data dir as it was (no final snapshot): the same recovery again.
        s.kill();
        drop_page_cache()?;
        let s = start(bin, dir, &args.server_args)?;
        let cold = s.ready_after.as_secs_f64();
        let ms = log_ms(&s, "recovery complete");
        (s, Some(cold), ms)
    } else {
        (s, None, None)
    };
    let stop_s = s.stop(Duration::from_secs(300))?.as_secs_f64();
    let r = SizeReport {
        users: n,
        snapshot_bytes,
        snapshot_write_s,
        wal_records: args.wal_tail,
        wal_bytes,
        wal_write_s,
        restart_warm_s,
        snapshot_load_ms,
        recovery_ms,
        rss_kib,
        peak_rss_kib,
        inproc_state_bytes_per_user,
        rss_per_user_bytes: (rss_kib.saturating_sub(empty_rss) as f64 * 1024.0 / n as f64).round(),
        restart_cold_s,
        recovery_cold_ms,
        stop_s,
    };
    Ok(r)
}

/// Writes the snapshot of `n` fixture users and the WAL tail after it into `dir`.
fn prepare(args: &MemoryArgs, dir: &Path, n: usize) -> anyhow::Result<Prepared> {
    eprintln!("identityd-bench memory: {n} users: writing the snapshot");
    let covered = n as u64 + 1;
    let t = Instant::now();
    let path = {
        let image = SnapshotImage {
            version: SNAPSHOT_IMAGE_VERSION,
            covered_lsn: covered,
            domains: vec![DomainImage {
                domain: fixtures::domain(DOMAIN_ID),
                seq: covered,
                users: (0..n).map(fixtures::user).collect(),
                bindings: Vec::new(),
                roles: Vec::new(),
                workspaces: Vec::new(),
                groups: Vec::new(),
            }],
            tombstones: Vec::new(),
        };
        write_image(dir, &image)?
    };
    let snapshot_write_s = t.elapsed().as_secs_f64();
    let snapshot_bytes = std::fs::metadata(&path)?.len();

    eprintln!(
        "identityd-bench memory: {n} users: appending {} WAL records",
        args.wal_tail
    );
    let t = Instant::now();
    let mut wal_bytes = 0u64;
    let mut last_renamed = None;
    {
        let (mut wal, _) = Wal::open(dir, WalOptions::default(), covered, false)?;
        for j in 0..args.wal_tail {
            let i = (fixtures::mix(j as u64) % n as u64) as usize;
            let r = fixtures::rename_record(DOMAIN_ID, covered + 1 + j as u64, i, j as u64);
            let bytes = r.encode()?;
            wal_bytes += bytes.len() as u64 + identityd::store::RECORD_HEADER_LEN as u64;
            wal.append(&bytes)?;
            last_renamed = Some(i);
        }
        wal.sync()?;
    }
    let wal_write_s = t.elapsed().as_secs_f64();

    Ok(Prepared {
        snapshot_bytes,
        snapshot_write_s,
        wal_bytes,
        wal_write_s,
        last_renamed,
    })
}

/// Checks the restarted server holds every user and the last rename of the log tail.
fn verify(s: &spawn::Server, n: usize, renamed: Option<usize>) -> anyhow::Result<()> {
    let key = Credential::bearer(s.system_key()?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let c = connect(&s.rpc).await?;
        let count = c
            .user_list(
                ctx(),
                key.clone(),
                UserQuery {
                    query: Some(Value::from(serde_json::json!({"count_only": true}))),
                    domain_id: DOMAIN_ID.into(),
                    ..Default::default()
                },
            )
            .await?
            .map_err(|e| anyhow::anyhow!("user_list: {}: {}", e.code, e.message))?;
        if count.total_count != n as u64 {
            bail!(
                "restarted server has {} users, expected {n}",
                count.total_count
            );
        }
        if let Some(i) = renamed {
            let u = c
                .user_get(
                    ctx(),
                    key,
                    GetUserRequest {
                        user_id: fixtures::user_id(i),
                        domain_id: DOMAIN_ID.into(),
                        only: None,
                    },
                )
                .await?
                .map_err(|e| anyhow::anyhow!("user_get: {}: {}", e.code, e.message))?;
            if !u.name.as_deref().unwrap_or("").starts_with("Renamed") {
                bail!("the WAL tail was not replayed: {:?}", u.name);
            }
        }
        Ok(())
    })
}

fn self_rss_kib() -> anyhow::Result<u64> {
    let text = std::fs::read_to_string("/proc/self/status")?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS in /proc/self/status")
}

fn drop_page_cache() -> anyhow::Result<()> {
    let _ = std::process::Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "1\n")
        .context("dropping the page cache (needs root; omit --drop-caches)")
}
