//! RESP2: commands in, replies out, and the typed errors Redis answers with.

mod command;
mod decode;
mod error;
mod reply;
mod scan;

pub use command::{Arg, Command};
pub use decode::{decode_replies, decode_some, encode_pipeline, split_frames};
pub use error::{RedisError, ServerError, ServerErrorKind};
pub use reply::Reply;
