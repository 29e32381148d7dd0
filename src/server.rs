//! Assembles a server: keys, hashing pool, recovery, actors, service, transports; and stops it
//! cleanly. The actors, the tarpc server and the HTTP gateway share one actix system; domain
//! actors are spread over `workers` arbiters (1 — the system thread — by default).

use crate::actor::persist::PersistHandle;
use crate::actor::registry::Registry;
use crate::actor::snapshot::Snapshotter;
use crate::auth::caller::Authn;
use crate::auth::codes::CodeKey;
use crate::auth::hasher::HashPool;
use crate::auth::syskey::SystemKey;
use crate::auth::syskey::load_or_create_secret;
use crate::auth::token::TokenKeys;
use crate::config::Config;
use crate::mail::{MailTransport, Outbox, OutboxConfig};
use crate::metrics::Metrics;
use crate::model::clock::Clock;
use crate::service::Service;
use crate::service::{Mailer, Parts};
use crate::store::WalOptions;
use crate::store::recovery::recover;
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
        {
            use std::os::unix::fs::PermissionsExt;
            let _ =
                std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700));
        }
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
    if let Some(h) = &started.http_server {
        h.stop(true).await;
    }
    started.snapshot_task.abort();
    if config_durable(&started) {
        // A final snapshot makes the next start fast; the log is synced by it.
        started
            .service
            .snapshot_now()
            .await
            .map_err(|e| anyhow::anyhow!("final snapshot: {}", e.message))?;
    }
    Ok(())
}

fn config_durable(s: &Started) -> bool {
    s.service.registry().persist().is_durable()
}

struct Started {
    rpc: SocketAddr,
    http: Option<SocketAddr>,
    rpc_task: tokio::task::JoinHandle<()>,
    http_server: Option<actix_web::dev::ServerHandle>,
    snapshot_task: tokio::task::JoinHandle<()>,
    service: Service,
    _lock: Option<std::fs::File>,
}

/// Takes the data dir's lock file: one process per data dir (a second writer would corrupt the
/// log). Held for as long as the returned file is open.
pub fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("LOCK");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.try_lock().map_err(|_| {
        anyhow::anyhow!(
            "data dir {} is in use by another identityd process",
            dir.display()
        )
    })?;
    Ok(f)
}

async fn start_inner(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Started> {
    let lock = if config.durable {
        Some(lock_data_dir(&config.data_dir)?)
    } else {
        None
    };
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
    let hasher = HashPool::with_sched(
        config.hash_threads,
        config.hash_queue,
        config.hash_params,
        config.hash_sched,
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    if let Some(n) = config.hash_dummy_budget {
        hasher.set_dummy_budget(n);
    }

    let mut arbiters = vec![actix::Arbiter::current()];
    for _ in 1..config.workers {
        let a = actix::Arbiter::new();
        arbiters.push(a.handle());
        // The arbiter thread lives as long as the system.
        std::mem::forget(a);
    }
    // Shared by both transports, the WAL (fsync latency) and the gateway (outbox depth).

    let metrics = Arc::new(Metrics::new());
    let (persist, recovered, snapshotter) = if config.durable {
        let dir = config.data_dir.clone();
        let opts = WalOptions {
            segment_bytes: config.wal_segment_bytes,
            preallocate: true,
        };
        let repair = config.repair;
        // Recovery reads and decodes files: keep it off the actor thread.
        let r = tokio::task::spawn_blocking(move || recover(&dir, opts, repair))
            .await
            .context("recovery thread")??;
        let snapshotter = Arc::new(Snapshotter::new(config.data_dir.clone(), r.snapshot_lsn));
        let persist = PersistHandle::start(Box::new(r.wal), config.fsync, Some(metrics.clone()))?;
        (persist, Some((r.domains, r.tombstones)), Some(snapshotter))
    } else {
        (PersistHandle::memory(), None, None)
    };
    let registry = Registry::new(
        persist,
        clock.clone(),
        config.lockout,
        config.mailbox,
        arbiters,
    );
    if let Some((domains, tombstones)) = recovered {
        registry.add_tombstones(tombstones);
        for d in domains {
            registry.spawn(d);
        }
    }
    let authn = Authn { system_key, tokens };
    let code_key = CodeKey::from_bytes(
        load_or_create_secret(&config.data_dir.join("code.key")).context("code key")?,
    );
    let transport =
        MailTransport::from_url(&config.mail).map_err(|e| anyhow::anyhow!("--mail: {e}"))?;
    tracing::info!(mail = %transport.redacted_url(), "mail transport");
    let outbox = Outbox::start(
        transport,
        OutboxConfig {
            from: config.mail_from.clone(),
            service_name: config.service_name.clone(),
            base_backoff: config.mail_backoff,
            max_backoff: config.mail_backoff * 60,
            queue_capacity: config.mail_outbox,
            ..OutboxConfig::default()
        },
    )
    .map_err(|e| anyhow::anyhow!("mail outbox: {e}"))?;
    outbox.set_per_domain_limit(config.mail_outbox_per_domain);
    let parts = Parts {
        hasher,
        clock,
        cfg: config.service.clone(),
        snapshotter,
        mailer: Mailer::new(Some(outbox), config.console_url.clone())
            .with_limits(config.code_limits)
            .with_metrics(metrics.clone()),
        code_key,
        noauth: config.noauth,
    };
    let service = Service::new(registry, authn, parts);
    let snapshot_task = tokio::spawn(snapshot_timer(
        service.clone(),
        config.snapshot_interval_s,
        config.snapshot_log_bytes,
    ));

    let (rpc_limits, http_limits) = connection_limits(config);
    let listener = transport::tarpc::bind(config.rpc_addr)
        .await
        .with_context(|| format!("binding the RPC address {}", config.rpc_addr))?;
    let rpc = listener.local_addr()?;
    let rpc_task = tokio::spawn(transport::tarpc::serve(
        listener,
        service.clone(),
        metrics.clone(),
        rpc_limits,
    ));
    let (http, http_server) = match config.http_addr {
        Some(addr) => {
            // Per-domain /metrics series are unlocked by the system key (read again: the
            // service holds the first copy).
            let metrics_key = if http_limits.metrics_tenant_labels {
                Some(SystemKey::load_or_create(&config.system_key_file)?.0)
            } else {
                None
            };
            let (bound, handle) = transport::http::start(
                addr,
                service.clone(),
                metrics.clone(),
                http_limits,
                metrics_key,
            )
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
        snapshot_task,
        service,
        _lock: lock,
    })
}

// --- security: transport ---

/// The process's soft limit on open descriptors (`RLIMIT_NOFILE`), if it can be read.
pub fn fd_limit() -> Option<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    (rc == 0).then_some(r.rlim_cur)
}

/// Raises the soft descriptor limit to the hard one (the binary calls this at start, so the
/// connection caps fit below a limit as high as the system allows). Returns (soft, hard) after.
pub fn raise_fd_limit() -> std::io::Result<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct they are given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if r.rlim_cur < r.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: r.rlim_max,
            rlim_max: r.rlim_max,
        };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        r.rlim_cur = r.rlim_max;
    }
    Ok((r.rlim_cur, r.rlim_max))
}

/// Connection caps that fit the descriptor limit: `rpc + http <= fd_limit - reserve` (each at
/// least 1), shrinking both in proportion when the configured caps do not fit. `http` is 0
/// when the gateway is disabled. The reserve keeps descriptors for the log (segment rolls,
/// the directory sync), snapshots, mail and the listeners.
pub fn fit_connection_caps(rpc: usize, http: usize, fd_limit: u64, reserve: u64) -> (usize, usize) {
    let room = usize::try_from(fd_limit.saturating_sub(reserve)).unwrap_or(usize::MAX);
    let want = rpc.saturating_add(http);
    if want <= room {
        return (rpc, http);
    }
    let share = |n: usize| -> usize {
        let scaled = (n as u128).saturating_mul(room as u128) / (want.max(1) as u128);
        usize::try_from(scaled).unwrap_or(usize::MAX).max(1)
    };
    (share(rpc), if http == 0 { 0 } else { share(http) })
}

/// The transports' limits from the configuration, with connection caps fitted to the
/// descriptor limit.
fn connection_limits(
    config: &Config,
) -> (transport::tarpc::RpcLimits, transport::http::HttpLimits) {
    let mut rpc = config.rpc_limits;
    let mut http = config.http_limits;
    let http_cap = if config.http_addr.is_some() {
        http.max_connections
    } else {
        0
    };
    if let Some(limit) = fd_limit() {
        let (r, h) = fit_connection_caps(rpc.max_connections, http_cap, limit, config.fd_reserve);
        if r < rpc.max_connections || h < http_cap {
            tracing::warn!(
                fd_limit = limit,
                fd_reserve = config.fd_reserve,
                rpc_max_connections = r,
                http_max_connections = h,
                "connection caps lowered to fit the descriptor limit"
            );
        }
        rpc.max_connections = r;
        if h > 0 {
            http.max_connections = h;
        }
    }
    (rpc, http)
}

/// Takes a snapshot every `interval_s` seconds (0: never by time) and whenever more than
/// `log_bytes` were logged since the last one (checked every few seconds).
async fn snapshot_timer(service: Service, interval_s: u64, log_bytes: u64) {
    let tick = std::time::Duration::from_secs(if interval_s == 0 {
        5
    } else {
        interval_s.clamp(1, 5)
    });
    let mut last = std::time::Instant::now();
    loop {
        tokio::time::sleep(tick).await;
        let by_time = interval_s > 0 && last.elapsed().as_secs() >= interval_s;
        let by_size = match service.log_bytes_since_snapshot().await {
            Some(b) => b >= log_bytes,
            None => return,
        };
        if by_time || by_size {
            let _ = service.snapshot_now().await;
            last = std::time::Instant::now();
        }
    }
}
