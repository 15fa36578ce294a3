//! Answers of the module's own Redis calls (`direct.rs`) on their way back to the worker that
//! sent them. The Redis thread posts each answer in the worker's mailbox and commits an
//! `ANSWERS` event to the scheduler of one live stream of that worker, the holder; Envoy runs
//! the event on the worker, which hands every answer in the mailbox to the filters' runtime.
//!
//! Envoy skips an event whose stream is gone, so when the holder ends another stream of the
//! worker takes its place first, and is sent the event again if answers wait. With no stream
//! left the answers wait for the next stream, which is sent the event as it starts. The worker's
//! wake-ups (`wakes.rs`) reach it through the holder too.

use crate::scheduler::{Slot, ANSWERS};
use crate::worker;
use std::sync::{Arc, Mutex};

/// One call's answer: the status Envoy's tunnel would give it, and the body.
pub struct Delivery {
    pub token: u32,
    pub status: u16,
    pub body: Vec<u8>,
}

/// A worker's mailbox, shared with the Redis thread.
#[derive(Default)]
pub struct Mailbox(Mutex<Inbox>);

#[derive(Default)]
struct Inbox {
    answers: Vec<Delivery>,
    /// The holder's scheduler.
    slot: Option<Arc<Slot>>,
    /// An `ANSWERS` event is on its way to the holder.
    committed: bool,
}

impl Mailbox {
    fn inbox(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// From the Redis thread: one answer, and the event if none is on its way.
    pub fn post(&self, delivery: Delivery) {
        let mut inbox = self.inbox();
        inbox.answers.push(delivery);
        notify(&mut inbox);
    }

    /// From the timer thread: `event` to the holder, if the worker has one (else the worker
    /// has forgotten the wake-up already, `ending`).
    pub fn commit(&self, event: u64) {
        if let Some(slot) = &self.inbox().slot {
            slot.commit(event);
        }
    }

    /// On the worker, as the event runs: every answer waiting.
    fn take(&self) -> Vec<Delivery> {
        let mut inbox = self.inbox();
        inbox.committed = false;
        std::mem::take(&mut inbox.answers)
    }

    /// On the worker: the holder's scheduler is now `slot`; an event sent to the one before may
    /// be lost with its stream, so it is sent again if answers wait.
    fn hold(&self, slot: Option<Arc<Slot>>) {
        let mut inbox = self.inbox();
        inbox.slot = slot;
        inbox.committed = false;
        if !inbox.answers.is_empty() {
            notify(&mut inbox);
        }
    }
}

fn notify(inbox: &mut Inbox) {
    if inbox.committed {
        return;
    }
    if let Some(slot) = &inbox.slot {
        slot.commit(ANSWERS);
        inbox.committed = true;
    }
}

thread_local! {
    static MINE: Arc<Mailbox> = Arc::default();
}

/// This worker's mailbox.
pub fn mine() -> Arc<Mailbox> {
    MINE.with(Arc::clone)
}

/// On the main thread: a config's scheduler (`slot`) brings it the answers of its roots' calls
/// (`idle.rs`); `None` when no config is left.
pub fn held_by(slot: Option<Arc<Slot>>) {
    MINE.with(|m| m.hold(slot));
}

/// Stream `context` started on this worker: it holds the mailbox if no stream does.
pub fn started(context: u32) {
    let slot = worker::with(|w| {
        if w.holder.is_some() {
            return None;
        }
        let slot = w.slot_of(context)?;
        w.holder = Some(context);
        Some(slot)
    });
    if slot.is_some() {
        MINE.with(|m| m.hold(slot));
    }
}

/// Stream `context` ends: if it held the mailbox, another stream of the worker takes it over.
/// Call before the stream's scheduler is freed.
pub fn ending(context: u32) {
    let next = worker::with(|w| {
        if w.holder != Some(context) {
            return None;
        }
        let other = w.streams.keys().copied().find(|id| *id != context);
        w.holder = other;
        if other.is_none() {
            // A pending wake-up has no stream to reach: the next one is armed afresh.
            w.armed = None;
        }
        Some(other.and_then(|id| w.slot_of(id)))
    });
    if let Some(slot) = next {
        MINE.with(|m| m.hold(slot));
    }
}

/// The `ANSWERS` event reached stream `context` of this worker: each waiting answer goes to the
/// filters' runtime, which routes it to the request (or root) that sent the call.
pub fn deliver(context: u32) {
    for d in MINE.with(|m| m.take()) {
        let answer = worker::Answer {
            headers: vec![(":status".to_string(), d.status.to_string().into_bytes())],
            body: d.body,
        };
        worker::hand_answer(context, d.token, answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(token: u32) -> Delivery {
        Delivery {
            token,
            status: 200,
            body: b"+OK\r\n".to_vec(),
        }
    }

    /// (answers waiting, an event on its way)
    fn state(m: &Mailbox) -> (usize, bool) {
        let inbox = m.inbox();
        (inbox.answers.len(), inbox.committed)
    }

    #[test]
    fn an_answer_with_no_holder_waits_for_the_next_one() {
        let m = Mailbox::default();
        m.post(answer(1));
        assert_eq!(state(&m), (1, false), "no scheduler to send the event to");
        m.hold(Some(Slot::fake()));
        assert_eq!(
            state(&m),
            (1, true),
            "the new holder is sent the event at once"
        );
    }

    #[test]
    fn one_event_brings_every_answer_posted_before_it_runs() {
        let m = Mailbox::default();
        m.hold(Some(Slot::fake()));
        assert_eq!(state(&m), (0, false), "nothing waits: no event");
        m.post(answer(1));
        m.post(answer(2));
        assert_eq!(state(&m), (2, true));
        let taken: Vec<u32> = m.take().iter().map(|d| d.token).collect();
        assert_eq!(taken, [1, 2]);
        assert_eq!(state(&m), (0, false));
        m.post(answer(3));
        assert_eq!(
            state(&m),
            (1, true),
            "an answer after the event runs sends another"
        );
    }

    #[test]
    fn a_new_holder_is_sent_the_event_its_gone_predecessor_may_have_lost() {
        let m = Mailbox::default();
        m.hold(Some(Slot::fake()));
        m.post(answer(1));
        m.hold(Some(Slot::fake()));
        assert_eq!(state(&m), (1, true));
        m.hold(None);
        assert_eq!(state(&m), (1, false), "no stream left: the answer waits");
    }
}
