//! Multi-step Redis work as a small explicit state machine: a job says what to send, is handed
//! the replies, and says what to send next or that it is done. The driver (the transport's
//! multiplexer) resolves where each step goes, so node discovery slots in beneath the jobs.

use crate::config::NodeAddr;
use crate::fast_hash::FastMap;
use crate::resp::{Command, RedisError, Reply, ServerErrorKind};
use crate::script::Script;
use crate::slot;
use crate::target::Target;
use std::sync::Arc;

/// What a job wants next.
#[derive(Debug)]
pub enum Step {
    /// Commands to send, in parts that may go to different nodes (in parallel). The replies of
    /// every part come back together, in the order of the parts.
    Send(Vec<Part>),
    Done(Outcome),
}

/// Commands for one target.
#[derive(Debug, Clone)]
pub struct Part {
    pub target: Target,
    pub commands: Vec<Command>,
}

impl Step {
    /// One part: every command to `target`.
    pub fn send(target: Target, commands: Vec<Command>) -> Self {
        Step::Send(vec![Part { target, commands }])
    }
}

/// The replies of a job's commands, in order (error replies included as `Reply::Error` for the
/// caller to read), or why the job failed as a whole.
pub type Outcome = Result<Vec<Reply>, RedisError>;

pub trait Job {
    fn start(&mut self) -> Step;
    /// `replies` has exactly one reply per command of the last `Send`, parts in order.
    fn on_replies(&mut self, replies: Vec<Reply>) -> Step;
    /// A call of the last `Send` failed (transport, timeout, node unknown). Most jobs give up;
    /// discovery jobs try the next node.
    fn on_failure(&mut self, error: RedisError) -> Step {
        Step::Done(Err(error))
    }
}

/// One command of a pipeline, with the script source that turns it into EVAL if Redis does not
/// know the script (EVALSHA -> EVAL, built only then), and the cluster slot of its keys.
#[derive(Debug, Clone)]
pub struct Request {
    pub command: Command,
    pub on_noscript: Option<Arc<str>>,
    /// The slot of the keys it touches (None: keyless, or keys in several slots).
    pub slot: Option<u16>,
}

impl From<Command> for Request {
    /// A keyless command (it goes wherever the topology sends `Target::Default`).
    fn from(command: Command) -> Self {
        Self {
            command,
            on_noscript: None,
            slot: None,
        }
    }
}

impl Request {
    /// A command that touches `key` (so Redis Cluster sends it to the key's slot).
    pub fn keyed<K: AsRef<[u8]>>(command: Command, key: K) -> Self {
        Self {
            slot: Some(slot::key_slot(key.as_ref())),
            ..Self::from(command)
        }
    }

    /// EVALSHA, falling back to EVAL (which also loads the script) on NOSCRIPT. In a cluster
    /// the keys must share a slot (one key, or one hash tag).
    pub fn script<K: crate::resp::Arg + AsRef<[u8]>, A: crate::resp::Arg>(
        script: &Script,
        keys: &[K],
        args: &[A],
    ) -> Self {
        Self {
            slot: slot::common_slot(keys),
            ..Self::script_unslotted(script, keys, args)
        }
    }

    /// `script` where the topology has no slots (a standalone node, Sentinel's master): the
    /// same command, without working out the keys' slot.
    pub fn script_unslotted<K: crate::resp::Arg, A: crate::resp::Arg>(
        script: &Script,
        keys: &[K],
        args: &[A],
    ) -> Self {
        Self {
            command: script.evalsha(keys, args),
            on_noscript: Some(script.shared_source()),
            slot: None,
        }
    }

    fn first_target(&self) -> Target {
        self.slot.map_or(Target::Default, Target::Slot)
    }
}

/// A command waiting to go: which request, where, whether it needs `ASKING` first, and the EVAL
/// that replaces the request's EVALSHA after NOSCRIPT (else the request's own command goes, not
/// copied until it is sent).
#[derive(Debug, Clone)]
struct Pending {
    index: usize,
    target: Target,
    asking: bool,
    eval: Option<Command>,
}

/// A pipeline of requests that follows NOSCRIPT (once per request) and MOVED / ASK redirects
/// (at most `max_redirections` per request), then hands back one reply per request. Requests
/// are grouped by target (slot) into parts, which a cluster sends to their nodes in parallel.
pub struct Pipeline {
    requests: Vec<Request>,
    replies: Vec<Option<Reply>>,
    redirects: Vec<u32>,
    max_redirections: u32,
    queued: Vec<Pending>,
    /// What the last `Send` carried, in reply order: the command, or None for `ASKING`.
    in_flight: Vec<Option<Pending>>,
}

impl Pipeline {
    pub fn new(requests: Vec<Request>, max_redirections: u32) -> Self {
        let n = requests.len();
        Self {
            requests,
            replies: vec![None; n],
            redirects: vec![0; n],
            max_redirections,
            queued: Vec::new(),
            in_flight: Vec::new(),
        }
    }

    pub fn commands(commands: Vec<Command>) -> Self {
        Self::new(commands.into_iter().map(Request::from).collect(), 0)
    }

    /// What to send again for a reply, if anything: EVAL after NOSCRIPT (to the same node, with
    /// ASKING again if it went there by ASK), the command to the node a redirect names.
    fn retry_for(&mut self, sent: Pending, reply: &Reply) -> Option<Pending> {
        let request = self.requests.get_mut(sent.index)?;
        let kind = &reply.error()?.kind;
        let redirect = |addr: &str| NodeAddr::parse(addr).map(Target::Node);
        let (target, asking, eval) = match kind {
            ServerErrorKind::NoScript => {
                let source = request.on_noscript.take()?;
                (
                    sent.target,
                    sent.asking,
                    Some(request.command.as_eval(&source)),
                )
            }
            ServerErrorKind::Moved { addr, .. } => (redirect(addr)?, false, None),
            ServerErrorKind::Ask { addr, .. } => (redirect(addr)?, true, None),
            _ => return None,
        };
        if matches!(
            kind,
            ServerErrorKind::Moved { .. } | ServerErrorKind::Ask { .. }
        ) {
            let used = self.redirects.get_mut(sent.index)?;
            if *used >= self.max_redirections {
                return None;
            }
            *used += 1;
        }
        Some(Pending {
            index: sent.index,
            target,
            asking,
            eval,
        })
    }

    /// Sends every queued command, one part per target (first-seen order), or finishes.
    fn next_step(&mut self) -> Step {
        if self.queued.is_empty() {
            let replies = self
                .replies
                .drain(..)
                .map(|r| r.unwrap_or(Reply::Nil))
                .collect();
            return Step::Done(Ok(replies));
        }
        let mut groups: Vec<(Target, Vec<Pending>)> = Vec::new();
        let mut index: FastMap<Target, usize> = FastMap::default();
        for p in self.queued.drain(..) {
            match index.get(&p.target).and_then(|at| groups.get_mut(*at)) {
                Some((_, list)) => list.push(p),
                None => {
                    index.insert(p.target.clone(), groups.len());
                    groups.push((p.target.clone(), vec![p]));
                }
            }
        }
        self.in_flight.clear();
        let mut parts = Vec::with_capacity(groups.len());
        for (target, list) in groups {
            let mut commands = Vec::with_capacity(list.len());
            for p in list {
                let command = match &p.eval {
                    Some(eval) => eval.clone(),
                    None => match self.requests.get(p.index) {
                        Some(r) => r.command.clone(),
                        None => continue,
                    },
                };
                if p.asking {
                    commands.push(Command::new("ASKING"));
                    self.in_flight.push(None);
                }
                commands.push(command);
                self.in_flight.push(Some(p));
            }
            parts.push(Part { target, commands });
        }
        Step::Send(parts)
    }
}

impl Job for Pipeline {
    fn start(&mut self) -> Step {
        self.queued = self
            .requests
            .iter()
            .enumerate()
            .map(|(index, r)| Pending {
                index,
                target: r.first_target(),
                asking: false,
                eval: None,
            })
            .collect();
        self.next_step()
    }

    fn on_replies(&mut self, replies: Vec<Reply>) -> Step {
        if replies.len() != self.in_flight.len() {
            return Step::Done(Err(RedisError::Protocol(format!(
                "{} replies for {} commands",
                replies.len(),
                self.in_flight.len()
            ))));
        }
        let in_flight = std::mem::take(&mut self.in_flight);
        for (slot, reply) in in_flight.into_iter().zip(replies) {
            let Some(sent) = slot else {
                continue; // the +OK of ASKING
            };
            let index = sent.index;
            match self.retry_for(sent, &reply) {
                Some(retry) => self.queued.push(retry),
                None => {
                    if let Some(r) = self.replies.get_mut(index) {
                        *r = Some(reply);
                    }
                }
            }
        }
        self.next_step()
    }
}

#[cfg(test)]
#[path = "job_tests.rs"]
mod tests;
