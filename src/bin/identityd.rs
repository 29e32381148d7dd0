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
    Serve(Settings),
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
        Command::Serve(s) => serve(s),
    };
    if let Err(e) = result {
        eprintln!("identityd: error: {e:#}");
        std::process::exit(1);
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    let config = Config::from_settings(settings.with_file()?)?;
    init_logs(config.json_logs);
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
