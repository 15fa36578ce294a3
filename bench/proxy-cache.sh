#!/usr/bin/env bash
# redis-proxy-cache in Envoy (one worker, wrk -c64), same run, same echo upstream answering in
# 10 ms: passthrough (no cache), a Hit of redis-proxy-cache (strategy redis: one Redis round
# trip per request), and a hit of Envoy's own in-memory cache filter (envoy.filters.http.cache,
# SimpleHttpCache) on a route of its own, and a Hit of strategy memory (the host's shared data,
# no Redis); the two Hits again with the filter as the Envoy dynamic module (dm- routes, issue
# 33); then the same on the harness.
source "$(dirname "$0")/lib.sh"
envoy_bench_setup
envoy_port=$(free_port); gw_port=$(free_port)
{
  echo_service
  cat <<YAML
  - name: cached
    paths: [/cached]
    filter_chains: [{filters: [{name: redis-proxy-cache, config: '{"strategy": "redis", "redis_port": $redis_port, "content_type": ["application/json"], "cache_ttl": 3600}'}]}]
  - name: memory
    paths: [/memory]
    filter_chains: [{filters: [{name: redis-proxy-cache, config: '{"strategy": "memory", "content_type": ["application/json"], "cache_ttl": 3600}'}]}]
  - {name: native, paths: [/native]}
  - name: dm-cached
    paths: [/dm-cached]
    filter_chains: [{filters: [{name: redis-proxy-cache, config: '{"strategy": "redis", "redis_port": $redis_port, "content_type": ["application/json"], "cache_ttl": 3600}'}]}]
  - name: dm-memory
    paths: [/dm-memory]
    filter_chains: [{filters: [{name: redis-proxy-cache, config: '{"strategy": "memory", "content_type": ["application/json"], "cache_ttl": 3600}'}]}]
YAML
} >"$WORK/kong.yml"
"$CLI" render-envoy --config "$WORK/kong.yml" --filters-path "$filters" --listen "127.0.0.1:$envoy_port" >"$WORK/envoy.json"
# Envoy's own cache: in the filter chain, turned off on every route but /native.
python3 - "$WORK/envoy.json" <<'PY'
import json, sys
path = sys.argv[1]
cfg = json.load(open(path))
hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
cache = {"@type": "type.googleapis.com/envoy.extensions.filters.http.cache.v3.CacheConfig",
         "typed_config": {"@type": "type.googleapis.com/envoy.extensions.http.cache.simple_http_cache.v3.SimpleHttpCacheConfig"}}
hcm["http_filters"].insert(len(hcm["http_filters"]) - 1, {"name": "envoy.filters.http.cache", "typed_config": cache})
for vh in hcm["route_config"]["virtual_hosts"]:
    for r in vh["routes"]:
        if r["match"].get("prefix") != "/native":
            r.setdefault("typed_per_filter_config", {})["envoy.filters.http.cache"] = {
                "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True}
json.dump(cfg, open(path, "w"))
PY
to_dynamic_module "$WORK/envoy.json"
"$ENVOY" --mode validate -c "$WORK/envoy.json" >"$WORK/validate.log" 2>&1 || { cat "$WORK/validate.log"; exit 1; }
start envoy "$ENVOY" -c "$WORK/envoy.json" --concurrency 1 --disable-hot-restart -l error
start gateway "$HARNESS" serve --config "$WORK/kong.yml" --filters-path "$filters" --listen "127.0.0.1:$gw_port" --workers 1
wait_port "$envoy_port"; wait_port "$gw_port"
query='?delay_ms=10&header=Cache-Control:public,max-age=3600'
for port in "$envoy_port" "$gw_port"; do
  for p in plain cached memory native dm-cached dm-memory; do
    for _ in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$port/$p$query"; done
  done
done
hit=$(curl -s -D - -o /dev/null "http://127.0.0.1:$envoy_port/cached$query" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache-status" {print $2}')
native_hit=$(curl -s -D - -o /dev/null "http://127.0.0.1:$envoy_port/native$query" | tr -d '\r' | awk -F': ' 'tolower($1)=="age" {print "age " $2}')
echo "warm: redis-proxy-cache says X-Cache-Status: $hit; Envoy's cache answers with ${native_hit:-no Age header}"
conns=${CONNECTIONS:-64}; secs=${SECONDS_PER_RUN:-4}; rounds=${ROUNDS:-3}
table() {
  local name=$1 port=$2
  printf '\n%-40s %10s %8s %14s %16s\n' "$name (1 worker, -c$conns, median of $rounds x ${secs}s)" "req/s" "p50 ms" "vs upstream" "vs Envoy cache"
  read -r base base_p50 < <(median_rps "http://127.0.0.1:$port/plain$query" "$conns" "$secs" "$rounds")
  printf '%-40s %10.0f %8s %14s %16s\n' "passthrough (upstream takes 10 ms)" "$base" "$base_p50" "1.00" "-"
  native=""
  if [ "$name" = Envoy ]; then
    read -r native native_p50 < <(median_rps "http://127.0.0.1:$port/native$query" "$conns" "$secs" "$rounds")
    printf '%-40s %10.0f %8s %14s %16s\n' "Envoy cache filter hit (in memory)" "$native" "$native_p50" "$(ratio "$native" "$base")" "1.00"
  fi
  read -r r p50 < <(median_rps "http://127.0.0.1:$port/cached$query" "$conns" "$secs" "$rounds")
  vs="-"; [ -n "$native" ] && vs=$(ratio "$r" "$native")
  printf '%-40s %10.0f %8s %14s %16s\n' "redis-proxy-cache Hit (Redis)" "$r" "$p50" "$(ratio "$r" "$base")" "$vs"
  read -r r p50 < <(median_rps "http://127.0.0.1:$port/memory$query" "$conns" "$secs" "$rounds")
  vs="-"; [ -n "$native" ] && vs=$(ratio "$r" "$native")
  printf '%-40s %10.0f %8s %14s %16s\n' "redis-proxy-cache Hit (strategy memory)" "$r" "$p50" "$(ratio "$r" "$base")" "$vs"
  if [ "$name" = Envoy ]; then
    read -r r p50 < <(median_rps "http://127.0.0.1:$port/dm-cached$query" "$conns" "$secs" "$rounds")
    printf '%-40s %10.0f %8s %14s %16s\n' "Hit (Redis), Envoy dynamic module" "$r" "$p50" "$(ratio "$r" "$base")" "$(ratio "$r" "$native")"
    read -r r p50 < <(median_rps "http://127.0.0.1:$port/dm-memory$query" "$conns" "$secs" "$rounds")
    printf '%-40s %10.0f %8s %14s %16s\n' "Hit (memory), Envoy dynamic module" "$r" "$p50" "$(ratio "$r" "$base")" "$(ratio "$r" "$native")"
  fi
}
table Envoy "$envoy_port"
table Harness "$gw_port"
echo
echo "Redis GETs/EVALSHAs served: $(redis-cli -p "$redis_port" INFO commandstats | tr -d '\r' | grep -E 'cmdstat_(get|evalsha):' | cut -d, -f1 | tr '\n' ' ')"
