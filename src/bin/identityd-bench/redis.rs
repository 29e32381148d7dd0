//! The Redis baseline: our own `redis-server` on a loopback port and a temp dir, preloaded with
//! one hash per user holding the fields `user_get` returns, measured with `redis-benchmark`.
//! Optional: only when both binaries are on PATH.

use crate::report::{Latency, Stats};
use crate::spawn::TempDir;
use anyhow::{Context as _, bail};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// Read a whole user hash (the equivalent of `user_get`).
    Hgetall,
    /// Set one field of a user hash (the equivalent of a durable `user_update`).
    Hset,
}

impl Cmd {
    pub fn name(self) -> &'static str {
        match self {
            Cmd::Hgetall => "HGETALL",
            Cmd::Hset => "HSET",
        }
    }
}

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

pub fn available() -> bool {
    on_path("redis-server") && on_path("redis-benchmark")
}

/// redis-benchmark's `__rand_int__` is 12 zero-padded digits.
fn key(i: usize) -> String {
    format!("user:{i:012}")
}

/// The fields of user `i` as `user_get` returns them (same user as `fixtures::user`).
fn user_fields(i: usize) -> Vec<(&'static str, String)> {
    let id = identityd::fixtures::user_id(i);
    vec![
        ("user_id", id.clone()),
        ("name", format!("Bench User {i}")),
        ("state", "ENABLED".into()),
        ("email", id),
        ("email_verified", "false".into()),
        ("user_type", "USER".into()),
        ("backend", "LOCAL".into()),
        ("language", "en".into()),
        ("timezone", "Asia/Seoul".into()),
        ("required_actions", "[]".into()),
        (
            "tags",
            format!(
                r#"{{"role":"engineer","team":"team-{}"}}"#,
                i % identityd::fixtures::TEAMS
            ),
        ),
        (
            "mfa",
            r#"{"state":"DISABLED","mfa_type":null,"options":{}}"#.into(),
        ),
        ("last_accessed_at", String::new()),
        ("created_at", "2026-09-21T16:53:20Z".into()),
        ("domain_id", "domain-0123456789ab".into()),
    ]
}

fn resp(args: &[&str], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads `n` simple replies (status, integer or error lines).
fn read_replies(r: &mut BufReader<TcpStream>, n: usize) -> anyhow::Result<()> {
    let mut line = String::new();
    for _ in 0..n {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            bail!("redis closed the connection");
        }
        if line.starts_with('-') {
            bail!("redis: {}", line.trim());
        }
    }
    Ok(())
}

struct RedisServer {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl RedisServer {
    fn start(appendfsync: &str) -> anyhow::Result<RedisServer> {
        let dir = TempDir::new("redis")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let aof = appendfsync != "no";
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&dir.path)
            .args(["--save", "", "--daemonize", "no", "--loglevel", "warning"])
            .args(["--appendonly", if aof { "yes" } else { "no" }])
            .args(["--appendfsync", if aof { appendfsync } else { "everysec" }])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd.spawn().context("starting redis-server")?;
        let mut s = RedisServer {
            child,
            port,
            _dir: dir,
        };
        let started = Instant::now();
        loop {
            if let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) {
                let mut buf = Vec::new();
                resp(&["PING"], &mut buf);
                c.write_all(&buf)?;
                let mut r = BufReader::new(c);
                let mut line = String::new();
                r.read_line(&mut line)?;
                if line.starts_with("+PONG") {
                    return Ok(s);
                }
            }
            if let Some(status) = s.child.try_wait()? {
                bail!("redis-server exited early: {status}");
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("redis-server did not answer within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn preload(&self, users: usize) -> anyhow::Result<()> {
        let c = TcpStream::connect(("127.0.0.1", self.port))?;
        let mut w = c.try_clone()?;
        let mut r = BufReader::new(c);
        let mut buf = Vec::new();
        let mut pending = 0;
        for i in 0..users {
            let k = key(i);
            let fields = user_fields(i);
            let mut args: Vec<&str> = vec!["HSET", &k];
            for (f, v) in &fields {
                args.push(f);
                args.push(v);
            }
            resp(&args, &mut buf);
            pending += 1;
            if pending == 1000 || i + 1 == users {
                w.write_all(&buf)?;
                buf.clear();
                read_replies(&mut r, pending)?;
                pending = 0;
            }
        }
        Ok(())
    }

    fn stop(mut self) {
        if let Ok(mut c) = TcpStream::connect(("127.0.0.1", self.port)) {
            let mut buf = Vec::new();
            resp(&["SHUTDOWN", "NOSAVE"], &mut buf);
            let _ = c.write_all(&buf);
            let _ = c.read(&mut [0u8; 64]);
        }
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `redis-benchmark` for `cmd` against a fresh redis-server preloaded with `users` hashes.
pub fn run(
    cmd: Cmd,
    clients: usize,
    requests: u64,
    users: usize,
    appendfsync: &str,
) -> anyhow::Result<Stats> {
    let server = RedisServer::start(appendfsync)?;
    let result = (|| {
        server.preload(users)?;
        let mut bench = Command::new("redis-benchmark");
        bench
            .args(["-h", "127.0.0.1", "-p", &server.port.to_string()])
            .args(["-c", &clients.to_string(), "-n", &requests.to_string()])
            .args(["-r", &users.to_string(), "--csv"]);
        match cmd {
            Cmd::Hgetall => bench.args(["HGETALL", "user:__rand_int__"]),
            Cmd::Hset => bench.args(["HSET", "user:__rand_int__", "name", "Renamed __rand_int__"]),
        };
        let cpu = || crate::load::proc_cpu(&format!("/proc/{}/stat", server.child.id()));
        let cpu_before = cpu();
        let out = bench.output().context("running redis-benchmark")?;
        let server_cpu = cpu().zip(cpu_before).map(|(b, a)| b - a);
        if !out.status.success() {
            bail!(
                "redis-benchmark failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut s = parse_csv(
            &String::from_utf8_lossy(&out.stdout),
            cmd,
            clients,
            appendfsync,
        )?;
        s.requests = requests;
        s.server_cpu_us_per_req = server_cpu
            .filter(|c| *c > 0.0)
            .map(|c| (c * 1e7 / requests as f64).round() / 10.0);
        if s.throughput > 0.0 {
            s.elapsed_s = crate::report::round3(requests as f64 / s.throughput);
        }
        Ok(s)
    })();
    server.stop();
    result
}

/// Parses `--csv` output: a header line, then
/// `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"`.
fn parse_csv(text: &str, cmd: Cmd, clients: usize, fsync: &str) -> anyhow::Result<Stats> {
    let mut lines = text.lines().filter(|l| l.starts_with('"'));
    let header: Vec<String> = lines
        .next()
        .context("redis-benchmark printed no CSV header")?
        .split(',')
        .map(|s| s.trim_matches('"').to_owned())
        .collect();
    let row: Vec<String> = lines
        .next()
        .context("redis-benchmark printed no CSV row")?
        .split(',')
        .map(|s| s.trim_matches('"').to_owned())
        .collect();
    let get = |name: &str| -> anyhow::Result<f64> {
        let i = header
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("redis-benchmark CSV has no {name} column"))?;
        row.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("redis-benchmark CSV {name} is not a number"))
    };
    let rps = get("rps")?;
    let ms = |name: &str| get(name).map(|v| (v * 10_000.0).round() / 10.0);
    let name = match cmd {
        Cmd::Hgetall => "redis HGETALL".to_owned(),
        Cmd::Hset => format!("redis HSET fsync={fsync}"),
    };
    Ok(Stats {
        name,
        connections: clients,
        inflight: 1,
        requests: 0,
        errors: BTreeMap::new(),
        elapsed_s: 0.0,
        throughput: rps.round(),
        latency_us: Latency {
            mean: ms("avg_latency_ms")?,
            p50: ms("p50_latency_ms")?,
            p90: None,
            p95: Some(ms("p95_latency_ms")?),
            p99: ms("p99_latency_ms")?,
            p999: None,
            max: ms("max_latency_ms")?,
        },
        server_cpu_us_per_req: None,
        client_cpu_us_per_req: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redis_benchmark_csv() {
        let text = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\"HGETALL user:__rand_int__\",\"81234.56\",\"0.310\",\"0.080\",\"0.295\",\"0.455\",\"0.711\",\"2.103\"\n";
        let s = parse_csv(text, Cmd::Hgetall, 50, "no").unwrap();
        assert_eq!(s.throughput, 81235.0);
        assert_eq!(s.latency_us.p50, 295.0);
        assert_eq!(s.latency_us.p99, 711.0);
        assert_eq!(s.latency_us.p95, Some(455.0));
    }
}
