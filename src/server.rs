//! Assembles a server: keys, hashing pool, recovery, actors, service, transports; and stops it
//! cleanly. The actors, the tarpc server and the HTTP gateway share one actix system; domain
//! actors are spread over `workers` arbiters (1 — the system thread — by default).

use crate::actor::persist::PersistHandle;
use crate::actor::registry::Registry;
use crate::auth::caller::Authn;
use crate::auth::hasher::HashPool;
use crate::auth::syskey::SystemKey;
use crate::auth::token::TokenKeys;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::model::clock::Clock;
use crate::service::Service;
use crate::transport;
use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

/// A running server. Dropping it stops it.
pub struct Server {
    pub rpc_addr: SocketAddr,
    pub http_addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

struct Ready {
    rpc: SocketAddr,
    http: Option<SocketAddr>,
}

impl Server {
    /// Starts a server on its own thread and returns once it is ready (recovered and listening).
    pub fn start(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<Ready>>();
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("identityd".into())
            .spawn(move || {
                let sys = actix::System::new();
                let r = sys.block_on(run(config, clock, ready_tx, stop_rx));
                actix::System::current().stop();
                r
            })?;
        match ready_rx.recv() {
            Ok(Ok(r)) => Ok(Server {
                rpc_addr: r.rpc,
                http_addr: r.http,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => match thread.join() {
                Ok(Err(e)) => Err(e),
                _ => Err(anyhow::anyhow!("the server thread stopped during startup")),
            },
        }
    }

    /// Stops accepting requests, writes a final snapshot, closes the log, and waits.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(anyhow::anyhow!("the server thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

async fn run(
    config: Config,
    clock: Arc<dyn Clock>,
    ready: std::sync::mpsc::Sender<anyhow::Result<Ready>>,
    stop: oneshot::Receiver<()>,
) -> anyhow::Result<()> {
    let started = match start_inner(&config, clock).await {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("{e:#}");
            let _ = ready.send(Err(e));
            return Err(anyhow::anyhow!(msg));
        }
    };
    let _ = ready.send(Ok(Ready {
        rpc: started.rpc,
        http: started.http,
    }));
    let _ = stop.await;
    tracing::info!("shutting down");
    started.rpc_task.abort();
    if let Some(h) = started.http_server {
        h.stop(true).await;
    }
    Ok(())
}

struct Started {
    rpc: SocketAddr,
    http: Option<SocketAddr>,
    rpc_task: tokio::task::JoinHandle<()>,
    http_server: Option<actix_web::dev::ServerHandle>,
}

async fn start_inner(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Started> {
    let (system_key, created) = SystemKey::load_or_create(&config.system_key_file)
        .with_context(|| format!("system key {}", config.system_key_file.display()))?;
    if created {
        tracing::info!(path = %config.system_key_file.display(), "created a new system key");
    } else {
        tracing::info!(path = %config.system_key_file.display(), "loaded the system key");
    }
    let token_key = config.data_dir.join("token.key");
    let tokens = TokenKeys::load_or_create(&token_key)
        .with_context(|| format!("token signing key {}", token_key.display()))?;
    let hasher = HashPool::new(config.hash_threads, config.hash_queue, config.hash_params)
        .map_err(|e| anyhow::anyhow!(e))?;

    let mut arbiters = vec![actix::Arbiter::current()];
    for _ in 1..config.workers {
        let a = actix::Arbiter::new();
        arbiters.push(a.handle());
        // The arbiter thread lives as long as the system.
        std::mem::forget(a);
    }
    // Shared by both transports; the WAL (record_fsync) and the outbox (set_outbox_depth) report
    // into it once they exist.
    let metrics = Arc::new(Metrics::new());
    let persist = PersistHandle::memory();
    let registry = Registry::new(
        persist,
        clock.clone(),
        config.lockout,
        config.mailbox,
        arbiters,
    );
    let authn = Authn { system_key, tokens };
    let service = Service::new(registry, authn, hasher, clock, config.service.clone());

    let listener = transport::tarpc::bind(config.rpc_addr)
        .await
        .with_context(|| format!("binding the RPC address {}", config.rpc_addr))?;
    let rpc = listener.local_addr()?;
    let rpc_task = tokio::spawn(transport::tarpc::serve(
        listener,
        service.clone(),
        metrics.clone(),
        transport::tarpc::RpcLimits::default(),
    ));
    let (http, http_server) = match config.http_addr {
        Some(addr) => {
            let (bound, handle) = transport::http::start(addr, service.clone(), metrics.clone())
                .with_context(|| format!("binding the HTTP address {addr}"))?;
            (Some(bound), Some(handle))
        }
        None => (None, None),
    };
    Ok(Started {
        rpc,
        http,
        rpc_task,
        http_server,
    })
}
