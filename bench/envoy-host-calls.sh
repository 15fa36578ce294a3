#!/usr/bin/env bash
# What a Wasm filter costs Envoy per request, in one run: Envoy with no filter, Envoy's native
# local_ratelimit, the `noop` test filter (the floor of a filter on our guest layer), the same
# with 10 host calls of one kind per request (header read, header set, property, shared data
# read + CAS write, metric, clock: the cost of one call), and redis-rate-limiting with policy local
# and with sync_rate. One worker, wrk -c64; the figure is Envoy's CPU time per request (req/s on
# this shared machine moves by +-20% between runs; CPU per request by a few percent).
source "$(dirname "$0")/lib.sh"
envoy_bench_setup
envoy_port=$(free_port)
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
YAML
} >"$WORK/kong.yml"
admin_port=$(free_port)
"$HARNESS" render-envoy --config "$WORK/kong.yml" --filters-path "$filters" --listen "127.0.0.1:$envoy_port" --admin "127.0.0.1:$admin_port" >"$WORK/envoy.json"
add_native_local_ratelimit "$WORK/envoy.json"
start envoy "$ENVOY" -c "$WORK/envoy.json" --concurrency 1 --disable-hot-restart -l error
wait_port "$envoy_port"
routes=${ROUTES:-plain native noop reads sets adds props shared metrics clock local realtime sync}
for p in $routes; do curl -s -o /dev/null "http://127.0.0.1:$envoy_port/$p"; done
conns=${CONNECTIONS:-64}; secs=${SECONDS_PER_RUN:-4}
envoy_pid=${PIDS[-1]}
printf '%-10s %10s %8s %14s %12s   (median of %s rounds of %ss)\n' "route" "req/s" "p50 ms" "CPU us/req" "extra us/req" "${ROUNDS:-3}" "$secs"
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
  printf '%-10s %10.0f %8s %14s %12s\n' "$route" "$r" "$p50" "$us" "$(awk -v a="$us" -v b="${cpu[plain]}" 'BEGIN { printf "%+.1f", a - b }')"
done
calls=$(curl -s "http://127.0.0.1:$admin_port/stats?filter=redis_tunnel.downstream_rq_total" | awk -F': ' '{print $2}')
echo "tunnelled calls during the whole run: $calls"
echo "one host call (10 per request, minus noop), Envoy CPU:"
for route in reads sets adds props shared metrics clock; do
  [ -n "${cpu[$route]:-}" ] || continue
  awk -v n="${cpu[noop]}" -v r="${cpu[$route]}" -v name="$route" 'BEGIN { printf "  %-8s %.2f us\n", name, (r - n) / 10 }'
done
