# Shared by the benchmark scripts: start servers under setsid, keep their pids, stop them by pid,
# and run wrk for a bounded time.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PIDS=()
WORK=$(mktemp -d)

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -d "$WORK/baseline" ]; then git -C "$root" worktree remove --force "$WORK/baseline" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start NAME CMD...: runs CMD in its own session, logs to $WORK/NAME.log.
start() {
  local name=$1; shift
  setsid "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}

wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "port $1 never opened" >&2; return 1
}

# rps URL [CONNECTIONS] [SECONDS]: requests per second and p50 latency (ms) as "RPS P50".
rps() {
  local out
  out=$(wrk -t1 -c"${2:-16}" -d"${3:-5}"s --latency "$1")
  local r p
  r=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p=$(echo "$out" | awk '$1=="50%" {print $2}')
  echo "$r $(to_ms "$p")"
}

to_ms() {
  case "$1" in
    *us) echo "$1" | sed 's/us//' | awk '{printf "%.3f", $1/1000}' ;;
    *ms) echo "$1" | sed 's/ms//' ;;
    *s) echo "$1" | sed 's/s//' | awk '{printf "%.1f", $1*1000}' ;;
    *) echo "$1" ;;
  esac
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# build_native: the harness ($HARNESS: serve, echo) and the operator's CLI ($CLI: render-envoy,
# render-nginx, credentials), optimised.
build_native() {
  (cd "$root" && source scripts/toolchain.sh && cargo build -q --profile native -p wasm-test-harness -p redis-filters)
  HARNESS="$root/target/native/wasm-test-harness"
  CLI="$root/target/native/redis-filters"
}

# start_upstreams: redis-server and the harness' echo upstream on free ports
# ($redis_port, $echo_port; redis-server's pid in $redis_pid), waited for.
start_upstreams() {
  echo_port=$(free_port); redis_port=$(free_port)
  start redis redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no
  redis_pid=${PIDS[-1]}
  start echo "$HARNESS" echo --listen "127.0.0.1:$echo_port"
  wait_port "$echo_port"; wait_port "$redis_port"
}

# echo_service: the head of every benchmark's kong.yml, the echo service with a /plain route
# that has no filter; the caller appends its own routes.
echo_service() {
  cat <<YAML
_format_version: "3.0"
services:
- name: echo
  url: http://127.0.0.1:$echo_port
  routes:
  - {name: plain, paths: [/plain]}
YAML
}

# rate_limit_routes: the kong.yml routes of the rate-limiting benchmarks (/plain without a filter,
# /local, /realtime, /sync with redis-rate-limiting), limits that never reject.
rate_limit_routes() {
  local rl='{"year": 1000000000, "limit_by": "ip", '
  echo_service
  cat <<YAML
  - name: local
    paths: [/local]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '$rl"policy": "local"}'}]}]
  - name: realtime
    paths: [/realtime]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '$rl"policy": "redis", "redis_port": $redis_port}'}]}]
  - name: sync
    paths: [/sync]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '$rl"policy": "redis", "sync_rate": 0.1, "redis_port": $redis_port}'}]}]
YAML
}

# baseline_rate_limit_routes: the same three routes served by the baseline's filter
# (/base-local, /base-realtime, /base-sync; after baseline_build).
baseline_rate_limit_routes() {
  local rl='{"year": 1000000000, "limit_by": "ip", '
  local mode policy
  for mode in local realtime sync; do
    case $mode in
      local) policy='"policy": "local"' ;;
      realtime) policy="\"policy\": \"redis\", \"redis_port\": $redis_port" ;;
      sync) policy="\"policy\": \"redis\", \"sync_rate\": 0.1, \"redis_port\": $redis_port" ;;
    esac
    cat <<YAML
  - name: base-$mode
    paths: [/base-$mode]
    filter_chains: [{filters: [{name: base-redis-rate-limiting, config: '$rl$policy}'}]}]
YAML
  done
}

# median_rps URL CONNECTIONS SECONDS ROUNDS: the median "RPS P50" of ROUNDS runs.
median_rps() {
  local i
  for i in $(seq 1 "$4"); do rps "$1" "$2" "$3"; done | sort -n | awk '{a[NR]=$0} END {print a[int((NR + 1) / 2)]}'
}

# add_native_local_ratelimit ENVOY_JSON: Envoy's own local_ratelimit on the /native route, with a
# bucket that never runs dry (the baseline a Wasm rate limiter is compared with).
add_native_local_ratelimit() {
python3 - "$1" <<'PY'
import json, sys
path = sys.argv[1]
cfg = json.load(open(path))
hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
t = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
hcm["http_filters"].insert(len(hcm["http_filters"]) - 1, {"name": "envoy.filters.http.local_ratelimit", "typed_config": {"@type": t, "stat_prefix": "native"}})
pct = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}, "runtime_key": "native_rl"}
for vh in hcm["route_config"]["virtual_hosts"]:
    for r in vh["routes"]:
        if r["match"]["prefix"] == "/native":
            r["typed_per_filter_config"]["envoy.filters.http.local_ratelimit"] = {"@type": t, "stat_prefix": "native",
                "token_bucket": {"max_tokens": 1000000000, "tokens_per_fill": 1000000000, "fill_interval": "1s"},
                "filter_enabled": pct, "filter_enforced": pct}
json.dump(cfg, open(path, "w"))
PY
}

# to_dynamic_module ENVOY_JSON: the filters enabled on routes whose prefix starts with /dm- become
# the Envoy dynamic module's (libredis_filters.so, issue 33): the same filter by its Kong name and
# the same config, so one Envoy serves each filter both ways and a run compares them side by side.
# Other filters on those routes (a test filter) stay Wasm.
to_dynamic_module() {
python3 - "$1" <<'PY'
import json, sys
path = sys.argv[1]
cfg = json.load(open(path))
hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
names = set()
for vh in hcm["route_config"]["virtual_hosts"]:
    for r in vh["routes"]:
        if r["match"].get("prefix", "").startswith("/dm-"):
            names.update(r.get("typed_per_filter_config", {}).keys())
for f in hcm["http_filters"]:
    wasm = f.get("typed_config", {}).get("config", {})
    if f["name"] in names and wasm.get("vm_config", {}).get("vm_id", "").startswith("redis-"):
        f["typed_config"] = {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
            "dynamic_module_config": {"name": "redis_filters", "do_not_close": True, "metrics_namespace": "wasmcustom"},
            "filter_name": wasm["vm_config"]["vm_id"],
            "filter_config": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                              "value": wasm.get("configuration", {}).get("value", "{}")}}
json.dump(cfg, open(path, "w"))
PY
}

# proc_cpu_ticks PID: user+system CPU time of a process so far, in clock ticks.
proc_cpu_ticks() {
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# cpu_per_request URL CONNECTIONS SECONDS PID: "RPS P50 US" where US is the CPU time the process
# PID spent per request during the run (user + system, all its threads). Unlike req/s, this
# hardly moves when other tenants of the machine take CPU.
cpu_per_request() {
  local before after out r p n
  before=$(proc_cpu_ticks "$4")
  out=$(wrk -t1 -c"$2" -d"$3"s --latency "$1")
  after=$(proc_cpu_ticks "$4")
  r=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p=$(echo "$out" | awk '$1=="50%" {print $2}')
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$r $(to_ms "$p") $(awk -v t=$((after - before)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
}

# baseline_build COMMIT: that commit's filters and test filters, built by its own
# scripts/build-wasm.sh in a git worktree (wasm target cached in target-wasm-baseline/), linked
# into $filters with a base- prefix (base-redis-rate-limiting, base-noop, ...). After
# envoy_bench_setup.
baseline_build() {
  local commit=$1 tree="$WORK/baseline"
  echo "baseline: building the filters of $(git -C "$root" log -1 --format='%h %s' "$commit" | cut -c1-80)" >&2
  git -C "$root" worktree add --detach "$tree" "$commit" >/dev/null
  WASM_TARGET_DIR="$root/target-wasm-baseline" bash "$tree/scripts/build-wasm.sh" "$WORK/baseline-dist" >/dev/null
  WASM_TARGET_DIR="$root/target-wasm-baseline" bash "$tree/scripts/build-wasm.sh" --test-filters "$WORK/baseline-test" >/dev/null
  local f
  for f in "$WORK"/baseline-dist/*.wasm "$WORK"/baseline-test/*.wasm; do
    ln -s "$f" "$filters/base-$(basename "$f")"
  done
}

# envoy_bench_setup: what every Envoy benchmark starts with: the harness (the echo upstream) and
# the CLI (render-envoy), the filters and test filters linked into $filters, the dynamic module
# (optimised, on ENVOY_DYNAMIC_MODULES_SEARCH_PATH), $ENVOY, redis-server and the echo upstream
# (start_upstreams).
envoy_bench_setup() {
  build_native
  bash "$root/scripts/build-wasm.sh" >/dev/null
  bash "$root/scripts/build-wasm.sh" --test-filters >/dev/null
  # The dynamic module, optimised, for the /dm- routes (to_dynamic_module).
  bash "$root/scripts/build-native.sh" --release "$WORK/native" >/dev/null
  export ENVOY_DYNAMIC_MODULES_SEARCH_PATH="$WORK/native"
  ENVOY=${ENVOY_BIN:-$root/.venv/bin/envoy}
  filters="$WORK/filters"; mkdir -p "$filters"
  ln -s "$root"/dist/*.wasm "$root"/target-wasm/test-filters/*.wasm "$filters/"
  start_upstreams
}

# alice_token: a JWT of alice's (iss k-alice, HS256 with alice-secret, valid until 2100).
alice_token() {
  python3 - <<'PY'
import base64, hashlib, hmac, json
b = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=")
head = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b(json.dumps({"iss": "k-alice", "exp": 4102444800, "jti": "bench"}).encode())
sig = b(hmac.new(b"alice-secret", head + b"." + body, hashlib.sha256).digest())
print((head + b"." + body + b"." + sig).decode())
PY
}

# kong_engine NAME KONG_YML [STRIP [RENDER_FLAG...]]: renders KONG_YML for Kong's engine
# ($NGINX_WASM) and starts it with its bridge, 2 workers, once every worker has loaded every
# module (STRIP=1: without the redis-chain-end render-nginx appends); sets $port and $engine_pid.
kong_engine() {
  local name=$1 config=$2 strip=${3:-0} prefix="$WORK/$1"
  shift $(( $# < 3 ? $# : 3 ))
  port=$(free_port)
  "$CLI" render-nginx --config "$config" --filters-path "$root/dist" --prefix "$prefix" \
    --bridge-lua "$root/kong" --listen "127.0.0.1:$port" --workers 2 "$@" >/dev/null 2>&1
  [ "$strip" = 1 ] && sed -i '/proxy_wasm redis-chain-end;/d' "$prefix/nginx.conf"
  start "$name-bridge" nginx -p "$prefix/" -c "$prefix/bridge.conf" -e "$prefix/logs/bridge-start.log" -g 'daemon off;'
  start "$name" "$NGINX_WASM" -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/logs/start.log" -g 'daemon off;'
  engine_pid=${PIDS[-1]}
  wait_port "$port"
  # Every worker compiles every module before it serves (seconds on a busy machine).
  local want=$(( 2 * $(grep -c '^    module ' "$prefix/nginx.conf") ))
  for _ in $(seq 1 600); do
    [ "$(grep -c 'successfully loaded' "$prefix/logs/error.log" 2>/dev/null || true)" -ge "$want" ] && break
    sleep 0.1
  done
}

# session_cookie PORT PATH: alice's session cookie from a session chain at PATH ($token through
# it, then the session in Redis).
session_cookie() {
  local c
  c=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$1/$2" \
    | tr -d '\r' | awk -F'[:;] *' 'tolower($1)=="set-cookie" && $2 ~ /^kong_session=/ {print $2}')
  for _ in $(seq 1 50); do
    curl -s -H "Cookie: $c" "http://127.0.0.1:$1/$2" | grep -q '"c-alice"' && break
    sleep 0.1
  done
  echo "$c"
}
