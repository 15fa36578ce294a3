#!/usr/bin/env bash
# Envoy and the harness, same run, one worker each, wrk -c64: passthrough, Envoy's native
# local_ratelimit, redis-rate-limiting with policy local, redis realtime, redis sync_rate; then
# the round trip of one tunnelled Redis call (a request through redis-probe, one INCR, minus a
# passthrough request, at one connection) against a direct Redis round trip (redis-benchmark).
# BASELINE=<commit>: that commit's redis-rate-limiting as well, on /base-local, /base-realtime and
# /base-sync of the same Envoy and harness (see baseline_build), so before and after are one run.
source "$(dirname "$0")/lib.sh"
envoy_bench_setup
baseline_routes=""
if [ -n "${BASELINE:-}" ]; then
  baseline_build "$BASELINE"
  baseline_routes="base-local base-realtime base-sync"
fi
envoy_port=$(free_port); gw_port=$(free_port)
{
  rate_limit_routes
  if [ -n "$baseline_routes" ]; then baseline_rate_limit_routes; fi
  cat <<YAML
  - {name: native, paths: [/native]}
  - name: probe
    paths: [/probe]
    filter_chains: [{filters: [{name: redis-probe, config: '{"redis_port": $redis_port}'}]}]
YAML
} >"$WORK/kong.yml"
"$CLI" render-envoy --config "$WORK/kong.yml" --filters-path "$filters" --listen "127.0.0.1:$envoy_port" >"$WORK/envoy.json"
add_native_local_ratelimit "$WORK/envoy.json"
"$ENVOY" --mode validate -c "$WORK/envoy.json" >/dev/null 2>&1
start envoy "$ENVOY" -c "$WORK/envoy.json" --concurrency 1 --disable-hot-restart -l error
start gateway "$HARNESS" serve --config "$WORK/kong.yml" --filters-path "$filters" --listen "127.0.0.1:$gw_port" --workers 1
wait_port "$envoy_port"; wait_port "$gw_port"
for port in "$envoy_port" "$gw_port"; do for p in plain native local realtime sync probe $baseline_routes; do curl -s -o /dev/null "http://127.0.0.1:$port/$p"; done; done
conns=${CONNECTIONS:-64}; secs=${SECONDS_PER_RUN:-4}; rounds=${ROUNDS:-3}
table() {
  local name=$1 port=$2
  printf '\n%-38s %10s %8s %14s %12s\n' "$name (1 worker, -c$conns, median of $rounds x ${secs}s)" "req/s" "p50 ms" "vs no filter" "vs native"
  read -r base base_p50 < <(median_rps "http://127.0.0.1:$port/plain" "$conns" "$secs" "$rounds")
  printf '%-38s %10.0f %8s %14s %12s\n' "no filter" "$base" "$base_p50" "1.00" "-"
  native=""
  for route in native local realtime sync $baseline_routes; do
    if [ "$route" = native ] && [ "$name" != Envoy ]; then continue; fi
    read -r r p50 < <(median_rps "http://127.0.0.1:$port/$route" "$conns" "$secs" "$rounds")
    [ "$route" = native ] && native=$r
    vs_native="-"; [ -n "$native" ] && vs_native=$(ratio "$r" "$native")
    label="redis-rate-limiting $route"; [ "$route" = native ] && label="Envoy local_ratelimit (native)"
    case $route in base-*) label="$BASELINE ${route#base-}" ;; esac
    printf '%-38s %10.0f %8s %14s %12s\n' "$label" "$r" "$p50" "$(ratio "$r" "$base")" "$vs_native"
  done
}
table Envoy "$envoy_port"
table Harness "$gw_port"
echo
read -r _ direct_p50 < <(redis-benchmark -p "$redis_port" -c 1 -n 20000 -q -t ping 2>/dev/null | tr -d '\r' | awk '/PING_INLINE/ {for (i=1;i<=NF;i++) if ($i ~ /^p50=/) {sub("p50=","",$i); print "x", $i}}')
for host in "Envoy $envoy_port" "Harness $gw_port"; do
  set -- $host
  read -r _ plain_p50 < <(rps "http://127.0.0.1:$2/plain" 1 3)
  read -r _ probe_p50 < <(rps "http://127.0.0.1:$2/probe" 1 3)
  printf '%-8s one request with one tunnelled INCR: p50 %s ms vs %s ms without: the call adds %s ms\n' \
    "$1" "$probe_p50" "$plain_p50" "$(awk -v a="$probe_p50" -v b="$plain_p50" 'BEGIN {printf "%.3f", a - b}')"
done
echo "direct Redis round trip (redis-benchmark PING, 1 connection): p50 ${direct_p50} ms"
