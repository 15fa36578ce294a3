//! The minimal host: the imports a filter has (the proxy-wasm ABI 0.2.1 functions and WASI's
//! few), each answered from `State`, and the exports it drives.

use redis_filter_core::proxy::pairs;
use std::collections::{BTreeMap, HashMap};
use wasmtime::{Caller, Extern, Linker, Module, Store, TypedFunc};

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;
const BAD_ARGUMENT: u32 = 2;
const CAS_MISMATCH: u32 = 8;
const ROOT: u32 = 1;
/// Buffer and map types of the ABI that this host fills.
const PLUGIN_CONFIGURATION: u32 = 7;
const CALL_RESPONSE_BODY: u32 = 4;
const CALL_RESPONSE_HEADERS: u32 = 6;

pub struct State {
    config: Vec<u8>,
    shared: HashMap<Vec<u8>, (Vec<u8>, u32)>,
    /// Tunnel calls made and not answered yet: (token, request body).
    pending: Vec<(u32, Vec<u8>)>,
    /// The answer being delivered (`proxy_get_buffer_bytes` of the call's body).
    answer: Vec<u8>,
    next_token: u32,
    next_context: u32,
    /// Host calls by name since the last `clear`.
    pub calls: BTreeMap<&'static str, u64>,
}

impl State {
    pub fn new(config: Vec<u8>) -> Self {
        Self {
            config,
            shared: HashMap::new(),
            pending: Vec::new(),
            answer: Vec::new(),
            next_token: 1,
            next_context: ROOT + 1,
            calls: BTreeMap::new(),
        }
    }

    pub fn next_context(&mut self) -> u32 {
        self.next_context += 1;
        self.next_context
    }

    fn count(&mut self, name: &'static str) {
        *self.calls.entry(name).or_default() += 1;
    }
}

type Result<T> = wasmtime::Result<T>;

/// The exports a request goes through.
pub struct Host {
    create: TypedFunc<(u32, u32), ()>,
    request_headers: TypedFunc<(u32, u32, u32), u32>,
    response_headers: TypedFunc<(u32, u32, u32), u32>,
    response_body: TypedFunc<(u32, u32, u32), u32>,
    log: TypedFunc<u32, ()>,
    done: TypedFunc<u32, u32>,
    delete: TypedFunc<u32, ()>,
    call_response: TypedFunc<(u32, u32, u32, u32, u32), ()>,
    initialize: TypedFunc<(), ()>,
    vm_start: TypedFunc<(u32, u32), u32>,
    configure: TypedFunc<(u32, u32), u32>,
}

impl Host {
    pub fn new(store: &mut Store<State>, module: &Module) -> Result<Self> {
        let mut linker = Linker::new(store.engine());
        define(&mut linker)?;
        let instance = linker.instantiate(&mut *store, module)?;
        let mut get = |name: &str| {
            instance
                .get_func(&mut *store, name)
                .ok_or_else(|| wasmtime::Error::msg(format!("the module lacks {name}")))
        };
        let (create, request_headers, response_headers, response_body) = (
            get("proxy_on_context_create")?,
            get("proxy_on_request_headers")?,
            get("proxy_on_response_headers")?,
            get("proxy_on_response_body")?,
        );
        let (log, done, delete, call_response) = (
            get("proxy_on_log")?,
            get("proxy_on_done")?,
            get("proxy_on_delete")?,
            get("proxy_on_http_call_response")?,
        );
        let (initialize, vm_start, configure) = (
            get("_initialize")?,
            get("proxy_on_vm_start")?,
            get("proxy_on_configure")?,
        );
        Ok(Self {
            create: create.typed(&*store)?,
            request_headers: request_headers.typed(&*store)?,
            response_headers: response_headers.typed(&*store)?,
            response_body: response_body.typed(&*store)?,
            log: log.typed(&*store)?,
            done: done.typed(&*store)?,
            delete: delete.typed(&*store)?,
            call_response: call_response.typed(&*store)?,
            initialize: initialize.typed(&*store)?,
            vm_start: vm_start.typed(&*store)?,
            configure: configure.typed(&*store)?,
        })
    }

    /// The module's start: its root context, configured.
    pub fn start(&mut self, store: &mut Store<State>) -> Result<()> {
        self.initialize.call(&mut *store, ())?;
        self.create.call(&mut *store, (ROOT, 0))?;
        self.vm_start.call(&mut *store, (ROOT, 0))?;
        let size = store.data().config.len() as u32;
        if self.configure.call(&mut *store, (ROOT, size))? == 0 {
            return Err(wasmtime::Error::msg("the filter refused its configuration"));
        }
        Ok(())
    }

    pub fn request_headers(&mut self, store: &mut Store<State>, id: u32) -> Result<()> {
        self.create.call(&mut *store, (id, ROOT))?;
        self.request_headers.call(&mut *store, (id, 5, 1))?;
        Ok(())
    }

    /// Answers the oldest call waiting; false if none is.
    pub fn answer_call(&mut self, store: &mut Store<State>) -> Result<bool> {
        if store.data().pending.is_empty() {
            return Ok(false);
        }
        let (token, body) = store.data_mut().pending.remove(0);
        // The tunnel's body ends with QUIT (+OK); no AUTH or SELECT without a password or db.
        let mut answer = b"*1\r\n:0\r\n".repeat(commands_in(&body).saturating_sub(1));
        answer.extend_from_slice(b"+OK\r\n");
        let size = answer.len() as u32;
        store.data_mut().answer = answer;
        self.call_response
            .call(&mut *store, (ROOT, token, 1, size, 0))?;
        Ok(true)
    }

    pub fn finish(&mut self, store: &mut Store<State>, id: u32) -> Result<()> {
        self.response_headers.call(&mut *store, (id, 4, 0))?;
        self.response_body.call(&mut *store, (id, 12, 1))?;
        self.done.call(&mut *store, id)?;
        self.log.call(&mut *store, id)?;
        self.delete.call(&mut *store, id)?;
        Ok(())
    }
}

/// How many RESP commands (top-level arrays of bulk strings) a request body holds.
fn commands_in(body: &[u8]) -> usize {
    let mut at = 0;
    let mut n = 0;
    let line = |at: usize| -> Option<(i64, usize)> {
        let end = body.get(at..)?.windows(2).position(|w| w == b"\r\n")? + at;
        let value = std::str::from_utf8(body.get(at + 1..end)?)
            .ok()?
            .parse()
            .ok()?;
        Some((value, end + 2))
    };
    while let Some((items, next)) = line(at) {
        at = next;
        for _ in 0..items {
            let Some((len, next)) = line(at) else {
                return n;
            };
            at = next + len.max(0) as usize + 2;
        }
        n += 1;
    }
    n
}

fn memory(caller: &mut Caller<'_, State>) -> Result<wasmtime::Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(wasmtime::Error::msg("the module exports no memory")),
    }
}

fn read(caller: &mut Caller<'_, State>, ptr: u32, len: u32) -> Result<Vec<u8>> {
    let mut out = vec![0; len as usize];
    memory(caller)?.read(&mut *caller, ptr as usize, &mut out)?;
    Ok(out)
}

fn write(caller: &mut Caller<'_, State>, ptr: u32, bytes: &[u8]) -> Result<()> {
    memory(caller)?.write(&mut *caller, ptr as usize, bytes)?;
    Ok(())
}

/// Hands `bytes` to the guest as the ABI does: in a block from its allocator, the block's
/// address and size written at `ptr_at` and `size_at`.
fn hand_over(
    caller: &mut Caller<'_, State>,
    bytes: &[u8],
    ptr_at: u32,
    size_at: u32,
) -> Result<u32> {
    let allocate = match caller.get_export("proxy_on_memory_allocate") {
        Some(Extern::Func(f)) => f.typed::<u32, u32>(&*caller)?,
        _ => return Err(wasmtime::Error::msg("the module exports no allocator")),
    };
    let block = allocate.call(&mut *caller, bytes.len() as u32)?;
    write(caller, block, bytes)?;
    write(caller, ptr_at, &block.to_le_bytes())?;
    write(caller, size_at, &(bytes.len() as u32).to_le_bytes())?;
    Ok(OK)
}

type C<'a> = Caller<'a, State>;

fn define(linker: &mut Linker<State>) -> Result<()> {
    let env = "env";
    linker.func_wrap(
        env,
        "proxy_log",
        |mut c: C, level: u32, p: u32, n: u32| -> Result<u32> {
            c.data_mut().count("log");
            // Warnings and errors are shown: a request that fails takes another path than the
            // one meant to be profiled.
            if level >= 3 {
                eprintln!("guest: {}", String::from_utf8_lossy(&read(&mut c, p, n)?));
            }
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        env,
        "proxy_get_current_time_nanoseconds",
        |mut c: C, at: u32| -> Result<u32> {
            c.data_mut().count("get_current_time_nanoseconds");
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            write(&mut c, at, &now.to_le_bytes())?;
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        env,
        "proxy_set_tick_period_milliseconds",
        |_: C, _ms: u32| OK,
    )?;
    linker.func_wrap(
        env,
        "proxy_get_buffer_bytes",
        |mut c: C, kind: u32, _start: u32, _max: u32, ptr_at: u32, size_at: u32| -> Result<u32> {
            c.data_mut().count("get_buffer_bytes");
            let bytes = match kind {
                PLUGIN_CONFIGURATION => c.data().config.clone(),
                CALL_RESPONSE_BODY => c.data().answer.clone(),
                _ => return Ok(NOT_FOUND),
            };
            hand_over(&mut c, &bytes, ptr_at, size_at)
        },
    )?;
    linker.func_wrap(
        env,
        "proxy_set_buffer_bytes",
        |_: C, _: u32, _: u32, _: u32, _: u32, _: u32| OK,
    )?;
    linker.func_wrap(
        env,
        "proxy_get_header_map_pairs",
        |mut c: C, kind: u32, ptr_at: u32, size_at: u32| -> Result<u32> {
            c.data_mut().count("get_header_map_pairs");
            let pairs: &[(&str, &str)] = if kind == CALL_RESPONSE_HEADERS {
                &[(":status", "200")]
            } else {
                &[(":status", "200"), ("content-type", "text/plain")]
            };
            hand_over(&mut c, &pairs::encode(pairs), ptr_at, size_at)
        },
    )?;
    linker.func_wrap(
        env,
        "proxy_get_header_map_value",
        |mut c: C, _: u32, _: u32, _: u32, _: u32, _: u32| {
            c.data_mut().count("get_header_map_value");
            NOT_FOUND
        },
    )?;
    for name in [
        "proxy_add_header_map_value",
        "proxy_replace_header_map_value",
    ] {
        let counted = if name.starts_with("proxy_add") {
            "add_header_map_value"
        } else {
            "replace_header_map_value"
        };
        linker.func_wrap(
            env,
            name,
            move |mut c: C, _: u32, _: u32, _: u32, _: u32, _: u32| {
                c.data_mut().count(counted);
                OK
            },
        )?;
    }
    linker.func_wrap(
        env,
        "proxy_remove_header_map_value",
        |mut c: C, _: u32, _: u32, _: u32| {
            c.data_mut().count("remove_header_map_value");
            OK
        },
    )?;
    linker.func_wrap(
        env,
        "proxy_get_property",
        |mut c: C, path: u32, len: u32, ptr_at: u32, size_at: u32| -> Result<u32> {
            c.data_mut().count("get_property");
            if read(&mut c, path, len)? == b"source\0address" {
                return hand_over(&mut c, b"127.0.0.1:40000", ptr_at, size_at);
            }
            Ok(NOT_FOUND)
        },
    )?;
    linker.func_wrap(
        env,
        "proxy_set_property",
        |mut c: C, _: u32, _: u32, _: u32, _: u32| {
            c.data_mut().count("set_property");
            OK
        },
    )?;
    linker.func_wrap(
        env,
        "proxy_get_shared_data",
        |mut c: C, key: u32, len: u32, ptr_at: u32, size_at: u32, cas_at: u32| -> Result<u32> {
            c.data_mut().count("get_shared_data");
            let key = read(&mut c, key, len)?;
            let Some((value, cas)) = c.data().shared.get(&key).cloned() else {
                return Ok(NOT_FOUND);
            };
            write(&mut c, cas_at, &cas.to_le_bytes())?;
            hand_over(&mut c, &value, ptr_at, size_at)
        },
    )?;
    linker.func_wrap(
        env,
        "proxy_set_shared_data",
        |mut c: C, key: u32, len: u32, value: u32, value_len: u32, cas: u32| -> Result<u32> {
            c.data_mut().count("set_shared_data");
            let key = read(&mut c, key, len)?;
            let value = read(&mut c, value, value_len)?;
            let shared = &mut c.data_mut().shared;
            let current = shared.get(&key).map_or(0, |(_, cas)| *cas);
            if cas != 0 && cas != current {
                return Ok(CAS_MISMATCH);
            }
            shared.insert(key, (value, current + 1));
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        env,
        "proxy_send_local_response",
        |mut c: C, _: u32, _: u32, _: u32, _: u32, _: u32, _: u32, _: u32, _: i32| {
            c.data_mut().count("send_local_response");
            OK
        },
    )?;
    linker.func_wrap(
        env,
        "proxy_http_call",
        |mut c: C,
         _up: u32,
         _up_len: u32,
         _h: u32,
         _h_len: u32,
         body: u32,
         body_len: u32,
         _t: u32,
         _t_len: u32,
         _timeout: u32,
         token_at: u32|
         -> Result<u32> {
            c.data_mut().count("http_call");
            let body = read(&mut c, body, body_len)?;
            let token = c.data().next_token;
            c.data_mut().next_token += 1;
            c.data_mut().pending.push((token, body));
            write(&mut c, token_at, &token.to_le_bytes())?;
            Ok(OK)
        },
    )?;
    linker.func_wrap(env, "proxy_continue_stream", |mut c: C, _: u32| {
        c.data_mut().count("continue_stream");
        OK
    })?;
    // Envoy's answer: a context that exists may be made effective, an unknown one may not.
    linker.func_wrap(env, "proxy_set_effective_context", |mut c: C, id: u32| {
        c.data_mut().count("set_effective_context");
        if id <= c.data().next_context {
            OK
        } else {
            BAD_ARGUMENT
        }
    })?;
    linker.func_wrap(
        env,
        "proxy_define_metric",
        |mut c: C, _: u32, _: u32, _: u32, id_at: u32| -> Result<u32> {
            write(&mut c, id_at, &1u32.to_le_bytes())?;
            Ok(OK)
        },
    )?;
    linker.func_wrap(env, "proxy_increment_metric", |mut c: C, _: u32, _: i64| {
        c.data_mut().count("increment_metric");
        OK
    })?;
    linker.func_wrap(env, "proxy_record_metric", |_: C, _: u32, _: i64| OK)?;
    linker.func_wrap(env, "proxy_get_metric", |_: C, _: u32, _: u32| OK)?;
    let wasi = "wasi_snapshot_preview1";
    linker.func_wrap(wasi, "random_get", |_: C, _: u32, _: u32| 0u32)?;
    linker.func_wrap(
        wasi,
        "environ_sizes_get",
        |mut c: C, count_at: u32, size_at: u32| -> Result<u32> {
            write(&mut c, count_at, &0u32.to_le_bytes())?;
            write(&mut c, size_at, &0u32.to_le_bytes())?;
            Ok(0)
        },
    )?;
    linker.func_wrap(wasi, "environ_get", |_: C, _: u32, _: u32| 0u32)?;
    linker.func_wrap(
        wasi,
        "fd_write",
        |mut c: C, _fd: u32, _iovs: u32, _n: u32, written_at: u32| -> Result<u32> {
            write(&mut c, written_at, &0u32.to_le_bytes())?;
            Ok(0)
        },
    )?;
    linker.func_wrap(wasi, "proc_exit", |_: C, code: u32| -> Result<()> {
        Err(wasmtime::Error::msg(format!("the guest exited ({code})")))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_commands_of_a_pipeline() {
        let body = b"*2\r\n$4\r\nAUTH\r\n$1\r\np\r\n*1\r\n$4\r\nPING\r\n";
        assert_eq!(commands_in(body), 2);
        assert_eq!(commands_in(b""), 0);
    }
}
