//! Answers of the module's own Redis calls (`direct.rs`) on their way back to the worker that
//! sent them. The Redis thread posts each answer in the worker's mailbox and commits an
//! `ANSWERS` event to the scheduler of one live stream of that worker, the holder; Envoy runs
//! the event on the worker, which hands every answer in the mailbox to the filters' runtime.
//!
//! Envoy skips an event whose stream is gone, so when the holder ends another stream of the
//! worker takes its place first, and is sent the event again if answers wait. With no stream
//! left the answers wait for the next stream, which is sent the event as it starts.

use crate::timer::{Slot, ANSWERS};
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
        let status = d.status.to_string().into_bytes();
        let body_size = d.body.len();
        worker::with(|w| {
            w.answer = Some(worker::Answer {
                headers: vec![(":status".to_string(), status)],
                body: d.body,
            })
        });
        redis_filter_core::proxy::exports::proxy_on_http_call_response(
            context, d.token, 1, body_size, 0,
        );
        worker::with(|w| w.answer = None);
    }
}
