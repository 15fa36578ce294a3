#!/usr/bin/env bash
# redis-rate-limiting on the harness: passthrough vs the filter with policy local, redis
# realtime and redis sync_rate, one worker, same run, as ratios; Redis commands per request from
# INFO commandstats. Limits are high enough that nothing is rejected.
source "$(dirname "$0")/lib.sh"
build_native
bash "$root/scripts/build-wasm.sh" >/dev/null
start_upstreams
gw_port=$(free_port)
rate_limit_routes >"$WORK/kong.yml"
start gateway "$HARNESS" serve --config "$WORK/kong.yml" --filters-path "$root/dist" \
  --listen "127.0.0.1:$gw_port" --workers 1
wait_port "$gw_port"
conns=${CONNECTIONS:-64}; secs=${SECONDS_PER_RUN:-5}
# Commands the filter sends (scripts count once, not the commands they run inside Redis).
cmds() { redis-cli -p "$redis_port" INFO commandstats | awk -F'[:=,]' '/^cmdstat_(evalsha|eval|get):/ {n += $3} END {print n + 0}'; }
calls() { curl -s "http://127.0.0.1:$gw_port/__harness/metrics" | python3 -c 'import json,sys; print(json.load(sys.stdin)["harness.tunnel_calls"])'; }
reqs() { curl -s "http://127.0.0.1:$gw_port/__harness/metrics" | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m.get("redis_rate_limiting.allowed",0)+m.get("redis_rate_limiting.limited",0))'; }
printf '\n%-28s %10s %8s %10s %14s %12s\n' "harness, 1 worker, wrk -c$conns" "req/s" "p50 ms" "ratio" "cmds sent/req" "calls/req"
read -r base base_p50 < <(rps "http://127.0.0.1:$gw_port/plain" "$conns" "$secs")
printf '%-28s %10.0f %8s %10s %14s %12s\n' "no filter" "$base" "$base_p50" "1.00" "-" "-"
for mode in local realtime sync; do
  c0=$(cmds); t0=$(calls); r0=$(reqs)
  read -r r p50 < <(rps "http://127.0.0.1:$gw_port/$mode" "$conns" "$secs")
  sleep 0.3
  c1=$(cmds); t1=$(calls); r1=$(reqs)
  n=$((r1 - r0))
  printf '%-28s %10.0f %8s %10s %14s %12s\n' "redis-rate-limiting $mode" "$r" "$p50" "$(ratio "$r" "$base")" \
    "$(awk -v a=$((c1 - c0)) -v b=$n 'BEGIN {printf "%.3f", a / b}')" "$(awk -v a=$((t1 - t0)) -v b=$n 'BEGIN {printf "%.3f", a / b}')"
done
