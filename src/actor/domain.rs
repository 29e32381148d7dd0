//! The domain actor: owns one domain's state. It runs a decision closure against the state,
//! applies the events the closure emits (through the one `apply`), hands them to the persistence
//! actor, and replies once they are durable. It never blocks: hashing happens before or after, on
//! the hashing pool, and the durability wait happens in the reply future, not in the actor.

use super::persist::PersistHandle;
use crate::api::{ApiError, ApiResult};
use crate::model::clock::{Clock, Millis};
use crate::model::events::{Event, RECORD_VERSION, Record};
use crate::model::lockout::{Lockout, LockoutPolicy};
use crate::model::state::{DomainImage, DomainState};
use actix::prelude::*;
use std::sync::Arc;

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
        DomainActor {
            state,
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
            return Box::pin(std::future::ready(result));
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
        Box::pin(async move {
            durable.await.map_err(|_| {
                ApiError::unavailable("the write-ahead log stopped; the write may not be durable")
            })?;
            result
        })
    }
}

/// Copies the persisted part of the state (for snapshots): the actor stops only for the copy.
pub struct TakeImage;
impl Message for TakeImage {
    type Result = Option<DomainImage>;
}
impl Handler<TakeImage> for DomainActor {
    type Result = MessageResult<TakeImage>;
    fn handle(&mut self, _: TakeImage, _: &mut Self::Context) -> Self::Result {
        MessageResult((!self.state.deleted).then(|| self.state.image()))
    }
}
