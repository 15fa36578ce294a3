//! Answering from the cache: a stored response replayed (Hit, Stale) as a local response, or in
//! place of an upstream error (`stale-if-error`), and Kong's diagnostic headers.

use super::*;

impl CacheRequest {
    /// Kong's diagnostic headers (each as `response_headers` says, all with `Kong-Debug`),
    /// after `extra`.
    pub(super) fn diagnostic(&self, extra: &[(String, String)]) -> Vec<(String, String)> {
        let flags = self.filter.config.response_headers;
        let mut out = extra.to_vec();
        if let (Some(status), true) = (self.status, flags.status || self.debug) {
            out.push(("X-Cache-Status".into(), status.into()));
        }
        if let (Some(key), true) = (&self.key, flags.key || self.debug) {
            out.push(("X-Cache-Key".into(), key.clone()));
        }
        out
    }

    pub(super) fn hit(&mut self, entry: Entry) -> Action {
        self.serve(entry, "Hit", Counted::Hit)
    }

    /// A stored response's headers as they are replayed: not hop-by-hop ones, not the length
    /// (the host sets it), not `*ratelimit-remaining*`, not the diagnostics; then `Age` and
    /// the diagnostics of this request.
    pub(super) fn replayed(&self, entry: &Entry) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = entry
            .headers
            .iter()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                !k.starts_with(':')
                    && !HOP_BY_HOP.contains(&k.as_str())
                    && !k.contains("ratelimit-remaining")
                    && !matches!(k.as_str(), "age" | "x-cache-status" | "x-cache-key")
            })
            .cloned()
            .collect();
        if self.filter.config.response_headers.age || self.debug {
            let age = self.now_s().saturating_sub(entry.timestamp);
            headers.push(("age".into(), age.to_string()));
        }
        self.diagnostic(&headers)
    }

    /// Answers the request with a stored response (`Hit`, or `Stale` while another request
    /// revalidates it).
    pub(super) fn serve(&mut self, entry: Entry, status: &'static str, counted: Counted) -> Action {
        let body: &[u8] = if self.method == "HEAD" {
            &[]
        } else {
            &entry.body
        };
        let Some(newline) = self.exact_local_body(body) else {
            return self.bypass();
        };
        self.status = Some(status);
        self.reply = Reply::Answered { newline };
        self.filter.count(counted);
        let headers = self.replayed(&entry);
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if self.filter.host.send_response(entry.status, &pairs, body) {
            return Action::Pause;
        }
        self.filter.host.log(
            LogLevel::Error,
            "[proxy-cache] the host refused the cached response",
        );
        self.reply = Reply::Pass;
        self.status = Some("Miss");
        Action::Continue
    }

    /// `stale-if-error`: the upstream answered 500, 502, 503 or 504 and this request has a
    /// stale entry within its window: the entry's status, headers and body replace the
    /// error's (X-Cache-Status `Stale`), and nothing is stored.
    pub(super) fn serve_stale_on_error(&mut self) -> bool {
        let host = self.filter.host.clone();
        let status = host
            .response_header(":status")
            .and_then(|s| s.trim().parse::<u32>().ok());
        if !status.is_some_and(stale::is_error) {
            return false;
        }
        let Some(entry) = self.stale_entry.take() else {
            return false;
        };
        self.status = Some("Stale");
        self.filter.count(Counted::Stale);
        host.set_response_header(":status", &entry.status.to_string());
        for (name, value) in self.replayed(&entry) {
            host.set_response_header(&name, &value);
        }
        let body = if self.method == "HEAD" {
            Vec::new()
        } else {
            entry.body
        };
        host.set_response_header("content-length", &body.len().to_string());
        self.reply = Reply::Swapping(Some(body));
        self.release();
        true
    }
}
