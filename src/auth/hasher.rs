//! Password hashing on a bounded pool of dedicated threads, so argon2 never runs on an actor
//! thread or an async worker. A full queue answers RESOURCE_EXHAUSTED instead of growing.

use crate::api::{ApiError, ApiResult, Secret};
use crate::model::entities::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, unbounded};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::oneshot;

/// argon2id parameters used for new hashes. Verification reads them from the stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl Default for HashParams {
    /// OWASP: argon2id m=19456 KiB, t=2, p=1.
    fn default() -> Self {
        HashParams {
            m_kib: 19456,
            t: 2,
            p: 1,
        }
    }
}

impl HashParams {
    /// Tiny parameters for tests (still argon2id; verification reads them from the hash).
    pub fn insecure_fast() -> Self {
        HashParams {
            m_kib: 8,
            t: 1,
            p: 1,
        }
    }
    fn argon2(&self) -> Result<Argon2<'static>, argon2::Error> {
        let params = Params::new(self.m_kib, self.t, self.p, None)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// How hashing threads are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashSched {
    /// Like every other thread.
    #[default]
    Normal,
    /// Linux `SCHED_IDLE`: they run only when nothing else wants the CPU, so a login storm cannot
    /// delay reads and writes (measured: get p99 under a storm ~10 ms → 0.7–1.9 ms). On a machine
    /// that is always busy, logins may then wait a long time.
    Idle,
}

impl std::str::FromStr for HashSched {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "normal" => Ok(HashSched::Normal),
            "idle" => Ok(HashSched::Idle),
            _ => Err(format!("unknown hash scheduling {s:?} (normal|idle)")),
        }
    }
}

fn apply_sched(sched: HashSched) {
    if sched == HashSched::Idle {
        let p = libc::sched_param { sched_priority: 0 };
        // SAFETY: `p` is a valid sched_param for the duration of the call; pid 0 is the calling
        // thread. Failure only leaves the thread at normal priority, which is logged.
        let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &p) };
        if r != 0 {
            tracing::warn!(
                "could not put a hashing thread in SCHED_IDLE; it runs at normal priority"
            );
        }
    }
}

enum Job {
    Hash(Secret, oneshot::Sender<Option<String>>),
    Verify(Secret, String, oneshot::Sender<bool>),
}

/// Counts of the pool's work, for metrics and tests (never a secret).
#[derive(Debug, Default)]
struct Counters {
    hashes: AtomicU64,
    verifies: AtomicU64,
    dummy_verifies: AtomicU64,
    refused: AtomicU64,
    dummy_refused: AtomicU64,
    /// Dummy verifications queued or running now.
    dummy_in_flight: AtomicUsize,
    /// Most dummy verifications queued or running at once.
    dummy_budget: AtomicUsize,
}

/// A snapshot of [`HashPool`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HashStats {
    /// New hashes computed (create, password changes, admin resets).
    pub hashes: u64,
    /// Verifications against a real hash.
    pub verifies: u64,
    /// Verifications against the dummy hash (unknown user or domain).
    pub dummy_verifies: u64,
    /// Jobs refused because the main queue was full.
    pub refused: u64,
    /// Dummy verifications refused because their budget was used up.
    pub dummy_refused: u64,
}

/// Handle to the pool; cheap to clone. Threads exit when every handle is dropped.
///
/// Two queues: real work (hashes and verifications of known users) and dummy verifications
/// (unknown users and domains, which only exist so both cost the same). Threads always take real
/// work first, and dummy verifications have a small budget of their own (queued + running):
/// beyond it they are refused at once, so a flood of logins for accounts that do not exist can
/// neither fill the queue nor delay a real login by more than the budget's work.
#[derive(Clone)]
pub struct HashPool {
    tx: Sender<Job>,
    dummy_tx: Sender<Job>,
    /// A hash of a random password: unknown users are verified against it, so they cost the same.
    dummy: String,
    counters: Arc<Counters>,
}

impl HashPool {
    pub fn new(threads: usize, queue: usize, params: HashParams) -> Result<Self, String> {
        Self::with_sched(threads, queue, params, HashSched::Normal)
    }

    pub fn with_sched(
        threads: usize,
        queue: usize,
        params: HashParams,
        sched: HashSched,
    ) -> Result<Self, String> {
        let argon = params
            .argon2()
            .map_err(|e| format!("argon2 parameters: {e}"))?;
        let mut pw = [0u8; 24];
        rand::Rng::fill(&mut rand::rng(), &mut pw);
        let dummy = argon
            .hash_password(&pw)
            .map_err(|e| format!("argon2: {e}"))?
            .to_string();
        let threads = threads.max(1);
        let (tx, rx) = bounded::<Job>(queue.max(1));
        // Bounded by the budget (checked before sending), not by the channel.
        let (dummy_tx, dummy_rx) = unbounded::<Job>();
        for i in 0..threads {
            let rx = rx.clone();
            let dummy_rx = dummy_rx.clone();
            let argon = argon.clone();
            std::thread::Builder::new()
                .name(format!("hash-{i}"))
                .spawn(move || {
                    apply_sched(sched);
                    while let Some(job) = next_job(&rx, &dummy_rx) {
                        run(&argon, job);
                    }
                })
                .map_err(|e| format!("spawn hash thread: {e}"))?;
        }
        let counters = Arc::new(Counters::default());
        counters.dummy_budget.store(threads, Ordering::Relaxed);
        Ok(HashPool {
            tx,
            dummy_tx,
            dummy,
            counters,
        })
    }

    /// Sets how many dummy verifications may be queued or running at once (at least 1; default:
    /// one per hashing thread).
    pub fn set_dummy_budget(&self, n: usize) {
        self.counters
            .dummy_budget
            .store(n.max(1), Ordering::Relaxed);
    }

    pub fn stats(&self) -> HashStats {
        let c = &self.counters;
        HashStats {
            hashes: c.hashes.load(Ordering::Relaxed),
            verifies: c.verifies.load(Ordering::Relaxed),
            dummy_verifies: c.dummy_verifies.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            dummy_refused: c.dummy_refused.load(Ordering::Relaxed),
        }
    }

    fn submit(&self, job: Job) -> ApiResult<()> {
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                Err(ApiError::exhausted("password hashing"))
            }
            Err(TrySendError::Disconnected(_)) => {
                Err(ApiError::unavailable("hashing pool stopped"))
            }
        }
    }

    pub async fn hash(&self, password: Secret) -> ApiResult<PasswordHash> {
        let (tx, rx) = oneshot::channel();
        self.submit(Job::Hash(password, tx))?;
        self.counters.hashes.fetch_add(1, Ordering::Relaxed);
        match rx.await {
            Ok(Some(h)) => Ok(PasswordHash(h)),
            _ => {
                tracing::error!("password hashing failed");
                Err(ApiError::internal())
            }
        }
    }

    /// Verifies against `hash`, or against the dummy hash when there is none (same cost). A
    /// dummy verification beyond its budget is refused with the answer of a wrong password
    /// ([`ApiError::authentication`]) without running, so the answer stays the same as for a
    /// real account; only its speed differs, and only while the budget is used up.
    pub async fn verify(&self, password: Secret, hash: Option<&PasswordHash>) -> ApiResult<bool> {
        let Some(h) = hash else {
            return self.verify_dummy(password).await;
        };
        let (tx, rx) = oneshot::channel();
        self.submit(Job::Verify(password, h.0.clone(), tx))?;
        self.counters.verifies.fetch_add(1, Ordering::Relaxed);
        Ok(rx.await.unwrap_or(false))
    }

    async fn verify_dummy(&self, password: Secret) -> ApiResult<bool> {
        let c = &self.counters;
        let budget = c.dummy_budget.load(Ordering::Relaxed);
        let reserved = c
            .dummy_in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < budget).then_some(n + 1)
            });
        if reserved.is_err() {
            c.dummy_refused.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::authentication());
        }
        let _slot = DummySlot(c.clone());
        let (tx, rx) = oneshot::channel();
        if self
            .dummy_tx
            .send(Job::Verify(password, self.dummy.clone(), tx))
            .is_err()
        {
            return Err(ApiError::unavailable("hashing pool stopped"));
        }
        c.dummy_verifies.fetch_add(1, Ordering::Relaxed);
        let _ = rx.await;
        Ok(false)
    }
}

/// Gives a dummy verification's budget slot back when it ends (or its caller goes away).
struct DummySlot(Arc<Counters>);

impl Drop for DummySlot {
    fn drop(&mut self) {
        self.0.dummy_in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The next job: real work first, dummy verifications only when there is none; blocks when
/// both queues are empty. None once every handle is gone.
fn next_job(rx: &Receiver<Job>, dummy_rx: &Receiver<Job>) -> Option<Job> {
    if let Ok(job) = rx.try_recv() {
        return Some(job);
    }
    if let Ok(job) = dummy_rx.try_recv() {
        return Some(job);
    }
    crossbeam_channel::select! {
        recv(rx) -> j => j.ok(),
        recv(dummy_rx) -> j => j.ok(),
    }
}

fn run(argon: &Argon2<'static>, job: Job) {
    match job {
        Job::Hash(pw, reply) => {
            let h = argon
                .hash_password(pw.expose().as_bytes())
                .ok()
                .map(|h| h.to_string());
            let _ = reply.send(h);
        }
        Job::Verify(pw, phc, reply) => {
            let ok = argon
                .verify_password(pw.expose().as_bytes(), phc.as_str())
                .is_ok();
            let _ = reply.send(ok);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify_reads_params_from_hash() {
        let fast = HashPool::new(1, 4, HashParams::insecure_fast()).unwrap();
        let h = fast.hash(Secret::from("Passw0rd!")).await.unwrap();
        assert!(h.0.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{}", h.0);
        // A pool configured with other params still verifies (params come from the hash).
        let other = HashPool::new(
            1,
            4,
            HashParams {
                m_kib: 16,
                t: 2,
                p: 1,
            },
        )
        .unwrap();
        assert!(
            other
                .verify(Secret::from("Passw0rd!"), Some(&h))
                .await
                .unwrap()
        );
        assert!(!other.verify(Secret::from("wrong"), Some(&h)).await.unwrap());
        assert!(!other.verify(Secret::from("Passw0rd!"), None).await.unwrap());
    }

    #[tokio::test]
    async fn idle_scheduled_threads_still_hash() {
        let pool =
            HashPool::with_sched(1, 4, HashParams::insecure_fast(), HashSched::Idle).unwrap();
        let h = pool.hash(Secret::from("Passw0rd!")).await.unwrap();
        assert!(
            pool.verify(Secret::from("Passw0rd!"), Some(&h))
                .await
                .unwrap()
        );
        assert_eq!("idle".parse::<HashSched>(), Ok(HashSched::Idle));
        assert!("fast".parse::<HashSched>().is_err());
    }

    #[tokio::test]
    async fn full_queue_is_resource_exhausted() {
        // One thread, queue of one, expensive params: the third concurrent job cannot be queued.
        let pool = HashPool::new(
            1,
            1,
            HashParams {
                m_kib: 8192,
                t: 3,
                p: 1,
            },
        )
        .unwrap();
        let results =
            futures::future::join_all((0..8).map(|_| pool.hash(Secret::from("Passw0rd!")))).await;
        let exhausted = results
            .iter()
            .filter(|r| matches!(r, Err(e) if e.code == crate::api::ErrorCode::ResourceExhausted))
            .count();
        assert!(exhausted >= 1, "some jobs must be refused: {results:?}");
        assert!(results.iter().any(|r| r.is_ok()));
    }
}
