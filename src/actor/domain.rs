//! The domain actor: owns one domain's state. It runs a decision closure against the state,
//! applies the events the closure emits (through the one `apply`), hands them to the persistence
//! actor, and replies once they are durable. It never blocks: hashing happens before or after, on
//! the hashing pool, and the durability wait happens in the reply future, not in the actor.

use super::persist::PersistHandle;
use crate::api::{ApiError, ApiResult};
use crate::model::clock::{Clock, Millis};
use crate::model::events::{Event, RECORD_VERSION, Record};
use crate::model::lockout::{Lockout, LockoutPolicy};
use crate::model::state::{DomainState, ImageSource};
use actix::prelude::*;
use std::sync::Arc;
use tokio::sync::watch;

/// What a decision closure sees: the state (read-only except through [`Ctx::emit`]), the
/// in-memory login lockout table, and the time of the command.
pub struct Ctx<'a> {
    state: &'a mut DomainState,
    pub lockout: &'a mut Lockout,
    pub now: Millis,
    emitted: Vec<Event>,
}

impl Ctx<'_> {
    pub fn state(&self) -> &DomainState {
        self.state
    }
    /// Applies events to the state now and queues them for the log as one record. Call it once
    /// every check has passed: events emitted are persisted even if the closure then fails.
    pub fn emit(&mut self, events: Vec<Event>) {
        for e in &events {
            self.state.apply(e);
        }
        self.emitted.extend(events);
    }
}

type Job<R> = Box<dyn FnOnce(&mut Ctx<'_>) -> ApiResult<R> + Send>;

/// Runs a closure on the domain's state; the reply waits for durability of what it emitted.
pub struct Exec<R: Send + 'static>(pub Job<R>);

impl<R: Send + 'static> Message for Exec<R> {
    type Result = ApiResult<R>;
}

pub struct DomainActor {
    state: DomainState,
    /// The highest `seq` of this domain known durable. A read waits until it reaches the `seq`
    /// the read saw, so nobody observes a write that a crash could still take back.
    durable: Arc<watch::Sender<u64>>,
    lockout: Lockout,
    persist: PersistHandle,
    clock: Arc<dyn Clock>,
    mailbox: usize,
}

impl DomainActor {
    pub fn new(
        state: DomainState,
        persist: PersistHandle,
        clock: Arc<dyn Clock>,
        policy: LockoutPolicy,
        mailbox: usize,
    ) -> Self {
        let (durable, _) = watch::channel(state.seq);
        DomainActor {
            state,
            durable: Arc::new(durable),
            lockout: Lockout::new(policy),
            persist,
            clock,
            mailbox,
        }
    }
}

impl Actor for DomainActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox);
    }
}

impl<R: Send + 'static> Handler<Exec<R>> for DomainActor {
    type Result = ResponseFuture<ApiResult<R>>;

    fn handle(&mut self, msg: Exec<R>, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now_ms();
        let mut ctx = Ctx {
            state: &mut self.state,
            lockout: &mut self.lockout,
            now,
            emitted: Vec::new(),
        };
        let result = (msg.0)(&mut ctx);
        let events = std::mem::take(&mut ctx.emitted);
        if events.is_empty() {
            // Read barrier: wait (at most one group commit) until what this read saw is durable.
            let seen = self.state.seq;
            if *self.durable.borrow() >= seen {
                return Box::pin(std::future::ready(result));
            }
            let mut rx = self.durable.subscribe();
            return Box::pin(async move {
                let _ = rx.wait_for(|d| *d >= seen).await;
                result
            });
        }
        let seq = self.state.seq + 1;
        self.state.seq = seq;
        let record = Record {
            version: RECORD_VERSION,
            domain_id: self.state.domain.domain_id.clone(),
            seq,
            at: now,
            events,
        };
        let durable = self.persist.submit(record);
        let marker = self.durable.clone();
        Box::pin(async move {
            durable.await.map_err(|_| {
                ApiError::unavailable("the write-ahead log stopped; the write may not be durable")
            })?;
            // Acknowledgements cover every earlier record of the log, so the maximum is durable.
            marker.send_if_modified(|d| {
                let newer = seq > *d;
                if newer {
                    *d = seq;
                }
                newer
            });
            result
        })
    }
}

/// Takes what a snapshot needs (for snapshots): the actor stops only for a pointer copy of its
/// users and a clone of the small maps; the deep copy happens on the snapshot thread.
pub struct TakeImage;
impl Message for TakeImage {
    type Result = Option<ImageSource>;
}
impl Handler<TakeImage> for DomainActor {
    type Result = MessageResult<TakeImage>;
    fn handle(&mut self, _: TakeImage, _: &mut Self::Context) -> Self::Result {
        MessageResult((!self.state.deleted).then(|| self.state.image_source()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::persist::{FsyncPolicy, Log};
    use crate::model::clock::ManualClock;
    use crate::model::entities::Domain;
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    /// A log whose sync waits until the test opens the gate.
    struct GateLog(Arc<(Mutex<bool>, Condvar)>, u64);
    impl Log for GateLog {
        fn append(&mut self, _: &[u8]) -> Result<u64, String> {
            self.1 += 1;
            Ok(self.1)
        }
        fn flush(&mut self) -> Result<(), String> {
            Ok(())
        }
        fn sync(&mut self) -> Result<(), String> {
            let (m, cv) = &*self.0;
            let mut open = m.lock().map_err(|e| e.to_string())?;
            while !*open {
                open = cv.wait(open).map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        fn last_lsn(&self) -> u64 {
            self.1
        }
        fn bytes_since(&self, _: u64) -> u64 {
            0
        }
        fn remove_upto(&mut self, _: u64) -> Result<(), String> {
            Ok(())
        }
    }

    #[test]
    fn a_read_waits_until_the_write_it_saw_is_durable() {
        actix::System::new().block_on(async {
            let gate = Arc::new((Mutex::new(false), Condvar::new()));
            let persist = PersistHandle::start(
                Box::new(GateLog(gate.clone(), 0)),
                FsyncPolicy::Always,
                None,
            )
            .unwrap();
            let d = Domain {
                domain_id: "d".into(),
                name: "d".into(),
                state: crate::api::DomainState::Enabled,
                tags: Default::default(),
                created_at: 0,
            };
            let actor = DomainActor::new(
                DomainState::new(d.clone()),
                persist,
                ManualClock::new(0),
                LockoutPolicy::default(),
                16,
            );
            let addr = actor.start();
            // Before any write, reads answer at once.
            assert_eq!(
                addr.send(Exec(Box::new(|ctx| Ok(ctx.state().seq))))
                    .await
                    .unwrap(),
                Ok(0)
            );
            let write = actix_rt::spawn(addr.send(Exec(Box::new(move |ctx| {
                ctx.emit(vec![Event::DomainUpdated(d)]);
                Ok(())
            }))));
            let read = actix_rt::spawn(addr.send(Exec(Box::new(|ctx| Ok(ctx.state().seq)))));
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert!(
                !read.is_finished(),
                "the read saw seq 1 before it was durable"
            );
            assert!(!write.is_finished());
            *gate.0.lock().unwrap() = true;
            gate.1.notify_all();
            assert_eq!(write.await.unwrap().unwrap(), Ok(()));
            assert_eq!(read.await.unwrap().unwrap(), Ok(1));
        });
    }
}
