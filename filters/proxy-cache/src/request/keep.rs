//! Keeping a response: whether Kong would cache it, then its write (the root's work) or, when
//! nothing is kept, the coalescing lock given back.

use super::*;

impl CacheRequest {
    /// Kong's `cacheable_response`, plus this filter's guards: a body the headers say is over
    /// `max_body_size`, and `Set-Cookie` unless `cache_set_cookie_responses`.
    pub(super) fn cacheable_response(&self) -> Option<Keeping> {
        let host = self.filter.host.as_ref();
        let config = &self.filter.config;
        let status: u32 = host.response_header(":status")?.trim().parse().ok()?;
        if !config.response_code.contains(&status) {
            return None;
        }
        let content_type = host.response_header("content-type")?;
        if !content_type_matches(&config.content_type, &content_type) {
            return None;
        }
        let cc = Directives::parse(host.response_header("cache-control").as_deref());
        let stale = Windows::of_response(config, &cc);
        let expires = host.response_header("expires");
        let ttl = if config.cache_control {
            if cc.has("private") || cc.has("no-store") || cc.has("no-cache") {
                return None;
            }
            let ttl = resource_ttl(&cc, expires.as_deref(), self.now_s());
            if ttl == 0 {
                return None;
            }
            ttl
        } else {
            config.cache_ttl
        };
        if !config.cache_set_cookie_responses && host.response_header("set-cookie").is_some() {
            return None;
        }
        let length = host
            .response_header("content-length")
            .and_then(|l| l.trim().parse::<usize>().ok());
        if length > Some(config.max_body_size) {
            return None;
        }
        let headers = host
            .response_headers()
            .into_iter()
            .filter(|(k, _)| !k.starts_with(':'))
            .collect();
        Some(Keeping {
            status,
            headers,
            ttl,
            stale,
            length,
            body: Vec::new(),
        })
    }

    /// The kept response goes to storage: as the root's work, so in Kong's engine it leaves from
    /// the root's next tick (no dispatch is allowed in a response phase there); in Envoy at once.
    pub(super) fn write(&mut self) {
        let Reply::Keeping(keeping) = std::mem::replace(&mut self.reply, Reply::Pass) else {
            return;
        };
        let filter = self.filter.clone();
        let config = &filter.config;
        let mut storage_ttl = config.storage_ttl(keeping.ttl);
        if config.storage_ttl.is_none() && storage_ttl > 0 {
            // Kept past its freshness for its stale windows.
            storage_ttl += keeping.stale.longest();
        }
        if storage_ttl == 0 {
            return self.release();
        }
        let memory = config.strategy == Strategy::Memory;
        let entry = Entry {
            version: VERSION,
            status: keeping.status,
            headers: keeping.headers,
            body: keeping.body,
            timestamp: self.now_s(),
            ttl: keeping.ttl,
            expires_at_ms: memory.then(|| self.now_ms + storage_ttl * 1000),
            stale: keeping.stale,
        };
        let value = entry.encode();
        // Only a `memory` entry has an expiry of its own.
        if let Some(expires_ms) = entry.expires_at_ms {
            let data = filter.host.shared_data();
            match memory::set(data, &self.keys.entry, &value, expires_ms, self.now_ms) {
                Ok(Some(evicted)) => {
                    filter.count(Counted::Stored);
                    if evicted {
                        filter.count(Counted::Evicted);
                    }
                }
                Ok(None) => filter.count(Counted::NotKept),
                Err(e) => filter.redis_failed(&format!("[proxy-cache] {e}")),
            }
            return;
        }
        let Some(client) = &filter.client else {
            return;
        };
        let max = config.redis.max_redirections();
        let lock_ms = self
            .take_lock()
            .then(|| config.coalesce_wait_ms())
            .flatten();
        let job = store::store_job(&self.keys, value, storage_ttl, lock_ms, max);
        if let Submitted::Done(outcome) =
            client.submit(filter.root_id, RootStep::Write.code(), Box::new(job))
        {
            written(&filter, outcome);
        }
    }

    /// The lock goes back unused (the response is not kept): the waiters go upstream.
    pub(super) fn release(&mut self) {
        if !self.take_lock() {
            return;
        }
        let filter = &self.filter;
        let (Some(client), Some(ms)) = (&filter.client, filter.config.coalesce_wait_ms()) else {
            return;
        };
        let max = filter.config.redis.max_redirections();
        let job = store::release_job(&self.keys, ms, max);
        if let Submitted::Done(Err(e)) =
            client.submit(filter.root_id, RootStep::Release.code(), Box::new(job))
        {
            filter.redis_failed(&format!("[proxy-cache] could not release a lock: {e}"));
        }
    }
}

/// A write's answer, heard by the root.
pub fn written(filter: &Filter, outcome: Outcome) {
    match store::stored(outcome) {
        Ok(()) => filter.count(Counted::Stored),
        Err(e) => filter.redis_failed(&format!("[proxy-cache] could not store: {e}")),
    }
}
