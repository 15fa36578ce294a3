//! Multi-step Redis work as a small explicit state machine: a job says what to send, is handed
//! the replies, and says what to send next or that it is done. The driver (the transport's
//! multiplexer) resolves where each step goes, so node discovery slots in beneath the jobs.

use crate::config::NodeAddr;
use crate::resp::{Command, RedisError, Reply, ServerErrorKind};
use crate::script::Script;
use crate::topology::Target;

/// What a job wants next.
#[derive(Debug)]
pub enum Step {
    Send {
        target: Target,
        commands: Vec<Command>,
    },
    Done(Outcome),
}

/// The replies of a job's commands, in order (error replies included as `Reply::Error` for the
/// caller to read), or why the job failed as a whole.
pub type Outcome = Result<Vec<Reply>, RedisError>;

pub trait Job {
    fn start(&mut self) -> Step;
    /// `replies` has exactly one reply per command of the last `Send`.
    fn on_replies(&mut self, replies: Vec<Reply>) -> Step;
}

/// One command of a pipeline, with the command that replaces it if Redis does not know the
/// script (EVALSHA -> EVAL).
#[derive(Debug, Clone)]
pub struct Request {
    pub command: Command,
    pub on_noscript: Option<Command>,
}

impl From<Command> for Request {
    fn from(command: Command) -> Self {
        Self {
            command,
            on_noscript: None,
        }
    }
}

impl Request {
    /// EVALSHA, falling back to EVAL (which also loads the script) on NOSCRIPT.
    pub fn script<K: crate::resp::Arg, A: crate::resp::Arg>(
        script: &Script,
        keys: &[K],
        args: &[A],
    ) -> Self {
        Self {
            command: script.evalsha(keys, args),
            on_noscript: Some(script.eval(keys, args)),
        }
    }
}

/// A retry waiting to go: which request, where, and whether it needs `ASKING` first.
#[derive(Debug, Clone)]
struct Retry {
    index: usize,
    target: Target,
    asking: bool,
    command: Command,
}

/// A pipeline of requests that follows NOSCRIPT (once per request) and MOVED / ASK redirects
/// (at most `max_redirections` per request), then hands back one reply per request.
pub struct Pipeline {
    requests: Vec<Request>,
    replies: Vec<Option<Reply>>,
    redirects: Vec<u32>,
    max_redirections: u32,
    queued: Vec<Retry>,
    /// What the last `Send` carried: for each command, the request it answers (None: ASKING).
    in_flight: Vec<Option<usize>>,
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

    fn retry_for(&mut self, index: usize, reply: &Reply) -> Option<Retry> {
        let request = self.requests.get_mut(index)?;
        let kind = &reply.error()?.kind;
        let redirect = |addr: &str| NodeAddr::parse(addr).map(Target::Node);
        let (target, asking, command) = match kind {
            ServerErrorKind::NoScript => (Target::Default, false, request.on_noscript.take()?),
            ServerErrorKind::Moved { addr, .. } => {
                (redirect(addr)?, false, request.command.clone())
            }
            ServerErrorKind::Ask { addr, .. } => (redirect(addr)?, true, request.command.clone()),
            _ => return None,
        };
        if matches!(
            kind,
            ServerErrorKind::Moved { .. } | ServerErrorKind::Ask { .. }
        ) {
            let used = self.redirects.get_mut(index)?;
            if *used >= self.max_redirections {
                return None;
            }
            *used += 1;
        }
        Some(Retry {
            index,
            target,
            asking,
            command,
        })
    }

    /// Sends the queued retries that share the first one's target; the rest wait their turn.
    fn next_step(&mut self) -> Step {
        let Some(first) = self.queued.first() else {
            let replies = self
                .replies
                .drain(..)
                .map(|r| r.unwrap_or(Reply::Nil))
                .collect();
            return Step::Done(Ok(replies));
        };
        let target = first.target.clone();
        let (now, later): (Vec<_>, Vec<_>) =
            self.queued.drain(..).partition(|r| r.target == target);
        self.queued = later;
        let mut commands = Vec::new();
        self.in_flight.clear();
        for retry in now {
            if retry.asking {
                commands.push(Command::new("ASKING"));
                self.in_flight.push(None);
            }
            commands.push(retry.command);
            self.in_flight.push(Some(retry.index));
        }
        Step::Send { target, commands }
    }
}

impl Job for Pipeline {
    fn start(&mut self) -> Step {
        self.in_flight = (0..self.requests.len()).map(Some).collect();
        if self.requests.is_empty() {
            return Step::Done(Ok(Vec::new()));
        }
        let commands = self.requests.iter().map(|r| r.command.clone()).collect();
        Step::Send {
            target: Target::Default,
            commands,
        }
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
            let Some(index) = slot else {
                continue; // the +OK of ASKING
            };
            match self.retry_for(index, &reply) {
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
