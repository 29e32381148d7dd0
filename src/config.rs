//! Configuration: every setting is a flag, an environment variable `IDENTITYD_<NAME>`, and a key
//! of the TOML file given by `--config`, in that order of precedence, then the default.

use crate::actor::persist::FsyncPolicy;
use crate::auth::hasher::{HashParams, HashSched};
use crate::model::lockout::LockoutPolicy;
use crate::service::ServiceConfig;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The settings of `identityd serve`, all optional so flags, env and file can be layered.
#[derive(clap::Args, Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// TOML file with any of these settings (keys as the flag names, with `_`).
    #[arg(long, env = "IDENTITYD_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Data directory: write-ahead log, snapshots, keys [default: ./snapshots]
    #[arg(long, env = "IDENTITYD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// tarpc listen address [default: 127.0.0.1:7700]
    #[arg(long, env = "IDENTITYD_RPC_ADDR")]
    pub rpc_addr: Option<SocketAddr>,
    /// HTTP/JSON gateway listen address; empty disables it [default: 127.0.0.1:7701]
    #[arg(long, env = "IDENTITYD_HTTP_ADDR")]
    pub http_addr: Option<String>,
    /// File holding the system key (64 hex chars) [default: <data-dir>/system.key, created on first start]
    #[arg(long, env = "IDENTITYD_SYSTEM_KEY_FILE")]
    pub system_key_file: Option<PathBuf>,
    /// When acknowledged writes are synced: always | everysec | none [default: always]
    #[arg(long, env = "IDENTITYD_FSYNC")]
    pub fsync: Option<String>,
    /// Seconds between periodic snapshots; 0 disables the timer [default: 300]
    #[arg(long, env = "IDENTITYD_SNAPSHOT_INTERVAL")]
    pub snapshot_interval: Option<u64>,
    /// Take a snapshot once this many bytes were logged since the last one [default: 268435456]
    #[arg(long, env = "IDENTITYD_SNAPSHOT_LOG_BYTES")]
    pub snapshot_log_bytes: Option<u64>,
    /// Size at which a write-ahead log segment rolls over [default: 67108864]
    #[arg(long, env = "IDENTITYD_WAL_SEGMENT_BYTES")]
    pub wal_segment_bytes: Option<u64>,
    /// On a damaged snapshot or log: fall back to the previous snapshot and truncate the log at the
    /// first bad record (cut bytes are kept beside the file) instead of refusing to start
    #[arg(long, env = "IDENTITYD_REPAIR", num_args = 0..=1, default_missing_value = "true")]
    #[serde(default)]
    pub repair: Option<bool>,
    /// Mail transport: smtp://[user:pass@]host:port, file://DIR, log, none [default: file://<data-dir>/mail]
    #[arg(long, env = "IDENTITYD_MAIL")]
    pub mail: Option<String>,
    /// From: address of outgoing mail [default: identityd <no-reply@localhost>]
    #[arg(long, env = "IDENTITYD_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Service name in mail subjects (`[<name>] …`) and the TOTP issuer [default: identityd]
    #[arg(long, env = "IDENTITYD_SERVICE_NAME")]
    pub service_name: Option<String>,
    /// Web console base URL: reset mails link to <url>/reset-password?token=… (else they carry the token)
    #[arg(long, env = "IDENTITYD_CONSOLE_URL")]
    pub console_url: Option<String>,
    /// What a password reset mails: access_token (a 24 h token for update_password) | password (a temporary password) [default: access_token]
    #[arg(long, env = "IDENTITYD_RESET_MODE")]
    pub reset_mode: Option<String>,
    /// Seconds an e-mail verification code is valid [default: 3600]
    #[arg(long, env = "IDENTITYD_EMAIL_CODE_TTL")]
    pub email_code_ttl: Option<i64>,
    /// Seconds an MFA code is valid [default: 300]
    #[arg(long, env = "IDENTITYD_MFA_CODE_TTL")]
    pub mfa_code_ttl: Option<i64>,
    /// Log format: text | json [default: text]
    #[arg(long, env = "IDENTITYD_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Threads running domain actors and RPC connections (1 measured fastest on 2 cores) [default: 1]
    #[arg(long, env = "IDENTITYD_WORKERS")]
    pub workers: Option<usize>,
    /// Threads of the password hashing pool [default: number of CPUs]
    #[arg(long, env = "IDENTITYD_HASH_THREADS")]
    pub hash_threads: Option<usize>,
    /// Password hashes that may wait for a hashing thread; more are refused [default: 256]
    #[arg(long, env = "IDENTITYD_HASH_QUEUE")]
    pub hash_queue: Option<usize>,
    /// Scheduling of hashing threads: normal | idle (Linux SCHED_IDLE: logins never delay other
    /// requests, but wait when the CPU is busy) [default: normal]
    #[arg(long, env = "IDENTITYD_HASH_SCHED")]
    pub hash_sched: Option<String>,
    /// argon2id memory cost in KiB for new hashes [default: 19456]
    #[arg(long, env = "IDENTITYD_ARGON2_M_KIB")]
    pub argon2_m_kib: Option<u32>,
    /// argon2id iterations for new hashes [default: 2]
    #[arg(long, env = "IDENTITYD_ARGON2_T")]
    pub argon2_t: Option<u32>,
    /// argon2id parallelism for new hashes [default: 1]
    #[arg(long, env = "IDENTITYD_ARGON2_P")]
    pub argon2_p: Option<u32>,
    /// Rows a list without `page` returns at most [default: 10000]
    #[arg(long, env = "IDENTITYD_MAX_LIST_RESULTS")]
    pub max_list_results: Option<usize>,
    /// Access token lifetime in seconds [default: 1800]
    #[arg(long, env = "IDENTITYD_ACCESS_TOKEN_TTL")]
    pub access_token_ttl: Option<i64>,
    /// Refresh token lifetime in seconds [default: 10800]
    #[arg(long, env = "IDENTITYD_REFRESH_TOKEN_TTL")]
    pub refresh_token_ttl: Option<i64>,
    /// Failed logins that block a user id [default: 10]
    #[arg(long, env = "IDENTITYD_LOCKOUT_MAX_FAILURES")]
    pub lockout_max_failures: Option<u32>,
    /// Seconds of the failure-counting window [default: 300]
    #[arg(long, env = "IDENTITYD_LOCKOUT_WINDOW")]
    pub lockout_window: Option<i64>,
    /// Seconds a blocked user id stays blocked [default: 300]
    #[arg(long, env = "IDENTITYD_LOCKOUT_BLOCK")]
    pub lockout_block: Option<i64>,
    // --- security: query budget ---
    /// Rows one stat stage may produce (the documents a pipeline starts from, unwind, group, project, distinct); 0: no limit [default: 100000]
    #[arg(long, env = "IDENTITYD_QUERY_MAX_STAGE_ROWS")]
    pub query_max_stage_rows: Option<usize>,
    /// Rows all stages of a stat query produce together, plus the values push/add_to_set keep; 0: no limit [default: 1000000]
    #[arg(long, env = "IDENTITYD_QUERY_MAX_TOTAL_ROWS")]
    pub query_max_total_rows: Option<usize>,
    /// Bytes (estimated as JSON) of the rows and values a stat pipeline builds; 0: no limit [default: 67108864]
    #[arg(long, env = "IDENTITYD_QUERY_MAX_WORK_BYTES")]
    pub query_max_work_bytes: Option<usize>,
    /// Bytes (estimated as JSON) of a list/stat/find result; 0: no limit [default: 12582912]
    #[arg(long, env = "IDENTITYD_QUERY_MAX_RESULT_BYTES")]
    pub query_max_result_bytes: Option<usize>,
    /// Patterns per query (regex and regex_in values, contain* values, keyword words); 0: no limit [default: 64]
    #[arg(long, env = "IDENTITYD_QUERY_MAX_PATTERNS")]
    pub query_max_patterns: Option<usize>,
    /// Bytes of one pattern; 0: no limit [default: 1024]
    #[arg(long, env = "IDENTITYD_QUERY_MAX_PATTERN_BYTES")]
    pub query_max_pattern_bytes: Option<usize>,
    /// Compiled size of all of a query's regexes: each gets an equal share (at most 1 MiB) for its program, twice that for its lazy-DFA cache [default: 8388608]
    #[arg(long, env = "IDENTITYD_QUERY_REGEX_BYTES")]
    pub query_regex_bytes: Option<usize>,
    /// Milliseconds a query may run off the actors (checked as it runs); 0: no limit [default: 2000]
    #[arg(long, env = "IDENTITYD_QUERY_TIMEOUT_MS")]
    pub query_timeout_ms: Option<i64>,
    /// Users a domain actor hands to the query engine; with more candidates the engine reads a snapshot of every user [default: 10000]
    #[arg(long, env = "IDENTITYD_QUERY_PLAN_CANDIDATES")]
    pub query_plan_candidates: Option<usize>,
}

macro_rules! layer {
    ($a:ident, $b:ident, $($f:ident),*) => { Settings { config: $a.config.clone(), $($f: $a.$f.clone().or($b.$f.clone()),)* } };
}

impl Settings {
    /// `self` (flags and env, already merged by clap) over the TOML file named by `--config`.
    pub fn with_file(self) -> anyhow::Result<Settings> {
        let Some(path) = &self.config else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let file: Settings = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("parsing {}: {e}", path.display()))?;
        let a = self;
        Ok(layer!(
            a,
            file,
            data_dir,
            rpc_addr,
            http_addr,
            system_key_file,
            fsync,
            snapshot_interval,
            snapshot_log_bytes,
            wal_segment_bytes,
            repair,
            mail,
            mail_from,
            service_name,
            console_url,
            reset_mode,
            email_code_ttl,
            mfa_code_ttl,
            log_format,
            workers,
            hash_threads,
            hash_queue,
            hash_sched,
            argon2_m_kib,
            argon2_t,
            argon2_p,
            max_list_results,
            access_token_ttl,
            refresh_token_ttl,
            lockout_max_failures,
            lockout_window,
            lockout_block,
            // --- security: query budget ---
            query_max_stage_rows,
            query_max_total_rows,
            query_max_work_bytes,
            query_max_result_bytes,
            query_max_patterns,
            query_max_pattern_bytes,
            query_regex_bytes,
            query_timeout_ms,
            query_plan_candidates
        ))
    }
}

/// The resolved configuration of a server.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub rpc_addr: SocketAddr,
    pub http_addr: Option<SocketAddr>,
    pub system_key_file: PathBuf,
    pub fsync: FsyncPolicy,
    /// false: keep everything in memory only (benchmarks of the in-memory path).
    pub durable: bool,
    pub snapshot_interval_s: u64,
    pub snapshot_log_bytes: u64,
    pub wal_segment_bytes: u64,
    pub repair: bool,
    pub mail: String,
    pub mail_from: String,
    pub service_name: String,
    pub console_url: Option<String>,
    /// Retry schedule of the outbox (tests shorten it).
    pub mail_backoff: std::time::Duration,
    pub json_logs: bool,
    pub workers: usize,
    pub hash_threads: usize,
    pub hash_queue: usize,
    pub hash_params: HashParams,
    pub hash_sched: HashSched,
    pub service: ServiceConfig,
    pub lockout: LockoutPolicy,
    pub mailbox: usize,
}

impl Config {
    /// Defaults for a data dir (what `identityd serve` uses with no flags).
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        let data_dir = data_dir.into();
        Config {
            system_key_file: data_dir.join("system.key"),
            mail: format!("file://{}", data_dir.join("mail").display()),
            mail_from: "identityd <no-reply@localhost>".into(),
            service_name: "identityd".into(),
            console_url: None,
            mail_backoff: std::time::Duration::from_secs(2),
            data_dir,
            rpc_addr: SocketAddr::from(([127, 0, 0, 1], 7700)),
            http_addr: Some(SocketAddr::from(([127, 0, 0, 1], 7701))),
            fsync: FsyncPolicy::Always,
            durable: true,
            snapshot_interval_s: 300,
            snapshot_log_bytes: 256 << 20,
            wal_segment_bytes: 64 << 20,
            repair: false,
            json_logs: false,
            workers: 1,
            hash_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            hash_queue: 256,
            hash_params: HashParams::default(),
            hash_sched: HashSched::Normal,
            service: ServiceConfig::default(),
            lockout: LockoutPolicy::default(),
            mailbox: 1024,
        }
    }

    pub fn from_settings(s: Settings) -> anyhow::Result<Config> {
        let mut c = Config::new(
            s.data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("./snapshots")),
        );
        if let Some(v) = s.rpc_addr {
            c.rpc_addr = v;
        }
        if let Some(v) = s.http_addr {
            c.http_addr = if v.trim().is_empty() {
                None
            } else {
                Some(
                    v.parse()
                        .map_err(|e| anyhow::anyhow!("--http-addr {v:?}: {e}"))?,
                )
            };
        }
        if let Some(v) = s.system_key_file {
            c.system_key_file = v;
        }
        if let Some(v) = s.fsync {
            c.fsync = v
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--fsync: {e}"))?;
        }
        if let Some(v) = s.snapshot_interval {
            c.snapshot_interval_s = v;
        }
        if let Some(v) = s.snapshot_log_bytes {
            c.snapshot_log_bytes = v.max(1 << 20);
        }
        if let Some(v) = s.wal_segment_bytes {
            anyhow::ensure!(v >= 4096, "--wal-segment-bytes must be at least 4096");
            c.wal_segment_bytes = v;
        }
        c.repair = s.repair.unwrap_or(false);
        if let Some(v) = s.mail {
            c.mail = v;
        }
        if let Some(v) = s.mail_from {
            c.mail_from = v;
        }
        if let Some(v) = s.service_name {
            anyhow::ensure!(!v.trim().is_empty(), "--service-name must not be empty");
            c.service.otp_issuer = v.clone();
            c.service_name = v;
        }
        c.console_url = s.console_url.filter(|u| !u.is_empty());
        if let Some(v) = s.reset_mode {
            c.service.reset_mode = v
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--reset-mode: {e}"))?;
        }
        if let Some(v) = s.email_code_ttl {
            anyhow::ensure!(v > 0, "--email-code-ttl must be positive");
            c.service.email_code_ttl_s = v;
        }
        if let Some(v) = s.mfa_code_ttl {
            anyhow::ensure!(v > 0, "--mfa-code-ttl must be positive");
            c.service.mfa_code_ttl_s = v;
        }
        if let Some(v) = s.log_format {
            c.json_logs = match v.as_str() {
                "json" => true,
                "text" => false,
                _ => anyhow::bail!("--log-format must be text or json"),
            };
        }
        if let Some(v) = s.workers {
            anyhow::ensure!((1..=64).contains(&v), "--workers must be 1..=64");
            c.workers = v;
        }
        if let Some(v) = s.hash_threads {
            anyhow::ensure!((1..=256).contains(&v), "--hash-threads must be 1..=256");
            c.hash_threads = v;
        }
        if let Some(v) = s.hash_queue {
            c.hash_queue = v.max(1);
        }
        if let Some(v) = s.hash_sched {
            c.hash_sched = v
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--hash-sched: {e}"))?;
        }
        let hp = &mut c.hash_params;
        hp.m_kib = s.argon2_m_kib.unwrap_or(hp.m_kib);
        hp.t = s.argon2_t.unwrap_or(hp.t);
        hp.p = s.argon2_p.unwrap_or(hp.p);
        if let Some(v) = s.max_list_results {
            c.service.max_list_results = v.max(1);
        }
        if let Some(v) = s.access_token_ttl {
            anyhow::ensure!(v > 0, "--access-token-ttl must be positive");
            c.service.access_ttl_s = v;
        }
        if let Some(v) = s.refresh_token_ttl {
            anyhow::ensure!(v > 0, "--refresh-token-ttl must be positive");
            c.service.refresh_ttl_s = v;
        }
        if let Some(v) = s.lockout_max_failures {
            c.lockout.max_failures = v.max(1);
        }
        if let Some(v) = s.lockout_window {
            c.lockout.window_ms = v.max(1) * 1000;
        }
        if let Some(v) = s.lockout_block {
            c.lockout.block_ms = v.max(1) * 1000;
        }
        // --- security: query budget ---
        let qb = &mut c.service.query;
        qb.max_stage_rows = s.query_max_stage_rows.unwrap_or(qb.max_stage_rows);
        qb.max_total_rows = s.query_max_total_rows.unwrap_or(qb.max_total_rows);
        qb.max_work_bytes = s.query_max_work_bytes.unwrap_or(qb.max_work_bytes);
        qb.max_result_bytes = s.query_max_result_bytes.unwrap_or(qb.max_result_bytes);
        qb.parse.max_patterns = s.query_max_patterns.unwrap_or(qb.parse.max_patterns);
        qb.parse.max_pattern_bytes = s
            .query_max_pattern_bytes
            .unwrap_or(qb.parse.max_pattern_bytes);
        if let Some(v) = s.query_regex_bytes {
            anyhow::ensure!(v >= 4096, "--query-regex-bytes must be at least 4096");
            qb.parse.regex_bytes = v;
        }
        if let Some(v) = s.query_timeout_ms {
            anyhow::ensure!(v >= 0, "--query-timeout-ms must not be negative");
            qb.timeout_ms = v;
        }
        qb.plan_candidates = s.query_plan_candidates.unwrap_or(qb.plan_candidates);
        Ok(c)
    }
}
