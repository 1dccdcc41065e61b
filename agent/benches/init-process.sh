#!/usr/bin/env bash
# `nodecap init` end to end, as a boot runs it: a new process asks the test IMDS (real HTTP,
# IMDSv2) who it is, sizes the node from the embedded table and writes a kubelet drop-in
# through the atomic writer (write, fsync, rename, fsync the directory). Target (issue 3):
# median under 20 ms. Also prints how many IMDS requests one init makes.
#
# Peer, measured in the same run: the two curl calls an IMDSv2 shell script (the EKS AMI's
# `imds` helper, the calculator's --instance-type-from-imds) needs just to learn the instance
# type: a token PUT and one GET.
#
# Run: agent/benches/init-process.sh   (installs hyperfine from Debian if missing)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
command -v hyperfine >/dev/null || apt-get install -y -qq --no-install-recommends hyperfine >/dev/null
cargo build --quiet --release --locked -p nodecap --bin nodecap -p nodecap-testkit --bin testkit
bin=$root/target/release/nodecap
work=$(mktemp -d)
imds_pid=
cleanup() { [[ -n "$imds_pid" ]] && kill "$imds_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$root/target/release/testkit" imds --instance-type m5.large --enis 3 --ips-per-eni 10 >"$work/url" &
imds_pid=$!
for _ in $(seq 1 50); do [[ -s "$work/url" ]] && break; sleep 0.1; done
url=$(head -1 "$work/url")
export AWS_EC2_METADATA_SERVICE_ENDPOINT=$url

init="$bin init --config /dev/null --backend kubelet-dropin --kubelet-config-dir $work/conf.d --state-dir $work/state"
$init 2>"$work/first.log"
requests=$(grep -o 'imds_requests=[0-9]*' "$work/first.log" | tail -1 | cut -d= -f2)

hyperfine --style basic -N --warmup 10 --runs 200 --export-json "$work/runs.json" \
  --command-name "init (file unchanged)" "$init" \
  --command-name "init (file written)" --prepare "rm -f $work/conf.d/40-nodecap.conf" "$init" \
  --command-name "curl token+GET (peer)" \
  "sh -c 'T=\$(curl -s -X PUT -H x-aws-ec2-metadata-token-ttl-seconds:60 $url/latest/api/token); curl -s -H x-aws-ec2-metadata-token:\$T $url/latest/meta-data/instance-type'" \
  >/dev/null 2>&1

python3 - "$work/runs.json" "$requests" <<'PY'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
ms = {r["command"]: sorted(t * 1000 for t in r["times"]) for r in results}
for name, times in ms.items():
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"{name:24} median {statistics.median(times):6.2f} ms  p95 {p95:6.2f} ms  ({len(times)} runs)")
ours = statistics.median(ms["init (file written)"])
peer = statistics.median(ms["curl token+GET (peer)"])
print(f"ratio: init (written) median / curl peer median = {ours / peer:.2f}")
print(f"IMDS requests per init: {sys.argv[2]}")
print(f"target: median < 20 ms: {'met' if ours < 20 else 'NOT met'}")
PY
