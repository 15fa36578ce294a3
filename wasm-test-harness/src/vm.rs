//! One filter module's instance in one worker: a guest with a root context per configured use of
//! the filter. A guest that traps is replaced by a fresh one, as Kong recycles an instance.

use crate::callouts::{Dispatches, Outbox};
use crate::profile::Profile;
use crate::shared::SharedStore;
use proxy_wasm_host::abi::v0_2_1::types::LogLevel;
use proxy_wasm_host::abi::v0_2_1::{
    Clock, ContextId, Guest, GuestError, Host, LogContext, LogSink, PluginConfig, Started,
    SystemClock, VmServices,
};
use proxy_wasm_host::{Limits, Module};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Filter logs on stderr, prefixed with the filter name (and its root id).
pub struct StderrLog {
    pub min: LogLevel,
}

impl LogSink for StderrLog {
    fn log(&self, context: LogContext<'_>, level: LogLevel, message: &[u8]) {
        crate::call_counts::count(crate::call_counts::Counted::Log);
        if (level as u32) < (self.min as u32) {
            return;
        }
        let name = context
            .plugin_name
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        eprintln!("[{name}] {level:?}: {}", String::from_utf8_lossy(message));
    }
}

/// The system's clock, its reads counted (`proxy_get_current_time_nanoseconds`).
struct CountedClock;

impl Clock for CountedClock {
    fn realtime_nanos(&self) -> u64 {
        crate::call_counts::count(crate::call_counts::Counted::GetCurrentTime);
        SystemClock.realtime_nanos()
    }

    fn monotonic_nanos(&self) -> u64 {
        SystemClock.monotonic_nanos()
    }
}

/// What a VM needs to (re)build its guest.
pub struct VmSpec {
    pub name: String,
    pub module: Module,
    pub host: Host,
    pub store: Arc<SharedStore>,
    pub log: Arc<StderrLog>,
    pub dispatches: Arc<Dispatches>,
    /// (root id, config) of each use of the filter.
    pub roots: Vec<(String, Option<String>)>,
    pub profile: Profile,
}

pub enum RootState {
    Serving(ContextId),
    Refused(String),
}

pub struct Vm {
    pub spec: VmSpec,
    pub guest: Guest,
    pub roots: HashMap<String, RootState>,
    pub outbox: Arc<Mutex<Outbox>>,
}

impl Vm {
    pub fn new(spec: VmSpec) -> Result<Self, String> {
        let (guest, roots) = start(&spec)?;
        let outbox = spec.dispatches.outbox.clone();
        Ok(Self {
            spec,
            guest,
            roots,
            outbox,
        })
    }

    /// Replaces a guest that trapped with a fresh instance (state is lost, as in Kong).
    pub fn recycle(&mut self) -> Result<(), String> {
        let (guest, roots) = start(&self.spec)?;
        self.guest = guest;
        self.roots = roots;
        Ok(())
    }
}

fn start(spec: &VmSpec) -> Result<(Guest, HashMap<String, RootState>), String> {
    let services = VmServices::new(spec.log.clone())
        .with_vm_id(Vec::new())
        .with_shared(spec.store.clone())
        .with_callouts(spec.dispatches.clone())
        .with_clock(Arc::new(CountedClock));
    let mut guest = Guest::new(&spec.host, &spec.module, services, &Limits::default())
        .map_err(|e| format!("filter {}: cannot instantiate: {e}", spec.name))?;
    let mut roots = HashMap::new();
    for (root_id, config) in &spec.roots {
        let mut plugin = PluginConfig::new()
            .with_name(spec.name.clone())
            .with_root_id(root_id.clone());
        if let Some(c) = config {
            plugin = plugin.with_configuration(c.clone().into_bytes());
        }
        let state = match guest.start(plugin) {
            Ok(Started::Serving(ctx)) => RootState::Serving(ctx),
            Ok(Started::Refused { callback, .. }) => {
                if spec.profile == Profile::Kong {
                    return Err(crate::kong_rules::refused_config(&spec.name, root_id));
                }
                let why = format!("filter {} ({root_id}) refused its {callback:?}", spec.name);
                eprintln!("[harness] {why}");
                RootState::Refused(why)
            }
            Err(e) => {
                let why = format!(
                    "filter {} ({root_id}) failed to start: {}",
                    spec.name,
                    describe(&e)
                );
                eprintln!("[harness] {why}");
                RootState::Refused(why)
            }
        };
        roots.insert(root_id.clone(), state);
    }
    Ok((guest, roots))
}

/// A guest error with its cause chain (a trap's message is in the source).
pub fn describe(e: &GuestError) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
