#!/usr/bin/env bash
# The minimal reproduction of Kong's engine's bug 9 (docs/kong-engine.md): two plain
# proxy-wasm-crate filters in one chain (test-filters/http-auth-random twice: each pauses its
# request on one dispatch, resumed from the answer), on nginx-wasm, under wrk. Counts the
# workers that died and the engine's "bad on_log return action" errors; the same with the filter
# once, as the control. No Redis, no bridge, nothing of ours.
source "$(dirname "$0")/lib.sh"
NGINX_WASM=${NGINX_WASM:-$root/../shared/hosts/nginx-wasm}
[ -x "$NGINX_WASM" ] || { echo "no nginx-wasm at $NGINX_WASM (set NGINX_WASM)" >&2; exit 1; }
bash "$root/scripts/build-wasm.sh" --test-filters >/dev/null
user=""; [ "$(id -u)" = 0 ] && user="user root;"
runs=${RUNS:-3}
for filters in 1 2; do
  crashes=0; errors=0
  for run in $(seq 1 "$runs"); do
    dir="$WORK/$filters-$run"; mkdir -p "$dir/logs"
    port=$(free_port); upstream=$(free_port)
    chain=""
    for _ in $(seq 1 "$filters"); do
      chain="$chain proxy_wasm auth '{\"upstream\": \"127.0.0.1:$upstream\", \"authority\": \"x\"}';"
    done
    cat >"$dir/nginx.conf" <<CONF
$user
worker_processes 2;
error_log $dir/logs/error.log info;
pid $dir/logs/nginx.pid;
events { worker_connections 1024; }
wasm { module auth $root/target-wasm/test-filters/http-auth-random.wasm; }
http {
    access_log off;
    server { listen 127.0.0.1:$upstream; location / { return 200 "ok\n"; } }
    server {
        listen 127.0.0.1:$port;
        location / { proxy_wasm_request_headers_in_access on; $chain proxy_pass http://127.0.0.1:$upstream; }
    }
}
CONF
    start "nginx-$filters-$run" "$NGINX_WASM" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/start.log" -g 'daemon off;'
    pid=${PIDS[-1]}
    wait_port "$port"
    wrk -t2 -c32 -d"${SECONDS_PER_RUN:-5}"s "http://127.0.0.1:$port/" >"$dir/wrk.txt"
    sleep 0.5
    kill "$pid"; wait "$pid" 2>/dev/null || true
    crashes=$((crashes + $(grep -c 'exited on signal 11' "$dir/logs/error.log" || true)))
    errors=$((errors + $(grep -c 'bad "on_log" return action' "$dir/logs/error.log" || true)))
    rps=$(awk '/Requests\/sec/ {print $2}' "$dir/wrk.txt")
    echo "$filters filter(s), run $run: $rps req/s"
  done
  echo "$filters filter(s) in the chain: $crashes worker crash(es), $errors 'bad on_log return action' in $runs runs"
done
