#!/usr/bin/env bash
# What TLS to Redis costs, per host, same run: redis-rate-limiting with policy redis (one call to
# Redis per request, limits that never reject) over plaintext, over TLS (ssl), and over verified
# TLS (ssl_verify + server_name), against one redis-server with a plaintext and a TLS port and a
# CA made here with openssl. The harness (kong profile) and Envoy with one worker, Kong's engine
# with one worker and the project's bridge (when ../shared/hosts/nginx-wasm is there); wrk -c32.
# Prints req/s, p50, and the added time per request of TLS (1/rps difference, one worker).
source "$(dirname "$0")/lib.sh"
envoy_bench_setup
NGINX_WASM=${NGINX_WASM:-$root/../shared/hosts/nginx-wasm}
ca="$WORK/ca"; mkdir -p "$ca"
(
  cd "$ca"
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj /CN=bench-ca 2>/dev/null
  openssl req "${ec[@]}" -keyout server.key -out server.csr -subj /CN=redis.test 2>/dev/null
  printf 'subjectAltName=DNS:redis.test,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' >ext.cnf
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null
)
plain_port=$(free_port); tls_port=$(free_port)
start tls-redis redis-server --port "$plain_port" --tls-port "$tls_port" --bind 127.0.0.1 --save "" --appendonly no \
  --tls-cert-file "$ca/server.pem" --tls-key-file "$ca/server.key" --tls-ca-cert-file "$ca/ca.pem" --tls-auth-clients no
wait_port "$tls_port"
rl='"year": 1000000000, "limit_by": "ip", "policy": "redis", "fault_tolerant": false'
{
  echo_service
  cat <<YAML
  - name: tcp
    paths: [/tcp]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '{$rl, "redis": {"port": $plain_port}}'}]}]
  - name: tls
    paths: [/tls]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '{$rl, "redis": {"port": $tls_port, "ssl": true}}'}]}]
  - name: verified
    paths: [/verified]
    filter_chains: [{filters: [{name: redis-rate-limiting, config: '{$rl, "redis": {"port": $tls_port, "ssl": true, "ssl_verify": true, "server_name": "redis.test"}}'}]}]
YAML
} >"$WORK/kong.yml"

conns=${CONNECTIONS:-32}; secs=${SECONDS_PER_RUN:-4}; rounds=${ROUNDS:-3}
hosts=()
gw_port=$(free_port)
start gateway "$HARNESS" serve --config "$WORK/kong.yml" --filters-path "$filters" --listen "127.0.0.1:$gw_port" --workers 1 --redis-ca "$ca/ca.pem"
hosts+=("harness(kong-profile) $gw_port")
envoy_port=$(free_port)
"$CLI" render-envoy --config "$WORK/kong.yml" --filters-path "$filters" --listen "127.0.0.1:$envoy_port" --redis-ca "$ca/ca.pem" >"$WORK/envoy.json"
start envoy "$ENVOY" -c "$WORK/envoy.json" --concurrency 1 --disable-hot-restart -l error
hosts+=("Envoy $envoy_port")
if [ -x "$NGINX_WASM" ]; then
  kong_port=$(free_port); prefix="$WORK/kong"
  "$CLI" render-nginx --config "$WORK/kong.yml" --filters-path "$filters" --prefix "$prefix" \
    --bridge-lua "$root/kong" --listen "127.0.0.1:$kong_port" --workers 1 --redis-ca "$ca/ca.pem" >/dev/null
  start kong-bridge nginx -p "$prefix/" -c "$prefix/bridge.conf" -e "$prefix/logs/bridge-start.log" -g 'daemon off;'
  start kong "$NGINX_WASM" -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/logs/start.log" -g 'daemon off;'
  hosts+=("Kong's-engine $kong_port")
fi
for h in "${hosts[@]}"; do
  set -- $h
  wait_port "$2"
  for p in tcp tls verified; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2/$p")
    [ "$code" = 200 ] || { echo "$1 /$p answered $code" >&2; exit 1; }
  done
done
us_more() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.0f", (1 / a - 1 / b) * 1e6 }'; }
for h in "${hosts[@]}"; do
  set -- $h
  printf '\n%-40s %10s %8s %10s %16s\n' "$1 (1 worker, -c$conns, median of $rounds)" "req/s" "p50 ms" "vs tcp" "us/request more"
  read -r base p50 < <(median_rps "http://127.0.0.1:$2/plain" "$conns" "$secs" "$rounds")
  printf '%-40s %10.0f %8s\n' "no filter" "$base" "$p50"
  read -r tcp p50 < <(median_rps "http://127.0.0.1:$2/tcp" "$conns" "$secs" "$rounds")
  printf '%-40s %10.0f %8s %10s\n' "rate limiting, Redis over TCP" "$tcp" "$p50" "1.00"
  for p in tls verified; do
    read -r r p50 < <(median_rps "http://127.0.0.1:$2/$p" "$conns" "$secs" "$rounds")
    printf '%-40s %10.0f %8s %10s %16s\n' "rate limiting, Redis over TLS ($p)" "$r" "$p50" "$(ratio "$r" "$tcp")" "$(us_more "$r" "$tcp")"
  done
done
if [ -n "${kong_port:-}" ]; then
  echo; echo "Kong's engine worker crashes: $(grep -c 'exited on signal' "$prefix/logs/error.log" || true)"
fi
