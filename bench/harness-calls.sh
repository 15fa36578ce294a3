#!/usr/bin/env bash
# Guest entries and host calls per request, counted by the harness (`harness.guest.*` and
# `harness.host.*` of GET /__harness/metrics), for the noop test filter and redis-rate-limiting in
# its three modes. Counts, not times: they do not move with the machine, so a change that adds a
# host call or a VM entry to every request shows here first, before Envoy's CPU figures
# (bench/envoy-host-calls.sh) can tell it from noise. Envoy's profile (the harness acts as Envoy),
# one worker, wrk -c64 for 2 s per route. Not seen by the harness, and so not counted:
# proxy_on_memory_allocate (one more entry for each value the host hands to the guest), the reads
# of a call's answer, proxy_set_effective_context.
source "$(dirname "$0")/lib.sh"
# The same start as the Envoy benchmarks (harness, filters and test filters in $filters, Redis and
# the echo upstream); Envoy itself is not started.
envoy_bench_setup
{
  echo_service
  cat <<YAML
  - {name: noop, paths: [/noop], filter_chains: [{filters: [{name: noop, config: '{}'}]}]}
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
gw_port=$(free_port)
start gateway "$HARNESS" serve --config "$WORK/kong.yml" --filters-path "$filters" \
  --listen "127.0.0.1:$gw_port" --workers 1 --profile envoy
wait_port "$gw_port"
metrics() { curl -s "http://127.0.0.1:$gw_port/__harness/metrics"; }
for route in ${ROUTES:-noop local realtime sync}; do
  curl -s -o /dev/null "http://127.0.0.1:$gw_port/$route"
  metrics >"$WORK/before.json"
  wrk -t1 -c"${CONNECTIONS:-64}" -d"${SECONDS_PER_RUN:-2}"s "http://127.0.0.1:$gw_port/$route" >/dev/null
  metrics >"$WORK/after.json"
  python3 - "$route" "$WORK/before.json" "$WORK/after.json" <<'PY'
import json, sys
route, before, after = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
diff = {k: v - before.get(k, 0) for k, v in after.items() if k.startswith("harness.")}
n = diff.get("harness.requests", 0) or 1
def per(prefix):
    return {k[len(prefix):]: v / n for k, v in diff.items() if k.startswith(prefix) and v}
guest, host = per("harness.guest.proxy_on_"), per("harness.host.proxy_")
print(f"{route:9} {n:7d} requests: {sum(guest.values()):5.2f} guest entries, {sum(host.values()):5.2f} host calls per request")
print("  entries: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(guest.items())))
print("  calls:   " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(host.items())))
PY
done
