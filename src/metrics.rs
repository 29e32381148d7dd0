//! Process metrics in the Prometheus text format (`GET /metrics`), hand-written with atomics.
//!
//! Requests are counted and timed in one place, [`instrument`], which the code generated from the
//! method table calls on both transports: a method added to the table is measured on both without
//! any per-method code. Gauges that describe state (domains, users per domain) are read from the
//! registry when the page is rendered. The WAL and the mail outbox report through
//! [`Metrics::record_fsync`] and [`Metrics::set_outbox_depth`]; their series appear only once
//! something reports them, so the page never shows a number nothing measured.

use crate::actor::registry::Registry;
use crate::api::{ApiResult, ErrorCode};
use crate::transport::conn::Refusal;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

macro_rules! method_ids {
    ($($name:ident($req:ty) -> $resp:ty = $path:literal;)*) => {
        /// Every method of the table, in table order: `MethodId::user_get as usize` is its index
        /// in [`crate::api::service::METHODS`].
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum MethodId { $($name,)* }

        impl MethodId {
            /// Every method, in table order.
            pub const ALL: &'static [MethodId] = &[$(MethodId::$name,)*];
            /// The method's name, e.g. `user_get`.
            pub fn name(self) -> &'static str {
                match self { $(MethodId::$name => stringify!($name),)* }
            }
        }
    };
}
crate::with_methods!(method_ids);

/// Which transport a request came in on (the `transport` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tarpc,
    Http,
}

impl Transport {
    const ALL: [Transport; 2] = [Transport::Tarpc, Transport::Http];
    fn label(self) -> &'static str {
        match self {
            Transport::Tarpc => "tarpc",
            Transport::Http => "http",
        }
    }
}

/// Upper bounds of the latency buckets, in microseconds (50 µs … 10 s; `+Inf` follows).
const BUCKETS_US: [u64; 17] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// A latency histogram: per-bucket counts (not cumulative; the last one is `+Inf`), sum, count.
struct Histogram {
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
    sum_ns: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(BUCKETS_US.len());
        self.buckets[i].fetch_add(1, Relaxed);
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// Writes `<name>_bucket`, `_sum` and `_count` lines; `labels` is `k="v",…` or empty.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Relaxed);
            let le = match BUCKETS_US.get(i) {
                Some(us) => seconds(*us as f64 / 1e6),
                None => "+Inf".to_owned(),
            };
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let sum = self.sum_ns.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{braces} {}", seconds(sum));
        // Count as the +Inf bucket, so the two always agree on one page.
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

/// A number of seconds as Prometheus writes it (no exponent for the bucket bounds used here).
fn seconds(s: f64) -> String {
    let text = format!("{s:.9}");
    let text = text.trim_end_matches('0');
    text.strip_suffix('.').unwrap_or(text).to_owned()
}

/// Counters of one (method, transport): outcome 0 is `ok`, outcome `1 + i` is
/// `ErrorCode::ALL[i]`.
struct MethodStats {
    outcomes: Box<[AtomicU64]>,
    latency: Histogram,
}

impl MethodStats {
    fn new() -> Self {
        MethodStats {
            outcomes: (0..=ErrorCode::ALL.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            latency: Histogram::new(),
        }
    }
}

/// Gauges read from state when the page is rendered.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Gauges {
    pub domains: u64,
    /// Users in every domain together.
    pub users_total: u64,
    /// (domain_id, number of users), sorted by domain_id. Tenant labels: rendered only when
    /// the page may show them (`--metrics-tenant-labels` and the system key, see
    /// `transport::http`); otherwise [`Gauges::without_tenants`] empties it and the page shows
    /// `users_total` unlabelled.
    pub users: Vec<(String, u64)>,
}

impl Gauges {
    /// Reads the gauges from the registry: one cheap message per domain actor.
    pub async fn read(registry: &Registry) -> Gauges {
        let ids = registry.domain_ids();
        let mut users = Vec::with_capacity(ids.len());
        for id in ids {
            // A domain deleted meanwhile is skipped.
            if let Ok(n) = registry
                .exec(&id, |ctx| Ok(ctx.state().users.len() as u64))
                .await
            {
                users.push((id, n));
            }
        }
        Gauges {
            domains: users.len() as u64,
            users_total: users
                .iter()
                .map(|(_, n)| *n)
                .fold(0u64, u64::saturating_add),
            users,
        }
    }

    /// The same gauges with no series naming a domain.
    pub fn without_tenants(mut self) -> Gauges {
        self.users = Vec::new();
        self
    }
}

/// Counters and gauges of the transports' connection and request limits.
#[derive(Default)]
struct NetStats {
    /// Open connections, by transport.
    open: [AtomicU64; 2],
    /// Refused connections, by transport and [`Refusal`] (total, per peer).
    refused: [[AtomicU64; 2]; 2],
    /// Connections closed by a deadline, by [`Deadline`].
    timeouts: [AtomicU64; 4],
    /// tarpc request frames refused for their size.
    frames_too_large: AtomicU64,
    /// Bytes charged to the tarpc request budget now, and the most ever charged at once.
    rpc_bytes: AtomicU64,
    rpc_bytes_max: AtomicU64,
    /// Request frames that had to wait for the byte budget.
    rpc_budget_waits: AtomicU64,
}

/// A deadline that closes connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// A tarpc connection sent no complete frame within the handshake timeout.
    RpcHandshake,
    /// A tarpc request frame, once begun, did not complete in time.
    RpcFrame,
    /// A tarpc connection was idle (nothing in flight, no frame) for the idle timeout.
    RpcIdle,
    /// An HTTP request body did not arrive within the body timeout.
    HttpBody,
}

impl Deadline {
    const ALL: [Deadline; 4] = [
        Deadline::RpcHandshake,
        Deadline::RpcFrame,
        Deadline::RpcIdle,
        Deadline::HttpBody,
    ];
    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Deadline::RpcHandshake => ("tarpc", "handshake"),
            Deadline::RpcFrame => ("tarpc", "frame"),
            Deadline::RpcIdle => ("tarpc", "idle"),
            Deadline::HttpBody => ("http", "body"),
        }
    }
}

fn transport_index(t: Transport) -> usize {
    match t {
        Transport::Tarpc => 0,
        Transport::Http => 1,
    }
}

/// The process's metrics; shared by both transports (and, once wired, the WAL and the outbox).
pub struct Metrics {
    /// Indexed by `MethodId as usize * 2 + transport`.
    methods: Box<[MethodStats]>,
    fsync: Histogram,
    fsync_wired: AtomicBool,
    outbox_depth: AtomicU64,
    outbox_wired: AtomicBool,
    /// Mails not sent, by [`MAIL_DROP_REASONS`].
    mail_dropped: [AtomicU64; 3],
    net: NetStats,
}

/// Why a mail was not sent (`identityd_mail_dropped_total{reason}`): a mail quota (user or
/// tenant), the outbox (full, the tenant's share taken, or closed), or an error building it.
pub const MAIL_DROP_REASONS: [&str; 3] = ["quota", "outbox", "error"];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Metrics {
            methods: (0..MethodId::ALL.len() * Transport::ALL.len())
                .map(|_| MethodStats::new())
                .collect(),
            fsync: Histogram::new(),
            fsync_wired: AtomicBool::new(false),
            outbox_depth: AtomicU64::new(0),
            outbox_wired: AtomicBool::new(false),
            mail_dropped: Default::default(),
            net: NetStats::default(),
        }
    }

    fn stats(&self, method: MethodId, transport: Transport) -> &MethodStats {
        &self.methods[method as usize * Transport::ALL.len() + transport_index(transport)]
    }

    /// A connection was admitted on `t`.
    pub fn conn_opened(&self, t: Transport) {
        self.net.open[transport_index(t)].fetch_add(1, Relaxed);
    }

    /// An admitted connection on `t` closed.
    pub fn conn_closed(&self, t: Transport) {
        let _ = self.net.open[transport_index(t)]
            .fetch_update(Relaxed, Relaxed, |n| Some(n.saturating_sub(1)));
    }

    /// A connection on `t` was refused by a connection cap.
    pub fn conn_refused(&self, t: Transport, why: Refusal) {
        let i = match why {
            Refusal::Total => 0,
            Refusal::PerPeer => 1,
        };
        self.net.refused[transport_index(t)][i].fetch_add(1, Relaxed);
    }

    /// A connection was closed by a deadline.
    pub fn timed_out(&self, d: Deadline) {
        self.net.timeouts[d as usize].fetch_add(1, Relaxed);
    }

    /// A tarpc request frame over the size limit was refused (its connection closed).
    pub fn frame_too_large(&self) {
        self.net.frames_too_large.fetch_add(1, Relaxed);
    }

    /// `n` bytes were charged to the tarpc request budget (`waited`: not at once).
    pub fn rpc_bytes_charged(&self, n: u64, waited: bool) {
        let now = self.net.rpc_bytes.fetch_add(n, Relaxed).saturating_add(n);
        self.net.rpc_bytes_max.fetch_max(now, Relaxed);
        if waited {
            self.net.rpc_budget_waits.fetch_add(1, Relaxed);
        }
    }

    /// `n` charged bytes were given back (the request's handler finished).
    pub fn rpc_bytes_released(&self, n: u64) {
        let _ = self
            .net
            .rpc_bytes
            .fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(n)));
    }

    fn render_net(&self, out: &mut String) {
        let n = &self.net;
        let _ = writeln!(
            out,
            "# HELP identityd_connections Open connections by transport.\n# TYPE identityd_connections gauge"
        );
        for t in Transport::ALL {
            let _ = writeln!(
                out,
                "identityd_connections{{transport=\"{}\"}} {}",
                t.label(),
                n.open[transport_index(t)].load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP identityd_connections_refused_total Connections refused by a connection cap (reason: total or per_peer).\n\
             # TYPE identityd_connections_refused_total counter"
        );
        for t in Transport::ALL {
            for (i, why) in [Refusal::Total, Refusal::PerPeer].iter().enumerate() {
                let _ = writeln!(
                    out,
                    "identityd_connections_refused_total{{transport=\"{}\",reason=\"{}\"}} {}",
                    t.label(),
                    why.label(),
                    n.refused[transport_index(t)][i].load(Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP identityd_connection_timeouts_total Connections closed by a deadline.\n\
             # TYPE identityd_connection_timeouts_total counter"
        );
        for d in Deadline::ALL {
            let (t, which) = d.labels();
            let _ = writeln!(
                out,
                "identityd_connection_timeouts_total{{transport=\"{t}\",deadline=\"{which}\"}} {}",
                n.timeouts[d as usize].load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP identityd_rpc_frames_too_large_total tarpc request frames refused for their size.\n\
             # TYPE identityd_rpc_frames_too_large_total counter\n\
             identityd_rpc_frames_too_large_total {}",
            n.frames_too_large.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP identityd_rpc_request_bytes_in_flight tarpc request bytes charged to the budget (read, not yet answered).\n\
             # TYPE identityd_rpc_request_bytes_in_flight gauge\n\
             identityd_rpc_request_bytes_in_flight {}",
            n.rpc_bytes.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP identityd_rpc_request_bytes_in_flight_max The most tarpc request bytes ever charged at once.\n\
             # TYPE identityd_rpc_request_bytes_in_flight_max gauge\n\
             identityd_rpc_request_bytes_in_flight_max {}",
            n.rpc_bytes_max.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP identityd_rpc_budget_waits_total tarpc request frames that waited for the byte budget.\n\
             # TYPE identityd_rpc_budget_waits_total counter\n\
             identityd_rpc_budget_waits_total {}",
            n.rpc_budget_waits.load(Relaxed)
        );
    }

    /// Records one request: how long it took and its outcome (`None` = ok).
    pub fn observe(
        &self,
        transport: Transport,
        method: MethodId,
        elapsed: Duration,
        error: Option<ErrorCode>,
    ) {
        let s = self.stats(method, transport);
        let i = error.map_or(0, |c| c as usize + 1);
        if let Some(counter) = s.outcomes.get(i) {
            counter.fetch_add(1, Relaxed);
        }
        s.latency.observe(elapsed);
    }

    /// Records the duration of one WAL fsync (group commit). Call it from the persistence thread
    /// after each sync; `identityd_wal_fsync_duration_seconds` appears once it has been called.
    pub fn record_fsync(&self, d: Duration) {
        self.fsync.observe(d);
        self.fsync_wired.store(true, Relaxed);
    }

    /// Sets the number of mails waiting in the outbox; `identityd_outbox_depth` appears once it
    /// has been called.
    pub fn set_outbox_depth(&self, n: u64) {
        self.outbox_depth.store(n, Relaxed);
        self.outbox_wired.store(true, Relaxed);
    }

    /// Counts a mail that was not sent; `reason` is one of [`MAIL_DROP_REASONS`] (others count
    /// as `error`).
    pub fn record_mail_dropped(&self, reason: &str) {
        let i = MAIL_DROP_REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(2);
        if let Some(c) = self.mail_dropped.get(i) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// The page in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let _ = writeln!(
            out,
            "# HELP identityd_requests_total API requests by transport, method and outcome (ok or the error code).\n\
             # TYPE identityd_requests_total counter"
        );
        for &m in MethodId::ALL {
            for t in Transport::ALL {
                let s = self.stats(m, t);
                if s.latency.count.load(Relaxed) == 0 {
                    continue;
                }
                let labels = format!("transport=\"{}\",method=\"{}\"", t.label(), m.name());
                for (i, c) in s.outcomes.iter().enumerate() {
                    let n = c.load(Relaxed);
                    let outcome = match i.checked_sub(1) {
                        None => "ok",
                        Some(e) => match ErrorCode::ALL.get(e) {
                            Some(code) => code.as_str(),
                            None => continue,
                        },
                    };
                    // `ok` is always shown for a method that was called; errors once they occur.
                    if n > 0 || i == 0 {
                        let _ = writeln!(
                            out,
                            "identityd_requests_total{{{labels},outcome=\"{outcome}\"}} {n}"
                        );
                    }
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP identityd_request_duration_seconds Time to answer an API request, from decoding to the reply.\n\
             # TYPE identityd_request_duration_seconds histogram"
        );
        for &m in MethodId::ALL {
            for t in Transport::ALL {
                let s = self.stats(m, t);
                if s.latency.count.load(Relaxed) == 0 {
                    continue;
                }
                let labels = format!("transport=\"{}\",method=\"{}\"", t.label(), m.name());
                s.latency
                    .render(&mut out, "identityd_request_duration_seconds", &labels);
            }
        }
        let _ = writeln!(
            out,
            "# HELP identityd_domains Domains in memory.\n# TYPE identityd_domains gauge\nidentityd_domains {}",
            gauges.domains
        );
        if gauges.users.is_empty() {
            let _ = writeln!(
                out,
                "# HELP identityd_users Users (in all domains).\n# TYPE identityd_users gauge\nidentityd_users {}",
                gauges.users_total
            );
        } else {
            let _ = writeln!(
                out,
                "# HELP identityd_users Users per domain.\n# TYPE identityd_users gauge"
            );
            for (domain_id, n) in &gauges.users {
                let _ = writeln!(
                    out,
                    "identityd_users{{domain_id=\"{}\"}} {n}",
                    label_value(domain_id)
                );
            }
        }
        self.render_net(&mut out);
        if self.fsync_wired.load(Relaxed) {
            let _ = writeln!(
                out,
                "# HELP identityd_wal_fsync_duration_seconds Time of one WAL fsync (a group commit).\n\
                 # TYPE identityd_wal_fsync_duration_seconds histogram"
            );
            self.fsync
                .render(&mut out, "identityd_wal_fsync_duration_seconds", "");
        }
        if self.outbox_wired.load(Relaxed) {
            let _ = writeln!(
                out,
                "# HELP identityd_outbox_depth Mails waiting to be sent.\n# TYPE identityd_outbox_depth gauge\nidentityd_outbox_depth {}",
                self.outbox_depth.load(Relaxed)
            );
        }
        // Shown once a mail was dropped (no placeholder series).
        let dropped_any = self.mail_dropped.iter().any(|c| c.load(Relaxed) > 0);
        if dropped_any {
            let _ = writeln!(
                out,
                "# HELP identityd_mail_dropped_total Mails not sent: quota, outbox (full or the tenant's share taken), error.\n# TYPE identityd_mail_dropped_total counter"
            );
        }
        for (reason, c) in MAIL_DROP_REASONS
            .iter()
            .zip(&self.mail_dropped)
            .filter(|_| dropped_any)
        {
            let _ = writeln!(
                out,
                "identityd_mail_dropped_total{{reason=\"{reason}\"}} {}",
                c.load(Relaxed)
            );
        }
        out
    }
}

/// Escapes a label value (`\`, `"` and newlines).
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Runs one API request and records its latency and outcome. Both transports' generated code
/// wraps every method in this; it is the only place requests are measured.
pub async fn instrument<T>(
    metrics: &Metrics,
    transport: Transport,
    method: MethodId,
    request: impl Future<Output = ApiResult<T>>,
) -> ApiResult<T> {
    let start = Instant::now();
    let result = request.await;
    metrics.observe(
        transport,
        method,
        start.elapsed(),
        result.as_ref().err().map(|e| e.code),
    );
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::service::METHODS;

    #[test]
    fn method_ids_follow_the_table() {
        assert_eq!(MethodId::ALL.len(), METHODS.len());
        for (i, m) in MethodId::ALL.iter().enumerate() {
            assert_eq!(*m as usize, i);
            assert_eq!(m.name(), METHODS[i].0);
        }
        for (i, c) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "ErrorCode::ALL is in declaration order");
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_counts_agree() {
        let m = Metrics::new();
        let id = MethodId::ALL[0];
        m.observe(Transport::Http, id, Duration::from_micros(40), None);
        m.observe(Transport::Http, id, Duration::from_micros(700), None);
        m.observe(
            Transport::Http,
            id,
            Duration::from_secs(30),
            Some(ErrorCode::NotFound),
        );
        let page = m.render(&Gauges::default());
        let labels = format!("transport=\"http\",method=\"{}\"", id.name());
        assert!(page.contains(&format!(
            "identityd_requests_total{{{labels},outcome=\"ok\"}} 2\n"
        )));
        assert!(page.contains(&format!(
            "identityd_requests_total{{{labels},outcome=\"ERROR_NOT_FOUND\"}} 1\n"
        )));
        let b =
            |le: &str| format!("identityd_request_duration_seconds_bucket{{{labels},le=\"{le}\"}}");
        assert!(page.contains(&format!("{} 1\n", b("0.00005"))), "{page}");
        assert!(page.contains(&format!("{} 1\n", b("0.0005"))), "{page}");
        assert!(page.contains(&format!("{} 2\n", b("0.001"))), "{page}");
        assert!(page.contains(&format!("{} 2\n", b("10"))), "{page}");
        assert!(page.contains(&format!("{} 3\n", b("+Inf"))), "{page}");
        assert!(page.contains(&format!(
            "identityd_request_duration_seconds_count{{{labels}}} 3\n"
        )));
        assert!(page.contains(&format!(
            "identityd_request_duration_seconds_sum{{{labels}}} 30.00074\n"
        )));
        // The other transport and uncalled methods have no request series.
        assert!(!page.contains("identityd_requests_total{transport=\"tarpc\""));
        assert!(!page.contains("identityd_request_duration_seconds_count{transport=\"tarpc\""));
    }

    #[test]
    fn wal_and_outbox_series_appear_only_once_reported() {
        let m = Metrics::new();
        let page = m.render(&Gauges::default());
        assert!(!page.contains("fsync"));
        assert!(!page.contains("outbox"));
        m.record_fsync(Duration::from_micros(220));
        m.set_outbox_depth(7);
        let page = m.render(&Gauges {
            domains: 1,
            users_total: 3,
            users: vec![("domain-\"x\"".into(), 3)],
        });
        assert!(page.contains("identityd_wal_fsync_duration_seconds_bucket{le=\"0.00025\"} 1\n"));
        assert!(page.contains("identityd_wal_fsync_duration_seconds_count 1\n"));
        assert!(page.contains("identityd_outbox_depth 7\n"));
        assert!(page.contains("identityd_domains 1\n"));
        assert!(page.contains("identityd_users{domain_id=\"domain-\\\"x\\\"\"} 3\n"));
    }

    #[test]
    fn without_tenants_no_domain_is_named() {
        let m = Metrics::new();
        let g = Gauges {
            domains: 2,
            users_total: 5,
            users: vec![("domain-a".into(), 4), ("domain-b".into(), 1)],
        };
        let page = m.render(&g.clone().without_tenants());
        assert!(page.contains("identityd_users 5\n"), "{page}");
        assert!(
            !page.contains("domain_id") && !page.contains("domain-a"),
            "{page}"
        );
        let page = m.render(&g);
        assert!(
            page.contains("identityd_users{domain_id=\"domain-a\"} 4\n"),
            "{page}"
        );
    }

    #[test]
    fn budget_gauges_track_the_high_water_mark() {
        let m = Metrics::new();
        m.rpc_bytes_charged(100, false);
        m.rpc_bytes_charged(50, true);
        m.rpc_bytes_released(100);
        m.rpc_bytes_released(1000);
        let page = m.render(&Gauges::default());
        assert!(
            page.contains("identityd_rpc_request_bytes_in_flight 0\n"),
            "{page}"
        );
        assert!(
            page.contains("identityd_rpc_request_bytes_in_flight_max 150\n"),
            "{page}"
        );
        assert!(
            page.contains("identityd_rpc_budget_waits_total 1\n"),
            "{page}"
        );
    }

    #[test]
    fn seconds_are_written_without_trailing_zeros() {
        assert_eq!(seconds(0.00005), "0.00005");
        assert_eq!(seconds(1.0), "1");
        assert_eq!(seconds(2.5), "2.5");
        assert_eq!(seconds(0.0), "0");
    }
}
