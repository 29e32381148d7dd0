//! Configuration: every setting is a flag, an environment variable `IDENTITYD_<NAME>`, and a key
//! of the TOML file given by `--config`, in that order of precedence, then the default.

use crate::actor::persist::FsyncPolicy;
use crate::auth::hasher::{HashParams, HashSched};
use crate::model::lockout::LockoutPolicy;
use crate::model::ratelimit::NoauthLimits;
use crate::model::verification::CodeLimits;
use crate::service::ServiceConfig;
use crate::transport::http::HttpLimits;
use crate::transport::tarpc::RpcLimits;
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
    // --- security: floods ---
    /// Login lockout entries kept per domain; when full of entries that still count, logins for
    /// user ids without one are refused (ERROR_TOO_MANY_REQUESTS) [default: 100000]
    #[arg(long, env = "IDENTITYD_LOCKOUT_MAX_ENTRIES")]
    pub lockout_max_entries: Option<usize>,
    /// +noauth calls (login, refresh, grant, reset) one source address (IPv6: one /64) may make at
    /// once; 0 disables the per-source limit [default: 100]
    #[arg(long, env = "IDENTITYD_NOAUTH_SOURCE_BURST")]
    pub noauth_source_burst: Option<u32>,
    /// +noauth calls a minute one source address regains [default: 600]
    #[arg(long, env = "IDENTITYD_NOAUTH_SOURCE_PER_MINUTE")]
    pub noauth_source_per_minute: Option<u32>,
    /// Logins (and, separately, resets) for one (domain, user id) at once; 0 disables the
    /// per-target limit [default: 30]
    #[arg(long, env = "IDENTITYD_NOAUTH_TARGET_BURST")]
    pub noauth_target_burst: Option<u32>,
    /// Logins (resets) a minute one (domain, user id) regains [default: 30]
    #[arg(long, env = "IDENTITYD_NOAUTH_TARGET_PER_MINUTE")]
    pub noauth_target_per_minute: Option<u32>,
    /// Sources and targets tracked by each +noauth limiter; beyond, new ones share one bucket
    /// [default: 65536]
    #[arg(long, env = "IDENTITYD_NOAUTH_MAX_KEYS")]
    pub noauth_max_keys: Option<usize>,
    /// Dummy verifications (logins of unknown users or domains) queued or running at once; more
    /// fail at once as a wrong password, so garbage never delays real logins [default: hash threads]
    #[arg(long, env = "IDENTITYD_HASH_DUMMY_BUDGET")]
    pub hash_dummy_budget: Option<usize>,
    // --- security: mail ---
    /// Seconds of the window in which code issues, wrong codes and mails are counted per target [default: 3600]
    #[arg(long, env = "IDENTITYD_CODE_WINDOW")]
    pub code_window: Option<i64>,
    /// Seconds a user must wait before requesting another code of the same kind [default: 60]
    #[arg(long, env = "IDENTITYD_CODE_COOLDOWN")]
    pub code_cooldown: Option<i64>,
    /// Codes of one kind a user may request per window (e-mail verification also per address) [default: 5]
    #[arg(long, env = "IDENTITYD_CODE_MAX_ISSUES")]
    pub code_max_issues: Option<u32>,
    /// Wrong codes per user and kind (and per verified address) per window, across re-issued codes [default: 10]
    #[arg(long, env = "IDENTITYD_CODE_MAX_FAILURES")]
    pub code_max_failures: Option<u32>,
    /// Mails per user per window [default: 20]
    #[arg(long, env = "IDENTITYD_MAIL_USER_QUOTA")]
    pub mail_user_quota: Option<u32>,
    /// Mails per tenant domain per window [default: 1000]
    #[arg(long, env = "IDENTITYD_MAIL_DOMAIN_QUOTA")]
    pub mail_domain_quota: Option<u32>,
    /// Mails the outbox holds at most (queued or waiting for a retry) [default: 1024]
    #[arg(long, env = "IDENTITYD_MAIL_OUTBOX")]
    pub mail_outbox: Option<usize>,
    /// Outbox slots one tenant domain may hold at most [default: 128]
    #[arg(long, env = "IDENTITYD_MAIL_OUTBOX_PER_DOMAIN")]
    pub mail_outbox_per_domain: Option<usize>,
    // --- security: transport ---
    /// Largest tarpc request frame in bytes; a longer one closes the connection before its body
    /// is read (responses may be up to 16 MiB) [default: 1048576]
    #[arg(long, env = "IDENTITYD_RPC_MAX_REQUEST_BYTES")]
    pub rpc_max_request_bytes: Option<usize>,
    /// tarpc request bytes read and not yet answered per connection (a request counts at least
    /// 4096); further frames of that connection wait [default: 4194304]
    #[arg(long, env = "IDENTITYD_RPC_CONNECTION_BYTES")]
    pub rpc_connection_bytes: Option<usize>,
    /// tarpc request bytes read and not yet answered over all connections; further frames wait
    /// [default: 16777216]
    #[arg(long, env = "IDENTITYD_RPC_GLOBAL_BYTES")]
    pub rpc_global_bytes: Option<usize>,
    /// Open tarpc connections at most, lowered to fit the descriptor limit [default: 4096]
    #[arg(long, env = "IDENTITYD_RPC_MAX_CONNECTIONS")]
    pub rpc_max_connections: Option<usize>,
    /// Open tarpc connections per peer (IPv4 address, IPv6 /64) at most; 0: no cap [default: 256]
    #[arg(long, env = "IDENTITYD_RPC_MAX_CONNECTIONS_PER_PEER")]
    pub rpc_max_connections_per_peer: Option<usize>,
    /// Requests in flight per tarpc connection; more are answered with a throttling error
    /// [default: 1024]
    #[arg(long, env = "IDENTITYD_RPC_MAX_IN_FLIGHT")]
    pub rpc_max_in_flight: Option<usize>,
    /// Seconds a new tarpc connection has to send its first request, and a begun request frame
    /// to complete [default: 10]
    #[arg(long, env = "IDENTITYD_RPC_HANDSHAKE_TIMEOUT")]
    pub rpc_handshake_timeout: Option<f64>,
    /// Seconds a tarpc connection with nothing in flight stays open without a request
    /// [default: 300]
    #[arg(long, env = "IDENTITYD_RPC_IDLE_TIMEOUT")]
    pub rpc_idle_timeout: Option<f64>,
    /// Longest deadline in seconds a tarpc request may ask for; longer ones are shortened to it
    /// [default: 60]
    #[arg(long, env = "IDENTITYD_RPC_MAX_DEADLINE")]
    pub rpc_max_deadline: Option<f64>,
    /// Open HTTP connections at most, lowered to fit the descriptor limit [default: 4096]
    #[arg(long, env = "IDENTITYD_HTTP_MAX_CONNECTIONS")]
    pub http_max_connections: Option<usize>,
    /// Open HTTP connections per peer (IPv4 address, IPv6 /64); beyond, requests get 429 and the
    /// connection is closed; 0: no cap [default: 256]
    #[arg(long, env = "IDENTITYD_HTTP_MAX_CONNECTIONS_PER_PEER")]
    pub http_max_connections_per_peer: Option<usize>,
    /// Seconds a client has to send a request head (408 and closed beyond) [default: 5]
    #[arg(long, env = "IDENTITYD_HTTP_HEADER_TIMEOUT")]
    pub http_header_timeout: Option<f64>,
    /// Seconds a client has to send a request body once its head arrived (closed beyond)
    /// [default: 10]
    #[arg(long, env = "IDENTITYD_HTTP_BODY_TIMEOUT")]
    pub http_body_timeout: Option<f64>,
    /// Seconds an idle keep-alive HTTP connection stays open [default: 5]
    #[arg(long, env = "IDENTITYD_HTTP_KEEP_ALIVE")]
    pub http_keep_alive: Option<f64>,
    /// File descriptors kept free of connections for the log, snapshots and mail; connection
    /// caps are lowered to fit the descriptor limit minus this [default: 256]
    #[arg(long, env = "IDENTITYD_FD_RESERVE")]
    pub fd_reserve: Option<u64>,
    /// Let /metrics show per-domain series (domain_id labels) to a scraper presenting the
    /// system key as a bearer token; without it, or to anyone else, only totals [default: false]
    #[arg(long, env = "IDENTITYD_METRICS_TENANT_LABELS", num_args = 0..=1, default_missing_value = "true")]
    #[serde(default)]
    pub metrics_tenant_labels: Option<bool>,
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
            // --- security: floods ---
            lockout_max_entries,
            noauth_source_burst,
            noauth_source_per_minute,
            noauth_target_burst,
            noauth_target_per_minute,
            noauth_max_keys,
            hash_dummy_budget,
            // --- security: mail ---
            code_window,
            code_cooldown,
            code_max_issues,
            code_max_failures,
            mail_user_quota,
            mail_domain_quota,
            mail_outbox,
            mail_outbox_per_domain,
            // --- security: transport ---
            rpc_max_request_bytes,
            rpc_connection_bytes,
            rpc_global_bytes,
            rpc_max_connections,
            rpc_max_connections_per_peer,
            rpc_max_in_flight,
            rpc_handshake_timeout,
            rpc_idle_timeout,
            rpc_max_deadline,
            http_max_connections,
            http_max_connections_per_peer,
            http_header_timeout,
            http_body_timeout,
            http_keep_alive,
            fd_reserve,
            metrics_tenant_labels,
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
    // --- security: floods ---
    /// Rate limits of the +noauth calls.
    pub noauth: NoauthLimits,
    /// Dummy verifications at once (None: one per hashing thread).
    pub hash_dummy_budget: Option<usize>,
    // --- security: mail ---
    /// Code issues, wrong codes and mail quotas (`--code-*`, `--mail-*-quota`).
    pub code_limits: CodeLimits,
    /// Outbox capacity (`--mail-outbox`).
    pub mail_outbox: usize,
    /// Outbox slots per tenant domain (`--mail-outbox-per-domain`).
    pub mail_outbox_per_domain: usize,
    // --- security: transport ---
    pub rpc_limits: RpcLimits,
    pub http_limits: HttpLimits,
    /// Descriptors kept free of connections (see `server::fit_connection_caps`).
    pub fd_reserve: u64,
}

/// A number of seconds from a flag: finite, above 0, at most a day.
fn seconds_flag(name: &str, v: f64) -> anyhow::Result<std::time::Duration> {
    anyhow::ensure!(
        v.is_finite() && v > 0.0 && v <= 86_400.0,
        "--{name} must be above 0 and at most 86400 seconds"
    );
    Ok(std::time::Duration::from_secs_f64(v))
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
            // --- security: floods ---
            noauth: NoauthLimits::default(),
            hash_dummy_budget: None,
            // --- security: mail ---
            code_limits: CodeLimits::default(),
            mail_outbox: 1024,
            mail_outbox_per_domain: 128,
            rpc_limits: RpcLimits::default(),
            http_limits: HttpLimits::default(),
            fd_reserve: 256,
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
        // --- security: floods ---
        if let Some(v) = s.lockout_max_entries {
            anyhow::ensure!(v >= 1, "--lockout-max-entries must be at least 1");
            c.lockout.max_entries = v;
        }
        let n = &mut c.noauth;
        n.per_source.burst = s.noauth_source_burst.unwrap_or(n.per_source.burst);
        n.per_source.per_minute = s
            .noauth_source_per_minute
            .unwrap_or(n.per_source.per_minute);
        n.per_target.burst = s.noauth_target_burst.unwrap_or(n.per_target.burst);
        n.per_target.per_minute = s
            .noauth_target_per_minute
            .unwrap_or(n.per_target.per_minute);
        if let Some(v) = s.noauth_max_keys {
            anyhow::ensure!(v >= 1, "--noauth-max-keys must be at least 1");
            n.per_source.max_keys = v;
            n.per_target.max_keys = v;
        }
        if let Some(v) = s.hash_dummy_budget {
            anyhow::ensure!(v >= 1, "--hash-dummy-budget must be at least 1");
            c.hash_dummy_budget = Some(v);
        }
        // --- security: mail ---
        let cl = &mut c.code_limits;
        if let Some(v) = s.code_window {
            anyhow::ensure!(v > 0, "--code-window must be positive");
            cl.window_ms = v.saturating_mul(1000);
        }
        if let Some(v) = s.code_cooldown {
            anyhow::ensure!(v >= 0, "--code-cooldown must not be negative");
            cl.cooldown_ms = v.saturating_mul(1000);
        }
        if let Some(v) = s.code_max_issues {
            cl.max_issues = v.max(1);
        }
        if let Some(v) = s.code_max_failures {
            cl.max_failures = v.max(1);
        }
        if let Some(v) = s.mail_user_quota {
            cl.user_mails = v;
        }
        if let Some(v) = s.mail_domain_quota {
            cl.domain_mails = v;
        }
        if let Some(v) = s.mail_outbox {
            c.mail_outbox = v.max(1);
        }
        if let Some(v) = s.mail_outbox_per_domain {
            c.mail_outbox_per_domain = v.max(1);
        }
        // --- security: transport ---
        let r = &mut c.rpc_limits;
        r.max_request_frame = s.rpc_max_request_bytes.unwrap_or(r.max_request_frame);
        r.connection_bytes = s.rpc_connection_bytes.unwrap_or(r.connection_bytes);
        r.global_bytes = s.rpc_global_bytes.unwrap_or(r.global_bytes);
        r.max_connections = s.rpc_max_connections.unwrap_or(r.max_connections);
        r.max_connections_per_peer = s
            .rpc_max_connections_per_peer
            .unwrap_or(r.max_connections_per_peer);
        r.max_in_flight_per_connection = s
            .rpc_max_in_flight
            .unwrap_or(r.max_in_flight_per_connection);
        if let Some(v) = s.rpc_handshake_timeout {
            r.handshake_timeout = seconds_flag("rpc-handshake-timeout", v)?;
        }
        if let Some(v) = s.rpc_idle_timeout {
            r.idle_timeout = seconds_flag("rpc-idle-timeout", v)?;
        }
        if let Some(v) = s.rpc_max_deadline {
            r.max_deadline = seconds_flag("rpc-max-deadline", v)?;
        }
        r.validate()
            .map_err(|e| anyhow::anyhow!("tarpc limits: {e}"))?;
        let h = &mut c.http_limits;
        h.max_connections = s.http_max_connections.unwrap_or(h.max_connections);
        anyhow::ensure!(
            h.max_connections > 0,
            "--http-max-connections must be at least 1"
        );
        h.max_connections_per_peer = s
            .http_max_connections_per_peer
            .unwrap_or(h.max_connections_per_peer);
        if let Some(v) = s.http_header_timeout {
            h.header_timeout = seconds_flag("http-header-timeout", v)?;
        }
        if let Some(v) = s.http_body_timeout {
            h.body_timeout = seconds_flag("http-body-timeout", v)?;
        }
        if let Some(v) = s.http_keep_alive {
            h.keep_alive = seconds_flag("http-keep-alive", v)?;
        }
        h.metrics_tenant_labels = s.metrics_tenant_labels.unwrap_or(false);
        c.fd_reserve = s.fd_reserve.unwrap_or(c.fd_reserve);
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
