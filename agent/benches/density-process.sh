#!/usr/bin/env bash
# Whole-process cost of `nodecap density` over every type in the table (one mode, no prices,
# with a CSV pricing all of them, and that drawn as the SVG chart): exec, size ~1,400 types,
# render, exit.
# Target (issue 17): well under 50 ms. Peer, in the same run: `nodecap instance-types`, which
# prints the same types' limits without sizing them.
#
# Run: agent/benches/density-process.sh [BINARY]   (default: the host's release build;
#      installs hyperfine from Debian if missing)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
command -v hyperfine >/dev/null || apt-get install -y -qq --no-install-recommends hyperfine >/dev/null
cargo build --quiet --release --locked -p nodecap --bin nodecap
bin=${1:-$root/target/release/nodecap}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A made-up price for every type (density does not care what the numbers are).
"$bin" instance-types | awk 'NR > 1 { printf "%s,%.4f\n", $1, $3 * 0.05 }' >"$work/prices.csv"
echo "types: $(wc -l <"$work/prices.csv")"

hyperfine --style basic -N --warmup 10 --runs 200 --export-json "$work/runs.json" \
  --command-name "nodecap density" "$bin density" \
  --command-name "nodecap density --prices (all priced)" "$bin density --prices $work/prices.csv --sort price-per-pod" \
  --command-name "nodecap density --prices -o svg" "$bin density --prices $work/prices.csv -o svg" \
  --command-name "nodecap instance-types" "$bin instance-types" \
  >/dev/null

python3 - "$work/runs.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
peer = next(r for r in results if r["command"] == "nodecap instance-types")["median"]
print(f"{'command':<40} {'median ms':>10} {'max ms':>8} {'vs instance-types':>18}")
for r in results:
    print(f"{r['command']:<40} {r['median'] * 1000:>10.2f} {r['max'] * 1000:>8.2f} {r['median'] / peer:>17.2f}x")
PY
