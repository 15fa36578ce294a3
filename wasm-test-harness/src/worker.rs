//! One worker thread: its own instance of every filter module, serving its share of the
//! connections. A request runs each filter of its chain through Kong's phases, pausing where a
//! filter pauses, and is proxied to its service over HTTP/1.1 with keep-alive.

use crate::call_counts::{count, Counted};
use crate::dispatch::Upstreams;
use crate::headers::Headers;
use crate::http_client::{is_hop_by_hop, HttpClient};
use crate::local_length;
use crate::profile::Profile;
use crate::state::Shared;
use crate::streams::{Event, Properties, RequestId, RequestState, Streams};
use crate::vm::{describe, RootState, Vm};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use proxy_wasm_host::abi::v0_2_1::types::Action;
use proxy_wasm_host::abi::v0_2_1::{CallScope, ContextId, GuestError, GuestId, HttpCallResponse};
use redis_tunnel::TunnelPool;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A filter's context for one request.
#[derive(Clone, Copy)]
struct Ctx {
    vm: usize,
    guest: GuestId,
    id: ContextId,
}

/// Where a filter is, for engine bug 9 (`Profile::pause_meets_bug_9`): the chain's last, and
/// whether a filter before it paused in this step (so it runs from that filter's call answer).
#[derive(Clone, Copy)]
struct Place {
    last: bool,
    after_a_pause: bool,
}

enum PhaseEnd {
    Done,
    Local,
    /// A local response sent from a call's answer, where the request phase goes on to the
    /// filters after (`Profile::local_from_answer_ends_phase`).
    LocalGoingOn,
    Failed(String),
}

/// How long a paused filter may keep a request waiting before the harness gives up on it.
const MAX_PAUSE: Duration = Duration::from_secs(60);

pub struct Worker {
    pub index: usize,
    shared: Arc<Shared>,
    vms: Vec<RefCell<Vm>>,
    vm_by_name: HashMap<String, usize>,
    streams: RefCell<Option<Streams>>,
    waiters: RefCell<HashMap<RequestId, Rc<Notify>>>,
    resumed: RefCell<HashSet<(GuestId, ContextId)>>,
    next_request: Cell<RequestId>,
    tunnel: TunnelPool,
    client: HttpClient,
    upstreams: Upstreams,
    ticks: RefCell<HashMap<(usize, ContextId), tokio::task::JoinHandle<()>>>,
}

impl Worker {
    pub fn new(index: usize, shared: Arc<Shared>, vms: Vec<Vm>) -> Rc<Self> {
        let vm_by_name = vms
            .iter()
            .enumerate()
            .map(|(i, vm)| (vm.spec.name.clone(), i))
            .collect();
        let upstreams = Upstreams {
            stats: shared.calls.clone(),
            profile: shared.profile,
            tunnels: shared.tunnels.clone(),
            clusters: shared.clusters.clone(),
        };
        let tunnel = TunnelPool::new(shared.tls.clone());
        let worker = Rc::new(Self {
            index,
            shared,
            vms: vms.into_iter().map(RefCell::new).collect(),
            vm_by_name,
            streams: RefCell::new(Some(Streams::default())),
            waiters: RefCell::default(),
            resumed: RefCell::default(),
            next_request: Cell::new(1),
            tunnel,
            client: HttpClient::default(),
            upstreams,
            ticks: RefCell::default(),
        });
        for vm in 0..worker.vms.len() {
            worker.after(vm, false);
        }
        worker
    }

    /// Runs `f` in guest `vm` with the worker's request state lent to it, then acts on what the
    /// guest did: calls to make, tick periods, resumed streams, local responses, traps.
    fn call_vm<R>(
        self: &Rc<Self>,
        vm: usize,
        f: impl FnOnce(&mut CallScope<'_, Streams>) -> Result<R, GuestError>,
    ) -> Result<R, GuestError> {
        let streams = self.streams.borrow_mut().take().unwrap_or_default();
        let (result, streams) = self.vms[vm].borrow_mut().guest.with(streams, f);
        *self.streams.borrow_mut() = Some(streams);
        let trapped = match &result {
            Err(e) if self.vms[vm].borrow().guest.is_poisoned() => {
                eprintln!(
                    "[harness] filter {} trapped: {}",
                    self.vms[vm].borrow().spec.name,
                    describe(e)
                );
                true
            }
            _ => false,
        };
        self.after(vm, trapped);
        result
    }

    fn after(self: &Rc<Self>, vm: usize, trapped: bool) {
        let (calls, violations) = {
            let v = self.vms[vm].borrow();
            let mut outbox = match v.outbox.lock() {
                Ok(o) => o,
                Err(p) => p.into_inner(),
            };
            (
                std::mem::take(&mut outbox.calls),
                std::mem::take(&mut outbox.violations),
            )
        };
        for call in calls {
            let worker = self.clone();
            tokio::task::spawn_local(async move {
                let response = worker
                    .upstreams
                    .perform(&call.request, &worker.tunnel, &worker.client)
                    .await;
                worker.deliver(vm, call.guest, call.context, call.callout, response);
            });
        }
        for v in &violations {
            eprintln!(
                "[harness] filter {} trapped: {}",
                self.vms[vm].borrow().spec.name,
                v.message
            );
        }
        if trapped || !violations.is_empty() {
            self.recycle(vm);
        }
        let changes = self.vms[vm].borrow_mut().guest.take_changes();
        for (root, period) in changes.tick_periods {
            self.set_tick(vm, root, period);
        }
        let events = self
            .streams
            .borrow_mut()
            .as_mut()
            .map(|s| std::mem::take(&mut s.events))
            .unwrap_or_default();
        for event in events {
            let request = match event {
                Event::Resumed(request, guest, ctx) => {
                    self.resumed.borrow_mut().insert((guest, ctx));
                    request
                }
                Event::LocalResponse(request) => request,
            };
            if let Some(n) = self.waiters.borrow().get(&request) {
                n.notify_one();
            }
        }
    }

    fn recycle(self: &Rc<Self>, vm: usize) {
        count(Counted::Recycles);
        let result = self.vms[vm].borrow_mut().recycle();
        if let Err(e) = result {
            eprintln!("[harness] cannot recycle filter instance: {e}");
        }
        // Requests paused in the old instance go on without it, as in Kong.
        for n in self.waiters.borrow().values() {
            n.notify_one();
        }
    }

    fn deliver(
        self: &Rc<Self>,
        vm: usize,
        guest: GuestId,
        context: ContextId,
        callout: proxy_wasm_host::abi::v0_2_1::CalloutId,
        response: HttpCallResponse<'static>,
    ) {
        if self.vms[vm].borrow().guest.id() != guest {
            return; // the instance was recycled since the call
        }
        if let Err(e) = self.call_vm(vm, |s| {
            count(Counted::OnHttpCallResponse);
            s.on_http_call_response(context, callout, response)
        }) {
            if !matches!(e, GuestError::Callout { .. } | GuestError::Context { .. }) {
                eprintln!("[harness] on_http_call_response failed: {}", describe(&e));
            }
        }
    }

    fn set_tick(self: &Rc<Self>, vm: usize, root: ContextId, period: Option<Duration>) {
        if let Some(old) = self.ticks.borrow_mut().remove(&(vm, root)) {
            old.abort();
        }
        let Some(period) = period else {
            return;
        };
        let worker = self.clone();
        let guest = self.vms[vm].borrow().guest.id();
        let handle = tokio::task::spawn_local(async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                interval.tick().await;
                if worker.vms[vm].borrow().guest.id() != guest {
                    return;
                }
                if let Err(e) = worker.call_vm(vm, |s| {
                    count(Counted::OnTick);
                    s.on_tick(root)
                }) {
                    eprintln!("[harness] on_tick failed: {}", describe(&e));
                }
            }
        });
        self.ticks.borrow_mut().insert((vm, root), handle);
    }

    fn with_request<R>(&self, id: RequestId, f: impl FnOnce(&mut RequestState) -> R) -> Option<R> {
        self.streams
            .borrow_mut()
            .as_mut()
            .and_then(|s| s.requests.get_mut(&id))
            .map(f)
    }

    fn has_local_response(&self, id: RequestId) -> bool {
        self.with_request(id, |r| r.local_response.is_some())
            .unwrap_or(false)
    }

    /// Serves one request through its route's filter chain.
    pub async fn handle(
        self: Rc<Self>,
        req: hyper::Request<Incoming>,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> hyper::Response<Full<Bytes>> {
        let method = req.method().as_str().to_string();
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        if path == "/__harness/metrics" {
            return self.metrics_response();
        }
        count(Counted::Requests);
        let host = req
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        let router = &self.shared.router;
        let Some(matched) = router.route_request(&method, host.as_deref(), &path) else {
            return kong_error(404, "no Route matched with those values");
        };
        let mut pairs: Vec<(String, Vec<u8>)> = vec![
            (":method".into(), method.clone().into_bytes()),
            (":path".into(), path.clone().into_bytes()),
            (
                ":authority".into(),
                host.clone().unwrap_or_default().into_bytes(),
            ),
            (":scheme".into(), b"http".to_vec()),
        ];
        pairs.extend(
            req.headers()
                .iter()
                .filter(|(k, _)| !is_hop_by_hop(k.as_str()))
                .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec())),
        );
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes().to_vec(),
            Err(_) => return kong_error(400, "Bad request"),
        };
        let service = router.service(&matched);
        let route = router.route(&matched);
        let id = self.next_request.get();
        self.next_request.set(id + 1);
        let state = RequestState {
            request_headers: Headers::from_pairs(pairs),
            request_body: body,
            props: Properties {
                route_id: route.id.clone(),
                service_id: service.id.clone(),
                route_name: route.name.clone(),
                service_name: service.name.clone(),
                source_address: peer.to_string(),
                destination_address: local.to_string(),
                request_id: format!("{:x}-{}-{id}", std::process::id(), self.index),
            },
            ..RequestState::default()
        };
        if let Some(s) = self.streams.borrow_mut().as_mut() {
            s.requests.insert(id, state);
        }
        let notify = Rc::new(Notify::new());
        self.waiters.borrow_mut().insert(id, notify.clone());
        let response = self.clone().run(id, &matched, &notify).await;
        self.waiters.borrow_mut().remove(&id);
        if let Some(s) = self.streams.borrow_mut().as_mut() {
            s.requests.remove(&id);
            s.contexts.retain(|_, r| *r != id);
        }
        response
    }

    async fn run(
        self: Rc<Self>,
        id: RequestId,
        matched: &crate::router::Matched,
        notify: &Rc<Notify>,
    ) -> hyper::Response<Full<Bytes>> {
        let router = &self.shared.router;
        let body_len = self
            .with_request(id, |r| r.request_body.len() as u32)
            .unwrap_or(0);
        let headers_len = self
            .with_request(id, |r| r.request_headers.iter().count() as u32)
            .unwrap_or(0);
        // Each filter's context is created and its request headers run in one entry into its
        // guest; a filter after a local response still gets a context (for the response phase).
        let mut ctxs = Vec::new();
        let mut end = PhaseEnd::Done;
        let chain = router.filters(matched);
        let chain_len = chain.len();
        // Whether a filter before this one paused in this step (engine bug 9's condition).
        let mut paused = false;
        for entry in chain {
            let Some(&vm) = self.vm_by_name.get(&entry.name) else {
                return kong_error(500, "An unexpected error occurred");
            };
            let root = match self.vms[vm].borrow().roots.get(&entry.origin) {
                Some(RootState::Serving(r)) => *r,
                Some(RootState::Refused(why)) => {
                    eprintln!("[harness] {why}: request refused");
                    return kong_error(500, "An unexpected error occurred");
                }
                None => return kong_error(500, "An unexpected error occurred"),
            };
            let guest = self.vms[vm].borrow().guest.id();
            let run_headers = matches!(end, PhaseEnd::Done | PhaseEnd::LocalGoingOn);
            let result = self.call_vm(vm, |s| {
                count(Counted::OnContextCreate);
                let ctx = s.on_context_create(Some(root))?;
                s.stream_mut().contexts.insert((guest, ctx), id);
                let action = if run_headers {
                    count(Counted::OnRequestHeaders);
                    Some(s.on_request_headers(ctx, headers_len, body_len == 0))
                } else {
                    None
                };
                Ok((ctx, action))
            });
            let (ctx, action) = match result {
                Ok(r) => r,
                Err(e) => {
                    eprintln!(
                        "[harness] filter {} could not create a context: {}",
                        entry.name,
                        describe(&e)
                    );
                    return kong_error(500, "An unexpected error occurred");
                }
            };
            let c = Ctx { vm, guest, id: ctx };
            ctxs.push(c);
            if let Some(action) = action {
                let place = Place {
                    last: ctxs.len() == chain_len,
                    after_a_pause: paused,
                };
                paused |= matches!(action, Ok(Action::Pause));
                let going_on = matches!(end, PhaseEnd::LocalGoingOn);
                let settled = self.settle(id, c, action, place, going_on, notify).await;
                end = match (end, settled) {
                    (_, PhaseEnd::Failed(why)) => PhaseEnd::Failed(why),
                    (PhaseEnd::LocalGoingOn, _) => PhaseEnd::LocalGoingOn,
                    (_, settled) => settled,
                };
            }
        }
        if matches!(end, PhaseEnd::Done) && body_len > 0 {
            end = self
                .phase(id, &ctxs, notify, |s, c| {
                    count(Counted::OnRequestBody);
                    s.on_request_body(c, body_len, true)
                })
                .await;
        }
        match end {
            PhaseEnd::Done => self.proxy(id, matched).await,
            PhaseEnd::Local | PhaseEnd::LocalGoingOn => {
                let local = self.with_request(id, |r| r.local_response.take()).flatten();
                if let Some(local) = local {
                    let profile = self.shared.profile;
                    self.with_request(id, |r| {
                        apply_local(r, local);
                        profile.local_body(&mut r.response_body);
                    });
                }
            }
            PhaseEnd::Failed(why) => {
                eprintln!("[harness] {why}");
                let failed = local_error(500, "An unexpected error occurred");
                self.with_request(id, |r| apply_local(r, failed));
            }
        }
        // Response phases: Kong runs the chain in order, Envoy's encoder path in reverse.
        let mut order = ctxs.clone();
        if self.shared.profile == Profile::Envoy {
            order.reverse();
        }
        self.response_phase(id, &order, notify).await;
        let response = self
            .with_request(id, |r| build_response(r))
            .unwrap_or_else(|| kong_error(500, "An unexpected error occurred"));
        for c in &ctxs {
            if self.vms[c.vm].borrow().guest.id() != c.guest {
                continue;
            }
            let ended = self.call_vm(c.vm, |s| {
                count(Counted::OnDone);
                s.on_done(c.id)?;
                count(Counted::OnLog);
                s.on_log(c.id)?;
                count(Counted::OnDelete);
                s.on_delete(c.id).map(|_| ())
            });
            if let Err(e) = ended {
                eprintln!(
                    "[harness] filter {}: ending the context failed: {}",
                    self.vms[c.vm].borrow().spec.name,
                    describe(&e)
                );
            }
        }
        response
    }

    /// Runs one request phase through the chain; stops at a local response or a failure.
    async fn phase(
        self: &Rc<Self>,
        id: RequestId,
        ctxs: &[Ctx],
        notify: &Rc<Notify>,
        f: impl Fn(&mut CallScope<'_, Streams>, ContextId) -> Result<Action, GuestError>,
    ) -> PhaseEnd {
        let mut paused = false;
        for (i, c) in ctxs.iter().enumerate() {
            if self.vms[c.vm].borrow().guest.id() != c.guest {
                continue;
            }
            let action = self.call_vm(c.vm, |s| f(s, c.id));
            let place = Place {
                last: i + 1 == ctxs.len(),
                after_a_pause: paused,
            };
            paused |= matches!(action, Ok(Action::Pause));
            match self.settle(id, *c, action, place, false, notify).await {
                PhaseEnd::Done => {}
                other => return other,
            }
        }
        PhaseEnd::Done
    }

    /// What a request-phase callback's answer means for the chain: wait if it paused; stop at a
    /// local response or a failure. `place` is where the filter is in its chain and step.
    async fn settle(
        self: &Rc<Self>,
        id: RequestId,
        c: Ctx,
        action: Result<Action, GuestError>,
        place: Place,
        going_on: bool,
        notify: &Rc<Notify>,
    ) -> PhaseEnd {
        match action {
            Err(e) => {
                let name = self.vms[c.vm].borrow().spec.name.clone();
                return PhaseEnd::Failed(format!("filter {name} failed: {}", describe(&e)));
            }
            // A pause that sent a local response waits on nothing.
            Ok(Action::Pause)
                if self
                    .shared
                    .profile
                    .pause_meets_bug_9(place.last, place.after_a_pause)
                    && !self.has_local_response(id) =>
            {
                let name = self.vms[c.vm].borrow().spec.name.clone();
                return PhaseEnd::Failed(Profile::bug_9_message(&name));
            }
            // After a local response that lets the phase go on, a filter that pauses is held
            // until its own call is answered.
            Ok(Action::Pause) if going_on => {
                if let Err(why) = self.wait_resumed(id, c, notify, false).await {
                    return PhaseEnd::Failed(why);
                }
            }
            Ok(Action::Pause) if !self.has_local_response(id) => {
                if let Err(why) = self.wait_resumed(id, c, notify, true).await {
                    return PhaseEnd::Failed(why);
                }
                if self.has_local_response(id)
                    && !self.shared.profile.local_from_answer_ends_phase()
                {
                    return PhaseEnd::LocalGoingOn;
                }
            }
            Ok(_) => {}
        }
        if self.has_local_response(id) {
            PhaseEnd::Local
        } else {
            PhaseEnd::Done
        }
    }

    /// The response phases, headers then body. A local response sent here replaces the
    /// response, and the chain goes on. With a single filter both phases run in one entry into
    /// its guest when it does not pause in between. A local response keeps Kong's engine's
    /// length rules in the kong profile (`local_length`).
    async fn response_phase(self: &Rc<Self>, id: RequestId, ctxs: &[Ctx], notify: &Rc<Notify>) {
        let single = ctxs.len() == 1;
        let mut body_done = false;
        let profile = self.shared.profile;
        let local = self
            .with_request(id, |r| {
                if r.local_sent {
                    local_length::on_local_response(
                        profile,
                        &mut r.response_headers,
                        &r.response_body,
                    );
                }
                r.local_sent
            })
            .unwrap_or(false);
        // The length the engine reads before each filter's on_response_headers.
        let mut seen = None;
        for headers_phase in [true, false] {
            if !headers_phase && body_done {
                break;
            }
            for c in ctxs {
                if self.vms[c.vm].borrow().guest.id() != c.guest {
                    continue;
                }
                let n = self
                    .with_request(id, |r| r.response_headers.iter().count() as u32)
                    .unwrap_or(0);
                let len = self
                    .with_request(id, |r| r.response_body.len() as u32)
                    .unwrap_or(0);
                if headers_phase {
                    seen = self
                        .with_request(id, |r| local_length::before_headers(&r.response_headers))
                        .flatten();
                }
                let eof = local_length::end_of_stream(profile, local, len as usize, seen);
                let result = self.call_vm(c.vm, |s| {
                    if !headers_phase {
                        count(Counted::OnResponseBody);
                        return s.on_response_body(c.id, len, eof).map(|a| (a, false));
                    }
                    count(Counted::OnResponseHeaders);
                    let action = s.on_response_headers(c.id, n, false)?;
                    let local = s
                        .stream()
                        .requests
                        .get(&id)
                        .is_some_and(|r| r.local_response.is_some());
                    if single && action == Action::Continue && !local {
                        count(Counted::OnResponseBody);
                        return s.on_response_body(c.id, len, eof).map(|a| (a, true));
                    }
                    Ok((action, false))
                });
                match result {
                    Ok((action, merged)) => {
                        body_done |= merged;
                        if action == Action::Pause {
                            let _ = self.wait_resumed(id, *c, notify, true).await;
                        }
                    }
                    Err(e) => eprintln!(
                        "[harness] filter {} failed in a response phase: {}",
                        self.vms[c.vm].borrow().spec.name,
                        describe(&e)
                    ),
                }
                if let Some(local) = self.with_request(id, |r| r.local_response.take()).flatten() {
                    self.with_request(id, |r| {
                        apply_local(r, local);
                        profile.local_body(&mut r.response_body);
                        local_length::on_local_response(
                            profile,
                            &mut r.response_headers,
                            &r.response_body,
                        );
                    });
                }
            }
        }
        let broken = self.with_request(id, |r| {
            let head = r.request_headers.get_str(":method").as_deref() == Some("HEAD");
            let sent = r.local_sent.then_some(&r.response_body)?;
            local_length::mismatch(profile, &r.response_headers, sent, head)
        });
        if let Some(why) = broken.flatten() {
            eprintln!("[harness] {why}");
            self.with_request(id, |r| apply_local(r, local_error(502, &why)));
        }
    }

    async fn wait_resumed(
        self: &Rc<Self>,
        id: RequestId,
        c: Ctx,
        notify: &Rc<Notify>,
        local_ends_it: bool,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + MAX_PAUSE;
        loop {
            let local = local_ends_it && self.has_local_response(id);
            if self.resumed.borrow_mut().remove(&(c.guest, c.id)) || local {
                return Ok(());
            }
            if self.vms[c.vm].borrow().guest.id() != c.guest {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notify.notified())
                .await
                .is_err()
            {
                return Err(format!(
                    "filter {} paused the request for more than {MAX_PAUSE:?}",
                    self.vms[c.vm].borrow().spec.name
                ));
            }
        }
    }

    async fn proxy(self: &Rc<Self>, id: RequestId, matched: &crate::router::Matched) {
        let service = self.shared.router.service(matched);
        let authority = format!("{}:{}", service.host, service.port);
        let (method, path, headers, body) = match self.with_request(id, |r| {
            let method = r
                .request_headers
                .get_str(":method")
                .unwrap_or_else(|| "GET".into());
            let headers: Vec<(String, Vec<u8>)> = r
                .request_headers
                .iter()
                .filter(|(k, _)| !k.starts_with(b":") && *k != b"host")
                .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.to_vec()))
                .collect();
            (
                method,
                matched.upstream_path.clone(),
                headers,
                std::mem::take(&mut r.request_body),
            )
        }) {
            Some(parts) => parts,
            None => return,
        };
        let mut headers = headers;
        headers.push(("host".into(), authority.clone().into_bytes()));
        let answer = self
            .client
            .send(&authority, &method, &path, headers, body)
            .await;
        self.with_request(id, |r| match answer {
            Ok(a) => {
                let mut pairs = vec![(":status".to_string(), a.status.to_string().into_bytes())];
                pairs.extend(a.headers);
                r.response_headers = Headers::from_pairs(pairs);
                r.response_body = a.body;
            }
            Err(e) => {
                eprintln!("[harness] upstream {authority}: {}", e.message);
                apply_local(
                    r,
                    local_error(
                        502,
                        "An invalid response was received from the upstream server",
                    ),
                );
            }
        });
    }

    fn metrics_response(&self) -> hyper::Response<Full<Bytes>> {
        let call = proxy_wasm_host::abi::v0_2_1::Invocation::new(
            proxy_wasm_host::abi::v0_2_1::GuestId::next(),
            ContextId::try_from(1u32).unwrap_or_else(|_| unreachable!()),
        );
        let mut metrics = self.shared.store.metrics(call);
        let calls = &self.shared.calls;
        metrics.insert(
            "harness.tunnel_calls".into(),
            calls
                .tunnel_calls
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        metrics.insert(
            "harness.http_calls".into(),
            calls.http_calls.load(std::sync::atomic::Ordering::Relaxed),
        );
        metrics.extend(crate::call_counts::snapshot());
        let body = serde_json::to_vec(&metrics).unwrap_or_default();
        json_response(200, body)
    }
}

fn local_error(status: u32, message: &str) -> proxy_wasm_host::abi::v0_2_1::LocalResponse<'static> {
    let body = serde_json::json!({ "message": message }).to_string();
    proxy_wasm_host::abi::v0_2_1::LocalResponse::new(status)
        .with_headers(vec![(
            b"content-type".to_vec().into(),
            b"application/json; charset=utf-8".to_vec().into(),
        )])
        .with_body(body.into_bytes())
}

fn apply_local(r: &mut RequestState, local: proxy_wasm_host::abi::v0_2_1::LocalResponse<'static>) {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = vec![(
        b":status".to_vec(),
        local.status_code.to_string().into_bytes(),
    )];
    pairs.extend(local.headers.iter().map(|(k, v)| (k.to_vec(), v.to_vec())));
    r.response_headers = Headers::from_pairs(pairs);
    r.response_body = local.body.to_vec();
    r.local_sent = true;
}

fn build_response(r: &RequestState) -> hyper::Response<Full<Bytes>> {
    let status = r
        .response_headers
        .get_str(":status")
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or(502);
    let mut builder = hyper::Response::builder().status(status);
    for (k, v) in r.response_headers.iter() {
        if k.starts_with(b":")
            || k == b"content-length"
            || is_hop_by_hop(&String::from_utf8_lossy(k))
        {
            continue;
        }
        builder = builder.header(k, v);
    }
    builder
        .body(Full::new(Bytes::from(r.response_body.clone())))
        .unwrap_or_else(|_| kong_error(502, "bad response headers"))
}

fn json_response(status: u16, body: Vec<u8>) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A Kong-style error: `{"message": ...}`.
pub fn kong_error(status: u16, message: &str) -> hyper::Response<Full<Bytes>> {
    json_response(
        status,
        serde_json::json!({ "message": message })
            .to_string()
            .into_bytes(),
    )
}
