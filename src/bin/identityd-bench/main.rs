//! identityd-bench: a load generator for identityd in the style of redis-benchmark, with its
//! baselines measured in the same run (the `ping` RPC; Redis when it is installed), and a memory
//! and cold-restart mode. Loopback only; every run is bounded in time and count.
//!
//! ```text
//! identityd-bench run --spawn -w get -c 4 -k 256 -d 5            # spawns identityd on a temp dir
//! identityd-bench run --spawn -w update -c 64 -k 1 -- --fsync always
//! identityd-bench run --addr 127.0.0.1:7700 --system-key-file snapshots/system.key -w mix
//! identityd-bench memory --users 100000,1000000 --wal-tail 100000
//! ```

mod load;
mod memory;
mod redis;
mod report;
mod spawn;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "identityd-bench",
    version,
    about = "Load generator and memory/restart benchmark for identityd"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drive a workload over tarpc and report throughput and latency percentiles, next to the
    /// ping RPC (and Redis, when installed) measured in the same run.
    Run(Box<load::RunArgs>),
    /// Build 1 domain with N users offline (snapshot + a WAL tail written with the store API),
    /// then time `identityd serve` until its ready line and read its RSS.
    Memory(memory::MemoryArgs),
}

fn main() {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Run(a) => load::main(*a),
        Command::Memory(a) => memory::main(a),
    };
    if let Err(e) = r {
        eprintln!("identityd-bench: error: {e:#}");
        std::process::exit(1);
    }
}
