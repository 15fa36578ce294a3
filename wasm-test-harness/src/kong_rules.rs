//! What Kong's engine (ngx_wasm_module) does that the proxy-wasm crate this harness runs on
//! does not, for `--profile kong` to do the same. Each rule names the run that showed it (the
//! stock engine in `../shared/hosts/nginx-wasm`, Kong's pinned commit a376e67).

/// The callbacks ngx_wasm_module looks up and calls without checking that the module exports
/// them: a module without one kills the nginx worker (SIGSEGV) on its first request. Seen with
/// a module lacking `proxy_on_request_body`, `proxy_on_response_body` and `proxy_on_log`.
pub const CALLED_UNCHECKED: &[&str] = &[
    "proxy_on_vm_start",
    "proxy_on_configure",
    "proxy_on_tick",
    "proxy_on_context_create",
    "proxy_on_request_headers",
    "proxy_on_request_body",
    "proxy_on_request_trailers",
    "proxy_on_response_headers",
    "proxy_on_response_body",
    "proxy_on_response_trailers",
    "proxy_on_http_call_response",
    "proxy_on_log",
    "proxy_on_done",
    "proxy_on_delete",
    "proxy_on_queue_ready",
    "proxy_on_memory_allocate",
];

/// The functions a Wasm module exports.
pub fn exports(module: &[u8]) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let wasmparser::Payload::ExportSection(reader) =
            payload.map_err(|e| format!("not a Wasm module: {e}"))?
        {
            for export in reader {
                names.push(export.map_err(|e| e.to_string())?.name.to_string());
            }
        }
    }
    Ok(names)
}

/// Whether a module is valid Wasm (what the rewrite must keep).
pub fn validate(module: &[u8]) -> Result<(), String> {
    wasmparser::Validator::new()
        .validate_all(module)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Refuses a module the engine would crash on: it names the callbacks it lacks.
pub fn check_exports(name: &str, module: &[u8]) -> Result<(), String> {
    let have = exports(module)?;
    let missing: Vec<&str> = CALLED_UNCHECKED
        .iter()
        .copied()
        .filter(|c| !have.iter().any(|h| h == c))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "filter {name} does not export {}: Kong's engine calls them unchecked and its worker \
         dies (signal 11) on the first request",
        missing.join(", ")
    ))
}

/// A root whose `on_configure` answered false: in Kong's engine the worker exits ("exited with
/// fatal code 2 and cannot be respawned") and requests to every location hang.
pub fn refused_config(name: &str, root: &str) -> String {
    format!(
        "filter {name} ({root}) refused its configuration: Kong's engine stops the worker for \
         good (fatal code 2) and every route hangs; a filter must stay up and answer 500 there"
    )
}

/// The module as Kong's engine runs it, for `--profile kong`. The proxy-wasm crate serves these
/// host functions itself, so the rules go into the guest's own code: its calls to an import are
/// sent to a function added to the module.
/// - `proxy_set_effective_context` does nothing and answers OK (ngx_wasm_module's is an empty
///   function): the context acting is the one whose callback runs, so `proxy_continue_stream`
///   and a local response act for the running request only. One exception, the crate's and not
///   the engine's: the crate runs `proxy_on_http_call_response` on the root (as Envoy does) where
///   the engine runs it on the request that dispatched the call, so there the switch to that
///   request (the proxy-wasm crate's own first step) is let through.
/// - `proxy_get_property` looks the path up literally: one that ends with a NUL byte (the
///   engine reads `source.address.`) is not found.
pub fn as_kong_engine(module: &[u8]) -> Result<Vec<u8>, String> {
    use wasm_encoder::reencode::Reencode;
    let scan = Scan::of(module)?;
    let mut rules = KongRules::default();
    let mut next = scan.imported_funcs + scan.defined_funcs;
    let in_response = scan.imported_globals + scan.defined_globals;
    if let (Some((index, ty)), Some((response, response_ty))) =
        (scan.set_effective_context, scan.call_response)
    {
        rules.remap.insert(index, next);
        rules
            .added
            .push((ty, effective_only_in_response(index, in_response)));
        next += 1;
        rules
            .added
            .push((response_ty, flag_around(response, in_response)));
        rules.export_wrapper = Some(("proxy_on_http_call_response", next));
        next += 1;
        rules.add_flag = scan.defined_globals > 0;
        if !rules.add_flag {
            return Err("the module has no globals to add one beside".into());
        }
    }
    if let Some((index, ty)) = scan.get_property {
        rules.remap.insert(index, next);
        rules.added.push((ty, literal_property(index)));
    }
    if rules.added.is_empty() {
        return Ok(module.to_vec());
    }
    let mut out = wasm_encoder::Module::new();
    rules
        .parse_core_module(&mut out, wasmparser::Parser::new(0), module)
        .map_err(|e| format!("cannot rewrite the module: {e}"))?;
    Ok(out.finish())
}

/// What the rewrite needs to know of a module: its function and global index spaces, the two
/// imports and the call-response export.
#[derive(Default)]
struct Scan {
    imported_funcs: u32,
    defined_funcs: u32,
    imported_globals: u32,
    defined_globals: u32,
    /// (function index, type index)
    set_effective_context: Option<(u32, u32)>,
    get_property: Option<(u32, u32)>,
    call_response: Option<(u32, u32)>,
}

impl Scan {
    fn of(module: &[u8]) -> Result<Self, String> {
        let mut scan = Scan::default();
        let mut types = Vec::new();
        let mut response_index = None;
        for payload in wasmparser::Parser::new(0).parse_all(module) {
            match payload.map_err(|e| format!("not a Wasm module: {e}"))? {
                wasmparser::Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import.map_err(|e| e.to_string())?;
                        match import.ty {
                            wasmparser::TypeRef::Func(ty) => {
                                let at = Some((scan.imported_funcs, ty));
                                match (import.module, import.name) {
                                    ("env", "proxy_set_effective_context") => {
                                        scan.set_effective_context = at
                                    }
                                    ("env", "proxy_get_property") => scan.get_property = at,
                                    _ => {}
                                }
                                scan.imported_funcs += 1;
                            }
                            wasmparser::TypeRef::Global(_) => scan.imported_globals += 1,
                            _ => {}
                        }
                    }
                }
                wasmparser::Payload::FunctionSection(reader) => {
                    scan.defined_funcs = reader.count();
                    for ty in reader {
                        types.push(ty.map_err(|e| e.to_string())?);
                    }
                }
                wasmparser::Payload::GlobalSection(reader) => scan.defined_globals = reader.count(),
                wasmparser::Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export.map_err(|e| e.to_string())?;
                        if export.name == "proxy_on_http_call_response"
                            && export.kind == wasmparser::ExternalKind::Func
                        {
                            response_index = Some(export.index);
                        }
                    }
                }
                _ => {}
            }
        }
        scan.call_response = response_index.and_then(|index| {
            let ty = types.get(index.checked_sub(scan.imported_funcs)? as usize)?;
            Some((index, *ty))
        });
        Ok(scan)
    }
}

/// `proxy_set_effective_context`: the host's own while the call-response flag is up, else OK
/// and nothing.
fn effective_only_in_response(host_function: u32, flag: u32) -> wasm_encoder::Function {
    let mut f = wasm_encoder::Function::new([]);
    f.instructions()
        .global_get(flag)
        .if_(wasm_encoder::BlockType::Empty)
        .local_get(0)
        .call(host_function)
        .return_()
        .end()
        .i32_const(0)
        .end();
    f
}

/// The exported `proxy_on_http_call_response` with the flag raised around it.
fn flag_around(callback: u32, flag: u32) -> wasm_encoder::Function {
    let mut f = wasm_encoder::Function::new([]);
    let mut sink = f.instructions();
    sink.i32_const(1).global_set(flag);
    for arg in 0..5 {
        sink.local_get(arg);
    }
    sink.call(callback).i32_const(0).global_set(flag).end();
    f
}

/// `proxy_get_property`'s signature: NOT_FOUND (1) when the path's last byte is NUL, else the
/// host's answer.
fn literal_property(host_function: u32) -> wasm_encoder::Function {
    let byte = wasm_encoder::MemArg {
        offset: 0,
        align: 0,
        memory_index: 0,
    };
    let mut f = wasm_encoder::Function::new([]);
    f.instructions()
        .local_get(1)
        .if_(wasm_encoder::BlockType::Empty)
        .local_get(0)
        .local_get(1)
        .i32_add()
        .i32_const(1)
        .i32_sub()
        .i32_load8_u(byte)
        .i32_eqz()
        .if_(wasm_encoder::BlockType::Empty)
        .i32_const(1)
        .return_()
        .end()
        .end()
        .local_get(0)
        .local_get(1)
        .local_get(2)
        .local_get(3)
        .call(host_function)
        .end();
    f
}

#[derive(Default)]
struct KongRules {
    /// Calls to these functions go to the added ones instead.
    remap: std::collections::HashMap<u32, u32>,
    /// Functions appended to the module: (type index, body).
    added: Vec<(u32, wasm_encoder::Function)>,
    /// An export that now names an added function.
    export_wrapper: Option<(&'static str, u32)>,
    /// Append the call-response flag (a mutable i32 global).
    add_flag: bool,
}

type ReencodeResult = Result<(), wasm_encoder::reencode::Error<std::convert::Infallible>>;

impl wasm_encoder::reencode::Reencode for KongRules {
    type Error = std::convert::Infallible;

    fn function_index(
        &mut self,
        func: u32,
    ) -> Result<u32, wasm_encoder::reencode::Error<Self::Error>> {
        Ok(self.remap.get(&func).copied().unwrap_or(func))
    }

    fn parse_function_section(
        &mut self,
        functions: &mut wasm_encoder::FunctionSection,
        section: wasmparser::FunctionSectionReader<'_>,
    ) -> ReencodeResult {
        wasm_encoder::reencode::utils::parse_function_section(self, functions, section)?;
        for (ty, _) in &self.added {
            functions.function(*ty);
        }
        Ok(())
    }

    fn parse_code_section(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        section: wasmparser::CodeSectionReader<'_>,
    ) -> ReencodeResult {
        wasm_encoder::reencode::utils::parse_code_section(self, code, section)?;
        for (_, body) in &self.added {
            code.function(body);
        }
        Ok(())
    }

    fn parse_global_section(
        &mut self,
        globals: &mut wasm_encoder::GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> ReencodeResult {
        wasm_encoder::reencode::utils::parse_global_section(self, globals, section)?;
        if self.add_flag {
            let ty = wasm_encoder::GlobalType {
                val_type: wasm_encoder::ValType::I32,
                mutable: true,
                shared: false,
            };
            globals.global(ty, &wasm_encoder::ConstExpr::i32_const(0));
        }
        Ok(())
    }

    fn parse_export(
        &mut self,
        exports: &mut wasm_encoder::ExportSection,
        export: wasmparser::Export<'_>,
    ) -> ReencodeResult {
        match self.export_wrapper {
            Some((name, index)) if export.name == name => {
                exports.export(name, wasm_encoder::ExportKind::Func, index);
                Ok(())
            }
            _ => wasm_encoder::reencode::utils::parse_export(self, exports, export),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_without_the_body_callbacks_is_refused() {
        // (module (func (export "proxy_on_request_headers")))
        let wat = [
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
            0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
            0x03, 0x02, 0x01, 0x00, // func 0: type 0
            0x07, 0x1c, 0x01, 0x18, // export section, 1 export, name of 24 bytes
        ];
        let mut module = wat.to_vec();
        module.extend_from_slice(b"proxy_on_request_headers");
        module.extend_from_slice(&[0x00, 0x00]); // func 0
        module.extend_from_slice(&[0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b]); // code: empty body
        assert_eq!(exports(&module).unwrap(), vec!["proxy_on_request_headers"]);
        let err = check_exports("f", &module).unwrap_err();
        assert!(err.contains("proxy_on_request_body"), "{err}");
        assert!(!err.contains("proxy_on_request_headers,"), "{err}");
    }
}
