#!/usr/bin/env bash
# redis-chain against the same three filters one after another, in Envoy and in Kong's engine, in
# one run: redis-session -> redis-jwt (anonymous) -> redis-rate-limiting (policy redis), every
# request carrying alice's session cookie, the limit
#   by consumer: the count needs the consumer the session hands on (2 round trips either way);
#   by ip:       the session's read and the count need nothing of each other (2 round trips as
#                three filters, 1 as redis-chain).
# Envoy: 1 worker, wrk -c64, Envoy's CPU time per request (what moves least on a shared machine)
# and req/s, the added CPU being the route's minus /plain's. Kong's engine (../shared/hosts/
# nginx-wasm or $NGINX_WASM, skipped without it): 2 workers, wrk -c32, req/s. ROUNDS rounds of
# SECONDS_PER_RUN s, the routes taken in turn within a round; medians.
# Issue 29's aims: Envoy, at least 20% less added CPU per request; Kong's engine, 1.5x the req/s.
source "$(dirname "$0")/lib.sh"
envoy_bench_setup
r="\"redis\": {\"host\": \"127.0.0.1\", \"port\": $redis_port}"
alice='{"id": "c-alice", "username": "alice", "jwt_secrets": [{"key": "k-alice", "secret": "alice-secret"}]}'
session="{\"storage\": \"redis\", $r, \"cookie_name\": \"kong_session\", \"secret\": \"bench-secret\"}"
jwt="{\"anonymous\": \"anonymous\", \"consumers\": [$alice, {\"id\": \"c-anon\", \"username\": \"anonymous\"}]}"
limit() { echo "{\"hour\": 1000000000, \"limit_by\": \"$1\", \"policy\": \"redis\", $r}"; }
# route NAME BY: the three filters apart at /apart-BY and as one redis-chain at /chain-BY.
route() {
  cat <<YAML
  - name: apart-$1
    paths: [/apart-$1]
    filter_chains:
    - filters:
      - {name: redis-session, config: '$session'}
      - {name: redis-jwt, config: '$jwt'}
      - {name: redis-rate-limiting, config: '$(limit "$1")'}
  - name: chain-$1
    paths: [/chain-$1]
    filter_chains:
    - filters:
      - name: redis-chain
        config: '{"filters": [{"name": "redis-session", "config": $session}, {"name": "redis-jwt", "config": $jwt}, {"name": "redis-rate-limiting", "config": $(limit "$1")}]}'
YAML
}
{ echo_service; route consumer; route ip; } >"$WORK/kong.yml"
token=$(alice_token)
routes="plain apart-consumer chain-consumer apart-ip chain-ip"
rounds=${ROUNDS:-3}; secs=${SECONDS_PER_RUN:-5}
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

envoy_port=$(free_port)
"$CLI" render-envoy --config "$WORK/kong.yml" --filters-path "$filters" --listen "127.0.0.1:$envoy_port" >"$WORK/envoy.json"
start envoy "$ENVOY" -c "$WORK/envoy.json" --concurrency 1 --disable-hot-restart -l error
envoy_pid=${PIDS[-1]}
wait_port "$envoy_port"
cookie="Cookie: $(session_cookie "$envoy_port" chain-consumer)"
for p in $routes; do curl -s -o /dev/null -H "$cookie" "http://127.0.0.1:$envoy_port/$p"; done
declare -A rps us
for _ in $(seq 1 "$rounds"); do
  for p in $routes; do
    before=$(proc_cpu_ticks "$envoy_pid")
    out=$(wrk -t1 -c64 -d"$secs"s -H "$cookie" "http://127.0.0.1:$envoy_port/$p")
    after=$(proc_cpu_ticks "$envoy_pid")
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    rps[$p]+="$(echo "$out" | awk '/Requests\/sec/ {print $2}') "
    us[$p]+="$(awk -v t=$((after - before)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }') "
  done
done
echo "Envoy ($("$ENVOY" --version | grep -o 'version: [^ ]*' | head -1), 1 worker, -c64, median of $rounds x ${secs}s)"
printf '%-16s %10s %12s %14s\n' route "req/s" "CPU us/req" "added us/req"
declare -A added
plain_us=$(echo "${us[plain]}" | tr ' ' '\n' | grep . | median)
for p in $routes; do
  m_us=$(echo "${us[$p]}" | tr ' ' '\n' | grep . | median)
  m_rps=$(echo "${rps[$p]}" | tr ' ' '\n' | grep . | median)
  added[$p]=$(awk -v a="$m_us" -v b="$plain_us" 'BEGIN { printf "%.1f", a - b }')
  printf '%-16s %10.0f %12s %14s\n' "/$p" "$m_rps" "$m_us" "${added[$p]}"
done
for by in consumer ip; do
  awk -v c="${added[chain-$by]}" -v a="${added[apart-$by]}" -v by="$by" \
    'BEGIN { printf "  by %-8s redis-chain adds %.0f%% less CPU per request than the three filters (aim: 20%%)\n", by, (1 - c / a) * 100 }'
done

NGINX_WASM=${NGINX_WASM:-$root/../shared/hosts/nginx-wasm}
if [ ! -x "$NGINX_WASM" ]; then
  echo "Kong's engine: SKIPPED, no nginx-wasm at $NGINX_WASM (set NGINX_WASM)"
  exit 0
fi
kill "$envoy_pid"
kong_engine kong "$WORK/kong.yml" 0 --keep-filters-apart
for p in $routes; do curl -s -o /dev/null -H "$cookie" "http://127.0.0.1:$port/$p"; done
declare -A krps
for _ in $(seq 1 "$rounds"); do
  for p in $routes; do
    krps[$p]+="$(wrk -t2 -c32 -d"$secs"s -H "$cookie" "http://127.0.0.1:$port/$p" | awk '/Requests\/sec/ {print $2}') "
  done
done
echo
echo "Kong's engine ($("$NGINX_WASM" -v 2>&1 | tr -d '\n'), 2 workers, -c32, median of $rounds x ${secs}s)"
printf '%-16s %10s   %s\n' route "req/s" "(each round)"
declare -A kmed
for p in $routes; do
  kmed[$p]=$(echo "${krps[$p]}" | tr ' ' '\n' | grep . | median)
  printf '%-16s %10.0f   %s\n' "/$p" "${kmed[$p]}" "$(echo "${krps[$p]}" | awk '{for (i=1;i<=NF;i++) printf "%.0f ", $i}')"
done
for by in consumer ip; do
  awk -v c="${kmed[chain-$by]}" -v a="${kmed[apart-$by]}" -v by="$by" \
    'BEGIN { printf "  by %-8s redis-chain serves %.2fx the req/s of the three filters (aim: 1.5x)\n", by, c / a }'
done
crashes=$(grep -c "exited on signal" "$WORK/kong/logs/error.log" || true)
echo "  worker crashes: $crashes"
