#!/usr/bin/env bash
# Where a request's guest time goes, by function, in wasmtime: bench/guest-profile (a minimal
# host in one process, no HTTP) runs redis-rate-limiting's requests (policy local, and realtime
# with 16 requests waiting on each Redis call), first the shipped build (dist/, after wasm-opt)
# for its time per request, then under `perf record` with wasmtime's perf map on the same code
# before wasm-opt (target-wasm/..., which keeps the name section), so perf names the guest's
# functions. The guest's samples are grouped: allocation, hashing, formatting, RESP, the
# multiplexer, the registry of contexts, the host-call wrappers, memory copies, cluster slots,
# the filter's own logic. The tool's host functions and wasmtime's trampolines are the rest.
# Needs perf (linux-perf); BASELINE=<wasm> also times an older build of the same filter.
source "$(dirname "$0")/lib.sh"
(cd "$root" && source scripts/toolchain.sh && cargo build -q --profile native -p wasm-test-harness -p guest-profile)
bash "$root/scripts/build-wasm.sh" >/dev/null
tool="$root/target/native/guest-profile"
shipped="$root/dist/redis-rate-limiting.wasm"
named="$root/target-wasm/wasm32-wasip1/release/redis_rate_limiting.wasm"
requests=${REQUESTS:-300000}
declare -A configs=(
  [local]='{"second": 1000000000, "policy": "local"}'
  [realtime]='{"second": 1000000000, "policy": "redis", "redis_port": 6379}'
)
for mode in local realtime; do
  echo "== $mode"
  for build in ${BASELINE:+"$BASELINE"} "$shipped"; do
    for _ in 1 2 3; do "$tool" "$build" --config "${configs[$mode]}" --requests "$requests" | sed -n 1p; done |
      sort -t: -k2 -n | sed -n 2p | sed "s|^|  $(basename "$(dirname "$build")")/$(basename "$build"): median of 3: |"
  done
  "$tool" "$shipped" --config "${configs[$mode]}" --requests 1000 | sed -n 2p | sed 's/^/  host calls /'
  perf record -q -F 5000 -o "$WORK/$mode.data" "$tool" "$named" --config "${configs[$mode]}" \
    --requests "$requests" --perfmap >/dev/null 2>&1
  perf report -i "$WORK/$mode.data" --no-children --sort dso,sym --stdio 2>/dev/null | python3 -c '
import re, sys
groups = [
    ("allocation", r"dlmalloc|dlfree|__rust_(alloc|dealloc|realloc)|__rdl_|\] (malloc|free|realloc|calloc)$|finish_grow|alloc_shim|RawVec"),
    ("hashing", r"hash::|Hasher|hash_one|hashbrown"),
    ("formatting", r"fmt::|format|_fmt|decimal::|write_str|to_string|Formatter"),
    ("RESP encode/decode", r"resp::|redis_protocol|push_header"),
    ("multiplexer and jobs", r"transport::|job::|Pipeline"),
    ("registry of contexts", r"proxy::runtime|\] proxy_on_|deliver_finished|clients_of"),
    ("host-call wrappers", r"proxy::abi|pairs::|wasm_filter_host"),
    ("memory copies", r"memory_copy|memcpy|memmove|memset|memory_fill"),
    ("cluster slots", r"slot::"),
    ("the filter itself", r"redis_rate_limiting"),
]
total = guest = 0.0
by = {name: 0.0 for name, _ in groups}
by["other guest code"] = 0.0
for line in sys.stdin:
    m = re.match(r"\s+([0-9.]+)%\s+(\S.*?)\s+\[\.\]\s+(.*)$", line)
    if not m:
        continue
    pct, dso, sym = float(m.group(1)), m.group(2), m.group(3).strip()
    total += pct
    if not dso.startswith("[JIT]"):
        continue
    guest += pct
    for name, rx in groups:
        if re.search(rx, "] " + sym):
            by[name] += pct
            break
    else:
        by["other guest code"] += pct
print(f"  guest code {guest:.0f}% of the run (the rest: this tool, wasmtime, libc, kernel); of the guest:")
for name, pct in sorted(by.items(), key=lambda kv: -kv[1]):
    print(f"    {name:24} {100 * pct / max(guest, 1e-9):5.1f}%")
'
done
