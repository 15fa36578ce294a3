//! Kong-style route matching: the route whose path prefix is longest wins among those whose
//! hosts and methods match; `strip_path` removes the matched prefix before the service's path.

use redis_filters::kong_config::{FilterEntry, KongConfig, Route, Service};

/// What a request was routed to.
#[derive(Debug, Clone)]
pub struct Matched {
    pub service: usize,
    pub route: usize,
    /// Path and query sent upstream.
    pub upstream_path: String,
}

pub struct Router {
    config: KongConfig,
}

impl Router {
    pub fn new(config: KongConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &KongConfig {
        &self.config
    }

    pub fn service(&self, m: &Matched) -> &Service {
        &self.config.services[m.service]
    }

    pub fn route(&self, m: &Matched) -> &Route {
        &self.config.services[m.service].routes[m.route]
    }

    /// The filters that run for a match: the service's chain, then the route's.
    pub fn filters(&self, m: &Matched) -> Vec<&FilterEntry> {
        let service = self.service(m);
        service
            .filters
            .iter()
            .chain(service.routes[m.route].filters.iter())
            .collect()
    }

    pub fn route_request(
        &self,
        method: &str,
        host: Option<&str>,
        path_and_query: &str,
    ) -> Option<Matched> {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let host = host.map(|h| h.split(':').next().unwrap_or(h));
        let mut best: Option<(usize, usize, usize, &str)> = None;
        for (si, s) in self.config.services.iter().enumerate() {
            for (ri, r) in s.routes.iter().enumerate() {
                if !r.methods.is_empty() && !r.methods.iter().any(|m| m == method) {
                    continue;
                }
                if !r.hosts.is_empty()
                    && !host.is_some_and(|h| r.hosts.iter().any(|rh| host_matches(rh, h)))
                {
                    continue;
                }
                let prefix = if r.paths.is_empty() {
                    Some("")
                } else {
                    r.paths
                        .iter()
                        .map(String::as_str)
                        .filter(|p| path.starts_with(p))
                        .max_by_key(|p| p.len())
                };
                if let Some(prefix) = prefix {
                    if best.is_none_or(|(len, ..)| prefix.len() > len) {
                        best = Some((prefix.len(), si, ri, prefix));
                    }
                }
            }
        }
        let (_, si, ri, prefix) = best?;
        let service = &self.config.services[si];
        let rest = if service.routes[ri].strip_path {
            &path[prefix.len()..]
        } else {
            path
        };
        let mut upstream = join_paths(&service.path, rest);
        if let Some(q) = query {
            upstream.push('?');
            upstream.push_str(q);
        }
        Some(Matched {
            service: si,
            route: ri,
            upstream_path: upstream,
        })
    }
}

fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host.ends_with(suffix) && host.len() > suffix.len(),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

fn join_paths(base: &str, rest: &str) -> String {
    let base = base.trim_end_matches('/');
    let rest = rest.trim_start_matches('/');
    match (base.is_empty(), rest.is_empty()) {
        (true, true) => "/".to_string(),
        (true, false) => format!("/{rest}"),
        (false, true) => base.to_string(),
        (false, false) => format!("{base}/{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new(
            KongConfig::parse(
                r#"
_format_version: "3.0"
services:
- name: s1
  url: http://127.0.0.1:1/up
  routes:
  - {name: short, paths: [/api]}
  - {name: long, paths: [/api/v2], strip_path: false}
  - {name: hosted, hosts: [example.com], paths: [/h], methods: [POST]}
"#,
            )
            .unwrap(),
        )
    }

    #[test]
    fn longest_prefix_wins_and_strip_path_applies() {
        let r = router();
        let m = r.route_request("GET", None, "/api/x?y=1").unwrap();
        assert_eq!(r.route(&m).name, "short");
        assert_eq!(m.upstream_path, "/up/x?y=1");
        let m = r.route_request("GET", None, "/api/v2/z").unwrap();
        assert_eq!(r.route(&m).name, "long");
        assert_eq!(m.upstream_path, "/up/api/v2/z");
    }

    #[test]
    fn hosts_and_methods_must_match() {
        let r = router();
        assert!(r
            .route_request("POST", Some("example.com:8000"), "/h")
            .is_some());
        assert!(r.route_request("GET", Some("example.com"), "/h").is_none());
        assert!(r.route_request("POST", Some("other"), "/h").is_none());
        assert!(r.route_request("GET", None, "/nope").is_none());
    }
}
