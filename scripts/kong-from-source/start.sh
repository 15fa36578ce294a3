# Step 4: Kong starts dbless with Wasm on, serves one request through a filter chain, and stops.
# The chain holds redis-chain-end (dist/, no Redis needed) when the filters are built; the
# upstream is Kong's own Admin API.

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_kong() {
  local dir="$WORK/smoke" port admin filters="$WORK/smoke/filters" chain="" status
  rm -rf "$dir" && mkdir -p "$filters"
  port=$(free_port) admin=$(free_port)
  if [ -f "$ROOT/dist/redis-chain-end.wasm" ]; then
    ln -s "$ROOT/dist/redis-chain-end.wasm" "$ROOT/kong/redis-chain-end.meta.json" "$filters/"
    chain="    filter_chains: [{filters: [{name: redis-chain-end}]}]"
  else
    say "4/4 no dist/redis-chain-end.wasm (scripts/build-wasm.sh): Kong starts with no filter"
  fi
  cat >"$dir/kong.yml" <<YAML
_format_version: "3.0"
services:
- name: admin
  url: http://127.0.0.1:$admin
  routes:
  - name: smoke
    paths: [/smoke]
$chain
YAML
  local user=""
  [ "$(id -u)" = 0 ] && user="root root"
  say "4/4 kong start (dbless, wasm on) on 127.0.0.1:$port"
  export PATH="$PREFIX/openresty/bin:$PREFIX/openresty/nginx/sbin:$PATH"
  KONG_DATABASE=off KONG_DECLARATIVE_CONFIG="$dir/kong.yml" KONG_PROXY_LISTEN="127.0.0.1:$port" \
    KONG_ADMIN_LISTEN="127.0.0.1:$admin" KONG_ADMIN_GUI_LISTEN=off KONG_STATUS_LISTEN=off \
    KONG_ROUTER_FLAVOR=traditional KONG_WASM=on KONG_WASM_FILTERS_PATH="$filters" \
    KONG_NGINX_WORKER_PROCESSES=1 KONG_ANONYMOUS_REPORTS=off KONG_NGINX_USER="${user:-nobody}" \
    KONG_OPENRESTY_PATH="$PREFIX/openresty" \
    "$PREFIX/bin/kong" start -p "$dir/prefix" >"$WORK/logs/kong-start.log" 2>&1 ||
    die "kong start failed (see $WORK/logs/kong-start.log and $dir/prefix/logs/error.log)"
  status=000
  for _ in $(seq 1 100); do
    status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/smoke") || true
    [ "$status" = 200 ] && break
    sleep 0.2
  done
  "$PREFIX/bin/kong" stop -p "$dir/prefix" >>"$WORK/logs/kong-start.log" 2>&1 || true
  [ "$status" = 200 ] || die "a request through Kong answered $status (see $dir/prefix/logs/error.log)"
  say "4/4 Kong $("$PREFIX/bin/kong" version 2>/dev/null) served a request through a filter chain"
}
