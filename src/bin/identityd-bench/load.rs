//! `identityd-bench run`: setup, the ping baseline, the workload (optionally with a background
//! workload such as a login storm), the Redis baseline, and the report.

use crate::redis;
use crate::report::{self, Latency, Ratio, Stats};
use crate::spawn::{self, TempDir};
use anyhow::{Context as _, bail};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use hdrhistogram::Histogram;
use identityd::api::*;
use identityd::client::{IdentityClient, connect, ctx};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PASSWORD: &str = "Bench-Passw0rd!";
const ADMIN: &str = "admin@bench.example.com";
/// No phase runs longer than this, whatever `-n` says.
const MAX_PHASE: Duration = Duration::from_secs(600);

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// identityd RPC address to connect to (else a server is spawned, as with --spawn)
    #[arg(long, conflicts_with = "spawn")]
    pub addr: Option<String>,
    /// Start `identityd serve` (the sibling binary) on a temp data dir; flags after `--` are
    /// passed to it (tiny argon2 parameters are added unless one of them sets `--argon2-*`)
    #[arg(long)]
    pub spawn: bool,
    /// The identityd binary for --spawn [default: next to identityd-bench]
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// System key file of the --addr server
    #[arg(long, default_value = "./snapshots/system.key")]
    pub system_key_file: PathBuf,
    /// Workload: ping | get | list | update | create | login | mix
    #[arg(short, long, default_value = "get")]
    pub workload: String,
    /// Weights of the mix workload, e.g. get=90,update=8,login=2
    #[arg(long, default_value = "get=90,update=10")]
    pub mix: String,
    /// Connections
    #[arg(short, long, default_value_t = 4)]
    pub connections: usize,
    /// Requests in flight per connection
    #[arg(short = 'k', long, default_value_t = 1)]
    pub inflight: usize,
    /// Measured seconds per phase
    #[arg(short, long, default_value_t = 5.0)]
    pub duration: f64,
    /// Measure this many requests instead of a duration (still stops after 600 s)
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Requests per second of every measured phase, all connections together (0: as fast as the
    /// c x k requests in flight allow). Leaves CPU to other work, e.g. a login storm
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Rounds of (ping, workload) phases, merged: evens out a shared machine's load drift
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Warm-up seconds before each measured phase (not recorded)
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Users created by the setup (each with a password, two tags, name, email)
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
    /// Credential of the requests: admin (a DOMAIN_ADMIN access token) | system (the system key)
    #[arg(long, default_value = "admin")]
    pub cred: String,
    /// The list workload's query (JSON)
    #[arg(
        long,
        default_value = r#"{"filter":[{"k":"tags.team","v":"team-7","o":"eq"}],"page":{"start":1,"limit":10}}"#
    )]
    pub list_query: String,
    /// Skip the ping baseline
    #[arg(long)]
    pub no_ping: bool,
    /// Redis baseline: auto (when redis-server and redis-benchmark are on PATH) | on | off.
    /// get/list → HGETALL of a user hash, update/create → HSET; other workloads have none
    #[arg(long, default_value = "auto")]
    pub redis: String,
    /// redis-benchmark clients [default: connections x inflight, at most 1000]
    #[arg(long)]
    pub redis_clients: Option<usize>,
    /// appendfsync of the Redis baseline for writes: always | everysec | no
    #[arg(long, default_value = "always")]
    pub redis_fsync: String,
    /// A workload run at the same time as the measured one (e.g. login for a login storm)
    #[arg(long)]
    pub bg_workload: Option<String>,
    /// Connections of the background workload
    #[arg(long, default_value_t = 2)]
    pub bg_connections: usize,
    /// Requests in flight per background connection
    #[arg(long, default_value_t = 32)]
    pub bg_inflight: usize,
    /// Client runtime threads (1 leaves the other core to a one-thread server)
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Pid of the --addr server, to report its CPU time per request (known when spawned)
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print the report as JSON on stdout (the table goes to stderr either way)
    #[arg(long)]
    pub json: bool,
    /// Keep the spawned server's data dir
    #[arg(long)]
    pub keep_data: bool,
    /// Seed of the request generator
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Flags for the spawned identityd (after `--`), e.g. -- --fsync always
    #[arg(last = true)]
    pub server_args: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Ping,
    Get,
    List,
    Update,
    Create,
    Login,
}

impl Op {
    fn parse(s: &str) -> anyhow::Result<Op> {
        Ok(match s {
            "ping" => Op::Ping,
            "get" => Op::Get,
            "list" => Op::List,
            "update" => Op::Update,
            "create" => Op::Create,
            "login" => Op::Login,
            _ => bail!("unknown workload {s:?} (ping|get|list|update|create|login|mix)"),
        })
    }
}

/// Weighted operations; a single workload is a mix of one.
#[derive(Debug, Clone, Serialize)]
pub struct Mix {
    pub ops: Vec<(Op, u32)>,
    #[serde(skip)]
    total: u32,
}

impl Mix {
    fn one(op: Op) -> Mix {
        Mix {
            ops: vec![(op, 1)],
            total: 1,
        }
    }
    fn parse(workload: &str, mix: &str) -> anyhow::Result<Mix> {
        if workload != "mix" {
            return Ok(Mix::one(Op::parse(workload)?));
        }
        let mut ops = Vec::new();
        for part in mix.split(',').filter(|p| !p.trim().is_empty()) {
            let (name, w) = part
                .split_once('=')
                .with_context(|| format!("--mix entry {part:?} is not name=weight"))?;
            let w: u32 = w
                .trim()
                .parse()
                .with_context(|| format!("--mix weight {w:?}"))?;
            if w > 0 {
                ops.push((Op::parse(name.trim())?, w));
            }
        }
        let total: u32 = ops.iter().map(|(_, w)| w).sum();
        if total == 0 {
            bail!("--mix has no positive weight");
        }
        Ok(Mix { ops, total })
    }
    fn pick(&self, r: u64) -> Op {
        let mut x = (r % u64::from(self.total)) as u32;
        for (op, w) in &self.ops {
            if x < *w {
                return *op;
            }
            x -= w;
        }
        self.ops[0].0
    }
    fn name(&self) -> String {
        if self.ops.len() == 1 {
            return format!("{:?}", self.ops[0].0).to_lowercase();
        }
        let parts: Vec<String> = self
            .ops
            .iter()
            .map(|(o, w)| format!("{}={w}", format!("{o:?}").to_lowercase()))
            .collect();
        format!("mix({})", parts.join(","))
    }
    fn has(&self, op: Op) -> bool {
        self.ops.iter().any(|(o, _)| *o == op)
    }
}

/// What every request generator shares.
struct Shared {
    domain_id: String,
    cred: Credential,
    users: Vec<String>,
    list_query: Value,
    nonce: String,
    created: AtomicU64,
    renamed: AtomicU64,
    server_pid: Option<u32>,
}

enum Outcome {
    Ok,
    Api(ErrorCode),
    Transport,
}

fn api<T>(r: Result<ApiResult<T>, tarpc::client::RpcError>) -> Outcome {
    match r {
        Ok(Ok(_)) => Outcome::Ok,
        Ok(Err(e)) => Outcome::Api(e.code),
        Err(_) => Outcome::Transport,
    }
}

/// A small fast generator (xorshift64*); quality is irrelevant here.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn request<'a>(c: &'a IdentityClient, sh: &'a Shared, op: Op, r: u64) -> BoxFuture<'a, Outcome> {
    let user = || sh.users[(r % sh.users.len() as u64) as usize].clone();
    match op {
        Op::Ping => Box::pin(async move {
            match c.ping(ctx()).await {
                Ok(()) => Outcome::Ok,
                Err(_) => Outcome::Transport,
            }
        }),
        Op::Get => {
            let req = GetUserRequest {
                user_id: user(),
                domain_id: sh.domain_id.clone(),
                only: None,
            };
            Box::pin(async move { api(c.user_get(ctx(), sh.cred.clone(), req).await) })
        }
        Op::List => {
            let req = UserQuery {
                query: Some(sh.list_query.clone()),
                domain_id: sh.domain_id.clone(),
                ..Default::default()
            };
            Box::pin(async move { api(c.user_list(ctx(), sh.cred.clone(), req).await) })
        }
        Op::Update => {
            let n = sh.renamed.fetch_add(1, Ordering::Relaxed);
            let uid = user();
            let req = UpdateUserRequest {
                name: Some(format!("Renamed {} #{n}", &uid[..11])),
                user_id: uid,
                domain_id: sh.domain_id.clone(),
                ..Default::default()
            };
            Box::pin(async move { api(c.user_update(ctx(), sh.cred.clone(), req).await) })
        }
        Op::Create => {
            let n = sh.created.fetch_add(1, Ordering::Relaxed);
            let req = new_user(
                &sh.domain_id,
                format!("new{n}-{}@bench.example.com", sh.nonce),
                n as usize,
            );
            Box::pin(async move { api(c.user_create(ctx(), sh.cred.clone(), req).await) })
        }
        Op::Login => {
            let req = IssueTokenRequest {
                domain_id: sh.domain_id.clone(),
                credentials: Credentials {
                    user_id: user(),
                    password: PASSWORD.into(),
                },
                ..Default::default()
            };
            Box::pin(async move { api(c.token_issue(ctx(), Credential::none(), req).await) })
        }
    }
}

/// A user as the setup and the create workload make it: the fields of `fixtures::user`.
fn new_user(domain_id: &str, user_id: String, i: usize) -> CreateUserRequest {
    let tags = serde_json::json!({
        "team": format!("team-{}", i % identityd::fixtures::TEAMS),
        "role": "engineer",
    });
    CreateUserRequest {
        email: Some(user_id.clone()),
        user_id,
        domain_id: domain_id.to_owned(),
        password: Some(PASSWORD.into()),
        name: Some(format!("Bench User {i}")),
        language: Some("en".into()),
        timezone: Some("Asia/Seoul".into()),
        tags: Some(Value::from(tags)),
        ..Default::default()
    }
}

/// When a phase issues requests.
struct Control {
    measure_from: Instant,
    end: Option<Instant>,
    /// Measured requests left to issue (count mode).
    budget: Option<AtomicI64>,
    stop: AtomicBool,
    hard_end: Instant,
    /// Time between two requests of one connection (--rate).
    interval: Option<Duration>,
}

impl Control {
    fn may_issue(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= self.hard_end {
            return false;
        }
        if let Some(end) = self.end {
            return now < end;
        }
        if let Some(b) = &self.budget
            && now >= self.measure_from
        {
            return b.fetch_sub(1, Ordering::Relaxed) > 0;
        }
        true
    }
}

struct ConnStats {
    hist: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
    last_end: Option<Instant>,
}

async fn drive(
    client: IdentityClient,
    sh: Arc<Shared>,
    mix: Arc<Mix>,
    k: usize,
    ctl: Arc<Control>,
    seed: u64,
) -> ConnStats {
    let mut rng = Rng(seed | 1);
    let mut st = ConnStats {
        hist: report::histogram(),
        ok: 0,
        errors: BTreeMap::new(),
        last_end: None,
    };
    let mut inflight = FuturesUnordered::new();
    // With --rate, each request waits for its slot in this connection's schedule (tokio's
    // timer has 1 ms resolution: requests leave in small bursts); latency is measured from
    // when it is sent.
    let interval = ctl.interval;
    let mut next_at = Instant::now();
    let mut issue = |rng: &mut Rng| {
        let at = interval.map(|i| {
            next_at = (next_at + i).max(Instant::now());
            next_at
        });
        let op = mix.pick(rng.next());
        let fut = request(&client, &sh, op, rng.next());
        async move {
            if let Some(at) = at {
                tokio::time::sleep_until(at.into()).await;
            }
            let t0 = Instant::now();
            let out = fut.await;
            (t0, Instant::now(), out)
        }
    };
    for _ in 0..k.max(1) {
        if !ctl.may_issue() {
            break;
        }
        inflight.push(issue(&mut rng));
    }
    while let Some((t0, t1, out)) = inflight.next().await {
        if t0 >= ctl.measure_from && ctl.end.is_none_or(|e| t0 < e) {
            match out {
                Outcome::Ok => {
                    st.ok += 1;
                    let ns = u64::try_from((t1 - t0).as_nanos()).unwrap_or(u64::MAX);
                    st.hist.saturating_record(ns.max(1_000));
                    st.last_end = Some(st.last_end.map_or(t1, |e| e.max(t1)));
                }
                Outcome::Api(code) => *st.errors.entry(code.to_string()).or_default() += 1,
                Outcome::Transport => *st.errors.entry("TRANSPORT".into()).or_default() += 1,
            }
        }
        if ctl.may_issue() {
            inflight.push(issue(&mut rng));
        }
    }
    st
}

/// Runs one phase over `clients` (each with `k` in flight) and adds its results to `acc`.
async fn phase(
    acc: &mut Acc,
    clients: &[IdentityClient],
    k: usize,
    sh: &Arc<Shared>,
    mix: Mix,
    args: &RunArgs,
    seed: u64,
) -> anyhow::Result<()> {
    let ctl = Arc::new(control(args));
    // CPU time of the server and of this process over the measured window (duration mode).
    let cpu = ctl.end.map(|end| {
        let (from, pid) = (ctl.measure_from, sh.server_pid);
        tokio::spawn(async move {
            tokio::time::sleep_until(from.into()).await;
            let a = (pid.and_then(cpu_seconds), cpu_seconds_self());
            tokio::time::sleep_until(end.into()).await;
            let b = (pid.and_then(cpu_seconds), cpu_seconds_self());
            (
                a.0.zip(b.0).map(|(a, b)| b - a),
                a.1.zip(b.1).map(|(a, b)| b - a),
            )
        })
    });
    let handles = spawn_drivers(clients, k, sh, Arc::new(mix), &ctl, seed);
    let mut parts = Vec::new();
    for h in handles {
        parts.push(h.await.context("driver task")?);
    }
    acc.add(&ctl, parts);
    if let Some(t) = cpu {
        let (server, client) = t.await.context("cpu sampler")?;
        acc.server_cpu_s = acc.server_cpu_s.zip(server).map(|(a, b)| a + b);
        acc.client_cpu_s = acc.client_cpu_s.zip(client).map(|(a, b)| a + b);
    } else {
        acc.server_cpu_s = None;
        acc.client_cpu_s = None;
    }
    Ok(())
}

fn control(args: &RunArgs) -> Control {
    let now = Instant::now();
    let measure_from = now + Duration::from_secs_f64(args.warmup.max(0.0));
    let (end, budget) = match args.requests {
        Some(n) => (
            None,
            Some(AtomicI64::new(i64::try_from(n).unwrap_or(i64::MAX))),
        ),
        None => (
            Some(measure_from + Duration::from_secs_f64(args.duration.max(0.05))),
            None,
        ),
    };
    Control {
        measure_from,
        end,
        budget,
        stop: AtomicBool::new(false),
        hard_end: measure_from + MAX_PHASE,
        interval: (args.rate > 0.0)
            .then(|| Duration::from_secs_f64(args.connections as f64 / args.rate)),
    }
}

fn spawn_drivers(
    clients: &[IdentityClient],
    k: usize,
    sh: &Arc<Shared>,
    mix: Arc<Mix>,
    ctl: &Arc<Control>,
    seed: u64,
) -> Vec<tokio::task::JoinHandle<ConnStats>> {
    clients
        .iter()
        .enumerate()
        .map(|(i, c)| {
            tokio::spawn(drive(
                c.clone(),
                sh.clone(),
                mix.clone(),
                k,
                ctl.clone(),
                identityd::fixtures::mix(seed ^ (i as u64) << 32),
            ))
        })
        .collect()
}

/// Results of one or more phases of the same workload (rounds are merged).
struct Acc {
    name: String,
    connections: usize,
    inflight: usize,
    hist: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
    elapsed: Duration,
    server_cpu_s: Option<f64>,
    client_cpu_s: Option<f64>,
}

/// utime + stime of a process in seconds, from /proc (clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> Option<f64> {
    proc_cpu(&format!("/proc/{pid}/stat"))
}

fn cpu_seconds_self() -> Option<f64> {
    proc_cpu("/proc/self/stat")
}

pub fn proc_cpu(path: &str) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesized command name: state is field 3, utime 14, stime 15.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

impl Acc {
    fn new(name: &str, connections: usize, inflight: usize) -> Acc {
        Acc {
            name: name.to_owned(),
            connections,
            inflight,
            hist: report::histogram(),
            ok: 0,
            errors: BTreeMap::new(),
            elapsed: Duration::ZERO,
            server_cpu_s: Some(0.0),
            client_cpu_s: Some(0.0),
        }
    }

    fn add(&mut self, ctl: &Control, parts: Vec<ConnStats>) {
        let mut last_end: Option<Instant> = None;
        for p in parts {
            let _ = self.hist.add(&p.hist);
            self.ok += p.ok;
            for (k, v) in p.errors {
                *self.errors.entry(k).or_default() += v;
            }
            if let Some(e) = p.last_end {
                last_end = Some(last_end.map_or(e, |x| x.max(e)));
            }
        }
        self.elapsed += match ctl.end {
            Some(end) => end - ctl.measure_from,
            None => last_end.map_or(Duration::ZERO, |e| {
                e.saturating_duration_since(ctl.measure_from)
            }),
        };
    }

    fn stats(&self) -> Stats {
        let secs = self.elapsed.as_secs_f64();
        Stats {
            name: self.name.clone(),
            connections: self.connections,
            inflight: self.inflight,
            requests: self.ok,
            errors: self.errors.clone(),
            elapsed_s: report::round3(secs),
            throughput: if secs > 0.0 {
                (self.ok as f64 / secs).round()
            } else {
                0.0
            },
            latency_us: if self.ok > 0 {
                Latency::from_histogram(&self.hist)
            } else {
                Latency::default()
            },
            server_cpu_us_per_req: per_req(self.server_cpu_s, self.ok),
            client_cpu_us_per_req: per_req(self.client_cpu_s, self.ok),
        }
    }
}

fn per_req(cpu_s: Option<f64>, ok: u64) -> Option<f64> {
    let s = cpu_s?;
    (ok > 0 && s > 0.0).then(|| (s * 1e7 / ok as f64).round() / 10.0)
}

#[derive(Serialize)]
struct Report {
    tool: &'static str,
    workload: String,
    config: ConfigOut,
    setup_s: f64,
    result: Stats,
    baselines: Vec<Stats>,
    ratios: Vec<Ratio>,
    background: Option<Stats>,
    disk: Option<DiskProbe>,
}

#[derive(Serialize)]
struct DiskProbe {
    fdatasync_p50_us_before: f64,
    fdatasync_p99_us_before: f64,
    fdatasync_p50_us_after: f64,
    fdatasync_p99_us_after: f64,
}

/// p50 and p99 of 100 fdatasyncs of a 4 KiB overwrite in a preallocated file in `dir` (as the
/// WAL writes), in microseconds. Bounded: stops after 1 s.
fn fsync_probe(dir: &std::path::Path) -> Option<(f64, f64)> {
    use std::io::Write as _;
    use std::os::unix::fs::FileExt as _;
    let path = dir.join(format!(".fsync-probe-{}", std::process::id()));
    let mut f = std::fs::File::create(&path).ok()?;
    let r = (|| {
        f.write_all(&vec![0u8; 1 << 20]).ok()?;
        f.sync_all().ok()?;
        let block = [0x5Au8; 4096];
        let mut lat = Vec::with_capacity(100);
        let started = Instant::now();
        for i in 0..100u64 {
            f.write_all_at(&block, (i % 256) * 4096).ok()?;
            let t = Instant::now();
            f.sync_data().ok()?;
            lat.push(t.elapsed().as_secs_f64() * 1e6);
            if started.elapsed() > Duration::from_secs(1) {
                break;
            }
        }
        lat.sort_by(f64::total_cmp);
        let q = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize].round();
        Some((q(0.5), q(0.99)))
    })();
    let _ = std::fs::remove_file(&path);
    r
}

#[derive(Serialize)]
struct ConfigOut {
    connections: usize,
    inflight: usize,
    duration_s: f64,
    requests: Option<u64>,
    warmup_s: f64,
    users: usize,
    cred: String,
    mix: Mix,
    server: String,
    server_args: Vec<String>,
    client_threads: usize,
    rounds: usize,
    rate: f64,
    bg_workload: Option<String>,
}

pub fn main(args: RunArgs) -> anyhow::Result<()> {
    let mix = Mix::parse(&args.workload, &args.mix)?;
    let bg_mix = args
        .bg_workload
        .as_deref()
        .map(|w| Mix::parse(w, &args.mix))
        .transpose()?;
    anyhow::ensure!(
        (1..=1000).contains(&args.connections),
        "-c must be 1..=1000"
    );
    anyhow::ensure!((1..=4096).contains(&args.inflight), "-k must be 1..=4096");
    anyhow::ensure!(args.users >= 1, "--users must be at least 1");
    anyhow::ensure!((1..=100).contains(&args.rounds), "--rounds must be 1..=100");
    anyhow::ensure!(
        args.rounds == 1 || args.bg_workload.is_none(),
        "--rounds and --bg-workload do not mix"
    );
    anyhow::ensure!(
        args.duration <= MAX_PHASE.as_secs_f64(),
        "-d is at most 600 s"
    );
    let redis_mode = args.redis.as_str();
    anyhow::ensure!(
        matches!(redis_mode, "auto" | "on" | "off"),
        "--redis must be auto|on|off"
    );

    // The server: spawned on a temp dir, or the given address.
    let mut data = None;
    let mut server = None;
    let (addr, system_key, server_desc) = match &args.addr {
        Some(a) => {
            let key = std::fs::read_to_string(&args.system_key_file).with_context(|| {
                format!("reading the system key {}", args.system_key_file.display())
            })?;
            (a.clone(), key.trim().to_owned(), format!("external {a}"))
        }
        None => {
            let bin = spawn::server_bin(args.server_bin.as_deref())?;
            let mut dir = TempDir::new("run")?;
            dir.keep = args.keep_data;
            let s = spawn::Spawn {
                bin: &bin,
                data_dir: &dir.path,
                extra: &args.server_args,
                tiny_argon2: true,
                log_filter: "warn",
                capture_log: false,
            }
            .start()?;
            let key = s.system_key()?;
            let rpc = s.rpc.clone();
            server = Some(s);
            data = Some(dir);
            (rpc, key, format!("spawned {}", bin.display()))
        }
    };

    // The disk's fdatasync latency right now (on a shared machine it swings by 50x): printed
    // with every write workload so a durable-write figure can be read against it.
    let writes = mix.has(Op::Update) || mix.has(Op::Create);
    let probe_dir = data
        .as_ref()
        .map(|d| d.path.clone())
        .unwrap_or_else(std::env::temp_dir);
    let disk_before = if writes {
        fsync_probe(&probe_dir)
    } else {
        None
    };

    let rt = if args.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.client_threads)
            .enable_all()
            .build()?
    };
    let pid = server
        .as_ref()
        .and_then(spawn::Server::pid)
        .or(args.server_pid);
    let result = rt.block_on(run(&args, &addr, system_key, mix.clone(), bg_mix, pid));
    drop(rt);
    if let Some(s) = server {
        s.stop(Duration::from_secs(120))
            .context("stopping the spawned identityd")?;
    }
    drop(data);
    let disk_after = if writes {
        fsync_probe(&std::env::temp_dir())
    } else {
        None
    };
    let disk = disk_before.zip(disk_after).map(|(b, a)| DiskProbe {
        fdatasync_p50_us_before: b.0,
        fdatasync_p99_us_before: b.1,
        fdatasync_p50_us_after: a.0,
        fdatasync_p99_us_after: a.1,
    });
    if let Some(d) = &disk {
        eprintln!(
            "identityd-bench: disk fdatasync of 4 KiB p50/p99: {:.0}/{:.0} us before, {:.0}/{:.0} us after",
            d.fdatasync_p50_us_before,
            d.fdatasync_p99_us_before,
            d.fdatasync_p50_us_after,
            d.fdatasync_p99_us_after
        );
    }
    let (setup_s, main_stats, baselines, background) = result?;

    // Redis, after identityd has stopped: the two never share the CPUs.
    let mut baselines = baselines;
    let redis_cmd = if mix.ops.len() == 1 {
        match mix.ops[0].0 {
            Op::Get | Op::List => Some(redis::Cmd::Hgetall),
            Op::Update | Op::Create => Some(redis::Cmd::Hset),
            _ => None,
        }
    } else {
        None
    };
    let want_redis = match redis_mode {
        "off" => false,
        "on" => true,
        _ => redis_cmd.is_some() && redis::available(),
    };
    if want_redis {
        let Some(cmd) = redis_cmd else {
            bail!("no Redis equivalent for workload {}", mix.name());
        };
        let clients = args
            .redis_clients
            .unwrap_or((args.connections * args.inflight).min(1000));
        let n = (main_stats.throughput * args.duration.max(1.0)) as u64;
        let fsync = if cmd == redis::Cmd::Hset {
            args.redis_fsync.as_str()
        } else {
            "no"
        };
        eprintln!(
            "identityd-bench: redis baseline: {} -c {clients} -n {} (appendfsync {fsync})",
            cmd.name(),
            n.clamp(10_000, 2_000_000)
        );
        baselines.push(redis::run(
            cmd,
            clients,
            n.clamp(10_000, 2_000_000),
            args.users,
            fsync,
        )?);
    }

    let ratios: Vec<Ratio> = baselines
        .iter()
        .map(|b| Ratio::of(&main_stats, b))
        .collect();
    eprintln!(
        "identityd-bench: {} {}x{}, {} users, cred {}, server {} {}",
        mix.name(),
        args.connections,
        args.inflight,
        args.users,
        args.cred,
        server_desc,
        args.server_args.join(" ")
    );
    let mut rows: Vec<&Stats> = baselines.iter().collect();
    rows.push(&main_stats);
    if let Some(b) = &background {
        rows.push(b);
    }
    report::print_table(&rows);
    for r in &ratios {
        report::print_ratio(&main_stats.name, r);
    }
    if args.json {
        let out = Report {
            tool: "identityd-bench",
            workload: mix.name(),
            config: ConfigOut {
                connections: args.connections,
                inflight: args.inflight,
                duration_s: args.duration,
                requests: args.requests,
                warmup_s: args.warmup,
                users: args.users,
                cred: args.cred.clone(),
                mix,
                server: server_desc,
                server_args: args.server_args.clone(),
                client_threads: args.client_threads,
                rounds: args.rounds,
                rate: args.rate,
                bg_workload: args.bg_workload.clone(),
            },
            setup_s,
            result: main_stats,
            baselines,
            ratios,
            background,
            disk,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

type RunOut = (f64, Stats, Vec<Stats>, Option<Stats>);

async fn run(
    args: &RunArgs,
    addr: &str,
    system_key: String,
    mix: Mix,
    bg_mix: Option<Mix>,
    server_pid: Option<u32>,
) -> anyhow::Result<RunOut> {
    let t = Instant::now();
    let setup_ops = [Some(&mix), bg_mix.as_ref()];
    let needs_users = setup_ops
        .iter()
        .flatten()
        .any(|m| m.ops.iter().any(|(o, _)| *o != Op::Ping));
    let mut sh = setup(args, addr, system_key, needs_users).await?;
    sh.server_pid = server_pid;
    let sh = Arc::new(sh);
    let setup_s = report::round3(t.elapsed().as_secs_f64());
    eprintln!("identityd-bench: setup {setup_s:.1} s");

    let mut clients = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        clients.push(connect(addr).await.context("connecting")?);
    }
    let ping_only = mix.ops.len() == 1 && mix.has(Op::Ping);
    let with_ping = !args.no_ping && !ping_only;
    let mut ping = Acc::new("ping", args.connections, args.inflight);
    let mut work = Acc::new(&mix.name(), args.connections, args.inflight);
    let rounds = args.rounds.max(1);
    // Rounds alternate ping and the workload, so slow drifts of a shared machine's load hit both.
    for round in 0..rounds {
        let seed = args.seed ^ (round as u64) << 40;
        if with_ping {
            phase(
                &mut ping,
                &clients,
                args.inflight,
                &sh,
                Mix::one(Op::Ping),
                args,
                seed,
            )
            .await?;
        }
        if round + 1 < rounds {
            phase(
                &mut work,
                &clients,
                args.inflight,
                &sh,
                mix.clone(),
                args,
                seed ^ 0x5EED,
            )
            .await?;
        }
    }
    let baselines = if with_ping {
        vec![ping.stats()]
    } else {
        Vec::new()
    };

    // The background workload runs from before the warm-up until the last measured phase ends.
    let bg = match &bg_mix {
        Some(m) => {
            let mut bg_clients = Vec::new();
            for _ in 0..args.bg_connections.max(1) {
                bg_clients.push(connect(addr).await.context("connecting")?);
            }
            let ctl = Arc::new(Control {
                measure_from: Instant::now() + Duration::from_secs_f64(args.warmup.max(0.0)),
                end: None,
                budget: None,
                stop: AtomicBool::new(false),
                hard_end: Instant::now() + MAX_PHASE,
                interval: None,
            });
            let handles = spawn_drivers(
                &bg_clients,
                args.bg_inflight,
                &sh,
                Arc::new(m.clone()),
                &ctl,
                args.seed ^ 0xB6,
            );
            Some((format!("bg {}", m.name()), bg_clients, ctl, handles))
        }
        None => None,
    };
    phase(
        &mut work,
        &clients,
        args.inflight,
        &sh,
        mix.clone(),
        args,
        args.seed ^ 0x5EED,
    )
    .await?;
    let main_stats = work.stats();
    let background = match bg {
        Some((name, bg_clients, ctl, handles)) => {
            let measured_until = Instant::now();
            ctl.stop.store(true, Ordering::Relaxed);
            let mut parts = Vec::new();
            for h in handles {
                parts.push(h.await.context("background task")?);
            }
            let bctl = Control {
                measure_from: ctl.measure_from,
                end: Some(measured_until),
                budget: None,
                stop: AtomicBool::new(true),
                hard_end: ctl.hard_end,
                interval: None,
            };
            let mut acc = Acc::new(&name, bg_clients.len(), args.bg_inflight);
            acc.add(&bctl, parts);
            Some(acc.stats())
        }
        None => None,
    };
    Ok((setup_s, main_stats, baselines, background))
}

/// Creates a domain with an admin, logs the admin in, and creates the users.
async fn setup(
    args: &RunArgs,
    addr: &str,
    system_key: String,
    with_users: bool,
) -> anyhow::Result<Shared> {
    let system = Credential::bearer(system_key);
    let c = connect(addr).await.context("connecting")?;
    let nonce = format!(
        "{:06x}",
        identityd::fixtures::mix(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        ) & 0xFF_FFFF
    );
    let d = c
        .domain_create(
            ctx(),
            system.clone(),
            CreateDomainRequest {
                name: format!("bench-{nonce}"),
                tags: None,
                admin: Some(DomainAdmin {
                    user_id: ADMIN.into(),
                    password: PASSWORD.into(),
                    name: Some("Bench Admin".into()),
                    email: None,
                }),
            },
        )
        .await?
        .map_err(|e| anyhow::anyhow!("domain_create: {}: {}", e.code, e.message))?;
    let t = c
        .token_issue(
            ctx(),
            Credential::none(),
            IssueTokenRequest {
                domain_id: d.domain_id.clone(),
                credentials: Credentials {
                    user_id: ADMIN.into(),
                    password: PASSWORD.into(),
                },
                ..Default::default()
            },
        )
        .await?
        .map_err(|e| anyhow::anyhow!("admin login: {}: {}", e.code, e.message))?;
    let admin = Credential::bearer(t.access_token.expose());
    let cred = match args.cred.as_str() {
        "admin" => admin.clone(),
        "system" => system.clone(),
        other => bail!("--cred must be admin or system, not {other:?}"),
    };
    let n = if with_users { args.users } else { 0 };
    let users: Vec<String> = (0..n).map(identityd::fixtures::user_id).collect();
    if n > 0 {
        create_users(&c, &admin, &d.domain_id, &users).await?;
    }
    let list_query: serde_json::Value =
        serde_json::from_str(&args.list_query).context("--list-query is not JSON")?;
    Ok(Shared {
        domain_id: d.domain_id,
        cred,
        users: if users.is_empty() {
            vec![ADMIN.to_owned()]
        } else {
            users
        },
        list_query: Value::from(list_query),
        nonce,
        created: AtomicU64::new(0),
        renamed: AtomicU64::new(0),
        server_pid: None,
    })
}

async fn create_users(
    c: &IdentityClient,
    admin: &Credential,
    domain_id: &str,
    users: &[String],
) -> anyhow::Result<()> {
    let mut next = 0usize;
    let mut done = 0usize;
    let mut inflight = FuturesUnordered::new();
    let mut last = Instant::now();
    let deadline = Instant::now() + MAX_PHASE;
    let one = |i: usize| {
        let req = new_user(domain_id, users[i].clone(), i);
        let admin = admin.clone();
        async move {
            loop {
                match c.user_create(ctx(), admin.clone(), req.clone()).await {
                    Ok(Ok(_)) => return Ok(()),
                    Ok(Err(e)) if e.code == ErrorCode::ResourceExhausted => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Ok(Err(e)) => {
                        return Err(anyhow::anyhow!(
                            "user_create {}: {}: {}",
                            req.user_id,
                            e.code,
                            e.message
                        ));
                    }
                    Err(e) => return Err(anyhow::anyhow!("user_create: {e}")),
                }
            }
        }
    };
    while done < users.len() {
        while next < users.len() && inflight.len() < 128 {
            inflight.push(one(next));
            next += 1;
        }
        if let Some(r) = inflight.next().await {
            r?;
            done += 1;
        }
        if last.elapsed() > Duration::from_secs(2) {
            eprintln!("identityd-bench: setup: {done}/{} users", users.len());
            last = Instant::now();
        }
        if Instant::now() > deadline {
            bail!("setup took longer than {MAX_PHASE:?}");
        }
    }
    Ok(())
}
