#!/usr/bin/env bash
# Kong's engine (nginx + Kong's ngx_wasm_module: ../shared/hosts/nginx-wasm or $NGINX_WASM), same
# run, 2 workers, wrk -c64: no filter, redis-rate-limiting local, realtime and sync_rate through
# the project's RESP bridge (Debian's nginx with the Lua module, unix socket), on keep-alive
# connections at Kong's default keepalive_requests (10000) and at 100, and with a fresh connection
# per request; then the cost of one tunnelled call (a request through redis-probe, one INCR,
# minus a request without it, at one connection) against a direct Redis round trip.
# Beside it, what a Kong user has today, in Kong itself (3.9.3 built by
# scripts/kong-from-source.sh, 2 workers, dbless): Kong's rate-limiting plugin with `policy: redis`
# in realtime against our filter through the bridge in Kong's own nginx, and a route with neither;
# and where our realtime filter's time goes per request: the bridge's Lua and Redis (a call over a
# kept-alive connection), the connection the engine opens per call, the engine's dispatch, and the
# growth of bug 4 (keepalive_requests 10000 against 100).
# Every run also counts worker crashes and requests left unanswered (wrk socket errors).
source "$(dirname "$0")/lib.sh"
NGINX_WASM=${NGINX_WASM:-$root/../shared/hosts/nginx-wasm}
[ -x "$NGINX_WASM" ] || { echo "no nginx-wasm at $NGINX_WASM (set NGINX_WASM)" >&2; exit 1; }
build_native
bash "$root/scripts/build-wasm.sh" >/dev/null
bash "$root/scripts/build-wasm.sh" --test-filters >/dev/null
filters="$WORK/filters"; mkdir -p "$filters"
ln -s "$root"/dist/*.wasm "$root"/target-wasm/test-filters/*.wasm "$filters/"
start_upstreams
{
  rate_limit_routes
  cat <<YAML
  - name: probe
    paths: [/probe]
    filter_chains: [{filters: [{name: redis-probe, config: '{"redis_port": $redis_port}'}]}]
YAML
} >"$WORK/kong.yml"

# engine NAME KEEPALIVE_REQUESTS: renders and starts the engine and its bridge; sets $port.
engine() {
  local name=$1 keepalive=$2 prefix="$WORK/$1"
  port=$(free_port)
  "$CLI" render-nginx --config "$WORK/kong.yml" --filters-path "$filters" --prefix "$prefix" \
    --bridge-lua "$root/kong" --listen "127.0.0.1:$port" --workers 2 >/dev/null
  sed -i "s/^    access_log off;/    access_log off;\n    keepalive_requests $keepalive;/" "$prefix/nginx.conf"
  start "$name-bridge" nginx -p "$prefix/" -c "$prefix/bridge.conf" -e "$prefix/logs/bridge-start.log" -g 'daemon off;'
  start "$name" "$NGINX_WASM" -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/logs/start.log" -g 'daemon off;'
  wait_port "$port"
  for p in plain local realtime sync probe; do curl -s -o /dev/null "http://127.0.0.1:$port/$p"; done
}

crashes() { grep -c "exited on signal\|cannot be respawned" "$WORK/$1/logs/error.log" || true; }

# run URL CONNECTIONS SECONDS [HEADER]: "RPS P50 SOCKET_ERRORS"
run() {
  local out
  out=$(wrk -t"$(( $2 < 2 ? 1 : 2 ))" -c"$2" -d"$3"s --latency --timeout 5s ${4:+-H "$4"} "$1")
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')") \
$(echo "$out" | awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10; found=1} END {if (!found) print 0}')"
}

conns=${CONNECTIONS:-64}; secs=${SECONDS_PER_RUN:-4}
engine ka10000 10000; port_default=$port
engine ka100 100; port_100=$port

# The bridge of the first engine also on a TCP port, to time its calls directly.
bridge_port=$(free_port)
sed -i "s#^\( *\)listen unix:\(.*\);#&\n\1listen 127.0.0.1:$bridge_port;#" "$WORK/ka10000/bridge.conf"
kill -HUP "$(cat "$WORK/ka10000/logs/bridge.pid")"
wait_port "$bridge_port"

# Kong itself (3.9.3 from scripts/kong-from-source.sh: $KONG_PREFIX, ../shared/hosts/kong or
# target/kong), 2 workers: Kong's own rate-limiting plugin (policy redis, realtime) against our
# filter through the bridge in Kong's nginx, beside a route with neither.
kong_prefix=${KONG_PREFIX:-}
for candidate in "$root/../shared/hosts/kong" "$root/target/kong"; do
  [ -z "$kong_prefix" ] && [ -x "$candidate/bin/kong" ] && kong_prefix=$candidate
done
[ -n "$kong_prefix" ] || { echo "no Kong (scripts/kong-from-source.sh; set KONG_PREFIX)" >&2; exit 1; }
kong_port=$(free_port); kong_admin=$(free_port); kdir="$WORK/kong3"; mkdir -p "$kdir/filters"
ln -s "$root/dist/redis-rate-limiting.wasm" "$root/dist/redis-chain-end.wasm" \
  "$root/kong/redis-rate-limiting.meta.json" "$root/kong/redis-chain-end.meta.json" "$kdir/filters/"
sed -e "s#^\( *\)listen unix:.*;#\1listen unix:$kdir/bridge.sock;#" \
  -e "s#^\( *\)set \$redis_bridge_allow .*#\1set \$redis_bridge_allow \"127.0.0.1:$redis_port\";#" \
  "$root/kong/redis-bridge.conf" >"$kdir/bridge.conf"
cat >"$kdir/kong.yml" <<YAML
$(echo_service)
  - name: lua
    paths: [/lua]
    plugins:
    - name: rate-limiting
      config: {year: 1000000000, limit_by: ip, policy: redis, redis: {host: 127.0.0.1, port: $redis_port}}
  - name: realtime
    paths: [/realtime]
    filter_chains:
    - filters:
      - name: redis-rate-limiting
        config: {year: 1000000000, limit_by: ip, policy: redis, redis: {host: 127.0.0.1, port: $redis_port, tunnel: "unix:$kdir/bridge.sock"}}
      - name: redis-chain-end
YAML
kong_user=nobody; [ "$(id -u)" = 0 ] && kong_user="root root"
PATH="$kong_prefix/openresty/bin:$kong_prefix/openresty/nginx/sbin:$PATH" \
  KONG_DATABASE=off KONG_DECLARATIVE_CONFIG="$kdir/kong.yml" KONG_PROXY_LISTEN="127.0.0.1:$kong_port" \
  KONG_ADMIN_LISTEN="127.0.0.1:$kong_admin" KONG_ADMIN_GUI_LISTEN=off KONG_STATUS_LISTEN=off \
  KONG_ROUTER_FLAVOR=traditional KONG_NGINX_WORKER_PROCESSES=2 KONG_ANONYMOUS_REPORTS=off \
  KONG_WASM=on KONG_WASM_FILTERS_PATH="$kdir/filters" KONG_NGINX_WASM_SHM_KV=12m \
  KONG_NGINX_HTTP_INCLUDE="$kdir/bridge.conf" KONG_LUA_PACKAGE_PATH="$root/kong/?.lua;;" \
  KONG_NGINX_USER="$kong_user" KONG_OPENRESTY_PATH="$kong_prefix/openresty" KONG_LOG_LEVEL=warn \
  "$kong_prefix/bin/kong" start -p "$kdir/prefix" >"$WORK/kong3-start.log" 2>&1 ||
  { cat "$WORK/kong3-start.log" >&2; exit 1; }
PIDS+=("$(cat "$kdir/prefix/pids/nginx.pid")")
wait_port "$kong_port"
for p in plain lua realtime; do curl -s -o /dev/null "http://127.0.0.1:$kong_port/$p"; done

table() {
  local title=$1 port=$2 header=${3:-}
  printf '\n%-44s %10s %8s %10s %8s\n' "$title" "req/s" "p50 ms" "vs none" "errors"
  read -r base p50 err < <(run "http://127.0.0.1:$port/plain" "$conns" "$secs" "$header")
  printf '%-44s %10.0f %8s %10s %8s\n' "no filter" "$base" "$p50" "1.00" "$err"
  for route in local realtime sync; do
    read -r r p50 err < <(run "http://127.0.0.1:$port/$route" "$conns" "$secs" "$header")
    printf '%-44s %10.0f %8s %10s %8s\n' "redis-rate-limiting $route" "$r" "$p50" "$(ratio "$r" "$base")" "$err"
  done
}
echo "Kong's engine ($("$NGINX_WASM" -v 2>&1 | tr -d '\n'), 2 workers, -c$conns, ${secs}s per run)"
table "keep-alive, keepalive_requests 10000 (Kong)" "$port_default"
table "keep-alive, keepalive_requests 100" "$port_100"
table "a fresh connection per request" "$port_default" "Connection: close"

printf '\n%-44s %10s %8s %10s %8s\n' "Kong 3.9.3 itself ($(cat "$WORK/kong3-version" 2>/dev/null || echo 2 workers))" "req/s" "p50 ms" "vs none" "errors"
read -r lua_base p50 err < <(run "http://127.0.0.1:$kong_port/plain" "$conns" "$secs")
printf '%-44s %10.0f %8s %10s %8s\n' "no plugin" "$lua_base" "$p50" "1.00" "$err"
read -r lua_rt p50 err < <(run "http://127.0.0.1:$kong_port/lua" "$conns" "$secs")
printf '%-44s %10.0f %8s %10s %8s\n' "Kong's rate-limiting, redis, realtime" "$lua_rt" "$p50" "$(ratio "$lua_rt" "$lua_base")" "$err"
read -r kong_ours p50 err < <(run "http://127.0.0.1:$kong_port/realtime" "$conns" "$secs")
printf '%-44s %10.0f %8s %10s %8s\n' "redis-rate-limiting, redis, realtime" "$kong_ours" "$p50" "$(ratio "$kong_ours" "$lua_base")" "$err"
printf '%-44s %10s\n' "  ours / Kong's plugin" "$(ratio "$kong_ours" "$lua_rt")"

# Where a request's time goes, in machine time per request (1e6 / req/s at -c$conns: both cores
# busy), realtime against no filter on each path.
cat >"$WORK/incr.lua" <<LUA
wrk.method = "POST"
wrk.body = "*2\r\n\$4\r\nINCR\r\n\$5\r\nbench\r\n"
wrk.headers["Host"] = "127.0.0.1:$redis_port"
LUA
bridge_rps() { wrk -t2 -c"$conns" -d"$secs"s -s "$WORK/incr.lua" ${1:+-H "$1"} "http://127.0.0.1:$bridge_port/" | awk '/Requests\/sec/ {print $2}'; }
us() { awk -v r="$1" 'BEGIN {printf "%.1f", 1e6 / r}'; }
added() { awk -v r="$1" -v b="$2" 'BEGIN {printf "%.1f", 1e6 / r - 1e6 / b}'; }
read -r base10k _ _ < <(run "http://127.0.0.1:$port_default/plain" "$conns" "$secs")
read -r rt10k _ _ < <(run "http://127.0.0.1:$port_default/realtime" "$conns" "$secs")
read -r base100 _ _ < <(run "http://127.0.0.1:$port_100/plain" "$conns" "$secs")
read -r rt100 _ _ < <(run "http://127.0.0.1:$port_100/realtime" "$conns" "$secs")
b_ka=$(bridge_rps); b_close=$(bridge_rps "Connection: close")
ours10k=$(added "$rt10k" "$base10k"); ours100=$(added "$rt100" "$base100")
lua=$(added "$lua_rt" "$lua_base")
printf '\nper request, machine time (us)\n'
printf '  Kong 3.9.3, its Lua plugin, realtime added:   %8s\n' "$lua"
printf '  Kong 3.9.3, our filter, realtime added:        %8s\n' "$(added "$kong_ours" "$lua_base")"
printf '  our filter, realtime added (keepalive 10000):  %8s\n' "$ours10k"
printf '  our filter, realtime added (keepalive 100):    %8s\n' "$ours100"
printf '    the bridge: Lua + Redis, kept-alive call:    %8s  (%.0f calls/s)\n' "$(us "$b_ka")" "$b_ka"
printf '    a new connection per call (Connection: close): %6s\n' "$(awk -v a="$(us "$b_close")" -v b="$(us "$b_ka")" 'BEGIN {printf "%.1f", a - b}')"
printf '    the engine: dispatch and filter (the rest, at keepalive 100): %s\n' \
  "$(awk -v t="$ours100" -v c="$(us "$b_close")" 'BEGIN {printf "%.1f", t - c}')"
printf '    bug 4 pool growth (keepalive 10000 - 100):   %8s\n' "$(awk -v a="$ours10k" -v b="$ours100" 'BEGIN {printf "%.1f", a - b}')"

echo
echo "worker crashes: $(crashes ka10000) and $(crashes ka100), Kong $(grep -c "exited on signal" "$kdir/prefix/logs/error.log" || true)"

read -r _ direct_p50 < <(redis-benchmark -p "$redis_port" -c 1 -n 20000 -q -t ping 2>/dev/null | tr -d '\r' | awk '/PING_INLINE/ {for (i=1;i<=NF;i++) if ($i ~ /^p50=/) {sub("p50=","",$i); print "x", $i}}')
read -r _ plain_p50 _ < <(run "http://127.0.0.1:$port_100/plain" 1 3)
read -r _ probe_p50 _ < <(run "http://127.0.0.1:$port_100/probe" 1 3)
printf 'one request with one INCR through the bridge: p50 %s ms vs %s ms without: the call adds %s ms\n' \
  "$probe_p50" "$plain_p50" "$(awk -v a="$probe_p50" -v b="$plain_p50" 'BEGIN {printf "%.3f", a - b}')"
echo "direct Redis round trip (redis-benchmark PING, 1 connection): p50 ${direct_p50} ms"
