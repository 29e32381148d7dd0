//! Results: per-phase statistics from HDR histograms, ratios, a table on stderr and JSON on stdout.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;

/// Latency histogram in nanoseconds, 1 µs .. 60 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // Bounds are constants that satisfy the constructor's preconditions.
    Histogram::new_with_bounds(1_000, 60_000_000_000, 3).unwrap_or_else(|_| unreachable!())
}

/// Latency percentiles in microseconds. Redis reports no p90/p99.9 (`None`) but a p95.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub mean: f64,
    pub p50: f64,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: f64,
    pub p999: Option<f64>,
    pub max: f64,
}

impl Latency {
    pub fn from_histogram(h: &Histogram<u64>) -> Latency {
        let us = |ns: u64| (ns as f64 / 100.0).round() / 10.0;
        Latency {
            mean: (h.mean() / 100.0).round() / 10.0,
            p50: us(h.value_at_quantile(0.50)),
            p90: Some(us(h.value_at_quantile(0.90))),
            p95: Some(us(h.value_at_quantile(0.95))),
            p99: us(h.value_at_quantile(0.99)),
            p999: Some(us(h.value_at_quantile(0.999))),
            max: us(h.max()),
        }
    }
}

/// One measured phase (a workload or a baseline).
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub name: String,
    pub connections: usize,
    pub inflight: usize,
    /// Successful requests measured.
    pub requests: u64,
    /// Failed requests by error code (`TRANSPORT` for RPC failures).
    pub errors: BTreeMap<String, u64>,
    pub elapsed_s: f64,
    /// Successful requests per second.
    pub throughput: f64,
    pub latency_us: Latency,
    /// CPU time (user + system) of the server per successful request, when its pid is known.
    pub server_cpu_us_per_req: Option<f64>,
    /// CPU time of identityd-bench itself per successful request.
    pub client_cpu_us_per_req: Option<f64>,
}

/// `workload / baseline` for throughput and latency percentiles.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub baseline: String,
    pub throughput: f64,
    pub p50: f64,
    pub p99: f64,
    /// Server CPU time per request, workload / baseline: insensitive to a shared machine's load.
    pub server_cpu: Option<f64>,
}

impl Ratio {
    pub fn of(w: &Stats, b: &Stats) -> Ratio {
        let r = |a: f64, b: f64| if b > 0.0 { round3(a / b) } else { 0.0 };
        Ratio {
            baseline: b.name.clone(),
            throughput: r(w.throughput, b.throughput),
            p50: r(w.latency_us.p50, b.latency_us.p50),
            p99: r(w.latency_us.p99, b.latency_us.p99),
            server_cpu: w
                .server_cpu_us_per_req
                .zip(b.server_cpu_us_per_req)
                .map(|(a, b)| r(a, b)),
        }
    }
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.1}"))
}

/// A fixed-width table of phases on stderr.
pub fn print_table(rows: &[&Stats]) {
    eprintln!(
        "  {:<26} {:>7} {:>9} {:>11} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9}  errors",
        "phase",
        "c x k",
        "requests",
        "req/s",
        "p50 us",
        "p90 us",
        "p99 us",
        "p99.9",
        "max us",
        "mean us"
    );
    for s in rows {
        let errs: Vec<String> = s.errors.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!(
            "  {:<26} {:>7} {:>9} {:>11.0} {:>8.1} {:>8} {:>8.1} {:>8} {:>9.1} {:>9.1} {:>8}  {}",
            s.name,
            format!("{}x{}", s.connections, s.inflight),
            s.requests,
            s.throughput,
            s.latency_us.p50,
            opt(s.latency_us.p90),
            s.latency_us.p99,
            opt(s.latency_us.p999),
            s.latency_us.max,
            s.latency_us.mean,
            opt(s.server_cpu_us_per_req),
            if errs.is_empty() {
                "0".to_owned()
            } else {
                errs.join(" ")
            }
        );
    }
}

pub fn print_ratio(name: &str, r: &Ratio) {
    eprintln!(
        "  {name} / {}: throughput {:.3}x, p50 {:.3}x, p99 {:.3}x",
        r.baseline, r.throughput, r.p50, r.p99
    );
    if let Some(c) = r.server_cpu {
        eprintln!("    server CPU per request {c:.3}x");
    }
}
