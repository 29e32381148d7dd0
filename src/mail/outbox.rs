//! The outbox: a bounded queue drained by one tokio task that sends with bounded retries and
//! exponential backoff. Enqueueing never waits on the transport.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::recipient_domain;
use super::templates::{MailKind, MailParams, render};
use super::transport::{Active, MailTransport, Outgoing};

/// A mail to send. `Debug` never shows the secret in `params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Recipient address (`a@b.io` or `Name <a@b.io>`).
    pub to: String,
    /// Which template.
    pub kind: MailKind,
    /// The user's language tag (`en`, `ko`, `ja`, …; others fall back to `en`).
    pub lang: String,
    /// Template parameters, including the secret.
    pub params: MailParams,
}

/// Outbox settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// `From:` address, e.g. `identityd <no-reply@example.com>`.
    pub from: String,
    /// Service name used in subjects (`[<service name>] …`) and signatures.
    pub service_name: String,
    /// Mail waiting in the queue at most; a further enqueue fails with [`EnqueueError::Full`].
    /// The retry set is bounded by the same number.
    pub queue_capacity: usize,
    /// Send attempts per message, the first included (0 counts as 1).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub base_backoff: Duration,
    /// Upper bound for the delay between attempts.
    pub max_backoff: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            from: "identityd <no-reply@localhost>".into(),
            service_name: "identityd".into(),
            queue_capacity: 1024,
            max_attempts: 6,
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(120),
        }
    }
}

/// Why [`Outbox::start`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboxStartError {
    /// `from` is not a valid mailbox.
    #[error("invalid outbox from address")]
    InvalidFrom,
    /// `queue_capacity` is 0.
    #[error("outbox queue capacity must be at least 1")]
    ZeroCapacity,
    /// Called outside a tokio runtime.
    #[error("outbox must be started inside a tokio runtime")]
    NoRuntime,
}

/// Why [`OutboxHandle::enqueue`] refused a mail. The mail is not sent; the caller decides (the
/// RPC still succeeds per SPEC 5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnqueueError {
    /// The queue is full (back-pressure).
    #[error("mail outbox is full")]
    Full,
    /// The tenant's share of the queue is taken ([`OutboxHandle::set_per_domain_limit`]).
    #[error("mail outbox share of this domain is full")]
    DomainFull,
    /// The outbox is shut down.
    #[error("mail outbox is closed")]
    Closed,
    /// The recipient is not a valid address.
    #[error("invalid mail recipient")]
    InvalidRecipient,
    /// The message could not be built.
    #[error("mail could not be built")]
    Build,
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Mail accepted and not yet sent or given up (in the queue or waiting for a retry).
    pub queued: u64,
    /// Mail delivered to the transport.
    pub sent: u64,
    /// Mail given up (permanent error, attempts exhausted, or abandoned at shutdown).
    pub failed: u64,
    /// Retries scheduled after a transient failure.
    pub retried: u64,
}

/// Result of [`OutboxHandle::shutdown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Mail still pending at the deadline, counted as failed.
    pub abandoned: u64,
    /// The counters after shutdown.
    pub stats: OutboxStats,
}

#[derive(Default)]
struct Counters {
    queued: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> OutboxStats {
        OutboxStats {
            queued: self.queued.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
        }
    }

    fn finish(&self, outcome: &AtomicU64, n: u64) {
        outcome.fetch_add(n, Ordering::Relaxed);
        self.queued.fetch_sub(n, Ordering::Relaxed);
    }
}

struct Job {
    msg: Outgoing,
    kind: MailKind,
    attempts: u32,
    /// The slot this job holds (released when it is sent or given up).
    domain: Arc<str>,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("msg", &self.msg)
            .field("kind", &self.kind)
            .field("attempts", &self.attempts)
            .finish()
    }
}

struct Pending {
    due: Instant,
    seq: u64,
    job: Job,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    // Reversed: BinaryHeap is a max-heap and we want the earliest due first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// Queue slots in use: in total (≤ the capacity) and per tenant domain (≤ the share).
#[derive(Default)]
struct Slots {
    total: usize,
    per_domain: HashMap<Arc<str>, usize>,
}

struct Shared {
    counters: Counters,
    slots: Mutex<Slots>,
    capacity: usize,
    per_domain_limit: AtomicUsize,
    closed: AtomicBool,
    from: Mailbox,
    service_name: String,
    shutdown_tx: watch::Sender<Option<Instant>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A cloneable handle to a running outbox.
#[derive(Clone)]
pub struct OutboxHandle {
    tx: mpsc::Sender<Job>,
    shared: Arc<Shared>,
}

impl fmt::Debug for OutboxHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxHandle")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Starts outboxes. See [`Outbox::start`].
#[derive(Debug)]
pub struct Outbox;

impl Outbox {
    /// Spawns the one sender task with `tokio::spawn` (works on a multi-thread runtime and on a
    /// current-thread runtime with a `LocalSet`, as inside an actix `System`) and returns the
    /// handle. The task ends after [`OutboxHandle::shutdown`], or once every handle is dropped
    /// and the pending mail is sent or given up.
    pub fn start(
        transport: MailTransport,
        config: OutboxConfig,
    ) -> Result<OutboxHandle, OutboxStartError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| OutboxStartError::InvalidFrom)?;
        if config.queue_capacity == 0 {
            return Err(OutboxStartError::ZeroCapacity);
        }
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| OutboxStartError::NoRuntime)?;
        let (tx, rx) = mpsc::channel(config.queue_capacity);
        let (shutdown_tx, shutdown_rx) = watch::channel(None);
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            slots: Mutex::new(Slots::default()),
            capacity: config.queue_capacity,
            per_domain_limit: AtomicUsize::new(config.queue_capacity),
            closed: AtomicBool::new(false),
            from,
            service_name: config.service_name.clone(),
            shutdown_tx,
            task: Mutex::new(None),
        });
        let transport_name = transport.redacted_url().to_string();
        let worker = Worker {
            transport,
            shared: Arc::clone(&shared),
            capacity: config.queue_capacity,
            max_attempts: config.max_attempts.max(1),
            base_backoff: config.base_backoff,
            max_backoff: config.max_backoff.max(config.base_backoff),
            retry: BinaryHeap::new(),
            seq: 0,
        };
        let task = runtime.spawn(worker.run(rx, shutdown_rx));
        if let Ok(mut slot) = shared.task.lock() {
            *slot = Some(task);
        }
        tracing::info!(transport = %transport_name, "mail outbox started");
        Ok(OutboxHandle { tx, shared })
    }
}

impl Shared {
    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn take_slot(&self, domain: &str) -> Result<Arc<str>, EnqueueError> {
        let limit = self.per_domain_limit.load(Ordering::Relaxed);
        let mut slots = self.slots();
        if slots.total >= self.capacity {
            return Err(EnqueueError::Full);
        }
        let used = slots.per_domain.get(domain).copied().unwrap_or(0);
        if used >= limit {
            return Err(EnqueueError::DomainFull);
        }
        let key: Arc<str> = match slots.per_domain.get_key_value(domain) {
            Some((k, _)) => Arc::clone(k),
            None => Arc::from(domain),
        };
        slots
            .per_domain
            .insert(Arc::clone(&key), used.saturating_add(1));
        slots.total = slots.total.saturating_add(1);
        Ok(key)
    }

    fn release(&self, domain: &str) {
        let mut slots = self.slots();
        slots.total = slots.total.saturating_sub(1);
        if let Some(n) = slots.per_domain.get_mut(domain) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                slots.per_domain.remove(domain);
            }
        }
    }
}

/// A queue slot taken before the mail exists (e.g. before its code is stored), so that a full
/// outbox is known up front. Dropped unused, it gives the slot back.
pub struct Reservation {
    tx: mpsc::Sender<Job>,
    shared: Arc<Shared>,
    domain: Option<Arc<str>>,
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation").finish_non_exhaustive()
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(d) = self.domain.take() {
            self.shared.release(&d);
        }
    }
}

impl Reservation {
    /// Renders `mail` and queues it in the reserved slot. Never waits.
    pub fn send(mut self, mail: Mail) -> Result<(), EnqueueError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(EnqueueError::Closed);
        }
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|_| EnqueueError::InvalidRecipient)?;
        let (subject, body) = render(
            mail.kind,
            &mail.lang,
            &self.shared.service_name,
            &mail.params,
        );
        let message = Message::builder()
            .from(self.shared.from.clone())
            .to(to)
            .subject(subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(body.into_inner())
            .map_err(|_| EnqueueError::Build)?;
        let Some(domain) = self.domain.take() else {
            return Err(EnqueueError::Closed);
        };
        let job = Job {
            msg: Outgoing {
                envelope: message.envelope().clone(),
                raw: message.formatted().into(),
                to: mail.to,
                subject,
            },
            kind: mail.kind,
            attempts: 0,
            domain,
        };
        // Count before sending so the worker can never decrement below zero.
        self.shared.counters.queued.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.shared.counters.queued.fetch_sub(1, Ordering::Relaxed);
                let (job, err) = match e {
                    mpsc::error::TrySendError::Full(j) => (j, EnqueueError::Full),
                    mpsc::error::TrySendError::Closed(j) => (j, EnqueueError::Closed),
                };
                self.shared.release(&job.domain);
                Err(err)
            }
        }
    }
}

impl OutboxHandle {
    /// Renders `mail` and queues it (in the shared bucket of mail without a tenant). Never
    /// waits: a full queue gives [`EnqueueError::Full`].
    pub fn enqueue(&self, mail: Mail) -> Result<(), EnqueueError> {
        if mail.to.parse::<Mailbox>().is_err() {
            return Err(EnqueueError::InvalidRecipient);
        }
        self.reserve("")?.send(mail)
    }

    /// Takes a queue slot for a mail of tenant `domain`: [`EnqueueError::Full`] when the whole
    /// queue is taken, [`EnqueueError::DomainFull`] when the tenant holds its share already.
    /// Mail waiting for a retry keeps its slot.
    pub fn reserve(&self, domain: &str) -> Result<Reservation, EnqueueError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(EnqueueError::Closed);
        }
        let domain = self.shared.take_slot(domain)?;
        Ok(Reservation {
            tx: self.tx.clone(),
            shared: Arc::clone(&self.shared),
            domain: Some(domain),
        })
    }

    /// Slots one tenant domain may hold at most (at least 1, at most the capacity; the default
    /// is the capacity: no share).
    pub fn set_per_domain_limit(&self, n: usize) {
        let n = n.clamp(1, self.shared.capacity);
        self.shared.per_domain_limit.store(n, Ordering::Relaxed);
    }

    /// Slots in use by `domain` (for tests and metrics).
    pub fn domain_slots(&self, domain: &str) -> usize {
        self.shared
            .slots()
            .per_domain
            .get(domain)
            .copied()
            .unwrap_or(0)
    }

    /// Current counters.
    pub fn stats(&self) -> OutboxStats {
        self.shared.counters.snapshot()
    }

    /// Stops accepting mail and tries to send what is pending (queued mail and due retries) until
    /// `deadline` from now; what is left then is abandoned and counted as failed. Idempotent:
    /// later calls only wait for the task.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        self.shared.closed.store(true, Ordering::Release);
        let until = Instant::now() + deadline;
        self.shared.shutdown_tx.send_if_modified(|d| {
            if d.is_none() {
                *d = Some(until);
                true
            } else {
                false
            }
        });
        let task = self.shared.task.lock().ok().and_then(|mut t| t.take());
        let mut abandoned = 0;
        if let Some(task) = task {
            let before = self.stats().failed;
            // The task enforces the deadline itself; the grace covers the final bookkeeping.
            match tokio::time::timeout_at(until + Duration::from_secs(1), task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "mail outbox task failed"),
                Err(_) => tracing::error!("mail outbox task did not stop in time"),
            }
            abandoned = self.stats().failed.saturating_sub(before);
        }
        ShutdownReport {
            abandoned,
            stats: self.stats(),
        }
    }
}

struct Worker {
    transport: MailTransport,
    shared: Arc<Shared>,
    capacity: usize,
    max_attempts: u32,
    base_backoff: Duration,
    max_backoff: Duration,
    retry: BinaryHeap<Pending>,
    seq: u64,
}

fn backoff(base: Duration, max: Duration, failed_attempts: u32) -> Duration {
    let factor = 1u32
        .checked_shl(failed_attempts.saturating_sub(1))
        .unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(max).min(max)
}

impl Worker {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Job>,
        mut shutdown_rx: watch::Receiver<Option<Instant>>,
    ) {
        // Built here, inside the runtime, and dropped here too.
        let transport = self.transport.activate();
        let mut deadline: Option<Instant> = None;
        let mut inbox_open = true;
        let mut control_open = true;
        loop {
            if !inbox_open && self.retry.is_empty() {
                break;
            }
            let next_due = self.retry.peek().map(|p| p.due);
            let far = Instant::now() + Duration::from_secs(86_400);
            tokio::select! {
                biased;
                changed = shutdown_rx.changed(), if control_open && deadline.is_none() => {
                    match changed {
                        Ok(()) => {
                            deadline = *shutdown_rx.borrow_and_update();
                            // Refuse new mail but keep what is buffered.
                            rx.close();
                        }
                        Err(_) => control_open = false,
                    }
                }
                () = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => break,
                () = tokio::time::sleep_until(next_due.unwrap_or(far)), if next_due.is_some() => {
                    if let Some(p) = self.retry.pop() {
                        self.attempt(&transport, p.job, deadline).await;
                    }
                }
                job = rx.recv(), if inbox_open && self.retry.len() < self.capacity => {
                    match job {
                        Some(job) => self.attempt(&transport, job, deadline).await,
                        None => inbox_open = false,
                    }
                }
                else => break,
            }
        }
        let mut abandoned = self.retry.len() as u64;
        for p in self.retry.drain() {
            self.shared.release(&p.job.domain);
        }
        rx.close();
        while let Ok(job) = rx.try_recv() {
            self.shared.release(&job.domain);
            abandoned += 1;
        }
        if abandoned > 0 {
            let c = &self.shared.counters;
            c.finish(&c.failed, abandoned);
            tracing::warn!(abandoned, "mail outbox stopped with undelivered mail");
        }
        transport.shutdown().await;
        tracing::info!("mail outbox stopped");
    }

    async fn attempt(&mut self, transport: &Active, mut job: Job, deadline: Option<Instant>) {
        job.attempts += 1;
        let result = match deadline {
            Some(d) => match tokio::time::timeout_at(d, transport.send(&job.msg)).await {
                Ok(r) => r,
                Err(_) => {
                    // Out of time while draining: leave it for the abandoned count.
                    self.retry.push(Pending {
                        due: d,
                        seq: self.seq,
                        job,
                    });
                    return;
                }
            },
            None => transport.send(&job.msg).await,
        };
        let c = &self.shared.counters;
        let domain = recipient_domain(&job.msg.to);
        match result {
            Ok(()) => {
                c.finish(&c.sent, 1);
                self.shared.release(&job.domain);
                tracing::debug!(recipient_domain = %domain, kind = ?job.kind, attempts = job.attempts, "mail sent");
            }
            Err(e) if e.permanent || job.attempts >= self.max_attempts => {
                c.finish(&c.failed, 1);
                self.shared.release(&job.domain);
                tracing::warn!(
                    recipient_domain = %domain,
                    kind = ?job.kind,
                    attempts = job.attempts,
                    permanent = e.permanent,
                    error = %e,
                    "mail delivery failed; giving up"
                );
            }
            Err(e) => {
                c.retried.fetch_add(1, Ordering::Relaxed);
                let delay = backoff(self.base_backoff, self.max_backoff, job.attempts);
                tracing::info!(
                    recipient_domain = %domain,
                    kind = ?job.kind,
                    attempts = job.attempts,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %e,
                    "mail delivery failed; will retry"
                );
                self.seq = self.seq.wrapping_add(1);
                self.retry.push(Pending {
                    due: Instant::now() + delay,
                    seq: self.seq,
                    job,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_millis(100);
        let m = Duration::from_secs(1);
        assert_eq!(backoff(b, m, 1), Duration::from_millis(100));
        assert_eq!(backoff(b, m, 2), Duration::from_millis(200));
        assert_eq!(backoff(b, m, 3), Duration::from_millis(400));
        assert_eq!(backoff(b, m, 5), m);
        assert_eq!(backoff(b, m, 40), m);
        assert_eq!(backoff(b, m, u32::MAX), m);
    }

    #[test]
    fn pending_orders_earliest_first() {
        let now = Instant::now();
        let job = |_: u8| Job {
            msg: Outgoing {
                envelope: lettre::address::Envelope::new(None, vec!["a@b.io".parse().unwrap()])
                    .unwrap(),
                raw: Vec::new().into(),
                to: "a@b.io".into(),
                subject: String::new(),
            },
            kind: MailKind::LoginCode,
            attempts: 0,
            domain: Arc::from(""),
        };
        let mut heap = BinaryHeap::new();
        heap.push(Pending {
            due: now + Duration::from_secs(3),
            seq: 1,
            job: job(1),
        });
        heap.push(Pending {
            due: now + Duration::from_secs(1),
            seq: 2,
            job: job(2),
        });
        heap.push(Pending {
            due: now + Duration::from_secs(2),
            seq: 3,
            job: job(3),
        });
        let order: Vec<u64> = std::iter::from_fn(|| heap.pop().map(|p| p.seq)).collect();
        assert_eq!(order, vec![2, 3, 1]);
    }

    #[test]
    fn start_outside_runtime_is_an_error() {
        let t = MailTransport::from_url("none").unwrap();
        assert_eq!(
            Outbox::start(t, OutboxConfig::default()).err(),
            Some(OutboxStartError::NoRuntime)
        );
    }

    #[tokio::test]
    async fn start_rejects_bad_config() {
        let t = MailTransport::from_url("none").unwrap();
        let cfg = OutboxConfig {
            from: "not an address".into(),
            ..OutboxConfig::default()
        };
        assert_eq!(
            Outbox::start(t.clone(), cfg).err(),
            Some(OutboxStartError::InvalidFrom)
        );
        let cfg = OutboxConfig {
            queue_capacity: 0,
            ..OutboxConfig::default()
        };
        assert_eq!(
            Outbox::start(t, cfg).err(),
            Some(OutboxStartError::ZeroCapacity)
        );
    }
}
