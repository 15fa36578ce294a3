#!/usr/bin/env bash
# redis-session in Envoy and the harness (one worker each, wrk -c64), same run: passthrough
# against a request that carries a valid session (one EVALSHA reads and touches it, the
# consumer's headers go upstream). The session is made first on /login, through consumer-stub,
# the test filter standing in for an authentication filter; the measured routes run
# redis-session alone. In Envoy, the session again with redis-session as the Envoy dynamic
# module (dm-session, issue 33).
source "$(dirname "$0")/lib.sh"
envoy_bench_setup
envoy_port=$(free_port); gw_port=$(free_port)
{
  echo_service
  cat <<YAML
  - name: login
    paths: [/login]
    filter_chains:
    - filters:
      - name: consumer-stub
        config: '{"keys": {"k-bench": {"id": "c-bench", "username": "bench"}}}'
      - name: redis-session
        config: '{"storage": "redis", "redis_port": $redis_port, "cookie_name": "kong_session", "secret": "bench-secret"}'
      - name: redis-chain-end
YAML
  for route in session dm-session; do
    cat <<YAML
  - name: $route
    paths: [/$route]
    filter_chains:
    - filters:
      - name: redis-session
        config: '{"storage": "redis", "redis_port": $redis_port, "cookie_name": "kong_session", "secret": "bench-secret"}'
      - name: redis-chain-end
YAML
  done
} >"$WORK/kong.yml"
"$CLI" render-envoy --config "$WORK/kong.yml" --filters-path "$filters" --listen "127.0.0.1:$envoy_port" >"$WORK/envoy.json"
to_dynamic_module "$WORK/envoy.json"
start envoy "$ENVOY" -c "$WORK/envoy.json" --concurrency 1 --disable-hot-restart -l error
start gateway "$HARNESS" serve --config "$WORK/kong.yml" --filters-path "$filters" --listen "127.0.0.1:$gw_port" --workers 1
wait_port "$envoy_port"; wait_port "$gw_port"
conns=${CONNECTIONS:-64}; secs=${SECONDS_PER_RUN:-4}; rounds=${ROUNDS:-3}
# median_rps_with HEADER URL: median_rps with one request header.
median_rps_with() {
  local i out r p
  for i in $(seq 1 "$rounds"); do
    out=$(wrk -t1 -c"$conns" -d"$secs"s --latency -H "$1" "$2")
    r=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p=$(echo "$out" | awk '$1=="50%" {print $2}')
    echo "$r $(to_ms "$p")"
  done | sort -n | awk '{a[NR]=$0} END {print a[int((NR + 1) / 2)]}'
}
for host in "Envoy $envoy_port" "Harness $gw_port"; do
  set -- $host
  cookie=$(curl -s -D - -o /dev/null -H 'apikey: k-bench' "http://127.0.0.1:$2/login" | tr -d '\r' | awk -F': ' 'tolower($1)=="set-cookie" {split($2, a, ";"); print a[1]}')
  sleep 0.2
  seen=""
  for path in session dm-session; do
    [ "$1" = Envoy ] || [ "$path" = session ] || continue
    seen="$seen $path:$(curl -s -H "Cookie: $cookie" "http://127.0.0.1:$2/$path" | python3 -c 'import json,sys; print(json.load(sys.stdin)["headers"].get("x-consumer-id"))')"
  done
  printf '\n%-44s %10s %8s %12s   (session cookie: %s, upstream saw %s)\n' "$1 (1 worker, -c$conns, median of $rounds x ${secs}s)" "req/s" "p50 ms" "vs plain" "${cookie:0:24}..." "$seen"
  read -r base base_p50 < <(median_rps "http://127.0.0.1:$2/plain" "$conns" "$secs" "$rounds")
  printf '%-44s %10.0f %8s %12s\n' "passthrough" "$base" "$base_p50" "1.00"
  read -r r p50 < <(median_rps_with "Cookie: $cookie" "http://127.0.0.1:$2/session")
  printf '%-44s %10.0f %8s %12s\n' "a request with a valid session" "$r" "$p50" "$(ratio "$r" "$base")"
  if [ "$1" = Envoy ]; then
    read -r r p50 < <(median_rps_with "Cookie: $cookie" "http://127.0.0.1:$2/dm-session")
    printf '%-44s %10.0f %8s %12s\n' "the same, Envoy dynamic module" "$r" "$p50" "$(ratio "$r" "$base")"
  fi
done
echo
echo "Redis EVALSHAs: $(redis-cli -p "$redis_port" INFO commandstats | tr -d '\r' | grep -E 'cmdstat_evalsha:' | cut -d, -f1)"
