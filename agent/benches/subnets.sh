#!/usr/bin/env bash
# The cost of one `nodecap subnets` cycle over 6 subnets and 5,000 network interfaces, served
# by the test EC2 endpoint (`testkit ec2`: EC2's XML, 200 interfaces a page), in the two
# VPC CNI modes: secondary addresses (10 per interface) and prefix delegation (the primary
# address and 2 /28 prefixes per interface).
#
#   1. `nodecap subnets --once -o json`: EC2 API calls per cycle (from its own count), the
#      cycle's time, the process's wall time (hyperfine, 10 runs) and peak RSS (GNU time).
#   2. Running: `--interval 1s` for 20 s; CPU time per cycle (/proc/PID/schedstat over the
#      cycles counted by nodecap_subnets_cycles_total) and RSS after them.
#   3. The peer, when the AWS CLI is on PATH: `aws ec2 describe-network-interfaces` over the
#      same subnets and page size, what a script or one-off exporter runs today, for the
#      listing alone (one of nodecap's three calls, and no figures).
#
# Run: agent/benches/subnets.sh [BINARY]   (default: the host's release build)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
command -v hyperfine >/dev/null || apt-get install -y -qq --no-install-recommends hyperfine >/dev/null
[[ -x /usr/bin/time ]] || apt-get install -y -qq --no-install-recommends time >/dev/null
cargo build --quiet --release --locked -p nodecap --bin nodecap -p nodecap-testkit --bin testkit
nodecap=${1:-$root/target/release/nodecap}
testkit=$root/target/release/testkit
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_url() { for _ in $(seq 1 100); do [[ -s "$1" ]] && break; sleep 0.1; done; head -1 "$1"; }
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true
once=("$nodecap" subnets --config /dev/null --region us-east-1 --cluster-name bench --once -o json)

printf '%-10s %6s %9s %11s %12s %9s %11s %9s\n' mode calls cycle_ms process_ms max_rss_kib cpu_ms running_rss_kib peer_ms
for mode in secondary prefix; do
  case $mode in
    secondary) shape=(--addresses 10 --prefixes 0) ;;
    prefix) shape=(--addresses 1 --prefixes 2) ;;
  esac
  "$testkit" ec2 --cluster bench --subnets 6 --interfaces 5000 "${shape[@]}" >"$work/$mode.url" &
  pids+=($!)
  endpoint=$(wait_url "$work/$mode.url")
  export AWS_ENDPOINT_URL=$endpoint

  "${once[@]}" >"$work/$mode.json"
  read -r calls cycle_ms interfaces < <(python3 - "$work/$mode.json" <<'PY'
import json, sys
view = json.load(open(sys.argv[1]))
print(sum(view["calls"].values()), round(view["duration_seconds"] * 1000), sum(s["network_interfaces"] for s in view["subnets"]))
PY
)
  [[ $interfaces == 5000 ]] || { echo "expected 5000 interfaces, read $interfaces" >&2; exit 1; }
  process_ms=$(hyperfine --runs 10 --warmup 1 --export-json "$work/$mode.hf.json" "${once[*]}" >/dev/null 2>&1 \
    && python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$work/$mode.hf.json")
  max_rss=$(/usr/bin/time -f '%M' "${once[@]}" 2>&1 >/dev/null | tail -1)

  # Running: cycles every second for 20 s, no scrapes but the last.
  port=$(free_port)
  "$nodecap" subnets --config /dev/null --region us-east-1 --cluster-name bench \
    --interval 1s --listen "127.0.0.1:$port" 2>"$work/$mode.log" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  cycles_at() { curl -sf "http://127.0.0.1:$port/metrics" | awk '/^nodecap_subnets_cycles_total\{result="success"\}/ {print $2}'; }
  c0=$(cycles_at); t0=$(awk '{print $1}' "/proc/$pid/schedstat")
  sleep 20
  c1=$(cycles_at); t1=$(awk '{print $1}' "/proc/$pid/schedstat")
  running_rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
  cpu_ms=$(python3 -c "print(round(($t1 - $t0) / 1e6 / max(1, $c1 - $c0), 1))")
  kill "$pid"

  peer_ms=-
  if command -v aws >/dev/null; then
    subnet_ids=$(python3 -c 'import json,sys; print(",".join(s["subnet_id"] for s in json.load(open(sys.argv[1]))["subnets"]))' "$work/$mode.json")
    peer=(aws ec2 describe-network-interfaces --endpoint-url "$endpoint" --region us-east-1
          --filters "Name=subnet-id,Values=$subnet_ids" --page-size 200 --output json)
    "${peer[@]}" | python3 -c 'import json,sys; n=len(json.load(sys.stdin)["NetworkInterfaces"]); assert n == 5000, n'
    peer_ms=$(hyperfine --runs 5 --warmup 1 --export-json "$work/$mode.peer.json" "${peer[*]}" >/dev/null 2>&1 \
      && python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$work/$mode.peer.json")
  fi
  printf '%-10s %6s %9s %11s %12s %9s %11s %9s\n' "$mode" "$calls" "$cycle_ms" "$process_ms" "$max_rss" "$cpu_ms" "$running_rss" "$peer_ms"
done
echo "calls: DescribeSubnets ×2 + DescribeNetworkInterfaces per 200 interfaces + GetSubnetCidrReservations per subnet"
echo "peer: aws ec2 describe-network-interfaces, same subnets and page size (the listing only)"
