#!/usr/bin/env bash
# What a Wasm filter costs Envoy per request, in one run: Envoy with no filter, Envoy's native
# local_ratelimit, the `noop` test filter (the floor of a filter on our guest layer), the same
# with 10 host calls of one kind per request (header read, header set, property, shared data
# read + CAS write, metric, clock: the cost of one call), and redis-rate-limiting with policy local
# and with sync_rate. One worker, wrk -c64; the figure is Envoy's CPU time per request (req/s on
# this shared machine moves by +-20% between runs; CPU per request by a few percent).
# The dm- routes run the same filters as the Envoy dynamic module (issue 33): dm-noop is
# redis-chain-end (a filter that continues in every phase: the module's floor), dm-local,
# dm-realtime and dm-sync the rate-limiting modes; the summary gives each one's added CPU as a
# fraction of passthrough's, next to the Wasm filter's. The dm-tunnel- routes send their Redis
# calls through Envoy's tunnel (REDIS_FILTERS_REDIS_PATH=tunnel:callout_tunnel), the other dm-
# routes over the module's own connections, so the module's two Redis paths are compared too.
# BASELINE=<commit>: also builds that commit's filters and test filters (a git worktree, its own
# scripts/build-wasm.sh, wasm target cached in target-wasm-baseline/) and serves them in the same
# Envoy as base-noop, base-local, base-realtime and base-sync, so before and after are measured in
# one run; the summary gives each mode's added CPU as a fraction of passthrough's, both builds.
source "$(dirname "$0")/lib.sh"
envoy_bench_setup
envoy_port=$(free_port)
baseline_routes=""
if [ -n "${BASELINE:-}" ]; then
  baseline_build "$BASELINE"
  baseline_routes="base-noop base-local base-realtime base-sync"
fi
{
  echo_service
  cat <<YAML
  - {name: native, paths: [/native]}
  - {name: noop, paths: [/noop], filter_chains: [{filters: [{name: noop, config: '{}'}]}]}
  - {name: reads, paths: [/reads], filter_chains: [{filters: [{name: noop, config: '{"reads": 10}'}]}]}
  - {name: sets, paths: [/sets], filter_chains: [{filters: [{name: noop, config: '{"sets": 10}'}]}]}
  - {name: adds, paths: [/adds], filter_chains: [{filters: [{name: noop, config: '{"adds": 10}'}]}]}
  - {name: props, paths: [/props], filter_chains: [{filters: [{name: noop, config: '{"props": 10}'}]}]}
  - {name: shared, paths: [/shared], filter_chains: [{filters: [{name: noop, config: '{"shared": 10}'}]}]}
  - {name: metrics, paths: [/metrics], filter_chains: [{filters: [{name: noop, config: '{"metrics": 10}'}]}]}
  - {name: clock, paths: [/clock], filter_chains: [{filters: [{name: noop, config: '{"clock": 10}'}]}]}
  - name: local
    paths: [/local]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '{"second": 1000000000, "policy": "local"}'}]}]
  - name: realtime
    paths: [/realtime]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '{"second": 1000000000, "policy": "redis", "redis_port": $redis_port}'}]}]
  - name: sync
    paths: [/sync]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '{"second": 1000000000, "policy": "redis", "sync_rate": 0.1, "redis_port": $redis_port}'}]}]
  - name: dm-tunnel-realtime
    paths: [/dm-tunnel-realtime]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '{"second": 1000000000, "policy": "redis", "redis": {"port": $redis_port, "tunnel": "callout_tunnel"}}'}]}]
  - name: dm-tunnel-sync
    paths: [/dm-tunnel-sync]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '{"second": 1000000000, "policy": "redis", "sync_rate": 0.1, "redis": {"port": $redis_port, "tunnel": "callout_tunnel"}}'}]}]
  - {name: dm-noop, paths: [/dm-noop], filter_chains: [{filters: [{name: redis-chain-end}]}]}
  - name: dm-local
    paths: [/dm-local]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '{"second": 1000000000, "policy": "local"}'}]}]
  - name: dm-realtime
    paths: [/dm-realtime]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '{"second": 1000000000, "policy": "redis", "redis_port": $redis_port}'}]}]
  - name: dm-sync
    paths: [/dm-sync]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '{"second": 1000000000, "policy": "redis", "sync_rate": 0.1, "redis_port": $redis_port}'}]}]
YAML
  if [ -n "$baseline_routes" ]; then
    cat <<YAML
  - {name: base-noop, paths: [/base-noop], filter_chains: [{filters: [{name: base-noop, config: '{}'}]}]}
  - name: base-local
    paths: [/base-local]
    filter_chains: [{filters: [{name: base-redis-rate-limiting, config: '{"second": 1000000000, "policy": "local"}'}]}]
  - name: base-realtime
    paths: [/base-realtime]
    filter_chains: [{filters: [{name: base-redis-rate-limiting, config: '{"second": 1000000000, "policy": "redis", "redis_port": $redis_port}'}]}]
  - name: base-sync
    paths: [/base-sync]
    filter_chains: [{filters: [{name: base-redis-rate-limiting, config: '{"second": 1000000000, "policy": "redis", "sync_rate": 0.1, "redis_port": $redis_port}'}]}]
YAML
  fi
} >"$WORK/kong.yml"
admin_port=$(free_port)
"$CLI" render-envoy --config "$WORK/kong.yml" --filters-path "$filters" --listen "127.0.0.1:$envoy_port" --admin "127.0.0.1:$admin_port" >"$WORK/envoy.json"
add_native_local_ratelimit "$WORK/envoy.json"
to_dynamic_module "$WORK/envoy.json"
# The dm-tunnel- routes' calls go through Envoy's tunnel (the module's callout path), the other
# dm- routes' over the module's own connections: both Redis paths in one Envoy.
start envoy env REDIS_FILTERS_REDIS_PATH=tunnel:callout_tunnel "$ENVOY" -c "$WORK/envoy.json" --concurrency 1 --disable-hot-restart -l error
wait_port "$envoy_port"
routes=${ROUTES:-plain native noop reads sets adds props shared metrics clock local realtime sync dm-noop dm-local dm-realtime dm-sync dm-tunnel-realtime dm-tunnel-sync $baseline_routes}
for p in $routes; do curl -s -o /dev/null "http://127.0.0.1:$envoy_port/$p"; done
conns=${CONNECTIONS:-64}; secs=${SECONDS_PER_RUN:-4}
envoy_pid=${PIDS[-1]}
printf '%-14s %10s %8s %14s %12s   (median of %s rounds of %ss)\n' "route" "req/s" "p50 ms" "CPU us/req" "extra us/req" "${ROUNDS:-3}" "$secs"
rounds=${ROUNDS:-3}
# Rounds interleave the routes, so a slow spell of the machine hits them all; medians per route.
for i in $(seq 1 "$rounds"); do
  for route in $routes; do
    echo "$route $(cpu_per_request "http://127.0.0.1:$envoy_port/$route" "$conns" "$secs" "$envoy_pid")"
  done
done >"$WORK/runs"
declare -A cpu
for route in $routes; do
  read -r r p50 us < <(awk -v r="$route" '$1 == r { print $2, $3, $4 }' "$WORK/runs" | sort -k3 -n | awk '{a[NR]=$0} END {print a[int((NR + 1) / 2)]}')
  cpu[$route]=$us
  printf '%-14s %10.0f %8s %14s %12s\n' "$route" "$r" "$p50" "$us" "$(awk -v a="$us" -v b="${cpu[plain]}" 'BEGIN { printf "%+.1f", a - b }')"
done
calls=$(curl -s "http://127.0.0.1:$admin_port/stats?filter=redis_tunnel.downstream_rq_total" | awk -F': ' '{print $2}')
echo "tunnelled calls during the whole run: $calls"
if [ -n "${cpu[reads]:-}" ]; then
  echo "one host call (10 per request, minus noop), Envoy CPU:"
  for route in reads sets adds props shared metrics clock; do
    [ -n "${cpu[$route]:-}" ] || continue
    awk -v n="${cpu[noop]}" -v r="${cpu[$route]}" -v name="$route" 'BEGIN { printf "  %-8s %.2f us\n", name, (r - n) / 10 }'
  done
fi
if [ -n "${cpu[dm-noop]:-}" ]; then
  echo "added Envoy CPU per request as a fraction of passthrough's (plain), Wasm -> dynamic module:"
  for mode in noop local realtime sync; do
    [ -n "${cpu[$mode]:-}" ] && [ -n "${cpu[dm-$mode]:-}" ] || continue
    awk -v p="${cpu[plain]}" -v w="${cpu[$mode]}" -v d="${cpu[dm-$mode]}" -v m="$mode" \
      'BEGIN { printf "  %-9s %.3f -> %.3f\n", m, (w - p) / p, (d - p) / p }'
  done
fi
if [ -n "${cpu[dm-tunnel-realtime]:-}" ]; then
  echo "the module's Redis paths, added Envoy CPU as a fraction of passthrough's, Envoy's tunnel -> own connections:"
  for mode in realtime sync; do
    [ -n "${cpu[dm-$mode]:-}" ] && [ -n "${cpu[dm-tunnel-$mode]:-}" ] || continue
    awk -v p="${cpu[plain]}" -v t="${cpu[dm-tunnel-$mode]}" -v d="${cpu[dm-$mode]}" -v m="$mode" \
      'BEGIN { printf "  %-9s %.3f -> %.3f\n", m, (t - p) / p, (d - p) / p }'
  done
fi
if [ -n "$baseline_routes" ]; then
  echo "added Envoy CPU per request as a fraction of passthrough's (plain), $BASELINE -> this tree:"
  for mode in noop local realtime sync; do
    [ -n "${cpu[$mode]:-}" ] && [ -n "${cpu[base-$mode]:-}" ] || continue
    awk -v p="${cpu[plain]}" -v b="${cpu[base-$mode]}" -v a="${cpu[$mode]}" -v m="$mode" \
      'BEGIN { printf "  %-9s %.3f -> %.3f (x%.2f)\n", m, (b - p) / p, (a - p) / p, (a - p) / (b - p) }'
  done
fi
