#!/usr/bin/env bash
# redis-jwt in Envoy (one worker, wrk -c64), same run: passthrough, then a valid HS256, RS256 and
# ES256 token checked by redis-jwt, the same tokens checked by Envoy's own jwt_authn (the same
# keys, as a JWKS), and redis-jwt followed by redis-jwt-blacklist (one EXISTS per request).
# Keys and tokens come from bench/jwt-keys.py (Python's cryptography, installed if missing).
source "$(dirname "$0")/lib.sh"
envoy_bench_setup
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install -q cryptography
python3 "$root/bench/jwt-keys.py" >"$WORK/keys.json"
envoy_port=$(free_port)
python3 - "$WORK/keys.json" "$echo_port" "$redis_port" >"$WORK/kong.yml" <<'PY'
import json, sys
keys, echo, redis = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
secrets = [{"key": keys["HS256"]["key"], "algorithm": "HS256", "secret": keys["HS256"]["secret"]}]
secrets += [{"key": keys[a]["key"], "algorithm": a, "rsa_public_key": keys[a]["pem"]} for a in ("RS256", "ES256")]
jwt = {"name": "redis-jwt", "config": json.dumps({"claims_to_verify": ["exp"],
       "consumers": [{"id": "c-bench", "username": "bench", "jwt_secrets": secrets}]})}
blacklist = {"name": "redis-jwt-blacklist", "config": json.dumps({"storage": "redis", "redis_port": redis})}
routes = [{"name": "plain", "paths": ["/plain"]}]
for name in ("hs", "rs", "es"):
    routes.append({"name": name, "paths": ["/" + name], "filter_chains": [{"filters": [jwt]}]})
    routes.append({"name": "native-" + name, "paths": ["/native-" + name]})
routes.append({"name": "hs-blacklist", "paths": ["/hs-blacklist"], "filter_chains": [{"filters": [jwt, blacklist]}]})
print(json.dumps({"_format_version": "3.0", "services": [{"name": "echo", "url": f"http://127.0.0.1:{echo}", "routes": routes}]}))
PY
"$CLI" render-envoy --config "$WORK/kong.yml" --filters-path "$filters" --listen "127.0.0.1:$envoy_port" >"$WORK/envoy.json"
# Envoy's jwt_authn on the /native-* routes: one provider per algorithm, its key as a JWKS.
python3 - "$WORK/envoy.json" "$WORK/keys.json" <<'PY'
import json, sys
path, keys = sys.argv[1], json.load(open(sys.argv[2]))
cfg = json.load(open(path))
hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
providers, rules = {}, []
for name, alg in (("hs", "HS256"), ("rs", "RS256"), ("es", "ES256")):
    jwks = {"keys": [k for k in keys["jwks"]["keys"] if k["alg"] == alg]}
    providers[name] = {"local_jwks": {"inline_string": json.dumps(jwks)}, "forward": True}
    rules.append({"match": {"prefix": "/native-" + name}, "requires": {"provider_name": name}})
t = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
hcm["http_filters"].insert(len(hcm["http_filters"]) - 1,
    {"name": "envoy.filters.http.jwt_authn", "typed_config": {"@type": t, "providers": providers, "rules": rules}})
json.dump(cfg, open(path, "w"))
PY
start envoy "$ENVOY" -c "$WORK/envoy.json" --concurrency 1 --disable-hot-restart -l error
wait_port "$envoy_port"
conns=${CONNECTIONS:-64}; secs=${SECONDS_PER_RUN:-4}; rounds=${ROUNDS:-3}
token() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["token"])' "$WORK/keys.json" "$1"; }
# median_rps_with HEADER URL: median "RPS P50" of $rounds runs with one request header.
median_rps_with() {
  local i out r p
  for i in $(seq 1 "$rounds"); do
    out=$(wrk -t1 -c"$conns" -d"$secs"s --latency -H "$1" "$2")
    r=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p=$(echo "$out" | awk '$1=="50%" {print $2}')
    echo "$r $(to_ms "$p")"
  done | sort -n | awk '{a[NR]=$0} END {print a[int((NR + 1) / 2)]}'
}
url="http://127.0.0.1:$envoy_port"
# Every token is checked once before timing: a 401 would measure the refusal instead.
for alg in HS256 RS256 ES256; do
  t=$(token "$alg"); path=$(echo "${alg:0:2}" | tr 'A-Z' 'a-z')
  for route in "/$path" "/native-$path"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $t" "$url$route")
    [ "$code" = 200 ] || { echo "$alg on $route answered $code" >&2; cat "$WORK/envoy.log" >&2; exit 1; }
  done
done
printf '\n%-46s %10s %8s %12s\n' "Envoy (1 worker, -c$conns, median of $rounds x ${secs}s)" "req/s" "p50 ms" "vs plain"
read -r base base_p50 < <(median_rps "$url/plain" "$conns" "$secs" "$rounds")
printf '%-46s %10.0f %8s %12s\n' "passthrough" "$base" "$base_p50" "1.00"
for alg in HS256 RS256 ES256; do
  t=$(token "$alg"); path=$(echo "${alg:0:2}" | tr 'A-Z' 'a-z')
  read -r r p50 < <(median_rps_with "Authorization: Bearer $t" "$url/$path")
  read -r n np50 < <(median_rps_with "Authorization: Bearer $t" "$url/native-$path")
  printf '%-46s %10.0f %8s %12s\n' "$alg, redis-jwt" "$r" "$p50" "$(ratio "$r" "$base")"
  printf '%-46s %10.0f %8s %12s   (redis-jwt / jwt_authn: %s)\n' "$alg, Envoy jwt_authn" "$n" "$np50" "$(ratio "$n" "$base")" "$(ratio "$r" "$n")"
  [ "$alg" = HS256 ] && hs_rps=$r
done
t=$(token HS256)
read -r r p50 < <(median_rps_with "Authorization: Bearer $t" "$url/hs-blacklist")
printf '%-46s %10.0f %8s %12s   (vs redis-jwt alone: %s)\n' "HS256, redis-jwt + redis-jwt-blacklist" "$r" "$p50" "$(ratio "$r" "$base")" "$(ratio "$r" "$hs_rps")"
echo
echo "Redis EXISTS calls: $(redis-cli -p "$redis_port" INFO commandstats | tr -d '\r' | grep -E 'cmdstat_exists:' | cut -d, -f1)"
