//! The jobs under way and where each one stands: the step it is at, its parts' commands until
//! they are sent, the replies gathered so far. A `Ticket` names one part of one step; a ticket of
//! an earlier step, or of a job that is gone, is stale and what it brings is ignored.

use crate::fast_hash::FastMap;
use crate::job::{Job, Part, Step};
use crate::resp::{Command, RedisError, Reply};
use crate::topology::Target;

/// Who is waiting for a job: the HTTP context to resume, and a tag the filter chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Waiter {
    pub context_id: u32,
    pub tag: u32,
}

/// Whom a job's outcome goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    Http(Waiter),
    /// The topology's own lookup.
    Topology,
}

/// One part of one step of one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ticket {
    id: u64,
    step: u32,
    part: usize,
}

impl Ticket {
    /// The job the part belongs to.
    pub(super) fn job(self) -> u64 {
        self.id
    }
}

struct PartState {
    /// Its commands, until they are sent.
    commands: Vec<Command>,
    replies: Option<Vec<Reply>>,
}

struct Entry {
    owner: Owner,
    /// The context whose callbacks send this job's calls (`PerContext`).
    context: u32,
    job: Box<dyn Job>,
    deadline_ms: u64,
    /// Which step the job is at: tickets of an earlier step are stale.
    step: u32,
    parts: Vec<PartState>,
}

/// Every job not finished yet, by id.
pub(super) struct Jobs {
    entries: FastMap<u64, Entry>,
    next_id: u64,
    /// How long a job may wait, queued or in flight (a lookup: each of its steps).
    timeout_ms: u64,
}

impl Jobs {
    pub(super) fn new(timeout_ms: u32) -> Self {
        Self {
            entries: FastMap::default(),
            next_id: 1,
            timeout_ms: u64::from(timeout_ms),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether a job of context `context_id` is under way.
    pub(super) fn waits_for(&self, context_id: u32) -> bool {
        self.entries
            .values()
            .any(|e| matches!(e.owner, Owner::Http(w) if w.context_id == context_id))
    }

    /// Takes a job on: its id, and the first step it asks for.
    pub(super) fn start(
        &mut self,
        now_ms: u64,
        owner: Owner,
        context: u32,
        mut job: Box<dyn Job>,
    ) -> (u64, Step) {
        let id = self.next_id;
        self.next_id += 1;
        let first = job.start();
        let entry = Entry {
            owner,
            context,
            job,
            deadline_ms: now_ms + self.timeout_ms,
            step: 0,
            parts: Vec::new(),
        };
        self.entries.insert(id, entry);
        (id, first)
    }

    /// Moves job `id` on to a step that sends `parts`: a ticket for each, with where it goes
    /// (none for an empty step). None when the job is gone.
    pub(super) fn enter_step(
        &mut self,
        now_ms: u64,
        id: u64,
        parts: Vec<Part>,
    ) -> Option<Vec<(Ticket, Target)>> {
        let entry = self.entries.get_mut(&id)?;
        entry.step += 1;
        if entry.owner == Owner::Topology {
            // A lookup may ask several nodes in turn: each step gets the full timeout.
            entry.deadline_ms = now_ms + self.timeout_ms;
        }
        let step = entry.step;
        let mut tickets = Vec::with_capacity(parts.len());
        entry.parts = parts
            .into_iter()
            .enumerate()
            .map(|(part, Part { target, commands })| {
                tickets.push((Ticket { id, step, part }, target));
                PartState {
                    commands,
                    replies: None,
                }
            })
            .collect();
        Some(tickets)
    }

    /// Whether `ticket` is of its job's current step.
    pub(super) fn is_current(&self, ticket: Ticket) -> bool {
        self.entries
            .get(&ticket.id)
            .is_some_and(|e| e.step == ticket.step)
    }

    /// The context whose callbacks send job `id`'s calls.
    pub(super) fn context(&self, id: u64) -> Option<u32> {
        self.entries.get(&id).map(|e| e.context)
    }

    /// Whether job `id` is still here at `now_ms` and should not be.
    pub(super) fn past_deadline(&self, id: u64, now_ms: u64) -> bool {
        self.entries
            .get(&id)
            .is_some_and(|e| e.deadline_ms <= now_ms)
    }

    /// The context and the unsent commands of a current ticket's part.
    pub(super) fn part_mut(&mut self, ticket: Ticket) -> Option<(u32, &mut Vec<Command>)> {
        let entry = self
            .entries
            .get_mut(&ticket.id)
            .filter(|e| e.step == ticket.step)?;
        let part = entry.parts.get_mut(ticket.part)?;
        Some((entry.context, &mut part.commands))
    }

    /// The replies to `ticket`'s part. Once every part of the step has its replies, the job
    /// reads them all, in the order of the parts, and says its next step.
    pub(super) fn replied(&mut self, ticket: Ticket, replies: Vec<Reply>) -> Option<Step> {
        let entry = self
            .entries
            .get_mut(&ticket.id)
            .filter(|e| e.step == ticket.step)?;
        if let Some(part) = entry.parts.get_mut(ticket.part) {
            part.replies = Some(replies);
        }
        if !entry.parts.iter().all(|p| p.replies.is_some()) {
            return None;
        }
        let all = entry
            .parts
            .iter_mut()
            .flat_map(|p| p.replies.take().unwrap_or_default())
            .collect();
        Some(entry.job.on_replies(all))
    }

    /// A part failed: the job hears it once for its current step (its other parts of that
    /// step are stale from now on) and says its next step. None for a stale ticket.
    pub(super) fn failed(&mut self, ticket: Ticket, error: RedisError) -> Option<Step> {
        if !self.is_current(ticket) {
            return None;
        }
        self.step_failed(ticket.id, error)
    }

    /// Job `id`'s current step failed as a whole: its next step.
    pub(super) fn step_failed(&mut self, id: u64, error: RedisError) -> Option<Step> {
        let entry = self.entries.get_mut(&id)?;
        entry.step += 1;
        Some(entry.job.on_failure(error))
    }

    /// Takes job `id` out, finished: whom its outcome goes to, and its context.
    pub(super) fn remove(&mut self, id: u64) -> Option<(Owner, u32)> {
        self.entries.remove(&id).map(|e| (e.owner, e.context))
    }

    /// Drops the jobs `context` waits for, and its own lookups too when `with_lookups`.
    pub(super) fn cancel(&mut self, context: u32, with_lookups: bool) {
        self.entries.retain(|_, e| match e.owner {
            Owner::Http(w) => w.context_id != context,
            Owner::Topology => !(with_lookups && e.context == context),
        });
    }
}
