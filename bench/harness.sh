#!/usr/bin/env bash
# The harness' own cost: the echo upstream directly, the harness with no filter, and with one
# trivial filter (reads a header, adds one), one worker each, same run, as ratios.
source "$(dirname "$0")/lib.sh"
build_native
bash "$root/scripts/build-wasm.sh" --test-filters >/dev/null
start_upstreams
gw_port=$(free_port)
{
  echo_service
  cat <<YAML
  - name: trivial
    paths: [/trivial]
    filter_chains:
    - filters:
      - name: probe
YAML
} >"$WORK/kong.yml"
start gateway "$HARNESS" serve --config "$WORK/kong.yml" --filters-path "$root/target-wasm/test-filters" \
  --listen "127.0.0.1:$gw_port" --workers 1
wait_port "$gw_port"
conns=${CONNECTIONS:-16}; secs=${SECONDS_PER_RUN:-5}
read -r direct direct_p50 < <(rps "http://127.0.0.1:$echo_port/" "$conns" "$secs")
read -r plain plain_p50 < <(rps "http://127.0.0.1:$gw_port/plain" "$conns" "$secs")
read -r trivial trivial_p50 < <(rps "http://127.0.0.1:$gw_port/trivial" "$conns" "$secs")
printf '\n%-34s %10s %8s %10s\n' "setup (1 worker, wrk -c$conns, ${secs}s)" "req/s" "p50 ms" "ratio"
printf '%-34s %10.0f %8s %10s\n' "echo upstream directly" "$direct" "$direct_p50" "-"
printf '%-34s %10.0f %8s %10s\n' "harness, no filter" "$plain" "$plain_p50" "$(ratio "$plain" "$direct") of direct"
printf '%-34s %10.0f %8s %10s\n' "harness, one trivial filter" "$trivial" "$trivial_p50" "$(ratio "$trivial" "$plain") of no filter"
