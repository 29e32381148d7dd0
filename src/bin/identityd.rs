//! The identityd server.

use clap::{Parser, Subcommand};
use identityd::config::{Config, Settings};
use identityd::model::clock::SystemClock;
use identityd::server::Server;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "identityd",
    version,
    about = "In-memory, durable identity service (Cloudforet identity User v1 / UserProfile v2)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (tarpc on --rpc-addr, HTTP/JSON on --http-addr).
    Serve(Box<Settings>),
    /// Take a snapshot now: of a running server (over RPC, with the system key), or with
    /// --offline of a data dir no server is using.
    Snapshot(SnapshotArgs),
    /// Check every file of a data dir (log segments, snapshots) and print what was found; exits 1
    /// when something is damaged. Changes nothing.
    VerifyData {
        /// Data directory to check
        #[arg(long, env = "IDENTITYD_DATA_DIR", default_value = "./snapshots")]
        data_dir: std::path::PathBuf,
    },
}

#[derive(clap::Args)]
struct SnapshotArgs {
    /// Data directory (for --offline, and to find the system key)
    #[arg(long, env = "IDENTITYD_DATA_DIR", default_value = "./snapshots")]
    data_dir: std::path::PathBuf,
    /// tarpc address of the running server
    #[arg(long, env = "IDENTITYD_RPC_ADDR", default_value = "127.0.0.1:7700")]
    rpc_addr: String,
    /// System key file [default: <data-dir>/system.key]
    #[arg(long, env = "IDENTITYD_SYSTEM_KEY_FILE")]
    system_key_file: Option<std::path::PathBuf>,
    /// Work on the data dir directly (no server may be running on it)
    #[arg(long)]
    offline: bool,
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("IDENTITYD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(s) => serve(*s),
        Command::Snapshot(a) => snapshot(a),
        Command::VerifyData { data_dir } => verify_data(&data_dir),
    };
    if let Err(e) = result {
        eprintln!("identityd: error: {e:#}");
        std::process::exit(1);
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    let config = Config::from_settings(settings.with_file()?)?;
    init_logs(config.json_logs);
    // Descriptors: as many as the system allows, so the connection caps (fitted below the limit
    // minus --fd-reserve) leave head-room for the log and snapshots.
    match identityd::server::raise_fd_limit() {
        Ok((soft, hard)) => tracing::info!(soft, hard, "descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the descriptor limit"),
    }
    let server = Server::start(config, Arc::new(SystemClock))?;
    let http = server
        .http_addr
        .map_or_else(|| "disabled".to_owned(), |a| a.to_string());
    println!("identityd ready rpc={} http={}", server.rpc_addr, http);
    tracing::info!(rpc = %server.rpc_addr, http = %http, "ready");
    wait_for_signal()?;
    tracing::info!("signal received; stopping");
    server.stop()
}

fn wait_for_signal() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    })?;
    Ok(())
}

fn snapshot(a: SnapshotArgs) -> anyhow::Result<()> {
    if a.offline {
        init_logs(false);
        let _lock = identityd::server::lock_data_dir(&a.data_dir)?;
        let opts = identityd::store::WalOptions::default();
        let (path, lsn) = identityd::store::recovery::snapshot_offline(&a.data_dir, opts)?;
        println!("snapshot written: {} (lsn {lsn})", path.display());
        return Ok(());
    }
    let key_file = a
        .system_key_file
        .unwrap_or_else(|| a.data_dir.join("system.key"));
    let key = std::fs::read_to_string(&key_file)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", key_file.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let c = identityd::client::connect(&a.rpc_addr).await?;
        let cred = identityd::api::Credential::bearer(key.trim());
        let r = c
            .system_snapshot(identityd::client::ctx(), cred, identityd::api::Empty {})
            .await?
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
        println!(
            "snapshot written: {} (lsn {}, {} domains, {} users, {} ms, longest actor pause {} ms)",
            r.path, r.lsn, r.domains, r.users, r.total_ms, r.max_copy_ms
        );
        Ok(())
    })
}

fn verify_data(dir: &std::path::Path) -> anyhow::Result<()> {
    let report = identityd::store::verify_dir(dir)?;
    print!("{report}");
    if report.ok() {
        Ok(())
    } else {
        anyhow::bail!("{} has damaged files", dir.display())
    }
}
