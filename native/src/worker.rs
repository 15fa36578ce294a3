//! What one Envoy worker thread knows of the filters running on it: the filters' registry
//! (`redis_filter_core::proxy::runtime`) is per thread, as it is per VM in Wasm, and this is
//! the native side of it: which stream each context id is, the root each config has on this
//! thread, the context the host functions act for, the callouts in flight and the answer
//! being read.

use crate::abi::FilterEnvoyPtr;
use std::cell::RefCell;
use std::collections::HashMap;

/// One stream (request) on this worker.
pub struct Stream {
    pub envoy: FilterEnvoyPtr,
    /// Its config's root on this worker.
    pub root: u32,
    /// Calls riding on this stream's callouts (every request's commands for a node, a root's
    /// write): its end waits until they are answered, or Envoy would cancel them with the
    /// stream (`carried.rs`).
    pub carried: u32,
    /// Its local reply, held back while it carries calls.
    pub reply: Option<HeldReply>,
    /// Its response is held at its end for `carried`.
    pub held: bool,
    /// Its request waits on Redis (a request hook paused it and it has not been resumed).
    pub waiting: bool,
    /// Its scheduler, once it held the worker's mailbox (`mailbox.rs`).
    pub slot: Option<std::sync::Arc<crate::scheduler::Slot>>,
}

/// A local reply held back while its stream carries calls (`carried.rs`).
pub struct HeldReply {
    pub status: u32,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub details: Vec<u8>,
}

/// A root on this worker: one config's filter.
pub struct Root {
    pub id: u32,
    /// Envoy's handle of the config (its counters are defined there).
    pub config: usize,
    pub tick_ms: u32,
    pub next_tick_ms: u64,
    /// It ever has Redis work of its own or work to hand over (`Feature::root_works`): the
    /// only roots `idle.rs` looks after.
    pub works: bool,
}

/// The answer of a callout, read by the host functions while the runtime takes it.
#[derive(Default)]
pub struct Answer {
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

#[derive(Default)]
pub struct Worker {
    next_id: u32,
    next_token: u32,
    /// Roots by Envoy's config handle.
    pub roots: HashMap<usize, Root>,
    pub streams: HashMap<u32, Stream>,
    /// The context the host functions act for (`proxy_set_effective_context` moves it).
    pub effective: u32,
    /// The stream whose hook runs: root work sent now rides on its callouts.
    pub running: u32,
    /// The calls in flight, by (the stream carrying it, Envoy's callout id): their tokens, as
    /// the filters' runtime knows them.
    pub callouts: HashMap<(u32, u64), u32>,
    pub answer: Option<Answer>,
    /// The config a root reads in `on_configure`.
    pub configuring: Option<Vec<u8>>,
    /// The event of the wake-up pending (one per worker at a time, `wakes.rs`).
    pub armed: Option<u64>,
    /// Wake-ups armed so far (each one's event is numbered from it).
    pub wakes: u64,
    /// The stream whose scheduler brings this worker the answers of its Redis calls
    /// (`mailbox.rs`).
    pub holder: Option<u32>,
}

impl Worker {
    /// A new context id (roots and streams share the space, from 1, as in proxy-wasm).
    pub fn next_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    pub fn next_token(&mut self) -> u32 {
        self.next_token = self.next_token.wrapping_add(1).max(1);
        self.next_token
    }

    /// The scheduler of stream `id`, made the first time it is asked for (on its worker).
    pub fn slot_of(&mut self, id: u32) -> Option<std::sync::Arc<crate::scheduler::Slot>> {
        let stream = self.streams.get_mut(&id)?;
        let envoy = stream.envoy;
        Some(
            stream
                .slot
                .get_or_insert_with(|| crate::scheduler::Slot::new(envoy))
                .clone(),
        )
    }

    /// The roots that ever have Redis work of their own or work to hand over (`Root::works`).
    pub fn working_roots(&self) -> impl Iterator<Item = &Root> {
        self.roots.values().filter(|r| r.works)
    }

    /// The root whose id is `id`.
    pub fn root_by_id(&mut self, id: u32) -> Option<&mut Root> {
        self.roots.values_mut().find(|r| r.id == id)
    }

    /// Envoy's handle of the config of the context acting now (a root's, or a stream's root's).
    pub fn effective_config(&self) -> Option<usize> {
        let root = match self.streams.get(&self.effective) {
            Some(s) => s.root,
            None => self.effective,
        };
        self.roots.values().find(|r| r.id == root).map(|r| r.config)
    }

    /// Envoy's handle of the stream the host functions act for: the effective context if it
    /// is a stream, else (a root acting) the running stream.
    pub fn acting_stream(&self) -> Option<(u32, FilterEnvoyPtr)> {
        [self.effective, self.running]
            .into_iter()
            .find_map(|id| self.streams.get(&id).map(|s| (id, s.envoy)))
    }
}

/// Hands `answer`, the answer of call `token`, to the filters' runtime in context `context`: the
/// host functions read it while the runtime takes it.
pub fn hand_answer(context: u32, token: u32, answer: Answer) {
    let (headers, body) = (answer.headers.len(), answer.body.len());
    with(|w| w.answer = Some(answer));
    redis_filter_core::proxy::exports::proxy_on_http_call_response(
        context, token, headers, body, 0,
    );
    with(|w| w.answer = None);
}

thread_local! {
    static WORKER: RefCell<Worker> = RefCell::new(Worker::default());
}

/// Runs `f` on this thread's state. Never call into the filters or Envoy inside `f`: they may
/// call back into the host functions, which come here again.
pub fn with<T>(f: impl FnOnce(&mut Worker) -> T) -> T {
    WORKER.with(|w| f(&mut w.borrow_mut()))
}
