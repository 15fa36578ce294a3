#!/usr/bin/env bash
# What a Wasm filter costs Envoy per request, in one run: Envoy with no filter, Envoy's native
# local_ratelimit, the `noop` test filter (the floor of a filter on our guest layer), the same
# with 10 request-header reads and with 10 response-header sets (the cost of one host call), and
# redis-rate-limiting with policy local. One worker, wrk -c64, medians of 3 runs.
source "$(dirname "$0")/lib.sh"
build_native
bash "$root/scripts/build-wasm.sh" >/dev/null
bash "$root/scripts/build-wasm.sh" --test-filters >/dev/null
ENVOY=${ENVOY_BIN:-$root/.venv/bin/envoy}
filters="$WORK/filters"; mkdir -p "$filters"
ln -s "$root"/dist/*.wasm "$root"/target-wasm/test-filters/*.wasm "$filters/"
start_upstreams
envoy_port=$(free_port)
{
  echo_service
  cat <<YAML
  - {name: native, paths: [/native]}
  - {name: noop, paths: [/noop], filter_chains: [{filters: [{name: noop, config: '{}'}]}]}
  - {name: reads, paths: [/reads], filter_chains: [{filters: [{name: noop, config: '{"reads": 10}'}]}]}
  - {name: sets, paths: [/sets], filter_chains: [{filters: [{name: noop, config: '{"sets": 10}'}]}]}
  - name: local
    paths: [/local]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '{"second": 1000000000, "policy": "local"}'}]}]
  - name: sync
    paths: [/sync]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '{"second": 1000000000, "policy": "redis", "sync_rate": 0.1, "redis_port": $redis_port}'}]}]
YAML
} >"$WORK/kong.yml"
"$HARNESS" render-envoy --config "$WORK/kong.yml" --filters-path "$filters" --listen "127.0.0.1:$envoy_port" >"$WORK/envoy.json"
add_native_local_ratelimit "$WORK/envoy.json"
start envoy "$ENVOY" -c "$WORK/envoy.json" --concurrency 1 --disable-hot-restart -l error
wait_port "$envoy_port"
for p in plain native noop reads sets local sync; do curl -s -o /dev/null "http://127.0.0.1:$envoy_port/$p"; done
conns=${CONNECTIONS:-64}; secs=${SECONDS_PER_RUN:-4}; rounds=${ROUNDS:-3}
printf '%-34s %10s %8s %10s %12s\n' "Envoy (1 worker, -c$conns, median of $rounds x ${secs}s)" "req/s" "p50 ms" "us/req" "vs native"
read -r base base_p50 < <(median_rps "http://127.0.0.1:$envoy_port/plain" "$conns" "$secs" "$rounds")
printf '%-34s %10.0f %8s %10s %12s\n' "no filter" "$base" "$base_p50" "-" "-"
declare -A rate
for route in native noop reads sets local sync; do
  read -r r p50 < <(median_rps "http://127.0.0.1:$envoy_port/$route" "$conns" "$secs" "$rounds")
  rate[$route]=$r
  extra=$(awk -v r="$r" -v b="$base" 'BEGIN { printf "%.1f", 1e6 / r - 1e6 / b }')
  printf '%-34s %10.0f %8s %10s %12s\n' "$route" "$r" "$p50" "+$extra" "$(ratio "$r" "${rate[native]}")"
done
awk -v n="${rate[noop]}" -v r="${rate[reads]}" -v s="${rate[sets]}" 'BEGIN {
  printf "one request-header read: %.2f us; one response-header set: %.2f us\n", (1e6/r - 1e6/n) / 10, (1e6/s - 1e6/n) / 10 }'
