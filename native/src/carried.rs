//! Calls a stream carries for others. A call is a callout of the stream that was running when it
//! left, and Envoy cancels a stream's callouts when the stream ends; the requests of a worker
//! share calls (a call carries every request's commands queued for its node), so a stream that
//! carries calls must not end before their answers are in. Its response waits at its end
//! (`hooks::response_ends`), and a local reply it sends meanwhile (a 429) waits too. When the
//! last call it carries is answered, both go on.

use crate::envoy::{self, Stream};
use crate::worker::{self, HeldReply};

/// Sends a local reply of stream `context`, or holds it back while the stream carries calls.
pub fn reply(context: u32, stream: Stream, reply: HeldReply) {
    let reply = worker::with(|w| match w.streams.get_mut(&context) {
        Some(s) => {
            s.waiting = false;
            if s.carried > 0 {
                s.reply = Some(reply);
                None
            } else {
                Some(reply)
            }
        }
        None => Some(reply),
    });
    if let Some(r) = reply {
        envoy::send_response(stream, r.status, &r.headers, &r.body, &r.details);
    }
}

/// After an answer reached stream `context`: once it carries nothing more, its held reply goes,
/// or its held response goes on.
pub fn settle(context: u32, stream: Stream) {
    enum Next {
        Nothing,
        Reply(HeldReply),
        Resume,
    }
    let next = worker::with(|w| match w.streams.get_mut(&context) {
        Some(s) if s.carried == 0 => match s.reply.take() {
            Some(reply) => Next::Reply(reply),
            None if s.held => {
                s.held = false;
                Next::Resume
            }
            None => Next::Nothing,
        },
        _ => Next::Nothing,
    });
    match next {
        Next::Reply(r) => envoy::send_response(stream, r.status, &r.headers, &r.body, &r.details),
        Next::Resume => envoy::resume(stream, false),
        Next::Nothing => {}
    }
}
