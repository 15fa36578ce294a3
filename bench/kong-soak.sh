#!/usr/bin/env bash
# sync_rate soak in Kong's engine: SOAK_SECONDS (default 600) of wrk -c32 on redis-rate-limiting
# with sync_rate 0.1 (flushes leave from each worker's on_tick through the bridge, ten times a
# second), in steps of STEP seconds (default 60). Each step prints the workers' resident memory,
# the step's req/s, what the step's flushes added to Redis minus the requests wrk saw answered
# (between 0 and the 32 requests wrk abandons in flight when it stops: nothing lost, nothing
# piling up), and worker crashes.
source "$(dirname "$0")/lib.sh"
NGINX_WASM=${NGINX_WASM:-$root/../shared/hosts/nginx-wasm}
[ -x "$NGINX_WASM" ] || { echo "no nginx-wasm at $NGINX_WASM (set NGINX_WASM)" >&2; exit 1; }
build_native
bash "$root/scripts/build-wasm.sh" >/dev/null
filters="$WORK/filters"; mkdir -p "$filters"
ln -s "$root"/dist/*.wasm "$filters/"
start_upstreams
rate_limit_routes >"$WORK/kong.yml"
port=$(free_port); prefix="$WORK/kong"
"$CLI" render-nginx --config "$WORK/kong.yml" --filters-path "$filters" --prefix "$prefix" \
  --bridge-lua "$root/kong" --listen "127.0.0.1:$port" --workers 2 >/dev/null
start bridge nginx -p "$prefix/" -c "$prefix/bridge.conf" -e "$prefix/logs/bridge-start.log" -g 'daemon off;'
start engine "$NGINX_WASM" -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/logs/start.log" -g 'daemon off;'
master=${PIDS[-1]}
wait_port "$port"
curl -s -o /dev/null "http://127.0.0.1:$port/sync"

workers_rss_kb() {
  local total=0 pid
  for pid in $(pgrep -P "$master"); do
    total=$((total + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")))
  done
  echo "$total"
}
counted() {
  redis-cli -p "$redis_port" --raw eval "local n = 0 for _, k in ipairs(redis.call('keys', 'ratelimit:*:year')) do n = n + tonumber(redis.call('get', k)) end return n" 0
}

soak=${SOAK_SECONDS:-600}; step=${STEP:-60}
sleep 0.3
before=$(counted)
printf '%8s %13s %10s %20s %8s\n' "seconds" "workers RSS" "req/s" "flushed - answered" "crashes"
printf '%8s %10s KB %10s %20s %8s\n' 0 "$(workers_rss_kb)" "-" "-" 0
for elapsed in $(seq "$step" "$step" "$soak"); do
  out=$(wrk -t2 -c32 -d"$step"s --timeout 5s "http://127.0.0.1:$port/sync")
  answered=$(echo "$out" | awk '/requests in/ {print $1}')
  rate=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  sleep 0.3  # one flush interval and a tick
  now=$(counted)
  crashes=$(grep -c "exited on signal" "$prefix/logs/error.log" || true)
  printf '%8s %10s KB %10s %20s %8s\n' "$elapsed" "$(workers_rss_kb)" "$rate" "$((now - before - answered))" "$crashes"
  before=$now
done
