#!/usr/bin/env bash
# Engine bug 9 (docs/kong-engine.md): the stock engine and one built with the bug's patch, side by
# side, on chains whose LAST filter pauses on a dispatch after an earlier filter's call has been
# answered. Nothing of ours in them: test-filters/http-auth-random (the SDK's example: one
# dispatch per request, resumed from the answer; 403 when the call does not answer 200).
#  load:    the filter once (control) and twice in one location, wrk -t2 -c32, RUNS runs of
#           SECONDS_PER_RUN s: req/s of each run, non-2xx, `bad "on_log" return action`, crashes.
#  race:    ROUNDS times, one keep-alive connection: a request that goes through, then one whose
#           first call is answered by this script, which closes the client's connection right
#           after the answer (the two reach the worker in one pass of its event loop, before the
#           last filter's call has left). Then the same with proxy_ignore_client_abort on and the
#           last filter's call answering 403 for that second request: "app" counts the requests
#           the proxied application got (ROUNDS when every verdict is kept).
#  give up: the last filter's call takes 0.3 s and the client gives up after 0.1 s (curl -m 0.1)
#           on a keep-alive connection: leaving while the call is out is not the trigger.
# NGINX_WASM_PATCHED: the patched nginx-wasm (without it only the stock engine runs: the
# reproduction); NGINX_WASM: the stock one (default ../shared/hosts/nginx-wasm).
source "$(dirname "$0")/lib.sh"
NGINX_WASM=${NGINX_WASM:-$root/../shared/hosts/nginx-wasm}
engines="stock"
if [ -n "${NGINX_WASM_PATCHED:-}" ] && [ -x "$NGINX_WASM_PATCHED" ]; then
  engines="stock patched"
else
  echo "the stock engine only: set NGINX_WASM_PATCHED to an nginx-wasm built with bug 9's patch to run it beside"
fi
[ -x "$NGINX_WASM" ] || { echo "no nginx-wasm at $NGINX_WASM (set NGINX_WASM)" >&2; exit 1; }
bash "$root/scripts/build-wasm.sh" --test-filters >/dev/null
wasm="$root/target-wasm/test-filters/http-auth-random.wasm"
user=""; [ "$(id -u)" = 0 ] && user="user root;"
runs=${RUNS:-3}; secs=${SECONDS_PER_RUN:-5}; rounds=${ROUNDS:-30}

# slow: answers 200 after 0.3 s (the give-up case's last call).
slow=$(free_port)
start slow python3 -c '
import sys, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.3)
        self.send_response(200); self.send_header("Content-Length", "3"); self.end_headers()
        self.wfile.write(b"ok\n")
    def log_message(self, *args): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$slow"
wait_port "$slow"

# race.py NGINX_PORT UPSTREAM_PORT ROUNDS [DENY]: the race's client, and the upstream of the
# chain's first filter; prints how many first requests got 200. DENY=1: the second request asks
# the last filter's call for a 403 (x-auth-status, which the filter puts in the call's path).
cat >"$WORK/race.py" <<'PY'
import socket, sys, threading, time
port, up, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
deny = len(sys.argv) > 4 and sys.argv[4] == "1"
lock = threading.Lock()
armed = {"client": None}
def serve(conn):
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(4096)
        if not data:
            break
        buf += data
    with lock:
        client, armed["client"] = armed["client"], None
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
    if client is not None:
        client.close()  # right after the answer: both land in one pass of the worker's loop
    conn.close()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", up)); srv.listen(128)
def accept():
    while True:
        threading.Thread(target=serve, args=(srv.accept()[0],), daemon=True).start()
threading.Thread(target=accept, daemon=True).start()
first = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
second = b"GET / HTTP/1.1\r\nHost: x\r\nx-auth-status: 403\r\n\r\n" if deny else first
ok = 0
for _ in range(rounds):
    c = socket.create_connection(("127.0.0.1", port)); c.settimeout(5)
    c.sendall(first)
    got = b""
    try:
        while b"ok\n" not in got:
            data = c.recv(4096)
            if not data:
                break
            got += data
    except OSError:
        pass
    ok += got.startswith(b"HTTP/1.1 200")
    with lock:
        armed["client"] = c
    c.sendall(second)
    time.sleep(0.4)
    with lock:
        armed["client"] = None
    try:
        c.close()
    except OSError:
        pass
print(ok)
PY

# engine DIR BINARY EXTRA UPSTREAM...: starts BINARY with one location whose chain has one
# http-auth-random per UPSTREAM ("fast", "slow", or a port), in order, then proxy_pass to an
# application that logs what it gets ($dir/logs/app.log); EXTRA goes into the location. Sets
# $port, $pid, $race_up (a free port for race.py).
engine() {
  local dir=$1 bin=$2 extra=$3 chain="" up fast app; shift 3
  mkdir -p "$dir/logs"
  port=$(free_port); fast=$(free_port); app=$(free_port); race_up=$(free_port)
  for up in "$@"; do
    case $up in fast) up=$fast ;; slow) up=$slow ;; race) up=$race_up ;; esac
    chain="$chain proxy_wasm auth '{\"upstream\": \"127.0.0.1:$up\", \"authority\": \"x\"}';"
  done
  cat >"$dir/nginx.conf" <<CONF
$user
worker_processes 2;
error_log $dir/logs/error.log info;
pid $dir/logs/nginx.pid;
events { worker_connections 1024; }
wasm { module auth $wasm; }
http {
    access_log off;
    server {
        listen 127.0.0.1:$fast;
        location / { if (\$arg_status = 403) { return 403 "no\n"; } return 200 "ok\n"; }
    }
    server { listen 127.0.0.1:$app; access_log $dir/logs/app.log; location / { return 200 "ok\n"; } }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_wasm_request_headers_in_access on;
            $chain
            $extra
            proxy_pass http://127.0.0.1:$app;
        }
    }
}
CONF
  start "$(basename "$dir")" "$bin" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/start.log" -g 'daemon off;'
  pid=${PIDS[-1]}
  wait_port "$port"
}

stop() { sleep 0.5; kill "$pid"; wait "$pid" 2>/dev/null || true; }
count() { grep -c "$1" "$2/logs/error.log" || true; }
bad() { count 'bad "on_log" return action' "$1"; }
crashes() { count 'exited on signal' "$1"; }
binary() { [ "$1" = stock ] && echo "$NGINX_WASM" || echo "$NGINX_WASM_PATCHED"; }
row() { printf '%-8s %-40s %-28s %8s %11s %8s\n' "$@"; }

echo "load: wrk -t2 -c32, $runs runs of ${secs}s"
row engine chain "req/s (each run)" non-2xx "bad on_log" crashes
for form in once twice; do
  for name in $engines; do
    all=""; non=0; b=0; c=0
    for run in $(seq 1 "$runs"); do
      dir="$WORK/load-$name-$form-$run"
      if [ $form = once ]; then engine "$dir" "$(binary $name)" "" fast
      else engine "$dir" "$(binary $name)" "" fast fast; fi
      out=$(wrk -t2 -c32 -d"$secs"s "http://127.0.0.1:$port/")
      stop
      all="$all $(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')"
      non=$((non + $(echo "$out" | awk '/Non-2xx/ {print $5; f=1} END {if (!f) print 0}')))
      b=$((b + $(bad "$dir"))); c=$((c + $(crashes "$dir")))
    done
    row "$name" "$([ $form = once ] && echo "auth" || echo "auth -> auth")" "$all" "$non" "$b" "$c"
  done
done

echo; echo "race: $rounds rounds"
row engine chain "first requests 200 / app" "" "bad on_log" crashes
for name in $engines; do
  dir="$WORK/race-$name"
  engine "$dir" "$(binary $name)" "" race fast
  ok=$(python3 "$WORK/race.py" "$port" "$race_up" "$rounds")
  stop
  row "$name" "auth -> auth, client leaves" "$ok/$rounds" "" "$(bad "$dir")" "$(crashes "$dir")"
  dir="$WORK/race-deny-$name"
  engine "$dir" "$(binary $name)" "proxy_ignore_client_abort on;" race fast
  ok=$(python3 "$WORK/race.py" "$port" "$race_up" "$rounds" 1)
  stop
  row "$name" "... last one denies, ignore_client_abort" "$ok/$rounds, app $(wc -l <"$dir/logs/app.log")" "" \
    "$(bad "$dir")" "$(crashes "$dir")"
done

echo; echo "give up: $rounds rounds of a request, then one abandoned after 0.1 s"
row engine chain "first requests 200" "" "bad on_log" crashes
for name in $engines; do
  dir="$WORK/give-up-$name"
  engine "$dir" "$(binary $name)" "" fast slow
  ok=0
  for _ in $(seq 1 "$rounds"); do
    code=$(curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/" \
      --next -s -m 0.1 -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/" 2>/dev/null | head -1 || true)
    [ "$code" = 200 ] && ok=$((ok + 1))
  done
  stop
  row "$name" "auth -> auth (0.3 s), client gives up" "$ok/$rounds" "" "$(bad "$dir")" "$(crashes "$dir")"
done
