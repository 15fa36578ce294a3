//! The HTTP context: counts the request, then lets it through with Kong's headers or answers
//! with Kong's rejection.

use crate::config::{LimitBy, Policy, WindowType};
use crate::decision::{decide, sliding_estimate, Usage};
use crate::filter::Filter;
use crate::identifier::{identifier, strip_port, RequestInfo};
use crate::keys::{key, Scope, EMPTY_UUID};
use crate::periods::Period;
use crate::slots::{self, Slot};
use crate::{script, sync};
use redis_filter_core::proxy::respond::{self, OnRedisFailure};
use redis_filter_core::proxy::Step as _;
use redis_filter_core::proxy::{Action, HttpContext};
use redis_filter_core::transport::Submitted;
use redis_filter_core::{job::Pipeline, Outcome};
use std::rc::Rc;

/// The Redis work of a request: count it in every period's window, and read the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Count,
}

impl redis_filter_core::proxy::Step for Step {
    const ALL: &'static [Self] = &[Step::Count];
}

const NAME: &str = "redis-rate-limiting";

/// One period's window for this request.
#[derive(Debug, Clone)]
struct Window {
    period: Period,
    limit: u64,
    start_ms: u64,
    /// Kong's Redis key (empty for `local`, which counts only in its slot).
    key: String,
    /// The previous window's key, for a sliding window.
    previous: Option<String>,
    /// Where this gateway counts the window and the previous one (`local` and `sync_rate`).
    slots: Option<(Slot, Option<Slot>)>,
}

pub struct RateLimit {
    id: u32,
    filter: Rc<Filter>,
    now_ms: u64,
    windows: Vec<Window>,
    headers: Vec<(String, String)>,
}

impl RateLimit {
    pub fn new(id: u32, filter: Rc<Filter>) -> Self {
        Self {
            id,
            filter,
            now_ms: 0,
            windows: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Reads only what `limit_by` needs: each header or property is a host call.
    fn request_info(&self) -> RequestInfo {
        let config = &self.filter.config;
        let host = self.filter.host.as_ref();
        let header = |name: &str| host.request_header(name);
        let property = |path: &[&str]| host.property(path);
        let mut info = RequestInfo::default();
        match config.limit_by {
            // Who the request authenticated as: what an authentication filter before this one
            // handed over (Kong's authenticated consumer), never a header a client can send.
            LimitBy::Consumer => {
                if let Some(c) = redis_filter_core::identity::handed(host) {
                    info.consumer_id = Some(c.id);
                    info.credential_id = c.credential;
                }
            }
            LimitBy::Credential => {
                info.credential_id =
                    redis_filter_core::identity::handed(host).and_then(|c| c.credential)
            }
            LimitBy::Service => {
                info.service_id =
                    property(&["kong", "service_id"]).or_else(|| property(&["cluster_name"]))
            }
            LimitBy::Header => info.header = config.header_name.as_deref().and_then(&header),
            LimitBy::Path => {
                let path = header(":path").unwrap_or_default();
                info.path = path.split('?').next().unwrap_or("").to_string();
            }
            LimitBy::Ip => {}
        }
        if identifier(config, &info).is_empty() {
            info.client_ip = property(&["source", "address"])
                .or_else(|| property(&["ngx", "remote_addr"]))
                .map(|a| strip_port(&a))
                .unwrap_or_default();
        }
        info
    }

    /// The plugin's scope for the keys, as Kong's plugin has it (`conf.route_id` /
    /// `conf.service_id`: the entity it is attached to): the config's ids when it names either
    /// (the other all zeros), else the request's route from Kong's `kong.route_id` with no
    /// service (a chain on a route, as Kong keys a plugin on that route), else zeros.
    fn scope(&self) -> Scope {
        let config = &self.filter.config;
        let zeros = || EMPTY_UUID.to_string();
        if config.route_id.is_some() || config.service_id.is_some() {
            return Scope {
                route_id: config.route_id.clone().unwrap_or_else(zeros),
                service_id: config.service_id.clone().unwrap_or_else(zeros),
            };
        }
        let route_id = match self.filter.kong_properties.get() {
            Some(false) => None,
            _ => self.filter.host.property(&["kong", "route_id"]),
        };
        if self.filter.kong_properties.get().is_none() {
            self.filter.kong_properties.set(Some(route_id.is_some()));
        }
        Scope {
            route_id: route_id.unwrap_or_else(zeros),
            service_id: zeros(),
        }
    }

    fn windows(&self, scope: &Scope, ident: &str) -> Vec<Window> {
        let sliding = self.filter.config.window_type == WindowType::Sliding;
        let config = &self.filter.config;
        let in_shared_data = config.policy == Policy::Local || config.sync_rate.is_some();
        self.filter
            .config
            .limits
            .iter()
            .map(|&(period, limit)| {
                let start_ms = if sliding {
                    period.aligned_start(self.now_ms)
                } else {
                    period.calendar_start(self.now_ms)
                };
                let previous = sliding.then(|| {
                    key(
                        scope,
                        ident,
                        period,
                        start_ms.saturating_sub(period.seconds() * 1000),
                    )
                });
                let slots = in_shared_data.then(|| {
                    let live = self.slot_life_ms(period);
                    let ring = slots::ring(period, config.sync_rate);
                    let before = start_ms.saturating_sub(period.seconds() * 1000);
                    let slot = |start| Slot::new(scope, ident, period, start, live, ring);
                    (slot(start_ms), sliding.then(|| slot(before)))
                });
                Window {
                    period,
                    limit,
                    start_ms,
                    key: match config.policy {
                        Policy::Local => String::new(),
                        Policy::Redis => key(scope, ident, period, start_ms),
                    },
                    previous,
                    slots,
                }
            })
            .collect()
    }

    fn ttl(&self, period: Period) -> u64 {
        match self.filter.config.window_type {
            WindowType::Fixed => period.seconds(),
            // The previous window is read for a whole window after it ends.
            WindowType::Sliding => period.seconds() * 2,
        }
    }

    /// How long a window's slot is kept: its TTL, a day more for calendar months and years
    /// (longer than the 30 and 365 days of their TTL), and with `sync_rate` two syncs more so
    /// its last deltas still reach Redis.
    fn slot_life_ms(&self, period: Period) -> u64 {
        let calendar = match period {
            Period::Month | Period::Year => 86_400_000,
            _ => 0,
        };
        let sync = self
            .filter
            .config
            .sync_rate
            .map_or(0, |r| (r * 2000.0) as u64 + 1000);
        self.ttl(period) * 1000 + calendar + sync
    }

    fn usages(&self, current: &[u64], previous: &[u64]) -> Vec<Usage> {
        self.windows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let cur = current.get(i).copied().unwrap_or(0);
                let prior = match (&w.previous, previous.get(i)) {
                    (Some(_), Some(prev)) => {
                        sliding_estimate(cur, *prev, w.start_ms, w.period.seconds(), self.now_ms)
                    }
                    _ => cur as f64,
                };
                Usage {
                    period: w.period,
                    limit: w.limit,
                    prior,
                    window_start_ms: w.start_ms,
                }
            })
            .collect()
    }

    /// Counts in shared data (`local`, and `redis` with `sync_rate`).
    fn count_in_shared_data(&self) -> Result<(Vec<u64>, Vec<u64>), String> {
        let mut current = Vec::new();
        let mut previous = Vec::new();
        let synced = self.filter.config.sync_rate.is_some();
        let data = self.filter.host.shared_data();
        let now = self.now_ms;
        for w in &self.windows {
            let Some((slot, before)) = &w.slots else {
                continue;
            };
            let (count, evicted) = if synced {
                let end = w.start_ms + self.ttl(w.period) * 1000;
                let ttl = self.ttl(w.period);
                self.filter
                    .syncer
                    .borrow_mut()
                    .touch(&w.key, slot, ttl, end);
                sync::count(data, slot, now)?
            } else {
                slots::add(data, slot, now)?
            };
            current.push(count);
            if evicted {
                self.filter.evicted();
            }
            if let Some(p) = before {
                previous.push(if synced {
                    sync::known(data, p, now)
                } else {
                    slots::read(data, p, now)
                });
            }
        }
        Ok((current, previous))
    }

    /// Lets the request through with the headers, or rejects it.
    fn finish(&mut self, current: &[u64], previous: &[u64]) -> Action {
        let config = &self.filter.config;
        let usages = self.usages(current, previous);
        let d = decide(&usages, self.now_ms, config.hide_client_headers);
        if !d.blocked {
            self.filter.allowed();
            self.headers = d.headers;
            return Action::Continue;
        }
        self.filter.limited();
        let mut headers = d.headers;
        if let Some(retry) = d.retry_after {
            headers.push(("Retry-After".into(), retry.to_string()));
        }
        self.respond(config.error_code, &config.error_message, headers)
    }

    fn respond(&self, status: u32, message: &str, headers: Vec<(String, String)>) -> Action {
        respond::kong_error(self.filter.host.as_ref(), NAME, status, message, &headers)
    }

    /// Counting failed: Kong's fault tolerance (`failed to get usage: ...`, Kong's log line).
    fn failed(&self, error: &str) -> Action {
        self.filter
            .redis_failed(&format!("failed to get usage: {error}"));
        let mode = OnRedisFailure::kong(self.filter.config.fault_tolerant);
        let action = mode.answer(self.filter.host.as_ref(), NAME);
        if action == Action::Continue && mode.fail_open {
            self.filter.allowed_redis_down();
        }
        action
    }

    fn on_counts(&mut self, outcome: Outcome) -> Action {
        let n = self.windows.len();
        let previous = self.windows.iter().filter(|w| w.previous.is_some()).count();
        let counts = outcome
            .map_err(|e| e.to_string())
            .and_then(|replies| script::counts(&replies, n + previous));
        match counts {
            Ok(all) => {
                let (current, prev) = all.split_at(n.min(all.len()));
                self.finish(current, prev)
            }
            Err(e) => self.failed(&e),
        }
    }
}

impl HttpContext for RateLimit {
    fn on_request_headers(&mut self, _: usize, _: bool) -> Action {
        self.now_ms = self.filter.host.now_ms();
        let ident = identifier(&self.filter.config, &self.request_info());
        let scope = self.scope();
        self.windows = self.windows(&scope, &ident);
        let config = &self.filter.config;
        if config.policy == Policy::Local || config.sync_rate.is_some() {
            return match self.count_in_shared_data() {
                Ok((current, previous)) => self.finish(&current, &previous),
                Err(e) => self.failed(&e),
            };
        }
        let Some(client) = self.filter.client.clone() else {
            return self.failed("no redis client");
        };
        let current: Vec<(String, u64)> = self
            .windows
            .iter()
            .map(|w| (w.key.clone(), self.ttl(w.period)))
            .collect();
        let previous: Vec<String> = self
            .windows
            .iter()
            .filter_map(|w| w.previous.clone())
            .collect();
        let redis = &self.filter.config.redis;
        let job = if redis.is_cluster() {
            let requests = script::per_key_requests(&current, &previous);
            Pipeline::new(requests, redis.max_redirections())
        } else {
            Pipeline::new(vec![script::request(&current, &previous)], 0)
        };
        let submitted = client.submit(self.id, Step::Count.code(), Box::new(job));
        match submitted {
            Submitted::Pending => Action::Pause,
            Submitted::Done(outcome) => self.on_counts(outcome),
        }
    }

    fn on_redis(&mut self, tag: u32, outcome: Outcome) -> Action {
        match Step::from_code(tag) {
            Some(Step::Count) => self.on_counts(outcome),
            // Not a step of this filter's: nothing of this request waits on it.
            None => Action::Continue,
        }
    }

    fn on_response_headers(&mut self, _: usize, _: bool) -> Action {
        for (name, value) in &self.headers {
            self.filter.host.set_response_header(name, value);
        }
        Action::Continue
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
