//! Smoke run of the real `identityd-bench` binary: it spawns the real `identityd` on a temp dir,
//! sets up a few users, drives get / update / mix for about half a second each, and prints a JSON
//! report that must be sane. No Redis (CI does not install it); small WAL segments (no 64 MiB
//! preallocation per server).

use std::process::Command;

fn bench(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_identityd-bench"))
        .args(["run", "--spawn", "--json", "--redis", "off"])
        .args([
            "--users", "20", "-d", "0.5", "--warmup", "0.1", "-c", "2", "-k", "4",
        ])
        .args(["--server-bin", env!("CARGO_BIN_EXE_identityd")])
        .args(args)
        .output()
        .expect("identityd-bench runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "identityd-bench failed:\n{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn f(v: &serde_json::Value, path: &str) -> f64 {
    v.pointer(path)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| panic!("{path} missing in {v:#}"))
}

fn assert_sane(stats: &serde_json::Value) {
    assert!(f(stats, "/throughput") > 0.0, "{stats:#}");
    assert!(f(stats, "/requests") > 0.0, "{stats:#}");
    let p: Vec<f64> = ["p50", "p90", "p99", "p999", "max"]
        .iter()
        .map(|k| f(stats, &format!("/latency_us/{k}")))
        .collect();
    assert!(p[0] > 0.0, "{stats:#}");
    assert!(
        p.windows(2).all(|w| w[0] <= w[1]),
        "percentiles out of order: {p:?}"
    );
    assert_eq!(
        stats["errors"].as_object().map_or(0, |m| m.len()),
        0,
        "errors: {stats:#}"
    );
}

#[test]
fn get_with_ping_baseline() {
    let r = bench(&["-w", "get", "--", "--wal-segment-bytes", "1048576"]);
    assert_eq!(r["workload"], "get");
    assert_sane(&r["result"]);
    assert_eq!(r["baselines"][0]["name"], "ping");
    assert_sane(&r["baselines"][0]);
    assert!(f(&r, "/ratios/0/throughput") > 0.0);
}

#[test]
fn durable_updates() {
    let r = bench(&[
        "-w",
        "update",
        "--no-ping",
        "--",
        "--fsync",
        "always",
        "--wal-segment-bytes",
        "1048576",
    ]);
    assert_eq!(r["workload"], "update");
    assert_sane(&r["result"]);
}

#[test]
fn mix_of_reads_writes_and_logins() {
    let r = bench(&[
        "-w",
        "mix",
        "--mix",
        "get=6,update=2,list=1,login=1",
        "--no-ping",
    ]);
    assert!(r["workload"].as_str().unwrap().starts_with("mix("), "{r:#}");
    assert_sane(&r["result"]);
}
