#!/usr/bin/env bash
# The minimal reproduction of Kong's engine's dispatch-pool growth (docs/kong-engine.md, bug 4):
# a plain proxy-wasm-crate filter (test-filters/http-auth-random: one dispatch per request,
# resumed from its answer) on nginx-wasm, and ONE keep-alive client connection making BLOCKS x
# 4000 requests. Prints the time per request of each block and the worker's resident memory,
# for the filter and for the same location without it. No Redis, no bridge, nothing of ours.
source "$(dirname "$0")/lib.sh"
NGINX_WASM=${NGINX_WASM:-$root/../shared/hosts/nginx-wasm}
[ -x "$NGINX_WASM" ] || { echo "no nginx-wasm at $NGINX_WASM (set NGINX_WASM)" >&2; exit 1; }
bash "$root/scripts/build-wasm.sh" --test-filters >/dev/null
port=$(free_port); upstream=$(free_port); mkdir -p "$WORK/logs"
user=""; [ "$(id -u)" = 0 ] && user="user root;"
cat >"$WORK/nginx.conf" <<CONF
$user
worker_processes 1;
error_log $WORK/logs/error.log info;
pid $WORK/logs/nginx.pid;
events { worker_connections 1024; }
wasm { module auth $root/target-wasm/test-filters/http-auth-random.wasm; }
http {
    access_log off;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$upstream; location / { return 200 "ok\n"; } }
    server {
        listen 127.0.0.1:$port;
        location /dispatch {
            proxy_wasm_request_headers_in_access on;
            proxy_wasm auth '{"upstream": "127.0.0.1:$upstream", "authority": "x"}';
            proxy_pass http://127.0.0.1:$upstream;
        }
        location /plain { proxy_pass http://127.0.0.1:$upstream; }
    }
}
CONF
start nginx "$NGINX_WASM" -p "$WORK/" -c "$WORK/nginx.conf" -e "$WORK/logs/start.log" -g 'daemon off;'
master=${PIDS[-1]}
wait_port "$port"
python3 - "$port" "$master" "${BLOCKS:-5}" <<'PY'
import http.client, subprocess, sys, time
port, master, blocks = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def rss():
    pids = subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout.split()
    return sum(int(next(l for l in open(f"/proc/{p}/status") if l.startswith("VmRSS")).split()[1]) for p in pids)
for path in ["/plain", "/dispatch"]:
    c = http.client.HTTPConnection("127.0.0.1", port)
    before, times = rss(), []
    for _ in range(blocks):
        t = time.time()
        for _ in range(4000):
            c.request("GET", path)
            c.getresponse().read()
        times.append((time.time() - t) / 4000 * 1000)
    after = rss()
    c.close()
    print(f"{path:10} ms per request, blocks of 4000 on one connection: "
          + " ".join(f"{x:.3f}" for x in times)
          + f" | worker RSS {before} -> {after} KB ({(after - before) / (4000 * blocks) * 1024:.0f} bytes per request)")
PY
