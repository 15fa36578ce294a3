#!/usr/bin/env bash
# Kong's engine (nginx + Kong's ngx_wasm_module: ../shared/hosts/nginx-wasm or $NGINX_WASM), the
# chains Kong users build, as separate filters (render-nginx --keep-filters-apart: by default it
# merges them into one redis-chain, which bench/chain.sh measures), each as render-nginx writes it
# (ended with redis-chain-end) and with that last filter taken out (the chain as a user would
# write it without it), side by side in one
# run: 2 workers, wrk -c32, RUNS runs of SECONDS_PER_RUN s per route. Counts worker crashes
# (engine bug 9: docs/kong-engine.md), requests left unanswered (wrk socket errors) and non-2xx.
#   /session   redis-session -> redis-jwt (anonymous) -> redis-rate-limiting by consumer, with the
#              session cookie
#   /revocable redis-jwt (credentials in Redis, credential_cache_ttl 0) -> redis-jwt-blacklist
#   /limits    two realtime limits (per second, per hour)
source "$(dirname "$0")/lib.sh"
NGINX_WASM=${NGINX_WASM:-$root/../shared/hosts/nginx-wasm}
[ -x "$NGINX_WASM" ] || { echo "no nginx-wasm at $NGINX_WASM (set NGINX_WASM)" >&2; exit 1; }
build_native
bash "$root/scripts/build-wasm.sh" >/dev/null
start_upstreams
r="\"redis\": {\"host\": \"127.0.0.1\", \"port\": $redis_port}"
alice='{"id": "c-alice", "username": "alice", "jwt_secrets": [{"key": "k-alice", "secret": "alice-secret"}]}'
{
  echo_service
  cat <<YAML
  - name: session
    paths: [/session]
    filter_chains:
    - filters:
      - {name: redis-session, config: '{"storage": "redis", $r, "cookie_name": "kong_session", "secret": "bench-secret"}'}
      - {name: redis-jwt, config: '{"anonymous": "anonymous", "consumers": [$alice, {"id": "c-anon", "username": "anonymous"}]}'}
      - {name: redis-rate-limiting, config: '{"hour": 1000000000, "limit_by": "consumer", "policy": "redis", $r}'}
  - name: revocable
    paths: [/revocable]
    filter_chains:
    - filters:
      - {name: redis-jwt, config: '{"credentials_in_redis": true, "credential_cache_ttl": 0, $r}'}
      - {name: redis-jwt-blacklist, config: '{"storage": "redis", $r}'}
  - name: limits
    paths: [/limits]
    filter_chains:
    - filters:
      - {name: redis-rate-limiting, config: '{"second": 1000000000, "policy": "redis", $r}'}
      - {name: redis-rate-limiting, config: '{"hour": 1000000000, "policy": "redis", $r}'}
YAML
} >"$WORK/kong.yml"
"$CLI" credentials --redis "127.0.0.1:$redis_port" --do put --key k-alice --consumer-id c-alice \
  --username alice --secret alice-secret >/dev/null
token=$(alice_token)

crashes() { grep -c "exited on signal\|cannot be respawned" "$WORK/$1/logs/error.log" || true; }

# run URL HEADER: "RPS SOCKET_ERRORS NON_2XX"
run() {
  local out
  out=$(wrk -t2 -c32 -d"$secs"s --timeout 5s ${2:+-H "$2"} "$1")
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') \
$(echo "$out" | awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10; found=1} END {if (!found) print 0}') \
$(echo "$out" | awk '/Non-2xx/ {print $5; found=1} END {if (!found) print 0}')"
}

runs=${RUNS:-3}; secs=${SECONDS_PER_RUN:-5}
kong_engine ended "$WORK/kong.yml" 0 --keep-filters-apart; port_ended=$port
kong_engine bare "$WORK/kong.yml" 1 --keep-filters-apart; port_bare=$port
bearer="Authorization: Bearer $token"
echo "Kong's engine ($("$NGINX_WASM" -v 2>&1 | tr -d '\n'), 2 workers, -c32, $runs runs of ${secs}s per route)"
printf '%-12s %-22s %22s %8s %8s %8s\n' route chain "req/s (each run)" errors non-2xx crashes
for route in plain session revocable limits; do
  for form in ended bare; do
    p=$([ $form = ended ] && echo "$port_ended" || echo "$port_bare")
    case $route in
      session) header="Cookie: $(session_cookie "$p" session)" ;;
      revocable) header=$bearer ;;
      *) header= ;;
    esac
    before=$(crashes $form); all=""; errors=0; non=0
    for _ in $(seq 1 "$runs"); do
      read -r r e n < <(run "http://127.0.0.1:$p/$route" "$header")
      all="$all $(printf '%.0f' "$r")"; errors=$((errors + e)); non=$((non + n))
    done
    label=$([ $form = ended ] && echo "+ redis-chain-end" || echo "as written")
    printf '%-12s %-22s %22s %8s %8s %8s\n' "/$route" "$label" "$all" "$errors" "$non" "$(( $(crashes $form) - before ))"
  done
done
