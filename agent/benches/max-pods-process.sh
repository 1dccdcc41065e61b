#!/usr/bin/env bash
# Whole-process cost of `nodecap max-pods`: exec, parse arguments, look the type up in the
# embedded table, size it, print one integer, exit. Target: median at most 1.5 ms (issue 13; issue 2 set 3 ms).
#
# Peer, measured in the same run: the lookup the AL2 bootstrap.sh did, `awk` over an
# eni-max-pods.txt (generated here from the same table, so both answer the same question).
# The EKS max-pods-calculator.sh itself cannot run here: it calls the EC2 API every time.
#
# Measured: the shipped static build (x86_64 musl, non-PIE, mimalloc; target, issue 13: median
# at most 1.5 ms) and, for reference, the glibc build of the same source (a PIE the dynamic
# loader maps and relocates at every start).
#
# Run: agent/benches/max-pods-process.sh   (installs hyperfine from Debian if missing; the
#      static build needs packaging/build.sh's tools: cargo-zigbuild and zig)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

if ! command -v hyperfine >/dev/null; then
  apt-get install -y -qq --no-install-recommends hyperfine >/dev/null
fi
cargo build --quiet --release --locked -p nodecap --bin nodecap
cargo zigbuild --quiet --release --locked -p nodecap --bin nodecap --target x86_64-unknown-linux-musl
bin=$root/target/x86_64-unknown-linux-musl/release/nodecap
glibc=$root/target/release/nodecap
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin" instance-types | awk 'NR > 1 { print $1, $NF }' >"$work/eni-max-pods.txt"
echo "static binary: $(stat -c %s "$bin") bytes; glibc binary: $(stat -c %s "$glibc") bytes; table: $(wc -l <"$work/eni-max-pods.txt") types"

hyperfine --style basic -N --warmup 20 --runs 500 --export-json "$work/runs.json" \
  --command-name "nodecap max-pods" "$bin max-pods --instance-type m5.large --cni-version 1.19.0" \
  --command-name "nodecap (glibc build)" "$glibc max-pods --instance-type m5.large --cni-version 1.19.0" \
  --command-name "awk eni-max-pods.txt" "awk '\$1 == \"m5.large\" { print \$2 }' $work/eni-max-pods.txt" \
  >/dev/null

python3 - "$work/runs.json" <<'PY'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
ms = {r["command"]: sorted(t * 1000 for t in r["times"]) for r in results}
for name, times in ms.items():
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"{name:22} median {statistics.median(times):6.3f} ms  p95 {p95:6.3f} ms  min {times[0]:6.3f} ms  ({len(times)} runs)")
ours, peer = (statistics.median(ms[k]) for k in ("nodecap max-pods", "awk eni-max-pods.txt"))
print(f"ratio: nodecap median / awk median = {ours / peer:.2f}")
print(f"target: median <= 1.5 ms: {'met' if ours <= 1.5 else 'NOT met'}")
PY
