//! Sessions in Redis: one hash per session, `<redis_key_prefix><cookie_name>:<session id>`,
//! with the integration guide's fields `id`, `credential` (the consumer as JSON), `auth_time`
//! and `exp` (when it ends unless renewed), plus `audience`, `subject`, `rolling_start`
//! (when its rolling period began) and `last_seen` (for the idling timeout). The key expires
//! when the first of the three timeouts would end the session. A request with a session reads
//! and touches it in one EVALSHA.

use crate::config::Config;
use redis_filter_core::identity::Consumer;
use redis_filter_core::job::{Pipeline, Request};
use redis_filter_core::{Command, Outcome, Reply, Script};
use std::sync::OnceLock;

/// Reads the session, checks its timeouts and audience, and touches it: the session, or why
/// it is none. The touch is best effort (`pcall`): a Redis that refuses writes (`maxmemory`
/// with `noeviction`, a replica's `READONLY`) still serves the session, as Kong's read does;
/// only its idling clock and TTL are not moved.
const READ: &str = r#"local f = redis.call('HMGET', KEYS[1], 'credential', 'auth_time', 'rolling_start', 'last_seen', 'audience', 'subject')
if not f[1] then return {0, 'missing'} end
local now, idling, rolling, absolute = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local auth = tonumber(f[2]) or 0
local rs = tonumber(f[3]) or auth
local seen = tonumber(f[4]) or rs
if f[5] ~= ARGV[5] then return {0, 'audience'} end
if absolute > 0 and now - auth > absolute then return {0, 'absolute'} end
if rolling > 0 and now - rs > rolling then return {0, 'rolling'} end
if idling > 0 and now - seen > idling then return {0, 'idling'} end
redis.pcall('HSET', KEYS[1], 'last_seen', now)
local ends = 0
local function sooner(t) if ends == 0 or t < ends then ends = t end end
if absolute > 0 then sooner(auth + absolute) end
if rolling > 0 then sooner(rs + rolling) end
if idling > 0 then sooner(now + idling) end
if ends >= now then redis.pcall('EXPIRE', KEYS[1], ends - now + 1) end
return {1, f[1], tostring(auth), tostring(rs), f[6] or ''}
"#;

fn read_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(READ))
}

pub fn key(config: &Config, kind: Kind, sid: &str) -> String {
    let name = match kind {
        Kind::Main => &config.cookie_name,
        Kind::Remember => &config.remember_cookie_name,
    };
    format!("{}{name}:{sid}", config.redis_key_prefix)
}

/// A live session as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub consumer: Consumer,
    pub auth_time: u64,
    pub rolling_start: u64,
    /// When a request last carried it (the idling timeout counts from here).
    pub last_seen: u64,
    pub subject: String,
}

/// Which cookie a session belongs to: the session's own, or the long-lived `remember` one that
/// brings a session back after it ended (Kong's `remember`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Main,
    Remember,
}

/// The three timeouts of a kind of session (a remember session has no idling timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub idling: u64,
    pub rolling: u64,
    pub absolute: u64,
}

impl Timeouts {
    pub fn of(config: &Config, kind: Kind) -> Self {
        match kind {
            Kind::Main => Self {
                idling: config.idling_timeout,
                rolling: config.rolling_timeout,
                absolute: config.absolute_timeout,
            },
            Kind::Remember => Self {
                idling: 0,
                rolling: config.remember_rolling_timeout,
                absolute: config.remember_absolute_timeout,
            },
        }
    }
}

/// Whether a session is still live at `now_s`: the checks of the Redis read, for sessions kept
/// in the cookie.
pub fn alive(t: Timeouts, session: &Session, now_s: u64) -> bool {
    let over = |start: u64, timeout: u64| timeout > 0 && now_s.saturating_sub(start) > timeout;
    !(over(session.auth_time, t.absolute)
        || over(session.rolling_start, t.rolling)
        || over(session.last_seen, t.idling))
}

pub fn read_job(config: &Config, kind: Kind, sid: &str, now_s: u64) -> Pipeline {
    let k = key(config, kind, sid);
    let t = Timeouts::of(config, kind);
    let args = [
        now_s.to_string(),
        t.idling.to_string(),
        t.rolling.to_string(),
        t.absolute.to_string(),
        config.audience.clone(),
    ];
    let request = Request::script(read_script(), &[k.as_str()], &args);
    Pipeline::new(vec![request], config.redis.max_redirections())
}

fn first(outcome: Outcome) -> Result<Reply, String> {
    let replies = outcome.map_err(|e| e.to_string())?;
    let reply = replies.into_iter().next().ok_or("no reply")?;
    reply.into_result().map_err(|e| e.to_string())
}

fn text(reply: Option<&Reply>) -> Option<String> {
    reply
        .and_then(Reply::as_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

/// The read's answer: the session, or Ok(None) with no live session.
pub fn session(outcome: Outcome) -> Result<Option<Session>, String> {
    let Reply::Array(items) = first(outcome)? else {
        return Err("unexpected reply to the session read".into());
    };
    if items.first().and_then(Reply::as_int) != Some(1) {
        return Ok(None);
    }
    let credential = text(items.get(1)).ok_or("session without credential")?;
    let json: serde_json::Value =
        serde_json::from_str(&credential).map_err(|e| format!("bad credential: {e}"))?;
    let consumer = Consumer::from_json(&json).ok_or("credential without consumer id")?;
    let number = |i: usize| text(items.get(i)).and_then(|t| t.parse::<u64>().ok());
    Ok(Some(Session {
        consumer,
        auth_time: number(2).unwrap_or(0),
        rolling_start: number(3).unwrap_or(0),
        // Touched by the read itself.
        last_seen: 0,
        subject: text(items.get(4)).unwrap_or_default(),
    }))
}

/// The seconds the session's key lives, from its times: until the first timeout ends the
/// session. Times are whole seconds and a session is live through the second its timeout ends
/// in (`now - start > timeout` ends it), so the key lives one second past `end - now`: a
/// session begun late in a second and touched early in the next keeps its whole period.
pub fn ttl(t: Timeouts, auth_time: u64, rolling_start: u64, now_s: u64) -> Option<u64> {
    [
        (t.absolute > 0).then(|| auth_time + t.absolute),
        (t.rolling > 0).then(|| rolling_start + t.rolling),
        (t.idling > 0).then(|| now_s + t.idling),
    ]
    .into_iter()
    .flatten()
    .min()
    .map(|ends| (ends + 1).saturating_sub(now_s).max(1))
}

/// One session to write.
pub struct Record<'a> {
    pub kind: Kind,
    pub sid: &'a str,
    pub session: &'a Session,
}

/// Writes sessions (new, renewed, or brought back by a remember cookie): each hash and its TTL;
/// then `retire`: old ids that expire after the given seconds (`stale_ttl` after a renewal), or
/// go at once (0).
pub fn write_job(
    config: &Config,
    records: &[Record],
    now_s: u64,
    retire: &[(Kind, &str, u64)],
) -> Pipeline {
    let mut requests = Vec::new();
    for r in records {
        let k = key(config, r.kind, r.sid);
        let t = Timeouts::of(config, r.kind);
        let session = r.session;
        // When it ends unless it is renewed: the first of its absolute and rolling ends (the
        // guide's example: `auth_time` + 3600 with `cookie_lifetime` 3600).
        let exp = [
            (t.absolute > 0).then(|| session.auth_time + t.absolute),
            (t.rolling > 0).then(|| session.rolling_start + t.rolling),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(0);
        let hset = Command::new("HSET").arg(k.as_str()).args([
            "id".to_string(),
            r.sid.to_string(),
            "credential".into(),
            session.consumer.to_json().to_string(),
            "auth_time".into(),
            session.auth_time.to_string(),
            "exp".into(),
            exp.to_string(),
            "audience".into(),
            config.audience.clone(),
            "subject".into(),
            session.subject.clone(),
            "rolling_start".into(),
            session.rolling_start.to_string(),
            "last_seen".into(),
            now_s.to_string(),
        ]);
        requests.push(Request::keyed(hset, &k));
        if let Some(ttl) = ttl(t, session.auth_time, session.rolling_start, now_s) {
            let expire = Command::new("EXPIRE").arg(k.as_str()).arg(ttl.to_string());
            requests.push(Request::keyed(expire, &k));
        }
    }
    for (kind, sid, after) in retire {
        let old = key(config, *kind, sid);
        let command = match after {
            0 => Command::new("DEL").arg(old.as_str()),
            s => Command::new("EXPIRE").arg(old.as_str()).arg(s.to_string()),
        };
        requests.push(Request::keyed(command, &old));
    }
    Pipeline::new(requests, config.redis.max_redirections())
}

pub fn destroy_job(config: &Config, ids: &[(Kind, &str)]) -> Pipeline {
    let requests = ids
        .iter()
        .map(|(kind, sid)| {
            let k = key(config, *kind, sid);
            Request::keyed(Command::new("DEL").arg(k.as_str()), &k)
        })
        .collect();
    Pipeline::new(requests, config.redis.max_redirections())
}

/// Whether a write or a destroy went through.
pub fn done(outcome: Outcome) -> Result<(), String> {
    let replies = outcome.map_err(|e| e.to_string())?;
    match replies.into_iter().find_map(|r| r.into_result().err()) {
        Some(e) => Err(e.to_string()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::parse(br#"{"storage": "redis", "cookie_name": "kong_session"}"#).unwrap()
    }

    #[test]
    fn keys_and_ttls() {
        let c = config();
        assert_eq!(key(&c, Kind::Main, "abc"), "kong_session:abc");
        assert_eq!(key(&c, Kind::Remember, "abc"), "remember:abc");
        let t = Timeouts::of(&c, Kind::Main);
        // idling 900 from now is the soonest.
        assert_eq!(ttl(t, 1000, 1000, 1100), Some(901));
        // rolling: 3600 from 1000 ends at 4600, sooner than now + 900.
        assert_eq!(ttl(t, 1000, 1000, 4000), Some(601));
        // A remember session: 7 days rolling, no idling.
        assert_eq!(
            ttl(Timeouts::of(&c, Kind::Remember), 0, 0, 0),
            Some(604_801)
        );
    }

    #[test]
    fn the_read_answer() {
        let live = Reply::Array(vec![
            Reply::Int(1),
            Reply::Bulk(br#"{"id":"c1","username":"alice"}"#.to_vec()),
            Reply::Bulk(b"1000".to_vec()),
            Reply::Bulk(b"1500".to_vec()),
            Reply::Bulk(b"alice".to_vec()),
        ]);
        let s = session(Ok(vec![live])).unwrap().unwrap();
        assert_eq!(s.consumer.id, "c1");
        assert_eq!((s.auth_time, s.rolling_start), (1000, 1500));
        let c = Timeouts::of(&config(), Kind::Main);
        let at = |seen| Session {
            last_seen: seen,
            ..s.clone()
        };
        assert!(alive(c, &at(1600), 1700));
        assert!(!alive(c, &at(1600), 2600), "idle for more than 900 s");
        assert!(!alive(c, &at(5000), 5200), "rolling period over");
        let gone = Reply::Array(vec![Reply::Int(0), Reply::Bulk(b"idling".to_vec())]);
        assert_eq!(session(Ok(vec![gone])), Ok(None));
        assert!(session(Ok(vec![Reply::Nil])).is_err());
    }
}
