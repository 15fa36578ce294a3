#!/usr/bin/env bash
# Against what an Envoy user would pick instead of our filter for a limit shared by gateways:
# Envoy's native ratelimit filter asking a rate limit service (bench/peer-rls: Envoy's RLS API
# over the limitador library, which counts in Redis). One run, one machine, one Envoy worker,
# wrk -c64, median of ROUNDS rounds, routes interleaved: passthrough; native ratelimit -> RLS ->
# Redis; redis-rate-limiting realtime; redis-rate-limiting sync_rate 0.1; the same two as the
# Envoy dynamic module, and its realtime with its calls through Envoy's tunnel. Each with the same
# limit, per client IP, never reached. For each: req/s, p50 and p99, Envoy's CPU per request,
# the RLS' and Redis' CPU per request, Redis commands per request. Then exactness: two Envoys sharing one
# Redis (and one RLS), loaded at once, limits LIMITS (300, 20000) an hour: requests let in against them.
# The RLS is built on the first run (CARGO_TARGET_DIR target/peer-rls; a few minutes).
source "$(dirname "$0")/lib.sh"
# add_rls ENVOY_JSON RLS_PORT: Envoy's native ratelimit filter before the router, asking the RLS
# on RLS_PORT over gRPC (HTTP/2) about the routes under /rls, which send the client's address as
# the descriptor.
add_rls() {
python3 - "$1" "$2" <<'PY'
import json, sys
path, port = sys.argv[1], int(sys.argv[2])
cfg = json.load(open(path))
cfg["static_resources"]["clusters"].append({
    "name": "rls", "connect_timeout": "1s", "type": "STATIC",
    "load_assignment": {"cluster_name": "rls", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
        "socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
    "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http2_protocol_options": {}}}}})
hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
hcm["http_filters"].insert(len(hcm["http_filters"]) - 1, {"name": "envoy.filters.http.ratelimit", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit",
    "domain": "peer", "timeout": "1s", "failure_mode_deny": False,
    "rate_limit_service": {"grpc_service": {"envoy_grpc": {"cluster_name": "rls"}}, "transport_api_version": "V3"}}})
for vh in hcm["route_config"]["virtual_hosts"]:
    for r in vh["routes"]:
        if r["match"].get("prefix", "").startswith("/rls"):
            r["route"]["rate_limits"] = [{"actions": [{"remote_address": {}}]}]
json.dump(cfg, open(path, "w"))
PY
}
envoy_bench_setup
echo "building bench/peer-rls (limitador, tonic, envoy-types; the first build takes minutes)" >&2
(cd "$root" && source scripts/toolchain.sh && bash bench/peer-rls/build.sh "$root/target/peer-rls")
rls_port=$(free_port)
start rls "$root/target/peer-rls/target/release/peer-rls" --listen "127.0.0.1:$rls_port" \
  --redis "redis://127.0.0.1:$redis_port/" --limit 1000000000 --seconds 60
wait_port "$rls_port"
rls_pid=${PIDS[-1]}
envoy_port=$(free_port); admin_port=$(free_port)
rl='{"minute": 1000000000, "limit_by": "ip", "policy": "redis", "redis_port": '$redis_port
{
  echo_service
  cat <<YAML
  - {name: rls, paths: [/rls]}
  - name: realtime
    paths: [/realtime]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '$rl}'}]}]
  - name: sync
    paths: [/sync]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '$rl, "sync_rate": 0.1}'}]}]
  - name: dm-realtime
    paths: [/dm-realtime]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '$rl}'}]}]
  - name: dm-sync
    paths: [/dm-sync]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '$rl, "sync_rate": 0.1}'}]}]
  - name: dm-tunnel-realtime
    paths: [/dm-tunnel-realtime]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '$rl, "redis": {"tunnel": "callout_tunnel"}}'}]}]
YAML
} >"$WORK/kong.yml"
"$CLI" render-envoy --config "$WORK/kong.yml" --filters-path "$filters" --listen "127.0.0.1:$envoy_port" \
  --admin "127.0.0.1:$admin_port" >"$WORK/envoy.json"
add_rls "$WORK/envoy.json" "$rls_port"
to_dynamic_module "$WORK/envoy.json"
"$ENVOY" --mode validate -c "$WORK/envoy.json" >"$WORK/validate.log" 2>&1 || { cat "$WORK/validate.log" >&2; exit 1; }
# dm-tunnel-realtime's calls go through Envoy's tunnel (the module's callout path), the other dm-
# routes' over the module's own connections.
start envoy env REDIS_FILTERS_REDIS_PATH=tunnel:callout_tunnel "$ENVOY" -c "$WORK/envoy.json" \
  --concurrency 1 --disable-hot-restart -l error
wait_port "$envoy_port"
envoy_pid=${PIDS[-1]}
routes="plain rls realtime sync dm-realtime dm-sync dm-tunnel-realtime"
for p in $routes; do curl -s -o /dev/null "http://127.0.0.1:$envoy_port/$p"; done
conns=${CONNECTIONS:-64}; secs=${SECONDS_PER_RUN:-4}; rounds=${ROUNDS:-3}
redis_commands() { redis-cli -p "$redis_port" info stats | tr -d '\r' | awk -F: '$1 == "total_commands_processed" {print $2}'; }
# One route for SECONDS under wrk: "RPS P50 P99 ENVOY_US RLS_US REDIS_US REDIS_PER_REQUEST":
# the CPU each process spent per request, and the commands Redis ran per request (a script's own
# commands count, as Redis counts them).
measure() {
  local url=$1 e0 r0 d0 c0 out n e1 r1 d1 c1 hz
  e0=$(proc_cpu_ticks "$envoy_pid"); r0=$(proc_cpu_ticks "$rls_pid"); d0=$(proc_cpu_ticks "$redis_pid")
  c0=$(redis_commands)
  out=$(wrk -t1 -c"$conns" -d"$secs"s --latency "$url")
  e1=$(proc_cpu_ticks "$envoy_pid"); r1=$(proc_cpu_ticks "$rls_pid"); d1=$(proc_cpu_ticks "$redis_pid")
  c1=$(redis_commands)
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  hz=$(getconf CLK_TCK)
  per() { awk -v t="$1" -v n="$n" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }'; }
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")" \
    "$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")" \
    "$(per $((e1 - e0))) $(per $((r1 - r0))) $(per $((d1 - d0)))" \
    "$(awk -v c=$((c1 - c0)) -v n="$n" 'BEGIN { printf "%.3f", c / n }')"
}
for i in $(seq 1 "$rounds"); do
  for route in $routes; do echo "$route $(measure "http://127.0.0.1:$envoy_port/$route")"; done
done >"$WORK/runs"
printf '\n%-46s %7s %7s %7s %9s %7s %9s %9s %8s\n' "Envoy, 1 worker, -c$conns (median of $rounds x ${secs}s)" \
  "req/s" "p50 ms" "p99 ms" "Envoy us" "RLS us" "Redis us" "Redis/req" "vs pass"
declare -A label=(
  [plain]="passthrough"
  [rls]="native ratelimit -> RLS (limitador) -> Redis"
  [realtime]="redis-rate-limiting realtime"
  [sync]="redis-rate-limiting sync_rate 0.1"
  [dm-realtime]="realtime, Envoy dynamic module"
  [dm-sync]="sync_rate 0.1, Envoy dynamic module"
  [dm-tunnel-realtime]="realtime, module through Envoy's tunnel"
)
base=""
declare -A rps
for route in $routes; do
  read -r r p50 p99 eus rus dus cmds < <(awk -v r="$route" '$1 == r { print $2, $3, $4, $5, $6, $7, $8 }' "$WORK/runs" |
    sort -k1 -n | awk '{a[NR]=$0} END {print a[int((NR + 1) / 2)]}')
  [ -z "$base" ] && base=$r
  rps[$route]=$r
  printf '%-46s %7.0f %7s %7s %9s %7s %9s %9s %8s\n' "${label[$route]}" "$r" "$p50" "$p99" "$eus" "$rus" "$dus" "$cmds" "$(ratio "$r" "$base")"
done
echo "realtime req/s against native ratelimit -> RLS: Wasm $(ratio "${rps[realtime]}" "${rps[rls]}")x," \
  "dynamic module $(ratio "${rps[dm-realtime]}" "${rps[rls]}")x," \
  "module through Envoy's tunnel $(ratio "${rps[dm-tunnel-realtime]}" "${rps[rls]}")x"

# Exactness: two Envoys, one Redis (and one RLS), both loaded at once from the same client, with a
# limit an hour; what got through against it. Each limit in LIMITS (300: reached in tens of
# milliseconds, inside one sync_rate period; 20000: reached after a second or two). Redis is
# emptied before each setup.
exact=${EXACT_SECONDS:-3}
for limit in ${LIMITS:-300 20000}; do
  exact_rls_port=$(free_port)
  start "rls-exact-$limit" "$root/target/peer-rls/target/release/peer-rls" --listen "127.0.0.1:$exact_rls_port" \
    --redis "redis://127.0.0.1:$redis_port/" --limit "$limit" --seconds 3600
  wait_port "$exact_rls_port"
  exact_rls_pid=${PIDS[-1]}
  # Not across an hour's end (the filter's windows are the clock's hours).
  while [ "$(date +%M%S)" -ge 5955 ]; do sleep 1; done
  printf '\n%-46s %8s %8s %8s   (two Envoys, wrk -c16 on each for %ss, limit %s an hour)\n' \
    "exactness" "sent" "let in" "vs limit" "$exact" "$limit"
  ex_rl='{"hour": '$limit', "limit_by": "ip", "policy": "redis", "redis_port": '$redis_port
  for setup in rls realtime sync; do
    redis-cli -p "$redis_port" flushall >/dev/null
    case $setup in
      rls) route="  - {name: rls-exact, paths: [/rls-exact]}" ;;
      realtime) route="  - {name: exact, paths: [/exact], filter_chains: [{filters: [{name: redis-rate-limiting, config: '$ex_rl}'}]}]}" ;;
      sync) route="  - {name: exact, paths: [/exact], filter_chains: [{filters: [{name: redis-rate-limiting, config: '$ex_rl, \"sync_rate\": 0.1}'}]}]}" ;;
    esac
    path=/exact; [ "$setup" = rls ] && path=/rls-exact
    { echo_service; echo "$route"; } >"$WORK/exact.yml"
    ports=(); pids=()
    for gw in 1 2; do
      port=$(free_port)
      "$CLI" render-envoy --config "$WORK/exact.yml" --filters-path "$filters" --listen "127.0.0.1:$port" \
        --admin "127.0.0.1:$(free_port)" >"$WORK/exact-$gw.json"
      add_rls "$WORK/exact-$gw.json" "$exact_rls_port"
      start "exact-envoy-$gw" "$ENVOY" -c "$WORK/exact-$gw.json" --concurrency 1 --disable-hot-restart -l error
      ports+=("$port"); pids+=("${PIDS[-1]}")
    done
    for port in "${ports[@]}"; do wait_port "$port"; done
    loads=()
    for port in "${ports[@]}"; do
      wrk -t1 -c16 -d"$exact"s "http://127.0.0.1:$port$path" >"$WORK/exact-$port.out" &
      loads+=($!)
    done
    wait "${loads[@]}"
    sent=0; denied=0
    for port in "${ports[@]}"; do
      sent=$((sent + $(awk '/requests in/ {print $1}' "$WORK/exact-$port.out")))
      denied=$((denied + $(awk '/Non-2xx or 3xx responses/ {n = $NF} END {print n + 0}' "$WORK/exact-$port.out")))
    done
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    printf '%-46s %8s %8s %8s\n' "${label[$setup]}" "$sent" "$((sent - denied))" "$(ratio "$((sent - denied))" "$limit")"
  done
  kill "$exact_rls_pid" 2>/dev/null || true; wait "$exact_rls_pid" 2>/dev/null || true
done
